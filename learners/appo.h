// Off-policy corrected online algorithms on V-trace (learners/vtrace.h), for sequences that an
// older policy acted (asynchronous actors, actor.sync: false):
//   appo    Sample Factory's APPO: PPO's clipped surrogate (learners/ppo.h) on V-trace advantages,
//           the value regressed on the V-trace targets (clipped around the behaviour value when
//           learner.ppo.clip_value_loss).
//   impala  IMPALA's loss (Espeholt et al. 2018): policy gradient on min(pg_rho_bar, rho) times
//           the V-trace advantage, a baseline loss on the targets and the entropy bonus.
// Both recompute V-trace at the start of every one of learner.ppo.epochs epochs from the learner's
// current values (one unroll without gradients over the sequences plus the observation after
// each, bootstrap_obs/*, whose value bootstraps the last step), then train on minibatches as PPO
// does (learners/algorithm.h: MinibatchAlgorithm); the importance weights of the surrogate are
// against the behaviour policy. A step truncated inside the sequence bootstraps the
// behaviour value of its final observation (final_value; the learner has no recurrent state for
// an observation the env never returned as a step). Burn-in as in PPO.
#pragma once

#include <memory>

#include "learners/ppo.h"
#include "learners/vtrace.h"

namespace mnemo::learners {

struct LearnerOptions;
struct OnlineLearner;
class OnlineAlgorithm;

std::unique_ptr<OnlineAlgorithm> make_appo(const LearnerOptions& options, const OnlineLearner& learner);
std::unique_ptr<OnlineAlgorithm> make_impala(const LearnerOptions& options, const OnlineLearner& learner);

// IMPALA's loss for one minibatch: -mean(pg_advantages * log pi(a)) + vf_coef * 0.5 mean((V - vs)^2)
// - ent_coef * mean entropy, with the options' coefficients; stats policy_loss, value_loss, entropy.
PPOLoss impala_loss(const PPOOptions& o, const ActionSpace& space, const nn::PolicyOutput& out, torch::Tensor log_std,
                    const torch::Tensor& actions, const torch::Tensor& pg_advantages, const torch::Tensor& vs);

}  // namespace mnemo::learners
