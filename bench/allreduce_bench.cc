// Gradient synchronisation cost under `mpirun -np 2`: GradientReducer (fused buckets) against one
// all-reduce per parameter tensor, both relative to a raw MPI_Allreduce of the same number of
// floats measured in the same run. Prints one JSON line per case and a table on rank 0.
//
//   mpirun --allow-run-as-root --oversubscribe -np 2 build/bench/bench_allreduce_bench
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "core/comm/communicator.h"

namespace {

template <class F>
double time_per_call(F&& f, int reps) {
  f();  // warm-up
  MPI_Barrier(MPI_COMM_WORLD);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  MPI_Barrier(MPI_COMM_WORLD);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm world = MPI_COMM_WORLD;
  auto comm = mnemo::make_mpi_communicator(&world);
  at::set_num_threads(1);
  struct Case {
    int tensors;
    int floats_each;
  };
  if (rank == 0) std::printf("%-28s %12s %12s %12s %10s %10s\n", "case", "raw_us", "fused_us", "per_tensor_us",
                             "fused/raw", "per/raw");
  for (Case c : {Case{16, 65536}, Case{200, 1024}, Case{1000, 64}}) {
    std::vector<torch::Tensor> params;
    for (int i = 0; i < c.tensors; ++i) {
      auto p = torch::zeros({c.floats_each}, torch::requires_grad());
      p.mutable_grad() = torch::randn({c.floats_each});
      params.push_back(p);
    }
    const int64_t total = static_cast<int64_t>(c.tensors) * c.floats_each;
    auto flat = torch::randn({total});
    const int reps = 200;
    double raw = time_per_call(
        [&] { MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(total), MPI_FLOAT, MPI_SUM, world); },
        reps);
    mnemo::GradientReducer reducer(*comm, params);
    double fused = time_per_call([&] { reducer.average_gradients(); }, reps);
    double per = time_per_call(
        [&] {
          for (auto& p : params) {
            auto g = p.mutable_grad();
            comm->allreduce_sum(g);
            g.div_(2);
          }
        },
        reps);
    if (rank == 0) {
      char name[64];
      std::snprintf(name, sizeof(name), "%d x %d floats", c.tensors, c.floats_each);
      std::printf("%-28s %12.1f %12.1f %12.1f %10.2f %10.2f\n", name, raw * 1e6, fused * 1e6, per * 1e6, fused / raw,
                  per / raw);
      std::printf("{\"bench\": \"allreduce\", \"tensors\": %d, \"floats_each\": %d, \"raw_us\": %.2f, "
                  "\"fused_us\": %.2f, \"per_tensor_us\": %.2f, \"fused_over_raw\": %.3f, "
                  "\"per_tensor_over_raw\": %.3f}\n",
                  c.tensors, c.floats_each, raw * 1e6, fused * 1e6, per * 1e6, fused / raw, per / raw);
    }
  }
  MPI_Finalize();
  return 0;
}
