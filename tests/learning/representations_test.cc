// Learning tests (label `learning`) of learning from pixels (docs/representations.md), on Catch
// whose ball shows only in the first observation (launch/configs/catch_memory.yaml):
//   - an LSTM policy remembers the ball and catches almost all (return >= 0.9 of a maximum 1)
//     while a memoryless one cannot beat its bound of 3 balls in 5 (a return of 0.2);
//   - RAD's random shift and the ATC auxiliary loss do not stop it from learning;
//   - decoupled (ATC's claim, small): an encoder pretrained with ATC on random-policy frames and
//     frozen lets RL reach the target, a frozen randomly initialised one of the same shape does not.
// Synchronous single-actor runs are reproducible from the seed, so these cannot flake.
#include <gtest/gtest.h>

#include <filesystem>

#include "launch/cli.h"
#include "launch/train.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

fs::path source_dir() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::current_path();
}
std::string config(const std::string& name) { return (source_dir() / "launch/configs" / name).string(); }

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("mnemo-repr-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

double return_after_training(const std::string& name, std::vector<std::string> sets) {
  sets.insert(sets.begin(), {"run.progress=false", "run.log_level=warn"});
  const fs::path dir = fresh_dir(name);
  const TrainResult r = train_embedded(load_train_config(config("catch_memory.yaml"), sets), dir, /*resume=*/false);
  fs::remove_all(dir);
  return r.recent_return;
}

TEST(PixelMemoryLearningTest, LstmRemembersTheBall) { EXPECT_GE(return_after_training("lstm", {}), 0.9); }

TEST(PixelMemoryLearningTest, MemorylessPolicyCannotBeatItsBound) {
  // The bound holds for any memoryless policy; a shorter run is enough to show it is not passed.
  EXPECT_LT(return_after_training("mlp", {"model.type=mlp", "learner.total_env_steps=100000"}), 0.4);
}

TEST(PixelMemoryLearningTest, RadShiftAndTheAtcLossStillLearn) {
  EXPECT_GE(return_after_training("rad-atc", {"learner.augment.ops=[shift]", "learner.augment.shift_pad=1",
                                              "learner.aux.type=atc", "learner.aux.augment.shift_pad=1"}),
            0.9);
}

TEST(PixelMemoryLearningTest, AtcPretrainedFrozenEncoderLearnsWhereARandomFrozenOneCannot) {
  const fs::path dir = fresh_dir("decoupled");
  fs::create_directories(dir);
  const fs::path data = dir / "catch_random.h5", enc = dir / "encoder";
  ASSERT_EQ(run_cli({"collect", config("catch_memory.yaml"), "--set", "env.visible_rows=0", "--policy", "random",
                     "--episodes", "4000", "--out", data.string()}),
            0);
  ASSERT_EQ(run_cli({"pretrain-encoder", config("catch_encoder_atc.yaml"), "--dataset", data.string(), "--run-dir",
                     enc.string(), "--set", "run.progress=false", "--set", "run.log_level=warn"}),
            0);
  const std::vector<std::string> frozen = {"model.cnn_features=8", "model.freeze_encoder=true"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), frozen.begin(), frozen.end());
    return more;
  };
  const double pretrained =
      return_after_training("atc-frozen", with({"model.encoder_init=" + (enc / "encoder.safetensors").string()}));
  const double random = return_after_training("random-frozen", with({}));
  fs::remove_all(dir);
  EXPECT_GE(pretrained, 0.9);
  EXPECT_LT(random, 0.5);
}

}  // namespace
}  // namespace mnemo::launch
