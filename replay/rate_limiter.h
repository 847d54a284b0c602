// RateLimiter: decides when a table admits inserts and samples, so that the ratio of learning to
// acting stays where the experiment wants it (Reverb's rate limiters).
//
// Kinds:
//   queue     inserts wait while the table is full, samples wait until n items are stored. With the
//             FIFO sampler and max_times_sampled 1 this is the on-policy queue PPO/APPO consume:
//             every item is sampled exactly once and a slow learner slows the actors down.
//   min_size  samples wait until min_size_to_sample items are stored; inserts never wait (a full
//             table evicts with its remover). The usual off-policy setting.
//   ratio     min_size plus a samples-per-insert target: with diff = inserts * samples_per_insert -
//             samples, inserts wait while diff would exceed max_diff and samples wait while it would
//             fall below min_diff, where [min_diff, max_diff] is the error buffer around
//             samples_per_insert * min_size_to_sample (Reverb's SampleToInsertRatio).
//
// Two rules keep it from hanging, which Reverb's limiter could after a restore or an eviction:
// inserts are always admitted while the table holds fewer than min_size_to_sample items, and
// re-enabling a disabled limiter (after prefilling from offline data) re-centres diff instead of
// holding inserts back until the prefill has been "paid for" with samples.
//
// Thread-safety: not thread-safe; the owning Table calls it with its mutex held.
#pragma once

#include <cstdint>
#include <string>

namespace mnemo::replay {

struct RateLimiterOptions {
  std::string kind = "auto";
  std::int64_t min_size_to_sample = 1;
  double samples_per_insert = 1.0;
  double error_buffer = 100.0;

  template <class V>
  void visit(V& v) {
    v("kind", kind, "auto (queue for fifo/lifo samplers, min_size otherwise), queue, min_size or ratio");
    v("min_size_to_sample", min_size_to_sample, "samples wait until the table holds this many items");
    v("samples_per_insert", samples_per_insert, "ratio: target number of sampled items per inserted item");
    v("error_buffer", error_buffer, "ratio: how far (in samples) the counts may drift from the target");
  }
};

class RateLimiter {
 public:
  enum class Kind { kQueue, kMinSize, kRatio };

  // The counters a checkpoint saves.
  struct State {
    std::int64_t inserts = 0;  // inserts counted by the limiter
    std::int64_t samples = 0;  // sampled items counted by the limiter
    bool enabled = true;
  };

  // `options.kind` must be resolved (not "auto"); `max_size` bounds the queue kind.
  RateLimiter(const RateLimiterOptions& options, std::int64_t max_size);

  Kind kind() const { return kind_; }
  // Whether one more insert is admitted when the table holds `size` items (capacity is checked by
  // the table; the queue kind also waits while size >= max_size).
  bool can_insert(std::int64_t size) const;
  // Whether n more sampled items are admitted when the table holds `size` items.
  bool can_sample(std::int64_t size, std::int64_t n) const;
  // Whether a batch of n could ever be admitted (false: the request is an error, not a wait).
  bool batch_possible(std::int64_t n) const;
  void inserted() { ++state_.inserts; }
  void sampled(std::int64_t n) { state_.samples += n; }

  // Disabling admits every insert (prefilling from offline data) and every sample of a non-empty
  // table. Enabling again re-centres the counters (see the header comment).
  void set_enabled(bool enabled);
  bool enabled() const { return state_.enabled; }

  const State& state() const { return state_; }
  void restore(const State& state) { state_ = state; }
  // A one-line account of why requests wait, for timeout messages.
  std::string describe(std::int64_t size) const;

 private:
  double diff() const;
  Kind kind_;
  std::int64_t max_size_;
  std::int64_t min_size_;
  double spi_;
  double min_diff_;
  double max_diff_;
  State state_;
};

// "auto" resolved against the sampler name; validates the options. Throws ConfigError naming
// `where` and the option.
RateLimiterOptions resolve_rate_limiter(RateLimiterOptions options, const std::string& sampler,
                                        const std::string& where);

}  // namespace mnemo::replay
