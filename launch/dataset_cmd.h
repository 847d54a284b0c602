// `mnemo dataset`: tools for offline datasets (replay/dataset.h). `mnemo dataset info FILE` reads
// a D4RL file or a Minari dataset (file or directory) and prints its summary: sizes, dtypes,
// episode lengths and returns, infos at episode ends, observation statistics and metadata.
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// args: everything after `dataset`:
//   info FILE|MINARI_DIR [--format auto|d4rl|minari]
// Returns 0 on success (the summary on stdout), 2 for bad input (an unknown subcommand or flag, a
// missing, unreadable or malformed dataset; the message on stderr names the file and the key).
int dataset_main(const std::vector<std::string>& args);

}  // namespace mnemo::launch
