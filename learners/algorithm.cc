#include "learners/algorithm.h"

#include "core/check.h"
#include "learners/appo.h"
#include "learners/trainer.h"

namespace mnemo::learners {
namespace {

using Factory = std::unique_ptr<OnlineAlgorithm> (*)(const LearnerOptions&, const OnlineLearner&);

struct Registered {
  const char* name;
  Factory make;
};

// learner.algo -> the algorithm. Add a line here for a new one.
constexpr Registered kAlgorithms[] = {
    {"ppo", make_ppo},
    {"appo", make_appo},
    {"impala", make_impala},
};

}  // namespace

std::unique_ptr<OnlineAlgorithm> make_online_algorithm(const LearnerOptions& options, const OnlineLearner& learner) {
  for (const auto& a : kAlgorithms)
    if (options.algo == a.name) return a.make(options, learner);
  std::string valid;
  for (const auto& name : online_algorithm_names()) valid += (valid.empty() ? "" : ", ") + name;
  throw ConfigError("learner.algo: '" + options.algo + "' is no online algorithm (valid: " + valid + ")");
}

std::vector<std::string> online_algorithm_names() {
  std::vector<std::string> names;
  for (const auto& a : kAlgorithms) names.emplace_back(a.name);
  return names;
}

bool is_online_algorithm(const std::string& name) {
  for (const auto& a : kAlgorithms)
    if (name == a.name) return true;
  return false;
}

SequenceBatch select_sequences(const SequenceBatch& b, const torch::Tensor& idx) {
  auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(1, idx) : t; };
  auto items = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, idx.to(t.device())) : t; };
  SequenceBatch s;
  s.obs = rows(b.obs);
  s.actions = rows(b.actions);
  s.rewards = rows(b.rewards);
  s.prev = {rows(b.prev.action), rows(b.prev.reward)};
  s.first = rows(b.first);
  s.terminated = rows(b.terminated);
  s.truncated = rows(b.truncated);
  s.logprob = rows(b.logprob);
  s.value = rows(b.value);
  s.final_value = rows(b.final_value);
  s.bootstrap = items(b.bootstrap);
  s.next_obs = rows(b.next_obs);
  s.next_first = rows(b.next_first);
  s.next_prev = {rows(b.next_prev.action), rows(b.next_prev.reward)};
  s.version = items(b.version);
  for (const auto& t : b.state0) s.state0.push_back(items(t));
  return s;
}

torch::Tensor steps_from(const torch::Tensor& t, std::int64_t from) {
  return t.defined() && from > 0 ? t.narrow(0, from, t.size(0) - from) : t;
}

nn::State burn_in_state(nn::PolicyImpl& policy, const SequenceBatch& b, std::int64_t burn_in) {
  if (burn_in <= 0) return b.state0;
  MNEMO_CHECK(burn_in < b.T(), "learner.burn_in (", burn_in, ") must be shorter than the sequence (", b.T(), ")");
  torch::NoGradGuard no_grad;
  auto head = [burn_in](const torch::Tensor& t) { return t.defined() ? t.narrow(0, 0, burn_in) : t; };
  return policy.unroll(head(b.obs), {head(b.prev.action), head(b.prev.reward)}, head(b.first), b.state0).state;
}

double apply_gradients(const OnlineLearner& learner, const torch::Tensor& loss, double max_grad_norm) {
  learner.reducer.zero_grad();
  loss.backward();
  learner.reducer.average_gradients();
  const double norm = torch::nn::utils::clip_grad_norm_(learner.policy.parameters(), max_grad_norm);
  learner.optimizer.step();
  return norm;
}

}  // namespace mnemo::learners
