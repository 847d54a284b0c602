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

class PPO final : public OnlineAlgorithm {
 public:
  PPO(const LearnerOptions& options, const OnlineLearner& learner)
      : o_(options.ppo), learner_(learner), burn_in_(learner.memoryless() ? 0 : options.burn_in),
        memoryless_(learner.memoryless()) {}

  std::map<std::string, double> update(const SequenceBatch& batch) override {
    nn::PolicyImpl& policy = learner_.policy;
    auto [adv, ret] = compute_gae(batch, o_.gamma, o_.gae_lambda);
    // Memoryless policies learn from shuffled transitions (one column of T x B steps); recurrent
    // ones from whole sequences.
    auto columns = [&](const torch::Tensor& t) {
      if (!memoryless_ || !t.defined()) return t;
      auto sizes = t.sizes().vec();
      std::vector<int64_t> flat{1, sizes[0] * sizes[1]};
      flat.insert(flat.end(), sizes.begin() + 2, sizes.end());
      return t.reshape(flat);
    };
    SequenceBatch cols;
    cols.obs = columns(batch.obs);
    cols.actions = columns(batch.actions);
    cols.first = columns(batch.first);
    cols.prev = {columns(batch.prev.action), columns(batch.prev.reward)};
    cols.logprob = columns(batch.logprob);
    cols.value = columns(batch.value);
    adv = columns(adv);
    ret = columns(ret);
    cols.state0 = batch.state0;
    // Burn-in: the first steps of each sequence only rebuild the recurrent state from the stored
    // one (which is stale by the policy lag); losses start after them.
    const int64_t burn = burn_in_;
    MNEMO_CHECK(burn < batch.T(), "learner.burn_in (", burn, ") must be shorter than the sequence (", batch.T(), ")");
    auto train_part = [burn](const torch::Tensor& t) { return steps_from(t, burn); };
    const int64_t n = cols.obs.size(1);
    const int64_t mb = std::max<int64_t>(1, n / o_.minibatches);

    std::map<std::string, double> sums;
    int64_t steps = 0;
    for (int64_t epoch = 0; epoch < o_.epochs; ++epoch) {
      // Drawn on the CPU from the checkpointed generator, whatever the device.
      auto perm = torch::randperm(n, learner_.generator, torch::kLong).to(learner_.device);
      for (int64_t start = 0; start + mb <= n; start += mb) {
        auto idx = perm.narrow(0, start, mb);
        SequenceBatch m = select_sequences(cols, idx);
        nn::State state0 = burn_in_state(policy, m, burn);
        auto out = policy.unroll(train_part(m.obs), {train_part(m.prev.action), train_part(m.prev.reward)},
                                 train_part(m.first), state0);
        auto loss = ppo_loss(o_, learner_.space, out, policy.log_std(), train_part(m.actions), train_part(m.logprob),
                             train_part(m.value), train_part(adv.index_select(1, idx)), train_part(ret.index_select(1, idx)));
        const double norm = apply_gradients(learner_, loss.total, o_.max_grad_norm);
        for (const auto& kv : loss.stats) sums[kv.first] += kv.second;
        sums["grad_norm"] += norm;
        ++steps;
      }
    }
    for (auto& kv : sums) kv.second /= static_cast<double>(std::max<int64_t>(1, steps));
    return sums;
  }

 private:
  PPOOptions o_;
  OnlineLearner learner_;
  std::int64_t burn_in_;
  bool memoryless_;
};

}  // namespace

std::unique_ptr<OnlineAlgorithm> make_ppo(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<PPO>(options, learner);
}

}  // namespace mnemo::learners
