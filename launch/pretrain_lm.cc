// `mnemo pretrain-lm`. See pretrain_lm.h.
#include "launch/pretrain_lm.h"

#include <cmath>
#include <iostream>
#include <memory>

#include "core/log.h"
#include "core/runlog/metrics.h"
#include "launch/command.h"
#include "launch/train.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

namespace {

// Checks across sections, made before anything is written.
void validate(const PretrainConfig& c) {
  c.run.validate();
  c.gpt.validate();
  c.lm.validate();
  if (c.gpt.vocab_size < nn::ByteTokenizer::kVocabSize)
    throw ConfigError("config: gpt.vocab_size must be at least " + std::to_string(nn::ByteTokenizer::kVocabSize) +
                      " (the byte tokenizer's vocabulary), got " + std::to_string(c.gpt.vocab_size));
  if (c.lm.block_size > c.gpt.n_positions)
    throw ConfigError("config: lm.block_size (" + std::to_string(c.lm.block_size) + ") must be at most gpt.n_positions (" +
                      std::to_string(c.gpt.n_positions) + ")");
}

PretrainResult run_pretraining(const PretrainConfig& c, std::shared_ptr<const learners::LMCorpus> corpus,
                               const fs::path& run_dir, bool resume, int rank) {
  LearnerRank ranks(run_dir, resume);
  learners::LMContext ctx;
  ctx.gpt = c.gpt;
  ctx.options = c.lm;
  ctx.corpus = std::move(corpus);
  ctx.seed = c.run.seed;
  ctx.comm = ranks.comm.get();
  ctx.metrics = ranks.metrics.get();
  ctx.run_dir = run_dir;
  ctx.config_yaml = resolved_yaml(c);
  ctx.resume = resume;
  ctx.progress = c.run.progress && rank == 0;
  ctx.interrupt = &interrupt_flag();
  learners::LMTrainer trainer(std::move(ctx));
  trainer.run();

  PretrainResult r;
  r.run_dir = run_dir;
  r.counters = trainer.counters();
  if (r.counters.steps >= c.lm.steps) r.weights = trainer.weights_path();
  r.first_val_loss = trainer.first_val_loss();
  r.val_loss = trainer.last_val_loss();
  r.first_loss = trainer.first_loss();
  r.loss = trainer.last_loss();
  r.tokens_per_s = trainer.tokens_per_second();
  MNEMO_INFO("done: ", r.counters.steps, " steps, ", r.counters.tokens, " tokens, val_loss ", r.first_val_loss, " -> ",
             r.val_loss);
  return r;
}

}  // namespace

PretrainConfig load_pretrain_config(const std::string& path, const std::vector<std::string>& overrides) {
  PretrainConfig c;
  config::bind(load_config_mapping(path, overrides), "", c);
  // An absolute corpus path keeps the run resumable from any working directory.
  if (!c.lm.corpus.empty()) c.lm.corpus = fs::absolute(c.lm.corpus).lexically_normal().string();
  validate(c);
  return c;
}

std::string resolved_yaml(const PretrainConfig& c) {
  return "# mnemo resolved language-model pretraining config\n" + config::to_yaml(c);
}

PretrainResult pretrain_lm(const PretrainArgs& args) {
  fs::path run_dir;
  bool resume = false;
  PretrainConfig c;
  if (!args.resume_dir.empty()) {
    run_dir = args.resume_dir;
    resume = true;
    c = load_pretrain_config(resume_config(run_dir).string(), args.overrides);
  } else {
    c = load_pretrain_config(args.config_path, args.overrides);
  }
  if (!args.corpus.empty()) c.lm.corpus = fs::absolute(args.corpus).lexically_normal().string();
  if (c.lm.corpus.empty()) throw ConfigError("a corpus is required (--corpus FILE or lm.corpus)");
  // Reading the corpus is part of checking the input: a missing, empty or too short corpus is
  // reported before the run directory exists.
  auto corpus = std::make_shared<const learners::LMCorpus>(
      learners::load_corpus(c.lm.corpus, c.lm.val_fraction, c.lm.block_size));

  const int size = world_size(), rank = world_rank();
  run_dir = agree_run_dir(resume ? run_dir : fs::path(args.run_dir), c.run, resolved_yaml(c), resume);
  MNEMO_INFO("run directory ", run_dir.string(), resume ? " (resuming)" : "", "; corpus ", c.lm.corpus, ": ",
             corpus->bytes, " bytes, ", corpus->documents, " documents, ", corpus->train.numel(), " training and ",
             corpus->val.numel(), " validation tokens; ", size, " rank(s)");
  PretrainResult r;
  on_every_rank([&] { r = run_pretraining(c, corpus, run_dir, resume, rank); });
  return r;
}

void pretrain_lm_command_line(CommandArgs& args, PretrainArgs& a) {
  args.flags()("corpus", text(&a.corpus, "FILE"), "the text to model (same as --set lm.corpus=FILE)");
  run_command_line(args, a, "lm.steps=2000, gpt.n_layer=4");
}

int pretrain_lm_command(PretrainArgs& a) {
  install_signal_handlers();
  const PretrainResult r = pretrain_lm(a);
  if (world_rank() == 0) {
    std::cout << "run " << r.run_dir.string() << ": " << format_count(static_cast<double>(r.counters.steps))
              << " steps, " << format_count(static_cast<double>(r.counters.tokens)) << " tokens, "
              << format_count(r.tokens_per_s) << " tokens/s; val_loss " << r.first_val_loss << " -> " << r.val_loss
              << " (" << r.val_loss / std::log(2.0) << " bits/byte)";
    if (!r.weights.empty()) std::cout << "; weights " << r.weights.string();
    std::cout << std::endl;
  }
  return 0;
}

}  // namespace mnemo::launch
