// `mnemo plot`: maps core/plot's errors to exit codes and prints the usage. See plot_cmd.h.
#include "launch/plot_cmd.h"

#include <iostream>

#include "core/check.h"
#include "core/plot.h"
#include "launch/sweep.h"

namespace mnemo::launch {

namespace {

// A sweep directory stands for its trials' run directories (those that have logged metrics),
// so `mnemo plot SWEEP_DIR --mean` draws one band per grid point over its seeds.
std::vector<std::string> expand_sweeps(const std::vector<std::string>& runs) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& r : runs) {
    std::error_code ec;
    if (!fs::exists(fs::path(r) / "sweep.yaml", ec)) {
      out.push_back(r);
      continue;
    }
    const Sweep sweep = open_sweep(r);
    std::size_t found = 0;
    for (const auto& t : sweep.trials) {
      const fs::path run = fs::path(r) / t.name;
      auto logged = [&](const char* file) { return fs::exists(run / file, ec) && fs::file_size(run / file, ec) > 0; };
      if (logged("metrics.csv") || logged("metrics.jsonl")) {
        out.push_back(run.string());
        ++found;
      }
    }
    if (found == 0) throw ConfigError("sweep " + r + " has no trial with metrics yet");
  }
  return out;
}

}  // namespace

int plot_main(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << plot::kPlotUsage;
      return 0;
    }
  }
  try {
    plot::PlotArgs a = plot::parse_plot_args(args);
    a.runs = expand_sweeps(a.runs);
    std::cout << plot::run_plot(a) << std::endl;
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << "mnemo plot: " << e.what() << "\n" << plot::kPlotUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mnemo plot: error: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace mnemo::launch
