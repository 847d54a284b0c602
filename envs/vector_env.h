// VectorEnv: N envs stepped together into preallocated contiguous batch buffers, with gym-style
// auto-reset, so that an actor runs one batched policy forward per step and never allocates.
//
// The batch it returns (StepBatch) is the contract a threaded EnvPool will also honour: a batch
// is a set of rows, row b belongs to env env_id[b], and the next step's actions are given row by
// row in the same order. In this synchronous VectorEnv every batch holds all N envs in order, so
// env_id[b] == b.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/array.h"
#include "envs/env.h"
#include "envs/step_batch.h"

namespace mnemo::envs {

// A synchronous vector env. Not thread-safe; one actor thread owns it.
class VectorEnv {
 public:
  // Makes num_envs envs with `factory`; they must all declare the same observation spec, action
  // space and info names (throws mnemo::Error otherwise).
  VectorEnv(std::size_t num_envs, const EnvFactory& factory);

  std::size_t num_envs() const { return envs_.size(); }
  const Spec& observation_spec() const { return envs_.front()->observation_spec(); }
  const ActionSpace& action_space() const { return envs_.front()->action_space(); }
  const std::vector<std::string>& info_names() const { return info_names_; }

  // Resets every env. Env i draws its episode seeds from its own SeedStream(base_seed, i): a run
  // is reproducible from base_seed, envs of one pool get different episodes, and pools with nearby
  // base seeds (actor 0, actor 1, ...) do not share envs' streams. Sets first = 1 and zeroes
  // reward, terminated and truncated.
  const StepBatch& reset(std::uint64_t base_seed);

  // Steps every env with its row of `actions` (int64 [N] for discrete, float32 [N, dim] for a box,
  // int64 [N, k] for multi-discrete) and auto-resets the envs whose episode ended, each with the
  // next seed of its own stream. Wrong dtype or shape, or any out-of-range action, throws
  // mnemo::Error before any env moves; step before reset throws too.
  const StepBatch& step(const Array& actions);

  const StepBatch& batch() const { return batch_; }
  // The env behind row i, for tools and tests (rendering, setting a state).
  Env& env(std::size_t i) { return *envs_.at(i); }

 private:
  void check_actions(const Array& actions) const;
  void copy_obs_row(std::size_t i, std::vector<Array>& to) const;

  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<std::string> info_names_;
  StepBatch batch_;
  std::vector<ObsSlot> slots_;              // env i writes into row i of batch_.obs
  std::vector<std::size_t> obs_row_bytes_;  // per field
  std::size_t action_row_bytes_ = 0;
  std::vector<SeedStream> seeds_;            // per env
  std::vector<double> running_return_;      // per env, summed in double so long episodes stay exact
  std::vector<std::int64_t> running_length_;
  bool started_ = false;
};

}  // namespace mnemo::envs
