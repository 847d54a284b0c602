// The env side of offline learning: evaluating a Decision Transformer (or BC model) in a batch
// of envs, conditioned on a target return. learners/ runs the training loop but does not depend
// on envs/, so `mnemo train` passes this in as the trainer's evaluator.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "envs/step_batch.h"
#include "learners/dt.h"

namespace mnemo::launch {

// Plays exactly `episodes` episodes over min(envs, episodes) envs stepped together, each env its
// share (actors::EpisodeQuotas: short episodes are not over-weighted; episode seeds from `seed`),
// the model conditioned on `target_return`. Returns eval_return (mean),
// eval_return_std, eval_length and eval_<info> (mean of each env info at the episodes' last
// steps, e.g. eval_success). Deterministic for a seed unless options.eval_sample.
std::map<std::string, double> evaluate_dt(learners::DecisionTransformer model, const learners::DTOptions& options,
                                          const envs::EnvFactory& factory, std::int64_t episodes, std::int64_t envs,
                                          double target_return, std::uint64_t seed);

// `mnemo eval` of an offline (dt or bc) run: the model of a run directory's latest checkpoint, or
// of a checkpoint directory, evaluated in the run's env (after `overrides`) conditioned on the
// target return the run used.
struct OfflineEvalResult {
  std::filesystem::path checkpoint;
  std::int64_t updates = 0;
  double target_return = 0;
  std::map<std::string, double> metrics;  // as evaluate_dt
};
// Whether `path` (run or checkpoint directory) holds an offline run.
bool is_offline_run(const std::string& path);
OfflineEvalResult evaluate_offline_run(const std::string& path, const std::vector<std::string>& overrides,
                                       std::int64_t episodes, std::int64_t envs, std::uint64_t seed, bool sample);

}  // namespace mnemo::launch
