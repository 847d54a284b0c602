// Replay errors: the kinds of failure a replay caller can react to, and named predicates for them.
//
// Following Reverb's IsRateLimiterTimeout, callers test an exception with a predicate instead of
// matching message text: an actor retries after a rate-limiter timeout, gives up on a signature
// mismatch, and treats a stopped call as a clean shutdown. The server sends the code with every
// error reply (field "code"), so the client rethrows the same kind it would have thrown locally.
// Every class derives from mnemo::Error (timeouts from mnemo::TimeoutError), so existing
// `catch (const Error&)` sites keep working.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "core/check.h"

namespace mnemo::replay {

// Values travel on the wire (error replies): append, never reorder.
enum class ErrorCode : std::int32_t {
  kUnknown = 0,
  kInvalidArgument = 1,     // a request that can never succeed (bad sample size, reserved field)
  kSignatureMismatch = 2,   // an item that does not match the table's signature
  kRateLimiterTimeout = 3,  // the table or its rate limiter did not admit the request in time
  kUnavailable = 4,         // the server is shutting down or unreachable; retrying may succeed
  kNotFound = 5,            // an unknown table
  kResourceExhausted = 6,   // too many parked requests, an item larger than max_bytes
  kDeadlineExceeded = 7,    // no reply from the server within the client's timeout
  kCancelled = 8,           // interrupted by the caller's stop flag
  kDataLoss = 9,            // a corrupt checkpoint or stored item
};
const char* error_code_name(ErrorCode code);

// An error with a replay ErrorCode.
class ReplayError : public Error {
 public:
  ReplayError(ErrorCode code, const std::string& what) : Error(what), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// A request the table's rate limiter (or a full queue) held until its deadline.
class RateLimiterTimeoutError : public TimeoutError {
 public:
  using TimeoutError::TimeoutError;
};

// No reply from the server within the client's timeout (server down, network partition).
class DeadlineExceededError : public TimeoutError {
 public:
  using TimeoutError::TimeoutError;
};

// Thrown when the stop flag interrupts a waiting call; what() is "stopped".
class StoppedError : public Error {
 public:
  StoppedError() : Error("stopped") {}
};

// Builds the exception that matches `code` (so a client rethrows what the server reported).
[[noreturn]] void throw_error(ErrorCode code, const std::string& what);
// The code of an exception thrown by replay code (kUnknown for foreign exceptions).
ErrorCode code_of(const std::exception& e);

bool IsRateLimiterTimeout(const std::exception& e);
bool IsDeadlineExceeded(const std::exception& e);
bool IsSignatureMismatch(const std::exception& e);
bool IsUnavailable(const std::exception& e);
bool IsStopped(const std::exception& e);
bool IsInvalidArgument(const std::exception& e);

}  // namespace mnemo::replay
