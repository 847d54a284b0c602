// The evaluator role: plays the learner's latest parameters on envs of its own every N updates
// and reports the mean episode return and the env's infos (success, ...) to the learner, which
// writes them into its metrics as eval_return, eval_<info> and eval_update. Like Sample Factory's
// and Acme's evaluators it never feeds replay. Episodes come from fixed seeds (the same ones at
// every evaluation, so that evaluations compare parameters rather than luck), with each env
// playing a fixed quota (actors::EpisodeQuotas), and actions are the distribution's mode unless
// `stochastic`. The final parameters are evaluated too, and the run waits for that report
// (final_evaluation in launch/train.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/models/models.h"
#include "core/net/curve.h"
#include "envs/env_pool.h"

namespace mnemo::actors {

struct EvaluatorOptions {
  std::int64_t every = 0;  // updates between evaluations; 0: no evaluator
  std::int64_t episodes = 10;
  std::int64_t envs = 0;  // envs stepped together; 0: min(episodes, 8)
  bool stochastic = false;
  template <class V>
  void visit(V& v) {
    v("every", every, "evaluate the latest parameters every N updates (0: no evaluator; under mpirun it needs topology.evaluator)");
    v("episodes", episodes, "episodes per evaluation (fixed seeds, the same at every evaluation)");
    v("envs", envs, "envs stepped together (0: min(episodes, 8))");
    v("stochastic", stochastic, "sample actions instead of taking the distribution's mode");
  }
  void validate() const;
};

struct EvaluatorContext {
  EvaluatorOptions options;
  nn::ModelOptions model;
  envs::EnvFactory env_factory;
  std::uint64_t seed = 1;  // episodes come from seeds derived from it
  std::string params_endpoint;
  transport::CurveClient param_curve;  // CURVE keys for the parameter server (the replay client's)
  std::int64_t param_timeout_ms = 60000;
  const std::atomic<bool>* stop = nullptr;
};

// Runs until the learner says stop (or `stop` is set), evaluating the final parameters before it
// returns when the stop comes from the learner; returns the evaluations it reported.
std::int64_t run_evaluator(const EvaluatorContext& ctx);

}  // namespace mnemo::actors
