// End-to-end env steps/s of T-Maze with the paper-size AGaLiTe (4 layers, width 128) on this
// machine: synchronous PPO with one actor (the reference, measured in the same run) against
// asynchronous APPO with one and two actors, every role a thread of one process (and asynchronous
// PPO, without V-trace's extra forward per epoch, to tell the overlap from the algorithm's cost). Each actor steps
// 8 envs with unrolls of 32; the learner trains on 16 sequences per update (4 epochs x 4
// minibatches) in all three runs, so they differ only in the algorithm and in whether acting
// waits for learning. Also prints where each run's time went: the actors' env stepping, policy
// inference, replay inserts (waiting for space included) and parameter waits, as shares of the
// actors' wall time, and the learner's waiting for samples and updating, as shares of its own.
//
//   build/bench/bench_async_bench [env steps per run, default 32768]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "launch/train.h"

namespace {

using namespace mnemo;
namespace fs = std::filesystem;

struct Case {
  const char* name;
  const char* algo;
  int actors;
  bool sync;
};

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t steps = argc > 1 ? std::atoll(argv[1]) : 32768;
  const char* src = std::getenv("MNEMO_SOURCE_DIR");
  const fs::path config = fs::path(src != nullptr ? src : ".") / "launch/configs/tmaze_appo_small.yaml";
  std::printf("%-22s %10s %8s | %6s %6s %6s %6s | %7s %7s\n", "run", "steps/s", "vs sync", "env", "infer",
              "insert", "params", "l.wait", "l.upd");
  double reference = 0;
  for (const Case& k : {Case{"sync ppo, 1 actor", "ppo", 1, true}, Case{"async ppo, 1 actor", "ppo", 1, false},
                        Case{"async appo, 1 actor", "appo", 1, false}, Case{"async appo, 2 actors", "appo", 2, false}}) {
    launch::TrainConfig c = launch::load_train_config(
        config.string(),
        {"model.layers=4", "model.d_model=128", "model.heads=4", "model.encoder_hidden=[128]", "actor.num_envs=8",
         "actor.unroll_length=32", "learner.batch_sequences=16", "learner.max_policy_lag=0",
         "learner.total_env_steps=" + std::to_string(steps), "learner.checkpoint_every=0",
         std::string("learner.algo=") + k.algo, "actor.num_actors=" + std::to_string(k.actors),
         std::string("actor.sync=") + (k.sync ? "true" : "false"), "run.progress=false", "run.log_level=warn"});
    const fs::path dir = fs::temp_directory_path() / ("mnemo-async-bench-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const launch::TrainResult r = launch::train_embedded(c, dir, /*resume=*/false);
    fs::remove_all(dir);
    const auto& t = r.learner_timing;
    const double sps = static_cast<double>(r.counters.env_steps) / t.total_s;
    if (reference == 0) reference = sps;
    actors::ActorStats sum;
    for (const auto& a : r.actor_stats) {
      sum.env_s += a.env_s;
      sum.inference_s += a.inference_s;
      sum.insert_s += a.insert_s;
      sum.param_wait_s += a.param_wait_s;
    }
    const double actor_wall = t.total_s * static_cast<double>(k.actors);
    std::printf("%-22s %10.0f %8.2f | %6.2f %6.2f %6.2f %6.2f | %7.2f %7.2f\n", k.name, sps, sps / reference,
                sum.env_s / actor_wall, sum.inference_s / actor_wall, sum.insert_s / actor_wall,
                sum.param_wait_s / actor_wall, t.sample_s / t.total_s, t.update_s / t.total_s);
    std::printf("{\"bench\": \"async\", \"run\": \"%s\", \"env_steps\": %lld, \"seconds\": %.2f, \"steps_per_s\": %.1f, "
                "\"ratio_vs_sync\": %.3f, \"actor_env\": %.3f, \"actor_inference\": %.3f, \"actor_insert\": %.3f, "
                "\"actor_param_wait\": %.3f, \"learner_wait\": %.3f, \"learner_update\": %.3f}\n",
                k.name, static_cast<long long>(r.counters.env_steps), t.total_s, sps, sps / reference,
                sum.env_s / actor_wall, sum.inference_s / actor_wall, sum.insert_s / actor_wall,
                sum.param_wait_s / actor_wall, t.sample_s / t.total_s, t.update_s / t.total_s);
  }
  return 0;
}
