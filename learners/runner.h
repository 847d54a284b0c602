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
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"

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

// What one update gives the runner to show: a metrics row (written by the chief when not empty, at
// `step`) and the progress line's items.
struct StepReport {
  std::int64_t step = 0;
  Scalars metrics;
  std::vector<ProgressItem> progress;
};

// An algorithm as the runner loop sees it. Every rank runs the same calls in the same order.
class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual void restore() = 0;          // every rank loads the checkpoint to resume from
  virtual void save_checkpoint() = 0;  // the chief writes one (other ranks return at once)
  virtual GradientReducer& reducer() = 0;
  virtual std::int64_t step() const = 0;  // updates taken: the checkpoint's step
  virtual bool done() const = 0;          // the budget is spent
  virtual void begin() {}                 // after the restore and the parameter broadcast
  // One update. False: an interrupt stopped it before it could be made (the run stops at once).
  virtual bool advance() = 0;
  // After an update: evaluations that are due, the metrics row and progress. `last`: the loop
  // stops after this update (done, or `interrupted` on some rank).
  virtual StepReport report(bool last, bool interrupted) = 0;
  virtual void finish(bool interrupted) {}  // after the final checkpoint
};

struct RunnerOptions {
  Communicator* comm = nullptr;
  torch::Device device = torch::kCPU;        // where the interrupt's all-reduce runs
  bool resume = false;
  std::int64_t checkpoint_every = 0;         // updates (0: only at the end)
  bool progress = true;                      // the chief's console progress line
  MetricsWriter* metrics = nullptr;          // chief only
  const std::atomic<bool>* interrupt = nullptr;  // SIGINT/SIGTERM: checkpoint and stop
};

// The one runner loop of every learner (online: Trainer; DT/BC: OfflineTrainer; LM: LMTrainer):
// resume, broadcast the chief's parameters, then update until done or an interrupt on any rank
// (all ranks stop after the same update), writing metrics, progress and periodic checkpoints;
// a final checkpoint unless one was just written for this step; then finish().
void run_loop(Runnable& algorithm, const RunnerOptions& options);

// Whether something done every `every` counts (0: never) is due at `count`.
inline bool every(std::int64_t count, std::int64_t every) { return every > 0 && count % every == 0; }

}  // namespace mnemo::learners
