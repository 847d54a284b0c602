// T-Maze tests: AGaLiTe's observation layout and rules (cue only at t = 0, Gray-coded position,
// distractors, junction rewards and termination), truncation, determinism and bad input.
#include "envs/tmaze.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;
using testing::step_discrete;

TMaze short_maze(std::int64_t length = 4, std::int64_t distractors = 0) {
  TMazeOptions o;
  o.corridor_length = length;
  o.num_distractors = distractors;
  return TMaze(o);
}

// Walks to the junction (corridor_length - 1 moves right).
void walk_to_junction(TMaze& env, ObsBuffers& obs) {
  for (std::int64_t i = 0; i + 1 < env.options().corridor_length; ++i)
    ASSERT_FALSE(step_discrete(env, TMaze::kRight, obs).terminated);
}

TEST(TMazeTest, DefaultObservationIsAgalitesSixteenFloats) {
  TMaze env;
  ASSERT_EQ(env.observation_spec().fields.size(), 1u);
  EXPECT_EQ(env.observation_spec().fields[0].dtype, DType::kFloat32);
  EXPECT_EQ(env.observation_spec().fields[0].shape, (Shape{16}));  // 2 cue + 8 Gray + 6 distractors
  EXPECT_EQ(env.action_space().n, 4);
  EXPECT_EQ(env.options().corridor_length, 200);
  EXPECT_EQ(env.options().max_steps, 1000);
  EXPECT_EQ(env.info_names(), std::vector<std::string>{"success"});
}

TEST(TMazeTest, CueIsShownOnlyAtFirstStep) {
  TMaze env = short_maze(/*length=*/5);
  ObsBuffers obs(env.observation_spec());
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    env.reset(seed, obs.slot);
    const float* o = obs.as<float>(0);
    // (0, 1) means up, (1, 0) down: exactly one bit, and it names the rewarded arm.
    EXPECT_EQ(o[0] + o[1], 1.0f);
    EXPECT_EQ(o[1] == 1.0f, env.goal() == TMaze::kUp);
    for (int t = 0; t < 3; ++t) {
      step_discrete(env, t % 2 == 0 ? TMaze::kRight : TMaze::kUp, obs);
      EXPECT_EQ(o[0], 0.0f) << "seed " << seed << " step " << t;
      EXPECT_EQ(o[1], 0.0f) << "seed " << seed << " step " << t;
    }
  }
}

TEST(TMazeTest, BothArmsAreRewardedAcrossSeeds) {
  TMaze env = short_maze();
  ObsBuffers obs(env.observation_spec());
  std::set<std::int64_t> goals;
  for (std::uint64_t seed = 0; seed < 32; ++seed) {
    env.reset(seed, obs.slot);
    goals.insert(env.goal());
  }
  EXPECT_EQ(goals.size(), 2u);
}

TEST(TMazeTest, PositionIsGrayCodedMostSignificantBitFirst) {
  TMaze env = short_maze(/*length=*/10);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  for (std::int64_t pos = 0; pos < 10; ++pos) {
    ASSERT_EQ(env.position(), pos);
    const std::int64_t gray = pos ^ (pos >> 1);
    const float* bits = obs.as<float>(0) + 2;
    for (int b = 0; b < 8; ++b) EXPECT_EQ(bits[b], static_cast<float>((gray >> (7 - b)) & 1)) << "pos " << pos;
    step_discrete(env, TMaze::kRight, obs);
  }
}

TEST(TMazeTest, NeighbouringPositionsDifferInOneBit) {
  TMaze env = short_maze(/*length=*/40);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  std::vector<float> prev(obs.as<float>(0) + 2, obs.as<float>(0) + 10);
  for (int t = 0; t < 39; ++t) {
    step_discrete(env, TMaze::kRight, obs);
    std::vector<float> cur(obs.as<float>(0) + 2, obs.as<float>(0) + 10);
    int diff = 0;
    for (int b = 0; b < 8; ++b) diff += prev[b] != cur[b];
    EXPECT_EQ(diff, 1) << "step " << t;
    prev = cur;
  }
}

TEST(TMazeTest, LongCorridorsGetMoreGrayBits) {
  EXPECT_EQ(short_maze(/*length=*/256).gray_bits(), 8);
  EXPECT_EQ(short_maze(/*length=*/257).gray_bits(), 9);
  EXPECT_EQ(short_maze(/*length=*/1000).observation_spec().fields[0].shape, (Shape{2 + 10}));
}

TEST(TMazeTest, DistractorBitsAreZeroAtFirstStepAndRandomAfterwards) {
  TMaze env = short_maze(/*length=*/50, /*distractors=*/70);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/3, obs.slot);
  const float* d = obs.as<float>(0) + 2 + 8;
  for (int j = 0; j < 70; ++j) EXPECT_EQ(d[j], 0.0f);
  int ones = 0, total = 0;
  for (int t = 0; t < 20; ++t) {
    step_discrete(env, TMaze::kRight, obs);
    for (int j = 0; j < 70; ++j) {
      ASSERT_TRUE(d[j] == 0.0f || d[j] == 1.0f);
      ones += d[j] == 1.0f;
      ++total;
    }
  }
  EXPECT_GT(ones, total * 4 / 10);
  EXPECT_LT(ones, total * 6 / 10);
}

TEST(TMazeTest, CorrectTurnAtJunctionPaysAndTerminatesWithSuccess) {
  TMaze env = short_maze(/*length=*/4);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/5, obs.slot);
  walk_to_junction(env, obs);
  const StepResult r = step_discrete(env, env.goal(), obs);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_FLOAT_EQ(r.reward, 4.0f);
  float success = -1;
  env.infos(&success);
  EXPECT_EQ(success, 1.0f);
}

TEST(TMazeTest, WrongTurnAtJunctionIsPenalisedAndTerminates) {
  TMaze env = short_maze(/*length=*/4);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/5, obs.slot);
  walk_to_junction(env, obs);
  const std::int64_t wrong = env.goal() == TMaze::kUp ? TMaze::kDown : TMaze::kUp;
  const StepResult r = step_discrete(env, wrong, obs);
  EXPECT_TRUE(r.terminated);
  EXPECT_FLOAT_EQ(r.reward, -1.0f);
  float success = -1;
  env.infos(&success);
  EXPECT_EQ(success, 0.0f);
  EXPECT_THROW(step_discrete(env, TMaze::kUp, obs), Error);
}

TEST(TMazeTest, EveryOtherStepCostsTheStepPenaltyAndTurnsInTheCorridorDoNothing) {
  TMaze env = short_maze(/*length=*/4);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/5, obs.slot);
  StepResult r = step_discrete(env, TMaze::kUp, obs);
  EXPECT_FALSE(r.terminated);
  EXPECT_FLOAT_EQ(r.reward, -0.1f);
  EXPECT_EQ(env.position(), 0);
  step_discrete(env, TMaze::kLeft, obs);  // clamped at the start
  EXPECT_EQ(env.position(), 0);
  walk_to_junction(env, obs);
  // At the junction left and right are wasted steps, as in AGaLiTe's env.
  r = step_discrete(env, TMaze::kLeft, obs);
  EXPECT_FALSE(r.terminated);
  EXPECT_FLOAT_EQ(r.reward, -0.1f);
  EXPECT_EQ(env.position(), 3);
}

TEST(TMazeTest, TruncatesAtTheTimeLimit) {
  TMazeOptions o;
  o.corridor_length = 10;
  o.max_steps = 6;
  TMaze env(o);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  for (int t = 1; t < 6; ++t) ASSERT_FALSE(step_discrete(env, TMaze::kRight, obs).truncated);
  const StepResult r = step_discrete(env, TMaze::kRight, obs);
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.terminated);
}

TEST(TMazeTest, SameSeedGivesSameEpisode) {
  TMaze a = short_maze(/*length=*/20, /*distractors=*/6), b = short_maze(/*length=*/20, /*distractors=*/6);
  ObsBuffers oa(a.observation_spec()), ob(b.observation_spec());
  a.reset(/*seed=*/9, oa.slot);
  b.reset(/*seed=*/9, ob.slot);
  for (int t = 0; t < 30; ++t) {
    ASSERT_EQ(oa.vec<float>(0), ob.vec<float>(0)) << "step " << t;
    const std::int64_t action = t % 3 == 0 ? TMaze::kLeft : TMaze::kRight;
    step_discrete(a, action, oa);
    step_discrete(b, action, ob);
  }
}

TEST(TMazeTest, OutOfRangeActionThrowsAndStepBeforeResetThrows) {
  TMaze env = short_maze();
  ObsBuffers obs(env.observation_spec());
  EXPECT_THROW(step_discrete(env, TMaze::kRight, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_THROW(step_discrete(env, 4, obs), Error);
  EXPECT_THROW(step_discrete(env, -1, obs), Error);
  EXPECT_EQ(env.position(), 0);
}

TEST(TMazeTest, InvalidOptionsAreConfigErrorsNamingTheKey) {
  auto message = [](TMazeOptions o) -> std::string {
    try {
      TMaze env(o);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  TMazeOptions o;
  o.corridor_length = 0;
  EXPECT_NE(message(o).find("corridor_length"), std::string::npos);
  o = {};
  o.num_distractors = -1;
  EXPECT_NE(message(o).find("num_distractors"), std::string::npos);
  o = {};
  o.max_steps = 0;
  EXPECT_NE(message(o).find("max_steps"), std::string::npos);
}

TEST(TMazeTest, RendersTheCorridorWithTheCueOnlyAtTheFirstStep) {
  TMaze env = short_maze(/*length=*/6);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  Frame first, later;
  env.render(first);
  step_discrete(env, TMaze::kRight, obs);
  env.render(later);
  EXPECT_GT(first.height, 0);
  EXPECT_EQ(first.rgb.size(), static_cast<std::size_t>(first.height * first.width * 3));
  EXPECT_NE(first.rgb, later.rgb);
}

}  // namespace
}  // namespace mnemo::envs
