// Mystery Path tests: the generated path, the fall back to the origin without ending the
// episode, the goal, what the easy and hard variants show and pay, the grid controller,
// truncation, determinism and bad input.
#include "envs/mystery_path.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;
using testing::step_discrete;

// The direction from cell a to its 4-neighbour b.
int direction_to(std::int64_t a, std::int64_t b, std::int64_t g) {
  if (b == a - g) return MysteryPath::kNorth;
  if (b == a + g) return MysteryPath::kSouth;
  if (b == a - 1) return MysteryPath::kWest;
  return MysteryPath::kEast;
}

TEST(MysteryPathTest, PathRunsFromOneBorderToTheOppositeThroughNeighbouringCells) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  const std::int64_t g = 7;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    env.reset(seed, obs.slot);
    const auto& path = env.path();
    ASSERT_GE(path.size(), 7u);
    const std::int64_t ox = env.origin() % g, oy = env.origin() / g, gx = env.goal() % g, gy = env.goal() / g;
    const bool west_east = (ox == 0 && gx == g - 1) || (ox == g - 1 && gx == 0);
    const bool north_south = (oy == 0 && gy == g - 1) || (oy == g - 1 && gy == 0);
    EXPECT_TRUE(west_east || north_south) << "seed " << seed;
    for (std::size_t i = 1; i < path.size(); ++i) {
      const std::int64_t d = std::abs(path[i] % g - path[i - 1] % g) + std::abs(path[i] / g - path[i - 1] / g);
      ASSERT_EQ(d, 1) << "seed " << seed << " step " << i;
    }
    EXPECT_EQ(env.agent_cell(), env.origin());
  }
}

TEST(MysteryPathTest, SteppingOffThePathShowsTheFallThenReturnsToOriginWithoutEndingTheEpisode) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  const std::int64_t g = 7, cells = 49;
  env.reset(/*seed=*/3, obs.slot);
  // Find an off-path neighbour of a path cell and walk into it from there.
  std::int64_t from = -1, off = -1;
  for (std::int64_t c : env.path()) {
    for (std::int64_t n : {c - g, c + g, c - 1, c + 1}) {
      if (n < 0 || n >= cells || (std::abs(n % g - c % g) + std::abs(n / g - c / g)) != 1 || env.on_path(n)) continue;
      from = c;
      off = n;
    }
    if (from >= 0 && from != env.goal()) break;
  }
  ASSERT_GE(from, 0);
  env.place_agent(from, direction_to(from, off, g));
  StepResult r = step_discrete(env, MysteryPath::kForward, obs);
  EXPECT_FALSE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(env.agent_cell(), off);
  EXPECT_EQ(obs.as<std::uint8_t>(0)[3 * cells + off], 1) << "the fall is marked";
  float infos[2];
  env.infos(infos);
  EXPECT_EQ(infos[1], 1.0f);
  // Whatever the agent does next, it is carried back to the origin.
  r = step_discrete(env, MysteryPath::kForward, obs);
  EXPECT_FALSE(r.terminated);
  EXPECT_EQ(env.agent_cell(), env.origin());
  EXPECT_EQ(obs.as<std::uint8_t>(0)[env.origin()], 1);
  for (std::int64_t c = 0; c < cells; ++c) EXPECT_EQ(obs.as<std::uint8_t>(0)[3 * cells + c], 0);
}

TEST(MysteryPathTest, WalkingThePathReachesTheGoalForTheGoalReward) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    MysteryPath env;
    ObsBuffers obs(env.observation_spec());
    env.reset(seed, obs.slot);
    const auto path = env.path();
    StepResult r;
    float total = 0;
    for (std::size_t i = 1; i < path.size(); ++i) {
      env.place_agent(path[i - 1], direction_to(path[i - 1], path[i], 7));
      r = step_discrete(env, MysteryPath::kForward, obs);
      total += r.reward;
      ASSERT_EQ(env.agent_cell(), path[i]);
      if (i + 1 < path.size()) ASSERT_FALSE(r.terminated);
    }
    EXPECT_TRUE(r.terminated);
    EXPECT_FLOAT_EQ(r.reward, 1.0f);
    EXPECT_FLOAT_EQ(total, 1.0f) << "no path progress reward outside easy mode";
    float infos[2];
    env.infos(infos);
    EXPECT_EQ(infos[0], 1.0f);
  }
}

TEST(MysteryPathTest, EasyModeShowsOriginAndGoalAndPaysEachNewPathCellOnce) {
  MysteryPathOptions o;
  o.easy = true;
  MysteryPath env(o);
  ObsBuffers obs(env.observation_spec());
  const std::int64_t cells = 49;
  env.reset(/*seed=*/5, obs.slot);
  EXPECT_EQ(obs.as<std::uint8_t>(0)[cells + env.origin()], 1);
  EXPECT_EQ(obs.as<std::uint8_t>(0)[2 * cells + env.goal()], 1);
  const auto path = env.path();
  env.place_agent(path[0], direction_to(path[0], path[1], 7));
  EXPECT_FLOAT_EQ(step_discrete(env, MysteryPath::kForward, obs).reward, 0.1f);
  env.place_agent(path[1], direction_to(path[1], path[0], 7));
  EXPECT_FLOAT_EQ(step_discrete(env, MysteryPath::kForward, obs).reward, 0.0f) << "the origin pays nothing";
  env.place_agent(path[0], direction_to(path[0], path[1], 7));
  EXPECT_FLOAT_EQ(step_discrete(env, MysteryPath::kForward, obs).reward, 0.0f) << "already rewarded";
}

TEST(MysteryPathTest, HardModeHidesOriginAndGoal) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/5, obs.slot);
  for (std::int64_t c = 49; c < 3 * 49; ++c) EXPECT_EQ(obs.as<std::uint8_t>(0)[c], 0);
}

TEST(MysteryPathTest, TurnsAndForwardFollowMemoryGymsGridController) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  EXPECT_EQ(env.direction(), MysteryPath::kNorth);
  EXPECT_EQ(obs.as<std::uint8_t>(1)[MysteryPath::kNorth], 1);
  const std::int64_t at = env.agent_cell();
  step_discrete(env, MysteryPath::kTurnLeft, obs);
  EXPECT_EQ(env.direction(), MysteryPath::kWest);
  EXPECT_EQ(obs.as<std::uint8_t>(1)[MysteryPath::kWest], 1);
  step_discrete(env, MysteryPath::kTurnRight, obs);
  step_discrete(env, MysteryPath::kTurnRight, obs);
  EXPECT_EQ(env.direction(), MysteryPath::kEast);
  step_discrete(env, MysteryPath::kNoop, obs);
  EXPECT_EQ(env.agent_cell(), at);
  // Forward into the border is clamped.
  env.place_agent(0, MysteryPath::kNorth);
  step_discrete(env, MysteryPath::kForward, obs);
  EXPECT_EQ(env.agent_cell() == 0 || env.agent_cell() == env.origin(), true);
}

TEST(MysteryPathTest, TruncatesAtMaxSteps) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/2, obs.slot);
  for (int t = 1; t < 128; ++t) ASSERT_FALSE(step_discrete(env, MysteryPath::kTurnLeft, obs).truncated);
  const StepResult r = step_discrete(env, MysteryPath::kTurnLeft, obs);
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.terminated);
}

TEST(MysteryPathTest, SameSeedGivesSamePathAndEpisode) {
  MysteryPath a, b;
  ObsBuffers oa(a.observation_spec()), ob(b.observation_spec());
  a.reset(/*seed=*/17, oa.slot);
  b.reset(/*seed=*/17, ob.slot);
  EXPECT_EQ(a.path(), b.path());
  for (int t = 0; t < 60; ++t) {
    ASSERT_EQ(oa.bytes(), ob.bytes());
    step_discrete(a, (t * 7) % 4, oa);
    step_discrete(b, (t * 7) % 4, ob);
  }
  MysteryPath c;
  ObsBuffers oc(c.observation_spec());
  c.reset(/*seed=*/18, oc.slot);
  EXPECT_NE(a.path(), c.path());
}

TEST(MysteryPathTest, BadActionsAndOptionsAreRejected) {
  MysteryPath env;
  ObsBuffers obs(env.observation_spec());
  EXPECT_THROW(step_discrete(env, 0, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_THROW(step_discrete(env, 4, obs), Error);
  MysteryPathOptions o;
  o.grid_size = 2;
  EXPECT_THROW(MysteryPath{o}, ConfigError);
  o = {};
  o.max_steps = -5;
  EXPECT_THROW(MysteryPath{o}, ConfigError);
}

}  // namespace
}  // namespace mnemo::envs
