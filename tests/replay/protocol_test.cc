// Tests of the replay protocol helpers and compression: compressed item fields round-trip, and
// corrupt or lying compressed fields are refused before they reach a table.
#include "replay/protocol.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace mnemo::replay {
namespace {

Array pixels() {
  Array a = Array::zeros(DType::kUInt8, {16, 32, 32});
  for (std::int64_t i = 0; i < a.numel(); ++i) a.data<std::uint8_t>()[i] = static_cast<std::uint8_t>((i / 37) % 7);
  return a;
}

TEST(CompressionTest, Lz4AndZstdRoundTrip) {
  const Array a = pixels();
  for (Codec c : {Codec::kLz4, Codec::kZstd}) {
    Array packed = compress(a, c, /*level=*/1);
    EXPECT_LT(packed.nbytes(), a.nbytes()) << codec_name(c);
    std::vector<std::uint8_t> out(a.nbytes());
    decompress(c, packed.raw(), packed.nbytes(), out.data(), out.size());
    EXPECT_EQ(std::memcmp(out.data(), a.raw(), a.nbytes()), 0);
    // Wrong expected size and corrupt bytes are data-loss errors, not crashes.
    std::vector<std::uint8_t> small(a.nbytes() - 1);
    EXPECT_THROW(decompress(c, packed.raw(), packed.nbytes(), small.data(), small.size()), ReplayError);
    std::mt19937 rng(/*seed=*/2);
    std::vector<std::uint8_t> junk(packed.nbytes());
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    EXPECT_THROW(decompress(c, junk.data(), junk.size(), out.data(), out.size()), ReplayError);
  }
  EXPECT_EQ(codec_from_name("zstd"), Codec::kZstd);
  EXPECT_FALSE(codec_from_name("gzip"));
}

TEST(ProtocolTest, CompressedItemFieldsRoundTripThroughARequest) {
  wire::Message m(wire::MsgType::kInsert);
  add_item_field(m, "obs", pixels(), Codec::kLz4, 1, /*min_bytes=*/1024);
  add_item_field(m, "reward", Array::from_vector(std::vector<float>{1, 2}, {2}), Codec::kLz4, 1, 1024);
  EXPECT_TRUE(m.has("__z.obs"));
  EXPECT_FALSE(m.has("__z.reward"));  // under the threshold
  const wire::Message back = wire::decode(wire::encode(m));
  EncodedItem item = item_from_request(back, /*max_logical_bytes=*/1 << 20);
  ASSERT_EQ(item.size(), 2u);
  EXPECT_EQ(item[0].codec, Codec::kLz4);
  EXPECT_EQ(item[0].shape, (Shape{16, 32, 32}));
  EXPECT_EQ(item[0].dtype, DType::kUInt8);
  EXPECT_EQ(item[1].codec, Codec::kNone);
}

TEST(ProtocolTest, RefusesLyingOrCorruptCompressedFields) {
  auto request = [](std::vector<std::int64_t> meta, Array bytes) {
    wire::Message m(wire::MsgType::kInsert);
    m.add("obs", std::move(bytes));
    m.add("__z.obs", Array::from_vector(meta, {static_cast<std::int64_t>(meta.size())}));
    return m;
  };
  const Array packed = compress(pixels(), Codec::kZstd, 1);
  const std::int64_t u8 = static_cast<std::int64_t>(DType::kUInt8);
  // A decompression bomb: a tiny payload declaring a huge shape is refused before allocating.
  EXPECT_THROW(item_from_request(request({2, u8, 2, 1 << 20, 1 << 20}, packed), 1 << 20), ReplayError);
  // A shape that does not match what the bytes decompress to.
  EXPECT_THROW(item_from_request(request({2, u8, 1, 100}, packed), 1 << 20), ReplayError);
  // Unknown codec, invalid dtype, inconsistent ndim, non-byte payload.
  EXPECT_THROW(item_from_request(request({9, u8, 1, 16384}, packed), 1 << 20), ReplayError);
  EXPECT_THROW(item_from_request(request({2, 77, 1, 16384}, packed), 1 << 20), ReplayError);
  EXPECT_THROW(item_from_request(request({2, u8, 3, 16384}, packed), 1 << 20), ReplayError);
  EXPECT_THROW(item_from_request(request({2, u8, 1, 4}, Array::zeros(DType::kFloat32, {1})), 1 << 20), ReplayError);
  // A header without its field, and reserved names.
  wire::Message orphan(wire::MsgType::kInsert);
  orphan.add("__z.x", Array::from_vector(std::vector<std::int64_t>{1, 0, 0}, {3}));
  EXPECT_THROW(item_from_request(orphan, 1 << 20), ReplayError);
  wire::Message reserved(wire::MsgType::kInsert);
  reserved.add("weights", Array::zeros(DType::kFloat32, {1}));
  EXPECT_THROW(item_from_request(reserved, 1 << 20), ReplayError);
}

TEST(ErrorsTest, PredicatesRecogniseEachKind) {
  EXPECT_TRUE(IsRateLimiterTimeout(RateLimiterTimeoutError("x")));
  EXPECT_TRUE(IsDeadlineExceeded(DeadlineExceededError("x")));
  EXPECT_TRUE(IsSignatureMismatch(ReplayError(ErrorCode::kSignatureMismatch, "x")));
  EXPECT_TRUE(IsStopped(StoppedError()));
  EXPECT_FALSE(IsRateLimiterTimeout(DeadlineExceededError("x")));
  EXPECT_FALSE(IsUnavailable(std::runtime_error("x")));
  try {
    throw_error(ErrorCode::kRateLimiterTimeout, "late");
  } catch (const TimeoutError& e) {  // old catch sites for TimeoutError still catch it
    EXPECT_TRUE(IsRateLimiterTimeout(e));
  }
}

}  // namespace
}  // namespace mnemo::replay
