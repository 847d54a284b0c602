// Table: the replay buffer proper, a bounded store of items (the fields of one fixed-length
// sequence) checked against one signature.
//
// It exists apart from the server so that the storage rules (signature checking, capacity as
// backpressure, which items a sample returns) can be tested and reused without sockets. Only the
// FIFO selector exists for now: each item is handed out exactly once, oldest first, which is what
// on-policy learners (PPO/APPO) consuming actor sequences need.
//
// Thread-safety: every method may be called from any thread; each call is atomic with respect to
// the others. try_insert and try_sample never block; callers that must wait (the server, by parking
// requests) retry when the table changes.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/check.h"

namespace mnemo::replay {

// The named fields of one item, e.g. {"obs", [T, 64, 64, 3] uint8}, {"reward", [T] float32}.
using Item = std::vector<std::pair<std::string, Array>>;

struct TableOptions {
  std::string name = "default";
  std::int64_t max_size = 1024;
  std::string sampler = "fifo";

  template <class V>
  void visit(V& v) {
    v("name", name, "name of the table, used in logs and errors");
    v("max_size", max_size, "maximum number of items; inserts wait while the table is full");
    v("sampler", sampler, "which items a sample takes: fifo (oldest first, each exactly once)");
  }
  // Throws ConfigError naming the option and the valid values.
  void validate() const;
};

// n items taken from a table, stacked: each field has shape [n, ...item shape].
struct Batch {
  std::vector<std::pair<std::string, Array>> fields;
  std::vector<std::uint64_t> keys;  // one per item, increasing with insertion order

  std::int64_t size() const { return static_cast<std::int64_t>(keys.size()); }
  bool has(const std::string& name) const;
  // Throws mnemo::Error naming the missing field.
  const Array& at(const std::string& name) const;
};

// Running totals of a table.
struct TableCounters {
  std::int64_t inserts = 0;  // items accepted since construction
  std::int64_t samples = 0;  // items handed out since construction
  std::int64_t size = 0;     // items stored now
};

class Table {
 public:
  // Without a signature, the first inserted item fixes it. Throws ConfigError for bad options.
  explicit Table(TableOptions options, std::optional<Spec> signature = std::nullopt);

  // Throws mnemo::Error when the item does not match the signature (the message names the field
  // and both dtypes/shapes) or repeats a field name. Does not insert.
  void check(const Item& item) const;
  // Adds the item, sharing its Arrays' memory (callers must not write to it afterwards). Returns
  // false when the table is full: the caller waits, which is the backpressure on actors. Throws
  // like check().
  bool try_insert(Item item);
  // Removes the n oldest items and returns them stacked, or nullopt when fewer than n are stored.
  // Throws mnemo::Error when n < 1 or n > max_size (such a request could never succeed).
  std::optional<Batch> try_sample(std::int64_t n);

  TableCounters counters() const;
  std::int64_t size() const;
  std::int64_t max_size() const { return options_.max_size; }
  const std::string& name() const { return options_.name; }
  // The signature, once fixed.
  std::optional<Spec> signature() const;

 private:
  void check_locked(const Item& item) const;

  const TableOptions options_;
  mutable std::mutex mu_;
  std::optional<Spec> signature_;
  std::deque<std::pair<std::uint64_t, Item>> items_;  // already in signature field order
  std::uint64_t next_key_ = 0;
  std::int64_t inserts_ = 0;
  std::int64_t samples_ = 0;
};

}  // namespace mnemo::replay
