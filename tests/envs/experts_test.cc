// Tests of the scripted experts: each solves its env on every seed tried, and asking for an
// expert an env does not have names the envs that have one.
#include "envs/experts.h"

#include <gtest/gtest.h>

#include "env_test_util.h"
#include "envs/registry.h"

namespace mnemo::envs {
namespace {

struct Outcome {
  double ret = 0.0;
  std::int64_t length = 0;
  bool truncated = false;
  float success = 0.0f;  // the env's "success" info at the last step, when it reports one
};

// Runs one episode of `env` under `expert` from `seed`.
Outcome play(Env& env, const Expert& expert, std::uint64_t seed) {
  testing::ObsBuffers obs(env.observation_spec());
  env.reset(seed, obs.slot);
  Outcome o;
  for (;;) {
    std::int64_t action = -1;
    expert.act(env, &action);
    const StepResult r = env.step(&action, obs.slot);
    o.ret += r.reward;
    ++o.length;
    if (r.terminated || r.truncated) {
      o.truncated = r.truncated;
      const std::vector<std::string> names = env.info_names();
      std::vector<float> infos(names.size());
      env.infos(infos.data());
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == "success") o.success = infos[i];
      return o;
    }
  }
}

TEST(ExpertTest, KeyToDoorExpertSucceedsOnEverySeed) {
  KeyToDoor env;
  const auto expert = make_expert("key_to_door");
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const Outcome o = play(env, *expert, seed);
    EXPECT_EQ(o.success, 1.0f) << "seed " << seed;
    EXPECT_EQ(o.ret, 1.0) << "seed " << seed;
  }
}

TEST(ExpertTest, KeyToDoorExpertAlsoEatsTheApples) {
  KeyToDoorOptions options;
  options.num_apples = 3;
  options.apple_reward = 1.0;
  KeyToDoor env(options);
  const auto expert = make_expert("key_to_door");
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const Outcome o = play(env, *expert, seed);
    EXPECT_EQ(o.success, 1.0f) << "seed " << seed;
    EXPECT_EQ(o.ret, 1.0 + 3.0) << "seed " << seed;
  }
}

TEST(ExpertTest, TMazeExpertTurnsTheCuedWayEveryTime) {
  TMazeOptions options;
  options.corridor_length = 20;
  TMaze env(options);
  const auto expert = make_expert("tmaze");
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const Outcome o = play(env, *expert, seed);
    EXPECT_EQ(o.success, 1.0f) << "seed " << seed;
    EXPECT_EQ(o.length, 20) << "seed " << seed;  // 19 steps right, one turn
  }
}

TEST(ExpertTest, CartPoleExpertBalancesUntilTruncation) {
  CartPole env;
  const auto expert = make_expert("cartpole");
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const Outcome o = play(env, *expert, seed);
    EXPECT_TRUE(o.truncated) << "seed " << seed;
    EXPECT_EQ(o.ret, 500.0) << "seed " << seed;
  }
}

TEST(ExpertTest, MaskedCartPoleExpertBalancesUntilTruncation) {
  MaskedCartPole env;
  const auto expert = make_expert("masked_cartpole");
  for (std::uint64_t seed = 0; seed < 20; ++seed) EXPECT_EQ(play(env, *expert, seed).ret, 500.0) << "seed " << seed;
}

TEST(ExpertTest, CatchExpertCatchesEveryBall) {
  Catch env;
  const auto expert = make_expert("catch");
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const Outcome o = play(env, *expert, seed);
    EXPECT_EQ(o.success, 1.0f) << "seed " << seed;
    EXPECT_EQ(o.ret, 1.0) << "seed " << seed;
  }
}

TEST(ExpertTest, EnvWithoutExpertIsRejectedWithTheEnvsThatHaveOne) {
  try {
    make_expert("pendulum");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'pendulum' has no scripted expert"), std::string::npos) << msg;
    for (const char* name : {"key_to_door", "tmaze", "cartpole", "catch"})
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
}

TEST(ExpertTest, EveryExpertBelongsToARegisteredEnv) {
  for (const std::string& name : expert_env_names()) {
    auto env = make_env(name);
    EXPECT_NE(make_expert(name), nullptr) << name;
  }
}

TEST(ExpertTest, ExpertGivenAnotherKindOfEnvThrows) {
  CartPole env;
  testing::ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  std::int64_t action = 0;
  EXPECT_THROW(make_expert("tmaze")->act(env, &action), Error);
}

}  // namespace
}  // namespace mnemo::envs
