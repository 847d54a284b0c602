#include "learners/appo.h"

#include "core/check.h"
#include "learners/algorithm.h"
#include "learners/trainer.h"

namespace mnemo::learners {

PPOLoss impala_loss(const PPOOptions& o, const ActionSpace& space, const nn::PolicyOutput& out, torch::Tensor log_std,
                    const torch::Tensor& actions, const VTraceOutput& vtrace) {
  nn::ActionDist dist(space, out.params, log_std);
  auto policy_loss = -(vtrace.pg_advantages.detach() * dist.log_prob(actions)).mean();
  auto value_loss = 0.5 * (out.value - vtrace.vs.detach()).pow(2).mean();
  auto entropy = dist.entropy().mean();
  PPOLoss l;
  l.total = policy_loss + o.vf_coef * value_loss - o.ent_coef * entropy;
  torch::NoGradGuard no_grad;
  l.stats["policy_loss"] = policy_loss.item<double>();
  l.stats["value_loss"] = value_loss.item<double>();
  l.stats["entropy"] = entropy.item<double>();
  return l;
}

namespace {

enum class Loss { kAppo, kImpala };

class VTraceAlgorithm final : public OnlineAlgorithm {
 public:
  VTraceAlgorithm(Loss loss, const LearnerOptions& options, const OnlineLearner& learner)
      : loss_(loss), o_(options.ppo), vtrace_(options.vtrace), learner_(learner),
        burn_in_(learner.memoryless() ? 0 : options.burn_in) {
    vtrace_.gamma = o_.gamma;
  }

  std::map<std::string, double> update(const SequenceBatch& batch) override {
    nn::PolicyImpl& policy = learner_.policy;
    MNEMO_CHECK(batch.next_obs.defined(), "V-trace needs the observation after each sequence (bootstrap_obs/*)");
    const int64_t burn = burn_in_;
    MNEMO_CHECK(burn < batch.T(), "learner.burn_in (", burn, ") must be shorter than the sequence (", batch.T(), ")");
    const int64_t steps_trained = batch.T() - burn;
    const int64_t n = batch.B();
    const int64_t mb = std::max<int64_t>(1, n / o_.minibatches);
    auto part = [burn](const torch::Tensor& t) { return steps_from(t, burn); };
    // The trained steps and the observation after them, in one unroll.
    auto with_next = [&](const torch::Tensor& t, const torch::Tensor& next) {
      return t.defined() ? torch::cat({part(t), next}, 0) : t;
    };

    std::map<std::string, double> sums;
    int64_t count = 0;
    for (int64_t epoch = 0; epoch < o_.epochs; ++epoch) {
      auto perm = torch::randperm(n, learner_.generator, torch::kLong).to(learner_.device);
      for (int64_t start = 0; start + mb <= n; start += mb) {
        SequenceBatch m = select_sequences(batch, perm.narrow(0, start, mb));
        nn::State state0 = burn_in_state(policy, m, burn);
        auto full = policy.unroll(with_next(m.obs, m.next_obs),
                                  {with_next(m.prev.action, m.next_prev.action), with_next(m.prev.reward, m.next_prev.reward)},
                                  with_next(m.first, m.next_first), state0);
        nn::PolicyOutput out{full.params.narrow(0, 0, steps_trained), full.value.narrow(0, 0, steps_trained), {}};
        auto actions = part(m.actions);
        VTraceInputs in;
        {
          torch::NoGradGuard no_grad;
          nn::ActionDist dist(learner_.space, out.params, policy.log_std());
          in.log_rhos = dist.log_prob(actions) - part(m.logprob);
        }
        in.rewards = part(m.rewards);
        in.values = out.value.detach();
        in.final_values = part(m.final_value);
        in.terminated = part(m.terminated);
        in.truncated = part(m.truncated);
        in.bootstrap = full.value[steps_trained].detach();
        const VTraceOutput vt = vtrace(vtrace_, in);
        PPOLoss loss = loss_ == Loss::kAppo
                           ? ppo_loss(o_, learner_.space, out, policy.log_std(), actions, part(m.logprob),
                                      part(m.value), vt.advantages, vt.vs)
                           : impala_loss(o_, learner_.space, out, policy.log_std(), actions, vt);
        const double norm = apply_gradients(learner_, loss.total, o_.max_grad_norm);
        for (const auto& kv : loss.stats) sums[kv.first] += kv.second;
        sums["grad_norm"] += norm;
        sums["rho_clip_frac"] += vt.rho_clipped_fraction;
        ++count;
      }
    }
    for (auto& kv : sums) kv.second /= static_cast<double>(std::max<int64_t>(1, count));
    return sums;
  }

 private:
  Loss loss_;
  PPOOptions o_;
  VTraceOptions vtrace_;
  OnlineLearner learner_;
  std::int64_t burn_in_;
};

}  // namespace

std::unique_ptr<OnlineAlgorithm> make_appo(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<VTraceAlgorithm>(Loss::kAppo, options, learner);
}

std::unique_ptr<OnlineAlgorithm> make_impala(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<VTraceAlgorithm>(Loss::kImpala, options, learner);
}

}  // namespace mnemo::learners
