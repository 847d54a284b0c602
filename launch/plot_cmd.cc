// `mnemo plot`: its command line and sweep directories. See plot_cmd.h.
#include "launch/plot_cmd.h"

#include <algorithm>
#include <cctype>
#include <iostream>

#include "core/check.h"
#include "launch/command.h"
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

// The file's extension in lower case: ".png" for "curves.PNG".
std::string extension(const std::string& file) {
  std::string e = std::filesystem::path(file).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

}  // namespace

void plot_command_line(CommandArgs& args, plot::PlotOptions& a) {
  args.positionals("RUN_DIR", &a.runs);
  args.flags()
      ("metric", text(&a.metric, "NAME"), "the column to plot, e.g. episode_return")
      ("out,o", text(&a.out, "FILE.png|FILE.svg"), "the image written")
      ("x", text(&a.x, "COLUMN"), "the x column: step (default), time, env_steps, ...")
      ("mean", flag(&a.mean),
       "one line per group of seeds (names ending in _seed3, -s3, ...; all runs when no name has a seed "
       "suffix): their mean with a shaded band")
      ("band", po::value<std::string>()->value_name("minmax|std")->notifier([&a](const std::string& v) {
         if (v == "minmax") {
           a.spread = plot::Spread::kMinMax;
         } else if (v == "std") {
           a.spread = plot::Spread::kStd;
         } else {
           throw ConfigError("--band must be minmax or std, got '" + v + "'");
         }
       }),
       "with --mean, the band: minmax (default, lowest to highest run) or std (mean +- 1 std)")
      ("title", text(&a.title, "TEXT"), "a title line above the chart")
      ("width", integer(&a.width, "PX"), "image width in pixels (default 800)")
      ("height", integer(&a.height, "PX"), "image height in pixels (default 500)");
  args.check([&args, &a] {
    if (a.runs.empty()) throw ConfigError("no RUN_DIR given");
    if (a.metric.empty()) throw ConfigError("missing --metric NAME (a column of metrics.csv, e.g. episode_return)");
    if (a.x.empty()) throw ConfigError("--x must name a column");
    if (a.out.empty()) throw ConfigError("missing --out FILE.png|FILE.svg");
    if (extension(a.out) != ".png" && extension(a.out) != ".svg")
      throw ConfigError("--out must end in .png or .svg, got '" + a.out + "'");
    if (args.given("band") && !a.mean) throw ConfigError("--band needs --mean");
    if (a.width < 200 || a.width > 8000 || a.height < 200 || a.height > 8000)
      throw ConfigError("--width and --height must be within 200..8000, got " + std::to_string(a.width) + "x" +
                        std::to_string(a.height));
  });
}

int plot_command(plot::PlotOptions& a) {
  a.runs = expand_sweeps(a.runs);
  std::cout << plot::run_plot(a) << std::endl;
  return 0;
}

}  // namespace mnemo::launch
