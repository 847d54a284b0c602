// Zero-copy adapters between the torch-free Array and torch::Tensor.
//
// to_tensor() hands torch the Array's memory with a deleter that keeps the Array's owner alive;
// to_array() wraps a contiguous CPU tensor's memory with the tensor as owner. Both copy only when
// the source is not contiguous (tensor) or not aligned for its dtype (array from a wire frame).
#pragma once

#include <torch/torch.h>

#include "core/array.h"

namespace mnemo {

at::ScalarType to_torch_dtype(DType d);
DType from_torch_dtype(at::ScalarType t);

// A CPU tensor over the Array's memory (no copy when aligned). Bool arrays become kBool tensors.
torch::Tensor to_tensor(const Array& a);
// An Array over the tensor's memory (CPU; makes it contiguous first if needed).
Array to_array(const torch::Tensor& t);

// The device a config option names: cpu, cuda or cuda:N. ConfigError naming `option` for a bad
// name or another device type, and with `available` for a CUDA device this process does not have
// (config validation checks names only: a config trained on a GPU still loads on a CPU machine,
// for evaluation or on actor ranks).
torch::Device parse_device(const std::string& name, const std::string& option, bool available = true);

}  // namespace mnemo
