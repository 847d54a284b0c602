// The augmentation chain (learners/augment.h): every transform keeps shapes, dtypes and the image
// range, is the identity at zero strength, draws once per row, is reproducible from its seed, and
// does what it says on frames where the answer is known.
#include "learners/augment.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/models/models.h"

namespace mnemo::learners {
namespace {

// [N, K, H, W, C] uint8 frames with every pixel distinct within a frame (mod 256) and rows that
// differ, so that a moved pixel is visible.
torch::Tensor frames(int64_t N, int64_t K, int64_t H, int64_t W, int64_t C, uint64_t seed = 7) {
  auto gen = nn::make_generator(seed);
  return torch::randint(256, {N, K, H, W, C}, gen, torch::kLong).to(torch::kUInt8);
}

// The same frame K times in each row.
torch::Tensor repeated(const torch::Tensor& x, int64_t K) { return x.narrow(1, 0, 1).expand({-1, K, -1, -1, -1}).contiguous(); }

using Op = std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>;

std::vector<std::pair<std::string, Op>> all_ops() {
  return {{"shift", [](auto& x, auto& g) { return augment::shift(x, 2, g); }},
          {"crop", [](auto& x, auto& g) { return augment::crop(x, 0.7, g); }},
          {"cutout", [](auto& x, auto& g) { return augment::cutout(x, 0.2, 0.5, g); }},
          {"jitter", [](auto& x, auto& g) { return augment::jitter(x, 0.4, 0.4, 0.4, 0.1, g); }},
          {"grayscale", [](auto& x, auto& g) { return augment::grayscale(x, 0.5, g); }},
          {"flip", [](auto& x, auto& g) { return augment::flip(x, 0.5, g); }}};
}

TEST(AugmentTest, EveryImageTransformKeepsShapeDtypeAndRangeAndDrawsOncePerRow) {
  auto x = repeated(frames(16, 3, 12, 10, 3), 3);
  for (auto dtype : {torch::kUInt8, torch::kFloat32}) {
    auto in = x.to(dtype);
    for (const auto& [name, op] : all_ops()) {
      auto gen = nn::make_generator(1);
      auto y = op(in, gen);
      EXPECT_EQ(y.sizes(), in.sizes()) << name;
      EXPECT_EQ(y.scalar_type(), dtype) << name;
      auto f = y.to(torch::kFloat64);
      EXPECT_TRUE(torch::equal(f, f.round())) << name << ": not integral";
      EXPECT_GE(f.min().item<double>(), 0) << name;
      EXPECT_LE(f.max().item<double>(), 255) << name;
      // The K frames of a row were equal and got the same draw.
      for (int64_t k = 1; k < 3; ++k) EXPECT_TRUE(torch::equal(y.select(1, k), y.select(1, 0))) << name;
      EXPECT_FALSE(torch::equal(y, in)) << name << " changed nothing";
      // Reproducible from the seed; another seed draws otherwise.
      auto again = nn::make_generator(1), other = nn::make_generator(2);
      EXPECT_TRUE(torch::equal(op(in, again), y)) << name;
      EXPECT_FALSE(torch::equal(op(in, other), y)) << name;
    }
  }
}

TEST(AugmentTest, EveryTransformIsTheIdentityAtZeroStrength) {
  auto x = frames(4, 2, 8, 6, 3);
  auto gen = nn::make_generator(3);
  for (auto in : {x, x.to(torch::kFloat32)}) {
    EXPECT_TRUE(torch::equal(augment::shift(in, 0, gen), in));
    EXPECT_TRUE(torch::equal(augment::crop(in, 1.0, gen), in));
    EXPECT_TRUE(torch::equal(augment::cutout(in, 0, 0, gen), in));
    EXPECT_TRUE(torch::equal(augment::jitter(in, 0, 0, 0, 0, gen), in));
    EXPECT_TRUE(torch::equal(augment::grayscale(in, 0, gen), in));
    EXPECT_TRUE(torch::equal(augment::flip(in, 0, gen), in));
  }
  auto v = torch::randn({4, 2, 5});
  EXPECT_TRUE(torch::equal(augment::amplitude(v, 1, 1, gen), v));
  EXPECT_TRUE(torch::equal(augment::noise(v, 0, gen), v));
  // A whole chain at zero strength, through the learner's batch path.
  AugmentOptions o;
  o.ops = {"shift", "crop", "cutout", "jitter", "grayscale", "flip"};
  o.shift_pad = 0;
  o.crop_scale = 1;
  o.cutout_min = o.cutout_max = 0;
  o.brightness = o.contrast = o.saturation = o.hue = 0;
  o.grayscale_p = o.flip_p = 0;
  Augmenter a(o, Spec{{{"pixels", DType::kUInt8, {8, 6, 3}}}}, "learner.augment");
  auto flat = x.to(torch::kFloat32).reshape({4, 2, 8 * 6 * 3});
  EXPECT_TRUE(torch::equal(a.apply_flat(flat, gen), flat));
}

// Shift: each row is the frame moved by one offset in [-pad, pad]^2 with its edge pixels repeated.
TEST(AugmentTest, ShiftMovesEachRowByOneOffsetWithinThePadding) {
  const int64_t H = 9, W = 7, pad = 2;
  auto x = frames(32, 2, H, W, 3);
  auto gen = nn::make_generator(5);
  auto y = augment::shift(x, pad, gen);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t n = 0; n < x.size(0); ++n) {
    bool found = false;
    for (int64_t dy = -pad; dy <= pad && !found; ++dy)
      for (int64_t dx = -pad; dx <= pad && !found; ++dx) {
        auto rows = (torch::arange(H) + dy).clamp(0, H - 1), cols = (torch::arange(W) + dx).clamp(0, W - 1);
        auto want = x[n].index_select(1, rows).index_select(2, cols);
        if (torch::equal(y[n], want)) {
          found = true;
          seen.insert({dy, dx});
        }
      }
    EXPECT_TRUE(found) << "row " << n << " is no shift of its frame";
  }
  EXPECT_GT(seen.size(), 5u) << "the offsets are not random";
}

TEST(AugmentTest, CropReadsAWindowOfTheFrameAndFlipMirrorsIt) {
  auto x = frames(8, 1, 10, 10, 3);
  auto gen = nn::make_generator(5);
  auto y = augment::crop(x, 0.5, gen);
  for (int64_t n = 0; n < 8; ++n) {
    // A 5x5 window resized to 10x10 by nearest neighbour: pixel pairs repeat.
    auto window = y[n][0].index_select(0, torch::arange(0, 10, 2)).index_select(1, torch::arange(0, 10, 2));
    bool found = false;
    for (int64_t y0 = 0; y0 <= 5 && !found; ++y0)
      for (int64_t x0 = 0; x0 <= 5 && !found; ++x0)
        found = torch::equal(window, x[n][0].narrow(0, y0, 5).narrow(1, x0, 5));
    EXPECT_TRUE(found) << "row " << n;
  }
  auto flipped = augment::flip(x, 1.0, gen);
  EXPECT_TRUE(torch::equal(flipped, x.flip({3})));
}

TEST(AugmentTest, CutoutBlacksOutOneBoxOfTheDrawnSize) {
  const int64_t H = 20, W = 10;
  auto x = frames(16, 2, H, W, 3).clamp_min(1);  // no black pixels of its own
  auto gen = nn::make_generator(9);
  auto y = augment::cutout(x, 0.2, 0.4, gen);
  for (int64_t n = 0; n < 16; ++n) {
    auto black = (y[n][0] == 0).all(-1);  // [H, W]
    auto rows = black.any(1).nonzero().squeeze(1), cols = black.any(0).nonzero().squeeze(1);
    ASSERT_GT(rows.numel(), 0) << "row " << n;
    const int64_t h = rows.numel(), w = cols.numel();
    EXPECT_EQ(black.sum().item<int64_t>(), h * w) << "not one box";
    EXPECT_EQ(rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1, h);
    EXPECT_GE(h, 4);
    EXPECT_LE(h, 8);
    EXPECT_GE(w, 2);
    EXPECT_LE(w, 4);
    // Everything outside the box is untouched, in every frame of the row.
    auto keep = black.logical_not().unsqueeze(-1).expand({H, W, 3});
    for (int64_t k = 0; k < 2; ++k) EXPECT_TRUE(torch::equal(y[n][k].masked_select(keep), x[n][k].masked_select(keep)));
  }
}

TEST(AugmentTest, ColourTransformsKeepGraysAndGrayscaleGivesTheLuminance) {
  // Gray pixels stay gray under saturation and hue changes (up to rounding); brightness scales.
  auto g = torch::arange(0, 250, 2, torch::kLong).to(torch::kUInt8).reshape({1, 1, 5, 25, 1}).expand({4, 1, 5, 25, 3});
  auto gen = nn::make_generator(4);
  auto sat_hue = augment::jitter(g, 0, 0, 0.9, 0.5, gen).to(torch::kFloat32);
  EXPECT_LE((sat_hue - g.to(torch::kFloat32)).abs().max().item<float>(), 1.0f);
  auto bright = augment::jitter(g, 0.5, 0, 0, 0, gen).to(torch::kFloat64);
  for (int64_t n = 0; n < 4; ++n) {
    auto in = g[n].to(torch::kFloat64), out = bright[n];
    // The factor, from pixels that no factor up to 1.5 clamps.
    auto mid = (in >= 100) & (in <= 160);
    const double factor = out.masked_select(mid).sum().item<double>() / in.masked_select(mid).sum().item<double>();
    EXPECT_GE(factor, 0.49);
    EXPECT_LE(factor, 1.51);
    // clamp(round(x f)) with one f per row
    auto want = (in * factor).clamp(0, 255).round();
    EXPECT_LE((out - want).abs().max().item<double>(), 2.0) << "row " << n;
  }
  auto x = frames(3, 2, 4, 4, 3);
  auto gray = augment::grayscale(x, 1.0, gen).to(torch::kFloat64);
  auto f = x.to(torch::kFloat64);
  auto lum = (f.select(4, 0) * 0.299 + f.select(4, 1) * 0.587 + f.select(4, 2) * 0.114).round();
  for (int64_t c = 0; c < 3; ++c) EXPECT_LE((gray.select(4, c) - lum).abs().max().item<double>(), 1e-9);
}

TEST(AugmentTest, VectorTransformsScaleEachRowAndAddNoise) {
  auto v = torch::rand({64, 3, 5}) + 0.5;
  auto gen = nn::make_generator(2);
  auto s = augment::amplitude(v, 0.6, 1.4, gen);
  auto ratio = s / v;
  for (int64_t n = 0; n < 64; ++n) {
    EXPECT_NEAR((ratio[n] - ratio[n][0][0]).abs().max().item<float>(), 0.0f, 1e-5);
    EXPECT_GE(ratio[n][0][0].item<float>(), 0.6f - 1e-5f);
    EXPECT_LE(ratio[n][0][0].item<float>(), 1.4f + 1e-5f);
  }
  auto big = torch::zeros({256, 4, 64});
  auto noisy = augment::noise(big, 0.1, gen);
  EXPECT_NEAR(noisy.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(noisy.std().item<double>(), 0.1, 0.01);
}

TEST(AugmentTest, TheLearnerBatchDrawsOncePerSequenceIncludingTheObservationAfterIt) {
  AugmentOptions o;
  o.ops = {"shift", "flip"};
  o.shift_pad = 2;
  Spec spec{{{"pixels", DType::kUInt8, {8, 8, 3}}}};
  Augmenter a(o, spec, "learner.augment");
  const int64_t T = 5, B = 6, D = 8 * 8 * 3;
  // Every step of sequence b (and the observation after it) shows the same frame.
  auto per_seq = frames(1, B, 8, 8, 3).to(torch::kFloat32).reshape({1, B, D});
  SequenceBatch b;
  b.obs = per_seq.expand({T, B, D}).contiguous();
  b.next_obs = per_seq.clone();
  b.rewards = torch::zeros({T, B});
  auto gen = nn::make_generator(1);
  auto out = a.apply(b, gen);
  ASSERT_EQ(out.obs.sizes(), b.obs.sizes());
  ASSERT_EQ(out.next_obs.sizes(), b.next_obs.sizes());
  EXPECT_FALSE(torch::equal(out.obs, b.obs));
  for (int64_t t = 0; t < T; ++t) EXPECT_TRUE(torch::equal(out.obs[t], out.next_obs[0])) << "step " << t;
  // Per frame, the steps of a sequence are drawn apart.
  o.draw = "frame";
  auto framewise = Augmenter(o, spec, "learner.augment").apply(b, gen);
  bool differ = false;
  for (int64_t t = 1; t < T; ++t) differ = differ || !torch::equal(framewise.obs[t], framewise.obs[0]);
  EXPECT_TRUE(differ);
}

TEST(AugmentTest, ConfigErrorsNameTheKeyAndTheMismatch) {
  auto message = [](const AugmentOptions& o, const Spec& spec) {
    try {
      Augmenter(o, spec, "learner.augment");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Spec image{{{"pixels", DType::kUInt8, {8, 8, 3}}}}, gray{{{"pixels", DType::kUInt8, {8, 8, 1}}}},
      vector{{{"obs", DType::kFloat32, {4}}}};
  AugmentOptions o;
  o.ops = {"shfit"};
  EXPECT_NE(message(o, image).find("unknown transform 'shfit'"), std::string::npos) << message(o, image);
  o.ops = {"shift"};
  EXPECT_NE(message(o, vector).find("vectors of 4 values"), std::string::npos) << message(o, vector);
  o.ops = {"noise"};
  EXPECT_NE(message(o, image).find("vector observations"), std::string::npos) << message(o, image);
  o.ops = {"jitter"};
  EXPECT_NE(message(o, gray).find("RGB"), std::string::npos) << message(o, gray);
  o.ops = {"crop"};
  o.crop_scale = 0;
  EXPECT_NE(message(o, image).find("learner.augment.crop_scale"), std::string::npos) << message(o, image);
  o = {};
  o.draw = "episode";
  EXPECT_NE(message(o, image).find("learner.augment.draw"), std::string::npos) << message(o, image);
}

TEST(AugmentTest, CudaFramesGetTheSameAugmentationAsCpuFrames) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto x = frames(8, 2, 12, 10, 3);
  for (const auto& [name, op] : all_ops()) {
    auto g1 = nn::make_generator(11), g2 = nn::make_generator(11);
    auto cpu = op(x, g1);
    auto cuda = op(x.to(torch::kCUDA), g2);
    EXPECT_TRUE(cuda.is_cuda()) << name;
    EXPECT_LE((cuda.cpu().to(torch::kFloat32) - cpu.to(torch::kFloat32)).abs().max().item<float>(), 1.0f) << name;
  }
}

}  // namespace
}  // namespace mnemo::learners
