// CartPole tests: dynamics checked against gym's equations evaluated by hand, the episode limits,
// and the Env contract (determinism by seed, bad actions rejected).
#include "envs/cartpole.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace mnemo::envs {
namespace {

// Owns one observation so a test can drive an env without a pool.
struct Obs {
  std::array<float, 4> v{};
  ObsSlot slot{std::vector<void*>{v.data()}};
};

StepResult step(CartPole& env, std::int64_t action, Obs& obs) { return env.step(&action, obs.slot); }

// Keeps the pole up for the length of short tests (push toward where the pole is falling).
std::int64_t balancing_action(const CartPole& env) {
  const auto& s = env.state();
  return s[2] + 0.5 * s[3] > 0 ? 1 : 0;
}

TEST(CartPoleTest, DeclaresOneFloatObservationOfFourAndTwoActions) {
  CartPole env;
  const Spec& spec = env.observation_spec();
  ASSERT_EQ(spec.fields.size(), 1u);
  EXPECT_EQ(spec.fields[0].name, "obs");
  EXPECT_EQ(spec.fields[0].dtype, DType::kFloat32);
  EXPECT_EQ(spec.fields[0].shape, (Shape{4}));
  EXPECT_EQ(env.action_space().kind, ActionSpace::Kind::kDiscrete);
  EXPECT_EQ(env.action_space().n, 2);
  EXPECT_TRUE(env.info_names().empty());
  EXPECT_EQ(env.options().max_steps, 500);
}

TEST(CartPoleTest, OneStepPushingRightMatchesHandComputedEulerStep) {
  CartPole env;
  Obs obs;
  env.reset(/*seed=*/1, obs.slot);
  env.set_state({0.0, 0.0, 0.05, 0.0});
  // gym's equations with masscart 1.0, masspole 0.1 (total 1.1, polemass_length 0.05),
  // length 0.5, gravity 9.8, force +10, tau 0.02:
  const double costheta = std::cos(0.05);
  const double sintheta = std::sin(0.05);
  const double temp = (10.0 + 0.05 * 0.0 * 0.0 * sintheta) / 1.1;
  const double thetaacc = (9.8 * sintheta - costheta * temp) / (0.5 * (4.0 / 3.0 - 0.1 * costheta * costheta / 1.1));
  const double xacc = temp - 0.05 * thetaacc * costheta / 1.1;
  // Euler: positions move with the old velocities, velocities with the new accelerations.
  const std::array<double, 4> expected = {0.0 + 0.02 * 0.0, 0.0 + 0.02 * xacc, 0.05 + 0.02 * 0.0,
                                          0.0 + 0.02 * thetaacc};
  // The same numbers evaluated independently (Python, float64).
  EXPECT_NEAR(expected[1], 0.194370546605301, 1e-12);
  EXPECT_NEAR(expected[3], -0.2764975752871551, 1e-12);

  const StepResult r = step(env, /*action=*/1, obs);

  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(env.state()[i], expected[i], 1e-12) << "state component " << i;
    EXPECT_FLOAT_EQ(obs.v[i], static_cast<float>(expected[i])) << "observation component " << i;
  }
  EXPECT_EQ(r.reward, 1.0f);
  EXPECT_FALSE(r.terminated);
  EXPECT_FALSE(r.truncated);
}

TEST(CartPoleTest, OneStepPushingLeftFromAMovingStateMatchesHandComputedValues) {
  CartPole env;
  Obs obs;
  env.reset(/*seed=*/1, obs.slot);
  env.set_state({0.1, 0.2, -0.03, 0.4});
  step(env, /*action=*/0, obs);
  // Evaluated independently (Python, float64) from gym's equations with force -10.
  EXPECT_NEAR(env.state()[0], 0.104, 1e-12);
  EXPECT_NEAR(env.state()[1], 0.005316169155413664, 1e-12);
  EXPECT_NEAR(env.state()[2], -0.022, 1e-12);
  EXPECT_NEAR(env.state()[3], 0.683075667477099, 1e-12);
}

TEST(CartPoleTest, ResetDrawsEachStateComponentWithinPlusMinusFiveHundredths) {
  CartPole env;
  Obs obs;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    env.reset(seed, obs.slot);
    for (int i = 0; i < 4; ++i) {
      EXPECT_GE(obs.v[i], -0.05f);
      EXPECT_LE(obs.v[i], 0.05f);
    }
  }
}

TEST(CartPoleTest, TerminatesWhenCartLeavesTheTrackOnEitherSide) {
  CartPole env;
  Obs obs;
  env.reset(/*seed=*/0, obs.slot);
  env.set_state({2.39, 1.0, 0.0, 0.0});  // x becomes 2.41
  StepResult r = step(env, /*action=*/1, obs);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.reward, 1.0f);

  env.reset(/*seed=*/0, obs.slot);
  env.set_state({-2.39, -1.0, 0.0, 0.0});
  r = step(env, /*action=*/0, obs);
  EXPECT_TRUE(r.terminated);

  env.reset(/*seed=*/0, obs.slot);
  env.set_state({2.3, 1.0, 0.0, 0.0});  // x becomes 2.32: still on the track
  r = step(env, /*action=*/1, obs);
  EXPECT_FALSE(r.terminated);
}

TEST(CartPoleTest, TerminatesWhenPoleTiltsBeyondTwelveDegreesOnEitherSide) {
  const double limit = 12 * 2 * 3.14159265358979323846 / 360;  // 0.2094 rad
  CartPole env;
  Obs obs;
  env.reset(/*seed=*/0, obs.slot);
  env.set_state({0.0, 0.0, limit - 0.01, 1.0});  // theta grows by 0.02
  StepResult r = step(env, /*action=*/0, obs);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.reward, 1.0f);

  env.reset(/*seed=*/0, obs.slot);
  env.set_state({0.0, 0.0, -limit + 0.01, -1.0});
  r = step(env, /*action=*/1, obs);
  EXPECT_TRUE(r.terminated);

  env.reset(/*seed=*/0, obs.slot);
  env.set_state({0.0, 0.0, limit - 0.03, 1.0});  // ends at limit - 0.01
  r = step(env, /*action=*/1, obs);
  EXPECT_FALSE(r.terminated);
}

TEST(CartPoleTest, TruncatesAtMaxStepsWithoutTerminating) {
  CartPole env(CartPoleOptions{/*max_steps=*/20});
  Obs obs;
  env.reset(/*seed=*/3, obs.slot);
  for (int t = 1; t < 20; ++t) {
    const StepResult r = step(env, balancing_action(env), obs);
    ASSERT_FALSE(r.terminated) << "step " << t;
    ASSERT_FALSE(r.truncated) << "step " << t;
    ASSERT_EQ(r.reward, 1.0f);
  }
  const StepResult r = step(env, balancing_action(env), obs);
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.terminated);
  EXPECT_EQ(r.reward, 1.0f);
  EXPECT_EQ(env.elapsed_steps(), 20);
}

TEST(CartPoleTest, TerminationOnTheLastAllowedStepIsReportedAsTerminationOnly) {
  CartPole env(CartPoleOptions{/*max_steps=*/1});
  Obs obs;
  env.reset(/*seed=*/0, obs.slot);
  env.set_state({2.39, 1.0, 0.0, 0.0});
  const StepResult r = step(env, /*action=*/1, obs);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
}

TEST(CartPoleTest, SameSeedGivesSameTrajectory) {
  CartPole a, b;
  Obs oa, ob;
  a.reset(/*seed=*/42, oa.slot);
  b.reset(/*seed=*/42, ob.slot);
  ASSERT_EQ(oa.v, ob.v);
  for (int t = 0; t < 200; ++t) {
    const std::int64_t action = (t * 7 / 3) % 2;
    const StepResult ra = step(a, action, oa);
    const StepResult rb = step(b, action, ob);
    ASSERT_EQ(oa.v, ob.v) << "step " << t;
    ASSERT_EQ(ra.terminated, rb.terminated);
    ASSERT_EQ(ra.truncated, rb.truncated);
    if (ra.terminated || ra.truncated) break;
  }
}

TEST(CartPoleTest, DifferentSeedsGiveDifferentInitialStates) {
  CartPole env;
  Obs first, second;
  env.reset(/*seed=*/1, first.slot);
  env.reset(/*seed=*/2, second.slot);
  EXPECT_NE(first.v, second.v);
}

TEST(CartPoleTest, OutOfRangeActionThrowsAndLeavesStateUnchanged) {
  CartPole env;
  Obs obs;
  env.reset(/*seed=*/0, obs.slot);
  const auto before = env.state();
  try {
    step(env, /*action=*/2, obs);
    FAIL() << "action 2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  EXPECT_THROW(step(env, /*action=*/-1, obs), Error);
  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0);
}

TEST(CartPoleTest, StepBeforeResetOrAfterTheEpisodeEndedThrows) {
  CartPole env;
  Obs obs;
  EXPECT_THROW(step(env, /*action=*/0, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  env.set_state({2.39, 1.0, 0.0, 0.0});
  ASSERT_TRUE(step(env, /*action=*/1, obs).terminated);
  EXPECT_THROW(step(env, /*action=*/1, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_NO_THROW(step(env, /*action=*/1, obs));
}

TEST(CartPoleTest, InvalidOptionsAreAConfigError) {
  EXPECT_THROW(CartPole(CartPoleOptions{/*max_steps=*/0}), ConfigError);
  EXPECT_THROW(CartPole(CartPoleOptions{/*max_steps=*/-3}), ConfigError);
}

}  // namespace
}  // namespace mnemo::envs
