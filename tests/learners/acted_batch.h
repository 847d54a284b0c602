// Sequences a policy acted, for tests and benchmarks of the online algorithms: random
// observations and rewards, episode ends drawn per step, actions sampled from `policy`, and the
// behaviour's log-probabilities and values from the policy's own unroll over the sequence and the
// observation after it (plus optional noise, to make the data off-policy).
#pragma once

#include <torch/torch.h>

#include "core/models/models.h"
#include "learners/ppo.h"

namespace mnemo::learners::test_data {

struct ActedBatchOptions {
  std::int64_t T = 8, B = 4, obs_dim = 4;
  double terminate_p = 0;     // each step terminates with this probability ...
  double truncate_p = 0;      // ... or else is truncated with this one; the next step starts an episode
  double logprob_noise = 0;   // std of Gaussian noise on the behaviour log-probabilities
  double value_noise = 0;     // and on the behaviour values
};

inline SequenceBatch acted_batch(nn::PolicyImpl& policy, const ActionSpace& space, const ActedBatchOptions& o,
                                 at::Generator& gen) {
  const std::int64_t T = o.T, B = o.B;
  SequenceBatch b;
  b.obs = torch::randn({T, B, o.obs_dim}, gen);
  b.next_obs = torch::randn({1, B, o.obs_dim}, gen);
  b.rewards = torch::randn({T, B}, gen);
  b.final_value = torch::randn({T, B}, gen);
  auto u = torch::rand({T, B}, gen);
  b.terminated = u < o.terminate_p;
  b.truncated = (u >= o.terminate_p).logical_and(u < o.terminate_p + o.truncate_p);
  auto ended = b.terminated.logical_or(b.truncated);
  b.first = torch::zeros({T, B}, torch::kBool);
  b.first[0].fill_(true);
  b.first.narrow(0, 1, T - 1).copy_(ended.narrow(0, 0, T - 1));
  b.next_first = ended[T - 1].unsqueeze(0).clone();
  b.state0 = policy.initial_state(B);
  b.version = torch::zeros({B}, torch::kLong);
  torch::NoGradGuard no_grad;
  auto full = policy.unroll(torch::cat({b.obs, b.next_obs}), torch::cat({b.first, b.next_first}), b.state0);
  nn::ActionDist dist(space, full.params.narrow(0, 0, T), policy.log_std());
  b.actions = dist.sample(gen);
  b.logprob = dist.log_prob(b.actions);
  b.value = full.value.narrow(0, 0, T);
  if (o.logprob_noise > 0) b.logprob = b.logprob + o.logprob_noise * torch::randn({T, B}, gen);
  if (o.value_noise > 0) b.value = b.value + o.value_noise * torch::randn({T, B}, gen);
  b.bootstrap = full.value[T];
  return b;
}

}  // namespace mnemo::learners::test_data
