// Learning-curve plots: metrics reading, seed averaging, layout, SVG and rasteriser (PNGs: png.h).
// See plot.h.
//
// The chart is laid out once in pixel coordinates (Layout) and then drawn twice: as SVG elements
// and into an RGB buffer. Text is measured with the built-in 5x7 font in both cases, so the SVG's
// proportional font lands in roughly the same boxes.
#include "core/viz/plot.h"

#include "core/runlog/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/config.h"
#include "core/json.h"
#include "core/runlog/tfevents.h"
#include "core/viz/png.h"

namespace mnemo::plot {
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  }
  return true;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

// A finite number filling the whole cell, else NaN (empty cells, "nan", "inf", text).
double parse_number(const std::string& cell) {
  if (cell.empty()) return kNaN;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size() || errno == ERANGE || !std::isfinite(v)) return kNaN;
  return v;
}


// The complete lines of a file; a last line without '\n' is a write in progress and left out.
std::vector<std::string> read_lines(const fs::path& path) {
  // POSIX reads, so that every failure (a directory, no permission, an I/O error) has its errno.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  while (true) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      throw ConfigError("cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (r == 0) break;
    text.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

// A flat JSON object (MetricsWriter's jsonl lines): key -> value, NaN for null and for values that
// are not numbers. Returns false for a line that is not a JSON object.
bool parse_json_line(const std::string& s, std::vector<std::pair<std::string, double>>& out) {
  out.clear();
  json::Value v;
  try {
    v = json::parse(s, "metrics line");
  } catch (const Error&) {
    return false;
  }
  if (!v.is_object()) return false;
  for (auto& [key, value] : v.members)
    out.emplace_back(key, value.is_number() ? value.as_double(key) : kNaN);
  return true;
}

[[noreturn]] void missing_column(const std::string& what, const std::string& name, const fs::path& file,
                                 std::vector<std::string> columns) {
  std::string msg = what + " '" + name + "' is not in " + file.string();
  const std::string near = config::nearest(name, columns);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  std::sort(columns.begin(), columns.end());
  msg += columns.empty() ? " (the file has no columns yet)" : " (columns: " + join(columns, ", ") + ")";
  throw ConfigError(msg);
}

// Appends (x, y) keeping x strictly increasing: a smaller or equal x replaces the points written
// before it from that x on (see read_series on resumed runs).
void append_point(Series& s, double x, double y) {
  if (!std::isfinite(x) || !std::isfinite(y)) return;
  while (!s.x.empty() && s.x.back() >= x) {
    s.x.pop_back();
    s.y.pop_back();
  }
  s.x.push_back(x);
  s.y.push_back(y);
}

void read_csv(const fs::path& file, const std::string& metric, const std::string& x_column, Series& s) {
  const auto lines = read_lines(file);
  if (lines.empty()) throw ConfigError(file.string() + " is empty (has the run logged anything yet?)");
  const auto header = parse_csv_line(lines[0]);
  auto index_of = [&](const std::string& name, const std::string& what) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) missing_column(what, name, file, header);
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t yi = index_of(metric, "metric");
  const std::size_t xi = index_of(x_column, "x column");
  for (std::size_t r = 1; r < lines.size(); ++r) {
    const auto cells = parse_csv_line(lines[r]);
    if (cells.size() <= std::max(xi, yi)) continue;
    append_point(s, parse_number(cells[xi]), parse_number(cells[yi]));
  }
}

void read_jsonl(const fs::path& file, const std::string& metric, const std::string& x_column, Series& s) {
  const auto lines = read_lines(file);
  std::set<std::string> keys;
  std::vector<std::pair<std::string, double>> kv;
  for (std::size_t r = 0; r < lines.size(); ++r) {
    if (lines[r].find_first_not_of(" \t") == std::string::npos) continue;
    if (!parse_json_line(lines[r], kv)) {
      throw ConfigError(file.string() + ":" + std::to_string(r + 1) + ": not a JSON object of numbers");
    }
    double x = kNaN, y = kNaN;
    for (const auto& [k, v] : kv) {
      keys.insert(k);
      if (k == x_column) x = v;
      if (k == metric) y = v;
    }
    append_point(s, x, y);
  }
  const std::vector<std::string> columns(keys.begin(), keys.end());
  if (!keys.count(metric)) missing_column("metric", metric, file, columns);
  if (!keys.count(x_column)) missing_column("x column", x_column, file, columns);
}

// TensorBoard event files (one run's, in name order: a resumed run adds a file). x is the step or
// "time", seconds since the first event.
void read_tfevents(const std::vector<fs::path>& files, const std::string& metric, const std::string& x_column,
                   Series& s) {
  if (x_column != "step" && x_column != "time")
    missing_column("x column", x_column, files.front(), {"step", "time"});
  std::set<std::string> tags;
  double t0 = kNaN;
  for (const auto& f : files) {
    std::vector<tfevents::ScalarEvent> events;
    try {
      events = tfevents::read_scalars(f);
    } catch (const Error& e) {
      throw ConfigError(e.what());
    }
    for (const auto& e : events) {
      tags.insert(e.tag);
      if (std::isnan(t0)) t0 = e.wall_time;
      if (e.tag == metric) append_point(s, x_column == "step" ? static_cast<double>(e.step) : e.wall_time - t0, e.value);
    }
  }
  if (!tags.count(metric)) missing_column("metric", metric, files.front(), std::vector<std::string>(tags.begin(), tags.end()));
}

bool is_event_file(const fs::path& p) { return p.filename().string().find("tfevents") != std::string::npos; }

}  // namespace

Series read_series(const fs::path& run, const std::string& metric, const std::string& x_column) {
  Series s;
  std::error_code ec;
  fs::path file = run;
  if (fs::is_directory(run, ec)) {
    s.label = run.filename().empty() ? run.parent_path().filename().string() : run.filename().string();
    if (fs::exists(run / "metrics.csv", ec)) {
      file = run / "metrics.csv";
    } else if (fs::exists(run / "metrics.jsonl", ec)) {
      file = run / "metrics.jsonl";
    } else {
      // A directory of TensorBoard event files (another framework's run, for comparison).
      std::vector<fs::path> events;
      for (const auto& e : fs::directory_iterator(run, ec))
        if (e.is_regular_file() && is_event_file(e.path())) events.push_back(e.path());
      if (events.empty())
        throw ConfigError(run.string() + " has no metrics.csv, metrics.jsonl or TensorBoard event file (is it a run directory?)");
      std::sort(events.begin(), events.end());
      read_tfevents(events, metric, x_column, s);
      return s;
    }
  } else if (!fs::exists(run, ec)) {
    throw ConfigError(run.string() + " does not exist");
  } else {
    // A file given directly is named after the run directory that holds it.
    s.label = run.parent_path().filename().string();
    if (s.label.empty()) s.label = run.stem().string();
  }
  if (is_event_file(file)) {
    read_tfevents({file}, metric, x_column, s);
  } else if (ends_with_ci(file.string(), ".jsonl") || ends_with_ci(file.string(), ".json")) {
    read_jsonl(file, metric, x_column, s);
  } else if (ends_with_ci(file.string(), ".csv")) {
    read_csv(file, metric, x_column, s);
  } else {
    throw ConfigError(file.string() + " is neither a run directory nor a .csv, .jsonl or TensorBoard event file");
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Averaging over seeds

Band aggregate(const std::vector<Series>& runs, Spread spread, std::size_t max_points) {
  if (runs.empty()) throw ConfigError("no runs to average");
  MNEMO_CHECK(max_points >= 2, "max_points must be >= 2, got ", max_points);
  double lo_x = -std::numeric_limits<double>::infinity(), hi_x = std::numeric_limits<double>::infinity();
  for (const auto& r : runs) {
    MNEMO_CHECK(r.x.size() == r.y.size(), "series '", r.label, "' has ", r.x.size(), " x and ", r.y.size(), " y");
    if (r.x.size() < 2) {
      throw ConfigError("run '" + r.label + "' has " + std::to_string(r.x.size()) +
                        " point(s); averaging needs at least 2 per run");
    }
    lo_x = std::max(lo_x, r.x.front());
    hi_x = std::min(hi_x, r.x.back());
  }
  if (!(lo_x < hi_x)) throw ConfigError("the runs' x ranges do not overlap, so there is nothing to average");

  // The union of the runs' x values: seeds that logged at the same steps average exactly, with
  // no interpolation error; thinned evenly when it would be more points than a plot can show.
  std::vector<double> grid;
  for (const auto& r : runs) {
    for (double x : r.x) {
      if (x >= lo_x && x <= hi_x) grid.push_back(x);
    }
  }
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  if (grid.size() > max_points) {
    std::vector<double> thin(max_points);
    for (std::size_t i = 0; i < max_points; ++i) {
      thin[i] =
          grid[static_cast<std::size_t>(std::llround(static_cast<double>(i) * (grid.size() - 1) / (max_points - 1)))];
    }
    grid = std::move(thin);
  }

  Band b;
  b.runs = runs.size();
  b.x = grid;
  const std::size_t n = grid.size();
  std::vector<std::vector<double>> values(runs.size(), std::vector<double>(n));
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const auto& xs = runs[r].x;
    const auto& ys = runs[r].y;
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      // The segment [xs[j], xs[j + 1]] holding grid[i]; the grid is sorted, so j only moves on.
      while (j + 2 < xs.size() && xs[j + 1] <= grid[i]) ++j;
      const double x0 = xs[j], x1 = xs[j + 1];
      const double t = x1 > x0 ? std::clamp((grid[i] - x0) / (x1 - x0), 0.0, 1.0) : 0.0;
      values[r][i] = ys[j] + t * (ys[j + 1] - ys[j]);
    }
  }
  b.mean.resize(n);
  b.lo.resize(n);
  b.hi.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& v : values) {
      sum += v[i];
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    const double mean = sum / static_cast<double>(runs.size());
    b.mean[i] = mean;
    if (spread == Spread::kMinMax) {
      b.lo[i] = lo;
      b.hi[i] = hi;
    } else {
      double ss = 0;
      for (const auto& v : values) ss += (v[i] - mean) * (v[i] - mean);
      const double sd = std::sqrt(ss / static_cast<double>(runs.size()));
      b.lo[i] = mean - sd;
      b.hi[i] = mean + sd;
    }
  }
  return b;
}

std::string strip_seed_suffix(const std::string& name) {
  auto lower_at = [&](std::size_t pos, const char* word) {
    const std::size_t len = std::strlen(word);
    if (pos + len > name.size()) return false;
    for (std::size_t i = 0; i < len; ++i) {
      if (std::tolower(static_cast<unsigned char>(name[pos + i])) != word[i]) return false;
    }
    return true;
  };
  std::size_t digits = name.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(name[digits - 1]))) --digits;
  if (digits == name.size()) return name;
  std::size_t p = digits;
  if (p >= 5 && std::strchr("-_=", name[p - 1]) != nullptr && lower_at(p - 5, "seed")) {
    p -= 5;  // seed_3, seed=3, seed-3
  } else if (p >= 4 && lower_at(p - 4, "seed")) {
    p -= 4;  // seed3
  } else if (p >= 1 && (name[p - 1] == 's' || name[p - 1] == 'S')) {
    p -= 1;  // s3
  } else {
    return name;
  }
  // The suffix must stand apart ("runs3" is not run "run" with seed 3), and something must remain.
  if (p < 2 || std::strchr("-_.", name[p - 1]) == nullptr) return name;
  return name.substr(0, p - 1);
}

std::vector<std::pair<std::string, std::vector<std::size_t>>> group_by_seed(const std::vector<std::string>& labels) {
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;
  bool any_suffix = false;
  for (const auto& l : labels) any_suffix = any_suffix || strip_seed_suffix(l) != l;
  if (!any_suffix) {
    std::vector<std::size_t> all(labels.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    if (!all.empty()) groups.emplace_back("mean", std::move(all));
    return groups;
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::string key = strip_seed_suffix(labels[i]);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {i}});
    } else {
      it->second.push_back(i);
    }
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Layout

Rgb palette(std::size_t i) {
  static constexpr std::array<Rgb, 10> kTab10 = {{{31, 119, 180},
                                                  {255, 127, 14},
                                                  {44, 160, 44},
                                                  {214, 39, 40},
                                                  {148, 103, 189},
                                                  {140, 86, 75},
                                                  {227, 119, 194},
                                                  {127, 127, 127},
                                                  {188, 189, 34},
                                                  {23, 190, 207}}};
  return kTab10[i % kTab10.size()];
}

namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kText{34, 34, 34};
constexpr Rgb kAxis{68, 68, 68};
constexpr Rgb kGrid{228, 228, 228};
constexpr Rgb kLegendBorder{200, 200, 200};
constexpr double kBandAlpha = 0.22;
constexpr std::size_t kMaxLabelChars = 40;

// Glyphs for ASCII 32..126 drawn for this file: 5 columns, 7 rows above the baseline and 2 below
// for descenders (g, j, p, q, y, comma); one byte per row, bit 4 the leftmost column.
constexpr std::uint8_t kFont[95][9] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // space
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00},  // !
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // "
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00, 0x00},  // #
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00, 0x00},  // $
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00},  // %
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00, 0x00},  // &
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // '
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00},  // (
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00},  // )
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00, 0x00},  // *
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00, 0x00},  // +
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x04, 0x08},  // ,
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00},  // -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00, 0x00},  // .
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00},  // /
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00, 0x00},  // 0
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // 1
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00},  // 2
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00, 0x00},  // 3
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00, 0x00},  // 4
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00, 0x00},  // 5
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00, 0x00},  // 6
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00},  // 7
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00, 0x00},  // 8
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00, 0x00},  // 9
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00, 0x00},  // :
    {0x00, 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x04, 0x08},  // ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00},  // <
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00},  // =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00},  // >
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00},  // ?
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e, 0x00, 0x00},  // @
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00},  // A
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00, 0x00},  // B
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00},  // C
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00, 0x00},  // D
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00, 0x00},  // E
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00},  // F
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00, 0x00},  // G
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00},  // H
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00, 0x00},  // J
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00},  // K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00, 0x00},  // L
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00},  // M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00},  // N
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // O
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00},  // P
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00, 0x00},  // Q
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00, 0x00},  // R
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00, 0x00},  // S
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // T
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00},  // V
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00, 0x00},  // W
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00, 0x00},  // X
    {0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x00, 0x00},  // Y
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00, 0x00},  // Z
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00, 0x00},  // [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00},  // backslash
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00, 0x00},  // ]
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // ^
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00},  // _
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // `
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00, 0x00},  // a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00, 0x00},  // b
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00},  // c
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00, 0x00},  // d
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00, 0x00},  // e
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00, 0x00},  // f
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // h
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c},  // j
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00},  // k
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // l
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00, 0x00},  // m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // n
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // o
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x11, 0x1e, 0x10, 0x10},  // p
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x01},  // q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00},  // r
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e, 0x00, 0x00},  // s
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00},  // t
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00, 0x00},  // u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00},  // v
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00, 0x00},  // w
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00, 0x00},  // x
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // y
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00},  // z
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00, 0x00},  // {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // |
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00, 0x00},  // }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00},  // ~
};

// Characters of `text` as the font draws them: one glyph per UTF-8 code point, '?' outside ASCII.
std::string glyphs_of(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) {
    if ((ch & 0xc0) == 0x80) continue;  // UTF-8 continuation byte
    out += (ch >= 32 && ch < 127) ? static_cast<char>(ch) : '?';
  }
  return out;
}

// `label` cut to at most `max_chars` glyphs with "..." where it was cut. Cuts fall on code points
// so SVG never gets half a UTF-8 sequence. Run names keep their end, where they differ (seed,
// trial number); titles keep their start.
std::string shorten(const std::string& label, std::size_t max_chars, bool keep_end) {
  if (glyphs_of(label).size() <= max_chars) return label;
  if (max_chars <= 3) return std::string(max_chars, '.');
  std::size_t keep = max_chars - 3;
  if (keep_end) {
    std::size_t start = label.size();
    while (keep > 0 && start > 0) {
      --start;
      if ((static_cast<unsigned char>(label[start]) & 0xc0) != 0x80) --keep;
    }
    return "..." + label.substr(start);
  }
  std::size_t end = 0;
  while (end < label.size()) {
    if ((static_cast<unsigned char>(label[end]) & 0xc0) != 0x80) {
      if (keep == 0) break;
      --keep;
    }
    ++end;
  }
  return label.substr(0, end) + "...";
}

struct Font {
  int scale;
  int advance() const { return 6 * scale; }
  int height() const { return 7 * scale; }  // above the baseline; descenders reach 2 * scale below
  int width(const std::string& text) const {
    const auto n = static_cast<int>(glyphs_of(text).size());
    return n == 0 ? 0 : n * advance() - scale;
  }
  // How many glyphs fit in `px` pixels.
  std::size_t fits(double px) const { return static_cast<std::size_t>(std::max(0.0, (px + scale) / advance())); }
};

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  std::vector<std::string> labels;
};

// Title and axis labels, cut to the space they have.
struct Texts {
  std::string title, x_label, y_label;
};

struct Legend {
  bool shown = false;
  int x = 0, y = 0, w = 0, h = 0;  // box
  int row_h = 0, swatch_w = 0, swatch_h = 0, pad = 0;
  std::vector<std::string> labels;
};

// Everything both renderers need, in pixels. The plot area spans [left, right] x [top, bottom].
struct Layout {
  int width = 0, height = 0;
  Font font{2};
  double left = 0, top = 0, right = 0, bottom = 0;
  Axis x, y;
  Texts text;
  Legend legend;
  double line_width = 2;

  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * (right - left); }
  double py(double v) const { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - top); }
  double data_x(double p) const { return x.lo + (p - left) / (right - left) * (x.hi - x.lo); }
};

double nice_step(double range, int target) {
  const double raw = range / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  // Rounded to the nearest of 1, 2, 5 (Heckbert's "nice numbers"), so the count stays near target.
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

int decimals_for(double v) {
  v = std::fabs(v);
  for (int d = 0; d < 9; ++d) {
    const double scaled = v * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) return d;
  }
  return 9;
}

// Labels that share one format across an axis: "0, 100k, 200k" for step counts, "0.25, 0.5" for
// fractions, "2e-05" for tiny values.
std::vector<std::string> tick_labels(const std::vector<double>& ticks, double step) {
  double maxabs = 0;
  for (double t : ticks) maxabs = std::max(maxabs, std::fabs(t));
  std::vector<std::string> out;
  char buf[64];
  for (double t : ticks) {
    if (std::fabs(t) < step * 1e-9) t = 0;  // no "-0"
    if (maxabs >= 1e4) {
      const double scale = maxabs >= 1e9 ? 1e9 : maxabs >= 1e6 ? 1e6 : 1e3;
      const char* suffix = maxabs >= 1e9 ? "G" : maxabs >= 1e6 ? "M" : "k";
      if (t == 0) {
        out.emplace_back("0");
        continue;
      }
      std::snprintf(buf, sizeof buf, "%.*f%s", decimals_for(step / scale), t / scale, suffix);
    } else if (maxabs > 0 && maxabs < 1e-3) {
      std::snprintf(buf, sizeof buf, "%.3g", t);
    } else {
      std::snprintf(buf, sizeof buf, "%.*f", decimals_for(step), t);
    }
    out.emplace_back(buf);
  }
  return out;
}

Axis make_axis(double lo, double hi, int target) {
  Axis a;
  a.lo = lo;
  a.hi = hi;
  const double step = nice_step(hi - lo, target);
  const auto first = static_cast<long long>(std::ceil(lo / step - 1e-9));
  for (long long k = first; static_cast<double>(k) * step <= hi + step * 1e-9; ++k) {
    a.ticks.push_back(static_cast<double>(k) * step);
  }
  a.labels = tick_labels(a.ticks, step);
  return a;
}

// Finite points of a curve mapped to pixels, at most four per pixel column (first, lowest,
// highest, last) so that a million-step run draws as fast as a short one and looks the same.
std::vector<std::pair<double, double>> pixel_points(const Curve& c, const Layout& L) {
  std::vector<std::pair<double, double>> pts;
  std::size_t bucket_start = 0;
  long long bucket = std::numeric_limits<long long>::min();
  auto close_bucket = [&] {
    const std::size_t n = pts.size() - bucket_start;
    if (n <= 4) return;
    auto first = pts[bucket_start], last = pts.back();
    auto [mn, mx] = std::minmax_element(pts.begin() + static_cast<std::ptrdiff_t>(bucket_start), pts.end(),
                                        [](const auto& a, const auto& b) { return a.second < b.second; });
    auto lo = *mn, hi = *mx;
    if (mn > mx) std::swap(lo, hi);  // keep them in drawing order
    pts.resize(bucket_start);
    for (const auto& p : {first, lo, hi, last}) pts.push_back(p);
  };
  for (std::size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
    if (!std::isfinite(c.x[i]) || !std::isfinite(c.y[i])) continue;
    const double px = L.px(c.x[i]), py = L.py(c.y[i]);
    const auto b = static_cast<long long>(std::floor(px));
    if (b != bucket) {
      close_bucket();
      bucket = b;
      bucket_start = pts.size();
    }
    pts.emplace_back(px, py);
  }
  close_bucket();
  return pts;
}

bool has_band(const Curve& c) { return !c.lo.empty() && c.lo.size() == c.x.size() && c.hi.size() == c.x.size(); }

// How many samples of the curves fall in a box; picks the emptiest corner for the legend.
int points_in_box(const std::vector<std::vector<std::pair<double, double>>>& curves, double x0, double y0, double x1,
                  double y1) {
  int n = 0;
  auto inside = [&](double x, double y) { return x >= x0 && x <= x1 && y >= y0 && y <= y1; };
  for (const auto& pts : curves) {
    for (std::size_t i = 0; i < pts.size(); ++i) {
      if (inside(pts[i].first, pts[i].second)) ++n;
      if (i + 1 < pts.size()) {
        // Sample long segments too, so one crossing the box without a vertex in it counts.
        const double dx = pts[i + 1].first - pts[i].first, dy = pts[i + 1].second - pts[i].second;
        const int steps = std::min(200, static_cast<int>(std::hypot(dx, dy) / 4));
        for (int k = 1; k < steps; ++k) {
          if (inside(pts[i].first + dx * k / steps, pts[i].second + dy * k / steps)) ++n;
        }
      }
    }
  }
  return n;
}

Layout make_layout(const Chart& chart) {
  if (chart.width < 200 || chart.height < 200 || chart.width > 8000 || chart.height > 8000) {
    throw ConfigError("plot size must be within 200..8000 pixels, got " + std::to_string(chart.width) + "x" +
                      std::to_string(chart.height));
  }
  Layout L;
  L.width = chart.width;
  L.height = chart.height;
  L.font.scale = (chart.width >= 480 && chart.height >= 300) ? 2 : 1;
  L.line_width = L.font.scale == 2 ? 2.0 : 1.5;
  const Font& f = L.font;
  const int pad = 5 * f.scale;

  // Data ranges, bands included.
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& c : chart.curves) {
    for (std::size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
      if (!std::isfinite(c.x[i])) continue;
      auto take_y = [&](double v) {
        if (!std::isfinite(v)) return false;
        y0 = std::min(y0, v);
        y1 = std::max(y1, v);
        return true;
      };
      bool any = take_y(c.y[i]);
      if (has_band(c)) any = take_y(c.lo[i]) | take_y(c.hi[i]) | any;
      if (any) {
        x0 = std::min(x0, c.x[i]);
        x1 = std::max(x1, c.x[i]);
      }
    }
  }
  if (!(x0 <= x1)) throw ConfigError("nothing to plot: the curves have no finite points");
  auto widen = [](double& lo, double& hi) {
    if (hi - lo <= std::max(std::fabs(lo), std::fabs(hi)) * 1e-12) {
      const double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
      lo -= d;
      hi += d;
    }
  };
  widen(x0, x1);
  widen(y0, y1);
  const double xpad = (x1 - x0) * 0.02, ypad = (y1 - y0) * 0.05;
  x0 -= xpad;
  x1 += xpad;
  y0 -= ypad;
  y1 += ypad;

  L.top = pad * 2 + (chart.title.empty() ? f.height() / 2 : f.height() + pad * 2);
  L.bottom = chart.height - (pad * 2 + f.height() + pad + f.height() + 2 * f.scale + pad);
  if (chart.x_label.empty()) L.bottom += f.height() + pad;
  // y ticks first: their labels' width sets the left margin.
  L.y = make_axis(y0, y1, std::max(2, static_cast<int>((L.bottom - L.top) / (f.height() * 4))));
  int ytick_w = 0;
  for (const auto& s : L.y.labels) ytick_w = std::max(ytick_w, f.width(s));
  L.left = pad * 2 + (chart.y_label.empty() ? 0 : f.height() + pad * 2) + ytick_w + 2 * f.scale + pad;
  L.right = chart.width - pad * 4;
  // Fewer x ticks until their labels stop touching.
  for (int target = std::max(2, static_cast<int>((L.right - L.left) / (f.advance() * 9)));; --target) {
    L.x = make_axis(x0, x1, target);
    int w = 0;
    for (const auto& s : L.x.labels) w = std::max(w, f.width(s));
    const double spacing = L.x.ticks.size() > 1 ? L.px(L.x.ticks[1]) - L.px(L.x.ticks[0]) : 1e9;
    if (w + 2 * f.advance() <= spacing || target <= 2) {
      // The last label is centred on its tick: keep it inside the image.
      if (!L.x.labels.empty()) {
        const double overhang = L.px(L.x.ticks.back()) + f.width(L.x.labels.back()) / 2.0 + pad - chart.width;
        if (overhang > 0) L.right -= overhang;
      }
      break;
    }
  }
  if (L.right - L.left < 40 || L.bottom - L.top < 40) throw ConfigError("plot size too small for its labels");
  L.text.title = shorten(chart.title, f.fits(chart.width - 4.0 * pad), /*keep_end=*/false);
  L.text.x_label = shorten(chart.x_label, f.fits(L.right - L.left), /*keep_end=*/false);
  L.text.y_label = shorten(chart.y_label, f.fits(L.bottom - L.top), /*keep_end=*/false);

  // Legend: in the corner of the plot area that covers the fewest curve points.
  Legend& lg = L.legend;
  for (const auto& c : chart.curves) lg.labels.push_back(shorten(c.label, kMaxLabelChars, /*keep_end=*/true));
  lg.shown = !chart.curves.empty();
  if (lg.shown) {
    lg.pad = 3 * f.scale;
    lg.row_h = f.height() + 3 * f.scale;
    lg.swatch_w = 9 * f.scale;
    lg.swatch_h = 5 * f.scale;
    int text_w = 0;
    for (const auto& s : lg.labels) text_w = std::max(text_w, f.width(s));
    lg.w = lg.pad * 3 + lg.swatch_w + text_w;
    lg.h = lg.pad * 2 + lg.row_h * static_cast<int>(lg.labels.size()) - 3 * f.scale;
    std::vector<std::vector<std::pair<double, double>>> pts;
    for (const auto& c : chart.curves) {
      pts.push_back(pixel_points(c, L));
      if (has_band(c)) {
        Curve lo{c.label, c.color, c.x, c.lo, {}, {}}, hi{c.label, c.color, c.x, c.hi, {}, {}};
        pts.push_back(pixel_points(lo, L));
        pts.push_back(pixel_points(hi, L));
      }
    }
    const int m = 4 * f.scale;
    const int xl = static_cast<int>(L.left) + m, xr = static_cast<int>(L.right) - m - lg.w;
    const int yt = static_cast<int>(L.top) + m, yb = static_cast<int>(L.bottom) - m - lg.h;
    // Learning curves rise from bottom left to top right, so the other two corners come first.
    const std::array<std::pair<int, int>, 4> corners = {{{xl, yt}, {xr, yb}, {xr, yt}, {xl, yb}}};
    int best = std::numeric_limits<int>::max();
    for (const auto& [cx, cy] : corners) {
      const int n = points_in_box(pts, cx, cy, cx + lg.w, cy + lg.h);
      if (n < best) {
        best = n;
        lg.x = cx;
        lg.y = cy;
      }
    }
  }
  return L;
}

// Centred over the plot area, but moved sideways to stay inside the image when it is wide.
double title_center(const Layout& L) {
  const double half = L.font.width(L.text.title) / 2.0, margin = 10.0 * L.font.scale;
  return std::clamp((L.left + L.right) / 2, margin + half, std::max(margin + half, L.width - margin - half));
}

// ---------------------------------------------------------------------------------------------
// Raster

class Canvas {
 public:
  explicit Canvas(Image& im) : im_(im) {}

  void blend(int x, int y, Rgb c, double a) {
    if (x < 0 || y < 0 || x >= im_.width || y >= im_.height || a <= 0) return;
    a = std::min(a, 1.0);
    std::uint8_t* p = &im_.rgb[(static_cast<std::size_t>(y) * im_.width + x) * 3];
    p[0] = static_cast<std::uint8_t>(std::lround(p[0] + (c.r - p[0]) * a));
    p[1] = static_cast<std::uint8_t>(std::lround(p[1] + (c.g - p[1]) * a));
    p[2] = static_cast<std::uint8_t>(std::lround(p[2] + (c.b - p[2]) * a));
  }
  // Pixels x0 <= x < x1, y0 <= y < y1.
  void rect(int x0, int y0, int x1, int y1, Rgb c, double a = 1) {
    for (int y = std::max(0, y0); y < std::min(im_.height, y1); ++y) {
      for (int x = std::max(0, x0); x < std::min(im_.width, x1); ++x) blend(x, y, c, a);
    }
  }
  // Text with its top-left corner at (x, y).
  void text(int x, int y, const std::string& s, const Font& f, Rgb c) {
    for (char ch : glyphs_of(s)) {
      glyph(ch, f, [&](int gx, int gy) { rect(x + gx, y + gy, x + gx + f.scale, y + gy + f.scale, c); });
      x += f.advance();
    }
  }
  // Text turned a quarter turn anticlockwise (read bottom to top), starting at bottom-left (x, y).
  void text_up(int x, int y, const std::string& s, const Font& f, Rgb c) {
    for (char ch : glyphs_of(s)) {
      glyph(ch, f, [&](int gx, int gy) { rect(x + gy, y - gx - f.scale, x + gy + f.scale, y - gx, c); });
      y -= f.advance();
    }
  }

 private:
  template <class Put>
  static void glyph(char ch, const Font& f, Put put) {
    const auto& rows = kFont[static_cast<unsigned char>(ch) - 32];
    for (int r = 0; r < 9; ++r) {
      for (int col = 0; col < 5; ++col) {
        if (rows[r] & (0x10 >> col)) put(col * f.scale, r * f.scale);
      }
    }
  }
  Image& im_;
};

// Coverage of an anti-aliased polyline over the plot area, composited once so that joints where
// segments overlap are not darker than the rest of the line.
void draw_polyline(Image& im, const Layout& L, const std::vector<std::pair<double, double>>& pts, double width,
                   Rgb color) {
  if (pts.empty()) return;
  const int x0 = static_cast<int>(std::floor(L.left)), y0 = static_cast<int>(std::floor(L.top));
  const int x1 = static_cast<int>(std::ceil(L.right)), y1 = static_cast<int>(std::ceil(L.bottom));
  const int w = x1 - x0 + 1, h = y1 - y0 + 1;
  std::vector<float> cov(static_cast<std::size_t>(w) * h, 0.f);
  const double hw = width / 2;
  auto segment = [&](double ax, double ay, double bx, double by) {
    const int sx0 = std::max(x0, static_cast<int>(std::floor(std::min(ax, bx) - hw - 1)));
    const int sx1 = std::min(x1, static_cast<int>(std::ceil(std::max(ax, bx) + hw + 1)));
    const int sy0 = std::max(y0, static_cast<int>(std::floor(std::min(ay, by) - hw - 1)));
    const int sy1 = std::min(y1, static_cast<int>(std::ceil(std::max(ay, by) + hw + 1)));
    const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    for (int y = sy0; y <= sy1; ++y) {
      for (int x = sx0; x <= sx1; ++x) {
        const double cx = x + 0.5, cy = y + 0.5;
        double t = len2 > 0 ? ((cx - ax) * dx + (cy - ay) * dy) / len2 : 0;
        t = std::clamp(t, 0.0, 1.0);
        const double d = std::hypot(cx - (ax + t * dx), cy - (ay + t * dy));
        const double c = std::clamp(hw + 0.5 - d, 0.0, 1.0);
        float& slot = cov[static_cast<std::size_t>(y - y0) * w + (x - x0)];
        slot = std::max(slot, static_cast<float>(c));
      }
    }
  };
  if (pts.size() == 1) segment(pts[0].first, pts[0].second, pts[0].first, pts[0].second);
  for (std::size_t i = 0; i + 1 < pts.size(); ++i) {
    segment(pts[i].first, pts[i].second, pts[i + 1].first, pts[i + 1].second);
  }
  Canvas canvas(im);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float c = cov[static_cast<std::size_t>(y) * w + x];
      if (c > 0) canvas.blend(x + x0, y + y0, color, c);
    }
  }
}

// The band between lo and hi, column by column (its x is increasing), with anti-aliased top and
// bottom edges.
void draw_band(Image& im, const Layout& L, const Curve& c) {
  std::vector<double> xs, lo, hi;
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    if (std::isfinite(c.x[i]) && std::isfinite(c.lo[i]) && std::isfinite(c.hi[i])) {
      xs.push_back(c.x[i]);
      lo.push_back(c.lo[i]);
      hi.push_back(c.hi[i]);
    }
  }
  if (xs.size() < 2) return;
  Canvas canvas(im);
  for (int px = static_cast<int>(std::ceil(L.left)); px < static_cast<int>(L.right); ++px) {
    const double x = L.data_x(px + 0.5);
    if (x < xs.front() || x > xs.back()) continue;
    const std::size_t j = std::min<std::size_t>(
        xs.size() - 2, static_cast<std::size_t>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) - 1);
    const double t = xs[j + 1] > xs[j] ? (x - xs[j]) / (xs[j + 1] - xs[j]) : 0;
    const double top = std::max(L.top, L.py(hi[j] + t * (hi[j + 1] - hi[j])));
    const double bot = std::min(L.bottom, L.py(lo[j] + t * (lo[j + 1] - lo[j])));
    for (int py = static_cast<int>(std::floor(top)); py < static_cast<int>(std::ceil(bot)); ++py) {
      const double covered = std::min(bot, py + 1.0) - std::max(top, static_cast<double>(py));
      canvas.blend(px, py, c.color, kBandAlpha * covered);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SVG

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // XML 1.0 forbids most control characters even escaped.
        out += (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') ? ' ' : ch;
    }
  }
  return out;
}

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

std::vector<std::uint8_t> encode_png(const Image& im) {
  return mnemo::png::encode(im.rgb.data(), im.rgb.size(), im.width, im.height, /*channels=*/3);
}

Image render_image(const Chart& chart) {
  const Layout L = make_layout(chart);
  const Font& f = L.font;
  Image im;
  im.width = chart.width;
  im.height = chart.height;
  im.rgb.assign(static_cast<std::size_t>(im.width) * im.height * 3, 255);
  Canvas cv(im);
  const int left = static_cast<int>(std::lround(L.left)), right = static_cast<int>(std::lround(L.right));
  const int top = static_cast<int>(std::lround(L.top)), bottom = static_cast<int>(std::lround(L.bottom));
  const int tick = 2 * f.scale;

  for (double t : L.x.ticks) {
    const int x = static_cast<int>(std::lround(L.px(t)));
    cv.rect(x, top, x + 1, bottom, kGrid);
  }
  for (double t : L.y.ticks) {
    const int y = static_cast<int>(std::lround(L.py(t)));
    cv.rect(left, y, right, y + 1, kGrid);
  }
  for (const auto& c : chart.curves) {
    if (has_band(c)) draw_band(im, L, c);
  }
  for (const auto& c : chart.curves) draw_polyline(im, L, pixel_points(c, L), L.line_width, c.color);

  // Frame, ticks and their labels.
  cv.rect(left, top, right + 1, top + 1, kAxis);
  cv.rect(left, bottom, right + 1, bottom + 1, kAxis);
  cv.rect(left, top, left + 1, bottom + 1, kAxis);
  cv.rect(right, top, right + 1, bottom + 1, kAxis);
  for (std::size_t i = 0; i < L.x.ticks.size(); ++i) {
    const int x = static_cast<int>(std::lround(L.px(L.x.ticks[i])));
    cv.rect(x, bottom, x + 1, bottom + tick + 1, kAxis);
    cv.text(x - f.width(L.x.labels[i]) / 2, bottom + tick + 3 * f.scale, L.x.labels[i], f, kText);
  }
  for (std::size_t i = 0; i < L.y.ticks.size(); ++i) {
    const int y = static_cast<int>(std::lround(L.py(L.y.ticks[i])));
    cv.rect(left - tick, y, left, y + 1, kAxis);
    cv.text(left - tick - 2 * f.scale - f.width(L.y.labels[i]), y - f.height() / 2, L.y.labels[i], f, kText);
  }
  const int pad = 5 * f.scale;
  const Texts& t = L.text;
  if (!t.x_label.empty()) {
    const int cx = (left + right) / 2;
    cv.text(cx - f.width(t.x_label) / 2, chart.height - pad * 2 - f.height(), t.x_label, f, kText);
  }
  if (!t.y_label.empty()) {
    const int cy = (top + bottom) / 2;
    cv.text_up(pad * 2, cy + f.width(t.y_label) / 2, t.y_label, f, kText);
  }
  if (!t.title.empty()) {
    cv.text(static_cast<int>(std::lround(title_center(L) - f.width(t.title) / 2.0)), pad * 2, t.title, f, kText);
  }

  const Legend& lg = L.legend;
  if (lg.shown) {
    cv.rect(lg.x, lg.y, lg.x + lg.w, lg.y + lg.h, kWhite, 0.85);
    cv.rect(lg.x, lg.y, lg.x + lg.w, lg.y + 1, kLegendBorder);
    cv.rect(lg.x, lg.y + lg.h - 1, lg.x + lg.w, lg.y + lg.h, kLegendBorder);
    cv.rect(lg.x, lg.y, lg.x + 1, lg.y + lg.h, kLegendBorder);
    cv.rect(lg.x + lg.w - 1, lg.y, lg.x + lg.w, lg.y + lg.h, kLegendBorder);
    for (std::size_t i = 0; i < lg.labels.size(); ++i) {
      const int ry = lg.y + lg.pad + static_cast<int>(i) * lg.row_h;
      const int sy = ry + (f.height() - lg.swatch_h) / 2;
      cv.rect(lg.x + lg.pad, sy, lg.x + lg.pad + lg.swatch_w, sy + lg.swatch_h, chart.curves[i].color);
      cv.text(lg.x + lg.pad * 2 + lg.swatch_w, ry, lg.labels[i], f, kText);
    }
  }
  return im;
}

std::string render_svg(const Chart& chart) {
  const Layout L = make_layout(chart);
  const Font& f = L.font;
  const int fs = 8 * f.scale;  // a proportional font's size whose capitals match the bitmap glyphs
  const int tick = 2 * f.scale, pad = 5 * f.scale;
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << chart.width << "\" height=\"" << chart.height
    << "\" viewBox=\"0 0 " << chart.width << " " << chart.height
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"" << fs << "\" fill=\"" << hex(kText)
    << "\">\n";
  o << "<defs><clipPath id=\"plot-area\"><rect x=\"" << num(L.left) << "\" y=\"" << num(L.top) << "\" width=\""
    << num(L.right - L.left) << "\" height=\"" << num(L.bottom - L.top) << "\"/></clipPath></defs>\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<g class=\"grid\" stroke=\"" << hex(kGrid) << "\" stroke-width=\"1\">\n";
  for (double t : L.x.ticks) {
    o << "<line x1=\"" << num(L.px(t)) << "\" y1=\"" << num(L.top) << "\" x2=\"" << num(L.px(t)) << "\" y2=\""
      << num(L.bottom) << "\"/>\n";
  }
  for (double t : L.y.ticks) {
    o << "<line x1=\"" << num(L.left) << "\" y1=\"" << num(L.py(t)) << "\" x2=\"" << num(L.right) << "\" y2=\""
      << num(L.py(t)) << "\"/>\n";
  }
  o << "</g>\n<g clip-path=\"url(#plot-area)\">\n";
  for (const auto& c : chart.curves) {
    if (!has_band(c)) continue;
    Curve hi{c.label, c.color, c.x, c.hi, {}, {}}, lo{c.label, c.color, c.x, c.lo, {}, {}};
    const auto top_pts = pixel_points(hi, L);
    auto bot_pts = pixel_points(lo, L);
    if (top_pts.empty() || bot_pts.empty()) continue;
    std::reverse(bot_pts.begin(), bot_pts.end());
    o << "<path class=\"band\" fill=\"" << hex(c.color) << "\" fill-opacity=\"" << kBandAlpha << "\" d=\"M";
    for (const auto& p : top_pts) o << num(p.first) << "," << num(p.second) << " ";
    for (const auto& p : bot_pts) o << "L" << num(p.first) << "," << num(p.second) << " ";
    o << "Z\"><title>" << xml_escape(c.label) << " spread</title></path>\n";
  }
  for (const auto& c : chart.curves) {
    const auto pts = pixel_points(c, L);
    if (pts.empty()) continue;
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << hex(c.color) << "\" stroke-width=\"" << L.line_width
      << "\" stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"";
    for (std::size_t i = 0; i < pts.size(); ++i) o << (i ? " " : "") << num(pts[i].first) << "," << num(pts[i].second);
    // A single point still shows: a zero-length segment with a round cap is a dot.
    if (pts.size() == 1) o << " " << num(pts[0].first) << "," << num(pts[0].second);
    o << "\"><title>" << xml_escape(c.label) << "</title></polyline>\n";
  }
  o << "</g>\n";
  o << "<rect class=\"frame\" x=\"" << num(L.left) << "\" y=\"" << num(L.top) << "\" width=\"" << num(L.right - L.left)
    << "\" height=\"" << num(L.bottom - L.top) << "\" fill=\"none\" stroke=\"" << hex(kAxis) << "\"/>\n";
  o << "<g class=\"x-axis\">\n";
  for (std::size_t i = 0; i < L.x.ticks.size(); ++i) {
    const double x = L.px(L.x.ticks[i]);
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(L.bottom) << "\" x2=\"" << num(x) << "\" y2=\""
      << num(L.bottom + tick) << "\" stroke=\"" << hex(kAxis) << "\"/>"
      << "<text x=\"" << num(x) << "\" y=\"" << num(L.bottom + tick + 3 * f.scale + f.height())
      << "\" text-anchor=\"middle\">" << xml_escape(L.x.labels[i]) << "</text>\n";
  }
  if (!L.text.x_label.empty()) {
    o << "<text class=\"x-label\" x=\"" << num((L.left + L.right) / 2) << "\" y=\"" << chart.height - pad * 2
      << "\" text-anchor=\"middle\">" << xml_escape(L.text.x_label) << "</text>\n";
  }
  o << "</g>\n<g class=\"y-axis\">\n";
  for (std::size_t i = 0; i < L.y.ticks.size(); ++i) {
    const double y = L.py(L.y.ticks[i]);
    o << "<line x1=\"" << num(L.left - tick) << "\" y1=\"" << num(y) << "\" x2=\"" << num(L.left) << "\" y2=\""
      << num(y) << "\" stroke=\"" << hex(kAxis) << "\"/>"
      << "<text x=\"" << num(L.left - tick - 2 * f.scale) << "\" y=\"" << num(y + f.height() / 2.0)
      << "\" text-anchor=\"end\">" << xml_escape(L.y.labels[i]) << "</text>\n";
  }
  if (!L.text.y_label.empty()) {
    const double x = pad * 2 + f.height(), y = (L.top + L.bottom) / 2;
    o << "<text class=\"y-label\" x=\"" << num(x) << "\" y=\"" << num(y)
      << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << num(x) << " " << num(y) << ")\">"
      << xml_escape(L.text.y_label) << "</text>\n";
  }
  o << "</g>\n";
  if (!L.text.title.empty()) {
    o << "<text class=\"title\" x=\"" << num(title_center(L)) << "\" y=\"" << pad * 2 + f.height()
      << "\" text-anchor=\"middle\">" << xml_escape(L.text.title) << "</text>\n";
  }
  const Legend& lg = L.legend;
  if (lg.shown) {
    o << "<g class=\"legend\">\n<rect x=\"" << lg.x << "\" y=\"" << lg.y << "\" width=\"" << lg.w << "\" height=\""
      << lg.h << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"" << hex(kLegendBorder) << "\"/>\n";
    for (std::size_t i = 0; i < lg.labels.size(); ++i) {
      const int ry = lg.y + lg.pad + static_cast<int>(i) * lg.row_h;
      o << "<rect class=\"swatch\" x=\"" << lg.x + lg.pad << "\" y=\"" << ry + (f.height() - lg.swatch_h) / 2
        << "\" width=\"" << lg.swatch_w << "\" height=\"" << lg.swatch_h << "\" fill=\"" << hex(chart.curves[i].color)
        << "\"/><text x=\"" << lg.x + lg.pad * 2 + lg.swatch_w << "\" y=\"" << ry + f.height() << "\">"
        << xml_escape(lg.labels[i]) << "</text>\n";
    }
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Runs to a file

Chart build_chart(const PlotOptions& a) {
  std::vector<Series> runs;
  for (const auto& r : a.runs) {
    runs.push_back(read_series(r, a.metric, a.x));
    if (runs.back().x.empty()) {
      throw ConfigError(r + " has no finite values of '" + a.metric + "' against '" + a.x + "' yet");
    }
  }
  // Two runs with the same directory name (a/run, b/run) are told apart by the path given.
  std::map<std::string, int> seen;
  for (const auto& s : runs) ++seen[s.label];
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (seen[runs[i].label] > 1) runs[i].label = a.runs[i];
  }

  Chart chart;
  chart.title = a.title;
  chart.x_label = a.x;
  chart.y_label = a.metric;
  chart.width = a.width;
  chart.height = a.height;
  if (!a.mean) {
    for (std::size_t i = 0; i < runs.size(); ++i) {
      chart.curves.push_back({runs[i].label, palette(i), runs[i].x, runs[i].y, {}, {}});
    }
    return chart;
  }
  std::vector<std::string> labels;
  for (const auto& s : runs) labels.push_back(s.label);
  const auto groups = group_by_seed(labels);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& [name, members] = groups[g];
    if (members.size() == 1) {
      const Series& s = runs[members[0]];
      chart.curves.push_back({s.label, palette(g), s.x, s.y, {}, {}});
      continue;
    }
    std::vector<Series> group;
    for (std::size_t m : members) group.push_back(runs[m]);
    Band b = aggregate(group, a.spread);
    const std::string n = std::to_string(members.size());
    const std::string label = name == "mean" && groups.size() == 1 ? "mean of " + n + " runs" : name + " (n=" + n + ")";
    chart.curves.push_back({label, palette(g), std::move(b.x), std::move(b.mean), std::move(b.lo), std::move(b.hi)});
  }
  return chart;
}

std::string run_plot(const PlotOptions& a) {
  const Chart chart = build_chart(a);
  std::string bytes;
  if (ends_with_ci(a.out, ".svg")) {
    bytes = render_svg(chart);
  } else {
    const auto png = encode_png(render_image(chart));
    bytes.assign(png.begin(), png.end());
  }
  const fs::path out(a.out);
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  write_file_atomic(out, bytes);
  std::size_t points = 0;
  for (const auto& c : chart.curves) points += c.x.size();
  return "plotted " + std::to_string(chart.curves.size()) + " curve(s) of " + a.metric + " vs " + a.x + " (" +
         std::to_string(a.runs.size()) + " run(s), " + std::to_string(points) + " points) -> " + a.out;
}

}  // namespace mnemo::plot
