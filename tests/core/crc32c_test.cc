// Tests of CRC-32C: published check values, and agreement with a bit-by-bit reference for every
// length class (table tail, 8-byte hardware words, three-stream rounds of 3 x 4096 bytes),
// misaligned starts, and running checksums continued across any split.
#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace mnemo {
namespace {

// CRC-32C by its definition (reflected polynomial 0x82f63b78), one bit at a time.
std::uint32_t reference_crc32c(const unsigned char* p, std::size_t n, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::vector<unsigned char> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

TEST(Crc32cTest, MatchesPublishedCheckValues) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xe3069283u);
  EXPECT_EQ(reference_crc32c(reinterpret_cast<const unsigned char*>(check.data()), check.size()), 0xe3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  // RFC 3720 (iSCSI), appendix B.4.
  std::vector<unsigned char> v(32, 0x00);
  EXPECT_EQ(crc32c(v.data(), v.size()), 0x8a9136aau);
  v.assign(32, 0xff);
  EXPECT_EQ(crc32c(v.data(), v.size()), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) v[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c(v.data(), v.size()), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) v[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c(v.data(), v.size()), 0x113fdb5cu);
}

TEST(Crc32cTest, LargeBuffersMatchTheReferenceAtEveryLengthClassAndAlignment) {
  constexpr std::size_t kRound = 3 * 4096;
  const auto data = random_bytes(4 * kRound + 64, /*seed=*/21);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 64; ++n) lengths.push_back(n);
  for (std::size_t rounds = 1; rounds <= 3; ++rounds)
    for (std::size_t n : {rounds * kRound - 1, rounds * kRound, rounds * kRound + 1, rounds * kRound + 9})
      lengths.push_back(n);
  lengths.push_back(kRound / 2 + 3);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t n : lengths) {
      ASSERT_LE(offset + n, data.size());
      EXPECT_EQ(crc32c(data.data() + offset, n), reference_crc32c(data.data() + offset, n))
          << "length " << n << ", offset " << offset;
    }
  }
}

TEST(Crc32cTest, RunningChecksumContinuesAcrossAnySplit) {
  // Checkpoint files are checksummed chunk by chunk; the result must not depend on the chunking,
  // including splits that leave whole three-stream rounds on both sides.
  const auto data = random_bytes(3 * 3 * 4096 + 100, /*seed=*/3);
  const std::uint32_t whole = reference_crc32c(data.data(), data.size());
  EXPECT_EQ(crc32c(data.data(), data.size()), whole);
  for (std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{12288},
                            std::size_t{12289}, std::size_t{20000}, data.size() - 12288, data.size() - 1, data.size()}) {
    const std::uint32_t head = crc32c(data.data(), split);
    EXPECT_EQ(crc32c(data.data() + split, data.size() - split, head), whole) << "split at " << split;
  }
  std::uint32_t chunked = 0;
  for (std::size_t at = 0; at < data.size(); at += 5000)
    chunked = crc32c(data.data() + at, std::min<std::size_t>(5000, data.size() - at), chunked);
  EXPECT_EQ(chunked, whole);
}

}  // namespace
}  // namespace mnemo
