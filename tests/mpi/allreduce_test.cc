// MPI communicator tests, run by ctest under `mpirun -np 2`.
#include <gtest/gtest.h>
#include <mpi.h>

#include "core/comm/communicator.h"

namespace mnemo {
namespace {

std::unique_ptr<Communicator> world() {
  static MPI_Comm comm = MPI_COMM_WORLD;
  return make_mpi_communicator(&comm);
}

TEST(MpiCommunicatorTest, AllReduceSumsOverRanks) {
  auto comm = world();
  ASSERT_EQ(comm->size(), 2);
  auto t = torch::full({5}, static_cast<float>(comm->rank() + 1));
  comm->allreduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::full({5}, 3.0f)));
  auto d = torch::full({3}, static_cast<double>(comm->rank()), torch::kFloat64);
  comm->allreduce_sum(d);
  EXPECT_TRUE(torch::equal(d, torch::ones({3}, torch::kFloat64)));
}

TEST(MpiCommunicatorTest, BroadcastCopiesRootValues) {
  auto comm = world();
  auto t = torch::full({4}, static_cast<float>(comm->rank() * 10 + 7));
  comm->broadcast(t, /*root=*/1);
  EXPECT_TRUE(torch::equal(t, torch::full({4}, 17.0f)));
  comm->barrier();
}

TEST(MpiCommunicatorTest, GradientReducerAveragesAcrossBuckets) {
  auto comm = world();
  const float r = static_cast<float>(comm->rank());
  std::vector<torch::Tensor> params;
  for (int i = 0; i < 6; ++i) {
    auto p = torch::zeros({50}, torch::requires_grad());
    p.mutable_grad() = torch::full({50}, r * 2 + static_cast<float>(i));
    params.push_back(p);
  }
  GradientReducer reducer(*comm, params, /*bucket_bytes=*/400);
  EXPECT_GT(reducer.num_buckets(), 1u);
  reducer.average_gradients();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(torch::allclose(params[i].grad(), torch::full({50}, 1.0f + i)));
}

TEST(MpiCommunicatorTest, BroadcastParametersMakesRanksEqual) {
  auto comm = world();
  auto p = torch::full({8}, static_cast<float>(comm->rank() + 5));
  GradientReducer reducer(*comm, {p});
  reducer.broadcast_parameters(0);
  EXPECT_TRUE(torch::equal(p, torch::full({8}, 5.0f)));
}

}  // namespace
}  // namespace mnemo
