// Catch tests: bsuite's rules (the ball falls one row per step, +1 for a catch, -1 for a miss)
// and that the pixels show the ball and the paddle where they are.
#include "envs/catch.h"

#include <gtest/gtest.h>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;
using testing::step_discrete;

constexpr std::int64_t kLeft = 0, kStay = 1, kRight = 2;

bool is_color(const ObsBuffers& obs, int y, int x, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  const std::uint8_t* p = obs.as<std::uint8_t>(0) + (y * 20 + x) * 3;
  return p[0] == r && p[1] == g && p[2] == b;
}

TEST(CatchTest, DeclaresSmallRgbPixelsAndThreeActions) {
  Catch env;
  EXPECT_EQ(env.observation_spec().fields[0].shape, (Shape{40, 20, 3}));
  EXPECT_EQ(env.observation_spec().fields[0].dtype, DType::kUInt8);
  EXPECT_EQ(env.action_space().n, 3);
}

TEST(CatchTest, FollowingTheBallCatchesItForPlusOneAfterNineSteps) {
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    Catch env;
    ObsBuffers obs(env.observation_spec());
    env.reset(seed, obs.slot);
    StepResult r;
    int steps = 0;
    do {
      const std::int64_t a = env.ball_column() < env.paddle_column()   ? kLeft
                             : env.ball_column() > env.paddle_column() ? kRight
                                                                       : kStay;
      r = step_discrete(env, a, obs);
      ++steps;
    } while (!r.terminated);
    EXPECT_EQ(steps, 9);
    EXPECT_FLOAT_EQ(r.reward, 1.0f);
    float success = 0;
    env.infos(&success);
    EXPECT_EQ(success, 1.0f);
  }
}

TEST(CatchTest, MissingTheBallCostsOne) {
  Catch env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  StepResult r;
  do {
    const std::int64_t a = env.ball_column() <= 2 ? kRight : kLeft;  // run away from the ball
    r = step_discrete(env, a, obs);
  } while (!r.terminated);
  EXPECT_FLOAT_EQ(r.reward, -1.0f);
  EXPECT_THROW(step_discrete(env, kStay, obs), Error);
}

TEST(CatchTest, PixelsShowTheBallAndThePaddle) {
  Catch env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/5, obs.slot);
  step_discrete(env, kLeft, obs);
  const int bx = static_cast<int>(env.ball_column()) * 4, by = static_cast<int>(env.ball_row()) * 4;
  EXPECT_TRUE(is_color(obs, by + 1, bx + 1, 230, 40, 40));
  const int px = static_cast<int>(env.paddle_column()) * 4;
  EXPECT_TRUE(is_color(obs, 37, px + 1, 255, 255, 255));
  EXPECT_TRUE(is_color(obs, 20, (px + 8) % 20, 0, 0, 0) || env.ball_row() == 5);
}

// The memory variant: the ball shows in the first visible_rows observations only; the paddle always.
TEST(CatchTest, WithVisibleRowsTheBallDisappearsAfterItsFirstRows) {
  CatchOptions o;
  o.visible_rows = 2;
  Catch env(o);
  ObsBuffers obs(env.observation_spec());
  auto red_pixels = [&] {
    int n = 0;
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < 20; ++x) n += is_color(obs, y, x, 230, 40, 40) ? 1 : 0;
    return n;
  };
  env.reset(/*seed=*/3, obs.slot);
  EXPECT_EQ(red_pixels(), 16);  // row 0
  step_discrete(env, kStay, obs);
  EXPECT_EQ(red_pixels(), 16);  // row 1
  StepResult r;
  do {
    r = step_discrete(env, kStay, obs);
    EXPECT_EQ(red_pixels(), 0) << "ball row " << env.ball_row();
    EXPECT_TRUE(is_color(obs, 37, static_cast<int>(env.paddle_column()) * 4 + 1, 255, 255, 255));
  } while (!r.terminated);
  o.visible_rows = 11;
  EXPECT_THROW(Catch{o}, ConfigError);
}

TEST(CatchTest, SameSeedSameBallAndBadActionsThrow) {
  Catch a, b;
  ObsBuffers oa(a.observation_spec()), ob(b.observation_spec());
  a.reset(/*seed=*/12, oa.slot);
  b.reset(/*seed=*/12, ob.slot);
  EXPECT_EQ(oa.bytes(), ob.bytes());
  EXPECT_THROW(step_discrete(a, 3, oa), Error);
  CatchOptions o;
  o.rows = 1;
  EXPECT_THROW(Catch{o}, ConfigError);
}

}  // namespace
}  // namespace mnemo::envs
