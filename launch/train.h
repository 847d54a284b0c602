// `mnemo train`: runs every role of a training job, as threads of one process (embedded mode)
// or, under mpirun, one role per rank with endpoints exchanged through MPI.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "launch/train_config.h"

namespace mnemo {
class Communicator;
class TfEventsWriter;
class MetricsWriter;
}  // namespace mnemo

namespace mnemo::launch {

struct TrainArgs {
  std::string config_path;            // CONFIG (ignored with resume: the run's config.yaml is used)
  std::vector<std::string> overrides; // --set a.b=c
  std::string resume_dir;             // --resume RUN_DIR
  std::string run_dir;                // --run-dir DIR: exact run directory (new runs)
};

struct TrainResult {
  std::filesystem::path run_dir;
  learners::TrainCounters counters;
  double recent_return = 0;           // mean return of recent episodes (learner chief)
  std::map<std::string, double> recent_infos;  // mean env infos (success, ...) of those episodes
  learners::TrainTiming learner_timing;         // the chief's
  std::vector<actors::ActorStats> actor_stats;  // embedded runs: each actor thread's, by actor id
};

// Set by SIGINT/SIGTERM: the learner writes a checkpoint and the run shuts down cleanly.
std::atomic<bool>& interrupt_flag();
void install_signal_handlers();

// Runs in this process; uses MPI roles when launched by mpirun with more than one rank.
TrainResult train(const TrainArgs& args);

// The embedded mode on an already loaded config (tests call this directly). Offline algorithms
// (learner.algo dt or bc) go to train_offline.
TrainResult train_embedded(const TrainConfig& config, const std::filesystem::path& run_dir, bool resume);

// Offline algorithms: no actors or replay service; every MPI rank (one without mpirun) is a
// data-parallel learner over its own copy of learner.dt.dataset, and the chief evaluates in the
// env. recent_return and recent_infos hold the last evaluation (eval_return, eval_<info>).
TrainResult train_offline(const TrainConfig& config, std::filesystem::path run_dir, bool resume);

// A replay shard's server options: with replay.checkpoint it accepts snapshot requests for
// directories under the run's checkpoints/ (and nowhere else).
replay::ServerOptions replay_server_options(const TrainConfig& c, const std::filesystem::path& run_dir);
// Restores replay shard `shard` (of `shards`) from checkpoint `step` before it serves, taking its
// share of the saved shards' contents where their number differs; a checkpoint without replay
// contents leaves the tables empty, with a warning. Returns the items.
std::int64_t restore_replay(replay::Server& server, const std::filesystem::path& run_dir, std::int64_t step, int shard,
                            int shards);

// Exact resume in sync mode: where actors leave their state at each update for the learner's
// checkpoints (RUN_DIR/actor-states), or empty when the run does not resume exactly: actor.exact_resume
// off, async actors, or replay contents checkpointed (the restored queue would hold those unrolls).
std::filesystem::path actor_state_dir(const TrainConfig& c, const std::filesystem::path& run_dir);
// Points `a` at that directory, and, in a session resumed from checkpoint `resume_step`, at the
// state its id left in that checkpoint (not for a restarted or joining actor: those start afresh).
void set_actor_state_files(actors::ActorContext& a, const TrainConfig& c, const std::filesystem::path& run_dir,
                           std::int64_t resume_step);

// The context of actor `id` of `total_actors` feeding `learners` data-parallel learners.
actors::ActorContext actor_context(const TrainConfig& c, int id, int total_actors, std::int64_t learners);

// Picks <dir>/<name>, or <dir>/<name>-2, -3, ... when it already exists.
std::filesystem::path new_run_dir(const RunOptions& run);

// Helpers shared by the commands that own a run directory (train, pretrain-lm).
// Sets torch intra-op and OpenBLAS threads from run.torch_threads / run.blas_threads.
void set_threads(const RunOptions& run);
// Creates <dir>/logs, sends this rank's log lines to logs/rank-<rank>.log and, on rank 0 of a
// new run, writes the resolved config to <dir>/config.yaml.
void prepare_run_dir(const std::filesystem::path& dir, const std::string& resolved_config, bool resume, int rank);
// This process's rank and the size of MPI_COMM_WORLD (0 and 1 before MPI_Init).
int world_rank();
int world_size();
// Rank 0's string on every rank of MPI_COMM_WORLD (e.g. the run directory it picked).
std::string bcast_string(std::string s);

// <run_dir>/config.yaml of a run to resume; ConfigError naming it when it is missing.
std::filesystem::path resume_config(const std::filesystem::path& run_dir);
// A config file as a mapping ("" for an empty one) with `--set` overrides applied; ConfigError for
// a file that is not a YAML mapping.
config::Node load_config_mapping(const std::string& path, const std::vector<std::string>& overrides);

// The arguments every run command shares: CONFIG, --set, --run-dir and --resume.
struct RunArgs {
  std::string config_path;             // CONFIG (optional; ignored with resume)
  std::vector<std::string> overrides;  // --set a.b=c
  std::string resume_dir;              // --resume RUN_DIR
  std::string run_dir;                 // --run-dir DIR: exact run directory (new runs)
};
class CommandArgs;  // launch/command.h
// Declares the optional CONFIG and the --set, --run-dir and --resume flags (after the command's
// own), with `set_example` in --set's help; --resume takes no CONFIG and no --run-dir.
void run_command_line(CommandArgs& args, RunArgs& a, const std::string& set_example);

// For the commands whose every rank is a data-parallel learner (pretrain-lm, pretrain-encoder):
// the run directory, `dir` or a new one (empty dir), agreed by all ranks and prepared, the chief's
// first; threads and the log level set from `run`.
std::filesystem::path agree_run_dir(std::filesystem::path dir, const RunOptions& run, const std::string& resolved_config,
                                    bool resume);
// This rank's gradient plane (single, or MPI over the world) and, on the chief, the run's metrics
// (metrics.jsonl and a TensorBoard event file).
struct LearnerRank {
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<TfEventsWriter> events;
  std::unique_ptr<MetricsWriter> metrics;
  LearnerRank(const std::filesystem::path& run_dir, bool resume);
  ~LearnerRank();
};
// Runs `body` on every rank; under mpirun a rank that fails aborts the job (the others would wait
// in a collective forever), and all ranks leave together.
void on_every_rank(const std::function<void()>& body);

}  // namespace mnemo::launch
