// Metrics: scalar logging to the run directory (metrics.jsonl, metrics.csv) and the console line.
//
// metrics.jsonl is the faithful record (one JSON object per write, keys in the order given);
// metrics.csv is the same data as a wide table for spreadsheets and pandas. Both are appended to
// line by line so `tail -f` works and a crash loses at most the line being written. Other
// consumers (a TensorBoard event writer, a sweep reporter) plug in as sinks instead of being
// known here, which keeps core/ free of their dependencies.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mnemo {

using Scalars = std::vector<std::pair<std::string, double>>;
using MetricsSink = std::function<void(std::int64_t step, const Scalars& scalars)>;

// Writes <run_dir>/metrics.jsonl and <run_dir>/metrics.csv.
//
// jsonl line: {"step": 123, "time": 4.250, "loss": 0.5, "lr": null}  (non-finite values -> null;
// time is seconds since the run started, continued across resumes).
// CSV: columns step,time then every key in order of first appearance. A write that brings a new
// key rewrites the file with the extended header, old rows getting empty cells (rare: keys are
// normally fixed after the first few writes). In the CSV a non-finite value is written as nan,
// inf or -inf so it stays distinct from an empty (never logged) cell.
//
// Thread-safe: writes from several threads are serialised; each line is written whole. Keys must
// be non-empty, free of control characters, unique within one write, and not "step" or "time".
class MetricsWriter {
 public:
  // append=false starts fresh files (a new run); append=true keeps existing ones (a resume),
  // dropping a partial last line left by a crash and continuing the CSV header and the clock.
  explicit MetricsWriter(std::filesystem::path run_dir, bool append = false);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(std::int64_t step, const Scalars& scalars);
  // Lines reach the OS on every write(); flush() also fsyncs them, e.g. before a checkpoint.
  void flush();
  // Called after each write, in write order, on the writing thread while the writer's lock is
  // held: a sink must not call back into this writer. Exceptions from a sink propagate to write().
  void add_sink(MetricsSink sink);

  std::filesystem::path jsonl_path() const { return run_dir_ / "metrics.jsonl"; }
  std::filesystem::path csv_path() const { return run_dir_ / "metrics.csv"; }
  // Current CSV columns, step and time included.
  std::vector<std::string> columns() const;

 private:
  void open_for_append();
  void rewrite_csv_header(std::size_t old_columns);
  double elapsed_seconds() const;

  std::filesystem::path run_dir_;
  mutable std::mutex mu_;
  int jsonl_fd_ = -1;
  int csv_fd_ = -1;
  std::vector<std::string> columns_;
  std::unordered_map<std::string, std::size_t> column_index_;
  std::vector<MetricsSink> sinks_;
  std::chrono::steady_clock::time_point start_;
  double time_offset_ = 0;  // seconds already elapsed in earlier sessions of this run
};

// One item of the progress line. `label` is printed before the value ("return 12.3"), or, when it
// contains "{}", the value replaces that placeholder ("{} steps/s" -> "4,321 steps/s"). `format`
// is a printf conversion for one double ("%.3g", "%.1f", "%8.2e") or "count" for an integer with
// thousands separators ("12,345").
struct ProgressItem {
  std::string label;
  double value = 0;
  std::string format = "%.4g";
};

// The console progress line: `step 12,345 | 4,321 steps/s | return 123.4 | loss 0.123`.
//
// On a terminal the line is rewritten in place (\r, clear to end of line, cut to the terminal
// width so it never wraps); otherwise (a log file, a Slurm output) each update is a plain line,
// and updates are rate-limited so such files stay small. Meant for one thread (the runner loop).
class ProgressLine {
 public:
  // `interval_s`: minimum seconds between printed updates, at least `plain_interval_s` for plain
  // lines (a day-long run in a log file should not print a line a second). `out` defaults to
  // stdout; `in_place` -1 detects a terminal, 0/1 force plain lines / in-place rewriting.
  explicit ProgressLine(double interval_s = 1.0, std::FILE* out = nullptr, int in_place = -1,
                        double plain_interval_s = 10.0);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Whether an update now would be printed; lets callers skip computing expensive items.
  bool due() const;
  // Prints the items if `interval_s` has passed since the last print (or `force`). Returns
  // whether it printed.
  bool update(const std::vector<ProgressItem>& items, bool force = false);
  // Ends an in-place line with a newline so later output starts on a fresh line. Idempotent.
  void finish();

  // The text of one line (no \r or newline); exposed for tests and log messages.
  static std::string format_line(const std::vector<ProgressItem>& items);

 private:
  double interval_s_;
  std::FILE* out_;
  bool in_place_;
  bool line_open_ = false;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_;
};

// Splits one line of metrics.csv into cells (RFC 4180 double quotes, as the writer quotes).
std::vector<std::string> parse_csv_line(const std::string& line);

// 12345.6 -> "12,346"; non-finite values print as nan / inf.
std::string format_count(double value);

}  // namespace mnemo
