// `mnemo dataset`: argument parsing and output; reading, merging and statistics live in
// replay/datasets/dataset.h, where they are unit-tested.
#include "launch/dataset_cmd.h"

#include <filesystem>
#include <iostream>

#include "core/check.h"
#include "launch/command.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {

void dataset_command_line(CommandArgs& args, DatasetArgs& a) {
  args.positional("SUBCOMMAND (info|merge)", &a.subcommand);
  args.positionals("FILE|MINARI_DIR...", &a.paths);
  args.flags()("format", text(&a.format, "auto|d4rl|minari"), "how to read the inputs (default auto: by their layout)")(
      "out", text(&a.out, "FILE|DIR"), "merge: the dataset written (a Minari directory with --to minari)")(
      "to", text(&a.to, "d4rl|minari"), "merge: the layout written (default d4rl)");
  args.check([&a] {
    if (a.subcommand != "info" && a.subcommand != "merge")
      throw ConfigError("unknown subcommand '" + a.subcommand + "' (expected: info or merge)");
    if (a.format != "auto" && a.format != "d4rl" && a.format != "minari")
      throw ConfigError("--format must be auto, d4rl or minari, got '" + a.format + "'");
    if (a.subcommand == "info") {
      if (a.paths.empty()) throw ConfigError("info: missing FILE");
      if (a.paths.size() > 1) throw ConfigError("info: one FILE, got " + std::to_string(a.paths.size()));
      if (!a.out.empty() || a.to != "d4rl") throw ConfigError("info: --out and --to apply to merge only");
      return;
    }
    if (a.paths.size() < 2) throw ConfigError("merge: needs at least two input datasets, got " + std::to_string(a.paths.size()));
    if (a.out.empty()) throw ConfigError("merge: missing --out FILE");
    if (a.to != "d4rl" && a.to != "minari") throw ConfigError("--to must be d4rl or minari, got '" + a.to + "'");
    for (const auto& p : a.paths)
      if (std::filesystem::weakly_canonical(p) == std::filesystem::weakly_canonical(a.out))
        throw ConfigError("merge: --out " + a.out + " is also an input");
  });
}

namespace {

replay::Dataset read(const std::string& path, const std::string& format) {
  return format == "d4rl" ? replay::read_d4rl(path) : format == "minari" ? replay::read_minari(path) : replay::read_dataset(path);
}

}  // namespace

int dataset_command(DatasetArgs& a) {
  try {
    if (a.subcommand == "info") {
      const replay::Dataset d = read(a.paths.front(), a.format);
      std::cout << a.paths.front() << ": " << replay::format_stats(d, replay::dataset_stats(d)) << std::flush;
      return 0;
    }
    std::vector<replay::Dataset> parts;
    for (const auto& p : a.paths) parts.push_back(read(p, a.format));
    const replay::Dataset merged = replay::concat_datasets(parts, a.paths);
    if (a.to == "minari")
      replay::write_minari(a.out, merged);
    else
      replay::write_d4rl(a.out, merged);
    std::cout << "wrote " << a.out << " (" << a.to << "): " << replay::format_stats(merged, replay::dataset_stats(merged))
              << std::flush;
    return 0;
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    // A file that cannot be read or inputs that cannot be merged are bad input, like a bad flag.
    throw ConfigError(e.what());
  }
}

}  // namespace mnemo::launch
