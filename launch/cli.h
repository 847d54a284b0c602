// The `mnemo` command line: subcommands, their arguments and exit codes (0 ok, 1 runtime
// failure, 2 bad input: config or arguments).
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// Runs the command line `args` (without the program name) and returns the exit code.
int run_cli(const std::vector<std::string>& args);

}  // namespace mnemo::launch
