// Env pool throughput: steps per second for every registered env in an EnvPool at 1 and 2
// threads (synchronous mode) and in asynchronous mode at 2 threads, per core, and the memory
// bandwidth its observations need as a fraction of the memcpy bandwidth measured in the same run.
//
//   bench_envs_pool [--seconds S] [--envs tmaze,memory_maze,...] [--num-envs N]
//
// Prints one JSON line per measurement, then a table. Besides wall-clock steps/s it reports steps
// per CPU-second of the process and their ratio between 2 and 1 threads ("cpu eff", 1.0 = no
// threading overhead), which stays meaningful when the machine is shared. Actions are drawn uniformly at random
// before timing (a few batches, cycled), so the policy costs nothing.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "envs/env_pool.h"
#include "envs/registry.h"

namespace {

using Clock = std::chrono::steady_clock;
using mnemo::Array;
using mnemo::envs::EnvPool;
using mnemo::envs::EnvPoolOptions;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of the whole process (all threads). Steps per CPU-second do not depend on how busy
// the rest of the machine is, so they show a pool's parallel efficiency even on a shared machine
// where wall-clock scaling cannot be measured.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Sustained memcpy bandwidth (bytes/s) over buffers larger than the last-level cache.
double memcpy_bandwidth(double seconds) {
  const std::size_t bytes = std::size_t{64} << 20;
  std::vector<char> a(bytes, 1), b(bytes, 2);
  std::memcpy(b.data(), a.data(), bytes);
  std::size_t copied = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    std::memcpy(b.data(), a.data(), bytes);
    copied += bytes;
    std::swap(a, b);
  }
  return static_cast<double>(copied) / seconds_since(t0);
}

// Random valid actions for a batch of `rows`, as the pool expects them.
std::vector<Array> action_batches(const mnemo::ActionSpace& space, std::int64_t rows, int count) {
  mnemo::envs::Rng rng(12345);
  std::vector<Array> out;
  for (int k = 0; k < count; ++k) {
    if (space.kind == mnemo::ActionSpace::Kind::kBox) {
      const auto dim = static_cast<std::int64_t>(space.low.size());
      std::vector<float> v(static_cast<std::size_t>(rows * dim));
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>(rng.uniform(space.low[i % dim], space.high[i % dim]));
      out.push_back(Array::from_vector<float>(v, {rows, dim}));
    } else if (space.kind == mnemo::ActionSpace::Kind::kDiscrete) {
      std::vector<std::int64_t> v(static_cast<std::size_t>(rows));
      for (auto& x : v) x = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(space.n)));
      out.push_back(Array::from_vector<std::int64_t>(v, {rows}));
    } else {
      const auto k2 = static_cast<std::int64_t>(space.nvec.size());
      std::vector<std::int64_t> v(static_cast<std::size_t>(rows * k2));
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(rng.below(space.nvec[i % k2]));
      out.push_back(Array::from_vector<std::int64_t>(v, {rows, k2}));
    }
  }
  return out;
}

struct Result {
  std::string env, mode;
  std::int64_t threads = 1, num_envs = 0, batch = 0;
  double steps_per_s = 0, steps_per_cpu_s = 0, obs_bytes_per_step = 0;
};

Result measure(const std::string& name, std::int64_t num_envs, std::int64_t batch, std::int64_t threads, double seconds) {
  EnvPoolOptions o;
  o.num_envs = num_envs;
  o.batch_size = batch;
  o.num_threads = threads;
  EnvPool pool(o, [&](std::size_t) { return mnemo::envs::make_env(name); });
  const std::int64_t rows = static_cast<std::int64_t>(pool.batch_size());
  const std::vector<Array> actions = action_batches(pool.action_space(), rows, 16);
  double obs_bytes = 0;
  for (const auto& f : pool.observation_spec().fields)
    obs_bytes += static_cast<double>(mnemo::shape_numel(f.shape) * mnemo::dtype_size(f.dtype));
  pool.reset(/*base_seed=*/1);
  // Warm up: first touches of the buffers, threads spinning up.
  for (int i = 0; i < 20; ++i) pool.step(actions[static_cast<std::size_t>(i) % actions.size()]);
  std::int64_t steps = 0;
  std::size_t k = 0;
  const auto t0 = Clock::now();
  const double cpu0 = process_cpu_seconds();
  double elapsed = 0;
  do {
    for (int i = 0; i < 16; ++i) pool.step(actions[k++ % actions.size()]);
    steps += 16 * rows;
    elapsed = seconds_since(t0);
  } while (elapsed < seconds);
  const double cpu = process_cpu_seconds() - cpu0;
  Result r;
  r.steps_per_cpu_s = static_cast<double>(steps) / cpu;
  r.env = name;
  r.mode = pool.is_async() ? "async" : "sync";
  r.threads = threads;
  r.num_envs = num_envs;
  r.batch = rows;
  r.steps_per_s = static_cast<double>(steps) / elapsed;
  r.obs_bytes_per_step = obs_bytes;
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  std::int64_t num_envs_override = 0;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (a == "--envs" && i + 1 < argc) names = split(argv[++i]);
    else if (a == "--num-envs" && i + 1 < argc) num_envs_override = std::stoll(argv[++i]);
    else {
      std::cerr << "usage: " << argv[0] << " [--seconds S] [--envs a,b,...] [--num-envs N]\n";
      return 2;
    }
  }
  if (names.empty())
    for (const auto& e : mnemo::envs::registered_envs()) names.push_back(e.name);

  // The machine's load at the start, so that figures from a shared machine can be judged.
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  const double bandwidth = memcpy_bandwidth(std::max(0.2, seconds / 2));
  std::printf("{\"bench\":\"envs_pool\",\"reference\":\"memcpy\",\"bytes_per_s\":%.4g,\"loadavg_1m\":%.2f}\n",
              bandwidth, load);
  std::vector<Result> results;
  for (const auto& name : names) {
    // Pixel envs do thousands of times more work per step; fewer envs keep a batch's buffers
    // cache-sized, as an actor would.
    const bool pixels = name == "memory_maze";
    const std::int64_t n = num_envs_override > 0 ? num_envs_override : (pixels ? 64 : 256);
    for (auto [batch, threads] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {0, 2}, {n / 4, 2}}) {
      const Result r = measure(name, n, batch, threads, seconds);
      const double per_core = r.steps_per_s / static_cast<double>(r.threads);
      const double obs_bw = r.steps_per_s * r.obs_bytes_per_step;
      std::printf(
          "{\"bench\":\"envs_pool\",\"env\":\"%s\",\"mode\":\"%s\",\"threads\":%lld,\"num_envs\":%lld,"
          "\"batch\":%lld,\"steps_per_s\":%.4g,\"steps_per_s_per_core\":%.4g,\"steps_per_cpu_s\":%.4g,"
          "\"obs_bytes_per_step\":%.0f,"
          "\"obs_bytes_per_s\":%.4g,\"ratio_to_memcpy\":%.4g}\n",
          r.env.c_str(), r.mode.c_str(), static_cast<long long>(r.threads), static_cast<long long>(r.num_envs),
          static_cast<long long>(r.batch), r.steps_per_s, per_core, r.steps_per_cpu_s, r.obs_bytes_per_step, obs_bw,
          obs_bw / bandwidth);
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  std::printf("\nmemcpy bandwidth: %.2f GB/s, load average at start %.2f\n", bandwidth / 1e9, load);
  std::printf("%-16s %8s %6s %13s %13s %13s %8s %13s %13s %8s %11s\n", "env", "obs B", "envs", "sync 1thr/s",
              "sync 2thr/s", "async 2thr/s", "scaling", "1thr /cpu-s", "2thr /cpu-s", "cpu eff", "obs/memcpy");
  for (std::size_t i = 0; i + 2 < results.size(); i += 3) {
    const Result& s1 = results[i];
    const Result& s2 = results[i + 1];
    const Result& a2 = results[i + 2];
    std::printf("%-16s %8.0f %6lld %13.4g %13.4g %13.4g %7.2fx %13.4g %13.4g %7.2f %11.3g\n", s1.env.c_str(),
                s1.obs_bytes_per_step, static_cast<long long>(s1.num_envs), s1.steps_per_s, s2.steps_per_s,
                a2.steps_per_s, s2.steps_per_s / s1.steps_per_s, s1.steps_per_cpu_s, s2.steps_per_cpu_s,
                s2.steps_per_cpu_s / s1.steps_per_cpu_s, s2.steps_per_s * s2.obs_bytes_per_step / bandwidth);
  }
  return 0;
}
