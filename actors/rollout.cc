// The rollout toolkit. See rollout.h.
#include "actors/rollout.h"

#include <cstring>

#include "core/check.h"
#include "core/models/tensor.h"
#include "core/runlog/checkpoint.h"

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

namespace {

void put_tensor(StateFile& s, const std::string& key, const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous().cpu();
  s.set(key + "/dtype", static_cast<std::int64_t>(c.scalar_type()));
  std::string shape;
  for (std::int64_t d : c.sizes()) shape += std::to_string(d) + ",";
  s.set(key + "/shape", shape);
  s.set(key + "/data", std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.nbytes())));
}

// The tensor saved under `key`, which must have `like`'s dtype and shape when `like` is defined.
torch::Tensor get_tensor(const StateFile& s, const std::string& key, const torch::Tensor& like) {
  const auto dtype = static_cast<c10::ScalarType>(s.get_int(key + "/dtype"));
  std::vector<std::int64_t> shape;
  const std::string& text = s.get_string(key + "/shape");
  for (std::size_t at = 0; at < text.size();) {
    const auto comma = text.find(',', at);
    MNEMO_CHECK(comma != std::string::npos, "stepper state: bad shape of ", key);
    shape.push_back(std::stoll(text.substr(at, comma - at)));
    at = comma + 1;
  }
  MNEMO_CHECK(dtype == c10::ScalarType::Float || dtype == c10::ScalarType::Long || dtype == c10::ScalarType::Byte,
              "stepper state: ", key, " has an unexpected dtype");
  if (like.defined() && (like.scalar_type() != dtype || like.sizes() != c10::IntArrayRef(shape)))
    throw Error("stepper state: " + key + " was saved with another shape or dtype than this policy's");
  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  const std::string& data = s.get_string(key + "/data");
  MNEMO_CHECK(data.size() == static_cast<std::size_t>(t.nbytes()), "stepper state: ", key, " has ", data.size(),
              " bytes for ", t.nbytes());
  std::memcpy(t.data_ptr(), data.data(), data.size());
  return t;
}

}  // namespace

std::string PolicyStepper::save() const {
  StateFile s;
  s.set("envs", num_envs_);
  s.set("states", static_cast<std::int64_t>(state_.size()));
  for (std::size_t i = 0; i < state_.size(); ++i) put_tensor(s, "state" + std::to_string(i), state_[i]);
  if (reads_prev_) {
    put_tensor(s, "prev_action", prev_.action);
    put_tensor(s, "prev_reward", prev_.reward);
    if (last_action_.defined()) put_tensor(s, "last_action", last_action_);
  }
  return s.serialize();
}

void PolicyStepper::load(const std::string& bytes) {
  const StateFile s = StateFile::parse(bytes);
  if (s.get_int("envs") != num_envs_ || s.get_int("states") != static_cast<std::int64_t>(state_.size()))
    throw Error("stepper state: saved for " + std::to_string(s.get_int("envs")) + " envs and " +
                std::to_string(s.get_int("states")) + " state tensors; this policy has " + std::to_string(num_envs_) +
                " and " + std::to_string(state_.size()));
  torch::InferenceMode guard;
  nn::State state;
  for (std::size_t i = 0; i < state_.size(); ++i) state.push_back(get_tensor(s, "state" + std::to_string(i), state_[i]));
  if (reads_prev_) {
    prev_ = nn::PrevInputs{get_tensor(s, "prev_action", prev_.action), get_tensor(s, "prev_reward", prev_.reward)};
    if (s.has("last_action/data")) last_action_ = get_tensor(s, "last_action", torch::Tensor());
  }
  state_ = std::move(state);
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
