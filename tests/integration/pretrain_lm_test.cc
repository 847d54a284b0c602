// End-to-end tests of `mnemo pretrain-lm`: a few dozen steps on a small generated corpus with the
// shipped ChibiT config lower the loss and leave an lm.safetensors that loads as GPT-2 weights;
// a run resumes from its checkpoint; bad input exits with code 2 and writes nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/json.h"
#include "core/models/gpt.h"
#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "launch/cli.h"

namespace mnemo::launch {
namespace {
namespace fs = std::filesystem;

fs::path source_dir() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::current_path();
}

std::string config_path() { return (source_dir() / "launch/configs/lm_chibit.yaml").string(); }

// Documents of three sentences from a tiny grammar, separated by blank lines.
std::string grammar_corpus(int documents) {
  const char* adj[] = {"quick", "lazy", "red", "small", "happy", "old", "bright", "quiet"};
  const char* noun[] = {"fox", "dog", "cat", "bird", "robot", "agent", "river", "tree"};
  const char* verb[] = {"jumps over", "chases", "sees", "follows", "ignores", "finds"};
  std::mt19937 rng(3);
  auto pick = [&rng](const auto& list) { return list[rng() % (sizeof(list) / sizeof(list[0]))]; };
  std::string text;
  for (int d = 0; d < documents; ++d) {
    for (int s = 0; s < 3; ++s)
      text += std::string("the ") + pick(adj) + " " + pick(noun) + " " + pick(verb) + " the " + pick(adj) + " " +
              pick(noun) + ".\n";
    text += "\n";
  }
  return text;
}

// The val_loss values of metrics.jsonl, in order.
std::vector<double> val_losses(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<double> out;
  for (std::string line; std::getline(in, line);) {
    const json::Value row = json::parse(line, "metrics.jsonl");
    if (const json::Value* v = row.find("val_loss")) out.push_back(std::stod(v->text));
  }
  return out;
}

class PretrainLmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-it-lm-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    corpus_ = dir_ / "corpus.txt";
    std::ofstream(corpus_) << grammar_corpus(/*documents=*/300);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The shipped config, shortened to a few dozen steps.
  std::vector<std::string> short_run(const fs::path& run, std::int64_t steps) const {
    return {"pretrain-lm", "--corpus", corpus_.string(), config_path(), "--run-dir", run.string(),
            "--set", "lm.steps=" + std::to_string(steps), "--set", "lm.warmup=5", "--set", "lm.lr=2e-3",
            "--set", "lm.block_size=64", "--set", "lm.eval_every=20", "--set", "lm.checkpoint_every=20",
            "--set", "run.progress=false", "--set", "run.log_level=warn"};
  }

  int quiet_cli(const std::vector<std::string>& args, std::string* err = nullptr) const {
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    const int rc = run_cli(args);
    testing::internal::GetCapturedStdout();
    const std::string e = testing::internal::GetCapturedStderr();
    if (err != nullptr) *err = e;
    return rc;
  }

  fs::path dir_, corpus_;
};

TEST_F(PretrainLmTest, PretrainingLowersTheLossAndWritesWeightsThatLoadAsGpt2) {
  const fs::path run = dir_ / "run";
  ASSERT_EQ(quiet_cli(short_run(run, /*steps=*/40)), 0);
  const auto val = val_losses(run);
  ASSERT_EQ(val.size(), 3u);  // steps 0, 20 and 40
  EXPECT_NEAR(val.front(), std::log(257.0), 0.3);
  EXPECT_LT(val.back(), 0.6 * val.front());

  const SafeTensors weights = load_safetensors(run / "lm.safetensors");
  const nn::GPTOptions o = nn::gpt2_options(weights, /*n_head=*/8);  // n_head comes from the metadata
  EXPECT_EQ(o.n_layer, 3);
  EXPECT_EQ(o.n_head, 1);
  EXPECT_EQ(o.n_embd, 128);
  EXPECT_EQ(o.n_positions, 1024);
  EXPECT_EQ(o.vocab_size, 257);
  nn::GPT model(o);
  const auto loaded = nn::load_gpt2_weights(*model, weights, (run / "lm.safetensors").string());
  EXPECT_EQ(loaded.size(), weights.tensors.size());
  EXPECT_EQ(loaded.size(), model->parameters().size());
  // A Decision Transformer takes the blocks without the vocabulary.
  nn::GPTOptions dt = o;
  dt.vocab_size = 0;
  nn::GPT dt_model(dt);
  EXPECT_EQ(nn::load_gpt2_weights(*dt_model, weights, "lm.safetensors", /*skip_wte=*/true).size(), loaded.size() - 1);

  EXPECT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_TRUE(fs::exists(run / "logs" / "rank-0.log"));
  CheckpointManager mgr(run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 40);
}

TEST_F(PretrainLmTest, ResumeContinuesFromTheLatestCheckpoint) {
  const fs::path run = dir_ / "run";
  ASSERT_EQ(quiet_cli(short_run(run, /*steps=*/20)), 0);
  std::string err;
  ASSERT_EQ(quiet_cli({"pretrain-lm", "--resume", run.string(), "--set", "lm.steps=30"}, &err), 0) << err;
  CheckpointManager mgr(run / "checkpoints");
  ASSERT_TRUE(mgr.latest().has_value());
  EXPECT_EQ(mgr.latest()->step, 30);
  // The resumed session appends to the same metrics: 0, 20 from the first, 30 from the second.
  EXPECT_EQ(val_losses(run).size(), 3u);
  const SafeTensors weights = load_safetensors(run / "lm.safetensors");
  EXPECT_EQ(weights.metadata.at("steps"), "30");
}

TEST_F(PretrainLmTest, BadInputExitsWithCode2AndLeavesNoRunDirectory) {
  const fs::path run = dir_ / "never";
  const fs::path empty = dir_ / "empty.txt";
  std::ofstream(empty) << "\n\n  \n";
  const fs::path tiny = dir_ / "tiny.txt";
  std::ofstream(tiny) << "too short";
  const std::vector<std::vector<std::string>> cases = {
      {"pretrain-lm", "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", (dir_ / "missing.txt").string(), "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", empty.string(), "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", tiny.string(), "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", corpus_.string(), "--set", "lm.blok_size=8", "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", corpus_.string(), "--set", "gpt.n_head=3", "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", corpus_.string(), "--set", "lm.block_size=2048", "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", corpus_.string(), "/nonexistent.yaml", "--run-dir", run.string()},
      {"pretrain-lm", "--corpus", corpus_.string(), "--frobnicate", "--run-dir", run.string()},
      {"pretrain-lm", "--resume", (dir_ / "no-such-run").string()},
  };
  for (const auto& args : cases) {
    std::string err;
    EXPECT_EQ(quiet_cli(args, &err), 2) << args[1] << " " << args[2];
    EXPECT_FALSE(err.empty());
    EXPECT_FALSE(fs::exists(run)) << args[2];
  }
  std::string err;
  quiet_cli({"pretrain-lm", "--corpus", corpus_.string(), "--set", "lm.blok_size=8"}, &err);
  EXPECT_NE(err.find("did you mean 'lm.block_size'"), std::string::npos) << err;
  quiet_cli({"pretrain-lm", "--corpus", empty.string()}, &err);
  EXPECT_NE(err.find("holds no text"), std::string::npos) << err;
}

// The mnemo executable: $MNEMO_BINARY, else <build>/mnemo next to this test's <build>/tests/.
std::string mnemo_binary() {
  if (const char* b = std::getenv("MNEMO_BINARY")) return b;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : (self.parent_path().parent_path() / "mnemo").string();
}

TEST_F(PretrainLmTest, TheMnemoBinaryRunsPretrainLm) {
  const std::string path = mnemo_binary();
  if (path.empty() || !fs::exists(path)) GTEST_SKIP() << "the mnemo executable is not built";
  const char* binary = path.c_str();
  const fs::path run = dir_ / "binary-run";
  std::string cmd = std::string(binary);
  for (const auto& a : short_run(run, /*steps=*/4)) cmd += " '" + a + "'";
  cmd += " > '" + (dir_ / "out.txt").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(fs::exists(run / "lm.safetensors"));
  std::ifstream in(dir_ / "out.txt");
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("4 steps"), std::string::npos) << out;
  // Exit code 2 from the process itself for bad input.
  const std::string bad = std::string(binary) + " pretrain-lm --corpus /nonexistent/corpus.txt > /dev/null 2>&1";
  const int status = std::system(bad.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace mnemo::launch
