// The selectors: uniform, prioritized (sum tree), FIFO, LIFO, and lowest/highest priority (heaps,
// used as removers). See selector.h for the interface and its thread-safety contract.
#pragma once

#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "replay/selector.h"

namespace mnemo::replay {

// A complete binary tree of non-negative weights whose internal nodes hold the sums of their
// children: prefix-sum search and updates in O(log n). Slots are dense (0..size-1); removal moves
// the last slot into the hole so that the tree never holds dead weight. Updates recompute the path
// from the children instead of adding deltas, so rounding error does not accumulate over millions
// of priority updates.
class SumTree {
 public:
  std::size_t size() const { return size_; }
  double total() const { return nodes_.empty() ? 0.0 : nodes_[1]; }
  double get(std::size_t slot) const { return nodes_[capacity_ + slot]; }
  // Appends a slot with `weight`; returns its index.
  std::size_t push(double weight);
  void set(std::size_t slot, double weight);
  // Removes the last slot.
  void pop();
  // The slot whose cumulative range contains `mass` in [0, total()).
  std::size_t find(double mass) const;
  void clear();

 private:
  void grow();
  std::size_t capacity_ = 0;  // leaves; a power of two
  std::size_t size_ = 0;
  std::vector<double> nodes_;  // 1-based heap layout, leaves at [capacity_, 2 * capacity_)
};

// Every item equally likely: probability 1/size.
class UniformSelector : public ItemSelector {
 public:
  void insert(Key key, double priority) override;
  void update(Key key, double priority) override {}
  void remove(Key key) override;
  KeyWithProbability select(std::mt19937_64& rng) override;
  std::size_t size() const override { return keys_.size(); }
  void clear() override;
  std::vector<Key> keys_in_order() const override { return keys_; }
  const char* name() const override { return "uniform"; }

 private:
  std::vector<Key> keys_;
  std::unordered_map<Key, std::size_t> slot_;
};

// P(i) = p_i^alpha / sum_j p_j^alpha (prioritized experience replay). When every priority is zero
// it falls back to uniform rather than failing, as Reverb does.
class PrioritizedSelector : public ItemSelector {
 public:
  explicit PrioritizedSelector(double priority_exponent) : alpha_(priority_exponent) {}
  void insert(Key key, double priority) override;
  void update(Key key, double priority) override;
  void remove(Key key) override;
  KeyWithProbability select(std::mt19937_64& rng) override;
  std::size_t size() const override { return keys_.size(); }
  void clear() override;
  std::vector<Key> keys_in_order() const override { return keys_; }
  const char* name() const override { return "prioritized"; }

 private:
  double weight(double priority) const;
  double alpha_;
  SumTree tree_;
  std::vector<Key> keys_;
  std::unordered_map<Key, std::size_t> slot_;
};

// Oldest (smallest key) first (newest first when `lifo`). Keys increase with insertion order.
class OrderSelector : public ItemSelector {
 public:
  explicit OrderSelector(bool lifo) : lifo_(lifo) {}
  void insert(Key key, double priority) override { keys_.insert(key); }
  void update(Key key, double priority) override {}
  void remove(Key key) override { keys_.erase(key); }
  KeyWithProbability select(std::mt19937_64& rng) override;
  std::size_t size() const override { return keys_.size(); }
  void clear() override { keys_.clear(); }
  std::vector<Key> keys_in_order() const override { return {keys_.begin(), keys_.end()}; }
  const char* name() const override { return lifo_ ? "lifo" : "fifo"; }

 private:
  bool lifo_;
  std::set<Key> keys_;
};

// Lowest priority first (highest when `max`), ties broken by the older key: the lowest-priority
// remover evicts what prioritized sampling would pick least.
class HeapSelector : public ItemSelector {
 public:
  explicit HeapSelector(bool max) : max_(max) {}
  void insert(Key key, double priority) override;
  void update(Key key, double priority) override;
  void remove(Key key) override;
  KeyWithProbability select(std::mt19937_64& rng) override;
  std::size_t size() const override { return priority_.size(); }
  void clear() override;
  std::vector<Key> keys_in_order() const override;
  const char* name() const override { return max_ ? "highest_priority" : "lowest_priority"; }

 private:
  bool max_;
  std::set<std::pair<double, Key>> order_;
  std::unordered_map<Key, double> priority_;
};

}  // namespace mnemo::replay
