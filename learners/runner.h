// The runner half every learner loop shares (online algorithms: learners/trainer.h; Decision
// Transformer and BC: learners/offline_trainer.h; language-model pretraining: learners/lm.h):
// which checkpoint a resume loads and that every rank loads it, writing a checkpoint, agreeing on
// an interrupt, and the cadence of logs and checkpoints.
//
// Every rank loads the same checkpoint's model and optimizer, so that the optimizer's state (Adam's
// moments and step counts), not only the parameters, is the same on every rank; otherwise their
// updates, then their parameters, drift apart. Ranks share the run directory.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "core/comm/communicator.h"
#include "core/runlog/checkpoint.h"

namespace mnemo::learners {

class RunCheckpoints {
 public:
  // `device`: where the collectives' tensors live (NCCL reduces device tensors only) and where
  // restore() loads the optimizer's state.
  RunCheckpoints(Communicator& comm, const std::filesystem::path& run_dir, std::int64_t keep, std::string config_yaml,
                 torch::Device device);

  struct Restored {
    std::filesystem::path dir;
    StateFile state;
  };
  // Loads the model and optimizer of checkpoint `step` into this rank and returns its state file.
  // With step < 0 the chief's newest complete checkpoint, broadcast to every rank (all ranks call
  // this together then). Error naming the directory when there is none.
  Restored restore(torch::nn::Module& model, torch::optim::Optimizer& optimizer, std::int64_t step = -1);

  // The chief writes checkpoint `step`: model, optimizer, `state` (state.bin), the run's config,
  // then whatever `extra` adds into the directory, and commits it; other ranks return at once.
  // The log line names the checkpoint with `summary` and what `extra` returns (if not empty).
  using Extra = std::function<std::string(const std::filesystem::path& dir)>;
  void save(std::int64_t step, torch::nn::Module& model, torch::optim::Optimizer& optimizer, const StateFile& state,
            const std::string& summary, const Extra& extra = {});

  bool chief() const { return comm_.rank() == 0; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  Communicator& comm_;
  std::filesystem::path dir_;
  int keep_;
  std::string config_yaml_;
  torch::Device device_;
};

// *comm, or Error "<who> needs a communicator" for null.
Communicator& checked(Communicator* comm, const char* who);

// Whether `flag` is set on any rank (one all-reduce of a tensor on `device`; every rank calls it).
bool any_rank(Communicator& comm, bool flag, torch::Device device);

// Whether something done every `every` counts (0: never) is due at `count`.
inline bool every(std::int64_t count, std::int64_t every) { return every > 0 && count % every == 0; }

}  // namespace mnemo::learners
