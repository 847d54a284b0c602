// End-to-end tests of `mnemo collect` and `mnemo dataset info`: datasets collected from tiny
// configs with the scripted, random and trained policies hold exactly the requested episodes,
// read back with the right returns, and are reproducible from the seed; bad input exits with 2.
#include "launch/collect.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/version.h"
#include "launch/cli.h"
#include "launch/train.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

std::string source_config(const std::string& name) {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return (fs::path(s != nullptr ? s : ".") / "launch/configs" / name).string();
}

class CollectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mnemo-collect-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A config file holding just an env section.
  std::string config(const std::string& env_yaml) const {
    const fs::path p = dir_ / "config.yaml";
    std::ofstream(p) << "run:\n  progress: false\n  log_level: warn\nenv:\n" << env_yaml;
    return p.string();
  }
  CollectOptions options(const std::string& config, const std::string& policy, std::int64_t episodes) const {
    CollectOptions o;
    o.config = config;
    o.policy = policy;
    o.episodes = episodes;
    o.out = (dir_ / "data.h5").string();
    return o;
  }

  fs::path dir_;
};

double info_at_end(const replay::Dataset& d, const std::string& name, const replay::Episode& e) {
  return d.infos.at(name).data<float>()[e.end - 1];
}

TEST_F(CollectTest, ScriptedKeyToDoorWritesNEpisodesThatReadBackSolved) {
  CollectOptions o = options(config("  name: key_to_door\n"), "scripted", /*episodes=*/7);
  o.envs = 3;
  const CollectResult r = collect_and_write(o);
  EXPECT_EQ(r.num_envs, 3);
  EXPECT_DOUBLE_EQ(r.mean_return, 1.0);

  const replay::Dataset d = replay::read_dataset(o.out);
  const std::vector<replay::Episode> eps = replay::split_episodes(d);
  ASSERT_EQ(eps.size(), 7u);
  for (const auto& e : eps) {
    EXPECT_DOUBLE_EQ(e.ret, 1.0);
    EXPECT_TRUE(e.terminated);
    EXPECT_EQ(info_at_end(d, "success", e), 1.0);
    EXPECT_EQ(info_at_end(d, "has_key", e), 1.0);
  }
  // Observations are the env's uint8 planes, recorded before each action: every episode starts
  // with the agent on exactly one cell of the key room.
  EXPECT_EQ(d.observations.dtype(), DType::kUInt8);
  EXPECT_EQ(d.observations.shape(), (Shape{d.size(), 4, 5, 5}));
  EXPECT_EQ(d.actions.dtype(), DType::kInt64);
  const std::uint8_t* first_obs = d.observations.data<std::uint8_t>() + eps[3].begin * 100;
  int agents = 0;
  for (int c = 0; c < 25; ++c) agents += first_obs[c];
  EXPECT_EQ(agents, 1);
  EXPECT_EQ(d.metadata.at("env"), "key_to_door");
  EXPECT_EQ(d.metadata.at("policy"), "scripted");
  EXPECT_EQ(d.metadata.at("episodes"), "7");
  EXPECT_EQ(d.metadata.at("seed"), "1");
  EXPECT_EQ(d.metadata.at("mnemo_version"), kVersion);
  EXPECT_NE(d.metadata.at("config").find("key_to_door"), std::string::npos);
}

TEST_F(CollectTest, ScriptedTMazeInMinariLayoutKeepsFinalObservations) {
  CollectOptions o = options(config("  name: tmaze\n  corridor_length: 6\n"), "scripted", /*episodes=*/5);
  o.format = "minari";
  collect_and_write(o);
  const replay::Dataset d = replay::read_minari(o.out);
  const std::vector<replay::Episode> eps = replay::split_episodes(d);
  ASSERT_EQ(eps.size(), 5u);
  ASSERT_TRUE(d.has_final_observations());
  EXPECT_EQ(d.final_observations.shape()[0], 5);
  for (const auto& e : eps) {
    EXPECT_EQ(e.length(), 6);                              // five steps right, one turn
    EXPECT_NEAR(e.ret, 4.0 - 5 * 0.1, 1e-5);               // correct turn after five step penalties
    EXPECT_EQ(info_at_end(d, "success", e), 1.0);
    // The cue shows only in each episode's first observation.
    const float* obs = d.observations.data<float>() + e.begin * d.observations.shape()[1];
    EXPECT_EQ(obs[0] + obs[1], 1.0f);
  }
}

TEST_F(CollectTest, SameSeedGivesTheSameDatasetAndAnotherSeedAnother) {
  const std::string c = config("  name: cartpole\n");
  auto run = [&](std::uint64_t seed) {
    CollectOptions o = options(c, "random", /*episodes=*/6);
    o.seed = seed;
    o.envs = 4;
    return collect(o).dataset;
  };
  const replay::Dataset a = run(5), b = run(5), other = run(6);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.observations.raw(), b.observations.raw(), a.observations.nbytes()), 0);
  EXPECT_EQ(std::memcmp(a.actions.raw(), b.actions.raw(), a.actions.nbytes()), 0);
  EXPECT_EQ(std::memcmp(a.rewards.raw(), b.rewards.raw(), a.rewards.nbytes()), 0);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_TRUE(a.size() != other.size() ||
              std::memcmp(a.observations.raw(), other.observations.raw(), a.observations.nbytes()) != 0);
  EXPECT_EQ(replay::split_episodes(a).size(), 6u);
}

TEST_F(CollectTest, AnEnvThroughTheGymBridgeIsCollectedLikeANativeOne) {
  if (std::system("/usr/bin/python3 -c 'import numpy, zmq' >/dev/null 2>&1") != 0 &&
      std::system("python3 -c 'import numpy, zmq' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no python3 with numpy and pyzmq (Debian: python3-numpy python3-zmq)";
  const std::string c = config("  name: gym\n  id: mnemo_envs.examples:cartpole\n  servers: 2\n");
  auto run = [&](std::uint64_t seed) {
    CollectOptions o = options(c, "random", /*episodes=*/5);
    o.seed = seed;
    o.envs = 3;
    return collect(o).dataset;
  };
  const replay::Dataset a = run(3), b = run(3);
  const std::vector<replay::Episode> eps = replay::split_episodes(a);
  ASSERT_EQ(eps.size(), 5u);
  for (const auto& e : eps) EXPECT_DOUBLE_EQ(e.ret, static_cast<double>(e.end - e.begin));  // +1 per step
  EXPECT_EQ(a.observations.shape(), (Shape{a.size(), 4}));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.observations.raw(), b.observations.raw(), a.observations.nbytes()), 0);
}

TEST_F(CollectTest, TrainedPolicyFromARunDirectoryIsCollected) {
  const fs::path run = dir_ / "run";
  TrainConfig c = load_train_config(source_config("cartpole_ppo.yaml"),
                                    {"learner.total_env_steps=2560", "run.progress=false", "run.log_level=warn"});
  train_embedded(c, run, /*resume=*/false);
  CollectOptions o;
  o.policy = run.string();  // no CONFIG: the checkpoint's own
  o.episodes = 4;
  o.out = (dir_ / "trained.h5").string();
  const CollectResult r = collect_and_write(o);
  const replay::Dataset d = replay::read_d4rl(o.out);
  EXPECT_EQ(replay::split_episodes(d).size(), 4u);
  EXPECT_EQ(d.metadata.at("policy"), "checkpoint");
  EXPECT_EQ(d.metadata.at("checkpoint_updates"), "5");
  EXPECT_EQ(d.metadata.at("stochastic"), "false");
  // With a CONFIG whose env has other spaces, the policy does not fit.
  o.config = config("  name: pendulum\n");
  try {
    collect(o);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the policy"), std::string::npos) << e.what();
  }
  (void)r;
}

TEST_F(CollectTest, DatasetInfoSummarisesACollectedFile) {
  CollectOptions o = options(config("  name: catch\n"), "scripted", /*episodes=*/3);
  collect_and_write(o);
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"dataset", "info", o.out}), 0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("27 transitions, 3 episodes (3 terminated"), std::string::npos) << out;
  EXPECT_NE(out.find("observations  uint8 [27, 40, 20, 3]"), std::string::npos) << out;
  EXPECT_NE(out.find("success  1.000"), std::string::npos) << out;
  EXPECT_NE(out.find("env: catch"), std::string::npos) << out;
}

TEST_F(CollectTest, BadInputExitsWithCode2AndNamesTheProblem) {
  const std::string c = config("  name: pendulum\n");
  const std::string out = (dir_ / "x.h5").string();
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_cli({"collect", c, "--policy", "scripted", "--episodes", "2", "--out", out}), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("'pendulum' has no scripted expert"), std::string::npos) << err;
  EXPECT_NE(err.find("key_to_door"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"collect", c, "--episodes", "2", "--out", out}), 2);                         // no --policy
  EXPECT_EQ(run_cli({"collect", "--policy", "random", "--episodes", "2", "--out", out}), 2);      // no CONFIG
  EXPECT_EQ(run_cli({"collect", c, "--policy", "random", "--episodes", "0", "--out", out}), 2);   // no episodes
  EXPECT_EQ(run_cli({"collect", c, "--policy", "random", "--episodes", "2"}), 2);                 // no --out
  EXPECT_EQ(run_cli({"collect", c, "--policy", "random", "--episodes", "2", "--out", out, "--format", "csv"}), 2);
  EXPECT_EQ(run_cli({"collect", c, "--policy", "random", "--episodes", "2", "--out", "/nonexistent/x.h5"}), 2);
  EXPECT_EQ(run_cli({"collect", c, "--policy", (dir_ / "norun").string(), "--episodes", "2", "--out", out}), 2);
  EXPECT_EQ(run_cli({"collect", c, "--policy", "random", "--episodes", "2", "--out", out, "--bogus"}), 2);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(run_cli({"dataset"}), 2);
  EXPECT_EQ(run_cli({"dataset", "frobnicate"}), 2);
  EXPECT_EQ(run_cli({"dataset", "info"}), 2);
  EXPECT_EQ(run_cli({"dataset", "info", out}), 2);  // missing file
  std::ofstream(dir_ / "text.h5") << "not hdf5";
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_cli({"dataset", "info", (dir_ / "text.h5").string()}), 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("not a readable HDF5 file"), std::string::npos) << err;
}

}  // namespace
}  // namespace mnemo::launch
