// Selector implementations and the sum tree. See selectors.h.
#include "replay/selectors.h"

#include <cmath>

#include "core/check.h"

namespace mnemo::replay {

// ---------------------------------------------------------------------------------------------
// SumTree

void SumTree::grow() {
  const std::size_t cap = capacity_ == 0 ? 16 : capacity_ * 2;
  std::vector<double> nodes(2 * cap, 0.0);
  for (std::size_t i = 0; i < size_; ++i) nodes[cap + i] = nodes_[capacity_ + i];
  for (std::size_t i = cap - 1; i >= 1; --i) nodes[i] = nodes[2 * i] + nodes[2 * i + 1];
  nodes_ = std::move(nodes);
  capacity_ = cap;
}

std::size_t SumTree::push(double weight) {
  if (size_ == capacity_) grow();
  set(size_++, weight);
  return size_ - 1;
}

void SumTree::set(std::size_t slot, double weight) {
  std::size_t i = capacity_ + slot;
  nodes_[i] = weight;
  for (i /= 2; i >= 1; i /= 2) nodes_[i] = nodes_[2 * i] + nodes_[2 * i + 1];
}

void SumTree::pop() {
  MNEMO_CHECK(size_ > 0, "pop from an empty sum tree");
  set(--size_, 0.0);
}

std::size_t SumTree::find(double mass) const {
  std::size_t i = 1;
  while (i < capacity_) {
    const double left = nodes_[2 * i];
    if (mass < left || nodes_[2 * i + 1] <= 0.0) {
      i = 2 * i;
    } else {
      mass -= left;
      i = 2 * i + 1;
    }
  }
  std::size_t slot = i - capacity_;
  // Rounding can walk past the last live slot (mass ~ total); clamp to the last one with weight.
  if (slot >= size_) slot = size_ - 1;
  while (slot > 0 && get(slot) <= 0.0) --slot;
  return slot;
}

void SumTree::clear() {
  capacity_ = 0;
  size_ = 0;
  nodes_.clear();
}

// ---------------------------------------------------------------------------------------------
// UniformSelector

void UniformSelector::insert(Key key, double /*priority*/) {
  slot_[key] = keys_.size();
  keys_.push_back(key);
}

void UniformSelector::remove(Key key) {
  auto it = slot_.find(key);
  MNEMO_CHECK(it != slot_.end(), "uniform selector has no key ", key);
  const std::size_t slot = it->second;
  slot_.erase(it);
  if (slot + 1 != keys_.size()) {
    keys_[slot] = keys_.back();
    slot_[keys_[slot]] = slot;
  }
  keys_.pop_back();
}

KeyWithProbability UniformSelector::select(std::mt19937_64& rng) {
  MNEMO_CHECK(!keys_.empty(), "select from an empty selector");
  std::uniform_int_distribution<std::size_t> pick(0, keys_.size() - 1);
  return {keys_[pick(rng)], 1.0 / static_cast<double>(keys_.size())};
}

void UniformSelector::clear() {
  keys_.clear();
  slot_.clear();
}

// ---------------------------------------------------------------------------------------------
// PrioritizedSelector

double PrioritizedSelector::weight(double priority) const {
  if (alpha_ == 1.0) return priority;
  if (priority == 0.0) return 0.0;
  return std::pow(priority, alpha_);
}

void PrioritizedSelector::insert(Key key, double priority) {
  slot_[key] = tree_.push(weight(priority));
  keys_.push_back(key);
}

void PrioritizedSelector::update(Key key, double priority) {
  auto it = slot_.find(key);
  MNEMO_CHECK(it != slot_.end(), "prioritized selector has no key ", key);
  tree_.set(it->second, weight(priority));
}

void PrioritizedSelector::remove(Key key) {
  auto it = slot_.find(key);
  MNEMO_CHECK(it != slot_.end(), "prioritized selector has no key ", key);
  const std::size_t slot = it->second;
  slot_.erase(it);
  const std::size_t last = keys_.size() - 1;
  if (slot != last) {
    keys_[slot] = keys_[last];
    slot_[keys_[slot]] = slot;
    tree_.set(slot, tree_.get(last));
  }
  keys_.pop_back();
  tree_.pop();
}

KeyWithProbability PrioritizedSelector::select(std::mt19937_64& rng) {
  MNEMO_CHECK(!keys_.empty(), "select from an empty selector");
  const double total = tree_.total();
  if (!(total > 0.0)) {
    std::uniform_int_distribution<std::size_t> pick(0, keys_.size() - 1);
    return {keys_[pick(rng)], 1.0 / static_cast<double>(keys_.size())};
  }
  std::uniform_real_distribution<double> mass(0.0, total);
  const std::size_t slot = tree_.find(mass(rng));
  return {keys_[slot], tree_.get(slot) / total};
}

void PrioritizedSelector::clear() {
  tree_.clear();
  keys_.clear();
  slot_.clear();
}

// ---------------------------------------------------------------------------------------------
// OrderSelector and HeapSelector

KeyWithProbability OrderSelector::select(std::mt19937_64& /*rng*/) {
  MNEMO_CHECK(!keys_.empty(), "select from an empty selector");
  return {lifo_ ? *keys_.rbegin() : *keys_.begin(), 1.0};
}

void HeapSelector::insert(Key key, double priority) {
  priority_[key] = priority;
  order_.insert({priority, key});
}

void HeapSelector::update(Key key, double priority) {
  auto it = priority_.find(key);
  MNEMO_CHECK(it != priority_.end(), "heap selector has no key ", key);
  order_.erase({it->second, key});
  it->second = priority;
  order_.insert({priority, key});
}

void HeapSelector::remove(Key key) {
  auto it = priority_.find(key);
  MNEMO_CHECK(it != priority_.end(), "heap selector has no key ", key);
  order_.erase({it->second, key});
  priority_.erase(it);
}

KeyWithProbability HeapSelector::select(std::mt19937_64& /*rng*/) {
  MNEMO_CHECK(!order_.empty(), "select from an empty selector");
  if (!max_) return {order_.begin()->second, 1.0};
  // Highest priority, and among equal priorities the oldest key.
  const double top = order_.rbegin()->first;
  return {order_.lower_bound({top, 0})->second, 1.0};
}

void HeapSelector::clear() {
  order_.clear();
  priority_.clear();
}

std::vector<Key> HeapSelector::keys_in_order() const {
  std::vector<Key> out;
  out.reserve(order_.size());
  for (const auto& e : order_) out.push_back(e.second);
  return out;
}

// ---------------------------------------------------------------------------------------------

const std::vector<std::string>& selector_names() {
  static const std::vector<std::string> names{"uniform", "prioritized", "fifo", "lifo", "lowest_priority",
                                              "highest_priority"};
  return names;
}

std::unique_ptr<ItemSelector> make_selector(const std::string& name, double priority_exponent) {
  if (name == "uniform") return std::make_unique<UniformSelector>();
  if (name == "prioritized") return std::make_unique<PrioritizedSelector>(priority_exponent);
  if (name == "fifo") return std::make_unique<OrderSelector>(/*lifo=*/false);
  if (name == "lifo") return std::make_unique<OrderSelector>(/*lifo=*/true);
  if (name == "lowest_priority") return std::make_unique<HeapSelector>(/*max=*/false);
  if (name == "highest_priority") return std::make_unique<HeapSelector>(/*max=*/true);
  return nullptr;
}

}  // namespace mnemo::replay
