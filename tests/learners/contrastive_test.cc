// The contrastive losses (learners/contrastive.h) and encoder files (core/models/encoders.h):
// ATC leaves out pairs that cross an episode boundary, both losses teach an encoder to pick each
// anchor's positive out of the batch, the target encoder follows its moving average, the state
// survives a checkpoint, and encoder files refuse another encoder's shape or type by name.
#include "learners/contrastive.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/check.h"
#include "core/models/encoders.h"
#include "core/models/safetensors.h"

namespace mnemo::learners {
namespace {
namespace fs = std::filesystem;

const Spec kImage{{{"pixels", DType::kUInt8, {12, 12, 3}}}};

nn::ModelOptions small_cnn() {
  nn::ModelOptions m;
  m.encoder = "impala";
  m.impala_channels = {8};
  m.cnn_features = 32;
  return m;
}

// B episodes of T frames: a 3x3 white square that starts at a random place and drifts one pixel
// per step in its episode's direction. Flat float observations [T, B, 432], first [T, B].
std::pair<torch::Tensor, torch::Tensor> drifting_squares(int64_t T, int64_t B, at::Generator& gen) {
  auto obs = torch::zeros({T, B, 12, 12, 3});
  auto start = torch::randint(0, 9, {B, 2}, gen, torch::kLong);
  auto dir = torch::randint(-1, 2, {B, 2}, gen, torch::kLong);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t y = std::clamp<int64_t>(start[b][0].item<int64_t>() + t * dir[b][0].item<int64_t>(), 0, 9);
      const int64_t x = std::clamp<int64_t>(start[b][1].item<int64_t>() + t * dir[b][1].item<int64_t>(), 0, 9);
      obs[t][b].narrow(0, y, 3).narrow(1, x, 3).fill_(255);
    }
  auto first = torch::zeros({T, B}, torch::kBool);
  first[0].fill_(true);
  return {obs.reshape({T, B, 12 * 12 * 3}), first};
}

ContrastiveOptions options(const std::string& type) {
  ContrastiveOptions o;
  o.type = type;
  o.batch = 32;
  o.augment.shift_pad = 1;
  return o;
}

TEST(ContrastiveTest, AtcLeavesOutPairsThatCrossAnEpisodeBoundary) {
  torch::manual_seed(0);
  auto encoder = nn::make_encoder(small_cnn(), kImage);
  Contrastive atc(options("atc"), small_cnn(), kImage, *encoder);
  auto gen = nn::make_generator(1);
  auto obs = torch::rand({4, 2, 12 * 12 * 3}) * 255;
  // Sequence 0: episodes start at steps 0 and 2, so (0, 1) and (2, 3) pair but (1, 2) does not;
  // sequence 1: one episode, three pairs.
  auto first = torch::tensor({1, 1, 0, 0, 1, 0, 0, 0}, torch::kBool).reshape({4, 2});
  EXPECT_EQ(atc->loss(obs, first, gen).pairs, 5);
  // With delta 2 only (0, 2) of sequence 1 and (1, 3) of it remain.
  auto o = options("atc");
  o.delta = 2;
  Contrastive atc2(o, small_cnn(), kImage, *encoder);
  EXPECT_EQ(atc2->loss(obs, first, gen).pairs, 2);
  // Every step a new episode: nothing to contrast.
  auto all_first = torch::ones({4, 2}, torch::kBool);
  try {
    atc->loss(obs, all_first, gen);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("same episode"), std::string::npos) << e.what();
  }
}

// Trained alone, each loss makes its encoder pick the positive out of 32 far more often than by
// chance (1/32; some squares of the batch share a place, so 100% is out of reach).
void expect_learns(const std::string& type) {
  torch::manual_seed(0);
  auto encoder = nn::make_encoder(small_cnn(), kImage);
  Contrastive c(options(type), small_cnn(), kImage, *encoder);
  std::vector<torch::Tensor> params = encoder->parameters();
  for (const auto& p : c->trained_parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  auto gen = nn::make_generator(2);
  auto [obs, first] = drifting_squares(8, 16, gen);
  double first_acc = 0, last_acc = 0, first_loss = 0, last_loss = 0;
  for (int step = 0; step < 150; ++step) {
    auto r = c->loss(obs, first, gen);
    opt.zero_grad();
    r.loss.backward();
    opt.step();
    c->update_target();
    if (step < 10) {
      first_acc += r.accuracy / 10;
      first_loss += r.loss.item<double>() / 10;
    }
    if (step >= 140) {
      last_acc += r.accuracy / 10;
      last_loss += r.loss.item<double>() / 10;
    }
  }
  // The loss falls by more than a nat and the accuracy ends far above chance (1/32) and above an
  // untrained encoder's (2/32 at step 0). It is not compared with the first ten steps' accuracy,
  // which depends on the CPU's float rounding: below a third of the end's where this test passed
  // at first, 0.27 against 0.26 at the end on a machine where it failed (its loss still fell by
  // more than a nat).
  EXPECT_LT(last_loss, first_loss - 1.0) << type;
  EXPECT_GT(last_acc, 0.2) << type << " (first steps: " << first_acc << ")";
}

TEST(ContrastiveTest, AtcTeachesTheEncoderToFindTheNextFrame) { expect_learns("atc"); }
TEST(ContrastiveTest, CurlTeachesTheEncoderToFindTheOtherAugmentation) { expect_learns("curl"); }

TEST(ContrastiveTest, TheTargetEncoderIsAMovingAverageOfTheOnlineOne) {
  auto encoder = nn::make_encoder(small_cnn(), kImage);
  auto o = options("curl");
  o.tau = 0.25;
  Contrastive c(o, small_cnn(), kImage, *encoder);
  auto target = c->named_parameters();
  auto online = encoder->parameters();
  std::vector<torch::Tensor> before;
  for (const auto& p : c->named_parameters())
    if (p.key().rfind("target.", 0) == 0) before.push_back(p.value().clone());
  ASSERT_EQ(before.size(), online.size());
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], online[i]));  // a copy at first
  {
    torch::NoGradGuard g;
    for (auto& p : online) p.add_(1.0);
  }
  c->update_target();
  std::size_t i = 0;
  for (const auto& p : c->named_parameters())
    if (p.key().rfind("target.", 0) == 0) {
      EXPECT_TRUE(torch::allclose(p.value(), before[i] + 0.25)) << p.key();
      EXPECT_FALSE(p.value().requires_grad()) << p.key();
      ++i;
    }
  // W and the predictor train; the target does not.
  for (const auto& p : c->trained_parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(ContrastiveTest, ItsStateSurvivesACheckpoint) {
  fs::path dir = fs::temp_directory_path() / ("mnemo-contrastive-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  torch::manual_seed(0);
  auto encoder = nn::make_encoder(small_cnn(), kImage);
  Contrastive a(options("atc"), small_cnn(), kImage, *encoder);
  {
    torch::NoGradGuard g;
    for (auto& p : a->parameters()) p.add_(0.5);
  }
  a->save(dir);
  torch::manual_seed(1);
  Contrastive b(options("atc"), small_cnn(), kImage, *encoder);
  b->load(dir, torch::kCPU);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  fs::remove(dir / "aux.pt");
  EXPECT_THROW(b->load(dir, torch::kCPU), Error);
  fs::remove_all(dir);
}

TEST(ContrastiveTest, BadOptionsAreClearErrors) {
  auto encoder = nn::make_encoder(small_cnn(), kImage);
  auto o = options("simclr");
  EXPECT_THROW(o.validate("learner.aux"), ConfigError);
  o = options("atc");
  o.batch = 1;
  EXPECT_THROW(o.validate("learner.aux"), ConfigError);
  // CURL on vectors without a transform would contrast a frame with itself.
  const Spec vec{{{"obs", DType::kFloat32, {6}}}};
  nn::ModelOptions mlp;
  auto vec_encoder = nn::make_encoder(mlp, vec);
  EXPECT_THROW(Contrastive(options("curl"), mlp, vec, *vec_encoder), ConfigError);
  auto noisy = options("curl");
  noisy.augment.ops = {"noise"};
  EXPECT_NO_THROW(Contrastive(noisy, mlp, vec, *vec_encoder));
}

std::string load_error(const fs::path& file, const nn::ModelOptions& m, const Spec& spec) {
  auto encoder = nn::make_encoder(m, spec);
  try {
    nn::load_encoder(file, *encoder, m, spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(EncoderFileTest, RoundTripsAndRefusesAnotherEncoderByName) {
  fs::path file = fs::temp_directory_path() / ("mnemo-encoder-" + std::to_string(::getpid()) + ".safetensors");
  torch::manual_seed(3);
  auto saved = nn::make_encoder(small_cnn(), kImage);
  nn::save_encoder(file, *saved, small_cnn(), kImage, {{"mnemo.trained_by", "atc"}});
  torch::manual_seed(4);
  auto loaded = nn::make_encoder(small_cnn(), kImage);
  nn::load_encoder(file, *loaded, small_cnn(), kImage);
  auto x = torch::rand({2, 12 * 12 * 3}) * 255;
  EXPECT_TRUE(torch::equal(saved->forward(x), loaded->forward(x)));
  EXPECT_EQ(load_safetensors(file).metadata.at("mnemo.trained_by"), "atc");

  auto nature = small_cnn();
  nature.encoder = "mlp";
  EXPECT_NE(load_error(file, nature, kImage).find("holds a impala encoder, the model has a mlp encoder"), std::string::npos)
      << load_error(file, nature, kImage);
  const Spec bigger{{{"pixels", DType::kUInt8, {16, 12, 3}}}};
  EXPECT_NE(load_error(file, small_cnn(), bigger).find("encodes observations"), std::string::npos)
      << load_error(file, small_cnn(), bigger);
  auto wider = small_cnn();
  wider.cnn_features = 64;
  EXPECT_NE(load_error(file, wider, kImage).find("encodes to 32 features"), std::string::npos)
      << load_error(file, wider, kImage);
  auto deeper = small_cnn();
  deeper.impala_channels = {16};
  EXPECT_NE(load_error(file, deeper, kImage).find("has shape"), std::string::npos) << load_error(file, deeper, kImage);
  save_safetensors(file, {{"w", torch::zeros({2})}});
  EXPECT_NE(load_error(file, small_cnn(), kImage).find("is no encoder file"), std::string::npos);
  fs::remove(file);
}

TEST(EncoderFileTest, FreezingAPolicysEncoderStopsItsGradientsOnly) {
  nn::ModelOptions m = small_cnn();
  m.type = "lstm";
  m.d_model = 16;
  m.freeze_encoder = true;
  auto policy = nn::make_policy(m, kImage, ActionSpace::discrete(3));
  nn::prepare_encoder(*policy, m, kImage);
  for (const auto& p : policy->encoder()->parameters()) EXPECT_FALSE(p.requires_grad());
  int64_t trained = 0;
  for (const auto& p : policy->parameters()) trained += p.requires_grad() ? 1 : 0;
  EXPECT_GT(trained, 0);
  nn::ModelOptions vec;
  vec.freeze_encoder = true;
  auto mlp = nn::make_policy(vec, 4, ActionSpace::discrete(2));
  EXPECT_THROW(nn::prepare_encoder(*mlp, vec, Spec{{{"obs", DType::kFloat32, {4}}}}), ConfigError);
}

}  // namespace
}  // namespace mnemo::learners
