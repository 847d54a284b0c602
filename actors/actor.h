// The actor loop: step a vector env with batched CPU inference, cut fixed-length unrolls per env,
// insert them into replay, and pick up newer parameters the learner publishes.
//
// In sync mode an actor waits before each unroll until the learner has trained on everything
// produced so far, which makes a one-actor run exactly on-policy and reproducible from its seed.
// Its share of each update follows the parameter server's roster: when an actor is lost or one
// joins, an epoch starts, and the live actors split the sequences of every update from then on
// (the unrolls an actor made since the epoch began count towards it; after a replan, when a replay
// shard restarted empty, those made before it no longer count). In async mode it only polls
// for newer parameters between unrolls (IMPALA-style policy lag, kept bounded by replay
// backpressure).
//
// A heartbeat thread fetches a few times a second under the actor's id: that keeps it in the
// roster and brings the learner's stop to an actor blocked on a full replay table. An actor that
// fails tells the roster it leaves, with the reason.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/models/models.h"
#include "core/net/params.h"
#include "core/runlog/checkpoint.h"
#include "envs/env_pool.h"
#include "replay/client.h"

namespace mnemo::actors {

class PolicyStepper;

struct ActorOptions {
  std::int64_t num_actors = 1;
  std::int64_t num_envs = 8;
  std::int64_t env_threads = 1;
  std::int64_t unroll_length = 128;
  bool sync = true;
  std::int64_t param_timeout_ms = 60000;
  std::int64_t restarts = 3;
  bool exact_resume = true;
  template <class V>
  void visit(V& v) {
    v("num_actors", num_actors, "actor threads in the embedded mode (distributed: topology decides)");
    v("num_envs", num_envs, "envs stepped together by one actor");
    v("env_threads", env_threads, "threads stepping the actor's envs (EnvPool, synchronous mode)");
    v("unroll_length", unroll_length, "steps per sequence (T)");
    v("sync", sync, "wait for the learner's update before each unroll (on-policy, reproducible)");
    v("param_timeout_ms", param_timeout_ms, "give up when the parameter server is silent this long");
    v("restarts", restarts, "under mpirun: times an actor rank starts its actor process again after it died");
    v("exact_resume", exact_resume, "sync mode: leave the actor's state (envs' episodes, policy state, RNG) for every checkpoint, so that a resume goes on exactly");
  }
  void validate() const;
};

struct ActorContext {
  ActorOptions options;
  nn::ModelOptions model;
  envs::EnvFactory env_factory;
  int actor_id = 0;
  bool join = false;                    // ask the parameter server for a fresh id (joining a running job)
  std::int64_t incarnation = 0;         // restarts of this actor id so far (mixed into its seeds)
  int total_actors = 1;                 // actors the run starts with (until the roster says otherwise)
  std::int64_t sequences_per_update = 1;  // sequences all learners consume per update
  std::uint64_t seed = 1;                 // the run's seed (run.seed)
  std::int64_t resume_step = -1;          // the checkpoint step this session resumed from (-1: fresh)
  // Exact resume (sync mode): where the actor leaves its state (envs' episodes, policy state, RNG)
  // at each update it starts, as STATE_DIR/<id>/<update>.state for the learner's checkpoint of that
  // update; empty: never. And the state file this session starts from; empty or missing: fresh
  // episodes from seeds of the resume step.
  std::string state_dir;
  std::string restore_state;
  std::string replay_endpoint;
  replay::ClientOptions replay_client;
  std::string params_endpoint;
  const std::atomic<bool>* stop = nullptr;
};

struct ActorStats {
  std::int64_t env_steps = 0;
  std::int64_t unrolls = 0;
  std::int64_t episodes = 0;
  std::int64_t param_updates = 0;
  // Where the actor's time went (seconds): stepping the envs, the policy's forwards and sampling,
  // inserting into replay (waiting for space included), waiting for and loading parameters.
  double env_s = 0;
  double inference_s = 0;
  double insert_s = 0;
  double param_wait_s = 0;
};

// The seed an actor derives its env resets and action sampling from. A fresh run (resume_step < 0)
// uses the run seed as it is; a resumed session mixes in the step it resumed from, so every resume
// gets streams of its own, and the same resume reproduces them. The actor index is mixed in by the
// actor itself.
std::uint64_t actor_seed(std::uint64_t run_seed, std::int64_t resume_step);

class Actor {
 public:
  explicit Actor(ActorContext ctx);
  // Runs until the stop flag is set or the parameter server says stop. Returns normally then.
  void run();
  const ActorStats& stats() const { return stats_; }

 private:
  void run_unrolls();
  // Fetches parameters until the version reaches required_version(); false when told to stop.
  bool sync_parameters();
  // The version the next unroll needs: 0 in async mode; in sync mode the epoch's start plus the
  // updates the actors' sequences since then fill.
  std::int64_t required_version() const;
  // Whether the learner answers that the run is stopping.
  bool learner_stopping() const;
  // The state of ctx_.restore_state when it exists and fits this actor (a warning otherwise).
  std::optional<StateFile> restored_state() const;
  void save_state(std::int64_t version, const envs::EnvPool& pool, const PolicyStepper& stepper, at::Generator& gen) const;

  ActorContext ctx_;
  std::shared_ptr<nn::PolicyImpl> policy_;
  std::unique_ptr<ParameterClient> params_;
  std::atomic<bool> stop_{false};  // the learner's stop (heartbeat) or ctx_.stop
  std::int64_t version_ = -1;
  std::int64_t base_version_ = 0;
  std::int64_t epoch_ = -1;
  std::int64_t epoch_envs_ = 0;
  std::map<std::int64_t, std::int64_t> unrolls_at_;  // unrolls made with each parameter version
  std::int64_t replans_ = 0;                         // the server's replans seen
  std::int64_t plan_ = -1;                           // the server's plan (stamped on sequences)
  ActorStats stats_;
};

}  // namespace mnemo::actors
