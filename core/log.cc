#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

namespace mnemo::log {
namespace {

struct State {
  std::mutex mu;
  std::ofstream file;
  int rank = 0;
  bool console = true;
};
State& state() {
  static State s;
  return s;
}
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
thread_local std::string t_role = "main";

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "D";
    case Level::kInfo: return "I";
    case Level::kWarn: return "W";
    case Level::kError: return "E";
  }
  return "?";
}

}  // namespace

void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

Level parse_level(const std::string& name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  throw ConfigError("unknown log level '" + name + "' (expected debug, info, warn or error)");
}

void set_file(const std::string& path) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  if (s.file.is_open()) s.file.close();
  s.file.open(path, std::ios::app);
  if (!s.file) throw Error("cannot open log file " + path);
}

void set_rank(int rank) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.rank = rank;
}

void set_console(bool on) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.console = on;
}

void set_thread_role(const std::string& role) { t_role = role; }

void write(Level l, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  char prefix[96];
  std::snprintf(prefix, sizeof(prefix), "%s.%03d %s r%d %s] ", stamp, static_cast<int>(ms), level_name(l), s.rank,
                t_role.c_str());
  if (s.console) std::cerr << prefix << message << std::endl;
  if (s.file.is_open()) s.file << prefix << message << std::endl;
}

}  // namespace mnemo::log
