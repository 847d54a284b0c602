// The offline runner loop: Decision Transformer / BC / %BC updates on windows sampled from a
// dataset, data-parallel across learner ranks through the same Communicator and GradientReducer
// as online learning, with metrics, checkpoints, resume and periodic evaluation in the env.
//
// Every rank holds the dataset and samples its own windows; gradients are averaged, so N ranks
// train on N x batch_size windows per update. Rank 0 (the chief) writes metrics and checkpoints
// and runs the evaluations (learners/ does not depend on envs/, so the caller passes the
// evaluation in as a function).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/comm/communicator.h"
#include "learners/dt.h"
#include "learners/runner.h"

namespace mnemo {
class MetricsWriter;
}

namespace mnemo::learners {

// Runs `episodes` episodes with the model conditioned on `target_return` and returns metrics
// such as eval_return, eval_length and one eval_<info> per env info (eval_success, ...).
using DTEvaluator = std::function<std::map<std::string, double>(DecisionTransformer model, double target_return)>;

struct OfflineContext {
  std::string algo = "dt";                        // dt or bc
  DTOptions options;
  DTShape shape;                                  // condition_on_return follows algo
  std::shared_ptr<const replay::Dataset> dataset;
  std::uint64_t seed = 1;
  Communicator* comm = nullptr;
  MetricsWriter* metrics = nullptr;               // chief only
  std::filesystem::path run_dir;                  // checkpoints in run_dir/checkpoints (chief only)
  std::string config_yaml;                        // stored in every checkpoint
  bool resume = false;
  bool progress = true;
  std::int64_t checkpoint_every = 0;              // updates (0: only at the end)
  std::int64_t keep_checkpoints = 3;
  std::int64_t log_every = 100;
  DTEvaluator evaluate;                           // chief only; empty: no evaluation
  const std::atomic<bool>* interrupt = nullptr;   // SIGINT/SIGTERM: checkpoint and stop
};

class OfflineTrainer : private Runnable {
 public:
  explicit OfflineTrainer(OfflineContext ctx);
  ~OfflineTrainer();
  // Trains for options.updates updates (or until an interrupt), evaluating every eval_every
  // updates and at the end; the chief writes a final checkpoint.
  void run();
  std::int64_t updates() const { return updates_; }
  // The metrics of the last evaluation (empty before one).
  const std::map<std::string, double>& last_eval() const { return last_eval_; }
  double target_return() const { return target_; }
  DecisionTransformer model() { return model_; }
  const DTData& data() const { return *data_; }
  void save_checkpoint() override;
  // One update on `batch` (after the learning-rate schedule); returns its statistics.
  std::map<std::string, double> update(const DTBatch& batch);

 private:
  void restore() override;
  GradientReducer& reducer() override { return *reducer_; }
  std::int64_t step() const override { return updates_; }
  bool done() const override { return updates_ >= ctx_.options.updates; }
  void begin() override;
  bool advance() override;
  StepReport report(bool last, bool interrupted) override;
  std::map<std::string, double> evaluate_now();

  OfflineContext ctx_;
  std::unique_ptr<DTData> data_;
  DecisionTransformer model_{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<RunCheckpoints> checkpoints_;
  at::Generator gen_;
  torch::Device device_ = torch::kCPU;
  std::int64_t updates_ = 0;
  double target_ = 0;
  torch::Tensor centres_;                 // k-means centres of the LM's token embeddings
  std::vector<std::int64_t> lm_tokens_;   // co-training corpus
  std::map<std::string, double> last_eval_;
  // The loop's session: its start, the update it started at, the statistics since the last row.
  std::chrono::steady_clock::time_point session_start_;
  std::int64_t start_updates_ = 0;
  std::map<std::string, double> sums_;
  std::int64_t count_ = 0;
  double lr_ = 0;
  double loss_ = 0;
};

}  // namespace mnemo::learners
