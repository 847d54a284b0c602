// Off-policy corrected online algorithms on V-trace (learners/vtrace.h), for sequences that an
// older policy acted (asynchronous actors, actor.sync: false):
//   appo    Sample Factory's APPO: PPO's clipped surrogate (learners/ppo.h) on V-trace advantages,
//           the value regressed on the V-trace targets (clipped around the behaviour value when
//           learner.ppo.clip_value_loss).
//   impala  IMPALA's loss (Espeholt et al. 2018): policy gradient on min(pg_rho_bar, rho) times
//           the V-trace advantage, a baseline loss on the targets and the entropy bonus.
// Both minibatch over whole sequences (V-trace runs along time) for learner.ppo.epochs x
// learner.ppo.minibatches steps, and recompute V-trace for every minibatch from the learner's
// current values: the unroll covers the sequence plus the observation after it (bootstrap_obs/*),
// whose value bootstraps the last step. A step truncated inside the sequence bootstraps the
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
                    const torch::Tensor& actions, const VTraceOutput& vtrace);

}  // namespace mnemo::learners
