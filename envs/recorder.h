// Recording episodes for people to watch: runs an env under a simple policy, renders a frame
// after the reset and after every step, and hands the frames to the GIF/PNG writers. This is
// what `mnemo render` does; it lives here so that it is tested with the envs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// Options of a recording.
struct RecordOptions {
  std::int64_t steps = 200;
  std::uint64_t seed = 0;
  std::string policy = "random";

  template <class V>
  void visit(V& v) {
    v("steps", steps, "env steps to record (episodes restart when they end)");
    v("seed", seed, "seed of the first episode and of the policy");
    v("policy", policy, "random (uniform over the action space) or zero (action 0 / zero torque)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// What was recorded: steps + 1 + (episodes that ended) frames, since an ended episode shows its
// last frame and then the first frame of the next one.
struct Recording {
  std::vector<Frame> frames;
  std::int64_t episodes_ended = 0;
  double total_reward = 0.0;
};

Recording record(Env& env, const RecordOptions& options);

}  // namespace mnemo::envs
