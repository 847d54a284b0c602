// End-to-end tests of learning representations: `mnemo pretrain-encoder` on a dataset that
// `mnemo collect` wrote lowers its contrastive loss, resumes, and leaves an encoder.safetensors
// that an RL run starts from and keeps frozen; it also trains on an RL run's replay snapshot; PPO
// trains with augmentation and the ATC loss and resumes with the loss's state, APPO with CURL; bad
// input exits with code 2 naming the problem and writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "core/models/encoders.h"
#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "launch/cli.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

fs::path source_dir() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::current_path();
}
std::string config(const std::string& name) { return (source_dir() / "launch/configs" / name).string(); }

int quiet_cli(const std::vector<std::string>& args, std::string* err = nullptr) {
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  const int rc = run_cli(args);
  testing::internal::GetCapturedStdout();
  const std::string e = testing::internal::GetCapturedStderr();
  if (err != nullptr) *err = e;
  return rc;
}

// The values of `key` in metrics.jsonl, in order.
std::vector<double> metric(const fs::path& run, const std::string& key) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<double> out;
  for (std::string line; std::getline(in, line);) {
    const json::Value row = json::parse(line, "metrics.jsonl");
    if (const json::Value* v = row.find(key)) out.push_back(std::stod(v->text));
  }
  return out;
}

class RepresentationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-it-repr-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    data_ = dir_ / "catch.h5";
    ASSERT_EQ(quiet_cli({"collect", config("catch_memory.yaml"), "--set", "env.visible_rows=0", "--policy", "random",
                         "--episodes", "300", "--out", data_.string()}),
              0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> pretrain(const fs::path& run, int updates) const {
    return {"pretrain-encoder", config("catch_encoder_atc.yaml"), "--dataset", data_.string(), "--run-dir",
            run.string(), "--set", "pretrain.updates=" + std::to_string(updates), "--set", "pretrain.loss.batch=64",
            "--set", "pretrain.checkpoint_every=20", "--set", "pretrain.log_every=10", "--set", "run.progress=false",
            "--set", "run.log_level=warn"};
  }
  TrainConfig rl(std::vector<std::string> sets) const {
    sets.insert(sets.begin(), {"run.progress=false", "run.log_level=warn", "model.cnn_features=8",
                               "learner.log_every=1", "learner.checkpoint_every=2"});
    return load_train_config(config("catch_memory.yaml"), sets);
  }

  fs::path dir_, data_;
};

TEST_F(RepresentationsTest, PretrainedEncoderLowersItsLossResumesAndStartsAFrozenRlEncoder) {
  const fs::path run = dir_ / "enc";
  std::string err;
  ASSERT_EQ(quiet_cli(pretrain(run, 40), &err), 0) << err;
  const auto loss = metric(run, "loss"), acc = metric(run, "accuracy");
  ASSERT_EQ(loss.size(), 4u);
  EXPECT_LT(loss.back(), loss.front() - 0.5);
  EXPECT_GT(acc.back(), 3.0 / 64);  // chance is 1/64
  ASSERT_EQ(quiet_cli({"pretrain-encoder", "--resume", run.string(), "--set", "pretrain.updates=60"}, &err), 0) << err;
  CheckpointManager mgr(run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 60);
  const fs::path file = run / "encoder.safetensors";
  const SafeTensors st = load_safetensors(file);
  EXPECT_EQ(st.metadata.at("mnemo.trained_by"), "atc");
  EXPECT_EQ(st.metadata.at("mnemo.updates"), "60");

  // RL from it, frozen: the trained policy's encoder is still the file's.
  const fs::path rl_run = dir_ / "rl";
  train_embedded(rl({"learner.total_env_steps=1152", "model.encoder_init=" + file.string(), "model.freeze_encoder=true"}),
                 rl_run, false);
  TrainedPolicy trained = load_trained_policy(rl_run.string(), {});
  EXPECT_EQ(trained.updates, 4);
  for (const auto& p : trained.policy->encoder()->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), st.at(p.key()))) << p.key();
  // Not frozen, the same start moves.
  const fs::path tuned_run = dir_ / "tuned";
  train_embedded(rl({"learner.total_env_steps=1152", "model.encoder_init=" + file.string()}), tuned_run, false);
  TrainedPolicy tuned = load_trained_policy(tuned_run.string(), {});
  bool moved = false;
  for (const auto& p : tuned.policy->encoder()->named_parameters()) moved = moved || !torch::equal(p.value(), st.at(p.key()));
  EXPECT_TRUE(moved);
}

// From replay: the sequences an RL run's checkpoint saved with its replay tables.
TEST_F(RepresentationsTest, AnEncoderPretrainsOnTheReplayOfAnRlRun) {
  const fs::path rl_run = dir_ / "rl";
  train_embedded(rl({"learner.total_env_steps=1152", "replay.checkpoint=true", "replay.table.sampler=uniform",
                     "replay.table.max_size=64"}),
                 rl_run, false);
  CheckpointManager mgr(rl_run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  const fs::path shard = mgr.latest()->dir / "replay" / "0";
  const fs::path run = dir_ / "enc";
  std::string err;
  ASSERT_EQ(quiet_cli({"pretrain-encoder", config("catch_encoder_atc.yaml"), "--replay", shard.string(), "--run-dir",
                       run.string(), "--set", "pretrain.updates=10", "--set", "pretrain.loss.batch=32", "--set",
                       "run.progress=false", "--set", "run.log_level=warn"},
                      &err),
            0)
      << err;
  EXPECT_EQ(load_safetensors(run / "encoder.safetensors").metadata.at("mnemo.data"), shard.string());
  // The checkpoint directory itself is no snapshot; a dataset and a snapshot together are refused.
  const fs::path never = dir_ / "never";
  EXPECT_EQ(quiet_cli({"pretrain-encoder", config("catch_encoder_atc.yaml"), "--replay", mgr.latest()->dir.string(),
                       "--run-dir", never.string()},
                      &err),
            2);
  EXPECT_NE(err.find("holds no replay table file"), std::string::npos) << err;
  EXPECT_EQ(quiet_cli({"pretrain-encoder", config("catch_encoder_atc.yaml"), "--replay", shard.string(), "--dataset",
                       data_.string(), "--run-dir", never.string()},
                      &err),
            2);
  EXPECT_NE(err.find("not both"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(never));
}

TEST_F(RepresentationsTest, PpoTrainsWithAugmentationAndTheAtcLossAndResumesItsState) {
  const fs::path run = dir_ / "aux";
  auto sets = [](std::int64_t steps) {
    return std::vector<std::string>{"learner.total_env_steps=" + std::to_string(steps), "learner.aux.type=atc",
                                    "learner.aux.batch=32", "learner.augment.ops=[shift, cutout]",
                                    "learner.augment.shift_pad=1"};
  };
  TrainResult first = train_embedded(rl(sets(1152)), run, false);
  EXPECT_EQ(first.counters.updates, 4);
  const auto aux = metric(run, "aux_loss"), acc = metric(run, "aux_accuracy");
  ASSERT_EQ(aux.size(), 4u);
  for (double v : aux) EXPECT_TRUE(std::isfinite(v) && v > 0);
  EXPECT_EQ(acc.size(), 4u);
  CheckpointManager mgr(run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_TRUE(fs::exists(mgr.latest()->dir / "aux.pt"));
  TrainResult second = train_embedded(rl(sets(1728)), run, true);
  EXPECT_EQ(second.counters.updates, 6);
  EXPECT_EQ(metric(run, "aux_loss").size(), 6u);
  // APPO with CURL and a crop-and-jitter chain.
  const fs::path appo = dir_ / "appo";
  train_embedded(rl({"learner.algo=appo", "learner.total_env_steps=576", "learner.aux.type=curl",
                     "learner.augment.ops=[crop, jitter]"}),
                 appo, false);
  const auto curl = metric(appo, "aux_loss");
  ASSERT_EQ(curl.size(), 2u);
  for (double v : curl) EXPECT_TRUE(std::isfinite(v) && v > 0);
  EXPECT_EQ(metric(appo, "rho_clip_frac").size(), 2u);
}

TEST_F(RepresentationsTest, BadInputExitsWithCode2NamingTheProblemAndWritesNothing) {
  const fs::path run = dir_ / "never";
  const fs::path cartpole = dir_ / "cartpole.h5";
  ASSERT_EQ(quiet_cli({"collect", config("cartpole_ppo.yaml"), "--policy", "random", "--episodes", "3", "--out",
                       cartpole.string()}),
            0);
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"pretrain-encoder", config("catch_encoder_atc.yaml"), "--run-dir", run.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {with({}), "a dataset is required"},
      {with({"--dataset", (dir_ / "missing.h5").string()}), "missing.h5"},
      {with({"--dataset", cartpole.string()}), "the env's are"},
      {with({"--dataset", data_.string(), "--set", "pretrain.loss.type=simclr"}), "pretrain.loss.type"},
      {with({"--dataset", data_.string(), "--set", "pretrain.loss.delta=9"}), "later in the same episode"},
      {with({"--dataset", data_.string(), "--set", "model.encoder=nature"}), "36x36"},
      {with({"--dataset", data_.string(), "--set", "pretrain.updatez=3"}), "pretrain.updates"},
      {{"pretrain-encoder", "--resume", (dir_ / "no-such-run").string()}, "not found"},
  };
  for (const auto& [args, want] : cases) {
    std::string err;
    EXPECT_EQ(quiet_cli(args, &err), 2) << want;
    EXPECT_NE(err.find(want), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(run)) << want;
  }
  // An RL run refuses an encoder of another shape, and the ATC loss on a frozen encoder.
  const fs::path enc = dir_ / "enc";
  ASSERT_EQ(quiet_cli(pretrain(enc, 2)), 0);
  try {
    train_embedded(rl({"model.cnn_features=16", "model.encoder_init=" + (enc / "encoder.safetensors").string()}),
                   dir_ / "rl-bad", false);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encodes to 8 features"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_embedded(rl({"learner.aux.type=atc", "model.freeze_encoder=true"}), dir_ / "rl-bad2", false),
               ConfigError);
}

}  // namespace
}  // namespace mnemo::launch
