// Data-parallel Decision Transformer training under `mpirun -np 2`: each rank samples its own
// windows, gradients are averaged, and the ranks' models stay identical.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>

#include "learners/offline_trainer.h"
#include "replay/datasets/dataset.h"

namespace mnemo {
namespace {
namespace fs = std::filesystem;

std::shared_ptr<replay::Dataset> small_dataset() {
  const std::int64_t episodes = 8, length = 6, n = episodes * length;
  auto d = std::make_shared<replay::Dataset>();
  d->observations = Array::zeros(DType::kFloat32, {n, 3});
  d->actions = Array::zeros(DType::kInt64, {n});
  d->rewards = Array::zeros(DType::kFloat32, {n});
  d->terminals = Array::zeros(DType::kBool, {n});
  d->timeouts = Array::zeros(DType::kBool, {n});
  for (std::int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) d->observations.data<float>()[i * 3 + k] = static_cast<float>((i * (k + 1)) % 7);
    d->actions.data<std::int64_t>()[i] = i % 3;
    d->rewards.data<float>()[i] = static_cast<float>(i % 2);
    d->terminals.data<bool>()[i] = (i + 1) % length == 0;
  }
  return d;
}

TEST(MpiDecisionTransformerTest, RanksStayIdenticalWhileSamplingTheirOwnWindows) {
  MPI_Comm world_comm = MPI_COMM_WORLD;
  auto comm = make_mpi_communicator(&world_comm);
  ASSERT_EQ(comm->size(), 2);
  int pid = static_cast<int>(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  const fs::path dir = fs::temp_directory_path() / ("mnemo-mpi-dt-" + std::to_string(pid));

  learners::OfflineContext c;
  c.options.dataset = "in-memory";
  c.options.context = 4;
  c.options.gpt.n_layer = 1;
  c.options.gpt.n_head = 2;
  c.options.gpt.n_embd = 16;
  c.options.gpt.dropout = 0.1;  // different masks per rank; the averaged update keeps them equal
  c.options.max_ep_len = 8;
  c.options.batch_size = 4;
  c.options.updates = 6;
  c.options.warmup_steps = 1;
  c.shape.obs_spec.fields.push_back({"obs", DType::kFloat32, {3}});
  c.shape.action_space = ActionSpace::discrete(3);
  c.dataset = small_dataset();
  c.comm = comm.get();
  c.run_dir = dir;
  c.progress = false;
  learners::OfflineTrainer trainer(std::move(c));

  // The ranks draw different windows.
  auto gen = nn::make_generator(100 + static_cast<std::uint64_t>(comm->rank()));
  auto mine = trainer.data().sample(8, gen).states.contiguous();
  auto sum = mine.clone();
  comm->allreduce_sum(sum);
  EXPECT_FALSE(torch::equal(sum, mine * 2)) << "both ranks sampled the same windows";

  trainer.run();
  EXPECT_EQ(trainer.updates(), 6);
  for (const auto& p : trainer.model()->named_parameters()) {
    auto value = p.value().detach().clone();
    auto total = value.clone();
    comm->allreduce_sum(total);
    EXPECT_TRUE(torch::allclose(total, value * 2)) << p.key() << " differs between ranks";
  }
  comm->barrier();
  if (comm->rank() == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo
