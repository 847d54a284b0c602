// Rate limiter admission rules. See rate_limiter.h.
#include "replay/rate_limiter.h"

#include <cmath>
#include <sstream>

#include "core/check.h"

namespace mnemo::replay {
namespace {

RateLimiter::Kind kind_of(const std::string& name) {
  if (name == "queue") return RateLimiter::Kind::kQueue;
  if (name == "min_size") return RateLimiter::Kind::kMinSize;
  if (name == "ratio") return RateLimiter::Kind::kRatio;
  throw Error("rate limiter kind '" + name + "' is not resolved");
}

}  // namespace

RateLimiterOptions resolve_rate_limiter(RateLimiterOptions o, const std::string& sampler, const std::string& where) {
  if (o.kind == "auto") o.kind = (sampler == "fifo" || sampler == "lifo") ? "queue" : "min_size";
  if (o.kind != "queue" && o.kind != "min_size" && o.kind != "ratio")
    throw ConfigError(where + "unknown rate_limiter.kind '" + o.kind + "' (valid values: auto, queue, min_size, ratio)");
  if (o.min_size_to_sample < 1)
    throw ConfigError(where + "rate_limiter.min_size_to_sample must be at least 1, got " +
                      std::to_string(o.min_size_to_sample));
  if (!(o.samples_per_insert > 0) || !std::isfinite(o.samples_per_insert))
    throw ConfigError(where + "rate_limiter.samples_per_insert must be positive, got " +
                      std::to_string(o.samples_per_insert));
  if (!(o.error_buffer >= 1) || !std::isfinite(o.error_buffer))
    throw ConfigError(where + "rate_limiter.error_buffer must be at least 1, got " + std::to_string(o.error_buffer));
  return o;
}

RateLimiter::RateLimiter(const RateLimiterOptions& o, std::int64_t max_size)
    : kind_(kind_of(o.kind)),
      max_size_(max_size),
      min_size_(o.min_size_to_sample),
      spi_(o.samples_per_insert),
      min_diff_(o.samples_per_insert * static_cast<double>(o.min_size_to_sample) - o.error_buffer),
      max_diff_(o.samples_per_insert * static_cast<double>(o.min_size_to_sample) + o.error_buffer) {}

double RateLimiter::diff() const {
  return static_cast<double>(state_.inserts) * spi_ - static_cast<double>(state_.samples);
}

bool RateLimiter::can_insert(std::int64_t size) const {
  if (kind_ == Kind::kQueue) return size < max_size_;
  if (!state_.enabled || kind_ == Kind::kMinSize) return true;
  if (size < min_size_) return true;  // never starve the table below what sampling needs
  return diff() + spi_ <= max_diff_;
}

bool RateLimiter::can_sample(std::int64_t size, std::int64_t n) const {
  if (kind_ == Kind::kQueue) return size >= n && (!state_.enabled || size >= min_size_);
  if (!state_.enabled) return size >= 1;
  if (size < min_size_) return false;
  if (kind_ == Kind::kMinSize) return true;
  return diff() - static_cast<double>(n) >= min_diff_;
}

bool RateLimiter::batch_possible(std::int64_t n) const {
  if (kind_ != Kind::kRatio) return true;
  return static_cast<double>(n) <= max_diff_ - min_diff_;
}

void RateLimiter::set_enabled(bool enabled) {
  if (enabled && !state_.enabled && kind_ == Kind::kRatio) {
    // Put diff at the middle of the window: neither side waits for the prefill to be repaid.
    const double target = (min_diff_ + max_diff_) / 2;
    state_.samples = static_cast<std::int64_t>(std::llround(static_cast<double>(state_.inserts) * spi_ - target));
  }
  state_.enabled = enabled;
}

std::string RateLimiter::describe(std::int64_t size) const {
  std::ostringstream os;
  switch (kind_) {
    case Kind::kQueue: os << "queue of " << max_size_ << " holding " << size; break;
    case Kind::kMinSize: os << "min_size_to_sample " << min_size_ << ", holding " << size; break;
    case Kind::kRatio:
      os << "samples_per_insert " << spi_ << ", min_size_to_sample " << min_size_ << ", holding " << size
         << ", diff " << diff() << " in [" << min_diff_ << ", " << max_diff_ << "]";
      break;
  }
  if (!state_.enabled) os << " (limiting disabled)";
  return os.str();
}

}  // namespace mnemo::replay
