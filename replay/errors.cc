// Replay error codes and predicates. See errors.h.
#include "replay/errors.h"

namespace mnemo::replay {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknown: return "unknown";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kSignatureMismatch: return "signature_mismatch";
    case ErrorCode::kRateLimiterTimeout: return "rate_limiter_timeout";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kDeadlineExceeded: return "deadline_exceeded";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kDataLoss: return "data_loss";
  }
  return "invalid";
}

void throw_error(ErrorCode code, const std::string& what) {
  switch (code) {
    case ErrorCode::kRateLimiterTimeout: throw RateLimiterTimeoutError(what);
    case ErrorCode::kDeadlineExceeded: throw DeadlineExceededError(what);
    case ErrorCode::kCancelled: throw StoppedError();
    default: throw ReplayError(code, what);
  }
}

ErrorCode code_of(const std::exception& e) {
  if (dynamic_cast<const RateLimiterTimeoutError*>(&e)) return ErrorCode::kRateLimiterTimeout;
  if (dynamic_cast<const DeadlineExceededError*>(&e)) return ErrorCode::kDeadlineExceeded;
  if (dynamic_cast<const StoppedError*>(&e)) return ErrorCode::kCancelled;
  if (const auto* r = dynamic_cast<const ReplayError*>(&e)) return r->code();
  if (dynamic_cast<const ConfigError*>(&e)) return ErrorCode::kInvalidArgument;
  return ErrorCode::kUnknown;
}

bool IsRateLimiterTimeout(const std::exception& e) { return code_of(e) == ErrorCode::kRateLimiterTimeout; }
bool IsDeadlineExceeded(const std::exception& e) { return code_of(e) == ErrorCode::kDeadlineExceeded; }
bool IsSignatureMismatch(const std::exception& e) { return code_of(e) == ErrorCode::kSignatureMismatch; }
bool IsUnavailable(const std::exception& e) { return code_of(e) == ErrorCode::kUnavailable; }
bool IsStopped(const std::exception& e) { return code_of(e) == ErrorCode::kCancelled; }
bool IsInvalidArgument(const std::exception& e) { return code_of(e) == ErrorCode::kInvalidArgument; }

}  // namespace mnemo::replay
