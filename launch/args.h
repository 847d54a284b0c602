// ArgReader: the flag loop every `mnemo` subcommand shares. Each command keeps its own switch
// over flag names; this holds what was the same everywhere: taking a flag's value, `--set K=V`
// in both spellings, integers and seeds, each failure a ConfigError (exit code 2).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/check.h"

namespace mnemo::launch {

class ArgReader {
 public:
  explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}

  // Moves to the next argument; false when none is left.
  bool next() { return ++i_ < args_.size(); }
  const std::string& arg() const { return args_[i_]; }
  bool is_flag() const { return !arg().empty() && arg()[0] == '-'; }

  // The value following the current flag.
  std::string value() {
    if (i_ + 1 >= args_.size()) throw ConfigError(arg() + " needs a value");
    return args_[++i_];
  }
  std::int64_t int_value() {
    const std::string flag = arg();
    const std::string v = value();
    try {
      std::size_t used = 0;
      const long long x = std::stoll(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return x;
    } catch (const std::exception&) {
      throw ConfigError(flag + " expects an integer, got '" + v + "'");
    }
  }
  std::uint64_t seed_value() {
    const std::string flag = arg();
    const std::int64_t s = int_value();
    if (s < 0) throw ConfigError(flag + " must be >= 0, got " + std::to_string(s));
    return static_cast<std::uint64_t>(s);
  }
  // Consumes `--set K=V` or `--set=K=V` into `sets`; false for any other argument.
  bool take_set(std::vector<std::string>& sets) {
    if (arg() == "--set") {
      sets.push_back(value());
      return true;
    }
    if (arg().rfind("--set=", 0) == 0) {
      sets.push_back(arg().substr(6));
      return true;
    }
    return false;
  }
  [[noreturn]] void unknown() const { throw ConfigError("unknown option '" + arg() + "'"); }

 private:
  const std::vector<std::string>& args_;
  std::size_t i_ = static_cast<std::size_t>(-1);
};

}  // namespace mnemo::launch
