#include "core/models/tensor.h"

#include <cstring>
#include <optional>

namespace mnemo {

at::ScalarType to_torch_dtype(DType d) {
  switch (d) {
    case DType::kUInt8: return torch::kUInt8;
    case DType::kBool: return torch::kBool;
    case DType::kInt32: return torch::kInt32;
    case DType::kInt64: return torch::kInt64;
    case DType::kFloat32: return torch::kFloat32;
    case DType::kFloat64: return torch::kFloat64;
  }
  throw Error("invalid dtype");
}

DType from_torch_dtype(at::ScalarType t) {
  switch (t) {
    case torch::kUInt8: return DType::kUInt8;
    case torch::kBool: return DType::kBool;
    case torch::kInt32: return DType::kInt32;
    case torch::kInt64: return DType::kInt64;
    case torch::kFloat32: return DType::kFloat32;
    case torch::kFloat64: return DType::kFloat64;
    default: break;
  }
  throw Error(std::string("unsupported tensor dtype ") + c10::toString(t));
}

torch::Tensor to_tensor(const Array& a) {
  auto options = torch::TensorOptions().dtype(to_torch_dtype(a.dtype()));
  std::vector<int64_t> sizes(a.shape().begin(), a.shape().end());
  if (a.numel() == 0) return torch::empty(sizes, options);
  auto addr = reinterpret_cast<std::uintptr_t>(a.raw());
  if (addr % dtype_size(a.dtype()) != 0) {
    torch::Tensor t = torch::empty(sizes, options);
    std::memcpy(t.data_ptr(), a.raw(), a.nbytes());
    return t;
  }
  auto owner = new std::shared_ptr<void>(a.owner());
  return torch::from_blob(
      a.raw(), sizes, [owner](void*) { delete owner; }, options);
}

Array to_array(const torch::Tensor& t) {
  MNEMO_CHECK(t.device().is_cpu(), "to_array needs a CPU tensor, got ", t.device());
  torch::Tensor c = t.contiguous();
  Shape shape(c.sizes().begin(), c.sizes().end());
  auto holder = std::make_shared<torch::Tensor>(c);
  return Array::wrap(from_torch_dtype(c.scalar_type()), std::move(shape), c.data_ptr(), holder);
}

torch::Device parse_device(const std::string& name, const std::string& option, bool available) {
  std::optional<torch::Device> d;
  try {
    d.emplace(name);
  } catch (const std::exception&) {
    throw ConfigError(option + ": '" + name + "' is not a device (valid: cpu, cuda, cuda:N)");
  }
  if (!d->is_cpu() && !d->is_cuda()) throw ConfigError(option + ": only cpu and cuda are supported, not " + name);
  if (available && d->is_cuda() && (!torch::cuda::is_available() ||
                       (d->has_index() && d->index() >= static_cast<int>(torch::cuda::device_count()))))
    throw ConfigError(option + ": " + name + " is not available to this process (" +
                      std::to_string(torch::cuda::device_count()) + " CUDA devices)");
  return *d;
}

}  // namespace mnemo
