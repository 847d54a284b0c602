// The recording loop; actions come from a seeded Rng, so a recording is reproducible.
#include "envs/recorder.h"

#include <cstring>

namespace mnemo::envs {

void RecordOptions::validate() const {
  if (steps < 1 || steps > 100000)
    throw ConfigError("steps must be in [1, 100000] for a recording, got " + std::to_string(steps));
  if (policy != "random" && policy != "zero")
    throw ConfigError("policy must be 'random' or 'zero', got '" + policy + "'");
}

Recording record(Env& env, const RecordOptions& options) {
  options.validate();
  const Spec& spec = env.observation_spec();
  const ActionSpace& space = env.action_space();
  // The env writes observations somewhere; nobody reads them here.
  std::vector<std::vector<char>> obs;
  std::vector<void*> ptrs;
  for (const auto& f : spec.fields) {
    obs.emplace_back(static_cast<std::size_t>(shape_numel(f.shape)) * dtype_size(f.dtype));
    ptrs.push_back(obs.back().data());
  }
  ObsSlot slot(ptrs);
  Rng rng(splitmix64(options.seed ^ 0x5EEDULL));
  std::vector<std::int64_t> ints(std::max<std::size_t>(1, space.nvec.size()), 0);
  std::vector<float> floats(space.low.size(), 0.0f);
  const bool random = options.policy == "random";

  Recording rec;
  std::uint64_t episode_seed = options.seed;
  env.reset(episode_seed, slot);
  rec.frames.emplace_back();
  env.render(rec.frames.back());
  for (std::int64_t t = 0; t < options.steps; ++t) {
    // int64 values for discrete spaces, float32 for a box; the zero policy keeps the initial
    // zeros (action 0 / zero torque).
    void* action = space.kind == ActionSpace::Kind::kBox ? static_cast<void*>(floats.data()) : ints.data();
    if (random) sample_action(space, rng, action);
    const StepResult r = env.step(action, slot);
    rec.total_reward += r.reward;
    rec.frames.emplace_back();
    env.render(rec.frames.back());
    if (r.terminated || r.truncated) {
      ++rec.episodes_ended;
      env.reset(++episode_seed, slot);
      rec.frames.emplace_back();
      env.render(rec.frames.back());
    }
  }
  return rec;
}

}  // namespace mnemo::envs
