// Data parallelism, proven under `mpirun -np 2`: two learner ranks with B sequences each take the
// same updates as one rank with all 2B of them (to a float tolerance), for PPO and APPO, with a
// memoryless and a recurrent policy, and end with bit-identical parameters on both ranks. One
// minibatch per epoch (with several, the ranks' minibatches are not a split of one rank's), two
// epochs (APPO recomputes V-trace between them), advantages normalised across ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include "learners/algorithm.h"
#include "learners/contrastive.h"
#include "learners/trainer.h"
#include "tests/learners/acted_batch.h"

namespace mnemo::learners {
namespace {

constexpr int64_t kT = 8, kB = 4, kObs = 4, kUpdates = 3;

const ActionSpace& space() {
  static const ActionSpace s = ActionSpace::discrete(3);
  return s;
}

// 2B sequences the same on both ranks (drawn from `seed`): actions sampled from `policy`, the
// behaviour's log-probabilities and values perturbed from the policy's so that the data is off-policy
// and V-trace clips; episode ends at random steps.
SequenceBatch acted_batch(nn::PolicyImpl& policy, std::uint64_t seed) {
  at::Generator gen = nn::make_generator(seed);
  test_data::ActedBatchOptions o;
  o.T = kT;
  o.B = 2 * kB;
  o.obs_dim = kObs;
  o.terminate_p = 0.1;
  o.truncate_p = 0.1;
  o.logprob_noise = 0.3;
  o.value_noise = 0.1;
  return test_data::acted_batch(policy, space(), o, gen);
}

struct Learner {
  std::shared_ptr<nn::PolicyImpl> policy;
  std::unique_ptr<torch::optim::Adam> adam;
  std::unique_ptr<GradientReducer> reducer;
  at::Generator gen = nn::make_generator(9);
  std::unique_ptr<OnlineAlgorithm> algorithm;

  Learner(const LearnerOptions& o, const nn::ModelOptions& model, const Array& start, Communicator& comm) {
    policy = nn::make_policy(model, kObs, space());
    nn::load_flat_parameters(*policy, start);
    adam = std::make_unique<torch::optim::Adam>(policy->parameters(), torch::optim::AdamOptions(3e-3));
    reducer = std::make_unique<GradientReducer>(comm, policy->parameters());
    algorithm = make_online_algorithm(o, OnlineLearner{*policy, *adam, *reducer, comm, gen, space(), torch::kCPU});
  }
};

// Whether `t` holds the same values on both ranks (the sum of two equal floats is exactly twice one).
bool same_on_both_ranks(Communicator& comm, const torch::Tensor& t) {
  auto mine = t.detach().to(torch::kFloat64).clone();
  auto sum = mine.clone();
  comm.allreduce_sum(sum);
  return torch::equal(sum, mine * 2);
}

void expect_two_ranks_equal_one(const std::string& algo, const nn::ModelOptions& model, std::int64_t burn_in) {
  MPI_Comm world_comm = MPI_COMM_WORLD;
  auto world = make_mpi_communicator(&world_comm);
  ASSERT_EQ(world->size(), 2);
  LearnerOptions o;
  o.algo = algo;
  o.burn_in = burn_in;
  o.ppo.epochs = 2;
  o.ppo.minibatches = 1;
  o.vtrace.rho_bar = 1.2;
  o.vtrace.c_bar = 0.9;
  o.validate();
  torch::manual_seed(4);
  auto behaviour = nn::make_policy(model, kObs, space());
  const Array start = nn::flatten_parameters(*behaviour);

  SingleCommunicator single;
  Learner one(o, model, start, single);     // every rank computes the 1-rank reference itself
  Learner mine(o, model, start, *world);    // this rank's half of the 2-rank run
  const auto half = torch::arange(world->rank() * kB, (world->rank() + 1) * kB, torch::kLong);
  double rho_clipped = 0;
  for (int64_t u = 0; u < kUpdates; ++u) {
    const SequenceBatch full = acted_batch(*behaviour, 100 + static_cast<std::uint64_t>(u));
    rho_clipped += one.algorithm->update(full).at(algo == "ppo" ? "grad_norm" : "rho_clip_frac");
    mine.algorithm->update(select_sequences(full, half));
  }
  if (algo != "ppo") {
    EXPECT_GT(rho_clipped, 0) << "the data never needed V-trace's clipping";
  }
  const auto a = one.policy->parameters(), b = mine.policy->parameters();
  ASSERT_EQ(a.size(), b.size());
  double moved = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i], b[i], /*rtol=*/1e-4, /*atol=*/1e-5))
        << algo << " parameter " << i << " differs from the 1-rank run by " << (a[i] - b[i]).abs().max().item<double>();
    EXPECT_TRUE(same_on_both_ranks(*world, b[i])) << algo << " parameter " << i << " differs between ranks";
    moved += (b[i] - behaviour->parameters()[i]).abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0) << "the updates changed nothing, so the comparison proves nothing";
}

nn::ModelOptions lstm() {
  nn::ModelOptions m;
  m.type = "lstm";
  m.layers = 1;
  m.d_model = 8;
  m.encoder_hidden = {8};
  return m;
}

TEST(MpiDataParallelTest, PpoTwoRanksEqualOneWithTheirUnionMemoryless) { expect_two_ranks_equal_one("ppo", {}, 0); }
TEST(MpiDataParallelTest, PpoTwoRanksEqualOneWithTheirUnionRecurrent) { expect_two_ranks_equal_one("ppo", lstm(), 2); }
TEST(MpiDataParallelTest, AppoTwoRanksEqualOneWithTheirUnionMemoryless) { expect_two_ranks_equal_one("appo", {}, 0); }
TEST(MpiDataParallelTest, AppoTwoRanksEqualOneWithTheirUnionRecurrent) { expect_two_ranks_equal_one("appo", lstm(), 2); }

// With the ATC auxiliary loss, its contrast weights, predictor and target encoder are trained and
// averaged like the policy: after updates on different halves, both ranks hold the same values.
TEST(MpiDataParallelTest, TheAtcAuxiliaryLossKeepsRanksIdentical) {
  MPI_Comm world_comm = MPI_COMM_WORLD;
  auto world = make_mpi_communicator(&world_comm);
  ASSERT_EQ(world->size(), 2);
  LearnerOptions o;
  o.burn_in = 2;
  o.aux.type = "atc";
  o.aux.batch = 8;
  o.aux.predictor_hidden = 8;
  o.validate();
  const nn::ModelOptions model = lstm();
  const Spec spec{{{"obs", DType::kFloat32, {kObs}}}};
  torch::manual_seed(4);
  auto policy = nn::make_policy(model, spec, space());
  Contrastive aux(o.aux, model, spec, *policy->encoder());
  const std::vector<torch::Tensor> trained = trained_parameters(*policy, aux.get());
  torch::optim::Adam adam(trained, torch::optim::AdamOptions(3e-3));
  GradientReducer reducer(*world, trained);
  reducer.broadcast_parameters();
  at::Generator gen = nn::make_generator(9);
  auto algorithm =
      make_online_algorithm(o, OnlineLearner{*policy, adam, reducer, *world, gen, space(), torch::kCPU, nullptr, aux.get()});
  const auto before = aux->parameters()[0].clone();
  const auto half = torch::arange(world->rank() * kB, (world->rank() + 1) * kB, torch::kLong);
  for (int64_t u = 0; u < kUpdates; ++u) {
    const auto stats = algorithm->update(select_sequences(acted_batch(*policy, 200 + static_cast<std::uint64_t>(u)), half));
    EXPECT_TRUE(std::isfinite(stats.at("aux_loss")));
  }
  EXPECT_FALSE(torch::equal(before, aux->parameters()[0])) << "the contrast weights never trained";
  for (const auto& p : policy->named_parameters())
    EXPECT_TRUE(same_on_both_ranks(*world, p.value())) << "policy " << p.key() << " differs between ranks";
  for (const auto& p : aux->named_parameters())
    EXPECT_TRUE(same_on_both_ranks(*world, p.value())) << "aux " << p.key() << " differs between ranks";
}

}  // namespace
}  // namespace mnemo::learners
