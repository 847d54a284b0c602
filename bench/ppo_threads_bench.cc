// PPO minibatch update speed for torch intra-op threads x OpenBLAS threads, relative to one
// thread of each (the default of every role) measured in the same run. Two model sizes: the
// CartPole MLP of the demo (64x64) and a larger 256x256 MLP.
//
//   build/bench/bench_ppo_threads_bench
#include <dlfcn.h>

#include <chrono>
#include <cstdio>

#include "core/models/models.h"
#include "learners/ppo.h"

namespace {

void set_threads(int torch_threads, int blas_threads) {
  at::set_num_threads(torch_threads);
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(blas_threads);
}

double updates_per_second(int64_t obs_dim, int64_t hidden, int64_t batch) {
  using namespace mnemo;
  torch::manual_seed(0);
  nn::ModelOptions mo;
  mo.hidden = {hidden, hidden};
  auto space = ActionSpace::discrete(4);
  auto policy = nn::make_policy(mo, obs_dim, space);
  torch::optim::Adam opt(policy->parameters(), torch::optim::AdamOptions(2.5e-4));
  learners::PPOOptions o;
  auto obs = torch::randn({1, batch, obs_dim});
  auto actions = torch::randint(0, 4, {1, batch}, torch::kLong);
  auto old_lp = torch::full({1, batch}, -1.386f);
  auto old_v = torch::zeros({1, batch});
  auto adv = torch::randn({1, batch});
  auto ret = torch::randn({1, batch});
  auto first = torch::zeros({1, batch}, torch::kBool);
  auto step = [&] {
    auto out = policy->unroll(obs, first, {});
    auto loss = learners::ppo_loss(o, space, out, {}, actions, old_lp, old_v, adv, ret);
    opt.zero_grad();
    loss.total.backward();
    opt.step();
  };
  for (int i = 0; i < 10; ++i) step();
  int n = 0;
  auto t0 = std::chrono::steady_clock::now();
  double secs = 0;
  while (secs < 1.0) {
    step();
    ++n;
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return n / secs;
}

}  // namespace

int main() {
  struct Model {
    const char* name;
    int64_t obs_dim, hidden, batch;
  };
  std::printf("%-16s %6s %6s %14s %10s\n", "model", "torch", "blas", "updates/s", "vs 1x1");
  for (Model m : {Model{"mlp64 b256", 4, 64, 256}, Model{"mlp256 b1024", 64, 256, 1024}}) {
    double ref = 0;
    for (auto [tt, bt] : {std::pair{1, 1}, {2, 1}, {1, 2}, {2, 2}}) {
      set_threads(tt, bt);
      double ups = updates_per_second(m.obs_dim, m.hidden, m.batch);
      if (tt == 1 && bt == 1) ref = ups;
      std::printf("%-16s %6d %6d %14.1f %10.2f\n", m.name, tt, bt, ups, ups / ref);
      std::printf("{\"bench\": \"ppo_threads\", \"model\": \"%s\", \"torch_threads\": %d, \"blas_threads\": %d, "
                  "\"updates_per_s\": %.2f, \"ratio_vs_1x1\": %.3f}\n",
                  m.name, tt, bt, ups, ups / ref);
    }
  }
  return 0;
}
