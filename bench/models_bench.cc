// Recurrent policies at matched size (4 layers, d_model 128, 4 heads): per-step inference time at
// batch 1 and 64, recurrent-state bytes per env, how the per-step cost evolves as an episode
// grows (early steps vs steps 900-1000), and training throughput of unroll (forward + backward).
// Ratios are against GTrXL with memory 128, measured in the same run.
//
//   build/bench/bench_models_bench [--quick]
//   build/bench/bench_models_bench --export DIR
//
// --export writes DIR/<model>.safetensors instead of timing: each model's parameters under their
// mnemo names, plus "check.obs" [T, B, 16] and the "check.params" / "check.value" its step() gives
// from a fresh state at each of those T steps, so that a port of the model elsewhere (the PyTorch
// versions in bench/peers/recurrent_inference.py) can prove it computes the same function.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/models/models.h"
#include "core/models/safetensors.h"

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

void export_model(mnemo::nn::PolicyImpl& p, const std::string& name, const std::filesystem::path& dir) {
  torch::InferenceMode guard;
  const int64_t T = 12, B = 3;
  auto obs = torch::randn({T, B, 16});
  auto state = p.initial_state(B);
  std::vector<torch::Tensor> params, values;
  for (int64_t t = 0; t < T; ++t) {
    auto out = p.step(obs[t], state);
    params.push_back(out.params);
    values.push_back(out.value);
    state = out.state;
  }
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& t : p.named_parameters()) tensors.emplace_back(t.key(), t.value().detach());
  for (const auto& t : p.named_buffers()) tensors.emplace_back(t.key(), t.value());
  tensors.emplace_back("check.obs", obs);
  tensors.emplace_back("check.params", torch::stack(params));
  tensors.emplace_back("check.value", torch::stack(values));
  mnemo::save_safetensors(dir / (name + ".safetensors"), tensors, {{"mnemo.model", name}});
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!(argc == 1 || (argc == 2 && mode == "--quick") || (argc == 3 && mode == "--export"))) {
    std::fprintf(stderr, "usage: bench_models_bench [--quick | --export DIR]\n");
    return 2;
  }
  const bool quick = mode == "--quick";
  const char* export_dir = mode == "--export" ? argv[2] : nullptr;
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
    if (export_dir) {
      std::filesystem::create_directories(export_dir);
      export_model(*p, s.name, export_dir);
      continue;
    }
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
  if (export_dir) return 0;
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
