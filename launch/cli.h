// The `mnemo` command line: the commands of command_table() (launch/command.h), their arguments
// and exit codes (0 ok, 1 runtime failure, 2 bad input: config or arguments). `mnemo help`,
// `mnemo --help` and `mnemo COMMAND --help` print usage on stdout with exit code 0.
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// Runs the command line `args` (without the program name) and returns the exit code.
int run_cli(const std::vector<std::string>& args);

}  // namespace mnemo::launch
