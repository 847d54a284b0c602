// Offline runs end to end: collect a dataset, train a DT through `mnemo train`'s code path,
// evaluate its checkpoint as `mnemo eval` does, and resume it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/check.h"
#include "launch/collect.h"
#include "launch/offline.h"
#include "launch/train.h"
#include "launch/trained_policy.h"
#include "tests/actors/fixed_length_env.h"

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

  // The sources: $MNEMO_SOURCE_DIR, else the working directory (ctest runs tests in the source tree).
  static fs::path source_dir() {
    const char* s = std::getenv("MNEMO_SOURCE_DIR");
    return s != nullptr ? fs::path(s) : fs::current_path();
  }
  fs::path config_ = source_dir() / "launch/configs/key_to_door_dt_small.yaml";
  fs::path dir_;
  double best_ = 0;
};

// 20 episodes over 10 envs where env 0's episodes last 1 step and the others' 8: each env plays
// two, so the mean length is 7.3. Taking the first 20 episodes to finish gave 4.15.
TEST(EvaluateDtTest, EveryEnvContributesItsShareOfEpisodes) {
  learners::DTOptions o;
  o.dataset = "unused.h5";
  o.context = 2;
  o.gpt.n_layer = 1;
  o.gpt.n_head = 1;
  o.gpt.n_embd = 8;
  o.gpt.n_positions = 32;
  o.gpt.dropout = 0.0;
  o.max_ep_len = 16;
  const envs::EnvFactory factory = testing::fixed_length_envs(/*long_length=*/8);
  auto probe = factory(0);
  learners::DTShape shape{probe->observation_spec(), probe->action_space(), /*condition_on_return=*/true};
  learners::DecisionTransformer model(o, shape);
  const auto m = evaluate_dt(model, o, factory, /*episodes=*/20, /*envs=*/10, /*target_return=*/8, /*seed=*/3);
  EXPECT_DOUBLE_EQ(m.at("eval_length"), 7.3);
  EXPECT_DOUBLE_EQ(m.at("eval_return"), 7.3);
}

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
