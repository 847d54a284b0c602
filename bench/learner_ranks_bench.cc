// Learner samples (env steps trained on) per second with one and two data-parallel learner ranks,
// for PPO and APPO with the paper-size AGaLiTe (4 layers, width 128) on T-Maze-shaped sequences:
// 16 sequences of 32 steps per rank and update, 4 epochs x 4 minibatches, gradients averaged over
// MPI. The reference is one rank, measured in the same run (the other rank waits meanwhile, so
// each configuration has the cores it uses). Run under `mpirun -np 2` (bench/run.sh does).
//
//   mpirun -np 2 build/bench/bench_learner_ranks_bench [seconds per measurement, default 5]
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/comm/communicator.h"
#include "learners/algorithm.h"
#include "learners/trainer.h"
#include "tests/learners/acted_batch.h"

namespace {

using namespace mnemo;

constexpr int64_t kT = 32, kB = 16, kObs = 6;  // T-Maze: 6 features per observation

// Updates per second of `algo` on this rank's batches, all ranks of `comm` training together.
double updates_per_second(const std::string& algo, Communicator& comm, double seconds) {
  const ActionSpace space = ActionSpace::discrete(4);
  nn::ModelOptions model;
  model.type = "agalite";
  model.layers = 4;
  model.d_model = 128;
  model.heads = 4;
  model.encoder_hidden = {128};
  torch::manual_seed(1);
  auto policy = nn::make_policy(model, kObs, space);
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(1e-4));
  GradientReducer reducer(comm, policy->parameters());
  at::Generator gen = nn::make_generator(static_cast<std::uint64_t>(7 + comm.rank()));
  learners::LearnerOptions o;
  o.algo = algo;
  auto algorithm =
      learners::make_online_algorithm(o, learners::OnlineLearner{*policy, adam, reducer, comm, gen, space, torch::kCPU});
  learners::test_data::ActedBatchOptions ao;
  ao.T = kT;
  ao.B = kB;
  ao.obs_dim = kObs;
  ao.terminate_p = 0.02;
  const auto batch = learners::test_data::acted_batch(*policy, space, ao, gen);
  algorithm->update(batch);  // warm-up
  int n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double secs = 0;
  while (true) {
    algorithm->update(batch);
    ++n;
    // Every rank stops after the same update: the chief's clock decides.
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto done = torch::tensor({comm.rank() == 0 && secs >= seconds ? 1.0 : 0.0}, torch::kFloat64);
    comm.allreduce_sum(done);
    if (done.item<double>() > 0) break;
  }
  return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  at::set_num_threads(1);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm alone;
  MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? 0 : MPI_UNDEFINED, 0, &alone);
  MPI_Comm world_comm = MPI_COMM_WORLD;
  if (rank == 0) std::printf("%-6s %6s %14s %14s %8s\n", "algo", "ranks", "updates/s", "samples/s", "vs 1");
  for (const char* algo : {"ppo", "appo"}) {
    double one = 0;
    if (rank == 0) {
      auto comm = make_mpi_communicator(&alone);
      one = updates_per_second(algo, *comm, seconds);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    auto comm = make_mpi_communicator(&world_comm);
    const double all = updates_per_second(algo, *comm, seconds);
    if (rank == 0) {
      const double s1 = one * kB * kT, sn = all * kB * kT * size;
      std::printf("%-6s %6d %14.2f %14.0f %8.2f\n%-6s %6d %14.2f %14.0f %8.2f\n", algo, 1, one, s1, 1.0, algo, size,
                  all, sn, sn / s1);
      for (auto [ranks, ups, sps] : {std::tuple{1, one, s1}, std::tuple{size, all, sn}})
        std::printf("{\"bench\": \"learner_ranks\", \"algo\": \"%s\", \"ranks\": %d, \"updates_per_s\": %.3f, "
                    "\"samples_per_s\": %.1f, \"ratio_vs_1_rank\": %.3f}\n",
                    algo, ranks, ups, sps, sps / s1);
    }
  }
  if (alone != MPI_COMM_NULL) MPI_Comm_free(&alone);
  MPI_Finalize();
  return 0;
}
