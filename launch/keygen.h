// `mnemo keygen`: writes a CURVE key pair for encrypting and authenticating replay traffic.
#pragma once

#include <string>

namespace mnemo::launch {

// The command line of `mnemo keygen`.
struct KeygenArgs {
  std::string prefix;  // PREFIX: writes PREFIX.key and PREFIX.pub
  bool force = false;  // --force: overwrite existing files
};

class CommandArgs;  // launch/command.h

// `mnemo keygen PREFIX [--force]` (a row of command_table()).
void keygen_command_line(CommandArgs& args, KeygenArgs& a);
// Writes PREFIX.key (public and secret key, mode 0600) and PREFIX.pub (public key only). Returns
// 0, or 2 with a message on stderr when libzmq has no CURVE support or writing fails; throws
// ConfigError for existing files without --force or a directory that does not exist.
int keygen_command(KeygenArgs& a);

}  // namespace mnemo::launch
