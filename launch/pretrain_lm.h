// `mnemo pretrain-lm`: trains the GPT backbone as a byte-level language model on a text corpus
// (learners/lm.h) and writes <run_dir>/lm.safetensors under GPT-2 names, the file a Decision
// Transformer's `init_from` loads (Reid et al. 2022). Runs in one process, or data-parallel on
// every rank under `mpirun -np N`. See docs/pretraining.md.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/models/gpt.h"
#include "launch/train.h"
#include "launch/train_config.h"
#include "learners/lm.h"

namespace mnemo::launch {

// The configuration of a pretraining run (launch/configs/lm_chibit.yaml). The defaults are a
// ChibiT-sized model (Reid et al.: 3 layers, 128 wide) with the byte vocabulary.
struct PretrainConfig {
  RunOptions run;
  nn::GPTOptions gpt;
  learners::LMOptions lm;
  PretrainConfig() {
    run.name = "lm";
    gpt.vocab_size = nn::ByteTokenizer::kVocabSize;
  }
  template <class V>
  void visit(V& v) {
    v("run", run, "run directory, seed, threads, logging (transport is not used)");
    v("gpt", gpt, "the transformer (GPT-2 layout)");
    v("lm", lm, "corpus and optimisation");
  }
};

// Loads `path` ("" for the defaults), applies the overrides, makes lm.corpus an absolute path
// (relative to the working directory) and validates everything. Throws ConfigError.
PretrainConfig load_pretrain_config(const std::string& path, const std::vector<std::string>& overrides);
// The resolved config as commented YAML, loadable again.
std::string resolved_yaml(const PretrainConfig& c);

struct PretrainArgs : RunArgs {
  std::string corpus;  // --corpus FILE (same as --set lm.corpus=FILE)
};

struct PretrainResult {
  std::filesystem::path run_dir;
  std::filesystem::path weights;       // lm.safetensors (empty when the run was interrupted)
  learners::LMCounters counters;
  double first_val_loss = 0;           // before the first step of this session
  double val_loss = 0;                 // at the end
  double first_loss = 0, loss = 0;     // training loss: first step, last logged window
  double tokens_per_s = 0;             // training throughput of this session, all ranks
};

// Runs the pretraining (all ranks of MPI_COMM_WORLD take part when it has more than one). The
// corpus is read and checked before the run directory is created, so bad input leaves nothing.
PretrainResult pretrain_lm(const PretrainArgs& args);

// `mnemo pretrain-lm --corpus FILE [CONFIG] [options]` (a row of command_table()): binds the
// optional CONFIG and the flags to `a`; --resume takes no CONFIG and no --run-dir.
void pretrain_lm_command_line(CommandArgs& args, PretrainArgs& a);
// Runs pretrain_lm on parsed arguments and prints a summary on rank 0. Returns 0; throws
// ConfigError for bad input.
int pretrain_lm_command(PretrainArgs& a);

}  // namespace mnemo::launch
