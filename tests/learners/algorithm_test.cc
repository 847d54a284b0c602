// The online algorithms as pieces (learners/algorithm.h): the registry, IMPALA's loss by hand,
// and APPO taking exactly PPO's update (GAE with lambda 1) on data its own policy acted, which
// checks the whole V-trace path: the learner's values, the bootstrap from the observation after
// the sequence, episode ends, minibatching and burn-in.
#include "learners/algorithm.h"

#include <gtest/gtest.h>

#include "core/check.h"
#include "learners/appo.h"
#include "learners/trainer.h"
#include "tests/learners/acted_batch.h"

namespace mnemo::learners {
namespace {

constexpr int64_t kT = 6, kB = 4, kObs = 3;

// B sequences that `policy` itself acted (exactly on-policy), with terminated and truncated steps.
SequenceBatch on_policy_batch(nn::PolicyImpl& policy, const ActionSpace& space, at::Generator& gen) {
  test_data::ActedBatchOptions o;
  o.T = kT;
  o.B = kB;
  o.obs_dim = kObs;
  o.terminate_p = 0.15;
  o.truncate_p = 0.15;
  SequenceBatch b = test_data::acted_batch(policy, space, o, gen);
  MNEMO_CHECK(b.terminated.any().item<bool>() && b.truncated.any().item<bool>(), "the seed gives both episode ends");
  return b;
}

struct Updated {
  std::vector<torch::Tensor> params;
  std::map<std::string, double> stats;
};

// The parameters after one update of `algo` on `batch`, starting from `start`'s parameters.
Updated update_with(const std::string& algo, const nn::ModelOptions& model, std::int64_t burn_in,
                    nn::PolicyImpl& start, const SequenceBatch& batch) {
  const auto space = ActionSpace::discrete(3);
  LearnerOptions o;
  o.algo = algo;
  o.burn_in = burn_in;
  o.ppo.gae_lambda = 1;  // what V-trace computes on-policy with lambda 1
  o.ppo.epochs = 1;      // APPO recomputes its targets each epoch, PPO keeps the first epoch's
  o.ppo.minibatches = 2;
  o.validate();
  auto policy = nn::make_policy(model, kObs, space);
  nn::load_flat_parameters(*policy, nn::flatten_parameters(start));
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(1e-2));
  SingleCommunicator comm;
  GradientReducer reducer(comm, policy->parameters());
  at::Generator gen = nn::make_generator(11);
  auto algorithm = make_online_algorithm(o, OnlineLearner{*policy, adam, reducer, comm, gen, space, torch::kCPU});
  Updated u;
  u.stats = algorithm->update(batch);
  for (const auto& p : policy->parameters()) u.params.push_back(p.detach().clone());
  return u;
}

void expect_appo_equals_ppo_on_policy(const nn::ModelOptions& model, std::int64_t burn_in) {
  const auto space = ActionSpace::discrete(3);
  torch::manual_seed(3);
  auto policy = nn::make_policy(model, kObs, space);
  at::Generator gen = nn::make_generator(5);
  const SequenceBatch batch = on_policy_batch(*policy, space, gen);
  const Updated ppo = update_with("ppo", model, burn_in, *policy, batch);
  const Updated appo = update_with("appo", model, burn_in, *policy, batch);
  ASSERT_EQ(ppo.params.size(), appo.params.size());
  double moved = 0;
  for (std::size_t i = 0; i < ppo.params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(ppo.params[i], appo.params[i], /*rtol=*/1e-4, /*atol=*/1e-5)) << "parameter " << i;
    moved += (ppo.params[i] - policy->parameters()[i]).abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0) << "the update changed nothing, so the comparison proves nothing";
  EXPECT_EQ(appo.stats.count("rho_clip_frac"), 1U);
  EXPECT_EQ(appo.stats.at("rho_clip_frac"), 0) << "on-policy data has no importance weight above 1";
  EXPECT_NEAR(appo.stats.at("value_loss"), ppo.stats.at("value_loss"), 1e-5);
}

TEST(OnlineAlgorithmTest, AppoOnItsOwnPolicysDataTakesPposUpdateMemoryless) {
  expect_appo_equals_ppo_on_policy(nn::ModelOptions{}, /*burn_in=*/0);
}

TEST(OnlineAlgorithmTest, AppoOnItsOwnPolicysDataTakesPposUpdateRecurrentWithBurnIn) {
  nn::ModelOptions lstm;
  lstm.type = "lstm";
  lstm.layers = 1;
  lstm.d_model = 8;
  lstm.encoder_hidden = {8};
  expect_appo_equals_ppo_on_policy(lstm, /*burn_in=*/2);
}

TEST(OnlineAlgorithmTest, VTraceWithoutTheObservationAfterTheSequenceIsAnError) {
  const auto space = ActionSpace::discrete(3);
  auto policy = nn::make_policy(nn::ModelOptions{}, kObs, space);
  at::Generator gen = nn::make_generator(5);
  SequenceBatch batch = on_policy_batch(*policy, space, gen);
  batch.next_obs = torch::Tensor();
  EXPECT_THROW(update_with("impala", nn::ModelOptions{}, 0, *policy, batch), Error);
}

TEST(OnlineAlgorithmTest, TheRegistryNamesEveryAlgorithmAndRefusesOthers) {
  EXPECT_EQ(online_algorithm_names(), (std::vector<std::string>{"ppo", "appo", "impala"}));
  LearnerOptions o;
  o.algo = "a3c";
  try {
    o.validate();
    FAIL() << "a3c accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ppo, appo, impala, dt, bc"), std::string::npos) << e.what();
  }
  o.algo = "appo";
  o.vtrace.c_bar = 0;
  EXPECT_THROW(o.validate(), ConfigError);
}

TEST(ImpalaLossTest, MatchesTheLossByHand) {
  PPOOptions o;
  o.vf_coef = 0.5;
  o.ent_coef = 0;
  const auto space = ActionSpace::discrete(2);
  // Two steps of one sequence: pi(a=0) = 0.8, pi(a=1) = 0.4 at the second.
  auto logits = torch::log(torch::tensor({{{0.8f, 0.2f}}, {{0.6f, 0.4f}}}));
  nn::PolicyOutput out{logits, torch::tensor({{1.0f}, {2.0f}}), {}};
  auto actions = torch::tensor({{0}, {1}}, torch::kLong);
  auto pg = torch::tensor({{2.0f}, {-1.0f}});
  auto vs = torch::tensor({{1.5f}, {1.0f}});
  PPOLoss l = impala_loss(o, space, out, {}, actions, pg, vs);
  const double policy = -(2.0 * std::log(0.8) - 1.0 * std::log(0.4)) / 2;
  const double value = 0.5 * (0.25 + 1.0) / 2;
  EXPECT_NEAR(l.stats["policy_loss"], policy, 1e-5);
  EXPECT_NEAR(l.stats["value_loss"], value, 1e-5);
  EXPECT_NEAR(l.total.item<double>(), policy + 0.5 * value, 1e-5);
}

}  // namespace
}  // namespace mnemo::learners
