// Resolving RUN_DIR | CHECKPOINT_DIR into a loaded policy. See trained_policy.h.
#include "launch/trained_policy.h"

#include <map>

#include "core/runlog/checkpoint.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

Located locate_checkpoint(const std::string& arg) {
  const fs::path p(arg);
  std::error_code ec;
  if (!fs::exists(p, ec))
    throw ConfigError(arg + " does not exist (expected a run directory or a checkpoint directory)");
  if (!fs::is_directory(p, ec))
    throw ConfigError(arg + " is not a directory (expected a run directory or a checkpoint directory)");
  Located l;
  if (fs::exists(p / CheckpointManager::kManifestName, ec)) {
    std::string why;
    if (!CheckpointManager::verify(p, &why))
      throw ConfigError("checkpoint " + arg + " is incomplete or corrupt: " + why);
    l.checkpoint = p;
  } else if (fs::is_directory(p / "checkpoints", ec)) {
    // keep_last 0: looking must never prune anything.
    auto latest = CheckpointManager(p / "checkpoints", 0).latest();
    if (!latest)
      throw ConfigError(arg + " has no complete checkpoint in checkpoints/ (did the run stop before its first one?)");
    l.checkpoint = latest->dir;
  } else if (fs::exists(p / "config.yaml", ec)) {
    throw ConfigError(arg + " has no checkpoints yet (no checkpoints/ directory)");
  } else {
    throw ConfigError(arg + " is neither a run directory (config.yaml, checkpoints/) nor a checkpoint directory "
                            "(manifest, model.pt)");
  }
  // checkpoints/<step>/config.yaml, else the run's <run>/config.yaml two levels up.
  for (const fs::path& c : {l.checkpoint / "config.yaml", l.checkpoint.parent_path().parent_path() / "config.yaml"}) {
    if (fs::exists(c, ec)) {
      l.config = c;
      return l;
    }
  }
  throw ConfigError("checkpoint " + l.checkpoint.string() + " has no config.yaml, and neither has its run directory");
}

TrainedPolicy load_trained_policy(const std::string& path, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    if (o.rfind("model.", 0) == 0 || o.rfind("model=", 0) == 0)
      throw ConfigError("--set " + o + ": the model is fixed by the checkpoint and cannot be overridden");
  }
  const Located where = locate_checkpoint(path);
  TrainedPolicy t;
  t.config = load_train_config(where.config.string(), overrides);
  if (t.config.learner.offline())
    throw ConfigError(path + " is an offline run (learner.algo " + t.config.learner.algo +
                      "): `mnemo eval` evaluates it; collect and export take online policies");
  t.checkpoint_dir = where.checkpoint;
  const StateFile state = StateFile::load(where.checkpoint / "state.bin");
  if (state.has("updates")) t.updates = state.get_int("updates");
  if (state.has("env_steps")) t.env_steps = state.get_int("env_steps");

  auto probe = env_factory(t.config)(0);
  t.obs_spec = probe->observation_spec();
  t.action_space = probe->action_space();
  t.policy = nn::make_policy(t.config.model, t.obs_spec, t.action_space);
  // The checkpoint verified, so weights that do not fit mean that the env (after overrides) no
  // longer has the observation or action space they were trained for.
  const fs::path model_pt = where.checkpoint / "model.pt";
  auto misfit = [&](const std::string& why) {
    return ConfigError("the weights in " + model_pt.string() + " do not fit a " + t.config.model.type +
                       " policy for observation " + t.obs_spec.str() + " and action space " + t.action_space.str() +
                       " (did a --set change the env's spaces?): " + why);
  };
  // Module::load replaces each tensor with the stored one whatever its shape, so the shapes the
  // config implies are recorded first and compared afterwards.
  auto shapes = [&] {
    std::map<std::string, std::vector<std::int64_t>> out;
    for (const auto& p : t.policy->named_parameters()) out[p.key()] = p.value().sizes().vec();
    for (const auto& b : t.policy->named_buffers()) out[b.key()] = b.value().sizes().vec();
    return out;
  };
  const auto expected = shapes();
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(model_pt.string(), torch::kCPU);  // trained on any device, acted with here on the CPU
    t.policy->load(ar);
  } catch (const c10::Error& e) {
    throw misfit(e.what_without_backtrace());
  }
  const auto loaded = shapes();
  for (const auto& [name, shape] : expected) {
    const std::vector<std::int64_t>& got = loaded.at(name);
    if (got != shape) throw misfit("'" + name + "' is " + shape_str(got) + ", the policy needs " + shape_str(shape));
  }
  t.policy->eval();
  return t;
}

std::string config_env_name(const TrainConfig& c) {
  const config::Node* n = c.env.find("name");
  return n != nullptr ? n->scalar : "?";
}

}  // namespace mnemo::launch
