// `mnemo dataset`: tools for offline datasets (replay/datasets/dataset.h).
//   mnemo dataset info FILE|MINARI_DIR   reads a D4RL file or a Minari dataset (file or directory)
//       and prints its summary: sizes, dtypes, episode lengths and returns, infos at episode ends,
//       observation statistics and metadata.
//   mnemo dataset merge IN... --out FILE  writes the inputs' episodes back to back as one dataset
//       (e.g. medium-replay style data from several checkpoints of one run).
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// The command line of `mnemo dataset`.
struct DatasetArgs {
  std::string subcommand;          // info | merge
  std::vector<std::string> paths;  // FILE|MINARI_DIR (info: one; merge: the inputs)
  std::string format = "auto";     // --format auto|d4rl|minari: how the inputs are read
  std::string out;                 // merge: --out FILE|DIR
  std::string to = "d4rl";         // merge: --to d4rl|minari, the layout written
};

class CommandArgs;  // launch/command.h

// `mnemo dataset info|merge ...` (a row of command_table()).
void dataset_command_line(CommandArgs& args, DatasetArgs& a);
// info prints the summary on stdout; merge writes --out (atomically) and prints its summary.
// Returns 0; throws ConfigError for bad input (a missing, unreadable or malformed dataset, inputs
// that disagree: the message names the file and the key).
int dataset_command(DatasetArgs& a);

}  // namespace mnemo::launch
