// `mnemo dataset`: tools for offline datasets (replay/dataset.h). `mnemo dataset info FILE` reads
// a D4RL file or a Minari dataset (file or directory) and prints its summary: sizes, dtypes,
// episode lengths and returns, infos at episode ends, observation statistics and metadata.
#pragma once

#include <string>

namespace mnemo::launch {

// The command line of `mnemo dataset`.
struct DatasetArgs {
  std::string subcommand;       // info
  std::string path;             // FILE|MINARI_DIR
  std::string format = "auto";  // --format auto|d4rl|minari
};

class CommandArgs;  // launch/command.h

// `mnemo dataset info FILE|MINARI_DIR [--format auto|d4rl|minari]` (a row of command_table()).
void dataset_command_line(CommandArgs& args, DatasetArgs& a);
// Prints the summary on stdout. Returns 0; throws ConfigError for bad input (a missing,
// unreadable or malformed dataset: the message names the file and the key).
int dataset_command(DatasetArgs& a);

}  // namespace mnemo::launch
