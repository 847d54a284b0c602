// `mnemo keygen PREFIX [--force]`. See keygen.h; the key file format is described in core/transport.h.
#include "launch/keygen.h"

#include <filesystem>
#include <iostream>

#include "core/transport.h"

namespace mnemo::launch {

namespace {
constexpr const char* kUsage =
    "usage: mnemo keygen PREFIX [--force]\n"
    "  writes PREFIX.key (public + secret key, mode 0600; keep it private) and PREFIX.pub (give it to peers)\n"
    "  replay server: curve_secret_key_file: PREFIX.key, curve_authorized_keys: [client.pub, ...]\n"
    "  replay client: client.curve_server_key_file: server.pub, client.curve_key_file: client.key\n";
}

int keygen_main(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::string prefix;
  bool force = false;
  for (const auto& a : args) {
    if (a == "--force") {
      force = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "mnemo keygen: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else if (!prefix.empty()) {
      std::cerr << "mnemo keygen: more than one PREFIX ('" << prefix << "', '" << a << "')\n" << kUsage;
      return 2;
    } else {
      prefix = a;
    }
  }
  if (prefix.empty()) {
    std::cerr << "mnemo keygen: missing PREFIX\n" << kUsage;
    return 2;
  }
  if (!transport::curve_available()) {
    std::cerr << "mnemo keygen: this libzmq was built without CURVE (libsodium) support\n";
    return 2;
  }
  std::error_code ec;
  const fs::path parent = fs::path(prefix).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    std::cerr << "mnemo keygen: directory '" << parent.string() << "' does not exist\n";
    return 2;
  }
  for (const char* ext : {".key", ".pub"}) {
    if (!force && fs::exists(prefix + ext, ec)) {
      std::cerr << "mnemo keygen: " << prefix << ext << " already exists (use --force to overwrite)\n";
      return 2;
    }
  }
  try {
    transport::write_curve_key_files(prefix, transport::curve_keypair());
  } catch (const std::exception& e) {
    std::cerr << "mnemo keygen: " << e.what() << "\n";
    return 2;
  }
  std::cout << "wrote " << prefix << ".key (secret, keep private) and " << prefix << ".pub\n";
  return 0;
}

}  // namespace mnemo::launch
