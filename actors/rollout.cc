// The rollout toolkit. See rollout.h.
#include "actors/rollout.h"

#include "core/check.h"
#include "core/models/tensor.h"

namespace mnemo::actors {

PolicyStepper::PolicyStepper(std::shared_ptr<nn::PolicyImpl> policy, ActionSpace space, std::int64_t num_envs)
    : policy_(std::move(policy)),
      space_(std::move(space)),
      num_envs_(num_envs),
      reads_prev_(policy_->reads_prev()),
      state_(policy_->initial_state(num_envs)),
      prev_(reads_prev_ ? nn::none_prev(space_, num_envs) : nn::PrevInputs{}) {}

nn::PolicyOutput PolicyStepper::forward(const std::vector<torch::Tensor>& obs) const {
  return policy_->step(nn::flatten_obs(obs, 1), prev_, state_);
}

void PolicyStepper::commit(const torch::Tensor& action, nn::State state) {
  state_ = std::move(state);
  if (reads_prev_) last_action_ = action;
}

torch::Tensor PolicyStepper::final_value(const std::vector<torch::Tensor>& final_obs,
                                         const torch::Tensor& reward) const {
  const nn::PrevInputs final_prev =
      reads_prev_ ? nn::next_prev(space_, last_action_, reward, torch::zeros({num_envs_}, torch::kUInt8))
                  : nn::PrevInputs{};
  return policy_->step(nn::flatten_obs(final_obs, 1), final_prev, state_).value;
}

void PolicyStepper::observe(const torch::Tensor& reward, const torch::Tensor& first) {
  torch::InferenceMode guard;  // state and prev are inference tensors: keep them out of autograd
  // The reward in the rows that start an episode is the ended episode's; next_prev ignores it.
  if (reads_prev_) prev_ = nn::next_prev(space_, last_action_, reward, first);
  if (state_.empty() || !first.any().item<bool>()) return;
  // Recurrent state restarts with each new episode.
  const torch::Tensor mask = first.to(torch::kBool);
  nn::State fresh = policy_->initial_state(num_envs_);
  for (std::size_t s = 0; s < state_.size(); ++s) {
    std::vector<int64_t> shape(static_cast<std::size_t>(state_[s].dim()), 1);
    shape[0] = num_envs_;
    state_[s] = torch::where(mask.view(shape), fresh[s], state_[s]);
  }
}

PolicyRunner::PolicyRunner(std::shared_ptr<nn::PolicyImpl> policy, ActionSpace space, std::int64_t num_envs,
                           bool stochastic, at::Generator generator)
    : stepper_(std::move(policy), std::move(space), num_envs),
      stochastic_(stochastic),
      generator_(std::move(generator)) {}

Array PolicyRunner::act(const envs::StepBatch& batch) {
  MNEMO_CHECK(batch.size() == stepper_.num_envs(), "batch of ", batch.size(), " rows for a runner of ",
              stepper_.num_envs(), " envs");
  torch::InferenceMode guard;
  // The reset batch starts every episode, which the fresh stepper already stands for.
  if (acted_) stepper_.observe(to_tensor(batch.reward), to_tensor(batch.first));
  std::vector<torch::Tensor> obs;
  for (const auto& f : batch.obs) obs.push_back(to_tensor(f));
  nn::PolicyOutput out = stepper_.forward(obs);
  nn::ActionDist dist(stepper_.space(), out.params, stepper_.policy().log_std());
  const torch::Tensor action = stochastic_ ? dist.sample(generator_) : dist.mode();
  stepper_.commit(action, std::move(out.state));
  acted_ = true;
  return to_array(action.contiguous());
}

EpisodeQuotas::EpisodeQuotas(std::int64_t episodes, std::int64_t envs)
    : quota_(static_cast<std::size_t>(envs)), finished_(static_cast<std::size_t>(envs), 0) {
  MNEMO_CHECK(episodes > 0 && envs > 0 && envs <= episodes, episodes, " episodes over ", envs,
              " envs (every env plays at least one)");
  for (std::int64_t i = 0; i < envs; ++i) quota_[static_cast<std::size_t>(i)] = episodes / envs + (i < episodes % envs);
  total_ = remaining_ = episodes;
}

void EpisodeQuotas::count(std::int64_t env) {
  MNEMO_CHECK(recording(env), "env ", env, " has already played its ", quota(env), " episodes");
  ++finished_[static_cast<std::size_t>(env)];
  --remaining_;
}

void run_episodes(envs::EnvPool& pool, const envs::StepBatch* batch, EpisodeQuotas& quotas,
                  const std::function<Array(const envs::StepBatch&)>& act, const EpisodeHooks& hooks) {
  MNEMO_CHECK(!pool.is_async() && static_cast<std::int64_t>(pool.num_envs()) == quotas.envs(),
              "run_episodes needs a synchronous pool of ", quotas.envs(), " envs");
  const std::int64_t n = quotas.envs();
  while (quotas.remaining() > 0) {
    const Array actions = act(*batch);
    if (hooks.acted) hooks.acted(*batch, actions);
    batch = &pool.step(actions);
    if (hooks.stepped) hooks.stepped(*batch);
    const std::uint8_t* term = batch->terminated.data<std::uint8_t>();
    const std::uint8_t* trunc = batch->truncated.data<std::uint8_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      if ((term[i] == 0 && trunc[i] == 0) || !quotas.recording(i)) continue;
      if (hooks.episode) hooks.episode(i, *batch);
      quotas.count(i);
    }
    if (hooks.progress) hooks.progress(quotas);
  }
}

}  // namespace mnemo::actors
