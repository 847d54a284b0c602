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

#include "core/models/models.h"
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

// The config's env name, "?" when it has none.
std::string config_env_name(const TrainConfig& c);

}  // namespace mnemo::launch
