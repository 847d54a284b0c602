// The one rollout toolkit: a policy stepped over the rows of a synchronous env pool, and a fixed
// number of whole episodes collected from such a pool. The actor loop (actors/actor.cc), `mnemo
// eval`, `mnemo collect` and the Decision Transformer's evaluation all step and count episodes
// through these pieces, so the rules below hold for every one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Generator.h>

#include "core/models/models.h"
#include "envs/env_pool.h"

namespace mnemo::actors {

// A policy's recurrent state and prev inputs (nn::PrevInputs) over the N rows of a pool. Per env
// step: forward() on the rows' observations, commit() the actions chosen from its output, step the
// pool, then observe() the reward and `first` of the batch the pool returned; observe restarts the
// recurrent state and the prev inputs of the rows whose episode just began. A policy that reads no
// prev inputs and has no state costs nothing per step here. Not thread-safe (one per actor).
class PolicyStepper {
 public:
  PolicyStepper(std::shared_ptr<nn::PolicyImpl> policy, ActionSpace space, std::int64_t num_envs);

  // One batched forward from the kept state and prev inputs. Call under torch::InferenceMode.
  nn::PolicyOutput forward(const std::vector<torch::Tensor>& obs) const;
  // Takes the actions chosen for the last forward and the state it produced.
  void commit(const torch::Tensor& action, nn::State state);
  // Value of the final observations of episodes the last step ended (before observe(); its own
  // prev inputs are the committed action and `reward`). Call under torch::InferenceMode.
  torch::Tensor final_value(const std::vector<torch::Tensor>& final_obs, const torch::Tensor& reward) const;
  // The env's answer to the committed actions: reward [N] float32 and first [N] uint8 of the batch.
  void observe(const torch::Tensor& reward, const torch::Tensor& first);

  // Its whole state (recurrent state, prev inputs, the committed actions) as bytes, and back into
  // a stepper of the same policy and env count (exact resume). load() throws mnemo::Error for bytes
  // of another shape.
  std::string save() const;
  void load(const std::string& bytes);

  const nn::State& state() const { return state_; }
  // Empty (undefined tensors) for a policy that does not read prev inputs.
  const nn::PrevInputs& prev() const { return prev_; }
  nn::PolicyImpl& policy() const { return *policy_; }
  const ActionSpace& space() const { return space_; }
  bool reads_prev() const { return reads_prev_; }
  std::int64_t num_envs() const { return num_envs_; }

 private:
  std::shared_ptr<nn::PolicyImpl> policy_;
  ActionSpace space_;
  std::int64_t num_envs_;
  bool reads_prev_;
  nn::State state_;
  nn::PrevInputs prev_;
  torch::Tensor last_action_;  // the committed actions (only for a policy that reads prev inputs)
};

// Acts with a trained policy on the batches of a synchronous pool of `num_envs` envs, as the
// actors do (PolicyStepper): actions are the distribution's mode or, when stochastic, samples
// drawn from `generator` (one call per step for all rows). `mnemo eval` and `mnemo collect` run
// trained policies through it.
class PolicyRunner {
 public:
  PolicyRunner(std::shared_ptr<nn::PolicyImpl> policy, ActionSpace space, std::int64_t num_envs, bool stochastic,
               at::Generator generator);
  // Actions for the rows of `batch` (the pool's answer to the previous act(), or its reset batch
  // on the first call): int64 [B] (discrete), float32 [B, dim] (box) or int64 [B, k].
  Array act(const envs::StepBatch& batch);

 private:
  PolicyStepper stepper_;
  bool stochastic_;
  at::Generator generator_;
  bool acted_ = false;
};

// How many episodes each env of a pool plays when `episodes` are wanted from `envs` envs: env i
// plays episodes / envs, plus one for i < episodes % envs. Taking instead the first `episodes`
// to finish would over-weight short episodes (an env with short episodes finishes more of them).
class EpisodeQuotas {
 public:
  EpisodeQuotas(std::int64_t episodes, std::int64_t envs);
  // Env `env` still owes episodes (its steps are still recorded).
  bool recording(std::int64_t env) const {
    const auto e = static_cast<std::size_t>(env);
    return finished_[e] < quota_[e];
  }
  std::int64_t quota(std::int64_t env) const { return quota_[static_cast<std::size_t>(env)]; }
  // Counts one finished episode of `env` (which must be recording).
  void count(std::int64_t env);
  std::int64_t remaining() const { return remaining_; }
  std::int64_t done() const { return total_ - remaining_; }
  std::int64_t total() const { return total_; }
  std::int64_t envs() const { return static_cast<std::int64_t>(quota_.size()); }

 private:
  std::vector<std::int64_t> quota_, finished_;
  std::int64_t total_ = 0, remaining_ = 0;
};

// What run_episodes tells its caller; every hook is optional.
struct EpisodeHooks {
  // `actions` were chosen for `batch`, before the pool steps them.
  std::function<void(const envs::StepBatch& batch, const Array& actions)> acted;
  // `batch` is the pool's answer to those actions, before its ended episodes are counted.
  std::function<void(const envs::StepBatch& batch)> stepped;
  // Env `env`'s episode ended in `batch` and counts towards its quota (envs in order per step).
  std::function<void(std::int64_t env, const envs::StepBatch& batch)> episode;
  // After every step, once its episodes are counted.
  std::function<void(const EpisodeQuotas& quotas)> progress;
};

// Plays `quotas` on a synchronous pool of quotas.envs() envs: from `batch` (the pool's reset
// batch), `act` chooses every row's actions, the pool steps them, and each ended episode of an env
// that still owes episodes is counted. Returns when every env has played its quota. Which episodes
// are counted depends only on the pool's seed and the actions, never on timing.
void run_episodes(envs::EnvPool& pool, const envs::StepBatch* batch, EpisodeQuotas& quotas,
                  const std::function<Array(const envs::StepBatch&)>& act, const EpisodeHooks& hooks);

}  // namespace mnemo::actors
