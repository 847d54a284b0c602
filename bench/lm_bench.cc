// Language-model pretraining throughput (tokens/s) of the default `mnemo pretrain-lm` model
// (ChibiT: 3 layers, 1 head, 128 wide, block 128, batch 16) through the real LMTrainer, for
// several torch x OpenBLAS thread settings. Reference, measured in the same run and setting: the
// same step's matrix products alone (forward and both backward products of every Conv1D and of
// the tied output layer), so `gemm_fraction` says how much of a step runs at GEMM speed.
//
//   build/bench/bench_lm_bench [--quick]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/log.h"
#include "launch/pretrain_lm.h"
#include "launch/train.h"
#include "learners/lm.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Seconds per step of the matrix products of one training step: for every x[M, K] W[K, N], the
// forward product and the two backward ones (dX = dY W^T, dW = X^T dY).
double gemm_seconds_per_step(const mnemo::nn::GPTOptions& g, std::int64_t tokens, double min_seconds) {
  const std::int64_t d = g.n_embd;
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;  // (K, N)
  for (std::int64_t l = 0; l < g.n_layer; ++l) {
    shapes.insert(shapes.end(), {{d, 3 * d}, {d, d}, {d, 4 * d}, {4 * d, d}});
  }
  shapes.emplace_back(d, g.vocab_size);
  std::vector<std::vector<torch::Tensor>> ops;
  for (auto [k, n] : shapes) ops.push_back({torch::randn({tokens, k}), torch::randn({k, n}), torch::randn({tokens, n})});
  int reps = 0;
  auto t0 = Clock::now();
  while (secs(t0) < min_seconds || reps < 3) {
    for (auto& o : ops) {
      auto y = torch::mm(o[0], o[1]);
      auto dx = torch::mm(o[2], o[1].t());
      auto dw = torch::mm(o[0].t(), o[2]);
    }
    ++reps;
  }
  return secs(t0) / reps;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  mnemo::log::set_level(mnemo::log::Level::kWarn);
  const fs::path dir = fs::temp_directory_path() / ("mnemo-lm-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    // Random printable text in paragraphs: throughput does not depend on what is learnt.
    std::mt19937 rng(0);
    std::ofstream out(dir / "corpus.txt");
    const std::string letters = "abcdefghijklmnopqrstuvwxyz ";
    for (int i = 1; i <= 400000; ++i) {
      out << letters[rng() % letters.size()];
      if (i % 4000 == 0) out << "\n\n";
    }
  }
  const mnemo::launch::PretrainConfig defaults;  // the ChibiT model and lm options of pretrain-lm
  auto corpus = std::make_shared<mnemo::learners::LMCorpus>(
      mnemo::learners::load_corpus(dir / "corpus.txt", defaults.lm.val_fraction, defaults.lm.block_size));
  const std::int64_t tokens_per_step = defaults.lm.batch_size * defaults.lm.block_size;

  struct Setting {
    std::int64_t torch_threads, blas_threads;
  };
  std::printf("%-14s %12s %12s %14s %14s\n", "threads", "tokens_per_s", "step_ms", "gemm_step_ms", "gemm_fraction");
  for (const Setting s : {Setting{1, 1}, Setting{1, 2}, Setting{2, 1}}) {
    mnemo::launch::RunOptions run;
    run.torch_threads = s.torch_threads;
    run.blas_threads = s.blas_threads;
    mnemo::launch::set_threads(run);
    mnemo::SingleCommunicator comm;
    mnemo::learners::LMContext ctx;
    ctx.gpt = defaults.gpt;
    ctx.options = defaults.lm;
    ctx.options.steps = quick ? 10 : 40;
    ctx.options.eval_every = 1000000;  // validation only at the start and the end (not timed)
    ctx.options.eval_batches = 1;
    ctx.options.checkpoint_every = 0;
    ctx.corpus = corpus;
    ctx.comm = &comm;
    ctx.run_dir = dir / ("run-" + std::to_string(s.torch_threads) + "x" + std::to_string(s.blas_threads));
    ctx.progress = false;
    mnemo::learners::LMTrainer trainer(std::move(ctx));
    trainer.run();
    const double tps = trainer.tokens_per_second();
    const double step_s = static_cast<double>(tokens_per_step) / tps;
    const double gemm_s = gemm_seconds_per_step(defaults.gpt, tokens_per_step, quick ? 0.5 : 2.0);
    std::printf("torch %lld blas %lld %12.0f %12.1f %14.1f %14.2f\n", static_cast<long long>(s.torch_threads),
                static_cast<long long>(s.blas_threads), tps, step_s * 1e3, gemm_s * 1e3, gemm_s / step_s);
    std::printf("{\"bench\": \"lm_pretrain\", \"model\": \"chibit\", \"torch_threads\": %lld, \"blas_threads\": %lld, "
                "\"block_size\": %lld, \"batch_size\": %lld, \"tokens_per_s\": %.1f, \"step_ms\": %.2f, "
                "\"gemm_only_step_ms\": %.2f, \"gemm_fraction\": %.3f}\n",
                static_cast<long long>(s.torch_threads), static_cast<long long>(s.blas_threads),
                static_cast<long long>(defaults.lm.block_size), static_cast<long long>(defaults.lm.batch_size), tps,
                step_s * 1e3, gemm_s * 1e3, gemm_s / step_s);
  }
  fs::remove_all(dir);
  return 0;
}
