// Recurrent policies at matched size (4 layers, d_model 128, 4 heads): per-step inference time at
// batch 1 and 64, recurrent-state bytes per env, how the per-step cost evolves as an episode
// grows (early steps vs steps 900-1000), and training throughput of unroll (forward + backward).
// Ratios are against GTrXL with memory 128, measured in the same run.
//
//   build/bench/bench_models_bench [--quick]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/models/models.h"

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

struct Result {
  std::string name;
  double us_b1 = 0, us_b64 = 0, early_us = 0, late_us = 0, state_bytes = 0, train_steps_per_s = 0;
};

std::shared_ptr<mnemo::nn::PolicyImpl> make(const std::string& type, int64_t memory) {
  mnemo::nn::ModelOptions o;
  o.type = type;
  o.layers = 4;
  o.d_model = 128;
  o.heads = 4;
  o.eta = 8;
  o.r = 2;
  o.memory = memory;
  o.encoder_hidden = {128};
  return mnemo::nn::make_policy(o, /*obs_dim=*/16, mnemo::ActionSpace::discrete(4));
}

// Mean microseconds per step() over steps [from, to) of one episode of batch B.
std::pair<double, double> step_times(mnemo::nn::PolicyImpl& p, int64_t B, int early_to, int late_from, int late_to) {
  torch::InferenceMode guard;
  auto obs = torch::randn({B, 16});
  auto state = p.initial_state(B);
  double early = 0, late = 0;
  for (int t = 0; t < late_to; ++t) {
    auto t0 = Clock::now();
    state = p.step(obs, state).state;
    double s = secs(t0);
    if (t < early_to) early += s;
    if (t >= late_from) late += s;
  }
  return {early / early_to * 1e6, late / (late_to - late_from) * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  at::set_num_threads(1);
  torch::manual_seed(0);
  struct Spec {
    const char* name;
    const char* type;
    int64_t memory;
  };
  std::vector<Spec> specs{{"gtrxl_m128", "gtrxl", 128}, {"gtrxl_m512", "gtrxl", 512}, {"agalite", "agalite", 0},
                          {"galite", "galite", 0},       {"lstm", "lstm", 0}};
  const int late_to = quick ? 300 : 1000, late_from = late_to - 100;
  std::vector<Result> results;
  for (const auto& s : specs) {
    auto p = make(s.type, s.memory > 0 ? s.memory : 64);
    p->eval();
    Result r;
    r.name = s.name;
    auto [e1, l1] = step_times(*p, 1, 100, late_from, late_to);
    r.early_us = e1;
    r.late_us = l1;
    r.us_b1 = l1;
    r.us_b64 = step_times(*p, 64, 20, quick ? 100 : 300, quick ? 150 : 400).second;
    for (const auto& t : p->initial_state(1)) r.state_bytes += static_cast<double>(t.numel() * t.element_size());
    // Training: unroll over [T=32, B=16] with a backward pass.
    p->train();
    auto obs = torch::randn({32, 16, 16});
    auto first = torch::zeros({32, 16}, torch::kBool);
    first[0].fill_(true);
    int n = 0;
    auto t0 = Clock::now();
    while (secs(t0) < (quick ? 1.0 : 3.0)) {
      auto out = p->unroll(obs, first, p->initial_state(16));
      (out.params.sum() + out.value.sum()).backward();
      ++n;
    }
    r.train_steps_per_s = n * 32.0 * 16.0 / secs(t0);
    results.push_back(r);
  }
  const Result& ref = results[0];
  std::printf("%-12s %10s %10s %12s %12s %14s %12s %10s %10s %10s\n", "model", "b1_us", "b64_us", "early_us",
              "late_us", "state_bytes", "train_sps", "b1/gtrxl", "b64/gtrxl", "mem/gtrxl");
  for (const auto& r : results) {
    std::printf("%-12s %10.1f %10.1f %12.1f %12.1f %14.0f %12.0f %10.2f %10.2f %10.2f\n", r.name.c_str(), r.us_b1,
                r.us_b64, r.early_us, r.late_us, r.state_bytes, r.train_steps_per_s, r.us_b1 / ref.us_b1,
                r.us_b64 / ref.us_b64, r.state_bytes / ref.state_bytes);
    std::printf("{\"bench\": \"models\", \"model\": \"%s\", \"step_us_b1\": %.2f, \"step_us_b64\": %.2f, "
                "\"early_step_us\": %.2f, \"late_step_us\": %.2f, \"state_bytes_per_env\": %.0f, "
                "\"train_env_steps_per_s\": %.1f, \"b1_vs_gtrxl_m128\": %.3f, \"b64_vs_gtrxl_m128\": %.3f, "
                "\"state_vs_gtrxl_m128\": %.3f}\n",
                r.name.c_str(), r.us_b1, r.us_b64, r.early_us, r.late_us, r.state_bytes, r.train_steps_per_s,
                r.us_b1 / ref.us_b1, r.us_b64 / ref.us_b64, r.state_bytes / ref.state_bytes);
  }
  return 0;
}
