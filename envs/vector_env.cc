// VectorEnv: batch buffers are sized once from the first env's spec; step validates the whole
// action batch up front so a bad row never leaves the pool half-stepped.
#include "envs/vector_env.h"

#include <cstring>
#include <sstream>

namespace mnemo::envs {

VectorEnv::VectorEnv(std::size_t num_envs, const EnvFactory& factory)
    : envs_(detail::make_envs(num_envs, factory)) {
  const std::size_t n = num_envs;
  info_names_ = envs_.front()->info_names();
  batch_ = detail::make_step_batch(n, *envs_.front());
  obs_row_bytes_ = detail::obs_row_bytes(envs_.front()->observation_spec());
  slots_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<void*> ptrs;
    for (std::size_t f = 0; f < batch_.obs.size(); ++f)
      ptrs.push_back(static_cast<char*>(batch_.obs[f].raw()) + i * obs_row_bytes_[f]);
    slots_[i] = ObsSlot(std::move(ptrs));
  }
  action_row_bytes_ = detail::action_bytes(action_space());
  seeds_.assign(n, SeedStream());
  running_return_.assign(n, 0.0);
  running_length_.assign(n, 0);
}

const StepBatch& VectorEnv::reset(std::uint64_t base_seed) {
  const std::size_t num_infos = info_names_.size();
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    seeds_[i] = SeedStream(base_seed, i);
    envs_[i]->reset(seeds_[i].next(), slots_[i]);
    if (num_infos > 0) envs_[i]->infos(batch_.infos.data<float>() + i * num_infos);
    running_return_[i] = 0.0;
    running_length_[i] = 0;
  }
  std::memset(batch_.reward.raw(), 0, batch_.reward.nbytes());
  std::memset(batch_.terminated.raw(), 0, batch_.terminated.nbytes());
  std::memset(batch_.truncated.raw(), 0, batch_.truncated.nbytes());
  std::memset(batch_.first.raw(), 1, batch_.first.nbytes());
  started_ = true;
  return batch_;
}

void VectorEnv::check_actions(const Array& actions) const {
  const FieldSpec field = action_space().field();
  const Shape expected = detail::batched(envs_.size(), field.shape);
  if (actions.dtype() != field.dtype || actions.shape() != expected) {
    std::ostringstream os;
    os << "actions must be " << dtype_name(field.dtype) << shape_str(expected) << " for " << envs_.size()
       << " envs with action space " << action_space().str() << ", got " << dtype_name(actions.dtype())
       << shape_str(actions.shape());
    throw Error(os.str());
  }
  const char* base = static_cast<const char*>(actions.raw());
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    try {
      validate_action(base + i * action_row_bytes_, action_space());
    } catch (const Error& e) {
      throw Error("env " + std::to_string(i) + ": " + e.what());
    }
  }
}

void VectorEnv::copy_obs_row(std::size_t i, std::vector<Array>& to) const {
  for (std::size_t f = 0; f < to.size(); ++f) {
    const std::size_t row = obs_row_bytes_[f];
    std::memcpy(static_cast<char*>(to[f].raw()) + i * row, static_cast<const char*>(batch_.obs[f].raw()) + i * row,
                row);
  }
}

const StepBatch& VectorEnv::step(const Array& actions) {
  if (!started_) throw Error("vector env: step called before reset");
  check_actions(actions);
  const char* action_base = static_cast<const char*>(actions.raw());
  const std::size_t num_infos = info_names_.size();
  float* reward = batch_.reward.data<float>();
  std::uint8_t* terminated = batch_.terminated.data<std::uint8_t>();
  std::uint8_t* truncated = batch_.truncated.data<std::uint8_t>();
  std::uint8_t* first = batch_.first.data<std::uint8_t>();
  float* episode_return = batch_.episode_return.data<float>();
  std::int64_t* episode_length = batch_.episode_length.data<std::int64_t>();
  float* infos = num_infos > 0 ? batch_.infos.data<float>() : nullptr;

  for (std::size_t i = 0; i < envs_.size(); ++i) {
    const StepResult r = envs_[i]->step(action_base + i * action_row_bytes_, slots_[i]);
    reward[i] = r.reward;
    terminated[i] = r.terminated ? 1 : 0;
    truncated[i] = r.truncated ? 1 : 0;
    // Infos describe the transition (for example success of the ended episode), so they are read
    // before an auto-reset would overwrite the env's state.
    if (infos != nullptr) envs_[i]->infos(infos + i * num_infos);
    running_return_[i] += r.reward;
    running_length_[i] += 1;
    if (r.terminated || r.truncated) {
      episode_return[i] = static_cast<float>(running_return_[i]);
      episode_length[i] = running_length_[i];
      running_return_[i] = 0.0;
      running_length_[i] = 0;
      copy_obs_row(i, batch_.final_obs);
      envs_[i]->reset(seeds_[i].next(), slots_[i]);
      first[i] = 1;
    } else {
      first[i] = 0;
    }
  }
  return batch_;
}

}  // namespace mnemo::envs
