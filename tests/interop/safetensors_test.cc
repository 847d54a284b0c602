// The safetensors package (from build/venv) loads what `mnemo export` writes: a tiny trained
// CartPole policy, exported, loads with safetensors' own numpy loader with the same tensor names,
// dtypes, shapes and bytes as the policy mnemo holds, and with mnemo's metadata
// (tests/interop/safetensors_reference.py). Skipped without build/venv.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/crc32c.h"
#include "core/json.h"
#include "launch/export.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

TEST(SafetensorsInteropTest, TheSafetensorsPackageLoadsAnExportWithMnemosNamesShapesAndBytes) {
  const std::string python = MNEMO_VENV_PYTHON;
  if (!fs::exists(python)) GTEST_SKIP() << "no " << python << " (make test-interop makes it: scripts/python-venv.sh)";
  const fs::path dir = fs::temp_directory_path() / ("mnemo-safetensors-interop-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  TrainConfig c = load_train_config(std::string(MNEMO_SOURCE_DIR) + "/launch/configs/cartpole_ppo.yaml",
                                    {"learner.total_env_steps=2560", "run.progress=false", "run.log_level=warn"});
  train_embedded(c, dir / "run", /*resume=*/false);
  const fs::path out = dir / "policy.safetensors";
  export_policy((dir / "run").string(), out);

  TrainedPolicy trained = load_trained_policy((dir / "run").string(), {});
  std::string expected = "{";
  bool first = true;
  for (const auto& [name, t] : policy_tensors(*trained.policy)) {
    const torch::Tensor c = t.detach().contiguous();
    std::string shape = "[";
    for (std::int64_t i = 0; i < c.dim(); ++i) shape += (i ? ", " : "") + std::to_string(c.size(i));
    expected += (first ? "" : ", ") + json::quote(name) + ": {\"dtype\": \"" +
                std::string(c.scalar_type() == torch::kFloat ? "float32" : c.scalar_type() == torch::kLong ? "int64" : "other") +
                "\", \"shape\": " + shape + "], \"crc32c\": " +
                std::to_string(crc32c(c.data_ptr(), static_cast<std::size_t>(c.nbytes()))) + "}";
    first = false;
  }
  std::ofstream(dir / "expected.json") << expected << "}";
  const std::string cmd = python + " " + MNEMO_SOURCE_DIR + "/tests/interop/safetensors_reference.py " + out.string() +
                          " " + (dir / "expected.json").string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "see the reference's output above";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::launch
