// MPI communicator tests, run by ctest under `mpirun -np 2`.
#include <gtest/gtest.h>
#include <mpi.h>

#include "core/check.h"
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

// A peer that never joins a collective is a TimeoutError that says what waited, not a hang.
TEST(MpiCommunicatorTest, ACollectiveAPeerNeverJoinsTimesOutNamingIt) {
  static MPI_Comm comm_handle = MPI_COMM_WORLD;
  auto comm = make_mpi_communicator(&comm_handle, /*timeout_ms=*/300);
  auto t = torch::ones({4});
  if (comm->rank() == 0) {
    try {
      comm->allreduce_sum(t);
      ADD_FAILURE() << "the all-reduce completed without rank 1";
    } catch (const TimeoutError& e) {
      EXPECT_NE(std::string(e.what()).find("Allreduce among the 2 learner ranks has not completed"), std::string::npos)
          << e.what();
    }
    int go = 1;
    MPI_Send(&go, 1, MPI_INT, 1, 7, MPI_COMM_WORLD);  // now rank 1 may join the abandoned collective
  } else {
    int go = 0;
    MPI_Recv(&go, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    comm->allreduce_sum(t);
  }
  world()->barrier();  // both ranks' collectives matched again; rank 0's abandoned one completed
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
