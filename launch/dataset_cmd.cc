// `mnemo dataset`: argument parsing and output; reading and statistics live in replay/dataset.h,
// where they are unit-tested.
#include "launch/dataset_cmd.h"

#include <iostream>

#include "core/check.h"
#include "launch/args.h"
#include "replay/dataset.h"

namespace mnemo::launch {
namespace {

constexpr const char* kDatasetUsage =
    "usage: mnemo dataset info FILE|MINARI_DIR [--format auto|d4rl|minari]\n"
    "  prints a dataset's size, episode lengths and returns, infos, observation statistics and metadata\n";

struct InfoArgs {
  std::string path;
  std::string format = "auto";
};

InfoArgs parse_info(const std::vector<std::string>& args) {
  InfoArgs a;
  ArgReader r(args);
  while (r.next()) {
    const std::string arg = r.arg();
    if (arg == "--format") {
      a.format = r.value();
      if (a.format != "auto" && a.format != "d4rl" && a.format != "minari")
        throw ConfigError("--format must be auto, d4rl or minari, got '" + a.format + "'");
    } else if (r.is_flag()) {
      r.unknown();
    } else if (a.path.empty()) {
      a.path = arg;
    } else {
      throw ConfigError("expected one FILE, got '" + a.path + "' and '" + arg + "'");
    }
  }
  if (a.path.empty()) throw ConfigError("info: missing FILE");
  return a;
}

int info(const std::vector<std::string>& args) {
  const InfoArgs a = parse_info(args);
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

}  // namespace

int dataset_main(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kDatasetUsage;
      return 0;
    }
  }
  try {
    if (args.empty()) throw ConfigError("missing subcommand (info)");
    if (args[0] == "info") return info(std::vector<std::string>(args.begin() + 1, args.end()));
    throw ConfigError("unknown subcommand '" + args[0] + "' (expected: info)");
  } catch (const ConfigError& e) {
    std::cerr << "mnemo dataset: " << e.what() << "\n" << kDatasetUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mnemo dataset: error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace mnemo::launch
