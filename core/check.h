// Error types and the MNEMO_CHECK invariant macro shared by every folder.
//
// Errors are typed so that callers can react to the kind of failure: a ConfigError ends the
// program with exit code 2 and a clear message, a WireError is turned into an error reply by a
// server loop, a plain Error is an invariant or I/O failure.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace mnemo {

// Base of every error mnemo throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad configuration or command-line input: the message names the key, the file and, where one
// exists, the nearest valid key. The CLI maps it to exit code 2.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A timed-out blocking call (replay sample/insert, parameter fetch).
class TimeoutError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace mnemo

// MNEMO_CHECK(cond, "message parts", value, ...): throws mnemo::Error naming file:line, the
// condition and the streamed message parts when cond is false.
#define MNEMO_CHECK(cond, ...)                                                         \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      ::mnemo::detail::check_failed(__FILE__, __LINE__, #cond,                        \
                                    ::mnemo::detail::concat(__VA_ARGS__));                  \
    }                                                                                  \
  } while (false)
