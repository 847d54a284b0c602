// Tests of the command line: exit codes and messages for bad input.
#include "launch/cli.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace mnemo::launch {
namespace {

std::string config_path() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return (std::filesystem::path(s != nullptr ? s : ".") / "launch/configs/cartpole_ppo.yaml").string();
}

TEST(CliTest, BadInputExitsWithCode2) {
  EXPECT_EQ(run_cli({}), 2);
  EXPECT_EQ(run_cli({"frobnicate"}), 2);
  EXPECT_EQ(run_cli({"config"}), 2);
  EXPECT_EQ(run_cli({"config", "/nonexistent.yaml"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lrr=1"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lr=fast"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--bogus"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "env.name=nosuchenv"}), 2);
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "env.max_steps=-1"}), 2);
  EXPECT_EQ(run_cli({"train"}), 2);
}

TEST(CliTest, UnknownKeyMessageNamesKeySourceAndNearestKey) {
  testing::internal::CaptureStderr();
  run_cli({"config", config_path(), "--set", "learner.ppo.lrr=1"});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("learner.ppo.lrr"), std::string::npos) << err;
  EXPECT_NE(err.find("--set learner.ppo.lrr=1"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'learner.ppo.lr'"), std::string::npos) << err;
}

TEST(CliTest, ConfigPrintsTheResolvedConfigWithOverrides) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"config", config_path(), "--set", "learner.ppo.lr=0.001"}), 0);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("lr: 0.001"), std::string::npos) << out;
  EXPECT_NE(out.find("max_steps: 500"), std::string::npos) << out;
}

TEST(CliTest, EnvsListsCartPole) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"envs"}), 0);
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("cartpole"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::launch
