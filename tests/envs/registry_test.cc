// Registry tests: names resolve to envs, unknown names and invalid options are config errors
// that tell the user what is valid, and binders fill typed options.
#include "envs/registry.h"

#include <gtest/gtest.h>

#include <string>

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
  EXPECT_EQ(registered_env_names(), "cartpole");
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
