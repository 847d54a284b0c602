// Tests of the command line: exit codes and messages for bad input.
#include "launch/cli.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
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

namespace mnemo::launch {
namespace {

TEST(CliTest, RenderWritesAnAnimatedGif) {
  auto out = std::filesystem::temp_directory_path() / ("mnemo-render-" + std::to_string(::getpid()) + ".gif");
  ASSERT_EQ(run_cli({"render", "tmaze", "--set", "corridor_length=5", "--steps", "8", "--out", out.string()}), 0);
  std::FILE* f = std::fopen(out.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  char magic[6] = {0};
  ASSERT_EQ(std::fread(magic, 1, 6, f), 6u);
  std::fclose(f);
  EXPECT_EQ(std::string(magic, 6), "GIF89a");
  std::filesystem::remove(out);
  EXPECT_EQ(run_cli({"render", "nosuchenv", "--out", out.string()}), 2);
}

}  // namespace
}  // namespace mnemo::launch
