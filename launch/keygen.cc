// `mnemo keygen PREFIX [--force]`. See keygen.h; the key file format is described in core/transport.h.
#include "launch/keygen.h"

#include <filesystem>
#include <iostream>

#include "core/check.h"
#include "core/net/transport.h"
#include "launch/command.h"

namespace mnemo::launch {

void keygen_command_line(CommandArgs& args, KeygenArgs& a) {
  args.positional("PREFIX", &a.prefix);
  args.flags()("force", flag(&a.force), "overwrite PREFIX.key and PREFIX.pub when they exist");
}

int keygen_command(KeygenArgs& a) {
  namespace fs = std::filesystem;
  if (!transport::curve_available()) {
    std::cerr << "mnemo keygen: this libzmq was built without CURVE (libsodium) support\n";
    return 2;
  }
  std::error_code ec;
  const fs::path parent = fs::path(a.prefix).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw ConfigError("directory '" + parent.string() + "' does not exist");
  for (const char* ext : {".key", ".pub"}) {
    if (!a.force && fs::exists(a.prefix + ext, ec))
      throw ConfigError(a.prefix + ext + " already exists (use --force to overwrite)");
  }
  try {
    transport::write_curve_key_files(a.prefix, transport::curve_keypair());
  } catch (const std::exception& e) {
    std::cerr << "mnemo keygen: " << e.what() << "\n";
    return 2;
  }
  std::cout << "wrote " << a.prefix << ".key (secret, keep private) and " << a.prefix << ".pub\n";
  return 0;
}

}  // namespace mnemo::launch
