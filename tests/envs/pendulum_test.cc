// Pendulum and masked-env tests: gym's Pendulum-v1 equations evaluated by hand, truncation without
// termination, torque clipping, and that the masked versions hide exactly the velocities while
// following the full dynamics.
#include "envs/pendulum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "envs/cartpole.h"
#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;

StepResult torque(Env& env, float u, ObsBuffers& obs) { return env.step(&u, obs.slot); }

TEST(PendulumTest, DeclaresThreeFloatsAndATorqueBox) {
  Pendulum env;
  EXPECT_EQ(env.observation_spec().fields[0].shape, (Shape{3}));
  EXPECT_EQ(env.action_space().kind, ActionSpace::Kind::kBox);
  EXPECT_EQ(env.action_space().low, std::vector<double>{-2.0});
  EXPECT_EQ(env.action_space().high, std::vector<double>{2.0});
}

TEST(PendulumTest, OneStepMatchesGymsEquationsEvaluatedByHand) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  env.set_state(/*theta=*/0.5, /*theta_dot=*/-0.3);
  const StepResult r = torque(env, 1.0f, obs);
  // newthdot = thdot + (3 g / (2 l) sin th + 3 / (m l^2) u) dt, then newth = th + newthdot dt.
  const double newthdot = -0.3 + (15.0 * std::sin(0.5) + 3.0 * 1.0) * 0.05;
  const double newth = 0.5 + newthdot * 0.05;
  EXPECT_NEAR(env.state()[1], newthdot, 1e-12);
  EXPECT_NEAR(env.state()[0], newth, 1e-12);
  // The cost uses the state before the step.
  EXPECT_FLOAT_EQ(r.reward, static_cast<float>(-(0.25 + 0.1 * 0.09 + 0.001 * 1.0)));
  EXPECT_FLOAT_EQ(obs.as<float>(0)[0], static_cast<float>(std::cos(newth)));
  EXPECT_FLOAT_EQ(obs.as<float>(0)[1], static_cast<float>(std::sin(newth)));
  EXPECT_FLOAT_EQ(obs.as<float>(0)[2], static_cast<float>(newthdot));
}

TEST(PendulumTest, AngleInTheCostIsNormalisedAndTorqueIsClipped) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  env.set_state(/*theta=*/2 * 3.14159265358979323846 + 0.1, /*theta_dot=*/0.0);
  const StepResult r = torque(env, 5.0f, obs);  // clipped to 2
  EXPECT_NEAR(r.reward, -(0.01 + 0.001 * 4.0), 1e-6);
}

TEST(PendulumTest, VelocityIsClippedToEight) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  env.set_state(/*theta=*/1.5, /*theta_dot=*/7.9);
  torque(env, 2.0f, obs);
  EXPECT_DOUBLE_EQ(env.state()[1], 8.0);
}

TEST(PendulumTest, NeverTerminatesAndTruncatesAtTwoHundredSteps) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/4, obs.slot);
  for (int t = 1; t < 200; ++t) {
    const StepResult r = torque(env, 2.0f, obs);
    ASSERT_FALSE(r.terminated);
    ASSERT_FALSE(r.truncated) << t;
  }
  const StepResult r = torque(env, 2.0f, obs);
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.terminated);
  EXPECT_THROW(torque(env, 0.0f, obs), Error);
}

TEST(PendulumTest, ResetDrawsAngleAndVelocityInGymsRanges) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    env.reset(seed, obs.slot);
    EXPECT_LE(std::abs(env.state()[0]), 3.14159265358979323846);
    EXPECT_LE(std::abs(env.state()[1]), 1.0);
  }
}

TEST(PendulumTest, NonFiniteTorqueThrows) {
  Pendulum env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_THROW(torque(env, std::numeric_limits<float>::quiet_NaN(), obs), Error);
  EXPECT_THROW(torque(env, std::numeric_limits<float>::infinity(), obs), Error);
  EXPECT_EQ(env.elapsed_steps(), 0);
}

TEST(PendulumTest, InvalidOptionsAreConfigErrors) {
  PendulumOptions o;
  o.max_steps = 0;
  EXPECT_THROW(Pendulum{o}, ConfigError);
  o = {};
  o.gravity = -1;
  EXPECT_THROW(Pendulum{o}, ConfigError);
}

TEST(MaskedPendulumTest, ShowsOnlyCosAndSinOfTheFullEnvsTrajectory) {
  Pendulum full;
  MaskedPendulum masked;
  ObsBuffers of(full.observation_spec()), om(masked.observation_spec());
  EXPECT_EQ(masked.observation_spec().fields[0].shape, (Shape{2}));
  full.reset(/*seed=*/8, of.slot);
  masked.reset(/*seed=*/8, om.slot);
  for (int t = 0; t < 50; ++t) {
    ASSERT_EQ(om.as<float>(0)[0], of.as<float>(0)[0]);
    ASSERT_EQ(om.as<float>(0)[1], of.as<float>(0)[1]);
    const float u = static_cast<float>(std::sin(t));
    const StepResult rf = torque(full, u, of);
    const StepResult rm = torque(masked, u, om);
    ASSERT_EQ(rf.reward, rm.reward);
  }
}

TEST(MaskedCartPoleTest, ShowsOnlyPositionAndAngleOfTheFullEnvsTrajectory) {
  CartPole full;
  MaskedCartPole masked;
  ObsBuffers of(full.observation_spec()), om(masked.observation_spec());
  EXPECT_EQ(masked.observation_spec().fields[0].shape, (Shape{2}));
  EXPECT_EQ(masked.action_space().n, 2);
  full.reset(/*seed=*/3, of.slot);
  masked.reset(/*seed=*/3, om.slot);
  for (int t = 0; t < 500; ++t) {
    ASSERT_EQ(om.as<float>(0)[0], of.as<float>(0)[0]) << "x at step " << t;
    ASSERT_EQ(om.as<float>(0)[1], of.as<float>(0)[2]) << "theta at step " << t;
    const std::int64_t a = (t / 3) % 2;
    const StepResult rf = full.step(&a, of.slot);
    const StepResult rm = masked.step(&a, om.slot);
    ASSERT_EQ(rf.terminated, rm.terminated);
    if (rf.terminated) break;
  }
}

TEST(MaskedCartPoleTest, RejectsBadActionsLikeTheFullEnv) {
  MaskedCartPole masked;
  ObsBuffers om(masked.observation_spec());
  masked.reset(/*seed=*/0, om.slot);
  const std::int64_t bad = 2;
  EXPECT_THROW(masked.step(&bad, om.slot), Error);
}

}  // namespace
}  // namespace mnemo::envs
