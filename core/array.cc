#include "core/array.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace mnemo {

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::kUInt8: return 1;
    case DType::kBool: return 1;
    case DType::kInt32: return 4;
    case DType::kFloat32: return 4;
    case DType::kInt64: return 8;
    case DType::kFloat64: return 8;
  }
  throw Error("invalid dtype " + std::to_string(static_cast<int>(d)));
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kInt32: return "int32";
    case DType::kFloat32: return "float32";
    case DType::kInt64: return "int64";
    case DType::kFloat64: return "float64";
  }
  return "invalid";
}

std::optional<DType> dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i) {
    auto d = static_cast<DType>(i);
    if (name == dtype_name(d)) return d;
  }
  return std::nullopt;
}

bool dtype_valid(std::uint8_t raw) { return raw < kNumDTypes; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(s));
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d)
      throw Error("shape " + shape_str(s) + " overflows");
    n *= d;
  }
  return n;
}

Array Array::zeros(DType dtype, Shape shape) {
  Array a = uninitialized(dtype, std::move(shape));
  std::memset(a.data_, 0, a.nbytes());
  return a;
}

Array Array::uninitialized(DType dtype, Shape shape) {
  Array a;
  a.dtype_ = dtype;
  a.numel_ = shape_numel(shape);
  a.shape_ = std::move(shape);
  std::size_t bytes = a.nbytes();
  std::size_t alloc = ((bytes + 63) / 64) * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (p == nullptr) throw std::bad_alloc();
  a.owner_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  a.data_ = p;
  return a;
}

Array Array::wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Array a;
  a.dtype_ = dtype;
  a.numel_ = shape_numel(shape);
  a.shape_ = std::move(shape);
  a.data_ = data;
  a.owner_ = std::move(owner);
  return a;
}

template <typename T>
T Array::item() const {
  MNEMO_CHECK(numel_ == 1, "item() on an array of ", numel_, " elements");
  switch (dtype_) {
    case DType::kUInt8: return static_cast<T>(*static_cast<const std::uint8_t*>(data_));
    case DType::kBool: return static_cast<T>(*static_cast<const bool*>(data_));
    case DType::kInt32: return static_cast<T>(*static_cast<const std::int32_t*>(data_));
    case DType::kInt64: return static_cast<T>(*static_cast<const std::int64_t*>(data_));
    case DType::kFloat32: return static_cast<T>(*static_cast<const float*>(data_));
    case DType::kFloat64: return static_cast<T>(*static_cast<const double*>(data_));
  }
  throw Error("invalid dtype");
}
template std::int64_t Array::item<std::int64_t>() const;
template std::int32_t Array::item<std::int32_t>() const;
template double Array::item<double>() const;
template float Array::item<float>() const;
template bool Array::item<bool>() const;
template std::uint8_t Array::item<std::uint8_t>() const;

Array Array::clone() const {
  Array a = zeros(dtype_, shape_);
  if (nbytes() > 0) std::memcpy(a.data_, data_, nbytes());
  return a;
}

Array Array::reshape(Shape shape) const {
  MNEMO_CHECK(shape_numel(shape) == numel_, "cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
  Array a = *this;
  a.shape_ = std::move(shape);
  return a;
}

const FieldSpec* Spec::find(const std::string& name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const FieldSpec& Spec::at(const std::string& name) const {
  const FieldSpec* f = find(name);
  if (f == nullptr) throw Error("spec has no field '" + name + "' (fields: " + str() + ")");
  return *f;
}

std::string Spec::str() const {
  std::ostringstream os;
  for (std::size_t i = 0; i < fields.size(); ++i)
    os << (i ? ", " : "") << fields[i].name << ":" << dtype_name(fields[i].dtype) << shape_str(fields[i].shape);
  return os.str();
}

ActionSpace ActionSpace::discrete(std::int64_t n) {
  MNEMO_CHECK(n > 0, "discrete action space needs n > 0, got ", n);
  ActionSpace a;
  a.kind = Kind::kDiscrete;
  a.n = n;
  return a;
}

ActionSpace ActionSpace::box(std::vector<double> low, std::vector<double> high) {
  MNEMO_CHECK(!low.empty() && low.size() == high.size(), "box bounds of sizes ", low.size(), " and ", high.size());
  ActionSpace a;
  a.kind = Kind::kBox;
  a.low = std::move(low);
  a.high = std::move(high);
  return a;
}

ActionSpace ActionSpace::multi_discrete(std::vector<std::int64_t> nvec) {
  MNEMO_CHECK(!nvec.empty(), "multi-discrete action space needs at least one component");
  ActionSpace a;
  a.kind = Kind::kMultiDiscrete;
  a.nvec = std::move(nvec);
  return a;
}

FieldSpec ActionSpace::field() const {
  switch (kind) {
    case Kind::kDiscrete: return {"action", DType::kInt64, {}};
    case Kind::kBox: return {"action", DType::kFloat32, {static_cast<std::int64_t>(low.size())}};
    case Kind::kMultiDiscrete: return {"action", DType::kInt64, {static_cast<std::int64_t>(nvec.size())}};
  }
  throw Error("invalid action space");
}

std::string ActionSpace::str() const {
  std::ostringstream os;
  switch (kind) {
    case Kind::kDiscrete: os << "discrete(" << n << ")"; break;
    case Kind::kBox: os << "box(" << low.size() << ")"; break;
    case Kind::kMultiDiscrete: os << "multi_discrete(" << shape_str(nvec) << ")"; break;
  }
  return os.str();
}

}  // namespace mnemo
