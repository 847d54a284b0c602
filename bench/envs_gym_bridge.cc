// The Gymnasium bridge's throughput: env steps/s of an EnvPool of `gym` envs (Python env servers,
// envs/gym.h) against Gymnasium's own SyncVectorEnv stepping the same envs in the same run
// (bench/reference/gym_vector.py, started from here), and against mnemo's native CartPole.
//
//   bench_envs_gym_bridge [--python PY] [--id CartPole-v1] [--num-envs 64] [--seconds 1] [--rounds 5]
//                         [--spin-us 200]
//
// PY must have gymnasium, numpy and pyzmq (make bench-gym makes build/venv). Actions are drawn
// uniformly at random before timing, on both sides. Each of `rounds` rounds times every side for
// `seconds` in turn; the ratios are medians of the rounds' ratios, the rates medians of the
// rounds' rates. The reference's steps are transitions: next_step autoreset spends a slot on each
// reset, which is no step (bench/reference/gym_vector.py). Prints one JSON line per side, then a
// table with the ratios to SyncVectorEnv.
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

// A synchronous pool of `num_envs` envs made by `factory`, stepped with random actions drawn once.
class TimedPool {
 public:
  TimedPool(const EnvFactory& factory, std::int64_t num_envs) : num_envs_(num_envs), pool_(options(num_envs), factory) {
    const mnemo::FieldSpec f = pool_.action_space().field();
    mnemo::envs::Rng rng(12345);
    for (int k = 0; k < 16; ++k) {
      mnemo::Shape shape{num_envs};
      shape.insert(shape.end(), f.shape.begin(), f.shape.end());
      Array a = Array::zeros(f.dtype, shape);
      const std::size_t row = a.nbytes() / static_cast<std::size_t>(num_envs);
      for (std::int64_t i = 0; i < num_envs; ++i)
        mnemo::envs::sample_action(pool_.action_space(), rng, static_cast<char*>(a.raw()) + i * row);
      actions_.push_back(std::move(a));
    }
    pool_.reset(/*base_seed=*/1);
    for (int i = 0; i < 20; ++i) step();
  }

  // Env steps/s over at least `seconds` of stepping.
  double steps_per_s(double seconds) {
    std::int64_t steps = 0;
    const auto t0 = Clock::now();
    double elapsed = 0;
    do {
      for (int i = 0; i < 16; ++i) step();
      steps += 16 * num_envs_;
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < seconds);
    return static_cast<double>(steps) / elapsed;
  }

 private:
  static EnvPoolOptions options(std::int64_t n) {
    EnvPoolOptions o;
    o.num_envs = n;
    return o;
  }
  void step() { pool_.step(actions_[next_++ % actions_.size()]); }

  std::int64_t num_envs_;
  EnvPool pool_;
  std::vector<Array> actions_;
  std::size_t next_ = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
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
  double seconds = 1.0;
  int rounds = 5;
  std::int64_t spin_us = mnemo::envs::GymOptions{}.spin_us;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--python" && i + 1 < argc) python = argv[++i];
    else if (a == "--id" && i + 1 < argc) id = argv[++i];
    else if (a == "--num-envs" && i + 1 < argc) num_envs = std::stoll(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::stoi(argv[++i]);
    else if (a == "--spin-us" && i + 1 < argc) spin_us = std::stoll(argv[++i]);
    else {
      std::cerr << "usage: " << argv[0] << " [--python PY] [--id ID] [--num-envs N] [--seconds S] [--rounds R] [--spin-us U]\n";
      return 2;
    }
  }
  if (rounds < 1 || num_envs < 1 || !(seconds > 0)) {
    std::cerr << "--rounds and --num-envs must be >= 1 and --seconds > 0\n";
    return 2;
  }
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  const std::string script = std::string(MNEMO_SOURCE_DIR) + "/bench/reference/gym_vector.py";
  // The machine is shared and noisy: each round measures every side for `seconds`, one after the
  // other, and the ratios reported are medians of the rounds' ratios.
  struct Side {
    std::string what;
    std::vector<double> rates;
  };
  std::vector<Side> sides = {{"gymnasium SyncVectorEnv (next_step)", {}},
                             {"gymnasium SyncVectorEnv (same_step)", {}},
                             {"mnemo bridge, 1 server", {}},
                             {"mnemo bridge, 2 servers", {}},
                             {"mnemo native cartpole (1 thread)", {}}};
  std::vector<std::unique_ptr<TimedPool>> pools;
  for (std::int64_t servers : {1, 2}) {
    mnemo::envs::GymOptions o;
    o.id = id;
    o.python = python;
    o.servers = servers;
    o.render_mode = "";
    o.spin_us = spin_us;
    o.validate();
    pools.push_back(std::make_unique<TimedPool>(
        [o](std::size_t) { return std::make_unique<mnemo::envs::GymEnv>(o); }, num_envs));
  }
  pools.push_back(std::make_unique<TimedPool>([](std::size_t) { return mnemo::envs::make_env("cartpole"); }, num_envs));
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < 2; ++m) {
      const char* mode = m == 0 ? "next_step" : "same_step";
      std::string out;
      const double ref = reference_steps_per_s(python, script, id, num_envs, seconds, mode, out);
      if (ref <= 0) {
        std::fprintf(stderr, "the reference (gymnasium's SyncVectorEnv with %s) did not run:\n%s", python.c_str(),
                     out.c_str());
        return 1;
      }
      sides[static_cast<std::size_t>(m)].rates.push_back(ref);
    }
    for (std::size_t p = 0; p < pools.size(); ++p) sides[2 + p].rates.push_back(pools[p]->steps_per_s(seconds));
  }
  // Median over rounds of side / reference, the reference being round r's next_step or same_step rate.
  const auto ratio = [&](const Side& s, std::size_t ref) {
    std::vector<double> q;
    for (int r = 0; r < rounds; ++r) q.push_back(s.rates[static_cast<std::size_t>(r)] / sides[ref].rates[static_cast<std::size_t>(r)]);
    return median(q);
  };
  for (const Side& s : sides)
    std::printf("{\"bench\":\"envs_gym_bridge\",\"side\":\"%s\",\"env\":\"%s\",\"num_envs\":%lld,\"rounds\":%d,"
                "\"seconds\":%.3g,\"steps_per_s\":%.4g,\"ratio_to_sync_vector_env\":%.3f,\"ratio_to_same_step\":%.3f,"
                "\"loadavg_1m\":%.2f}\n",
                s.what.c_str(), id.c_str(), static_cast<long long>(num_envs), rounds, seconds, median(s.rates),
                ratio(s, 0), ratio(s, 1), load);

  std::printf("\n%s, %lld envs, %d rounds of %.3g s per side, env.spin_us %lld, load average at start %.2f\n",
              id.c_str(), static_cast<long long>(num_envs), rounds, seconds, static_cast<long long>(spin_us), load);
  std::printf("%-36s %12s %14s %14s\n", "", "steps/s", "/ SyncVecEnv", "/ same_step");
  for (const Side& s : sides)
    std::printf("%-36s %12.4g %13.2fx %13.2fx\n", s.what.c_str(), median(s.rates), ratio(s, 0), ratio(s, 1));
  return 0;
}
