// ItemSelector: the one small interface behind every way a table picks items, to sample them or to
// evict them (Reverb's "selectors": a remover is just a selector used for eviction).
//
// A Table owns two selectors, a sampler and a remover, and tells both about every insert, priority
// update and deletion. Keeping the policies behind this interface is what lets the table's storage,
// limits and checkpointing stay one piece of code for uniform, prioritized, FIFO, LIFO and
// lowest-priority behaviour, and lets each policy be tested on its own.
//
// Thread-safety contract: implementations are NOT thread-safe and need not be. The owning Table
// calls every method with its mutex held; a selector never calls back into the table and never
// blocks. select() draws from the generator it is given, so a table's sampling is reproducible
// from its seed and restorable from a checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace mnemo::replay {

using Key = std::uint64_t;

// A selected key and the probability with which it was selected (1 for deterministic selectors).
struct KeyWithProbability {
  Key key = 0;
  double probability = 1.0;
};

class ItemSelector {
 public:
  virtual ~ItemSelector() = default;

  // `key` is new to the selector; priority >= 0 and finite (the table checks).
  virtual void insert(Key key, double priority) = 0;
  // `key` is present.
  virtual void update(Key key, double priority) = 0;
  // `key` is present.
  virtual void remove(Key key) = 0;
  // Picks one present key; requires size() > 0. Does not remove it.
  virtual KeyWithProbability select(std::mt19937_64& rng) = 0;
  virtual std::size_t size() const = 0;
  virtual void clear() = 0;
  // The keys in the selector's internal order. Inserting them in this order into a fresh selector
  // of the same kind recreates the same layout, so that a restored table maps the same random draws
  // to the same keys (checkpoints store it).
  virtual std::vector<Key> keys_in_order() const = 0;
  // Configured name ("uniform", "prioritized", ...).
  virtual const char* name() const = 0;
};

// Names accepted by make_selector, for error messages.
const std::vector<std::string>& selector_names();
// Builds a selector by name; `priority_exponent` (alpha) matters only for "prioritized". Returns
// nullptr for an unknown name.
std::unique_ptr<ItemSelector> make_selector(const std::string& name, double priority_exponent);

}  // namespace mnemo::replay
