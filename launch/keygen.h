// `mnemo keygen`: writes a CURVE key pair for encrypting and authenticating replay traffic.
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// args: what follows `keygen` on the command line: PREFIX [--force]. Writes PREFIX.key (public and
// secret key, mode 0600) and PREFIX.pub (public key only). Returns 0 on success and 2 with a message
// on stderr for bad input (no prefix, unknown option, existing files without --force, a directory
// that cannot be written, no CURVE support in libzmq).
int keygen_main(const std::vector<std::string>& args);

}  // namespace mnemo::launch
