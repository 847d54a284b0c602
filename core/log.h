// Logging: one line per event, to stderr and (once set_file is called) to the run directory's
// logs/rank-<r>.log. Thread-safe; lines carry time, level, rank and thread role.
#pragma once

#include <string>

#include "core/check.h"

namespace mnemo::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();
// Parses "debug" | "info" | "warn" | "error"; throws ConfigError otherwise.
Level parse_level(const std::string& name);
// Also write every line to `path` (appending). Creates parent directories.
void set_file(const std::string& path);
void set_rank(int rank);
// Whether lines also go to stderr (default true; the progress line owns the console otherwise).
void set_console(bool on);
// Names the calling thread in log lines ("learner", "actor-3", ...).
void set_thread_role(const std::string& role);
void write(Level level, const std::string& message);

}  // namespace mnemo::log

#define MNEMO_LOG(lvl_, ...)                                                        \
  do {                                                                              \
    if (static_cast<int>(lvl_) >= static_cast<int>(::mnemo::log::level()))         \
      ::mnemo::log::write(lvl_, ::mnemo::detail::concat(__VA_ARGS__));             \
  } while (false)
#define MNEMO_DEBUG(...) MNEMO_LOG(::mnemo::log::Level::kDebug, __VA_ARGS__)
#define MNEMO_INFO(...) MNEMO_LOG(::mnemo::log::Level::kInfo, __VA_ARGS__)
#define MNEMO_WARN(...) MNEMO_LOG(::mnemo::log::Level::kWarn, __VA_ARGS__)
#define MNEMO_ERROR(...) MNEMO_LOG(::mnemo::log::Level::kError, __VA_ARGS__)
