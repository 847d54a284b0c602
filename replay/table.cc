// Table: signature checking, FIFO storage and stacking of sampled items. See table.h.
#include "replay/table.h"

#include <cstring>
#include <unordered_set>

namespace mnemo::replay {
namespace {

std::string describe(DType dtype, const Shape& shape) { return std::string(dtype_name(dtype)) + shape_str(shape); }

const Array* find_field(const Item& item, const std::string& name) {
  for (const auto& f : item)
    if (f.first == name) return &f.second;
  return nullptr;
}

}  // namespace

void TableOptions::validate() const {
  if (name.empty()) throw ConfigError("replay table option 'name' must not be empty");
  if (max_size < 1)
    throw ConfigError("replay table '" + name + "': option 'max_size' must be at least 1, got " +
                      std::to_string(max_size));
  if (sampler != "fifo")
    throw ConfigError("replay table '" + name + "': unknown sampler '" + sampler + "' (valid values: fifo)");
}

bool Batch::has(const std::string& name) const {
  for (const auto& f : fields)
    if (f.first == name) return true;
  return false;
}

const Array& Batch::at(const std::string& name) const {
  for (const auto& f : fields)
    if (f.first == name) return f.second;
  std::string present;
  for (const auto& f : fields) present += (present.empty() ? "" : ", ") + f.first;
  throw Error("batch has no field '" + name + "' (fields: " + present + ")");
}

Table::Table(TableOptions options, std::optional<Spec> signature)
    : options_(std::move(options)), signature_(std::move(signature)) {
  options_.validate();
  if (signature_) {
    std::unordered_set<std::string> names;
    for (const auto& f : signature_->fields)
      if (!names.insert(f.name).second)
        throw ConfigError("replay table '" + options_.name + "': signature repeats field '" + f.name + "'");
  }
}

void Table::check(const Item& item) const {
  std::lock_guard<std::mutex> lock(mu_);
  check_locked(item);
}

void Table::check_locked(const Item& item) const {
  const std::string where = "replay table '" + options_.name + "': ";
  if (item.empty()) throw Error(where + "item has no fields");
  std::unordered_set<std::string> names;
  for (const auto& [name, array] : item) {
    if (!names.insert(name).second) throw Error(where + "item repeats field '" + name + "'");
    std::int64_t expected = shape_numel(array.shape());
    if (array.numel() != expected || (array.nbytes() > 0 && array.raw() == nullptr))
      throw Error(where + "item field '" + name + "' has no data for shape " + shape_str(array.shape()));
  }
  if (!signature_) return;
  for (const auto& [name, array] : item) {
    const FieldSpec* spec = signature_->find(name);
    if (spec == nullptr)
      throw Error(where + "item has field '" + name + "' that is not in the signature (" + signature_->str() + ")");
    if (spec->dtype != array.dtype() || spec->shape != array.shape())
      throw Error(where + "item field '" + name + "' is " + describe(array.dtype(), array.shape()) +
                  " but the signature says " + describe(spec->dtype, spec->shape));
  }
  for (const auto& spec : signature_->fields)
    if (find_field(item, spec.name) == nullptr)
      throw Error(where + "item lacks field '" + spec.name + "' (signature: " + signature_->str() + ")");
}

bool Table::try_insert(Item item) {
  std::lock_guard<std::mutex> lock(mu_);
  check_locked(item);
  if (static_cast<std::int64_t>(items_.size()) >= options_.max_size) return false;
  if (!signature_) {
    Spec spec;
    for (const auto& [name, array] : item) spec.fields.push_back({name, array.dtype(), array.shape()});
    signature_ = std::move(spec);
  }
  Item ordered;
  ordered.reserve(signature_->fields.size());
  for (const auto& spec : signature_->fields) ordered.emplace_back(spec.name, *find_field(item, spec.name));
  items_.emplace_back(next_key_++, std::move(ordered));
  ++inserts_;
  return true;
}

std::optional<Batch> Table::try_sample(std::int64_t n) {
  if (n < 1 || n > options_.max_size)
    throw Error("replay table '" + options_.name + "': cannot sample " + std::to_string(n) +
                " items, the table holds at most " + std::to_string(options_.max_size));
  std::vector<std::pair<std::uint64_t, Item>> taken;
  Spec spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<std::int64_t>(items_.size()) < n) return std::nullopt;
    taken.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      taken.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    samples_ += n;
    spec = *signature_;
  }
  // Stacking copies outside the lock so that inserts are not held up by a large sample.
  Batch batch;
  batch.keys.reserve(taken.size());
  for (const auto& t : taken) batch.keys.push_back(t.first);
  for (std::size_t f = 0; f < spec.fields.size(); ++f) {
    const FieldSpec& fs = spec.fields[f];
    Shape shape{n};
    shape.insert(shape.end(), fs.shape.begin(), fs.shape.end());
    Array stacked = Array::zeros(fs.dtype, shape);
    const std::size_t item_bytes = static_cast<std::size_t>(shape_numel(fs.shape)) * dtype_size(fs.dtype);
    auto* out = static_cast<unsigned char*>(stacked.raw());
    for (std::size_t i = 0; i < taken.size(); ++i)
      if (item_bytes > 0) std::memcpy(out + i * item_bytes, taken[i].second[f].second.raw(), item_bytes);
    batch.fields.emplace_back(fs.name, std::move(stacked));
  }
  return batch;
}

TableCounters Table::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return TableCounters{inserts_, samples_, static_cast<std::int64_t>(items_.size())};
}

std::int64_t Table::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::int64_t>(items_.size());
}

std::optional<Spec> Table::signature() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signature_;
}

}  // namespace mnemo::replay
