// Learning from pixels, measured (docs/benchmarks.md, "Learning from pixels"):
//   1. each augmentation (learners/augment.h) on a learner-sized uint8 batch (32 sequences x 16
//      steps of 64x64 RGB), in frames/s and bytes/s, against memcpy of the same bytes;
//   2. a PPO update of the pixel memory task's policy (IMPALA CNN + LSTM, 16 sequences of 18 steps,
//      4 epochs x 4 minibatches) without and with the ATC and CURL auxiliary losses (64 anchors);
//   3. end-to-end env steps/s of PPO on the pixel memory task and on Catch, with where the time
//      went, against the same network and update in Python PyTorch (bench/reference/ppo_catch.py,
//      Debian's python3-torch), timed in the same run; skipped with a message without it.
//
//   build/bench/bench_representations_bench [env steps per end-to-end run, default 23040; 0: skip them]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/models/encoders.h"
#include "core/comm/communicator.h"
#include "launch/train.h"
#include "learners/algorithm.h"
#include "learners/augment.h"
#include "learners/contrastive.h"
#include "learners/trainer.h"
#include "tests/learners/acted_batch.h"

namespace {

using namespace mnemo;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median seconds of `reps` calls after one warm-up call.
double median_seconds(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

fs::path source_dir() {
  const char* s = std::getenv("MNEMO_SOURCE_DIR");
  return s != nullptr ? fs::path(s) : fs::current_path();
}

void augmentations() {
  const int64_t N = 32, K = 16, H = 64, W = 64, C = 3;
  auto gen = nn::make_generator(1);
  const auto x = torch::randint(256, {N, K, H, W, C}, gen, torch::kLong).to(torch::kUInt8);
  const double bytes = static_cast<double>(x.nbytes()), frames = static_cast<double>(N * K);
  std::vector<std::uint8_t> dst(x.nbytes());
  const double ref = median_seconds(20, [&] { std::memcpy(dst.data(), x.data_ptr(), x.nbytes()); });
  std::printf("\naugmentation of %lld frames %lldx%lldx%lld uint8 (%.1f MB), one draw per sequence\n",
              static_cast<long long>(N * K), static_cast<long long>(H), static_cast<long long>(W),
              static_cast<long long>(C), bytes / 1e6);
  std::printf("%-10s %12s %10s %12s\n", "op", "frames/s", "MB/s", "x memcpy");
  std::printf("%-10s %12.0f %10.0f %12.1f\n", "memcpy", frames / ref, bytes / ref / 1e6, 1.0);
  const std::vector<std::pair<const char*, std::function<torch::Tensor()>>> ops = {
      {"shift", [&] { return learners::augment::shift(x, 4, gen); }},
      {"crop", [&] { return learners::augment::crop(x, 0.84, gen); }},
      {"cutout", [&] { return learners::augment::cutout(x, 0.1, 0.3, gen); }},
      {"jitter", [&] { return learners::augment::jitter(x, 0.4, 0.4, 0.4, 0.1, gen); }},
      {"grayscale", [&] { return learners::augment::grayscale(x, 0.3, gen); }},
      {"flip", [&] { return learners::augment::flip(x, 0.5, gen); }}};
  for (const auto& [name, op] : ops) {
    const double s = median_seconds(5, [&] { op(); });
    std::printf("%-10s %12.0f %10.0f %12.1f\n", name, frames / s, bytes / s / 1e6, s / ref);
    std::printf("{\"bench\": \"augment\", \"op\": \"%s\", \"frames\": %.0f, \"bytes\": %.0f, \"seconds\": %.5f, "
                "\"frames_per_s\": %.0f, \"bytes_per_s\": %.0f, \"memcpy_seconds\": %.6f, \"ratio_vs_memcpy\": %.2f}\n",
                name, frames, bytes, s, frames / s, bytes / s, ref, s / ref);
  }
}

void update_costs() {
  const Spec spec{{{"pixels", DType::kUInt8, {20, 10, 3}}}};
  const ActionSpace space = ActionSpace::discrete(3);
  std::printf("\nPPO update of the pixel memory task's policy (16 sequences x 18 steps, 4 epochs x 4 minibatches)\n");
  std::printf("%-10s %12s %12s\n", "aux", "update s", "x none");
  double reference = 0;
  for (const char* aux : {"none", "atc", "curl"}) {
    nn::ModelOptions m;
    m.type = "lstm";
    m.layers = 1;
    m.d_model = 64;
    m.encoder = "impala";
    m.impala_channels = {16, 16};
    m.cnn_features = 64;
    learners::LearnerOptions o;
    o.ppo.lr = 5e-4;
    o.aux.type = aux;
    o.aux.batch = 64;
    torch::manual_seed(1);
    auto policy = nn::make_policy(m, spec, space);
    learners::Contrastive loss{nullptr};
    if (o.aux.enabled()) loss = learners::Contrastive(o.aux, m, spec, *policy->encoder());
    const auto trained = learners::trained_parameters(*policy, loss ? loss.get() : nullptr);
    torch::optim::Adam adam(trained, torch::optim::AdamOptions(o.ppo.lr));
    SingleCommunicator comm;
    GradientReducer reducer(comm, trained);
    auto gen = nn::make_generator(2);
    auto algo = learners::make_online_algorithm(
        o, learners::OnlineLearner{*policy, adam, reducer, comm, gen, space, torch::kCPU, nullptr,
                                   loss ? loss.get() : nullptr});
    learners::test_data::ActedBatchOptions ao;
    ao.T = 18;
    ao.B = 16;
    ao.obs_dim = 20 * 10 * 3;
    ao.terminate_p = 1.0 / 9;
    auto batch = learners::test_data::acted_batch(*policy, space, ao, gen);
    batch.obs = (batch.obs.abs() * 80).clamp(0, 255).round();  // pixel values
    const double s = median_seconds(3, [&] { algo->update(batch); });
    if (reference == 0) {
      reference = s;
      // Where an update goes: the encoder's forward and backward over one minibatch's 4 x 18
      // frames, times the 16 minibatch steps.
      auto frames = batch.obs.narrow(1, 0, 4).reshape({4 * 18, -1});
      const double enc = median_seconds(3, [&] {
        policy->zero_grad();
        policy->encoder()->forward(frames).sum().backward();
      });
      std::printf("(the encoder's forward and backward: %.3f s of each update, %.0f%%)\n", 16 * enc, 1600 * enc / s);
      std::printf("{\"bench\": \"aux_update_encoder_share\", \"encoder_seconds\": %.4f, \"share\": %.3f}\n",
                  16 * enc, 16 * enc / s);
    }
    std::printf("%-10s %12.3f %12.2f\n", aux, s, s / reference);
    std::printf("{\"bench\": \"aux_update\", \"aux\": \"%s\", \"seconds\": %.4f, \"ratio_vs_none\": %.3f}\n", aux, s,
                s / reference);
  }
}

void end_to_end(std::int64_t steps) {
  std::printf("\nend to end, PPO, synchronous, 1 actor of 16 envs (%lld env steps per run)\n",
              static_cast<long long>(steps));
  std::printf("%-22s %10s | %6s %6s %6s %6s | %7s %7s\n", "run", "steps/s", "env", "infer", "insert", "params",
              "l.wait", "l.upd");
  const fs::path config = source_dir() / "launch/configs/catch_memory.yaml";
  std::vector<std::pair<std::string, double>> mnemo_sps;
  for (int visible : {1, 0}) {
    const std::string name = visible ? "mnemo, pixel memory" : "mnemo, catch";
    launch::TrainConfig c = launch::load_train_config(
        config.string(), {"env.visible_rows=" + std::to_string(visible), "learner.total_env_steps=" + std::to_string(steps),
                          "learner.checkpoint_every=0", "run.progress=false", "run.log_level=warn"});
    const fs::path dir = fs::temp_directory_path() / ("mnemo-repr-bench-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const launch::TrainResult r = launch::train_embedded(c, dir, /*resume=*/false);
    fs::remove_all(dir);
    const auto& t = r.learner_timing;
    const double sps = static_cast<double>(r.counters.env_steps) / t.total_s;
    const auto& a = r.actor_stats.at(0);
    std::printf("%-22s %10.0f | %6.2f %6.2f %6.2f %6.2f | %7.2f %7.2f\n", name.c_str(), sps, a.env_s / t.total_s,
                a.inference_s / t.total_s, a.insert_s / t.total_s, a.param_wait_s / t.total_s, t.sample_s / t.total_s,
                t.update_s / t.total_s);
    std::printf("{\"bench\": \"pixels_e2e\", \"run\": \"%s\", \"env_steps\": %lld, \"seconds\": %.2f, \"steps_per_s\": %.1f, "
                "\"actor_env\": %.3f, \"actor_inference\": %.3f, \"actor_insert\": %.3f, \"actor_param_wait\": %.3f, "
                "\"learner_wait\": %.3f, \"learner_update\": %.3f}\n",
                name.c_str(), static_cast<long long>(r.counters.env_steps), t.total_s, sps, a.env_s / t.total_s,
                a.inference_s / t.total_s, a.insert_s / t.total_s, a.param_wait_s / t.total_s, t.sample_s / t.total_s,
                t.update_s / t.total_s);
    mnemo_sps.emplace_back(name, sps);
  }
  // The reference, in the same run: Debian's python3 with python3-torch and python3-numpy.
  const std::string python = "/usr/bin/python3";
  if (std::system((python + " -c 'import torch, numpy' > /dev/null 2>&1").c_str()) != 0) {
    std::printf("python reference skipped: %s cannot import torch and numpy (apt install python3-torch python3-numpy)\n",
                python.c_str());
    return;
  }
  for (int visible : {1, 0}) {
    const std::string cmd = python + " " + (source_dir() / "bench/reference/ppo_catch.py").string() + " --steps " +
                            std::to_string(steps) + " --visible-rows " + std::to_string(visible);
    FILE* p = popen(cmd.c_str(), "r");
    char line[1024] = {0};
    std::string out;
    while (p != nullptr && std::fgets(line, sizeof line, p) != nullptr) out += line;
    if (p == nullptr || pclose(p) != 0 || out.find("steps_per_s") == std::string::npos) {
      std::printf("python reference failed: %s\n%s\n", cmd.c_str(), out.c_str());
      return;
    }
    const double sps = std::atof(out.c_str() + out.find("\"steps_per_s\": ") + 15);
    const auto& [name, ours] = mnemo_sps[visible ? 0 : 1];
    std::printf("%-22s %10.0f   (%s)\n", visible ? "python, pixel memory" : "python, catch", sps, out.c_str());
    std::printf("{\"bench\": \"pixels_e2e_vs_python\", \"run\": \"%s\", \"mnemo_steps_per_s\": %.1f, "
                "\"python_steps_per_s\": %.1f, \"ratio_mnemo_vs_python\": %.2f}\n",
                name.c_str(), ours, sps, ours / sps);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t steps = argc > 1 ? std::atoll(argv[1]) : 23040;
  torch::set_num_threads(1);
  augmentations();
  update_costs();
  if (steps > 0) end_to_end(steps);
  return 0;
}
