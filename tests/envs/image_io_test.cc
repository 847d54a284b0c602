// Image writer tests: the GIF LZW stream decodes back to the input with a reference decoder
// (including streams long enough to fill the code table), GIF files have a valid structure and
// exact palettes, frame PNGs decode to their pixels and are compressed, files are written whole;
// and recordings are reproducible and restart episodes.
#include "envs/image_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/core/viz/png_test_util.h"

#include "envs/cartpole.h"
#include "envs/recorder.h"
#include "envs/tmaze.h"

namespace mnemo::envs {
namespace {

// A straightforward GIF LZW decoder, written from the GIF89a specification, independent of the
// encoder's bookkeeping.
std::vector<std::uint8_t> lzw_decode(const std::vector<std::uint8_t>& data, int min_code_size) {
  std::size_t bitpos = 0;
  auto read = [&](int bits) -> int {
    int v = 0;
    for (int i = 0; i < bits; ++i, ++bitpos) {
      if (bitpos / 8 >= data.size()) return -1;
      v |= ((data[bitpos / 8] >> (bitpos % 8)) & 1) << i;
    }
    return v;
  };
  const int clear = 1 << min_code_size, eoi = clear + 1;
  std::vector<std::vector<std::uint8_t>> dict;
  auto reset = [&] {
    dict.clear();
    for (int i = 0; i < clear; ++i) dict.push_back({static_cast<std::uint8_t>(i)});
    dict.push_back({});
    dict.push_back({});
  };
  reset();
  int code_size = min_code_size + 1;
  int prev = -1;
  std::vector<std::uint8_t> out;
  for (;;) {
    const int code = read(code_size);
    if (code < 0) {
      ADD_FAILURE() << "stream ended without an end-of-information code";
      return out;
    }
    if (code == clear) {
      reset();
      code_size = min_code_size + 1;
      prev = -1;
      continue;
    }
    if (code == eoi) return out;
    std::vector<std::uint8_t> entry;
    if (prev < 0) {
      entry = dict.at(static_cast<std::size_t>(code));
    } else {
      if (code < static_cast<int>(dict.size())) {
        entry = dict[static_cast<std::size_t>(code)];
      } else if (code == static_cast<int>(dict.size())) {
        entry = dict[static_cast<std::size_t>(prev)];
        entry.push_back(entry[0]);
      } else {
        ADD_FAILURE() << "code " << code << " beyond the table of " << dict.size();
        return out;
      }
      std::vector<std::uint8_t> added = dict[static_cast<std::size_t>(prev)];
      added.push_back(entry[0]);
      if (dict.size() < 4096) dict.push_back(added);
    }
    out.insert(out.end(), entry.begin(), entry.end());
    prev = code;
    if (static_cast<int>(dict.size()) == (1 << code_size) && code_size < 12) ++code_size;
  }
}

std::vector<std::uint8_t> indices(std::size_t n, int alphabet, std::uint64_t seed, bool runs) {
  Rng rng(seed);
  std::vector<std::uint8_t> v(n);
  std::uint8_t cur = 0;
  for (auto& x : v) {
    if (!runs || rng.below(8) == 0) cur = static_cast<std::uint8_t>(rng.below(static_cast<std::uint64_t>(alphabet)));
    x = cur;
  }
  return v;
}

TEST(ImageIoTest, GifLzwStreamDecodesBackToTheInput) {
  for (int min_code : {2, 3, 8}) {
    const int alphabet = 1 << min_code;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{300}, std::size_t{5000},
                          std::size_t{70000}}) {
      for (bool runs : {false, true}) {
        const auto in = indices(n, alphabet, n * 31 + static_cast<std::size_t>(min_code), runs);
        const auto stream = detail::gif_lzw(in.data(), in.size(), min_code);
        EXPECT_EQ(lzw_decode(stream, min_code), in) << "min code " << min_code << " n " << n << " runs " << runs;
      }
    }
  }
}

TEST(ImageIoTest, GifHasHeaderExactPaletteOneImagePerFrameAndTrailer) {
  Frame a, b;
  a.resize(/*h=*/5, /*w=*/7);
  b.resize(/*h=*/5, /*w=*/7);
  b.pixel(2, 3)[0] = 200;  // a second colour
  const auto gif = encode_gif({a, b, a}, /*delay_cs=*/5);
  ASSERT_GT(gif.size(), 13u);
  EXPECT_EQ(std::string(gif.begin(), gif.begin() + 6), "GIF89a");
  EXPECT_EQ(gif[6] | (gif[7] << 8), 7);
  EXPECT_EQ(gif[8] | (gif[9] << 8), 5);
  EXPECT_EQ(gif[10] & 0x80, 0x80) << "global colour table";
  EXPECT_EQ(gif[10] & 0x07, 0) << "two colours need a table of 2";
  // Palette entries: black and (200, 0, 0), in order of first use.
  EXPECT_EQ(gif[13], 0);
  EXPECT_EQ(gif[16], 200);
  EXPECT_EQ(gif.back(), 0x3B);
  int images = 0;
  for (std::size_t i = 0; i + 1 < gif.size(); ++i)
    if (gif[i] == 0x00 && gif[i + 1] == 0x2C) ++images;  // end of the control extension, then a descriptor
  EXPECT_EQ(images, 3);
}

TEST(ImageIoTest, GifOfManyColoursUsesTheColourCube) {
  Frame f;
  f.resize(/*h=*/32, /*w=*/32);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) {
      f.pixel(y, x)[0] = static_cast<std::uint8_t>(x * 8);
      f.pixel(y, x)[1] = static_cast<std::uint8_t>(y * 8);
      f.pixel(y, x)[2] = 77;
    }
  const auto gif = encode_gif({f}, /*delay_cs=*/10);
  EXPECT_EQ(gif[10] & 0x07, 7) << "a 256-entry table";
}

TEST(ImageIoTest, GifRejectsNoFramesAndFramesOfDifferentSizes) {
  EXPECT_THROW(encode_gif({}, 5), Error);
  Frame a, b;
  a.resize(4, 4);
  b.resize(4, 5);
  EXPECT_THROW(encode_gif({a, b}, 5), Error);
}

TEST(ImageIoTest, PngOfAFrameDecodesToItsPixels) {
  Frame f;
  f.resize(/*h=*/3, /*w=*/2);
  for (std::size_t i = 0; i < f.rgb.size(); ++i) f.rgb[i] = static_cast<std::uint8_t>(i * 13);
  const auto d = mnemo::png::testing::decode_png(encode_png(f));
  EXPECT_EQ(d.width, 2);
  EXPECT_EQ(d.height, 3);
  EXPECT_EQ(d.color_type, 2) << "truecolour";
  EXPECT_EQ(d.pixels, f.rgb);
  EXPECT_EQ(d.chunk_types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
}

TEST(ImageIoTest, RenderedFramePngIsDeflatedToAFractionOfItsPixels) {
  // The writer used to store frames uncompressed; drawn envs are flat colour and shrink many times.
  TMaze env;
  RecordOptions o;
  o.steps = 5;
  const Recording rec = record(env, o);
  ASSERT_FALSE(rec.frames.empty());
  const Frame& f = rec.frames.back();
  const auto png = encode_png(f);
  EXPECT_LT(png.size(), f.rgb.size() / 10) << f.width << "x" << f.height;
  EXPECT_EQ(mnemo::png::testing::decode_png(png).pixels, f.rgb);
}

TEST(ImageIoTest, WriteFileReplacesTheFileAndFailsNamingThePath) {
  const std::string dir = ::testing::TempDir() + "mnemo_image_io_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/frame.png";
  write_file(path, {1, 2, 3});
  write_file(path, {4, 5});
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), std::string("\x04\x05"));
  try {
    write_file(dir + "/missing/frame.png", {1});
    ADD_FAILURE() << "expected mnemo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/frame.png"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(RecorderTest, RecordsAFramePerStepPlusRestartsAndIsReproducible) {
  CartPole env(CartPoleOptions{/*max_steps=*/10});
  RecordOptions o;
  o.steps = 25;
  o.seed = 3;
  const Recording a = record(env, o);
  EXPECT_GE(a.episodes_ended, 2);  // episodes last at most 10 steps
  EXPECT_EQ(a.frames.size(), static_cast<std::size_t>(1 + 25 + a.episodes_ended));
  const Recording b = record(env, o);
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (std::size_t i = 0; i < a.frames.size(); ++i) EXPECT_EQ(a.frames[i].rgb, b.frames[i].rgb);
  EXPECT_FALSE(encode_gif(a.frames, 5).empty());
}

TEST(RecorderTest, RejectsUnknownPoliciesAndStepCounts) {
  TMaze env;
  RecordOptions o;
  o.policy = "greedy";
  EXPECT_THROW(record(env, o), ConfigError);
  o = {};
  o.steps = 0;
  EXPECT_THROW(record(env, o), ConfigError);
}

}  // namespace
}  // namespace mnemo::envs
