// Learning tests (label `learning`): on a T-Maze whose cue is visible only at the first step,
// the memory models (LSTM, AGaLiTe, GTrXL) reach >= 95% success and a memoryless MLP does not.
// Synchronous single-actor runs are reproducible from the seed, so these cannot flake.
#include <gtest/gtest.h>

#include <filesystem>

#include "launch/train.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

double success_after_training(const std::string& model) {
  const char* src = std::getenv("MNEMO_SOURCE_DIR");
  fs::path config = fs::path(src != nullptr ? src : ".") / "launch/configs/tmaze_memory_small.yaml";
  TrainConfig c = load_train_config(config.string(),
                                    {"model.type=" + model, "run.progress=false", "run.log_level=warn"});
  fs::path dir = fs::temp_directory_path() / ("mnemo-tmaze-" + model + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  TrainResult r = train_embedded(c, dir, /*resume=*/false);
  fs::remove_all(dir);
  EXPECT_TRUE(r.recent_infos.count("success")) << "the T-Maze reports success";
  return r.recent_infos.count("success") ? r.recent_infos.at("success") : 0.0;
}

TEST(TMazeLearningTest, LstmRemembersTheCue) { EXPECT_GE(success_after_training("lstm"), 0.95); }
TEST(TMazeLearningTest, AgaliteRemembersTheCue) { EXPECT_GE(success_after_training("agalite"), 0.95); }
TEST(TMazeLearningTest, GtrxlRemembersTheCue) { EXPECT_GE(success_after_training("gtrxl"), 0.95); }
TEST(TMazeLearningTest, MemorylessMlpCannotBeatChance) { EXPECT_LT(success_after_training("mlp"), 0.8); }

}  // namespace
}  // namespace mnemo::launch
