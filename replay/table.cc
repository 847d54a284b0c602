// Table: signature checking, storage with limits, sampling through selectors, priorities,
// snapshots. See table.h.
#include "replay/table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <unordered_set>

#include "replay/errors.h"

namespace mnemo::replay {
namespace {

std::string describe(DType dtype, const Shape& shape) { return std::string(dtype_name(dtype)) + shape_str(shape); }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool is_order_selector(const std::string& name) { return name == "fifo" || name == "lifo"; }

void check_priority(double p, const std::string& where) {
  if (!std::isfinite(p) || p < 0)
    throw ReplayError(ErrorCode::kInvalidArgument, where + "priority must be finite and >= 0, got " + std::to_string(p));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Options

FieldSpec parse_field_spec(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return ConfigError("replay signature field '" + text + "': " + why +
                       " (expected name:dtype[d0,d1,...], e.g. obs:uint8[80,64,64,3])");
  };
  const auto colon = text.find(':');
  const auto open = text.find('[');
  if (colon == std::string::npos || colon == 0) throw bad("no name");
  if (open == std::string::npos || open < colon || text.back() != ']') throw bad("no [shape]");
  FieldSpec f;
  f.name = text.substr(0, colon);
  const std::string dtype = text.substr(colon + 1, open - colon - 1);
  auto d = dtype_from_name(dtype);
  if (!d) throw bad("unknown dtype '" + dtype + "' (uint8, int32, int64, float32, float64, bool)");
  f.dtype = *d;
  std::string dims = text.substr(open + 1, text.size() - open - 2);
  std::stringstream ss(dims);
  std::string part;
  while (std::getline(ss, part, ',')) {
    part.erase(std::remove(part.begin(), part.end(), ' '), part.end());
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        part.size() > 12)
      throw bad("bad dimension '" + part + "'");
    f.shape.push_back(std::stoll(part));
  }
  return f;
}

std::string field_spec_str(const FieldSpec& f) {
  std::string dims;
  for (std::size_t i = 0; i < f.shape.size(); ++i) dims += (i ? "," : "") + std::to_string(f.shape[i]);
  return f.name + ":" + dtype_name(f.dtype) + "[" + dims + "]";
}

void TableOptions::validate() const {
  if (name.empty()) throw ConfigError("replay table option 'name' must not be empty");
  const std::string where = "replay table '" + name + "': ";
  if (max_size < 1) throw ConfigError(where + "option 'max_size' must be at least 1, got " + std::to_string(max_size));
  if (max_bytes < 0) throw ConfigError(where + "option 'max_bytes' must be >= 0, got " + std::to_string(max_bytes));
  if (!make_selector(sampler, 1.0))
    throw ConfigError(where + "unknown sampler '" + sampler + "' (valid values: " + join(selector_names()) + ")");
  if (!make_selector(remover, 1.0))
    throw ConfigError(where + "unknown remover '" + remover + "' (valid values: " + join(selector_names()) + ")");
  if (max_times_sampled < -1)
    throw ConfigError(where + "option 'max_times_sampled' must be -1 (auto), 0 (never) or positive, got " +
                      std::to_string(max_times_sampled));
  if (!std::isfinite(priority_exponent) || priority_exponent < 0)
    throw ConfigError(where + "option 'priority_exponent' must be >= 0, got " + std::to_string(priority_exponent));
  if (!std::isfinite(importance_sampling_exponent) || importance_sampling_exponent < 0)
    throw ConfigError(where + "option 'importance_sampling_exponent' must be >= 0, got " +
                      std::to_string(importance_sampling_exponent));
  if (!std::isfinite(default_priority) || default_priority < 0)
    throw ConfigError(where + "option 'default_priority' must be >= 0, got " + std::to_string(default_priority));
  resolve_rate_limiter(rate_limiter, sampler, where);
  parsed_signature();
}

std::int64_t TableOptions::resolved_max_times_sampled() const {
  if (max_times_sampled >= 0) return max_times_sampled;
  return is_order_selector(sampler) ? 1 : 0;
}

std::optional<Spec> TableOptions::parsed_signature() const {
  if (signature.empty()) return std::nullopt;
  Spec spec;
  std::unordered_set<std::string> names;
  for (const auto& s : signature) {
    FieldSpec f = parse_field_spec(s);
    if (!names.insert(f.name).second)
      throw ConfigError("replay table '" + name + "': signature repeats field '" + f.name + "'");
    spec.fields.push_back(std::move(f));
  }
  return spec;
}

ItemField ItemField::raw(std::string name, Array a) {
  ItemField f;
  f.name = std::move(name);
  f.dtype = a.dtype();
  f.shape = a.shape();
  f.bytes = std::move(a);
  return f;
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

// ---------------------------------------------------------------------------------------------
// Table

namespace {
const TableOptions& validated(const TableOptions& o) {
  o.validate();
  return o;
}
}  // namespace

Table::Table(TableOptions options, std::optional<Spec> signature)
    : options_(validated(options)),
      max_times_sampled_(options_.resolved_max_times_sampled()),
      signature_(signature ? std::move(signature) : options_.parsed_signature()),
      sampler_(make_selector(options_.sampler, options_.priority_exponent)),
      remover_(make_selector(options_.remover, options_.priority_exponent)),
      limiter_(resolve_rate_limiter(options_.rate_limiter, options_.sampler, ""), options_.max_size),
      rng_(static_cast<std::uint64_t>(options_.seed)) {
  if (signature_) {
    std::unordered_set<std::string> names;
    for (const auto& f : signature_->fields)
      if (!names.insert(f.name).second)
        throw ConfigError("replay table '" + options_.name + "': signature repeats field '" + f.name + "'");
  }
}

Table::~Table() = default;

void Table::check(const Item& item) const {
  EncodedItem enc;
  enc.reserve(item.size());
  for (const auto& [name, a] : item) enc.push_back(ItemField::raw(name, a));
  check(enc);
}

void Table::check(const EncodedItem& item) const {
  std::lock_guard<std::mutex> lock(mu_);
  check_locked(item);
}

void Table::check_locked(const EncodedItem& item) const {
  const std::string where = "replay table '" + options_.name + "': ";
  auto fail = [&](const std::string& why) { throw ReplayError(ErrorCode::kSignatureMismatch, where + why); };
  if (item.empty()) fail("item has no fields");
  std::unordered_set<std::string> names;
  for (const ItemField& f : item) {
    if (!names.insert(f.name).second) fail("item repeats field '" + f.name + "'");
    std::int64_t numel = 0;
    try {
      numel = shape_numel(f.shape);
    } catch (const Error&) {
      fail("item field '" + f.name + "' has an invalid shape " + shape_str(f.shape));
    }
    if (!f.bytes.defined() || (f.bytes.nbytes() > 0 && f.bytes.raw() == nullptr))
      fail("item field '" + f.name + "' has no data");
    if (f.codec == Codec::kNone) {
      if (f.bytes.dtype() != f.dtype || f.bytes.numel() != numel)
        fail("item field '" + f.name + "' has no data for " + describe(f.dtype, f.shape));
    } else if (f.bytes.dtype() != DType::kUInt8 || f.bytes.shape().size() != 1) {
      fail("compressed item field '" + f.name + "' must be uint8 bytes");
    }
  }
  if (!signature_) return;
  for (const ItemField& f : item) {
    const FieldSpec* spec = signature_->find(f.name);
    if (spec == nullptr) fail("item has field '" + f.name + "' that is not in the signature (" + signature_->str() + ")");
    if (spec->dtype != f.dtype || spec->shape != f.shape)
      fail("item field '" + f.name + "' is " + describe(f.dtype, f.shape) + " but the signature says " +
           describe(spec->dtype, spec->shape));
  }
  for (const auto& spec : signature_->fields)
    if (!names.count(spec.name)) fail("item lacks field '" + spec.name + "' (signature: " + signature_->str() + ")");
}

bool Table::try_insert(Item item) { return try_insert(std::move(item), options_.default_priority); }

bool Table::try_insert(Item item, double priority) {
  EncodedItem enc;
  enc.reserve(item.size());
  for (auto& [name, a] : item) enc.push_back(ItemField::raw(std::move(name), std::move(a)));
  return try_insert(std::move(enc), priority);
}

bool Table::try_insert(EncodedItem item, double priority) {
  const std::string where = "replay table '" + options_.name + "': ";
  check_priority(priority, where);
  std::lock_guard<std::mutex> lock(mu_);
  check_locked(item);
  std::size_t bytes = 0;
  for (const ItemField& f : item) bytes += f.stored_bytes();
  if (options_.max_bytes > 0 && bytes > static_cast<std::size_t>(options_.max_bytes))
    throw ReplayError(ErrorCode::kResourceExhausted, where + "item of " + std::to_string(bytes) +
                                                          " bytes exceeds max_bytes " + std::to_string(options_.max_bytes));
  const std::int64_t size = static_cast<std::int64_t>(items_.size());
  if (!limiter_.can_insert(size)) return false;
  auto over = [&] {
    return static_cast<std::int64_t>(items_.size()) >= options_.max_size ||
           (options_.max_bytes > 0 && bytes_ + static_cast<std::int64_t>(bytes) > options_.max_bytes);
  };
  if (limiter_.kind() == RateLimiter::Kind::kQueue) {
    if (over()) return false;
  } else {
    while (over() && remover_->size() > 0) {
      erase_locked(remover_->select(rng_).key);
      ++evicted_;
    }
  }
  if (!signature_) {
    Spec spec;
    for (const ItemField& f : item) spec.fields.push_back({f.name, f.dtype, f.shape});
    signature_ = std::move(spec);
  }
  Stored s;
  s.priority = priority;
  s.bytes = bytes;
  s.fields.reserve(signature_->fields.size());
  for (const auto& spec : signature_->fields)
    for (ItemField& f : item)
      if (f.name == spec.name) s.fields.push_back(std::move(f));
  add_locked(next_key_++, std::move(s));
  limiter_.inserted();
  ++inserts_;
  return true;
}

void Table::add_locked(Key key, Stored s) {
  bytes_ += static_cast<std::int64_t>(s.bytes);
  if (max_times_sampled_ > 0) budget_ += std::max<std::int64_t>(0, max_times_sampled_ - s.times_sampled);
  const double p = s.priority;
  items_.emplace(key, std::move(s));
  sampler_->insert(key, p);
  remover_->insert(key, p);
}

void Table::erase_locked(Key key) {
  auto it = items_.find(key);
  MNEMO_CHECK(it != items_.end(), "table has no key ", key);
  bytes_ -= static_cast<std::int64_t>(it->second.bytes);
  if (max_times_sampled_ > 0) budget_ -= std::max<std::int64_t>(0, max_times_sampled_ - it->second.times_sampled);
  sampler_->remove(key);
  remover_->remove(key);
  items_.erase(it);
}

void Table::check_sample_size(std::int64_t n) const {
  const std::string where = "replay table '" + options_.name + "': ";
  if (n < 1) throw ReplayError(ErrorCode::kInvalidArgument, where + "cannot sample " + std::to_string(n) + " items");
  if ((max_times_sampled_ > 0 || limiter_.kind() == RateLimiter::Kind::kQueue) &&
      n > options_.max_size * std::max<std::int64_t>(1, max_times_sampled_))
    throw ReplayError(ErrorCode::kInvalidArgument, where + "cannot sample " + std::to_string(n) +
                                                        " items, the table holds at most " +
                                                        std::to_string(options_.max_size));
  if (!limiter_.batch_possible(n))
    throw ReplayError(ErrorCode::kInvalidArgument, where + "cannot sample " + std::to_string(n) +
                                                        " items at once: the rate limiter's error_buffer admits fewer");
}

std::optional<Batch> Table::try_sample(std::int64_t n) {
  check_sample_size(n);
  struct Taken {
    Key key;
    double probability;
    double priority;
  };
  std::vector<Taken> taken;
  Spec spec;
  double beta = options_.importance_sampling_exponent;
  std::int64_t population = 0;
  // Fields are shared, so holding copies of the EncodedItems keeps the memory alive after unlock.
  std::vector<EncodedItem> fields;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::int64_t size = static_cast<std::int64_t>(items_.size());
    if (!signature_ || size == 0 || !limiter_.can_sample(size, n)) return std::nullopt;
    if (max_times_sampled_ > 0 && budget_ < n) return std::nullopt;
    population = size;
    taken.reserve(static_cast<std::size_t>(n));
    fields.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const KeyWithProbability kp = sampler_->select(rng_);
      auto it = items_.find(kp.key);
      MNEMO_CHECK(it != items_.end(), "sampler returned unknown key ", kp.key);
      Stored& s = it->second;
      fields.push_back(s.fields);
      taken.push_back({kp.key, kp.probability, s.priority});
      ++s.times_sampled;
      if (max_times_sampled_ > 0) {
        --budget_;
        if (s.times_sampled >= max_times_sampled_) {
          erase_locked(kp.key);  // its remaining budget is zero, so budget_ stays right
          ++removed_sampled_;
        }
      }
    }
    limiter_.sampled(n);
    samples_ += n;
    spec = *signature_;
  }
  // Stacking copies (and decompresses) outside the lock so that inserts are not held up.
  Batch batch;
  batch.table = options_.name;
  batch.keys.reserve(taken.size());
  double max_w = 0;
  for (const Taken& t : taken) {
    batch.keys.push_back(t.key);
    batch.probabilities.push_back(t.probability);
    batch.priorities.push_back(t.priority);
    double w = 1.0;
    if (options_.sampler == "prioritized" && t.probability > 0)
      w = std::pow(static_cast<double>(population) * t.probability, -beta);
    batch.weights.push_back(w);
    max_w = std::max(max_w, w);
  }
  if (max_w > 0)
    for (double& w : batch.weights) w /= max_w;
  for (std::size_t f = 0; f < spec.fields.size(); ++f) {
    const FieldSpec& fs = spec.fields[f];
    Shape shape{n};
    shape.insert(shape.end(), fs.shape.begin(), fs.shape.end());
    Array stacked = Array::uninitialized(fs.dtype, shape);  // every byte is written below
    const std::size_t item_bytes = static_cast<std::size_t>(shape_numel(fs.shape)) * dtype_size(fs.dtype);
    auto* out = static_cast<unsigned char*>(stacked.raw());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const ItemField& src = fields[i][f];
      if (item_bytes == 0) continue;
      if (src.codec == Codec::kNone) {
        std::memcpy(out + i * item_bytes, src.bytes.raw(), item_bytes);
      } else {
        decompress(src.codec, src.bytes.raw(), src.bytes.nbytes(), out + i * item_bytes, item_bytes);
      }
    }
    batch.fields.emplace_back(fs.name, std::move(stacked));
  }
  return batch;
}

std::int64_t Table::update_priorities(const std::vector<Key>& keys, const std::vector<double>& priorities) {
  const std::string where = "replay table '" + options_.name + "': ";
  if (keys.size() != priorities.size())
    throw ReplayError(ErrorCode::kInvalidArgument, where + std::to_string(keys.size()) + " keys but " +
                                                        std::to_string(priorities.size()) + " priorities");
  for (double p : priorities) check_priority(p, where);
  std::lock_guard<std::mutex> lock(mu_);
  std::int64_t updated = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto it = items_.find(keys[i]);
    if (it == items_.end()) continue;  // evicted or sampled out since: not an error (Reverb ignores it too)
    it->second.priority = priorities[i];
    sampler_->update(keys[i], priorities[i]);
    remover_->update(keys[i], priorities[i]);
    ++updated;
  }
  return updated;
}

void Table::set_rate_limited(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  limiter_.set_enabled(on);
}

TableCounters Table::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  TableCounters c;
  c.inserts = inserts_;
  c.samples = samples_;
  c.size = static_cast<std::int64_t>(items_.size());
  c.bytes = bytes_;
  c.evicted = evicted_;
  c.removed_sampled = removed_sampled_;
  c.rate_limited = limiter_.enabled();
  return c;
}

std::int64_t Table::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::int64_t>(items_.size());
}

std::optional<Spec> Table::signature() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signature_;
}

std::string Table::describe_limits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limiter_.describe(static_cast<std::int64_t>(items_.size()));
}

TableSnapshot Table::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  TableSnapshot snap;
  snap.name = options_.name;
  snap.signature = signature_;
  snap.items.reserve(items_.size());
  for (Key key : sampler_->keys_in_order()) {
    const Stored& s = items_.at(key);
    snap.items.push_back({key, s.priority, s.times_sampled, s.fields});
  }
  snap.remover_order = remover_->keys_in_order();
  snap.next_key = next_key_;
  snap.inserts = inserts_;
  snap.samples = samples_;
  snap.evicted = evicted_;
  snap.removed_sampled = removed_sampled_;
  snap.limiter = limiter_.state();
  std::ostringstream os;
  os << rng_;
  snap.rng = os.str();
  return snap;
}

void Table::restore(const TableSnapshot& snap) {
  const std::string where = "replay table '" + options_.name + "': ";
  std::lock_guard<std::mutex> lock(mu_);
  const std::optional<Spec> configured = options_.parsed_signature();
  if (configured && snap.signature && !(*configured == *snap.signature))
    throw ReplayError(ErrorCode::kSignatureMismatch, where + "checkpoint signature " + snap.signature->str() +
                                                          " differs from the configured " + configured->str());
  sampler_->clear();
  remover_->clear();
  items_.clear();
  bytes_ = 0;
  budget_ = 0;
  signature_ = snap.signature ? snap.signature : configured;
  std::unordered_map<Key, Stored> staged;
  for (const auto& e : snap.items) {
    if (e.key >= snap.next_key)
      throw ReplayError(ErrorCode::kDataLoss, where + "checkpoint item key " + std::to_string(e.key) +
                                                   " is not below next_key " + std::to_string(snap.next_key));
    check_locked(e.fields);
    Stored s;
    s.priority = e.priority;
    s.times_sampled = e.times_sampled;
    for (const ItemField& f : e.fields) s.bytes += f.stored_bytes();
    s.fields = e.fields;
    bytes_ += static_cast<std::int64_t>(s.bytes);
    if (max_times_sampled_ > 0) budget_ += std::max<std::int64_t>(0, max_times_sampled_ - s.times_sampled);
    if (!staged.emplace(e.key, std::move(s)).second)
      throw ReplayError(ErrorCode::kDataLoss, where + "checkpoint repeats item key " + std::to_string(e.key));
  }
  // Selector layouts follow the saved orders so that the same random draws select the same keys.
  for (const auto& e : snap.items) sampler_->insert(e.key, e.priority);
  std::unordered_set<Key> in_remover;
  for (Key k : snap.remover_order) {
    auto it = staged.find(k);
    if (it != staged.end() && in_remover.insert(k).second) remover_->insert(k, it->second.priority);
  }
  for (const auto& e : snap.items)
    if (in_remover.insert(e.key).second) remover_->insert(e.key, e.priority);
  items_ = std::move(staged);
  next_key_ = snap.next_key;
  inserts_ = snap.inserts;
  samples_ = snap.samples;
  evicted_ = snap.evicted;
  removed_sampled_ = snap.removed_sampled;
  limiter_.restore(snap.limiter);
  if (!snap.rng.empty()) {
    std::istringstream is(snap.rng);
    std::mt19937_64 rng;
    if (is >> rng) rng_ = rng;
  }
  // A checkpoint from a larger table: evict down to this table's limits.
  while ((static_cast<std::int64_t>(items_.size()) > options_.max_size ||
          (options_.max_bytes > 0 && bytes_ > options_.max_bytes)) &&
         remover_->size() > 0) {
    erase_locked(remover_->select(rng_).key);
    ++evicted_;
  }
}

}  // namespace mnemo::replay
