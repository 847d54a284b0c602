// Key-to-Door tests: the phase schedule, reward only for reaching the door holding the key,
// termination at the door or when the door phase runs out, what each phase's observation shows,
// apples, determinism and options.
#include "envs/key_to_door.h"

#include <gtest/gtest.h>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;
using testing::step_discrete;

constexpr std::int64_t kUp = 0, kRight = 1, kDown = 2, kLeft = 3;

KeyToDoorOptions short_phases() {
  KeyToDoorOptions o;
  o.key_phase_steps = 9;  // enough to reach any cell of a 5x5 room
  o.distractor_phase_steps = 4;
  o.door_phase_steps = 12;
  return o;
}

// Takes one step towards `cell` (row first), or a step into the top wall when already there.
std::int64_t towards(const KeyToDoor& env, std::int64_t cell) {
  const std::int64_t n = env.options().room_size;
  const std::int64_t ar = env.agent_cell() / n, ac = env.agent_cell() % n, tr = cell / n, tc = cell % n;
  if (ar < tr) return kDown;
  if (ar > tr) return kUp;
  if (ac < tc) return kRight;
  if (ac > tc) return kLeft;
  return ar == 0 ? kUp : kDown;
}

// A move whose destination is not `avoid` (bumping into a wall counts as staying).
std::int64_t move_avoiding(const KeyToDoor& env, std::int64_t avoid) {
  const std::int64_t n = env.options().room_size;
  const std::int64_t r = env.agent_cell() / n, c = env.agent_cell() % n;
  const std::int64_t dest[4] = {r > 0 ? env.agent_cell() - n : env.agent_cell(),
                                c < n - 1 ? env.agent_cell() + 1 : env.agent_cell(),
                                r < n - 1 ? env.agent_cell() + n : env.agent_cell(),
                                c > 0 ? env.agent_cell() - 1 : env.agent_cell()};
  for (std::int64_t a = 0; a < 4; ++a)
    if (dest[a] != avoid) return a;
  return kUp;
}

std::int64_t plane_count(const ObsBuffers& obs, int plane, std::int64_t cells) {
  std::int64_t c = 0;
  for (std::int64_t i = 0; i < cells; ++i) c += obs.as<std::uint8_t>(0)[plane * cells + i];
  return c;
}

// Plays an episode; picks the key up in phase 1 iff `take_key`, walks to the door in phase 3.
// Returns the last step's result.
StepResult play(KeyToDoor& env, ObsBuffers& obs, bool take_key, float* total) {
  *total = 0;
  for (;;) {
    std::int64_t a = kUp;
    if (env.phase() == KeyToDoor::kKeyPhase && take_key && env.key_cell() >= 0) a = towards(env, env.key_cell());
    if (env.phase() == KeyToDoor::kKeyPhase && !take_key) a = move_avoiding(env, env.key_cell());
    if (env.phase() == KeyToDoor::kDoorPhase) a = towards(env, env.door_cell());
    const StepResult r = step_discrete(env, a, obs);
    *total += r.reward;
    if (r.terminated || r.truncated) return r;
  }
}

TEST(KeyToDoorTest, DeclaresFourPlanesOfTheRoomAndFourMoves) {
  KeyToDoor env;
  EXPECT_EQ(env.observation_spec().fields[0].dtype, DType::kUInt8);
  EXPECT_EQ(env.observation_spec().fields[0].shape, (Shape{4, 5, 5}));
  EXPECT_EQ(env.action_space().n, 4);
}

TEST(KeyToDoorTest, PhasesLastTheirConfiguredNumberOfSteps) {
  KeyToDoor env(short_phases());
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  for (int t = 0; t < 9; ++t) {
    EXPECT_EQ(env.phase(), KeyToDoor::kKeyPhase) << t;
    step_discrete(env, kUp, obs);
  }
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(env.phase(), KeyToDoor::kDistractorPhase) << t;
    step_discrete(env, kUp, obs);
  }
  EXPECT_EQ(env.phase(), KeyToDoor::kDoorPhase);
}

TEST(KeyToDoorTest, ReachingTheDoorWithTheKeyPaysAndTerminatesWithSuccess) {
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    KeyToDoor env(short_phases());
    ObsBuffers obs(env.observation_spec());
    env.reset(seed, obs.slot);
    float total = 0;
    const StepResult r = play(env, obs, /*take_key=*/true, &total);
    EXPECT_TRUE(r.terminated);
    EXPECT_FLOAT_EQ(r.reward, 1.0f) << "seed " << seed;
    EXPECT_FLOAT_EQ(total, 1.0f);
    float infos[2];
    env.infos(infos);
    EXPECT_EQ(infos[0], 1.0f);
    EXPECT_EQ(infos[1], 1.0f);
  }
}

TEST(KeyToDoorTest, ReachingTheDoorWithoutTheKeyEndsTheEpisodeWithNothing) {
  for (std::uint64_t seed = 0; seed < 10; ++seed) {
    KeyToDoor env(short_phases());
    ObsBuffers obs(env.observation_spec());
    env.reset(seed, obs.slot);
    float total = 0;
    const StepResult r = play(env, obs, /*take_key=*/false, &total);
    EXPECT_FALSE(env.has_key()) << "seed " << seed;
    EXPECT_TRUE(r.terminated);
    EXPECT_EQ(env.agent_cell(), env.door_cell());
    EXPECT_EQ(total, 0.0f);
    float infos[2];
    env.infos(infos);
    EXPECT_EQ(infos[0], 0.0f);
  }
}

TEST(KeyToDoorTest, RunningOutOfTimeInTheDoorRoomTerminatesWithoutReward) {
  KeyToDoor env(short_phases());
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/2, obs.slot);
  float total = 0;
  StepResult r;
  int steps = 0;
  do {
    const std::int64_t a = env.phase() == KeyToDoor::kDoorPhase ? move_avoiding(env, env.door_cell()) : kUp;
    r = step_discrete(env, a, obs);
    total += r.reward;
    ++steps;
  } while (!r.terminated && !r.truncated);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(steps, 9 + 4 + 12);
  EXPECT_EQ(total, 0.0f);
}

TEST(KeyToDoorTest, EachPhaseShowsOnlyItsOwnObjects) {
  KeyToDoorOptions o = short_phases();
  o.num_apples = 3;
  KeyToDoor env(o);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/7, obs.slot);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kAgentPlane, 25), 1);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kKeyPlane, 25), 1);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kApplePlane, 25), 0);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kDoorPlane, 25), 0);
  while (env.key_cell() >= 0 && env.phase() == KeyToDoor::kKeyPhase) step_discrete(env, towards(env, env.key_cell()), obs);
  if (env.phase() == KeyToDoor::kKeyPhase) {
    EXPECT_TRUE(env.has_key());
    EXPECT_EQ(plane_count(obs, KeyToDoor::kKeyPlane, 25), 0) << "a picked-up key disappears";
  }
  while (env.phase() == KeyToDoor::kKeyPhase) step_discrete(env, kUp, obs);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kKeyPlane, 25), 0);
  EXPECT_GE(plane_count(obs, KeyToDoor::kApplePlane, 25), 2);
  while (env.phase() == KeyToDoor::kDistractorPhase) step_discrete(env, kUp, obs);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kApplePlane, 25), 0);
  EXPECT_EQ(plane_count(obs, KeyToDoor::kDoorPlane, 25), 1);
}

TEST(KeyToDoorTest, ApplesPayTheirRewardOnceEach) {
  KeyToDoorOptions o = short_phases();
  o.num_apples = 24;  // every cell but the agent's
  o.apple_reward = 0.5;
  KeyToDoor env(o);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/3, obs.slot);
  while (env.phase() == KeyToDoor::kKeyPhase) step_discrete(env, kUp, obs);
  const std::int64_t start = env.agent_cell();
  const std::int64_t a = start % 5 == 0 ? kRight : kLeft;
  EXPECT_FLOAT_EQ(step_discrete(env, a, obs).reward, 0.5f);
  EXPECT_FLOAT_EQ(step_discrete(env, a == kRight ? kLeft : kRight, obs).reward, 0.0f) << "the start cell had none";
  EXPECT_FLOAT_EQ(step_discrete(env, a, obs).reward, 0.0f) << "already eaten";
}

TEST(KeyToDoorTest, SameSeedGivesSameEpisode) {
  KeyToDoor a(short_phases()), b(short_phases());
  ObsBuffers oa(a.observation_spec()), ob(b.observation_spec());
  a.reset(/*seed=*/11, oa.slot);
  b.reset(/*seed=*/11, ob.slot);
  for (int t = 0; t < 21; ++t) {
    ASSERT_EQ(oa.bytes(), ob.bytes()) << t;
    step_discrete(a, t % 4, oa);
    step_discrete(b, t % 4, ob);
  }
}

TEST(KeyToDoorTest, BadActionsAndOptionsAreRejected) {
  KeyToDoor env;
  ObsBuffers obs(env.observation_spec());
  EXPECT_THROW(step_discrete(env, kUp, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_THROW(step_discrete(env, 4, obs), Error);
  KeyToDoorOptions o;
  o.room_size = 1;
  EXPECT_THROW(KeyToDoor{o}, ConfigError);
  o = {};
  o.door_phase_steps = 0;
  try {
    KeyToDoor env2(o);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("door_phase_steps"), std::string::npos);
  }
}

}  // namespace
}  // namespace mnemo::envs
