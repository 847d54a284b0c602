// Learning-curve plots without Python: read a metric from runs' metrics files, optionally average
// runs over seeds, and draw the curves as SVG or PNG.
//
// Everything is built in (CSV/JSONL reading, a rasteriser with anti-aliased lines, a 5x7 bitmap
// font; PNGs through core/png.h on zlib), so `mnemo plot` works on a cluster login node or in CI
// where matplotlib is not installed. The SVG and the PNG come from one layout, so they show the
// same chart.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mnemo::plot {

// ---------------------------------------------------------------------------------------------
// Reading runs

// One run's curve: y = the metric, x = the chosen x column, in x order.
struct Series {
  std::string label;
  std::vector<double> x, y;
};

// Reads `metric` against `x_column` ("step", "time" or any metric such as "env_steps") from a run
// directory (its metrics.csv, or metrics.jsonl when there is no CSV) or from a .csv / .jsonl file
// given directly. Rows where either value is missing or not finite are skipped. A row whose x goes
// back (a run resumed from an earlier checkpoint) drops the points at or after that x written
// before it, so the curve shows what the resumed run did, not both sessions on top of each other.
// A trailing partial line (a run still writing) is ignored. The label is the directory's name.
// Throws ConfigError when the path has no metrics file, the file cannot be read, or the metric
// or x column is not in it (the message lists the columns and the nearest name).
Series read_series(const std::filesystem::path& run, const std::string& metric, const std::string& x_column = "step");

// ---------------------------------------------------------------------------------------------
// Averaging over seeds

enum class Spread {
  kMinMax,  // band from the lowest to the highest run at each x
  kStd,     // band mean ± one (population) standard deviation
};

// The mean of several runs and a spread band around it, on a common grid.
struct Band {
  std::string label;
  std::size_t runs = 0;
  std::vector<double> x, mean, lo, hi;
};

// Interpolates every run linearly onto a common grid and takes mean and spread at each grid x.
// The grid is the union of the runs' x values inside the range every run covers (no run is
// extrapolated), so seeds that logged at the same steps average exactly; it is thinned evenly to
// at most `max_points`. Fewer than 2 points in a run, or x ranges that do not overlap, are a
// ConfigError.
Band aggregate(const std::vector<Series>& runs, Spread spread, std::size_t max_points = 1000);

// "ppo_seed3" -> "ppo", "lr=1e-3-s2" -> "lr=1e-3", "cartpole.seed_7" -> "cartpole"; a name
// without a seed suffix ("-seed3", "_seed=3", ".seed_3", "_s3") comes back unchanged.
std::string strip_seed_suffix(const std::string& name);

// Groups runs for --mean: runs whose names differ only in a seed suffix form one group, named
// by the shared prefix. When no name has a seed suffix (the runs were picked by hand), all runs
// are one group called "mean". Returns indices into `labels`, groups in order of first member.
std::vector<std::pair<std::string, std::vector<std::size_t>>> group_by_seed(const std::vector<std::string>& labels);

// ---------------------------------------------------------------------------------------------
// Drawing

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// Colour of the i-th curve (matplotlib's "tab10" cycle, which readers already know).
Rgb palette(std::size_t i);

// One line on the chart, with an optional filled band (lo/hi empty, or the size of x).
struct Curve {
  std::string label;
  Rgb color;
  std::vector<double> x, y;
  std::vector<double> lo, hi;
};

// What to draw; sizes are in pixels (SVG user units).
struct Chart {
  std::string title;  // empty: no title line
  std::string x_label, y_label;
  std::vector<Curve> curves;
  int width = 800;
  int height = 500;
};

// An 8-bit RGB image, rows top to bottom.
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // height * width * 3
};

// A standalone SVG document. Curves are <polyline class="series">, bands <path class="band">,
// the legend a <g class="legend"> of colour swatches and labels.
std::string render_svg(const Chart& chart);
// The same chart rasterised: anti-aliased lines, translucent bands, grid, ticks, labels and a
// legend drawn with the built-in font. Throws ConfigError for sizes outside [200, 8000].
Image render_image(const Chart& chart);
// A PNG file (truecolour, 8 bits per channel) of `image`, by png::encode. Throws mnemo::Error
// when the buffer does not match the size.
std::vector<std::uint8_t> encode_png(const Image& image);

// ---------------------------------------------------------------------------------------------
// Runs to a file (what `mnemo plot` does; its command line is in launch/plot_cmd.h)

// What to plot.
struct PlotOptions {
  std::vector<std::string> runs;  // run directories or metrics files
  std::string metric;             // y
  std::string x = "step";         // x column
  std::string out;                // .svg for SVG, anything else (.png) for PNG
  std::string title;              // empty: no title line
  bool mean = false;              // mean and band over seeds instead of one line per run
  Spread spread = Spread::kMinMax;
  int width = 800, height = 500;
};

// The chart drawn for `a` (reads the runs; ConfigError for unreadable input).
Chart build_chart(const PlotOptions& a);
// Reads, draws and writes a.out (through a temporary file and a rename, so a failed plot leaves
// no half-written image). Returns a one-line summary for the console.
std::string run_plot(const PlotOptions& a);

}  // namespace mnemo::plot
