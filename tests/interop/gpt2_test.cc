// A GPT-2 checkpoint saved by Hugging Face's transformers (a tiny config created here by
// tests/interop/gpt2_reference.py; no weights downloaded) loads into mnemo's GPT backbone, the one
// a DT's learner.dt.init_from fills: the options come from the file, every tensor loads, and the
// backbone computes what transformers' GPT2LMHeadModel computes for the same tokens (hidden states
// and tied-output logits). Skipped without build/venv's torch and transformers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/models/gpt.h"
#include "core/models/safetensors.h"

namespace mnemo::nn {
namespace {
namespace fs = std::filesystem;

TEST(Gpt2InteropTest, AHuggingFaceCheckpointLoadsAndComputesWhatTransformersComputes) {
  const std::string python = MNEMO_VENV_PYTHON;
  if (!fs::exists(python) || std::system((python + " -c 'import torch, transformers' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "no torch and transformers in " << python << " (make test-interop installs them)";
  const fs::path dir = fs::temp_directory_path() / ("mnemo-gpt2-interop-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(std::system((python + " " + MNEMO_SOURCE_DIR + "/tests/interop/gpt2_reference.py " + dir.string()).c_str()), 0);

  const SafeTensors weights = load_safetensors(dir / "hf" / "model.safetensors");
  GPTOptions o = gpt2_options(weights, /*n_head=*/4);  // transformers keeps n_head in config.json
  EXPECT_EQ(o.n_layer, 2);
  EXPECT_EQ(o.n_embd, 32);
  EXPECT_EQ(o.n_positions, 64);
  EXPECT_EQ(o.vocab_size, 257);
  o.dropout = 0.0;
  GPT model(o);
  const std::vector<std::string> loaded = load_gpt2_weights(*model, weights, "model.safetensors");
  EXPECT_EQ(loaded.size(), 2u + 2 * 12 + 2);  // wte, wpe, 12 per block, ln_f
  model->eval();

  const SafeTensors expected = load_safetensors(dir / "expected.safetensors");
  torch::NoGradGuard no_grad;
  const torch::Tensor hidden = model->forward_tokens(expected.at("ids"));
  const torch::Tensor logits = model->lm_logits(hidden);
  EXPECT_LT((hidden - expected.at("hidden")).abs().max().item<double>(), 1e-5);
  EXPECT_LT((logits - expected.at("logits")).abs().max().item<double>(), 1e-5);
  EXPECT_GT(expected.at("logits").abs().max().item<double>(), 0.01);  // the comparison is not of zeros
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::nn
