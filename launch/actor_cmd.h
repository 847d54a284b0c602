// `mnemo actor RUN_DIR`: an actor process of a running training job. It reads the running
// session's config (RUN_DIR/session.yaml) and the endpoints the run publishes (RUN_DIR/endpoints), joins the parameter
// server's roster, receives parameters and streams sequences into replay until the learner stops.
// Actors can join a job at any time, and the learner's sync-mode arithmetic takes them in
// (actors/actor.h). Under mpirun every actor rank runs its actor as such a child process and
// starts it again when it dies (supervise_actor), so that a crash or kill -9 of an actor leaves
// the MPI job intact.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "launch/train_config.h"

namespace mnemo::launch {

class CommandArgs;  // launch/command.h

struct ActorArgs {
  std::string run_dir;                 // RUN_DIR
  std::vector<std::string> overrides;  // --set KEY=VALUE (actor.num_envs, run.torch_threads, ...)
  std::optional<std::int64_t> id;      // --id K: the topology's actor K (supervised); absent: a fresh id
  std::string replay;                  // --replay EP,...: default from RUN_DIR/endpoints
  std::string params;                  // --params EP
  std::int64_t incarnation = 0;        // --incarnation N: restarts of this id so far
  std::int64_t resume_step = -1;       // --resume-step S: the checkpoint the run's session resumed from
  std::int64_t supervisor = 0;         // --supervisor PID: stop when that process (the actor rank) dies
};

// What a run publishes in RUN_DIR/endpoints for processes that connect to it.
struct RunEndpoints {
  std::string replay;          // comma-separated shards
  std::string params;
  std::int64_t learners = 1;   // data-parallel learner ranks (sync-mode sequences per update)
};
void write_endpoints(const std::filesystem::path& run_dir, const RunEndpoints& e);
// RUN_DIR/session.yaml: the resolved config of the session running now, which differs from
// config.yaml where a resume changed keys (--set topology.learners=2, ...). Actor processes read it.
void write_session_config(const std::filesystem::path& run_dir, const TrainConfig& c);
// The running session's config file: session.yaml, or config.yaml for a run that has none yet.
std::filesystem::path session_config_path(const std::filesystem::path& run_dir);
// Throws ConfigError naming the file when it is missing or malformed.
RunEndpoints read_endpoints(const std::filesystem::path& run_dir);

void actor_command_line(CommandArgs& args, ActorArgs& a);
// 0 when the learner stopped it (or a signal did), 1 on failure, 2 for bad input.
int actor_command(ActorArgs& a);

// An actor rank under mpirun: runs actor `id` as `mnemo actor RUN_DIR --id ID` and, when that
// process dies while the learner still runs, logs how (exit code or signal) and starts it again,
// up to actor.restarts times. Returns when the actor ended normally, or was not restarted.
void supervise_actor(const TrainConfig& c, const std::filesystem::path& run_dir, int id, const RunEndpoints& e,
                     std::int64_t resume_step);

}  // namespace mnemo::launch
