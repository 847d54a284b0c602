// The Gymnasium bridge's throughput: env steps/s of an EnvPool of `gym` envs (Python env servers,
// envs/gym.h) against Gymnasium's own SyncVectorEnv stepping the same envs in the same run
// (bench/reference/gym_vector.py, started from here), and against mnemo's native CartPole.
//
//   bench_envs_gym_bridge [--python PY] [--id CartPole-v1] [--num-envs 64] [--seconds S]
//
// PY must have gymnasium, numpy and pyzmq (make bench-gym makes build/venv). Actions are drawn
// uniformly at random before timing, on both sides. Prints one JSON line per measurement, then a
// table with the ratios bridge / SyncVectorEnv.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "envs/env_pool.h"
#include "envs/gym.h"
#include "envs/registry.h"

namespace {

using Clock = std::chrono::steady_clock;
using mnemo::Array;
using mnemo::envs::EnvFactory;
using mnemo::envs::EnvPool;
using mnemo::envs::EnvPoolOptions;

// Steps/s of a synchronous pool of `num_envs` envs made by `factory`, random actions.
double pool_steps_per_s(const EnvFactory& factory, std::int64_t num_envs, double seconds) {
  EnvPoolOptions o;
  o.num_envs = num_envs;
  EnvPool pool(o, factory);
  const mnemo::FieldSpec f = pool.action_space().field();
  mnemo::envs::Rng rng(12345);
  std::vector<Array> actions;
  for (int k = 0; k < 16; ++k) {
    mnemo::Shape shape{num_envs};
    shape.insert(shape.end(), f.shape.begin(), f.shape.end());
    Array a = Array::zeros(f.dtype, shape);
    const std::size_t row = a.nbytes() / static_cast<std::size_t>(num_envs);
    for (std::int64_t i = 0; i < num_envs; ++i)
      mnemo::envs::sample_action(pool.action_space(), rng, static_cast<char*>(a.raw()) + i * row);
    actions.push_back(std::move(a));
  }
  pool.reset(/*base_seed=*/1);
  for (int i = 0; i < 20; ++i) pool.step(actions[static_cast<std::size_t>(i) % actions.size()]);
  std::int64_t steps = 0;
  std::size_t k = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < 16; ++i) pool.step(actions[k++ % actions.size()]);
    steps += 16 * num_envs;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (elapsed < seconds);
  return static_cast<double>(steps) / elapsed;
}

// Runs the reference script and returns the steps_per_s of its JSON line (0 when it failed).
double reference_steps_per_s(const std::string& python, const std::string& script, const std::string& id,
                             std::int64_t num_envs, double seconds, const std::string& autoreset, std::string& line) {
  const std::string cmd = python + " " + script + " --env " + id + " --num-envs " + std::to_string(num_envs) +
                          " --seconds " + std::to_string(seconds) + " --autoreset " + autoreset + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  char buf[4096];
  line.clear();
  while (std::fgets(buf, sizeof buf, p) != nullptr) line += buf;
  pclose(p);
  const auto at = line.find("\"steps_per_s\": ");
  if (at == std::string::npos) return 0;
  return std::stod(line.substr(at + 15));
}

}  // namespace

int main(int argc, char** argv) {
  std::string python = "build/venv/bin/python", id = "CartPole-v1";
  std::int64_t num_envs = 64;
  double seconds = 3.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--python" && i + 1 < argc) python = argv[++i];
    else if (a == "--id" && i + 1 < argc) id = argv[++i];
    else if (a == "--num-envs" && i + 1 < argc) num_envs = std::stoll(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else {
      std::cerr << "usage: " << argv[0] << " [--python PY] [--id ID] [--num-envs N] [--seconds S]\n";
      return 2;
    }
  }
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  const std::string script = std::string(MNEMO_SOURCE_DIR) + "/bench/reference/gym_vector.py";
  std::string out_next, out_same;
  const double ref_next = reference_steps_per_s(python, script, id, num_envs, seconds, "next_step", out_next);
  const double ref_same = reference_steps_per_s(python, script, id, num_envs, seconds, "same_step", out_same);
  if (ref_next <= 0 || ref_same <= 0) {
    std::fprintf(stderr, "the reference (gymnasium's SyncVectorEnv with %s) did not run:\n%s%s", python.c_str(),
                 out_next.c_str(), out_same.c_str());
    return 1;
  }
  std::printf("{\"bench\":\"envs_gym_bridge\",\"reference\":\"gymnasium.SyncVectorEnv\",\"env\":\"%s\",\"num_envs\":%lld,"
              "\"autoreset\":\"next_step\",\"steps_per_s\":%.4g,\"loadavg_1m\":%.2f}\n",
              id.c_str(), static_cast<long long>(num_envs), ref_next, load);
  std::printf("{\"bench\":\"envs_gym_bridge\",\"reference\":\"gymnasium.SyncVectorEnv\",\"env\":\"%s\",\"num_envs\":%lld,"
              "\"autoreset\":\"same_step\",\"steps_per_s\":%.4g}\n",
              id.c_str(), static_cast<long long>(num_envs), ref_same);
  std::fflush(stdout);

  struct Row {
    std::string what;
    double steps_per_s;
  };
  std::vector<Row> rows;
  for (std::int64_t servers : {1, 2}) {
    mnemo::envs::GymOptions o;
    o.id = id;
    o.python = python;
    o.servers = servers;
    o.render_mode = "";
    const double sps = pool_steps_per_s([o](std::size_t) { return std::make_unique<mnemo::envs::GymEnv>(o); },
                                        num_envs, seconds);
    rows.push_back({"bridge, " + std::to_string(servers) + " server" + (servers > 1 ? "s" : ""), sps});
    std::printf("{\"bench\":\"envs_gym_bridge\",\"env\":\"%s\",\"num_envs\":%lld,\"servers\":%lld,\"steps_per_s\":%.4g,"
                "\"ratio_to_sync_vector_env\":%.3f,\"ratio_to_same_step\":%.3f}\n",
                id.c_str(), static_cast<long long>(num_envs), static_cast<long long>(servers), sps, sps / ref_next,
                sps / ref_same);
    std::fflush(stdout);
  }
  const double native = pool_steps_per_s([](std::size_t) { return mnemo::envs::make_env("cartpole"); }, num_envs, seconds);
  std::printf("{\"bench\":\"envs_gym_bridge\",\"env\":\"mnemo cartpole (native)\",\"num_envs\":%lld,\"steps_per_s\":%.4g,"
              "\"ratio_to_sync_vector_env\":%.3f}\n",
              static_cast<long long>(num_envs), native, native / ref_next);

  std::printf("\n%s, %lld envs, load average at start %.2f\n", id.c_str(), static_cast<long long>(num_envs), load);
  std::printf("%-34s %12s %14s %14s\n", "", "steps/s", "/ SyncVecEnv", "/ same_step");
  std::printf("%-34s %12.4g %14s %14s\n", "gymnasium SyncVectorEnv (next_step)", ref_next, "1.00", "");
  std::printf("%-34s %12.4g %14s %14s\n", "gymnasium SyncVectorEnv (same_step)", ref_same, "", "1.00");
  for (const Row& r : rows)
    std::printf("%-34s %12.4g %13.2fx %13.2fx\n", ("mnemo " + r.what).c_str(), r.steps_per_s, r.steps_per_s / ref_next,
                r.steps_per_s / ref_same);
  std::printf("%-34s %12.4g %13.2fx\n", "mnemo native cartpole (1 thread)", native, native / ref_next);
  return 0;
}
