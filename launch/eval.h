// `mnemo eval`: runs a trained policy for a number of episodes and reports how it does (return,
// length, the env's infos such as success), optionally recording one episode as a GIF. The
// library function evaluate() is what the command runs; tests and scripts call it directly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

namespace mnemo::launch {

struct EvalOptions {
  std::string source;                  // RUN_DIR or CHECKPOINT_DIR (see load_trained_policy)
  std::vector<std::string> overrides;  // --set KEY=VALUE on the run's config (env.*, actor.env_threads, ...)
  std::int64_t episodes = 10;          // --episodes N: exactly this many finished episodes
  std::int64_t envs = 0;               // --envs M: envs stepped together; 0 = min(N, 8); capped at N
  std::uint64_t seed = 1;              // --seed S: env episodes (and sampling with --stochastic)
  bool stochastic = false;             // --stochastic: sample actions instead of taking the mode
  std::string gif;                     // --gif FILE.gif: record env 0's first episode
  std::int64_t fps = 30;               // --fps F: GIF frame rate
  bool progress = false;               // a progress line on stdout while episodes run

  // Throws ConfigError naming the flag.
  void validate() const;
};

// One finished episode.
struct EpisodeResult {
  std::int64_t env = 0;       // env of the pool that played it
  double episode_return = 0;  // undiscounted sum of rewards
  std::int64_t length = 0;    // steps
  std::vector<double> infos;  // the env's infos on the episode's last step, in info_names order
};

// mean, population standard deviation (divides by n), min, max.
struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};
Stats summarize(const std::vector<double>& values);

struct EvalResult {
  std::filesystem::path checkpoint;      // the checkpoint evaluated
  std::int64_t updates = 0, env_steps = 0;  // its training progress
  std::string env;                       // env name
  std::int64_t num_envs = 0;             // M actually used
  bool stochastic = false;
  std::uint64_t seed = 0;
  std::vector<std::string> info_names;
  // Exactly `episodes` entries, ordered by env, then by when they finished, so the result does
  // not depend on timing.
  std::vector<EpisodeResult> episodes;
  // With --gif: frames written (episode length + 1, the reset included) and the recorded
  // episode's return and length, which are those of env 0's first episode.
  std::int64_t gif_frames = 0;
  double gif_return = 0;
  std::int64_t gif_length = 0;

  Stats returns() const;
  Stats lengths() const;
  Stats info(std::size_t i) const;
};

// Loads the policy (see load_trained_policy) and runs it on an EnvPool of M envs until
// `episodes` episodes have finished. Env i plays a fixed quota of episodes (N / M, one more for
// the first N % M envs) and episodes beyond its quota are ignored: taking the first N to finish
// instead would favour short episodes. Actions are the distribution's mode, or samples from a
// generator seeded with `seed` (--stochastic); recurrent state restarts where an episode ends,
// as in the actors. The same options give the same result. Throws ConfigError on bad input.
EvalResult evaluate(const EvalOptions& options);

// The randomness of an evaluation with --seed S, so that any episode can be replayed on its own:
// env i's episodes use the seeds of envs::SeedStream(eval_pool_seed(S), i), and --stochastic
// draws each step's actions for all envs (one multinomial or normal call) from eval_generator(S).
std::uint64_t eval_pool_seed(std::uint64_t seed);
at::Generator eval_generator(std::uint64_t seed);

// The report `mnemo eval` prints: a heading, then mean/std/min/max of return, length and each info.
std::string format_eval_result(const EvalResult& result);

class CommandArgs;  // launch/command.h

// `mnemo eval RUN_DIR|CHECKPOINT_DIR [options]` (a row of command_table()): binds the positional
// argument and the flags to `o`; validate() runs once they are parsed.
void eval_command_line(CommandArgs& args, EvalOptions& o);
// Runs `mnemo eval` on parsed options and prints the report (format_eval_result; an offline
// run's evaluation metrics). Returns 0; throws ConfigError for bad input.
int eval_command(EvalOptions& o);

}  // namespace mnemo::launch
