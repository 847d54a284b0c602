#include "learners/ppo.h"

#include "core/check.h"
#include "core/models/tensor.h"
#include "learners/algorithm.h"
#include "learners/trainer.h"

namespace mnemo::learners {

void PPOOptions::validate() const {
  auto bad = [](const std::string& key, const std::string& why) { throw ConfigError("learner.ppo." + key + " " + why); };
  if (!(lr > 0)) bad("lr", "must be positive");
  if (!(gamma >= 0 && gamma <= 1)) bad("gamma", "must be in [0, 1]");
  if (!(gae_lambda >= 0 && gae_lambda <= 1)) bad("gae_lambda", "must be in [0, 1]");
  if (epochs < 1) bad("epochs", "must be at least 1");
  if (minibatches < 1) bad("minibatches", "must be at least 1");
  if (!(clip > 0)) bad("clip", "must be positive");
  if (!(max_grad_norm > 0)) bad("max_grad_norm", "must be positive");
  parse_device(device, "learner.ppo.device", /*available=*/false);
}

torch::Device PPOOptions::torch_device() const { return parse_device(device, "learner.ppo.device"); }

std::pair<torch::Tensor, torch::Tensor> compute_gae(const SequenceBatch& b, double gamma, double lambda) {
  torch::NoGradGuard no_grad;
  const int64_t T = b.T();
  auto adv = torch::zeros_like(b.rewards);
  auto last = torch::zeros_like(b.bootstrap);
  auto term = b.terminated.to(torch::kFloat32);
  auto trunc = b.truncated.to(torch::kFloat32);
  for (int64_t t = T - 1; t >= 0; --t) {
    auto next_value = t == T - 1 ? b.bootstrap : b.value[t + 1];
    // Where the episode ended at t, the next value is 0 (terminal) or the final obs' value
    // (time limit), and no advantage flows back from the next episode.
    auto ended = torch::clamp(term[t] + trunc[t], 0, 1);
    auto target_next = (1 - ended) * next_value + trunc[t] * (1 - term[t]) * b.final_value[t];
    auto delta = b.rewards[t] + gamma * target_next - b.value[t];
    last = delta + gamma * lambda * (1 - ended) * last;
    adv[t] = last;
  }
  return {adv, adv + b.value};
}

PPOLoss ppo_loss(const PPOOptions& o, const ActionSpace& space, const nn::PolicyOutput& out, torch::Tensor log_std,
                 const torch::Tensor& actions, const torch::Tensor& old_logprob, const torch::Tensor& old_value,
                 torch::Tensor advantages, const torch::Tensor& returns) {
  nn::ActionDist dist(space, out.params, log_std);
  auto logprob = dist.log_prob(actions);
  auto log_ratio = logprob - old_logprob;
  auto ratio = log_ratio.exp();
  if (o.normalize_advantages && advantages.numel() > 1)
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8);
  auto pg1 = -advantages * ratio;
  auto pg2 = -advantages * torch::clamp(ratio, 1 - o.clip, 1 + o.clip);
  auto policy_loss = torch::max(pg1, pg2).mean();
  torch::Tensor value_loss;
  if (o.clip_value_loss) {
    auto unclipped = (out.value - returns).pow(2);
    auto clipped_v = old_value + torch::clamp(out.value - old_value, -o.clip, o.clip);
    auto clipped = (clipped_v - returns).pow(2);
    value_loss = 0.5 * torch::max(unclipped, clipped).mean();
  } else {
    value_loss = 0.5 * (out.value - returns).pow(2).mean();
  }
  auto entropy = dist.entropy().mean();
  PPOLoss l;
  l.total = policy_loss - o.ent_coef * entropy + o.vf_coef * value_loss;
  torch::NoGradGuard no_grad;
  l.stats["policy_loss"] = policy_loss.item<double>();
  l.stats["value_loss"] = value_loss.item<double>();
  l.stats["entropy"] = entropy.item<double>();
  l.stats["approx_kl"] = ((ratio - 1) - log_ratio).mean().item<double>();
  l.stats["clip_frac"] = ((ratio - 1).abs() > o.clip).to(torch::kFloat32).mean().item<double>();
  return l;
}

namespace {

// GAE from the behaviour values, computed once per batch; the clipped surrogate.
class PPO final : public MinibatchAlgorithm {
 public:
  using MinibatchAlgorithm::MinibatchAlgorithm;

 protected:
  Targets targets(const SequenceBatch& batch, std::int64_t epoch) override {
    if (epoch == 0) {
      auto [adv, ret] = compute_gae(batch, o_.gamma, o_.gae_lambda);
      gae_ = {steps_from(adv, burn_in_), steps_from(ret, burn_in_), {}, {}};
    }
    return gae_;
  }
  PPOLoss loss(const Minibatch& m) override {
    return ppo_loss(o_, learner_.space, m.out, learner_.policy.log_std(), m.actions, m.old_logprob, m.old_value,
                    m.targets.advantages, m.targets.returns);
  }

 private:
  Targets gae_;
};

}  // namespace

std::unique_ptr<OnlineAlgorithm> make_ppo(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<PPO>(options, learner);
}

}  // namespace mnemo::learners
