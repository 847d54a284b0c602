// V-trace against a hand-computed example (clipping of rho and c, a terminated and a truncated
// step inside the sequence) and, on-policy, against n-step bootstrapped returns.
#include "learners/vtrace.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/check.h"

namespace mnemo::learners {
namespace {

torch::Tensor column(const std::vector<float>& v) {
  return torch::tensor(v, torch::kFloat32).view({static_cast<int64_t>(v.size()), 1});
}

void expect_column(const torch::Tensor& t, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(t.size(0), static_cast<int64_t>(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(t[static_cast<int64_t>(i)][0].item<double>(), want[i], 1e-5) << what << "[" << i << "]";
}

// Five steps: episode A is steps 0-1 (terminated at 1), B is 2-3 (truncated at 3, its final
// observation worth 6), C starts at 4 and bootstraps from V(x_5) = 10. gamma 0.9, rho-bar 1.5,
// c-bar 0.9, lambda 1, pg-rho-bar 1. By hand, backwards:
//   t=4: rho 3 -> 1.5;   delta = 1.5 (5 + 0.9*10 - 2.5) = 17.25          v = 2.5 + 17.25 = 19.75
//   t=3: rho 0.25, truncated: delta = 0.25 (4 + 0.9*6 - 2) = 1.85, no trace   v = 3.85
//   t=2: rho 1, c 0.9:   delta = 3 + 0.9*2 - 1.5 = 3.3; 3.3 + 0.9*0.9*1.85 = 4.7985   v = 6.2985
//   t=1: rho 0.5, terminated: delta = 0.5 (2 + 0 - 1) = 0.5, no trace        v = 1.5
//   t=0: rho 2 -> 1.5, c 0.9: delta = 1.5 (1 + 0.9*1 - 0.5) = 2.1; 2.1 + 0.9*0.9*0.5 = 2.505
//                                                                          v = 3.005
// Advantages r_t + 0.9 v_{t+1} - V(x_t), with 0 after the terminal step and 6 after the
// truncated one: 1.85, 1, 4.965, 7.4, 11.5; times min(1, rho): 1.85, 0.5, 4.965, 1.85, 11.5.
TEST(VTraceTest, MatchesAHandComputedExampleWithClippingAndEpisodeEnds) {
  VTraceOptions o;
  o.gamma = 0.9;
  o.rho_bar = 1.5;
  o.c_bar = 0.9;
  VTraceInputs in;
  in.log_rhos = column({2.0f, 0.5f, 1.0f, 0.25f, 3.0f}).log();
  in.rewards = column({1, 2, 3, 4, 5});
  in.values = column({0.5f, 1.0f, 1.5f, 2.0f, 2.5f});
  in.final_values = column({100, 100, 100, 6, 100});  // only the truncated step's is read
  in.terminated = column({0, 1, 0, 0, 0}).to(torch::kBool);
  in.truncated = column({0, 0, 0, 1, 0}).to(torch::kBool);
  in.bootstrap = torch::tensor({10.0f});
  const VTraceOutput out = vtrace(o, in);
  expect_column(out.vs, {3.005, 1.5, 6.2985, 3.85, 19.75}, "vs");
  expect_column(out.advantages, {1.85, 1.0, 4.965, 7.4, 11.5}, "advantages");
  expect_column(out.pg_advantages, {1.85, 0.5, 4.965, 1.85, 11.5}, "pg_advantages");
  EXPECT_DOUBLE_EQ(out.rho_clipped_fraction, 0.4);  // steps 0 and 4
}

// pi = mu, rho-bar = c-bar = lambda = 1: v_t is the discounted sum of the episode's rewards up to
// the sequence end plus the discounted bootstrap: 0 after a terminal step, the final
// observation's value after a truncated one, V(x_T) at the sequence end.
TEST(VTraceTest, OnPolicyEqualsNStepBootstrappedReturns) {
  constexpr int64_t T = 12, B = 3;
  constexpr double gamma = 0.95;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  VTraceInputs in;
  in.log_rhos = torch::zeros({T, B});
  in.rewards = torch::randn({T, B}, gen);
  in.values = torch::randn({T, B}, gen);
  in.final_values = torch::randn({T, B}, gen);
  in.bootstrap = torch::randn({B}, gen);
  auto u = torch::rand({T, B}, gen);
  in.terminated = u < 0.15;
  in.truncated = (u >= 0.15).logical_and(u < 0.3);
  VTraceOptions o;
  o.gamma = gamma;
  const VTraceOutput out = vtrace(o, in);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      double g = 0, discount = 1;
      int64_t k = t;
      for (;; ++k) {
        g += discount * in.rewards[k][b].item<double>();
        discount *= gamma;
        if (in.terminated[k][b].item<bool>()) break;
        if (in.truncated[k][b].item<bool>()) {
          g += discount * in.final_values[k][b].item<double>();
          break;
        }
        if (k == T - 1) {
          g += discount * in.bootstrap[b].item<double>();
          break;
        }
      }
      EXPECT_NEAR(out.vs[t][b].item<double>(), g, 1e-4) << "t " << t << " b " << b;
    }
  EXPECT_EQ(out.rho_clipped_fraction, 0.0);
  // On-policy the advantages are the one-step TD errors of the returns.
  EXPECT_TRUE(torch::allclose(out.pg_advantages, out.advantages));
}

TEST(VTraceTest, MismatchedShapesAreErrorsNamingTheShapes) {
  VTraceInputs in;
  in.log_rhos = torch::zeros({4, 2});
  in.rewards = torch::zeros({4, 2});
  in.values = torch::zeros({4, 3});
  in.final_values = torch::zeros({4, 2});
  in.terminated = torch::zeros({4, 2});
  in.truncated = torch::zeros({4, 2});
  in.bootstrap = torch::zeros({2});
  EXPECT_THROW(vtrace(VTraceOptions{}, in), Error);
  in.values = torch::zeros({4, 2});
  in.bootstrap = torch::zeros({3});
  EXPECT_THROW(vtrace(VTraceOptions{}, in), Error);
}

TEST(VTraceOptionsTest, BadOptionsAreConfigErrorsNamingTheKey) {
  auto expect_error = [](VTraceOptions o, const std::string& key) {
    try {
      o.validate();
      FAIL() << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  VTraceOptions o;
  o.gamma = 1.5;
  expect_error(o, "gamma");
  o = {};
  o.lambda = -0.1;
  expect_error(o, "lambda");
  o = {};
  o.rho_bar = 0;
  expect_error(o, "rho_bar");
  o = {};
  o.c_bar = -1;
  expect_error(o, "c_bar");
  o = {};
  o.pg_rho_bar = 0;
  expect_error(o, "pg_rho_bar");
  EXPECT_NO_THROW(VTraceOptions{}.validate());
}

}  // namespace
}  // namespace mnemo::learners
