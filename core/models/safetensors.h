// safetensors files: named tensors plus string metadata, in the format of Hugging Face's
// `safetensors` library, written and read without it.
//
// Layout: an unsigned 64-bit little-endian header length N; N bytes of a UTF-8 JSON object
//   {"__metadata__": {"key": "value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// (space-padded so that the data starts 8-byte aligned); then the data: each tensor's elements,
// row-major, little-endian, at [begin, end) counted from the end of the header. Tensors tile the
// data without gaps or overlaps. This is what `safetensors.torch.load_file` reads, so mnemo's
// exported policies (and, later, GPT-2 weights in the other direction) cross the language border
// without a pickle or a TorchScript archive.
//
// The reader treats a file as untrusted, as the reference implementation does: the header is at
// most 100 MB and must fit in the file, every dtype, shape and offset is checked (sizes in 64 bits
// with overflow checks) before anything is allocated, and the tensors must exactly tile the rest
// of the file. Any violation throws mnemo::Error naming the file and the problem.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"

namespace mnemo {

// The contents of a safetensors file.
struct SafeTensors {
  std::map<std::string, torch::Tensor> tensors;    // name -> CPU tensor owning its memory
  std::map<std::string, std::string> metadata;     // "__metadata__", empty when absent
  // The tensor `name`; throws mnemo::Error naming it (and a near name) when it is missing.
  const torch::Tensor& at(const std::string& name) const;
};

// Writes `tensors` (any device; copied to CPU and made contiguous) in the given order, except
// that wider dtypes come first so every tensor is aligned to its element size, with `metadata`.
// Names must be unique and non-empty and may not be "__metadata__". The file appears atomically
// (temporary file, fsync, rename), so a failure leaves no partial file. Throws mnemo::Error.
// Supported dtypes: float64/32/16, bfloat16, int64/32/16/8, uint8, bool.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a whole file (see the checks above). Tensors come back on the CPU with the stored dtype.
SafeTensors load_safetensors(const std::filesystem::path& path);

// The safetensors dtype name of a torch dtype ("F32", "BF16", "I64", "BOOL", ...); throws
// mnemo::Error for dtypes the format (or this implementation) has no name for.
std::string safetensors_dtype(at::ScalarType t);

}  // namespace mnemo
