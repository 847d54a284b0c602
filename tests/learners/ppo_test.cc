// Tests of GAE with episode ends inside a sequence and of the PPO loss.
#include "learners/ppo.h"

#include <gtest/gtest.h>

namespace mnemo::learners {
namespace {

SequenceBatch batch_of(std::vector<float> rewards, std::vector<float> values, std::vector<bool> term,
                       std::vector<bool> trunc, std::vector<float> final_value, float bootstrap) {
  const int64_t T = static_cast<int64_t>(rewards.size());
  auto col = [T](const std::vector<float>& v) { return torch::tensor(v).reshape({T, 1}); };
  auto flags = [T](const std::vector<bool>& v) {
    std::vector<uint8_t> u(v.begin(), v.end());
    return torch::tensor(u).reshape({T, 1}).to(torch::kBool);
  };
  SequenceBatch b;
  b.rewards = col(rewards);
  b.value = col(values);
  b.terminated = flags(term);
  b.truncated = flags(trunc);
  b.final_value = col(final_value);
  b.bootstrap = torch::tensor({bootstrap});
  return b;
}

TEST(GaeTest, MatchesHandComputedValuesWithoutEpisodeEnds) {
  auto b = batch_of({1, 1}, {0.5, 0.25}, {false, false}, {false, false}, {0, 0}, 2.0);
  auto [adv, ret] = compute_gae(b, /*gamma=*/0.9, /*lambda=*/0.5);
  double d1 = 1 + 0.9 * 2.0 - 0.25;  // the last step bootstraps
  double d0 = 1 + 0.9 * 0.25 - 0.5;
  EXPECT_NEAR(adv[1][0].item<float>(), d1, 1e-5);
  EXPECT_NEAR(adv[0][0].item<float>(), d0 + 0.9 * 0.5 * d1, 1e-5);
  EXPECT_NEAR(ret[0][0].item<float>(), d0 + 0.45 * d1 + 0.5, 1e-5);
}

TEST(GaeTest, TerminationCutsBootstrapAndPropagation) {
  auto b = batch_of({1, 1}, {0.5, 0.25}, {true, false}, {false, false}, {0, 0}, 2.0);
  auto [adv, ret] = compute_gae(b, 0.9, 0.5);
  EXPECT_NEAR(adv[0][0].item<float>(), 1 - 0.5, 1e-5);  // no next value, nothing flows back
}

TEST(GaeTest, TruncationBootstrapsFromFinalObservationValue) {
  auto b = batch_of({1, 1}, {0.5, 0.25}, {false, false}, {true, false}, {3.0, 0}, 2.0);
  auto [adv, ret] = compute_gae(b, 0.9, 0.5);
  EXPECT_NEAR(adv[0][0].item<float>(), 1 + 0.9 * 3.0 - 0.5, 1e-5);
}

TEST(PpoLossTest, ClipsTheRatioForPositiveAdvantages) {
  PPOOptions o;
  o.normalize_advantages = false;
  o.ent_coef = 0;
  o.vf_coef = 0;
  auto space = ActionSpace::discrete(2);
  // The new policy puts 0.9 on action 0, the behaviour policy had 0.5: ratio 1.8 > 1 + clip.
  auto params = torch::log(torch::tensor({{0.9f, 0.1f}})).set_requires_grad(true);
  nn::PolicyOutput out{params, torch::zeros({1}), {}};
  auto l = ppo_loss(o, space, out, {}, torch::tensor({0}), torch::log(torch::tensor({0.5f})), torch::zeros({1}),
                    torch::ones({1}), torch::zeros({1}));
  EXPECT_NEAR(l.stats["policy_loss"], -(1 + o.clip), 1e-5);
  EXPECT_NEAR(l.stats["clip_frac"], 1.0, 1e-6);
  l.total.backward();
  EXPECT_NEAR(params.grad().abs().sum().item<float>(), 0.0f, 1e-7);  // clipped: no gradient
}

TEST(PpoLossTest, ValueLossIsHalfSquaredErrorWhenUnclipped) {
  PPOOptions o;
  o.clip_value_loss = false;
  nn::PolicyOutput out{torch::zeros({2, 2}), torch::tensor({1.0f, 3.0f}), {}};
  auto l = ppo_loss(o, ActionSpace::discrete(2), out, {}, torch::tensor({0, 1}), torch::log(torch::full({2}, 0.5f)),
                    torch::zeros({2}), torch::zeros({2}), torch::tensor({0.0f, 1.0f}));
  EXPECT_NEAR(l.stats["value_loss"], 0.5 * (1.0 + 4.0) / 2, 1e-5);
}

TEST(PpoOptionsTest, InvalidValuesAreConfigErrors) {
  PPOOptions o;
  o.gamma = 1.5;
  EXPECT_THROW(o.validate(), ConfigError);
  PPOOptions p;
  p.minibatches = 0;
  EXPECT_THROW(p.validate(), ConfigError);
}

TEST(PpoOptionsTest, DevicesAreCheckedAndNamed) {
  auto error_of = [](const std::string& device) -> std::string {
    PPOOptions o;
    o.device = device;
    try {
      o.validate();  // the name only
      o.torch_device();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("cpu"), "");
  EXPECT_NE(error_of("mps").find("learner.ppo.device: only cpu and cuda"), std::string::npos) << error_of("mps");
  EXPECT_NE(error_of("gpu!").find("learner.ppo.device: 'gpu!' is not a device"), std::string::npos);
  if (!torch::cuda::is_available())
    EXPECT_NE(error_of("cuda").find("is not available to this process (0 CUDA devices)"), std::string::npos)
        << error_of("cuda");
  else
    EXPECT_EQ(error_of("cuda"), "");
  EXPECT_EQ(PPOOptions().torch_device(), torch::Device(torch::kCPU));
}

}  // namespace
}  // namespace mnemo::learners
