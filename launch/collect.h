// `mnemo collect`: runs a policy on the env of a training config and records complete episodes as
// an offline dataset (D4RL or Minari HDF5, replay/dataset.h), for offline RL and behaviour
// cloning. The policy is uniform random, the env's scripted expert (envs/experts.h), or a trained
// policy from a run or checkpoint directory (launch/trained_policy.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "replay/datasets/dataset.h"

namespace mnemo::launch {

struct CollectOptions {
  std::string config;                  // CONFIG: its env is run; optional with a trained policy
  std::string policy;                  // --policy random | scripted | RUN_DIR | CHECKPOINT_DIR
  std::vector<std::string> overrides;  // --set KEY=VALUE on CONFIG (on the checkpoint's config without one)
  std::int64_t episodes = 0;           // --episodes N: exactly this many complete episodes
  std::string out;                     // --out FILE: the dataset written
  std::string format = "d4rl";         // --format d4rl | minari
  std::int64_t envs = 0;               // --envs M: envs stepped together; 0 = min(N, 8)
  std::optional<std::uint64_t> seed;   // --seed S; default: the config's run.seed
  bool stochastic = false;             // --stochastic: a trained policy samples instead of taking the mode
  bool progress = false;               // a progress line on stderr while episodes run

  // Throws ConfigError naming the flag (checks that need no file: counts, names, --out's directory).
  void validate() const;
};

struct CollectResult {
  replay::Dataset dataset;  // what was (or would be) written
  std::string env;          // env name
  std::string policy;       // random, scripted or checkpoint
  std::uint64_t seed = 0;
  std::int64_t num_envs = 0;
  double mean_return = 0.0;
  ActionSpace action_space;  // the env's (Minari's metadata.json describes it with its bounds)
};

// Runs the policy on a synchronous EnvPool of M envs until N episodes have finished and returns
// them as a dataset (nothing written). Env i plays a fixed quota of the episodes (N / M, one more
// for the first N % M envs; episodes beyond its quota are dropped), and episodes are stored by
// env, then in the order they finished, so the dataset depends only on the options: the same
// options and seed give the same bytes. Each transition is the observation before the action,
// the action, the reward, terminal (the env terminated) and timeout (truncated), and the env's
// infos (float32) of that step; each episode's final observation is kept for Minari. An env with
// several observation fields gets them flattened and concatenated (uint8 when all are uint8,
// else float32), recorded in the metadata's observation_layout. Metadata: env, policy, episodes,
// seed, mnemo version, spaces and the resolved config. Throws ConfigError on bad input.
CollectResult collect(const CollectOptions& options);

// collect(), then writes options.out in options.format (atomically).
CollectResult collect_and_write(const CollectOptions& options);

// The seed of the env pool for --seed S: kept apart from training actors' and eval's streams.
std::uint64_t collect_pool_seed(std::uint64_t seed);

class CommandArgs;  // launch/command.h

// `mnemo collect [CONFIG] --policy ... --episodes N --out FILE [options]` (a row of
// command_table()): binds the optional CONFIG and the flags to `o`; validate() runs once they
// are parsed.
void collect_command_line(CommandArgs& args, CollectOptions& o);
// Runs `mnemo collect` on parsed options (collect_and_write) and prints a summary. Returns 0;
// throws ConfigError for bad input.
int collect_command(CollectOptions& o);

}  // namespace mnemo::launch
