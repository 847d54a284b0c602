// Tests of the MLP policy, action distributions and flat parameter transfer.
#include "core/models/models.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mnemo::nn {
namespace {

TEST(MlpPolicyTest, StepAndUnrollAgree) {
  torch::manual_seed(0);
  ModelOptions o;
  auto p = make_policy(o, /*obs_dim=*/4, ActionSpace::discrete(2));
  auto obs = torch::randn({5, 3, 4});
  auto first = torch::zeros({5, 3}, torch::kBool);
  auto un = p->unroll(obs, first, p->initial_state(3));
  EXPECT_EQ(un.params.sizes(), (std::vector<int64_t>{5, 3, 2}));
  EXPECT_EQ(un.value.sizes(), (std::vector<int64_t>{5, 3}));
  for (int t = 0; t < 5; ++t) {
    auto st = p->step(obs[t], p->initial_state(3));
    EXPECT_TRUE(torch::allclose(st.params, un.params[t], 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(st.value, un.value[t], 1e-5, 1e-6));
  }
}

TEST(MlpPolicyTest, UnknownTypeAndBadOptionsAreConfigErrors) {
  ModelOptions o;
  o.type = "transformer9000";
  EXPECT_THROW(make_policy(o, 4, ActionSpace::discrete(2)), ConfigError);
  ModelOptions bad;
  bad.activation = "sigmoidish";
  EXPECT_THROW(make_policy(bad, 4, ActionSpace::discrete(2)), ConfigError);
}

TEST(ActionDistTest, CategoricalLogProbAndEntropyMatchHandValues) {
  auto logits = torch::log(torch::tensor({{0.25f, 0.75f}}));
  ActionDist d(ActionSpace::discrete(2), logits, {});
  EXPECT_NEAR(d.log_prob(torch::tensor({1})).item<float>(), std::log(0.75f), 1e-6);
  float h = -(0.25f * std::log(0.25f) + 0.75f * std::log(0.75f));
  EXPECT_NEAR(d.entropy().item<float>(), h, 1e-6);
  EXPECT_EQ(d.mode().item<int64_t>(), 1);
}

TEST(ActionDistTest, CategoricalSamplesFollowProbabilitiesAndSeed) {
  auto logits = torch::log(torch::tensor({0.1f, 0.9f})).expand({20000, 2});
  ActionDist d(ActionSpace::discrete(2), logits, {});
  auto g1 = make_generator(5), g2 = make_generator(5);
  auto a = d.sample(g1);
  EXPECT_TRUE(torch::equal(a, d.sample(g2)));
  EXPECT_NEAR(a.to(torch::kFloat64).mean().item<double>(), 0.9, 0.01);
}

TEST(ActionDistTest, MultiDiscreteComponentsAreIndependentCategoricalsOverSlicesOfTheHead) {
  // Two components, of 2 and 3 actions: the head's 5 outputs are their logits side by side, and
  // each slice is normalised on its own (the unnormalised second slice shifts by a constant).
  auto logits = torch::cat({torch::log(torch::tensor({{0.25f, 0.75f}})),
                            torch::log(torch::tensor({{0.2f, 0.3f, 0.5f}})) + 4.0f}, -1);
  const auto space = ActionSpace::multi_discrete({2, 3});
  EXPECT_EQ(action_head_size(space), 5);
  ActionDist d(space, logits, {});
  EXPECT_NEAR(d.log_prob(torch::tensor({{1, 2}})).item<float>(), std::log(0.75f) + std::log(0.5f), 1e-5);
  EXPECT_NEAR(d.log_prob(torch::tensor({{0, 0}})).item<float>(), std::log(0.25f) + std::log(0.2f), 1e-5);
  const float h = -(0.25f * std::log(0.25f) + 0.75f * std::log(0.75f)) -
                  (0.2f * std::log(0.2f) + 0.3f * std::log(0.3f) + 0.5f * std::log(0.5f));
  EXPECT_NEAR(d.entropy().item<float>(), h, 1e-5);
  EXPECT_TRUE(torch::equal(d.mode(), torch::tensor({{1, 2}})));
  // A wrong number of components is an error, not a silent broadcast.
  EXPECT_THROW(d.log_prob(torch::tensor({{1}})), Error);
}

TEST(ActionDistTest, MultiDiscreteSamplesFollowEachComponentAndTheSeed) {
  auto logits = torch::cat({torch::log(torch::tensor({0.1f, 0.9f})), torch::log(torch::tensor({0.6f, 0.1f, 0.3f}))})
                    .expand({20000, 5});
  ActionDist d(ActionSpace::multi_discrete({2, 3}), logits, {});
  auto g1 = make_generator(5), g2 = make_generator(5);
  auto a = d.sample(g1);
  ASSERT_EQ(a.sizes().vec(), (std::vector<int64_t>{20000, 2}));
  EXPECT_EQ(a.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(a, d.sample(g2)));
  EXPECT_NEAR(a.select(1, 0).to(torch::kFloat64).mean().item<double>(), 0.9, 0.01);
  auto second = a.select(1, 1);
  EXPECT_NEAR(second.eq(0).to(torch::kFloat64).mean().item<double>(), 0.6, 0.015);
  EXPECT_NEAR(second.eq(2).to(torch::kFloat64).mean().item<double>(), 0.3, 0.015);
  EXPECT_EQ(second.max().item<int64_t>(), 2);
}

TEST(ActionDistTest, APolicyForAMultiDiscreteSpaceTrainsItsLogProb) {
  // The heads of every policy type size themselves from the space; the gradient of a sampled
  // action's log-probability reaches the actor head.
  ModelOptions o;
  o.hidden = {16};
  const auto space = ActionSpace::multi_discrete({3, 2, 2});
  auto policy = make_policy(o, 4, space);
  auto out = policy->unroll(torch::randn({5, 2, 4}), torch::zeros({5, 2}), policy->initial_state(2));
  ASSERT_EQ(out.params.size(-1), 7);
  ActionDist d(space, out.params, policy->log_std());
  auto g = make_generator(1);
  auto a = d.sample(g);
  ASSERT_EQ(a.sizes().vec(), (std::vector<int64_t>{5, 2, 3}));
  d.log_prob(a).sum().backward();
  double grad = 0;
  for (const auto& p : policy->parameters())
    if (p.grad().defined()) grad += p.grad().abs().sum().item<double>();
  EXPECT_GT(grad, 0);
}

TEST(ActionDistTest, GaussianLogProbMatchesClosedForm) {
  auto mean = torch::tensor({{0.0f, 1.0f}});
  auto log_std = torch::tensor({0.0f, std::log(2.0f)});
  ActionDist d(ActionSpace::box({-1, -1}, {1, 1}), mean, log_std);
  auto x = torch::tensor({{1.0f, 1.0f}});
  double expect = (-0.5 - 0.5 * std::log(2 * M_PI)) + (-std::log(2.0) - 0.5 * std::log(2 * M_PI));
  EXPECT_NEAR(d.log_prob(x).item<float>(), expect, 1e-5);
}

TEST(FlatParametersTest, RoundTripCopiesEveryParameter) {
  torch::manual_seed(1);
  auto a = make_policy(ModelOptions{}, 4, ActionSpace::discrete(3));
  torch::manual_seed(2);
  auto b = make_policy(ModelOptions{}, 4, ActionSpace::discrete(3));
  Array flat = flatten_parameters(*a);
  EXPECT_EQ(flat.numel(), count_parameters(*a));
  load_flat_parameters(*b, flat);
  auto pa = a->parameters(), pb = b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

TEST(FlatParametersTest, WrongSizeIsRejected) {
  auto a = make_policy(ModelOptions{}, 4, ActionSpace::discrete(3));
  EXPECT_THROW(load_flat_parameters(*a, Array::zeros(DType::kFloat32, {3})), Error);
}

TEST(FlattenObsTest, ConcatenatesFieldsAfterLeadingDims) {
  auto a = torch::ones({2, 3, 4});
  auto b = torch::zeros({2, 3, 2, 2}, torch::kUInt8);
  auto f = flatten_obs({a, b}, 2);
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 3, 8}));
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
}

}  // namespace
}  // namespace mnemo::nn
