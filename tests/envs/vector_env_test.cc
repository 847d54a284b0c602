// VectorEnv tests: gym-style auto-reset (first flag, final observation, episode statistics),
// seeding (reproducible, distinct per env and per episode), action validation, and the batch
// layout for multi-field observations, box actions and infos.
#include "envs/vector_env.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "envs/cartpole.h"

namespace mnemo::envs {
namespace {

// A test env with two observation fields, a box action and an info, to cover what CartPole
// does not: pos += a0 + a1 (each clipped to [-1, 1]), reward a0, terminates after 3 steps,
// success when pos ended above 5. Its success info is cleared by reset, so a pool that read infos
// after auto-reset would report 0.
class Drift : public Env {
 public:
  Drift()
      : spec_{{{"pos", DType::kFloat32, {1}}, {"tick", DType::kInt64, {}}}},
        space_(ActionSpace::box({-1.0, -1.0}, {1.0, 1.0})) {}
  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"success"}; }
  void infos(float* out) const override { out[0] = success_; }

  void reset(std::uint64_t seed, const ObsSlot& out) override {
    pos_ = static_cast<float>(seed % 1000) / 1000.0f;
    tick_ = 0;
    success_ = 0.0f;
    write(out);
  }
  StepResult step(const void* action, const ObsSlot& out) override {
    validate_action(action, space_);
    const float* a = static_cast<const float*>(action);
    const float a0 = std::clamp(a[0], -1.0f, 1.0f);
    pos_ += a0 + std::clamp(a[1], -1.0f, 1.0f);
    ++tick_;
    const bool done = tick_ == 3;
    success_ = done && pos_ > 5.0f ? 1.0f : 0.0f;
    write(out);
    return {/*reward=*/a0, /*terminated=*/done, /*truncated=*/false};
  }

 private:
  void write(const ObsSlot& out) const {
    *out.as<float>(0) = pos_;
    *out.as<std::int64_t>(1) = tick_;
  }
  Spec spec_;
  ActionSpace space_;
  float pos_ = 0.0f;
  std::int64_t tick_ = 0;
  float success_ = 0.0f;
};

EnvFactory cartpoles(std::int64_t max_steps = 500) {
  return [max_steps](std::size_t) { return std::make_unique<CartPole>(CartPoleOptions{max_steps}); };
}

// The shape is explicit because from_vector makes a one-element vector a scalar.
Array discrete_actions(const std::vector<std::int64_t>& a) {
  return Array::from_vector<std::int64_t>(a, {static_cast<std::int64_t>(a.size())});
}

std::vector<float> row(const Array& a, std::int64_t i, std::int64_t width) {
  const float* p = a.data<float>() + i * width;
  return std::vector<float>(p, p + width);
}

bool in_terminal_region(const std::vector<float>& obs) {
  const double theta_limit = 12 * 2 * 3.14159265358979323846 / 360;
  return std::abs(obs[0]) > 2.4 || std::abs(obs[2]) > theta_limit;
}

TEST(VectorEnvTest, BuffersAreBatchedPerFieldWithEnvIdsInOrder) {
  VectorEnv venv(/*num_envs=*/3, [](std::size_t) { return std::make_unique<Drift>(); });
  const StepBatch& b = venv.batch();
  EXPECT_EQ(venv.num_envs(), 3u);
  EXPECT_EQ(b.size(), 3);
  ASSERT_EQ(b.obs.size(), 2u);
  EXPECT_EQ(b.obs[0].dtype(), DType::kFloat32);
  EXPECT_EQ(b.obs[0].shape(), (Shape{3, 1}));
  EXPECT_EQ(b.obs[1].dtype(), DType::kInt64);
  EXPECT_EQ(b.obs[1].shape(), (Shape{3}));
  EXPECT_EQ(b.final_obs[1].shape(), (Shape{3}));
  EXPECT_EQ(b.reward.dtype(), DType::kFloat32);
  EXPECT_EQ(b.terminated.dtype(), DType::kUInt8);
  EXPECT_EQ(b.truncated.dtype(), DType::kUInt8);
  EXPECT_EQ(b.first.dtype(), DType::kUInt8);
  EXPECT_EQ(b.episode_return.dtype(), DType::kFloat32);
  EXPECT_EQ(b.episode_length.dtype(), DType::kInt64);
  EXPECT_EQ(b.infos.shape(), (Shape{3, 1}));
  EXPECT_EQ(venv.info_names(), std::vector<std::string>{"success"});
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_EQ(b.env_id.data<std::int64_t>()[i], i);
}

TEST(VectorEnvTest, ResetMarksEveryRowFirstAndClearsTransitionFields) {
  VectorEnv venv(/*num_envs=*/4, cartpoles());
  const StepBatch& b = venv.reset(/*base_seed=*/0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(b.first.data<std::uint8_t>()[i], 1);
    EXPECT_EQ(b.terminated.data<std::uint8_t>()[i], 0);
    EXPECT_EQ(b.truncated.data<std::uint8_t>()[i], 0);
    EXPECT_EQ(b.reward.data<float>()[i], 0.0f);
    for (float v : row(b.obs[0], i, 4)) EXPECT_LE(std::abs(v), 0.05f);
  }
  venv.step(discrete_actions({0, 1, 0, 1}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.first.data<std::uint8_t>()[i], 0);
}

TEST(VectorEnvTest, AutoResetReportsTheEndedEpisodeAndStartsAFreshOne) {
  constexpr int kEnvs = 2;
  VectorEnv venv(kEnvs, cartpoles());
  const StepBatch& b = venv.reset(/*base_seed=*/5);
  std::vector<std::int64_t> steps_in_episode(kEnvs, 0);
  int ended = 0;
  // Always pushing right topples the pole in about ten steps, so this sees several episodes.
  for (int t = 0; t < 100; ++t) {
    venv.step(discrete_actions({1, 1}));
    for (int i = 0; i < kEnvs; ++i) {
      ++steps_in_episode[i];
      const bool done = b.terminated.data<std::uint8_t>()[i] != 0;
      ASSERT_EQ(b.truncated.data<std::uint8_t>()[i], 0);
      ASSERT_EQ(b.reward.data<float>()[i], 1.0f);
      ASSERT_EQ(b.first.data<std::uint8_t>()[i], done ? 1 : 0) << "step " << t << " env " << i;
      if (!done) continue;
      ++ended;
      EXPECT_TRUE(in_terminal_region(row(b.final_obs[0], i, 4))) << "final obs must be the terminal one";
      for (float v : row(b.obs[0], i, 4)) EXPECT_LE(std::abs(v), 0.05f) << "obs must start a new episode";
      EXPECT_EQ(dynamic_cast<CartPole&>(venv.env(i)).elapsed_steps(), 0);
      EXPECT_EQ(b.episode_length.data<std::int64_t>()[i], steps_in_episode[i]);
      EXPECT_EQ(b.episode_return.data<float>()[i], static_cast<float>(steps_in_episode[i]));
      steps_in_episode[i] = 0;
    }
  }
  EXPECT_GE(ended, 10);
}

TEST(VectorEnvTest, FinalObservationOfATruncatedEpisodeIsWhatTheLastStepProduced) {
  VectorEnv venv(/*num_envs=*/1, cartpoles(/*max_steps=*/3));
  const StepBatch& b = venv.reset(/*base_seed=*/11);
  venv.step(discrete_actions({0}));
  venv.step(discrete_actions({1}));
  // Replays the last step on a twin to know the observation the pool must keep.
  CartPole twin;
  std::vector<float> twin_obs(4);
  ObsSlot slot({twin_obs.data()});
  twin.reset(/*seed=*/0, slot);
  twin.set_state(dynamic_cast<CartPole&>(venv.env(0)).state());
  const std::int64_t action = 0;
  twin.step(&action, slot);

  venv.step(discrete_actions({action}));
  EXPECT_EQ(b.truncated.data<std::uint8_t>()[0], 1);
  EXPECT_EQ(b.terminated.data<std::uint8_t>()[0], 0);
  EXPECT_EQ(b.first.data<std::uint8_t>()[0], 1);
  EXPECT_EQ(row(b.final_obs[0], 0, 4), twin_obs);
  EXPECT_NE(row(b.obs[0], 0, 4), twin_obs);
  EXPECT_EQ(b.episode_length.data<std::int64_t>()[0], 3);
  EXPECT_EQ(b.episode_return.data<float>()[0], 3.0f);
}

TEST(VectorEnvTest, SameBaseSeedReproducesTheRunAcrossAutoResets) {
  constexpr int kEnvs = 4;
  VectorEnv a(kEnvs, cartpoles()), b(kEnvs, cartpoles());
  a.reset(/*base_seed=*/7);
  b.reset(/*base_seed=*/7);
  int resets = 0;
  for (int t = 0; t < 300; ++t) {
    std::vector<std::int64_t> actions(kEnvs);
    for (int i = 0; i < kEnvs; ++i) actions[i] = (t / (i + 1)) % 2;
    a.step(discrete_actions(actions));
    b.step(discrete_actions(actions));
    const StepBatch& x = a.batch();
    const StepBatch& y = b.batch();
    ASSERT_EQ(std::memcmp(x.obs[0].raw(), y.obs[0].raw(), x.obs[0].nbytes()), 0) << "step " << t;
    ASSERT_EQ(std::memcmp(x.first.raw(), y.first.raw(), x.first.nbytes()), 0) << "step " << t;
    ASSERT_EQ(std::memcmp(x.terminated.raw(), y.terminated.raw(), x.terminated.nbytes()), 0) << "step " << t;
    for (int i = 0; i < kEnvs; ++i) resets += x.first.data<std::uint8_t>()[i];
  }
  EXPECT_GT(resets, 0);
}

TEST(VectorEnvTest, DifferentBaseSeedsGiveDifferentEpisodes) {
  VectorEnv a(/*num_envs=*/2, cartpoles()), b(/*num_envs=*/2, cartpoles());
  a.reset(/*base_seed=*/1);
  b.reset(/*base_seed=*/2);
  EXPECT_NE(row(a.batch().obs[0], 0, 4), row(b.batch().obs[0], 0, 4));
  EXPECT_NE(row(a.batch().obs[0], 1, 4), row(b.batch().obs[0], 1, 4));
}

TEST(VectorEnvTest, EachEnvAndEachEpisodeGetsItsOwnSeed) {
  constexpr int kEnvs = 8;
  VectorEnv venv(kEnvs, cartpoles());
  const StepBatch& b = venv.reset(/*base_seed=*/0);
  for (int i = 0; i < kEnvs; ++i)
    for (int j = i + 1; j < kEnvs; ++j) EXPECT_NE(row(b.obs[0], i, 4), row(b.obs[0], j, 4)) << i << " vs " << j;

  // Pools of neighbouring actors (base seeds 0 and 1) must not share an env's stream.
  VectorEnv neighbour(kEnvs, cartpoles());
  neighbour.reset(/*base_seed=*/1);
  EXPECT_NE(row(b.obs[0], 1, 4), row(neighbour.batch().obs[0], 0, 4));

  // An auto-reset draws the next seed of the env's stream, not the first one again.
  const std::vector<float> first_episode_start = row(b.obs[0], 0, 4);
  while (b.terminated.data<std::uint8_t>()[0] == 0) venv.step(discrete_actions(std::vector<std::int64_t>(kEnvs, 1)));
  EXPECT_NE(row(b.obs[0], 0, 4), first_episode_start);
}

TEST(VectorEnvTest, ActionsOfTheWrongDtypeOrShapeThrow) {
  VectorEnv venv(/*num_envs=*/3, cartpoles());
  venv.reset(/*base_seed=*/0);
  EXPECT_THROW(venv.step(Array::from_vector<float>({0, 1, 0})), Error);
  EXPECT_THROW(venv.step(Array::from_vector<std::int32_t>({0, 1, 0})), Error);
  EXPECT_THROW(venv.step(discrete_actions({0, 1})), Error);
  EXPECT_THROW(venv.step(discrete_actions({0, 1, 0, 1})), Error);
  EXPECT_THROW(venv.step(Array::from_vector<std::int64_t>({0, 1, 0}, {3, 1})), Error);
  try {
    venv.step(Array::from_vector<float>({0, 1, 0}));
    FAIL() << "float actions were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int64[3]"), std::string::npos) << e.what();
  }
}

TEST(VectorEnvTest, OutOfRangeActionThrowsBeforeAnyEnvMoves) {
  VectorEnv venv(/*num_envs=*/3, cartpoles());
  const StepBatch& b = venv.reset(/*base_seed=*/0);
  const Array obs_before = b.obs[0].clone();
  try {
    venv.step(discrete_actions({0, 1, 5}));
    FAIL() << "action 5 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("env 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::memcmp(obs_before.raw(), b.obs[0].raw(), obs_before.nbytes()), 0);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(dynamic_cast<CartPole&>(venv.env(i)).elapsed_steps(), 0);
}

TEST(VectorEnvTest, StepBeforeResetThrows) {
  VectorEnv venv(/*num_envs=*/2, cartpoles());
  EXPECT_THROW(venv.step(discrete_actions({0, 0})), Error);
}

TEST(VectorEnvTest, BoxActionsAreRowsOfFloatsAndNonFiniteValuesThrow) {
  VectorEnv venv(/*num_envs=*/2, [](std::size_t) { return std::make_unique<Drift>(); });
  const StepBatch& b = venv.reset(/*base_seed=*/0);
  const float pos0 = b.obs[0].data<float>()[0];
  const float pos1 = b.obs[0].data<float>()[1];
  venv.step(Array::from_vector<float>({0.5f, 0.25f, -1.0f, 3.0f}, {2, 2}));
  EXPECT_FLOAT_EQ(b.obs[0].data<float>()[0], pos0 + 0.75f);
  EXPECT_FLOAT_EQ(b.obs[0].data<float>()[1], pos1 + 0.0f);  // 3.0 is clipped to 1.0 by the env
  EXPECT_EQ(b.obs[1].data<std::int64_t>()[0], 1);
  EXPECT_EQ(b.reward.data<float>()[0], 0.5f);
  EXPECT_EQ(b.reward.data<float>()[1], -1.0f);

  EXPECT_THROW(venv.step(Array::from_vector<float>({0.0f, 0.0f})), Error);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(venv.step(Array::from_vector<float>({0.0f, 0.0f, nan, 0.0f}, {2, 2})), Error);
}

TEST(VectorEnvTest, InfosDescribeTheTransitionThatEndedTheEpisode) {
  VectorEnv venv(/*num_envs=*/2, [](std::size_t) { return std::make_unique<Drift>(); });
  const StepBatch& b = venv.reset(/*base_seed=*/3);
  const Array push = Array::from_vector<float>({1.0f, 1.0f, -1.0f, -1.0f}, {2, 2});
  for (int t = 0; t < 3; ++t) venv.step(push);
  ASSERT_EQ(b.terminated.data<std::uint8_t>()[0], 1);
  ASSERT_EQ(b.first.data<std::uint8_t>()[0], 1);
  EXPECT_EQ(b.infos.data<float>()[0], 1.0f);  // row 0 ended above 5
  EXPECT_EQ(b.infos.data<float>()[1], 0.0f);
  EXPECT_EQ(b.obs[1].data<std::int64_t>()[0], 0);        // new episode
  EXPECT_EQ(b.final_obs[1].data<std::int64_t>()[0], 3);  // the ended one
  EXPECT_GT(b.final_obs[0].data<float>()[0], 5.0f);
}

TEST(VectorEnvTest, EnvsThatDeclareDifferentSpecsCannotShareAPool) {
  const EnvFactory mixed = [](std::size_t i) -> std::unique_ptr<Env> {
    if (i == 0) return std::make_unique<CartPole>();
    return std::make_unique<Drift>();
  };
  EXPECT_THROW(VectorEnv(/*num_envs=*/2, mixed), Error);
}

TEST(VectorEnvTest, ZeroEnvsIsAConfigError) { EXPECT_THROW(VectorEnv(/*num_envs=*/0, cartpoles()), ConfigError); }

}  // namespace
}  // namespace mnemo::envs
