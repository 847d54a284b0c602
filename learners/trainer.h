// The learner's runner loop: sample sequences from replay, let the online algorithm (PPO, APPO,
// IMPALA: learners/algorithm.h) update on them with gradients averaged across learner ranks,
// publish parameters to actors, log metrics and write checkpoints.
//
// One Trainer runs per learner rank. Rank 0 (the chief) owns the parameter server, the metrics
// and the checkpoints; every rank samples its own batch and joins the gradient all-reduce. On
// resume every rank loads the model and the optimizer from the same checkpoint (run directories are
// on a shared filesystem), so Adam's moments, not only the parameters, agree across ranks.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>

#include "core/array.h"
#include "core/comm/communicator.h"
#include "core/models/models.h"
#include "learners/algorithm.h"
#include "learners/augment.h"
#include "learners/contrastive.h"
#include "learners/dt.h"
#include "learners/ppo.h"
#include "learners/runner.h"
#include "learners/vtrace.h"
#include "replay/client.h"

namespace mnemo {
class ParameterServer;
class MetricsWriter;
}  // namespace mnemo

namespace mnemo::learners {

struct LearnerOptions {
  std::string algo = "ppo";
  std::int64_t batch_sequences = 8;
  std::int64_t total_env_steps = 500000;
  std::int64_t checkpoint_every = 50;
  std::int64_t keep_checkpoints = 3;
  std::int64_t log_every = 5;
  std::int64_t stop_grace_ms = 5000;
  std::int64_t actor_timeout_ms = 10000;
  std::int64_t collective_timeout_ms = 300000;
  std::int64_t burn_in = 0;
  std::int64_t max_policy_lag = 0;
  std::string param_bind = "tcp://127.0.0.1:*";
  PPOOptions ppo;
  VTraceOptions vtrace;
  AugmentOptions augment;
  ContrastiveOptions aux;
  DTOptions dt;
  template <class V>
  void visit(V& v) {
    v("algo", algo,
      "learning algorithm: ppo, appo or impala (online; docs/algorithms.md), dt (Decision Transformer) or bc "
      "(behaviour cloning) (offline)");
    v("batch_sequences", batch_sequences, "sequences sampled from replay per update and learner rank");
    v("total_env_steps", total_env_steps, "stop after this many environment steps have been trained on");
    v("checkpoint_every", checkpoint_every, "write a checkpoint every N updates (0: only at the end)");
    v("keep_checkpoints", keep_checkpoints, "how many checkpoints to keep");
    v("log_every", log_every, "write metrics every N updates");
    v("stop_grace_ms", stop_grace_ms, "how long to keep answering actors after the run ends");
    v("actor_timeout_ms", actor_timeout_ms,
      "an actor unheard of this long is lost: the others take over its share (0: never)");
    v("collective_timeout_ms", collective_timeout_ms,
      "data-parallel learners: a gradient all-reduce (MPI) not done in this time ends the run with an error (0: wait forever)");
    v("burn_in", burn_in, "recurrent policies: leading steps of each sequence that only rebuild the state (no gradient)");
    v("max_policy_lag", max_policy_lag,
      "async actors: drop sampled sequences more than this many updates older than the learner (0: keep all)");
    v("param_bind", param_bind, "where the parameter server binds in distributed runs");
    v("ppo", ppo, "optimisation hyper-parameters of the online algorithms (ppo, appo, impala)");
    v("vtrace", vtrace, "V-trace clipping (algo appo or impala)");
    v("augment", augment, "data augmentation of the observations of each batch (RAD; online algorithms)");
    v("aux", aux, "contrastive auxiliary loss on the observation encoder: CURL or ATC (online algorithms)");
    v("dt", dt, "Decision Transformer / BC hyper-parameters and dataset (algo dt or bc)");
  }
  void validate() const;
  bool offline() const { return algo == "dt" || algo == "bc"; }
  bool off_policy_corrected() const { return algo == "appo" || algo == "impala"; }
};

// Counters that survive a resume.
struct TrainCounters {
  std::int64_t updates = 0;
  std::int64_t env_steps = 0;
};

// Where this session's learner time went (seconds, this rank): waiting for and receiving samples,
// the algorithm's updates, and the whole of run().
struct TrainTiming {
  double sample_s = 0;
  double update_s = 0;
  double total_s = 0;
};

struct TrainerContext {
  LearnerOptions options;
  nn::ModelOptions model;
  Spec obs_spec;
  ActionSpace action_space;
  std::int64_t unroll_length = 0;
  std::uint64_t seed = 1;
  Communicator* comm = nullptr;           // gradient plane (single, MPI or NCCL)
  std::string replay_endpoint;
  replay::ClientOptions replay_client;
  ParameterServer* params = nullptr;      // chief only
  MetricsWriter* metrics = nullptr;       // chief only
  std::filesystem::path run_dir;          // checkpoints go to run_dir/checkpoints (chief only)
  std::string config_yaml;                // stored in every checkpoint
  bool resume = false;                    // continue from the latest checkpoint in run_dir
  std::int64_t resume_step = -1;          // with resume: this checkpoint (chosen by the launcher so replay
                                          // shards restore the same one); -1: the latest, found here
  bool checkpoint_replay = false;         // every checkpoint also holds each replay shard's tables (replay/<shard>/)
  bool sync_queue = false;                // sync actors on a queue: sequences of a superseded plan are dropped
  std::filesystem::path actor_state_dir;  // sync mode: where actors leave their state per update; every
                                          // checkpoint takes its update's (actors/<id>.state; exact resume)
  bool progress = true;                   // print the console progress line (chief only)
  const std::atomic<bool>* interrupt = nullptr;  // set by SIGINT/SIGTERM: checkpoint and stop
  torch::Device device = torch::kCPU;     // where the policy trains (learner.ppo.device, resolved per rank)
};

class Trainer : private Runnable {
 public:
  explicit Trainer(TrainerContext ctx);
  ~Trainer();
  // Trains until total_env_steps (or an interrupt); the chief writes a final checkpoint.
  void run();
  const TrainCounters& counters() const { return counters_; }
  const TrainTiming& timing() const { return timing_; }
  // Mean return of the episodes that ended in the last 10 updates (NaN before any ended).
  double recent_return() const { return recent_return_; }
  // Mean of each env info (e.g. success) over the steps that ended those episodes.
  const std::map<std::string, double>& recent_infos() const { return recent_infos_; }
  nn::PolicyImpl& policy() { return *policy_; }
  torch::optim::Adam& optimizer() { return *optimizer_; }
  // Writes a checkpoint of the current state (chief only; other ranks return at once). With
  // checkpoint_replay every replay shard writes its tables into the checkpoint before it is sealed.
  void save_checkpoint() override;

 private:
  // The runner loop's pieces (learners/runner.h).
  void restore() override;
  GradientReducer& reducer() override { return *reducer_; }
  std::int64_t step() const override { return counters_.updates; }
  bool done() const override { return counters_.env_steps >= ctx_.options.total_env_steps; }
  void begin() override;
  bool advance() override;
  StepReport report(bool last, bool interrupted) override;
  void finish(bool interrupted) override;
  void publish();
  SequenceBatch to_batch(const replay::Batch& b) const;
  std::int64_t save_replay(const std::filesystem::path& dir);
  // sync_queue: `rb` without the sequences of a plan older than the newest seen, filled up to its
  // size again with newer ones; the dropped ones are added to `stale`.
  replay::Batch drop_superseded(replay::Batch rb, std::int64_t& stale);
  // Moves each live actor's state for this update into dir/<id>.state (waiting a little for states
  // still being written) and drops older ones; returns the states taken.
  std::int64_t save_actor_states(const std::filesystem::path& dir);

  TrainerContext ctx_;
  std::shared_ptr<nn::PolicyImpl> policy_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<Augmenter> augmenter_;
  Contrastive aux_{nullptr};
  std::unique_ptr<OnlineAlgorithm> algorithm_;
  std::unique_ptr<replay::Client> replay_;
  std::unique_ptr<replay::Client> replay_snapshots_;  // chief, checkpoint_replay: see save_replay
  at::Generator gen_;
  RunCheckpoints checkpoints_;
  TrainCounters counters_;
  std::int64_t newest_plan_ = -1;  // sync_queue: the newest plan among the sequences sampled
  TrainTiming timing_;
  double recent_return_ = std::nan("");
  std::map<std::string, double> recent_infos_;
  // This session's windows and the sums since the last metrics row.
  struct Session {
    std::chrono::steady_clock::time_point start;
    std::int64_t start_steps = 0;
    std::deque<std::pair<double, double>> returns;  // (sum, count) of the last updates
    std::deque<std::map<std::string, std::pair<double, double>>> info_window;  // (sum, episodes) per info
    std::map<std::string, double> log_sums;
    std::int64_t log_count = 0;
    double lag_max = 0, dropped = 0, idle = 0;
    std::map<std::string, double> stats;  // of the last update
    double lr = 0;
  } session_;
};

}  // namespace mnemo::learners
