// The configuration of a training run: one section per component, bound from YAML plus
// `--set` overrides, and written back (resolved, with comments) into the run directory.
#pragma once

#include <string>
#include <vector>

#include "actors/actor.h"
#include "actors/evaluator.h"
#include "core/config.h"
#include "core/models/models.h"
#include "envs/registry.h"
#include "launch/placement.h"
#include "learners/trainer.h"
#include "replay/client.h"
#include "replay/server.h"

namespace mnemo::launch {

struct RunOptions {
  std::string name = "run";
  std::string dir = "runs";
  std::uint64_t seed = 1;
  std::string log_level = "info";
  std::int64_t torch_threads = 1;
  std::int64_t blas_threads = 1;
  bool progress = true;
  std::string transport = "inproc";
  template <class V>
  void visit(V& v) {
    v("name", name, "run name: the run directory is <dir>/<name> (suffixed -2, -3, ... if taken)");
    v("dir", dir, "parent directory of run directories");
    v("seed", seed, "base seed of envs, sampling and initialisation");
    v("log_level", log_level, "debug, info, warn or error");
    v("torch_threads", torch_threads, "torch intra-op threads per process");
    v("blas_threads", blas_threads, "OpenBLAS threads per process");
    v("progress", progress, "print the console progress line");
    v("transport", transport, "embedded mode data plane: inproc, or tcp (loopback, as across processes)");
  }
  // Throws ConfigError naming the field ("config: run.torch_threads ...").
  void validate() const;
};

// The `replay:` section: the server's options plus the clients' (actors, learners), and whether
// learner checkpoints carry the replay contents.
struct ReplaySection {
  replay::ServerOptions server;
  replay::ClientOptions client;
  bool checkpoint = false;
  template <class V>
  void visit(V& v) {
    server.visit(v);
    v("checkpoint", checkpoint, "every learner checkpoint also saves each shard's tables (replay/<shard>/) and --resume restores them");
    v("client", client, "options of the clients (actors, learners)");
  }
};

struct TrainConfig {
  RunOptions run;
  config::Node env;  // {name: ..., env-specific options}, bound by the env registry
  nn::ModelOptions model;
  actors::ActorOptions actor;
  learners::LearnerOptions learner;
  ReplaySection replay;
  TopologyOptions topology;
  actors::EvaluatorOptions evaluator;
  template <class V>
  void visit(V& v) {
    v("run", run, "run directory, seed, threads, logging");
    v("env", env, "environment: name plus its options (mnemo envs lists them)");
    v("model", model, "policy model");
    v("actor", actor, "actors");
    v("learner", learner, "learner and algorithm");
    v("replay", replay, "replay service");
    v("topology", topology, "roles of ranks under mpirun");
    v("evaluator", evaluator, "evaluation of the latest parameters during training (eval_return in the metrics)");
  }
};

// Makes one env from an `env:` section, binding its typed options (unknown keys are errors).
std::unique_ptr<envs::Env> make_env_from(const config::Node& env);
// The env section with every option of the named env resolved to its value.
config::Node resolved_env(const config::Node& env);

// Loads FILE, applies overrides, binds and validates everything (the env section through the
// registry). Throws ConfigError with the key, the file and the nearest valid key.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides);
TrainConfig load_train_config_text(const std::string& yaml, const std::string& origin,
                                   const std::vector<std::string>& overrides);
// The resolved config as commented YAML (env options included), loadable again.
std::string resolved_yaml(const TrainConfig& c);
// An env factory for the config's env section.
envs::EnvFactory env_factory(const TrainConfig& c);

}  // namespace mnemo::launch
