#include "learners/appo.h"

#include "core/check.h"
#include "learners/algorithm.h"
#include "learners/trainer.h"

namespace mnemo::learners {

PPOLoss impala_loss(const PPOOptions& o, const ActionSpace& space, const nn::PolicyOutput& out, torch::Tensor log_std,
                    const torch::Tensor& actions, const torch::Tensor& pg_advantages, const torch::Tensor& vs) {
  nn::ActionDist dist(space, out.params, log_std);
  auto policy_loss = -(pg_advantages.detach() * dist.log_prob(actions)).mean();
  auto value_loss = 0.5 * (out.value - vs.detach()).pow(2).mean();
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

// V-trace targets from the learner's current values at the start of every epoch; APPO's clipped
// surrogate or IMPALA's loss.
class VTraceAlgorithm final : public MinibatchAlgorithm {
 public:
  VTraceAlgorithm(Loss loss, const LearnerOptions& options, const OnlineLearner& learner)
      : MinibatchAlgorithm(options, learner), loss_(loss), vtrace_(options.vtrace) {
    vtrace_.gamma = o_.gamma;
  }

 protected:
  Targets targets(const SequenceBatch& b, std::int64_t) override {
    MNEMO_CHECK(b.next_obs.defined(), "V-trace needs the observation after each sequence (bootstrap_obs/*)");
    torch::NoGradGuard no_grad;
    nn::PolicyImpl& policy = learner_.policy;
    const int64_t burn = burn_in_, n = b.T() - burn_in_;
    // The trained steps and the observation after them, in one unroll.
    auto with_next = [burn](const torch::Tensor& t, const torch::Tensor& next) {
      return t.defined() ? torch::cat({steps_from(t, burn), next}, 0) : t;
    };
    auto full = policy.unroll(with_next(b.obs, b.next_obs),
                              {with_next(b.prev.action, b.next_prev.action), with_next(b.prev.reward, b.next_prev.reward)},
                              with_next(b.first, b.next_first), burn_in_state(policy, b, burn));
    nn::ActionDist dist(learner_.space, full.params.narrow(0, 0, n), policy.log_std());
    VTraceInputs in;
    in.log_rhos = dist.log_prob(steps_from(b.actions, burn)) - steps_from(b.logprob, burn);
    in.rewards = steps_from(b.rewards, burn);
    in.values = full.value.narrow(0, 0, n);
    in.final_values = steps_from(b.final_value, burn);
    in.terminated = steps_from(b.terminated, burn);
    in.truncated = steps_from(b.truncated, burn);
    in.bootstrap = full.value[n];
    VTraceOutput vt = vtrace(vtrace_, in);
    return {vt.advantages, vt.vs, vt.pg_advantages, {{"rho_clip_frac", vt.rho_clipped_fraction}}};
  }

  PPOLoss loss(const Minibatch& m) override {
    if (loss_ == Loss::kAppo)
      return ppo_loss(o_, learner_.space, m.out, learner_.policy.log_std(), m.actions, m.old_logprob, m.old_value,
                      m.targets.advantages, m.targets.returns);
    return impala_loss(o_, learner_.space, m.out, learner_.policy.log_std(), m.actions, m.targets.pg_advantages,
                       m.targets.returns);
  }

 private:
  Loss loss_;
  VTraceOptions vtrace_;
};

}  // namespace

std::unique_ptr<OnlineAlgorithm> make_appo(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<VTraceAlgorithm>(Loss::kAppo, options, learner);
}

std::unique_ptr<OnlineAlgorithm> make_impala(const LearnerOptions& options, const OnlineLearner& learner) {
  return std::make_unique<VTraceAlgorithm>(Loss::kImpala, options, learner);
}

}  // namespace mnemo::learners
