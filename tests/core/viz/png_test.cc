// Tests of the PNG writer: every supported layout decodes (with the independent decoder of
// png_test_util.h) to exactly the input pixels with the right colour type, large images are split
// into several IDAT chunks, flat images compress many times, and bad input is rejected.
#include "core/viz/png.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core/check.h"
#include "tests/core/viz/png_test_util.h"

namespace mnemo::png {
namespace {

using mnemo::png::testing::decode_png;

std::vector<std::uint8_t> noise(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(PngTest, GreyRgbAndRgbaDecodeToTheInputWithTheirColourTypes) {
  const std::pair<int, int> kLayouts[] = {{1, 0}, {3, 2}, {4, 6}};  // channels, PNG colour type
  for (const auto& [channels, color_type] : kLayouts) {
    const int w = 37, h = 11;  // odd sizes: rows line up with nothing
    const auto pixels = noise(static_cast<std::size_t>(w * h * channels), /*seed=*/channels);
    const auto d = decode_png(encode(pixels.data(), pixels.size(), w, h, channels));
    EXPECT_EQ(d.width, w);
    EXPECT_EQ(d.height, h);
    EXPECT_EQ(d.bit_depth, 8);
    EXPECT_EQ(d.color_type, color_type) << channels << " channels";
    EXPECT_EQ(d.pixels, pixels) << channels << " channels";
    EXPECT_EQ(d.chunk_types.front(), "IHDR");
    EXPECT_EQ(d.chunk_types.back(), "IEND");
  }
}

TEST(PngTest, GradientsAndRepeatsThatFavourEachFilterRoundTrip) {
  for (int channels : {1, 3, 4}) {
    const int w = 200, h = 90;
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < channels; ++c) {
          // Left half: horizontal and vertical gradients (Sub, Up, Average, Paeth); right half:
          // a repeating pattern (long deflate matches).
          const std::size_t i = (static_cast<std::size_t>(y) * w + x) * channels + c;
          px[i] = static_cast<std::uint8_t>(x < w / 2 ? x * 3 + y * (c + 1) : ((x * 7919) % 251) ^ (y / 7));
        }
    EXPECT_EQ(decode_png(encode(px.data(), px.size(), w, h, channels)).pixels, px) << channels << " channels";
  }
}

TEST(PngTest, OnePixelImagesEncode) {
  const std::vector<std::uint8_t> grey = {200};
  EXPECT_EQ(decode_png(encode(grey.data(), grey.size(), 1, 1, 1)).pixels, grey);
}

TEST(PngTest, FlatImagesCompressToAFewHundredthsOfTheirSize) {
  const std::vector<std::uint8_t> flat(500 * 400 * 3, 255);
  const auto png = encode(flat.data(), flat.size(), 500, 400, 3);
  EXPECT_LT(png.size(), flat.size() / 200);
  EXPECT_EQ(decode_png(png).pixels, flat);
}

TEST(PngTest, LargeImagesAreSplitIntoSeveralIdatChunksThatDecodeTogether) {
  // Noise does not compress, so 1.5 MB of it needs more than one bounded IDAT chunk.
  const int w = 1024, h = 512;
  const auto px = noise(static_cast<std::size_t>(w) * h * 3, /*seed=*/5);
  const auto d = decode_png(encode(px.data(), px.size(), w, h, 3));
  EXPECT_GE(std::count(d.chunk_types.begin(), d.chunk_types.end(), "IDAT"), 2);
  EXPECT_EQ(d.pixels, px);
}

TEST(PngTest, RejectsEmptySizesOtherChannelCountsAndMismatchedBuffers) {
  const std::vector<std::uint8_t> px(12, 0);
  EXPECT_THROW(encode(px.data(), px.size(), 0, 4, 3), Error);
  EXPECT_THROW(encode(px.data(), px.size(), 4, -1, 3), Error);
  EXPECT_THROW(encode(px.data(), px.size(), 2, 3, 2), Error);  // 2 channels (grey + alpha) not offered
  EXPECT_THROW(encode(px.data(), px.size(), 2, 2, 4), Error);  // 16 bytes needed
  EXPECT_THROW(encode(px.data(), px.size() - 1, 2, 2, 3), Error);
  EXPECT_THROW(encode(nullptr, 12, 2, 2, 3), Error);
  EXPECT_NO_THROW(encode(px.data(), px.size(), 2, 2, 3));
}

TEST(PngTest, DecoderNoticesACorruptedByte) {
  // Guards the tests above: a decoder that accepted anything would make them vacuous.
  const auto px = noise(64 * 64 * 3, /*seed=*/9);
  auto png = encode(px.data(), px.size(), 64, 64, 3);
  ASSERT_NO_THROW(decode_png(png));
  png[png.size() / 2] ^= 0x10;  // inside IDAT
  EXPECT_THROW(decode_png(png), std::runtime_error);
}

}  // namespace
}  // namespace mnemo::png
