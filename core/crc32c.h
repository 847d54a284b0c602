// CRC-32C (Castagnoli), used by the wire format, checkpoint manifests and TensorBoard records.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo {

// Extends `crc` (0 for a fresh checksum) over `n` bytes at `data`.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

// TensorBoard / TFRecord masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
inline std::uint32_t crc32c_masked(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

}  // namespace mnemo
