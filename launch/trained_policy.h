// A trained policy loaded back from a run: the commands that use a trained model (`mnemo eval`,
// `mnemo export`) accept a run directory or one checkpoint directory, and this resolves either
// into the config the model was trained with, a verified checkpoint and the policy with its
// weights, so that every such command reports bad input the same way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "core/torch/models.h"
#include "envs/step_batch.h"
#include "launch/train_config.h"

namespace mnemo::launch {

struct TrainedPolicy {
  TrainConfig config;                      // the checkpoint's config.yaml plus any overrides
  std::filesystem::path checkpoint_dir;    // the verified checkpoint the weights came from
  std::int64_t updates = 0;                // learner updates at the checkpoint
  std::int64_t env_steps = 0;              // env steps at the checkpoint
  Spec obs_spec;                           // of the config's env
  ActionSpace action_space;
  std::shared_ptr<nn::PolicyImpl> policy;  // weights loaded, in eval mode
};

// A run directory's latest verified checkpoint, or a verified checkpoint directory, and the
// config.yaml that produced it (the checkpoint's own, else the run's). ConfigError naming the
// problem otherwise.
struct Located {
  std::filesystem::path checkpoint;
  std::filesystem::path config;
};
Located locate_checkpoint(const std::string& path);

// `path` is a run directory (the latest checkpoint that verifies is used) or a checkpoint
// directory (runs/<name>/checkpoints/<step>, verified). The config is the checkpoint's own
// config.yaml, which is what produced its weights, else the run's. `overrides` are `--set`
// assignments on that config; the `model` section cannot be overridden (the checkpoint fixes it).
// Bad input throws ConfigError naming the problem: a missing path, a directory that is neither,
// a run without a complete checkpoint, a corrupt checkpoint, a bad override, or an env whose
// observation or action space no longer fits the weights.
TrainedPolicy load_trained_policy(const std::string& path, const std::vector<std::string>& overrides);

// Acts with a policy on the batches of a synchronous pool of `num_envs` envs, as the actors do:
// one batched forward per step under inference mode, the recurrent state and the prev inputs
// (nn::PrevInputs) restarted in the rows whose episode just began (batch.first), actions the distribution's mode or, when stochastic,
// samples drawn from `generator` (one call per step for all rows). `mnemo eval` and
// `mnemo collect` run trained policies through it.
class PolicyRunner {
 public:
  PolicyRunner(std::shared_ptr<nn::PolicyImpl> policy, ActionSpace space, std::int64_t num_envs, bool stochastic,
               at::Generator generator);
  // Actions for the rows of `batch`: int64 [B] (discrete), float32 [B, dim] (box) or int64 [B, k].
  Array act(const envs::StepBatch& batch);

 private:
  std::shared_ptr<nn::PolicyImpl> policy_;
  ActionSpace space_;
  std::int64_t num_envs_;
  bool stochastic_;
  at::Generator generator_;
  nn::State state_;
  torch::Tensor last_action_;  // the previous act()'s actions (only for a policy that reads prev inputs)
};

// Sets torch intra-op and OpenBLAS threads from the run section, as `mnemo train` does (the two
// multiply, so both are set).
void apply_thread_settings(const RunOptions& run);

// The config's env name, "?" when it has none.
std::string config_env_name(const TrainConfig& c);

}  // namespace mnemo::launch
