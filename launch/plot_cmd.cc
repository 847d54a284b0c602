// `mnemo plot`: maps core/plot's errors to exit codes and prints the usage. See plot_cmd.h.
#include "launch/plot_cmd.h"

#include <iostream>

#include "core/check.h"
#include "core/plot.h"

namespace mnemo::launch {

int plot_main(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << plot::kPlotUsage;
      return 0;
    }
  }
  try {
    std::cout << plot::run_plot(plot::parse_plot_args(args)) << std::endl;
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
