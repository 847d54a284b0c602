// A data-parallel learner resumed under `mpirun -np 2`: every rank loads the checkpoint's model and
// optimizer, so parameters and Adam's state stay identical across ranks through later updates.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <type_traits>

#include "core/sequence.h"
#include "envs/registry.h"
#include "learners/trainer.h"
#include "replay/server.h"

namespace mnemo {
namespace {
namespace fs = std::filesystem;

constexpr std::int64_t kUnroll = 16;
constexpr std::int64_t kBatch = 4;
// Environment steps one update counts: both ranks' batches.
constexpr std::int64_t kStepsPerUpdate = 2 * kBatch * kUnroll;

// One directory for both ranks, named after rank 0's process.
fs::path shared_dir() {
  int pid = static_cast<int>(::getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return fs::temp_directory_path() / ("mnemo-mpi-resume-" + std::to_string(pid));
}

// Synthetic CartPole sequences, different on each rank so that the averaged gradients differ from
// either rank's own.
replay::Item synthetic_sequence(const Spec& spec, std::mt19937& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  replay::Item item;
  for (const auto& f : spec.fields) {
    Array a = Array::zeros(f.dtype, f.shape);
    if (f.dtype == DType::kFloat32)
      for (std::int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = value(rng);
    if (f.name == "action")
      for (std::int64_t i = 0; i < a.numel(); ++i) a.data<std::int64_t>()[i] = static_cast<std::int64_t>(rng() % 2);
    item.emplace_back(f.name, std::move(a));
  }
  return item;
}

// A uniform table that keeps its items, so the trainer can sample from it as often as it likes.
std::unique_ptr<replay::Server> filled_replay(int rank, const Spec& spec) {
  replay::ServerOptions o;
  o.bind = "inproc://mpi-resume-" + std::to_string(rank);
  o.table.sampler = "uniform";
  o.table.max_size = 64;
  auto server = std::make_unique<replay::Server>(o);
  server->start();
  replay::Client client(server->endpoint());
  std::mt19937 rng(static_cast<std::uint32_t>(17 + rank));
  for (int i = 0; i < 8; ++i) client.insert(synthetic_sequence(spec, rng));
  return server;
}

learners::TrainerContext context(Communicator& comm, const fs::path& run_dir, const std::string& replay,
                                 std::int64_t updates, bool resume) {
  auto env = envs::make_env("cartpole");
  learners::TrainerContext c;
  c.options.batch_sequences = kBatch;
  c.options.total_env_steps = updates * kStepsPerUpdate;
  c.options.checkpoint_every = 0;
  c.options.ppo.epochs = 1;
  c.options.ppo.minibatches = 2;
  c.model.hidden = {16};
  c.obs_spec = env->observation_spec();
  c.action_space = env->action_space();
  c.unroll_length = kUnroll;
  c.seed = 3;
  c.comm = &comm;
  c.replay_endpoint = replay;
  c.run_dir = run_dir;
  c.resume = resume;
  c.progress = false;
  return c;
}

// The optimizer's per-parameter state, keyed as this LibTorch version keys it (a string of the
// TensorImpl address in 1.x, the address itself in later versions).
template <class StateMap>
const torch::optim::AdamParamState& adam_state(const StateMap& states, const torch::Tensor& p) {
  using Key = typename StateMap::key_type;
  const void* impl = p.unsafeGetTensorImpl();
  Key key;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << impl;
    key = os.str();
  } else {
    key = static_cast<Key>(const_cast<void*>(impl));
  }
  return static_cast<const torch::optim::AdamParamState&>(*states.at(key));
}

// Whether `t` holds the same values on both ranks (the sum of two equal floats is exactly twice one).
bool same_on_both_ranks(Communicator& comm, const torch::Tensor& t) {
  auto mine = t.detach().to(torch::kFloat64).clone();
  auto sum = mine.clone();
  comm.allreduce_sum(sum);
  return torch::equal(sum, mine * 2);
}

TEST(MpiTrainerResumeTest, EveryRankLoadsTheCheckpointedOptimizerSoRanksStayIdentical) {
  MPI_Comm world_comm = MPI_COMM_WORLD;
  auto comm = make_mpi_communicator(&world_comm);
  ASSERT_EQ(comm->size(), 2);
  const fs::path dir = shared_dir();
  auto env = envs::make_env("cartpole");
  const Spec spec = seq::sequence_spec(env->observation_spec(), env->action_space(), kUnroll);
  auto replay = filled_replay(comm->rank(), spec);
  {
    learners::Trainer first(context(*comm, dir, replay->endpoint(), /*updates=*/3, /*resume=*/false));
    first.run();  // the chief checkpoints at update 3
  }
  comm->barrier();

  learners::Trainer resumed(context(*comm, dir, replay->endpoint(), /*updates=*/6, /*resume=*/true));
  resumed.run();
  EXPECT_EQ(resumed.counters().updates, 6);
  for (const auto& p : resumed.policy().named_parameters())
    EXPECT_TRUE(same_on_both_ranks(*comm, p.value())) << p.key() << " differs between ranks";
  auto& optimizer = resumed.optimizer();
  for (const auto& p : optimizer.param_groups().at(0).params()) {
    const auto& s = adam_state(optimizer.state(), p);
    // 6 updates of 1 epoch x 2 minibatches: a rank that had not loaded the checkpoint counts 6.
    EXPECT_EQ(s.step(), 12);
    EXPECT_TRUE(same_on_both_ranks(*comm, s.exp_avg())) << "Adam's first moments differ between ranks";
    EXPECT_TRUE(same_on_both_ranks(*comm, s.exp_avg_sq())) << "Adam's second moments differ between ranks";
  }
  comm->barrier();
  if (comm->rank() == 0) fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo
