// Table: the replay buffer proper, a bounded store of items (the fields of one fixed-length
// sequence) checked against one signature, with a sampler, a remover and a rate limiter.
//
// It exists apart from the server so that the storage rules (signature checking, limits, which
// items a sample returns, priorities, eviction, checkpoint snapshots) can be tested and reused
// without sockets. The policies live behind small interfaces, Reverb-style: ItemSelector
// (selector.h) for the sampler and the remover, RateLimiter (rate_limiter.h) for admission.
//
// The default options are the on-policy queue PPO/APPO rely on: FIFO sampler, max_times_sampled 1
// (each item handed out exactly once, oldest first) and a queue limiter (inserts wait while the
// table is full, samples wait until n items are stored).
//
// Stored items are immutable: the table shares their Arrays (often the received ZeroMQ frames) and
// never writes to them. That is what lets snapshot() copy only the index under the lock while a
// checkpoint writes the items' bytes outside it, and lets try_sample stack outside the lock.
//
// Thread-safety: every method may be called from any thread; each call is atomic with respect to
// the others. try_insert and try_sample never block; callers that must wait (the server, by parking
// requests) retry when the table changes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/check.h"
#include "replay/compression.h"
#include "replay/rate_limiter.h"
#include "replay/selector.h"

namespace mnemo::replay {

// The named fields of one item, e.g. {"obs", [T, 64, 64, 3] uint8}, {"reward", [T] float32}.
using Item = std::vector<std::pair<std::string, Array>>;

struct TableOptions {
  std::string name = "default";
  std::int64_t max_size = 1024;
  std::int64_t max_bytes = 0;
  std::string sampler = "fifo";
  std::string remover = "fifo";
  std::int64_t max_times_sampled = -1;
  double priority_exponent = 0.6;
  double importance_sampling_exponent = 0.4;
  double default_priority = 1.0;
  std::vector<std::string> signature;
  std::int64_t seed = 1;
  RateLimiterOptions rate_limiter;

  template <class V>
  void visit(V& v) {
    v("name", name, "name of the table, used in requests, logs and errors");
    v("max_size", max_size, "maximum number of items (a full queue makes inserts wait, others evict)");
    v("max_bytes", max_bytes, "maximum stored bytes (compressed size), 0 for no limit");
    v("sampler", sampler, "which items a sample takes: fifo, lifo, uniform, prioritized (or lowest/highest_priority)");
    v("remover", remover, "which item a full table evicts: fifo, lifo, uniform, lowest_priority");
    v("max_times_sampled", max_times_sampled, "items are removed after this many samples; 0 never, -1 auto (1 for fifo/lifo)");
    v("priority_exponent", priority_exponent, "prioritized: alpha in P(i) = p_i^alpha / sum p^alpha");
    v("importance_sampling_exponent", importance_sampling_exponent, "prioritized: beta of the importance weights (N P(i))^-beta");
    v("default_priority", default_priority, "priority of items inserted without one");
    v("signature", signature, "fields as \"name:dtype[d0,d1]\"; empty: the first item fixes the signature");
    v("seed", seed, "seed of the sampler's random generator");
    v("rate_limiter", rate_limiter, "when inserts and samples are admitted");
  }
  // Throws ConfigError naming the option and the valid values.
  void validate() const;
  // max_times_sampled with -1 resolved against the sampler.
  std::int64_t resolved_max_times_sampled() const;
  // The configured signature, parsed (nullopt when empty). Throws ConfigError.
  std::optional<Spec> parsed_signature() const;
};

// Parses "name:dtype[d0,d1,...]" ("name:float32[]" for a scalar per item). Throws ConfigError.
FieldSpec parse_field_spec(const std::string& text);
std::string field_spec_str(const FieldSpec& f);

// One field of an item as carried and stored: its logical dtype and shape, and its bytes, possibly
// compressed (then `bytes` is a uint8 array of the compressed length).
struct ItemField {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  Array bytes;
  Codec codec = Codec::kNone;

  static ItemField raw(std::string name, Array a);
  std::size_t stored_bytes() const { return bytes.nbytes(); }
};
using EncodedItem = std::vector<ItemField>;

// n items taken from a table, stacked: each field has shape [n, ...item shape].
struct Batch {
  std::vector<std::pair<std::string, Array>> fields;
  std::vector<std::uint64_t> keys;    // one per item; keys increase with insertion order
  std::vector<double> probabilities;  // probability with which each item was selected
  std::vector<double> weights;        // importance weights (N P(i))^-beta / max, 1 unless prioritized
  std::vector<double> priorities;     // priorities at sampling time
  std::string table;

  std::int64_t size() const { return static_cast<std::int64_t>(keys.size()); }
  bool has(const std::string& name) const;
  // Throws mnemo::Error naming the missing field.
  const Array& at(const std::string& name) const;
};

// Running totals of a table.
struct TableCounters {
  std::int64_t inserts = 0;  // items accepted since construction (or since the restored checkpoint's start)
  std::int64_t samples = 0;  // items handed out
  std::int64_t size = 0;     // items stored now
  std::int64_t bytes = 0;    // stored bytes now (compressed size)
  std::int64_t evicted = 0;  // items removed by the remover (full table)
  std::int64_t removed_sampled = 0;  // items removed after max_times_sampled samples
  bool rate_limited = true;  // false while limiting is disabled
};

// Everything a checkpoint needs to recreate a table exactly. Item memory is shared with the table
// (items are immutable), so taking a snapshot costs a copy of the index only.
struct TableSnapshot {
  struct Entry {
    Key key = 0;
    double priority = 0;
    std::int64_t times_sampled = 0;
    EncodedItem fields;  // signature order
  };
  std::string name;
  std::optional<Spec> signature;
  std::vector<Entry> items;         // in the sampler's internal order
  std::vector<Key> remover_order;   // the remover's internal order
  Key next_key = 0;
  std::int64_t inserts = 0, samples = 0, evicted = 0, removed_sampled = 0;
  RateLimiter::State limiter;
  std::string rng;  // the generator's state as text
};

class Table {
 public:
  // Without a signature (argument or options), the first inserted item fixes it. Throws ConfigError
  // for bad options.
  explicit Table(TableOptions options, std::optional<Spec> signature = std::nullopt);
  ~Table();

  // Throws ReplayError(kSignatureMismatch) when the item does not match the signature (the message
  // names the field and both dtypes/shapes) or repeats a field name. Does not insert.
  void check(const Item& item) const;
  void check(const EncodedItem& item) const;
  // Adds the item with `priority` (default_priority when omitted), sharing its Arrays' memory
  // (callers must not write to it afterwards). Returns false when the rate limiter or a full queue
  // does not admit it yet: the caller waits, which is the backpressure on actors. A full table of
  // another kind evicts with its remover instead. Throws like check(), and ReplayError
  // (kResourceExhausted) for an item larger than max_bytes.
  bool try_insert(Item item);
  bool try_insert(Item item, double priority);
  bool try_insert(EncodedItem item, double priority);
  // Selects n items (with replacement unless max_times_sampled removes them) and returns them
  // stacked, or nullopt when the limiter does not admit n samples yet. Throws ReplayError
  // (kInvalidArgument) when n could never be admitted (see check_sample_size).
  std::optional<Batch> try_sample(std::int64_t n);
  void check_sample_size(std::int64_t n) const;
  // Sets the priorities of the items that are still stored; returns how many were. Throws
  // ReplayError(kInvalidArgument) for a negative or non-finite priority or mismatched lengths.
  std::int64_t update_priorities(const std::vector<Key>& keys, const std::vector<double>& priorities);
  // Turns rate limiting off (prefilling from offline data) and on again.
  void set_rate_limited(bool on);

  TableCounters counters() const;
  std::int64_t size() const;
  std::int64_t max_size() const { return options_.max_size; }
  const std::string& name() const { return options_.name; }
  const TableOptions& options() const { return options_; }
  // The signature, once fixed.
  std::optional<Spec> signature() const;
  // Why a request would wait now (rate limiter state), for timeout messages.
  std::string describe_limits() const;

  TableSnapshot snapshot() const;
  // Replaces the whole content with `snap`. Throws ReplayError(kSignatureMismatch) when the snapshot's
  // signature differs from a configured one.
  void restore(const TableSnapshot& snap);

 private:
  struct Stored {
    double priority = 0;
    std::int64_t times_sampled = 0;
    std::size_t bytes = 0;
    EncodedItem fields;  // signature order
  };
  void check_locked(const EncodedItem& item) const;
  void add_locked(Key key, Stored s);
  void erase_locked(Key key);

  const TableOptions options_;
  const std::int64_t max_times_sampled_;
  mutable std::mutex mu_;
  std::optional<Spec> signature_;
  std::unique_ptr<ItemSelector> sampler_;
  std::unique_ptr<ItemSelector> remover_;
  RateLimiter limiter_;
  std::mt19937_64 rng_;
  std::unordered_map<Key, Stored> items_;
  Key next_key_ = 0;
  std::int64_t bytes_ = 0;
  std::int64_t budget_ = 0;  // samples left before max_times_sampled removes items (if > 0)
  std::int64_t inserts_ = 0;
  std::int64_t samples_ = 0;
  std::int64_t evicted_ = 0;
  std::int64_t removed_sampled_ = 0;
};

}  // namespace mnemo::replay
