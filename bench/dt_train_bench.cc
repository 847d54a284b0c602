// Decision Transformer training speed at the gym defaults of Chen et al. (K = 20, 3 layers,
// 1 head, width 128, batch 64, AdamW) on a synthetic HalfCheetah-sized dataset (17-dimensional
// states, 6-dimensional actions, 200 episodes of 1000 steps), in windows (samples) per second.
//
// Reference, measured in the same run: the GPT backbone alone (forward, backward and AdamW step
// on random token embeddings of the same [64, 60, 128] shape). The ratio says how much of a DT
// update is the transformer and how much is window sampling, embeddings and the loss.
//
//   build/bench/bench_dt_train_bench [seconds per measurement, default 3] [device, default cpu]
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/comm/communicator.h"
#include "learners/offline_trainer.h"
#include "replay/datasets/dataset.h"

namespace {

using namespace mnemo;

void set_threads(int torch_threads, int blas_threads) {
  at::set_num_threads(torch_threads);
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(blas_threads);
}

template <class F>
double per_second(F&& step, double seconds) {
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator, BLAS buffers
  int n = 0;
  auto t0 = std::chrono::steady_clock::now();
  double secs = 0;
  while (secs < seconds) {
    step();
    ++n;
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return n / secs;
}

std::shared_ptr<replay::Dataset> synthetic_dataset(std::int64_t episodes, std::int64_t length) {
  torch::manual_seed(0);
  const std::int64_t n = episodes * length;
  auto d = std::make_shared<replay::Dataset>();
  d->observations = Array::zeros(DType::kFloat32, {n, 17});
  d->actions = Array::zeros(DType::kFloat32, {n, 6});
  d->rewards = Array::zeros(DType::kFloat32, {n});
  d->terminals = Array::zeros(DType::kBool, {n});
  d->timeouts = Array::zeros(DType::kBool, {n});
  auto fill = [](const Array& a, const torch::Tensor& t) {
    std::memcpy(a.raw(), t.contiguous().data_ptr(), a.nbytes());
  };
  fill(d->observations, torch::randn({n, 17}));
  fill(d->actions, torch::rand({n, 6}) * 2 - 1);
  fill(d->rewards, torch::rand({n}));
  for (std::int64_t e = 0; e < episodes; ++e) d->timeouts.data<bool>()[(e + 1) * length - 1] = true;
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string device = argc > 2 ? argv[2] : "cpu";
  SingleCommunicator comm;
  learners::OfflineContext c;
  c.options.dataset = "synthetic";
  c.options.updates = 1;
  c.options.warmup_steps = 1;
  c.options.device = device;
  c.shape.obs_spec.fields.push_back({"obs", DType::kFloat32, {17}});
  c.shape.action_space = ActionSpace::box(std::vector<double>(6, -1.0), std::vector<double>(6, 1.0));
  c.dataset = synthetic_dataset(200, 1000);
  c.comm = &comm;
  c.progress = false;
  learners::OfflineTrainer trainer(std::move(c));
  const auto& o = learners::DTOptions{};
  auto gen = nn::make_generator(1);

  nn::GPTOptions go;  // the DT's backbone defaults
  nn::GPT gpt(go);
  gpt->to(torch::Device(device));
  torch::optim::AdamW opt(gpt->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(1e-4));
  const std::int64_t tokens = 3 * o.context;
  auto x = torch::randn({o.batch_size, tokens, go.n_embd}).to(torch::Device(device));
  auto sync = [&] {
    if (torch::Device(device).is_cuda()) torch::cuda::synchronize();
  };

  std::printf("%-8s %-6s %14s %14s %8s\n", "threads", "blas", "dt samples/s", "gpt samples/s", "ratio");
  for (auto [tt, bt] : std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {2, 1}}) {
    set_threads(tt, bt);
    const double dt = per_second(
                          [&] {
                            trainer.update(trainer.data().sample(o.batch_size, gen));
                            sync();
                          },
                          seconds) *
                      static_cast<double>(o.batch_size);
    const double ref = per_second(
                           [&] {
                             auto loss = gpt->forward_embeds(x).pow(2).mean();
                             opt.zero_grad();
                             loss.backward();
                             opt.step();
                             sync();
                           },
                           seconds) *
                       static_cast<double>(o.batch_size);
    std::printf("%-8d %-6d %14.0f %14.0f %8.2f\n", tt, bt, dt, ref, dt / ref);
    std::printf("{\"bench\": \"dt_train\", \"device\": \"%s\", \"torch_threads\": %d, \"blas_threads\": %d, "
                "\"context\": %ld, \"batch\": %ld, \"dt_samples_per_s\": %.1f, \"gpt_samples_per_s\": %.1f, "
                "\"ratio\": %.3f}\n",
                device.c_str(), tt, bt, static_cast<long>(o.context), static_cast<long>(o.batch_size), dt, ref, dt / ref);
  }
  return 0;
}
