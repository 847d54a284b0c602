// Registry tests: names resolve to envs, unknown names and invalid options are config errors
// that tell the user what is valid, and binders fill typed options.
#include "envs/registry.h"

#include <gtest/gtest.h>

#include <limits>
#include <type_traits>

#include <string>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(RegistryTest, ListsCartPoleWithDescriptionAndDocumentedOptions) {
  const auto& envs = registered_envs();
  ASSERT_FALSE(envs.empty());
  EXPECT_EQ(envs[0].name, "cartpole");
  EXPECT_FALSE(envs[0].description.empty());
  ASSERT_EQ(envs[0].options.size(), 1u);
  EXPECT_EQ(envs[0].options[0].key, "max_steps");
  EXPECT_EQ(envs[0].options[0].type, "int64");
  EXPECT_EQ(envs[0].options[0].default_value, "500");
  EXPECT_FALSE(envs[0].options[0].help.empty());
}

TEST(RegistryTest, MakesCartPoleWithDefaultOptions) {
  std::unique_ptr<Env> env = make_env("cartpole");
  auto* cartpole = dynamic_cast<CartPole*>(env.get());
  ASSERT_NE(cartpole, nullptr);
  EXPECT_EQ(cartpole->options().max_steps, 500);
  EXPECT_EQ(env->observation_spec().fields[0].name, "obs");
}

TEST(RegistryTest, BinderFillsTheTypedOptionsOfTheRequestedEnv) {
  std::unique_ptr<Env> env = make_env("cartpole", [](CartPoleOptions& o) { o.max_steps = 7; });
  EXPECT_EQ(dynamic_cast<CartPole&>(*env).options().max_steps, 7);

  // A generic binder, the shape the YAML binder takes, serves every env.
  int calls = 0;
  env = make_env("cartpole", [&calls](auto&) { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(RegistryTest, UnknownEnvNameErrorNamesItAndListsValidNames) {
  const std::string msg = config_error_of([] { make_env("cartpol"); });
  EXPECT_NE(msg.find("'cartpol'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cartpole"), std::string::npos) << msg;
  EXPECT_EQ(registered_env_names(),
            "cartpole, masked_cartpole, pendulum, masked_pendulum, tmaze, key_to_door, mystery_path, memory_maze, catch, "
            "gym");
}

// Draws a valid action of any space from a counter, deterministically.
std::vector<char> some_action(const ActionSpace& space, std::uint64_t k) {
  Rng rng(k);
  switch (space.kind) {
    case ActionSpace::Kind::kDiscrete: {
      std::int64_t a = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(space.n)));
      return std::vector<char>(reinterpret_cast<char*>(&a), reinterpret_cast<char*>(&a) + sizeof a);
    }
    case ActionSpace::Kind::kBox: {
      std::vector<float> a(space.low.size());
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(rng.uniform(space.low[i], space.high[i]));
      return std::vector<char>(reinterpret_cast<char*>(a.data()), reinterpret_cast<char*>(a.data() + a.size()));
    }
    case ActionSpace::Kind::kMultiDiscrete: {
      std::vector<std::int64_t> a(space.nvec.size());
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::int64_t>(rng.below(space.nvec[i]));
      return std::vector<char>(reinterpret_cast<char*>(a.data()), reinterpret_cast<char*>(a.data() + a.size()));
    }
  }
  return {};
}

TEST(RegistryTest, EveryRegisteredEnvIsDeterministicBySeedAcrossEpisodes) {
  for (const auto& info : registered_envs()) {
    auto a = make_env(info.name), b = make_env(info.name);
    testing::ObsBuffers oa(a->observation_spec()), ob(b->observation_spec());
    a->reset(/*seed=*/77, oa.slot);
    b->reset(/*seed=*/77, ob.slot);
    for (std::uint64_t t = 0; t < 300; ++t) {
      ASSERT_EQ(oa.bytes(), ob.bytes()) << info.name << " step " << t;
      const std::vector<char> action = some_action(a->action_space(), t);
      const StepResult ra = a->step(action.data(), oa.slot);
      const StepResult rb = b->step(action.data(), ob.slot);
      ASSERT_EQ(ra.reward, rb.reward) << info.name;
      ASSERT_EQ(ra.terminated, rb.terminated) << info.name;
      ASSERT_EQ(ra.truncated, rb.truncated) << info.name;
      ASSERT_FALSE(ra.terminated && ra.truncated) << info.name << ": never both";
      if (ra.terminated || ra.truncated) {
        a->reset(/*seed=*/t, oa.slot);
        b->reset(/*seed=*/t, ob.slot);
      }
    }
  }
}

TEST(RegistryTest, EveryRegisteredEnvRendersAFrameThatFollowsTheState) {
  for (const auto& info : registered_envs()) {
    auto env = make_env(info.name);
    testing::ObsBuffers obs(env->observation_spec());
    env->reset(/*seed=*/5, obs.slot);
    Frame before;
    env->render(before);
    ASSERT_GT(before.height, 0) << info.name;
    ASSERT_GT(before.width, 0) << info.name;
    ASSERT_EQ(before.rgb.size(), static_cast<std::size_t>(before.height) * before.width * 3) << info.name;
    bool changed = false;
    for (std::uint64_t t = 0; t < 20 && !changed; ++t) {
      const std::vector<char> action = some_action(env->action_space(), t + 1);
      const StepResult r = env->step(action.data(), obs.slot);
      Frame after;
      env->render(after);
      changed = after.rgb != before.rgb;
      if (r.terminated || r.truncated) env->reset(/*seed=*/t, obs.slot);
    }
    EXPECT_TRUE(changed) << info.name << " renders the same picture whatever happens";
  }
}

TEST(RegistryTest, EveryRegisteredEnvRejectsOutOfRangeActionsWithAnError) {
  for (const auto& info : registered_envs()) {
    auto env = make_env(info.name);
    testing::ObsBuffers obs(env->observation_spec());
    env->reset(/*seed=*/1, obs.slot);
    const ActionSpace& space = env->action_space();
    if (space.kind == ActionSpace::Kind::kDiscrete) {
      for (std::int64_t bad : {space.n, std::int64_t{-1}, std::int64_t{1} << 40})
        EXPECT_THROW(env->step(&bad, obs.slot), Error) << info.name << " accepted action " << bad;
    } else {
      std::vector<float> bad(space.low.size(), std::numeric_limits<float>::quiet_NaN());
      EXPECT_THROW(env->step(bad.data(), obs.slot), Error) << info.name;
    }
  }
}

TEST(RegistryTest, EveryRegisteredEnvDocumentsEveryOption) {
  for (const auto& info : registered_envs()) {
    EXPECT_FALSE(info.description.empty()) << info.name;
    for (const auto& o : info.options) EXPECT_FALSE(o.help.empty()) << info.name << "." << o.key;
  }
}

TEST(RegistryTest, NegativeLengthsAreRejectedNamingTheKey) {
  const std::string msg = config_error_of([] { make_env("tmaze", [](auto& o) {
    if constexpr (std::is_same_v<std::decay_t<decltype(o)>, TMazeOptions>) o.corridor_length = -3;
  }); });
  EXPECT_NE(msg.find("corridor_length"), std::string::npos) << msg;
}

TEST(RegistryTest, InvalidOptionsAreRejectedNamingTheKey) {
  for (std::int64_t bad : {0, -1}) {
    const std::string msg =
        config_error_of([bad] { make_env("cartpole", [bad](CartPoleOptions& o) { o.max_steps = bad; }); });
    EXPECT_NE(msg.find("max_steps"), std::string::npos) << msg;
  }
}

TEST(RegistryTest, ErrorsFromTheBinderReachTheCaller) {
  EXPECT_THROW(make_env("cartpole", [](auto&) { throw ConfigError("env.max_stepz: unknown key"); }), ConfigError);
}

TEST(RegistryTest, BinderThatCannotBindTheEnvsOptionsIsAnError) {
  EXPECT_THROW(make_env("cartpole", [](int&) {}), Error);
}

}  // namespace
}  // namespace mnemo::envs
