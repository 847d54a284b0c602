// Offline runs end to end: collect a dataset, train a DT through `mnemo train`'s code path,
// evaluate its checkpoint as `mnemo eval` does, and resume it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/check.h"
#include "launch/collect.h"
#include "launch/offline.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

class OfflineRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-offline-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    CollectOptions co;
    co.config = config_.string();
    co.policy = "random";
    co.episodes = 20;
    co.envs = 4;
    co.seed = 3;
    co.out = (dir_ / "data.h5").string();
    best_ = 0;
    const auto data = collect_and_write(co).dataset;
    for (const auto& e : replay::split_episodes(data)) best_ = std::max(best_, e.ret);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainConfig config(std::int64_t updates) const {
    return load_train_config(config_.string(), {"learner.dt.dataset=" + (dir_ / "data.h5").string(),
                                                "learner.dt.updates=" + std::to_string(updates),
                                                "learner.dt.batch_size=8", "learner.dt.eval_episodes=4",
                                                "learner.dt.eval_envs=2", "learner.checkpoint_every=2",
                                                "run.progress=false", "run.log_level=warn"});
  }

  fs::path config_ = fs::current_path() / "launch/configs/key_to_door_dt_small.yaml";
  fs::path dir_;
  double best_ = 0;
};

TEST_F(OfflineRunTest, TrainsEvaluatesAndResumesADecisionTransformerRun) {
  TrainResult r = train_embedded(config(/*updates=*/4), dir_ / "run", /*resume=*/false);
  EXPECT_EQ(r.counters.updates, 4);
  EXPECT_TRUE(r.recent_infos.count("success"));
  ASSERT_TRUE(is_offline_run((dir_ / "run").string()));

  auto e = evaluate_offline_run((dir_ / "run").string(), {}, /*episodes=*/3, /*envs=*/2, /*seed=*/1, /*sample=*/false);
  EXPECT_EQ(e.updates, 4);
  EXPECT_DOUBLE_EQ(e.target_return, best_);  // target_return 0: the dataset's best return
  for (const char* m : {"eval_return", "eval_length", "eval_success", "eval_has_key"}) EXPECT_TRUE(e.metrics.count(m)) << m;
  EXPECT_GE(e.metrics.at("eval_length"), 1.0);
  // Online-policy tools refuse it with a clear error.
  EXPECT_THROW(load_trained_policy((dir_ / "run").string(), {}), ConfigError);

  TrainResult resumed = train_embedded(config(/*updates=*/6), dir_ / "run", /*resume=*/true);
  EXPECT_EQ(resumed.counters.updates, 6);
}

TEST_F(OfflineRunTest, AMissingDatasetOrAnUnknownAlgorithmIsAConfigError) {
  TrainConfig c = config(2);
  c.learner.dt.dataset = (dir_ / "missing.h5").string();
  EXPECT_THROW(train_embedded(c, dir_ / "bad", false), Error);
  EXPECT_THROW(load_train_config(config_.string(), {"learner.algo=dtt"}), ConfigError);
}

}  // namespace
}  // namespace mnemo::launch
