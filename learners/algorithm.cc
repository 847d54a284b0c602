#include "learners/algorithm.h"

#include <cmath>

#include "core/check.h"
#include "learners/appo.h"
#include "learners/augment.h"
#include "learners/contrastive.h"
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

SequenceBatch map_fields(const SequenceBatch& b, const std::function<torch::Tensor(const torch::Tensor&)>& per_step,
                         const std::function<torch::Tensor(const torch::Tensor&)>& per_sequence) {
  auto steps = [&](const torch::Tensor& t) { return t.defined() ? per_step(t) : t; };
  auto items = [&](const torch::Tensor& t) { return t.defined() ? per_sequence(t) : t; };
  SequenceBatch s;
  s.obs = steps(b.obs);
  s.actions = steps(b.actions);
  s.rewards = steps(b.rewards);
  s.prev = {steps(b.prev.action), steps(b.prev.reward)};
  s.first = steps(b.first);
  s.terminated = steps(b.terminated);
  s.truncated = steps(b.truncated);
  s.logprob = steps(b.logprob);
  s.value = steps(b.value);
  s.final_value = steps(b.final_value);
  s.bootstrap = items(b.bootstrap);
  s.next_obs = steps(b.next_obs);
  s.next_first = steps(b.next_first);
  s.next_prev = {steps(b.next_prev.action), steps(b.next_prev.reward)};
  s.version = items(b.version);
  for (const auto& t : b.state0) s.state0.push_back(items(t));
  return s;
}

SequenceBatch select_sequences(const SequenceBatch& b, const torch::Tensor& idx) {
  return map_fields(
      b, [&](const torch::Tensor& t) { return t.index_select(1, idx); },
      [&](const torch::Tensor& t) { return t.index_select(0, idx.to(t.device())); });
}

torch::Tensor steps_from(const torch::Tensor& t, std::int64_t from) {
  return t.defined() && from > 0 ? t.narrow(0, from, t.size(0) - from) : t;
}

nn::State burn_in_state(nn::PolicyImpl& policy, const SequenceBatch& b, std::int64_t burn_in) {
  if (burn_in <= 0) return b.state0;
  MNEMO_CHECK(burn_in < b.obs.size(0), "learner.burn_in (", burn_in, ") must be shorter than the sequence (",
              b.obs.size(0), ")");
  torch::NoGradGuard no_grad;
  auto head = [burn_in](const torch::Tensor& t) { return t.defined() ? t.narrow(0, 0, burn_in) : t; };
  return policy.unroll(head(b.obs), {head(b.prev.action), head(b.prev.reward)}, head(b.first), b.state0).state;
}

MinibatchAlgorithm::MinibatchAlgorithm(const LearnerOptions& options, const OnlineLearner& learner)
    : o_(options.ppo), learner_(learner), burn_in_(learner.memoryless() ? 0 : options.burn_in),
      memoryless_(learner.memoryless()), normalize_advantages_(options.ppo.normalize_advantages) {
  o_.normalize_advantages = false;
}

torch::Tensor MinibatchAlgorithm::normalized_across_ranks(const torch::Tensor& adv) const {
  torch::NoGradGuard no_grad;
  auto a = adv.to(torch::kFloat64);
  auto s = torch::stack({a.sum(), a.pow(2).sum(), torch::full({}, static_cast<double>(a.numel()), a.options())});
  learner_.comm.allreduce_sum(s);
  s = s.cpu();
  const double n = s[2].item<double>();
  if (n <= 1) return adv;
  const double mean = s[0].item<double>() / n;
  const double var = std::max(0.0, (s[1].item<double>() - n * mean * mean) / (n - 1));  // unbiased, as torch's std
  return (adv - mean) / (std::sqrt(var) + 1e-8);
}

std::map<std::string, double> MinibatchAlgorithm::update(const SequenceBatch& raw) {
  nn::PolicyImpl& policy = learner_.policy;
  const SequenceBatch batch = learner_.augment != nullptr ? learner_.augment->apply(raw, learner_.generator) : raw;
  const int64_t burn = burn_in_;
  MNEMO_CHECK(burn < batch.T(), "learner.burn_in (", burn, ") must be shorter than the sequence (", batch.T(), ")");
  // Memoryless policies learn from shuffled transitions (one column of T x B steps); recurrent
  // ones from whole sequences.
  auto columns = [&](const torch::Tensor& t) {
    if (!memoryless_ || !t.defined()) return t;
    auto sizes = t.sizes().vec();
    std::vector<int64_t> flat{1, sizes[0] * sizes[1]};
    flat.insert(flat.end(), sizes.begin() + 2, sizes.end());
    return t.reshape(flat);
  };
  // Columns of transitions have no per-sequence fields (bootstrap, version; a memoryless policy
  // has no state), so those are dropped there; the step after each sequence is the targets' only.
  SequenceBatch cols =
      map_fields(batch, columns, [&](const torch::Tensor& t) { return memoryless_ ? torch::Tensor() : t; });
  cols.next_obs = cols.next_first = torch::Tensor();
  cols.next_prev = {};
  // Burn-in: the first steps of each sequence only rebuild the recurrent state from the stored
  // one (which is stale by the policy lag); losses start after them.
  auto part = [burn](const torch::Tensor& t) { return steps_from(t, burn); };
  const int64_t n = cols.obs.size(1);
  const int64_t mb = std::max<int64_t>(1, n / o_.minibatches);

  std::map<std::string, double> sums;
  int64_t steps = 0;
  for (int64_t epoch = 0; epoch < o_.epochs; ++epoch) {
    Targets all = targets(batch, epoch);
    all.advantages = columns(all.advantages);
    all.returns = columns(all.returns);
    all.pg_advantages = columns(all.pg_advantages);
    // Drawn on the CPU from the checkpointed generator, whatever the device.
    auto perm = torch::randperm(n, learner_.generator, torch::kLong).to(learner_.device);
    for (int64_t start = 0; start + mb <= n; start += mb) {
      auto idx = perm.narrow(0, start, mb);
      SequenceBatch m = select_sequences(cols, idx);
      nn::State state0 = burn_in_state(policy, m, burn);
      auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(1, idx) : t; };
      Minibatch x{policy.unroll(part(m.obs), {part(m.prev.action), part(m.prev.reward)}, part(m.first), state0),
                  part(m.actions),
                  part(m.logprob),
                  part(m.value),
                  {rows(all.advantages), rows(all.returns), rows(all.pg_advantages), {}}};
      if (normalize_advantages_) x.targets.advantages = normalized_across_ranks(x.targets.advantages);
      PPOLoss l = loss(x);
      if (learner_.aux != nullptr) {
        ContrastiveLoss c = learner_.aux->loss(raw.obs, raw.first, learner_.generator);
        l.total = l.total + learner_.aux->options().weight * c.loss;
        l.stats["aux_loss"] = c.loss.item<double>();
        l.stats["aux_accuracy"] = c.accuracy;
      }
      const double norm = apply_gradients(learner_, l.total, o_.max_grad_norm);
      if (learner_.aux != nullptr) learner_.aux->update_target();
      for (const auto& kv : l.stats) sums[kv.first] += kv.second;
      for (const auto& kv : all.stats) sums[kv.first] += kv.second;
      sums["grad_norm"] += norm;
      ++steps;
    }
  }
  for (auto& kv : sums) kv.second /= static_cast<double>(std::max<int64_t>(1, steps));
  return sums;
}

std::vector<torch::Tensor> trained_parameters(nn::PolicyImpl& policy, ContrastiveImpl* aux) {
  std::vector<torch::Tensor> trained;
  for (const auto& p : policy.parameters())
    if (p.requires_grad()) trained.push_back(p);
  if (aux != nullptr)
    for (const auto& p : aux->trained_parameters()) trained.push_back(p);
  return trained;
}

double apply_gradients(const OnlineLearner& learner, const torch::Tensor& loss, double max_grad_norm) {
  learner.reducer.zero_grad();
  loss.backward();
  learner.reducer.average_gradients();
  const double norm =
      torch::nn::utils::clip_grad_norm_(trained_parameters(learner.policy, learner.aux), max_grad_norm);
  learner.optimizer.step();
  return norm;
}

}  // namespace mnemo::learners
