// `mnemo replay-shard RUN_DIR --shard K`: replay shard K of a running training job as a process of its
// own (no MPI in it). Under mpirun every replay rank runs its shard as such a child process and
// starts it again, on the same endpoint, when it dies (supervise_replay): clients reconnect and
// resend what was unanswered, and the lost items are reported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <sys/types.h>

#include "launch/train_config.h"

namespace mnemo::launch {

class CommandArgs;  // launch/command.h

struct ReplayShardArgs {
  std::string run_dir;             // RUN_DIR
  std::string config;              // --config FILE: the session's resolved config (default RUN_DIR/session.yaml)
  std::int64_t shard = 0;          // --shard K
  std::int64_t shards = 1;         // --shards R
  std::string bind;                // --bind EP (default: replay.bind)
  std::string endpoint_file;       // --endpoint-file F: where the bound endpoint is written
  std::int64_t restore_step = -1;  // --restore-step S: restore this checkpoint's replay/K first
  std::int64_t supervisor = 0;     // --supervisor PID: stop when that process (the replay rank) dies
};

void replay_shard_command_line(CommandArgs& args, ReplayShardArgs& a);
// Serves until a shutdown request or a signal; 0 then, 2 for bad input, 1 on failure.
int replay_shard_command(ReplayShardArgs& a);

// A replay rank under mpirun: runs shard `shard` of `shards` as a `mnemo replay-shard` child process.
class ReplaySupervisor {
 public:
  ReplaySupervisor(const TrainConfig& c, std::filesystem::path run_dir, int shard, int shards);
  // Starts the shard, restoring checkpoint `resume_step` when it is >= 0, and returns the endpoint
  // it bound once it serves. Throws Error when it does not come up.
  std::string start(std::int64_t resume_step);
  // Supervises it until it exits normally (the chief's shutdown). A shard that dies is logged (how,
  // and the items it held when last asked) and started again on the same endpoint, up to
  // actor.restarts times: from the newest checkpoint holding its tables with async actors, empty in
  // sync mode (whose queue must not get back sequences the learner has trained on). Then the
  // parameter server is asked to replan, so that sync-mode actors make the update's share again.
  // A learner silent for actor.param_timeout_ms stops it.
  void supervise(const std::string& params_ep);

 private:
  pid_t spawn(const std::string& bind, std::int64_t restore_step);
  std::string wait_for_endpoint(pid_t pid);

  const TrainConfig& c_;
  std::filesystem::path run_dir_;
  int shard_, shards_;
  std::filesystem::path endpoint_file_;
  std::filesystem::path config_file_;
  std::string bound_;  // the endpoint the shard bound (a restart binds it again)
  pid_t pid_ = -1;
};

}  // namespace mnemo::launch
