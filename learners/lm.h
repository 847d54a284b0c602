// Language-model pretraining of the GPT backbone (core/torch/gpt.h) on a text corpus, so that a
// Decision Transformer can start from language-model weights (Reid et al. 2022, "Can Wikipedia
// Help Offline Reinforcement Learning?"): `mnemo pretrain-lm` (launch/pretrain_lm.h) runs it.
//
// Data: the corpus is byte-tokenized (nn::ByteTokenizer); documents (separated by blank lines)
// are joined with kEndOfText into one token stream; its last `val_fraction` is held out for
// validation. Each step every rank draws `batch_size` random windows of `block_size + 1` tokens
// from the training part and minimises the next-token cross-entropy with AdamW (linear warmup,
// then cosine decay), averaging gradients across ranks (GradientReducer) and clipping their norm.
//
// The windows and the dropout masks of step s on rank r come from generators seeded with
// (seed, r, s), so a run is reproducible from its seed and a resumed run continues exactly as an
// uninterrupted one would (the optimizer state is in the checkpoint).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/models/gpt.h"
#include "learners/runner.h"

namespace mnemo {
class MetricsWriter;
}

namespace mnemo::learners {

// The `lm:` config section.
struct LMOptions {
  std::string corpus;
  std::int64_t block_size = 128;
  std::int64_t batch_size = 16;
  std::int64_t steps = 2000;
  double lr = 6e-4;
  double min_lr_ratio = 0.1;
  std::int64_t warmup = 100;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;
  double val_fraction = 0.05;
  std::int64_t eval_every = 250;
  std::int64_t eval_batches = 8;
  std::int64_t log_every = 10;
  std::int64_t checkpoint_every = 500;
  std::int64_t keep_checkpoints = 3;
  template <class V>
  void visit(V& v) {
    v("corpus", corpus, "text file to train on (set by --corpus); documents are separated by blank lines");
    v("block_size", block_size, "tokens (bytes) of context per training window");
    v("batch_size", batch_size, "windows per step and rank");
    v("steps", steps, "optimizer steps in total");
    v("lr", lr, "peak AdamW learning rate, reached after the warmup");
    v("min_lr_ratio", min_lr_ratio, "the cosine decay ends at lr x this at the last step");
    v("warmup", warmup, "steps of linear learning-rate warmup from 0");
    v("weight_decay", weight_decay, "AdamW decoupled weight decay (matrices and embeddings only)");
    v("beta1", beta1, "AdamW beta1");
    v("beta2", beta2, "AdamW beta2");
    v("grad_clip", grad_clip, "clip the global gradient norm to this (0: no clipping)");
    v("val_fraction", val_fraction, "last fraction of the token stream held out for validation (0: none)");
    v("eval_every", eval_every, "validate every N steps (and at the start and the end)");
    v("eval_batches", eval_batches, "validation batches of batch_size windows (fixed windows, same every time)");
    v("log_every", log_every, "write training metrics every N steps");
    v("checkpoint_every", checkpoint_every, "write a checkpoint every N steps (0: only at the end)");
    v("keep_checkpoints", keep_checkpoints, "how many checkpoints to keep");
  }
  // Throws ConfigError naming the field ("lm.block_size ...").
  void validate() const;
};

// Splits text into documents at blank lines (lines of only spaces, tabs and carriage returns);
// each document keeps its lines joined by '\n'. Empty documents are dropped.
std::vector<std::string> split_documents(const std::string& text);

// The training and validation token streams of a corpus (int16 tensors: 257 ids do not fit a byte).
struct LMCorpus {
  torch::Tensor train;        // [T_train] int16
  torch::Tensor val;          // [T_val] int16 (empty when val_fraction is 0)
  std::int64_t documents = 0;
  std::int64_t bytes = 0;     // size of the file
  std::uint32_t crc = 0;      // CRC-32C of the file, to notice a changed corpus on resume
};

// Documents joined by kEndOfText, as one token stream [T] int16.
torch::Tensor tokenize_documents(const std::vector<std::string>& documents);

// Reads and tokenizes `path` and splits off the last `val_fraction` of the tokens. Throws
// ConfigError when the file is missing or unreadable, has no document, or is too short for one
// window of block_size + 1 tokens in the training part (and in the validation part when
// val_fraction > 0); the message gives the sizes.
LMCorpus load_corpus(const std::filesystem::path& path, double val_fraction, std::int64_t block_size);

// `batch` windows of `block_size + 1` consecutive tokens at uniform random starts: [batch,
// block_size + 1] int64. `tokens` must hold at least block_size + 1 tokens.
torch::Tensor sample_windows(const torch::Tensor& tokens, std::int64_t batch, std::int64_t block_size,
                             at::Generator& gen);

// The learning rate of 0-based step `step`: linear warmup from lr / warmup to lr over `warmup`
// steps, then cosine decay to lr x min_lr_ratio at step `steps - 1`.
double lm_learning_rate(const LMOptions& options, std::int64_t step);

// The metadata of an lm.safetensors file: n_head, n_layer, n_embd, n_positions, vocab_size,
// layer_norm_eps, tokenizer=byte, format=gpt2 (what gpt2_options reads back).
std::map<std::string, std::string> lm_weights_metadata(const nn::GPTOptions& gpt);

// Writes the model under GPT-2 names (nn::gpt2_named_tensors) with lm_weights_metadata plus
// `extra` metadata, atomically.
void save_lm_weights(const std::filesystem::path& path, const nn::GPTImpl& model,
                     const std::map<std::string, std::string>& extra = {});

struct LMCounters {
  std::int64_t steps = 0;   // optimizer steps taken
  std::int64_t tokens = 0;  // training tokens seen, over all ranks
};

struct LMContext {
  nn::GPTOptions gpt;
  LMOptions options;
  std::shared_ptr<const LMCorpus> corpus;
  std::uint64_t seed = 1;
  Communicator* comm = nullptr;            // gradient plane (single or MPI)
  MetricsWriter* metrics = nullptr;        // chief only
  std::filesystem::path run_dir;           // checkpoints/ and lm.safetensors (chief writes)
  std::string config_yaml;                 // stored in every checkpoint
  bool resume = false;                     // continue from the latest checkpoint in run_dir
  bool progress = true;                    // console progress line (chief only)
  const std::atomic<bool>* interrupt = nullptr;  // SIGINT/SIGTERM: checkpoint and stop
};

// The runner loop of language-model pretraining; one per rank, rank 0 (the chief) writes
// metrics, checkpoints and the final lm.safetensors.
class LMTrainer : private Runnable {
 public:
  explicit LMTrainer(LMContext ctx);
  ~LMTrainer();
  // Trains up to options.steps (or an interrupt), validating every eval_every steps; writes a
  // final checkpoint and, when every step was taken, <run_dir>/lm.safetensors.
  void run();
  // Mean next-token loss (nats) over the fixed validation windows, shared by all ranks; NaN
  // without a validation part. Collective: every rank must call it.
  double evaluate();
  // Writes a checkpoint of the current state (chief only; a no-op elsewhere).
  void save_checkpoint() override;

  const LMCounters& counters() const { return counters_; }
  nn::GPTImpl& model() { return *model_; }
  double first_val_loss() const { return first_val_loss_; }  // before the first step of this run
  double last_val_loss() const { return last_val_loss_; }
  double first_loss() const { return first_loss_; }          // training loss of the first logged window
  double last_loss() const { return last_loss_; }            // mean training loss of the last logged window
  double tokens_per_second() const { return tokens_per_s_; } // training throughput of this session, all ranks
  std::filesystem::path weights_path() const { return ctx_.run_dir / "lm.safetensors"; }

 private:
  void restore() override;
  GradientReducer& reducer() override { return *reducer_; }
  std::int64_t step() const override { return counters_.steps; }
  bool done() const override { return counters_.steps >= ctx_.options.steps; }
  void begin() override;
  bool advance() override;
  StepReport report(bool last, bool interrupted) override;
  void finish(bool interrupted) override;
  std::map<std::string, double> train_step();

  LMContext ctx_;
  nn::GPT model_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  at::Generator gen_;
  RunCheckpoints checkpoints_;
  LMCounters counters_;
  double first_val_loss_ = std::nan("");
  double last_val_loss_ = std::nan("");
  double first_loss_ = std::nan("");
  double last_loss_ = std::nan("");
  double tokens_per_s_ = 0;
  // The loop's session: tokens at its start, seconds spent in steps, sums since the last row.
  std::int64_t start_tokens_ = 0;
  double train_seconds_ = 0;
  double loss_sum_ = 0, norm_sum_ = 0;
  std::int64_t loss_count_ = 0;
  double step_loss_ = 0, step_lr_ = 0;
};

}  // namespace mnemo::learners
