// Offline datasets against the real readers and writers (tests/interop/datasets_reference.py,
// build/venv): minari.load_dataset reads a dataset directory that `mnemo collect` wrote, with the
// same episodes; mnemo reads a dataset that Minari's own DataCollector recorded, and a D4RL file
// that h5py wrote with D4RL's key set, with the values the env loop produced. Skipped without
// build/venv.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "launch/collect.h"
#include "replay/datasets/dataset.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

const std::string kPython = MNEMO_VENV_PYTHON;
const std::string kScript = std::string(MNEMO_SOURCE_DIR) + "/tests/interop/datasets_reference.py";

#define REQUIRE_VENV() \
  if (!fs::exists(kPython)) GTEST_SKIP() << "no " << kPython << " (make test-interop makes it: scripts/python-venv.sh)"

class DatasetsInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-datasets-interop-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    setenv("MINARI_DATASETS_PATH", (dir_ / "minari").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }
  int reference(const std::string& mode, const std::string& a, const fs::path& b) const {
    return std::system((kPython + " " + kScript + " " + mode + " " + a + " " + b.string()).c_str());
  }
  fs::path dir_;
};

std::string floats(const float* p, std::int64_t n) {
  std::string s = "[";
  for (std::int64_t i = 0; i < n; ++i) s += (i ? ", " : "") + json::number(p[i]);
  return s + "]";
}

// The episodes of `d` as datasets_reference.py writes them.
std::string episodes_json(const replay::Dataset& d) {
  const std::int64_t dim = d.observations.numel() / d.size();
  std::string s = "[";
  const auto eps = replay::split_episodes(d);
  for (std::size_t i = 0; i < eps.size(); ++i) {
    const replay::Episode& e = eps[i];
    std::string obs = "[", acts = "[", rews = "[", terms = "[", truncs = "[";
    for (std::int64_t t = e.begin; t < e.end; ++t) {
      const bool first = t == e.begin;
      obs += (first ? "" : ", ") + floats(d.observations.data<float>() + t * dim, dim);
      acts += (first ? "" : ", ") + std::to_string(d.actions.data<std::int64_t>()[t]);
      rews += (first ? "" : ", ") + json::number(d.rewards.data<float>()[t]);
      terms += std::string(first ? "" : ", ") + (d.terminals.data<bool>()[t] ? "true" : "false");
      truncs += std::string(first ? "" : ", ") + (d.timeouts.data<bool>()[t] ? "true" : "false");
    }
    obs += ", " + floats(d.final_observations.data<float>() + static_cast<std::int64_t>(i) * dim, dim) + "]";
    s += std::string(i ? ", " : "") + "{\"observations\": " + obs + ", \"actions\": " + acts + "], \"rewards\": " + rews +
         "], \"terminations\": " + terms + "], \"truncations\": " + truncs + "]}";
  }
  return s + "]";
}

// Checks that `d` (as mnemo read it) holds the episodes of `json_path` (as the Python loop saw
// them); `final_obs`: whether the layout keeps each episode's last observation.
void expect_episodes(const replay::Dataset& d, const fs::path& json_path, bool final_obs) {
  std::ifstream in(json_path);
  const json::Value want = json::parse(std::string(std::istreambuf_iterator<char>(in), {}), json_path.string());
  const auto eps = replay::split_episodes(d);
  ASSERT_EQ(eps.size(), want.items.size());
  const std::int64_t dim = d.observations.numel() / d.size();
  for (std::size_t i = 0; i < eps.size(); ++i) {
    const json::Value& w = want.items[i];
    const replay::Episode& e = eps[i];
    ASSERT_EQ(static_cast<std::size_t>(e.length()), w.find("actions")->items.size()) << "episode " << i;
    for (std::int64_t t = 0; t < e.length(); ++t) {
      const std::int64_t row = e.begin + t;
      const auto& o = w.find("observations")->items[static_cast<std::size_t>(t)].items;
      for (std::int64_t k = 0; k < dim; ++k)
        ASSERT_EQ(d.observations.data<float>()[row * dim + k], static_cast<float>(o[static_cast<std::size_t>(k)].as_double("obs")))
            << "episode " << i << " step " << t;
      EXPECT_EQ(d.actions.data<std::int64_t>()[row], w.find("actions")->items[static_cast<std::size_t>(t)].as_int64("a"));
      EXPECT_EQ(d.rewards.data<float>()[row], static_cast<float>(w.find("rewards")->items[static_cast<std::size_t>(t)].as_double("r")));
      EXPECT_EQ(d.terminals.data<bool>()[row], w.find("terminations")->items[static_cast<std::size_t>(t)].as_bool("t"));
      EXPECT_EQ(d.timeouts.data<bool>()[row], w.find("truncations")->items[static_cast<std::size_t>(t)].as_bool("t"));
    }
    if (final_obs) {
      ASSERT_TRUE(d.has_final_observations());
      const auto& last = w.find("observations")->items.back().items;
      for (std::int64_t k = 0; k < dim; ++k)
        EXPECT_EQ(d.final_observations.data<float>()[static_cast<std::int64_t>(i) * dim + k],
                  static_cast<float>(last[static_cast<std::size_t>(k)].as_double("obs")));
    }
  }
}

TEST_F(DatasetsInteropTest, MinariLoadsADatasetDirectoryThatMnemoCollectWrote) {
  REQUIRE_VENV();
  CollectOptions o;
  o.config = std::string(MNEMO_SOURCE_DIR) + "/launch/configs/cartpole_ppo.yaml";
  o.policy = "random";
  o.episodes = 7;
  o.envs = 3;
  o.format = "minari";
  o.out = (dir_ / "minari" / "mnemo" / "cartpole-random-v0").string() + "/";
  const CollectResult r = collect_and_write(o);
  std::ofstream(dir_ / "expected.json") << episodes_json(r.dataset);
  EXPECT_EQ(reference("check-minari", "mnemo/cartpole-random-v0", dir_ / "expected.json"), 0)
      << "see the reference's output above";
}

TEST_F(DatasetsInteropTest, MnemoReadsADatasetThatMinarisDataCollectorRecorded) {
  REQUIRE_VENV();
  ASSERT_EQ(reference("write-minari", "cartpole/random-v0", dir_ / "loop.json"), 0);
  const replay::Dataset d = replay::read_dataset(dir_ / "minari" / "cartpole" / "random-v0");
  expect_episodes(d, dir_ / "loop.json", /*final_obs=*/true);
}

TEST_F(DatasetsInteropTest, MnemoReadsAD4rlFileThatH5pyWroteWithD4rlsKeys) {
  REQUIRE_VENV();
  ASSERT_EQ(reference("write-d4rl", (dir_ / "d4rl.hdf5").string(), dir_ / "loop.json"), 0);
  const replay::Dataset d = replay::read_dataset(dir_ / "d4rl.hdf5");
  expect_episodes(d, dir_ / "loop.json", /*final_obs=*/false);
  ASSERT_EQ(d.infos.count("step"), 1u);
  EXPECT_EQ(d.infos.at("step").data<float>()[d.size() - 1], static_cast<float>(d.size() - 1));
  EXPECT_EQ(d.metadata.at("env"), "CartPole-v1");
}

}  // namespace
}  // namespace mnemo::launch
