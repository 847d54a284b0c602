// CRC-32C (Castagnoli). See crc32c.h.
//
// Checksums are the largest CPU cost of moving big wire payloads (64 KiB items spent a quarter of
// their time in a single-stream CRC) and of sealing checkpoints. The crc32 instruction has a
// latency of 3 cycles but a throughput of 1 per cycle, so large buffers are checksummed as three
// interleaved streams whose CRCs are then combined (zlib's crc32_combine method, for the Castagnoli
// polynomial); the result is bit-identical to the byte-wise definition.
#include "core/crc32c.h"

#include <array>
#include <cstring>

namespace mnemo {
namespace {

constexpr std::uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}

std::uint32_t crc_table(const unsigned char* p, std::size_t n, std::uint32_t c) {
  static const auto table = make_table();
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_hw(const unsigned char* p, std::size_t n, std::uint32_t c) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n > 0) {
    c = __builtin_ia32_crc32qi(c, *p++);
    --n;
  }
  return c;
}
bool have_sse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

constexpr std::size_t kStreamBytes = 4096;  // per stream and round

// a * b modulo the CRC polynomial, in the reflected bit order CRCs use.
std::uint32_t multmodp(std::uint32_t a, std::uint32_t b) {
  std::uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return p;
}

// x^(8 * kStreamBytes) modulo the polynomial: multiplying a CRC by it appends kStreamBytes zeros.
std::uint32_t stream_shift() {
  static const std::uint32_t shift = [] {
    std::uint32_t x2n[64];
    std::uint32_t p = 1u << 30;  // x^1
    x2n[0] = p;
    for (int i = 1; i < 64; ++i) x2n[i] = p = multmodp(p, p);  // x^(2^i)
    std::uint32_t r = 1u << 31;  // x^0
    std::uint64_t n = 8 * kStreamBytes;
    for (int k = 0; n; ++k, n >>= 1)
      if (n & 1) r = multmodp(x2n[k], r);
    return r;
  }();
  return shift;
}

// Consumes whole rounds of 3 * kStreamBytes, advancing p and n, and returns the running CRC (in
// the same pre/post-inverted form as crc32c()'s `crc`). Stream a continues from `crc`; b and c
// start fresh and are appended with multmodp, so a non-zero starting CRC needs no special case.
__attribute__((target("sse4.2"))) std::uint32_t crc3_rounds(const unsigned char*& p, std::size_t& n,
                                                             std::uint32_t crc) {
  const std::uint32_t shift = stream_shift();
  while (n >= 3 * kStreamBytes) {
    std::uint64_t a = static_cast<std::uint32_t>(~crc), b = 0xffffffffu, c = 0xffffffffu;
    for (std::size_t i = 0; i < kStreamBytes; i += 8) {
      std::uint64_t va, vb, vc;
      std::memcpy(&va, p + i, 8);
      std::memcpy(&vb, p + kStreamBytes + i, 8);
      std::memcpy(&vc, p + 2 * kStreamBytes + i, 8);
      a = __builtin_ia32_crc32di(a, va);
      b = __builtin_ia32_crc32di(b, vb);
      c = __builtin_ia32_crc32di(c, vc);
    }
    const std::uint32_t ca = ~static_cast<std::uint32_t>(a), cb = ~static_cast<std::uint32_t>(b),
                        cc = ~static_cast<std::uint32_t>(c);
    crc = multmodp(shift, multmodp(shift, ca) ^ cb) ^ cc;
    p += 3 * kStreamBytes;
    n -= 3 * kStreamBytes;
  }
  return crc;
}
#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc) {
  auto p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  if (have_sse42()) {
    crc = crc3_rounds(p, n, crc);
    return ~crc_hw(p, n, ~crc);
  }
#endif
  return ~crc_table(p, n, ~crc);
}

}  // namespace mnemo
