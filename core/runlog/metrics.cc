// MetricsWriter (metrics.jsonl + wide metrics.csv) and the console ProgressLine. See metrics.h.
//
// Files are written with plain POSIX descriptors opened O_APPEND: each line goes out in one
// write(2), so concurrent readers never see half a line from us, and flush() can fsync.
#include "core/runlog/metrics.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/json.h"
#include "core/log.h"

namespace mnemo {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

int open_or_throw(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + errno_text(errno));
  return fd;
}

void close_fd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

void write_all(int fd, const std::string& s, const fs::path& path) {
  const char* p = s.data();
  std::size_t n = s.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path.string() + ": " + errno_text(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::string json_value(double v) { return std::isfinite(v) ? json::number(v) : "null"; }

std::string csv_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return json::number(v);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}


// Offset just past the last '\n' in [0, end), or 0; reads backwards so huge files stay cheap.
off_t line_start_before(int fd, off_t end, const fs::path& path) {
  char buf[64 * 1024];
  off_t pos = end;
  while (pos > 0) {
    off_t chunk = std::min<off_t>(static_cast<off_t>(sizeof(buf)), pos);
    ssize_t r = ::pread(fd, buf, static_cast<std::size_t>(chunk), pos - chunk);
    if (r != chunk) throw Error("cannot read " + path.string() + ": " + errno_text(errno));
    for (off_t i = chunk - 1; i >= 0; --i) {
      if (buf[i] == '\n') return pos - chunk + i + 1;
    }
    pos -= chunk;
  }
  return 0;
}

// Drops a partial last line (a crash mid-write) so appended lines start clean, and returns the
// last complete line ("" if none).
std::string repair_and_last_line(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return "";
    throw Error("cannot open " + path.string() + ": " + errno_text(errno));
  }
  std::string last;
  try {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw Error("cannot stat " + path.string() + ": " + errno_text(errno));
    off_t size = st.st_size;
    if (size > 0) {
      char tail = 0;
      if (::pread(fd, &tail, 1, size - 1) != 1) throw Error("cannot read " + path.string());
      if (tail != '\n') {
        off_t cut = line_start_before(fd, size, path);
        MNEMO_WARN("dropping a partial last line (", size - cut, " bytes) from ", path.string());
        if (::ftruncate(fd, cut) != 0) throw Error("cannot truncate " + path.string() + ": " + errno_text(errno));
        size = cut;
      }
    }
    if (size > 0) {
      off_t start = line_start_before(fd, size - 1, path);
      last.resize(static_cast<std::size_t>(size - 1 - start));
      if (::pread(fd, last.data(), last.size(), start) != static_cast<ssize_t>(last.size())) {
        throw Error("cannot read " + path.string());
      }
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return last;
}

void check_key(const std::string& key) {
  MNEMO_CHECK(!key.empty(), "metric names must not be empty");
  MNEMO_CHECK(key != "step" && key != "time", "metric name '", key, "' is reserved");
  for (unsigned char ch : key) {
    MNEMO_CHECK(ch >= 0x20 && ch != 0x7f, "metric name '", key, "' contains a control character");
  }
}

}  // namespace

std::vector<std::string> parse_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(std::move(cur));
  return out;
}

// ---------------------------------------------------------------------------------------------
// MetricsWriter

MetricsWriter::MetricsWriter(fs::path run_dir, bool append)
    : run_dir_(std::move(run_dir)), start_(std::chrono::steady_clock::now()) {
  std::error_code ec;
  fs::create_directories(run_dir_, ec);
  if (ec) throw Error("cannot create run directory " + run_dir_.string() + ": " + ec.message());
  try {
    if (append) {
      open_for_append();
    } else {
      jsonl_fd_ = open_or_throw(jsonl_path(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
      csv_fd_ = open_or_throw(csv_path(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    }
  } catch (...) {
    close_fd(&jsonl_fd_);
    close_fd(&csv_fd_);
    throw;
  }
}

MetricsWriter::~MetricsWriter() {
  close_fd(&jsonl_fd_);
  close_fd(&csv_fd_);
}

void MetricsWriter::open_for_append() {
  std::string jsonl_last = repair_and_last_line(jsonl_path());
  std::string csv_last = repair_and_last_line(csv_path());

  std::ifstream in(csv_path());
  std::string header;
  if (in && std::getline(in, header) && !header.empty()) {
    auto cols = parse_csv_line(header);
    if (cols.size() < 2 || cols[0] != "step" || cols[1] != "time") {
      throw Error(csv_path().string() + " does not start with a step,time header; not a mnemo metrics file?");
    }
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (!column_index_.emplace(cols[i], i).second) {
        throw Error(csv_path().string() + " has column '" + cols[i] + "' twice");
      }
    }
    columns_ = std::move(cols);
  }

  // Continue the clock so that time stays monotonic across a resume.
  if (!csv_last.empty() && csv_last != header) {
    auto cells = parse_csv_line(csv_last);
    if (cells.size() > 1) time_offset_ = std::max(time_offset_, std::strtod(cells[1].c_str(), nullptr));
  }
  if (!jsonl_last.empty()) {
    try {
      const json::Value last = json::parse(jsonl_last, jsonl_path().string());
      if (const json::Value* t = last.find("time"); t != nullptr && t->is_number())
        time_offset_ = std::max(time_offset_, t->as_double("time"));
    } catch (const Error&) {
      // A line that is not JSON leaves the clock to metrics.csv.
    }
  }
  if (!std::isfinite(time_offset_) || time_offset_ < 0) time_offset_ = 0;

  jsonl_fd_ = open_or_throw(jsonl_path(), O_WRONLY | O_CREAT | O_APPEND);
  csv_fd_ = open_or_throw(csv_path(), O_WRONLY | O_CREAT | O_APPEND);
}

double MetricsWriter::elapsed_seconds() const {
  return time_offset_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::vector<std::string> MetricsWriter::columns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return columns_;
}

void MetricsWriter::rewrite_csv_header(std::size_t old_columns) {
  // Rewritten atomically so a crash here cannot lose the old rows; streamed, because a long
  // run's file is large.
  fs::path path = csv_path();
  std::string header;
  for (std::size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + csv_field(columns_[i]);
  const std::string pad(columns_.size() - old_columns, ',');
  AtomicFile out(path);
  {
    std::ifstream in(path);
    if (!in) throw Error("cannot read " + path.string());
    std::string buf = header + "\n";
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (first) {  // the old header
        first = false;
        continue;
      }
      buf += line;
      buf += pad;
      buf += '\n';
      if (buf.size() > (1u << 20)) {
        out.write(buf);
        buf.clear();
      }
    }
    out.write(buf);
  }
  close_fd(&csv_fd_);
  try {
    out.commit();
  } catch (...) {
    csv_fd_ = open_or_throw(path, O_WRONLY | O_APPEND);
    throw;
  }
  csv_fd_ = open_or_throw(path, O_WRONLY | O_APPEND);
}

void MetricsWriter::write(std::int64_t step, const Scalars& scalars) {
  std::lock_guard<std::mutex> lock(mu_);
  // Validate everything before touching state or files, so a bad call changes nothing.
  std::vector<std::string> new_keys;
  {
    std::unordered_set<std::string> seen;
    for (const auto& kv : scalars) {
      check_key(kv.first);
      MNEMO_CHECK(seen.insert(kv.first).second, "metric '", kv.first, "' given twice at step ", step);
      if (!column_index_.count(kv.first)) new_keys.push_back(kv.first);
    }
  }
  const double t = elapsed_seconds();
  char time_text[32];
  std::snprintf(time_text, sizeof(time_text), "%.3f", t);

  std::string json = "{\"step\": " + std::to_string(step) + ", \"time\": " + time_text;
  for (const auto& kv : scalars) json += ", " + json::quote(kv.first) + ": " + json_value(kv.second);
  json += "}\n";
  write_all(jsonl_fd_, json, jsonl_path());

  const bool fresh = columns_.empty();
  const std::size_t old_columns = columns_.size();
  if (fresh) {
    for (const char* c : {"step", "time"}) {
      column_index_[c] = columns_.size();
      columns_.push_back(c);
    }
  }
  for (const auto& k : new_keys) {
    column_index_[k] = columns_.size();
    columns_.push_back(k);
  }
  if (fresh) {
    std::string header;
    for (std::size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + csv_field(columns_[i]);
    write_all(csv_fd_, header + "\n", csv_path());
  } else if (!new_keys.empty()) {
    rewrite_csv_header(old_columns);
  }
  std::vector<std::string> cells(columns_.size());
  cells[0] = std::to_string(step);
  cells[1] = time_text;
  for (const auto& kv : scalars) cells[column_index_.at(kv.first)] = csv_value(kv.second);
  std::string row;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) row += ',';
    row += cells[i];
  }
  row += '\n';
  write_all(csv_fd_, row, csv_path());

  for (const auto& sink : sinks_) sink(step, scalars);
}

void MetricsWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto [fd, path] : {std::pair{jsonl_fd_, jsonl_path()}, std::pair{csv_fd_, csv_path()}}) {
    if (fd >= 0 && ::fsync(fd) != 0) throw Error("cannot fsync " + path.string() + ": " + errno_text(errno));
  }
}

void MetricsWriter::add_sink(MetricsSink sink) {
  std::lock_guard<std::mutex> lock(mu_);
  sinks_.push_back(std::move(sink));
}

// ---------------------------------------------------------------------------------------------
// ProgressLine

namespace {

// Accepts exactly one printf conversion for a double, so a typo cannot reach snprintf as UB.
bool valid_double_format(const std::string& f) {
  std::size_t i = 0;
  if (f.size() < 2 || f[i++] != '%') return false;
  while (i < f.size() && std::strchr("-+ #0", f[i])) ++i;
  while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i;
  if (i < f.size() && f[i] == '.') {
    ++i;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i;
  }
  return i + 1 == f.size() && std::strchr("eEfFgGaA", f[i]);
}

std::string format_item_value(const ProgressItem& item) {
  if (item.format == "count") return format_count(item.value);
  MNEMO_CHECK(valid_double_format(item.format), "progress item '", item.label, "': format '", item.format,
              "' is not \"count\" or a printf conversion for one double like \"%.3g\"");
  char buf[128];
  std::snprintf(buf, sizeof(buf), item.format.c_str(), item.value);
  return buf;
}

int terminal_width(std::FILE* out) {
  struct winsize ws {};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

}  // namespace

std::string format_count(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::fabs(value) >= 9e18) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3g", value);
    return buf;
  }
  long long v = std::llround(value);
  std::string digits = std::to_string(v < 0 ? -static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string ProgressLine::format_line(const std::vector<ProgressItem>& items) {
  std::string line;
  for (const auto& item : items) {
    std::string value = format_item_value(item);
    std::string text;
    auto pos = item.label.find("{}");
    if (pos != std::string::npos) {
      text = item.label.substr(0, pos) + value + item.label.substr(pos + 2);
    } else if (item.label.empty()) {
      text = value;
    } else {
      text = item.label + " " + value;
    }
    if (!line.empty()) line += " | ";
    line += text;
  }
  return line;
}

ProgressLine::ProgressLine(double interval_s, std::FILE* out, int in_place, double plain_interval_s)
    : interval_s_(interval_s), out_(out ? out : stdout) {
  in_place_ = in_place < 0 ? ::isatty(::fileno(out_)) != 0 : in_place != 0;
  if (!in_place_) interval_s_ = std::max(interval_s_, plain_interval_s);
}

ProgressLine::~ProgressLine() { finish(); }

bool ProgressLine::due() const {
  return !printed_ ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= interval_s_;
}

bool ProgressLine::update(const std::vector<ProgressItem>& items, bool force) {
  if (!force && !due()) return false;
  std::string text = format_line(items);
  if (in_place_) {
    // A wrapped line cannot be rewritten with \r, so cut it to the terminal width.
    int width = terminal_width(out_);
    if (width > 1 && text.size() >= static_cast<std::size_t>(width)) text.resize(static_cast<std::size_t>(width - 1));
    std::fprintf(out_, "\r%s\x1b[K", text.c_str());
    line_open_ = true;
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
  }
  std::fflush(out_);
  last_ = std::chrono::steady_clock::now();
  printed_ = true;
  return true;
}

void ProgressLine::finish() {
  if (!line_open_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  line_open_ = false;
}

}  // namespace mnemo
