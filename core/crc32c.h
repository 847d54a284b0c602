// CRC-32C (Castagnoli): the one implementation, used by the wire format (header and payloads),
// checkpoint manifests and state files, and TensorBoard records. Uses the SSE4.2 crc32
// instruction when the CPU has it (three interleaved streams for buffers of 12 KiB and more), a
// table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo {

// Extends `crc` (0 for a fresh checksum) over `n` bytes at `data`: crc32c(b, m, crc32c(a, n))
// equals the checksum of a followed by b.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

// TensorBoard / TFRecord masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
inline std::uint32_t crc32c_masked(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

}  // namespace mnemo
