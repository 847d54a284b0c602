// Array and Spec: the torch-free data model shared by envs/, replay/ and the wire format.
//
// An Array is a typed, shaped, contiguous buffer whose memory is owned through a shared_ptr, so
// that a ZeroMQ frame, a pool slot or a torch tensor can back it without copies. A Spec names the
// fields of an observation, an action or a replay item, each with a dtype and a shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"

namespace mnemo {

enum class DType : std::uint8_t { kUInt8 = 0, kInt32 = 1, kInt64 = 2, kFloat32 = 3, kFloat64 = 4, kBool = 5 };
constexpr int kNumDTypes = 6;

std::size_t dtype_size(DType d);
const char* dtype_name(DType d);
std::optional<DType> dtype_from_name(const std::string& name);
bool dtype_valid(std::uint8_t raw);

template <typename T> struct DTypeOf;
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& s);
// Number of elements; throws on negative dims or overflow (shapes can come from the wire).
std::int64_t shape_numel(const Shape& s);

// A typed view over contiguous bytes kept alive by `owner`. Copying an Array shares the memory.
class Array {
 public:
  Array() = default;
  // New zero-filled array owning its memory (64-byte aligned).
  static Array zeros(DType dtype, Shape shape);
  // The same without the zero fill, for a caller that writes every byte next (large buffers:
  // the fill costs as much as the copy that follows).
  static Array uninitialized(DType dtype, Shape shape);
  // Wraps memory owned elsewhere; `owner` keeps it alive for as long as any copy of the Array.
  static Array wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);
  template <typename T>
  static Array from_vector(const std::vector<T>& v, Shape shape = {}) {
    if (shape.empty() && v.size() != 1) shape = {static_cast<std::int64_t>(v.size())};
    Array a = zeros(DTypeOf<T>::value, shape);
    MNEMO_CHECK(static_cast<std::size_t>(a.numel()) == v.size(), "shape ", shape_str(shape), " vs ", v.size());
    std::copy(v.begin(), v.end(), a.data<T>());
    return a;
  }
  template <typename T>
  static Array scalar(T v) { return from_vector<T>({v}, {}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr || numel_ == 0; }
  void* raw() const { return data_; }
  const std::shared_ptr<void>& owner() const { return owner_; }

  template <typename T>
  T* data() const {
    MNEMO_CHECK(DTypeOf<T>::value == dtype_, "array is ", dtype_name(dtype_), ", asked for ",
                dtype_name(DTypeOf<T>::value));
    return static_cast<T*>(data_);
  }
  // The single element of a one-element array, converted to T.
  template <typename T>
  T item() const;

  // A deep copy with its own memory.
  Array clone() const;
  // Same memory, new shape with the same number of elements.
  Array reshape(Shape shape) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

// One named field of a Spec.
struct FieldSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // per-item shape, without batch or time dimensions
  bool operator==(const FieldSpec& o) const { return name == o.name && dtype == o.dtype && shape == o.shape; }
};

// A list of named fields (observation fields, a replay table signature, ...).
struct Spec {
  std::vector<FieldSpec> fields;
  const FieldSpec* find(const std::string& name) const;
  const FieldSpec& at(const std::string& name) const;
  std::string str() const;
  bool operator==(const Spec& o) const { return fields == o.fields; }
};

// An action space: discrete(n), box(low, high, shape) or multi_discrete(nvec).
struct ActionSpace {
  enum class Kind { kDiscrete, kBox, kMultiDiscrete };
  Kind kind = Kind::kDiscrete;
  std::int64_t n = 0;            // discrete: number of actions
  std::vector<double> low, high; // box: bounds per dimension
  std::vector<std::int64_t> nvec;// multi-discrete: actions per component
  static ActionSpace discrete(std::int64_t n);
  static ActionSpace box(std::vector<double> low, std::vector<double> high);
  static ActionSpace multi_discrete(std::vector<std::int64_t> nvec);
  // Shape and dtype of one action as it is stored in a Sequence.
  FieldSpec field() const;
  std::string str() const;
};

}  // namespace mnemo
