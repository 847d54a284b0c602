// The batch layout shared by VectorEnv and EnvPool, and the helpers both need to build one:
// the per-env seed streams and the checks that envs of one pool agree on their specs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/array.h"
#include "envs/env.h"

namespace mnemo::envs {

// The buffers of one batch of B rows. All arrays are allocated once by the pool and overwritten
// by every reset/step; copy (clone) what must outlive the next step.
//
// Row semantics after a step, gym auto-reset style: reward, terminated and truncated describe the
// transition the action just caused; obs is what the policy sees next. When that transition ended
// the episode, the env was reset within the same step, so obs is the first observation of the new
// episode, first == 1, final_obs holds the last observation of the ended episode (to bootstrap a
// truncated one), and episode_return / episode_length describe the ended episode. Rows where
// the episode did not end leave final_obs, episode_return and episode_length unspecified.
struct StepBatch {
  Array env_id;                   // int64 [B]: which env each row belongs to
  std::vector<Array> obs;         // per observation field, [B, ...field shape]
  Array reward;                   // float32 [B]
  Array terminated;               // uint8 [B]
  Array truncated;                // uint8 [B]
  Array first;                    // uint8 [B]: obs is the first observation of an episode
  Array episode_return;           // float32 [B], valid where terminated | truncated
  Array episode_length;           // int64 [B], valid where terminated | truncated
  std::vector<Array> final_obs;   // per observation field, [B, ...], valid where terminated | truncated
  Array infos;                    // float32 [B, num infos], in info_names() order, of the step's transition

  std::int64_t size() const { return env_id.numel(); }
};

// Builds env number `index` of a pool; the index lets a factory vary envs (for example levels).
using EnvFactory = std::function<std::unique_ptr<Env>(std::size_t index)>;

// The episode seeds of one env of a pool. Env i of a pool reset with base_seed draws from a
// splitmix64 stream started at splitmix64(splitmix64(base_seed) + i): a run is reproducible from
// base_seed, envs of one pool get different episodes, and pools with nearby base seeds (actor 0,
// actor 1, ...) do not share streams. VectorEnv and EnvPool both use it, so a pool gives the
// same episodes whatever its thread count or mode.
class SeedStream {
 public:
  SeedStream() = default;
  SeedStream(std::uint64_t base_seed, std::size_t env) : state_(splitmix64(splitmix64(base_seed) + env)) {}
  std::uint64_t next() {
    // splitmix64(x) mixes x + golden, so stepping the state by golden walks a splitmix stream.
    const std::uint64_t seed = splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ULL;
    return seed;
  }
  // The stream's position, and a stream continuing from one (exact resume).
  std::uint64_t state() const { return state_; }
  static SeedStream at(std::uint64_t state) {
    SeedStream s;
    s.state_ = state;
    return s;
  }

 private:
  std::uint64_t state_ = 0;
};

namespace detail {

// Makes `n` envs and checks that they declare the same observation spec, action space and info
// names (throws mnemo::Error naming the first that differs).
std::vector<std::unique_ptr<Env>> make_envs(std::size_t n, const EnvFactory& factory);
// A zeroed batch of `rows` rows for envs like `env`, env_id filled with 0..rows-1.
StepBatch make_step_batch(std::size_t rows, const Env& env);
// [n, ...item]
Shape batched(std::size_t n, const Shape& item);
// Bytes of one row of each observation field.
std::vector<std::size_t> obs_row_bytes(const Spec& spec);
// Bytes of one action.
std::size_t action_bytes(const ActionSpace& space);

}  // namespace detail

}  // namespace mnemo::envs
