// `mnemo dataset`: argument parsing and output; reading and statistics live in replay/dataset.h,
// where they are unit-tested.
#include "launch/dataset_cmd.h"

#include <iostream>

#include "core/check.h"
#include "launch/command.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {

void dataset_command_line(CommandArgs& args, DatasetArgs& a) {
  args.positional("SUBCOMMAND (info)", &a.subcommand);
  args.optional_positional("FILE|MINARI_DIR", &a.path);
  args.flags()("format", text(&a.format, "auto|d4rl|minari"), "how to read the file (default auto: by its layout)");
  args.check([&a] {
    if (a.subcommand != "info") throw ConfigError("unknown subcommand '" + a.subcommand + "' (expected: info)");
    if (a.format != "auto" && a.format != "d4rl" && a.format != "minari")
      throw ConfigError("--format must be auto, d4rl or minari, got '" + a.format + "'");
    if (a.path.empty()) throw ConfigError("info: missing FILE");
  });
}

int dataset_command(DatasetArgs& a) {
  replay::Dataset d;
  try {
    d = a.format == "d4rl" ? replay::read_d4rl(a.path) : a.format == "minari" ? replay::read_minari(a.path)
                                                                                : replay::read_dataset(a.path);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    // A file that cannot be read is bad input, like a bad flag.
    throw ConfigError(e.what());
  }
  std::cout << a.path << ": " << replay::format_stats(d, replay::dataset_stats(d)) << std::flush;
  return 0;
}

}  // namespace mnemo::launch
