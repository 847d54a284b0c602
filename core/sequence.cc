#include "core/sequence.h"

namespace mnemo::seq {

Spec sequence_spec(const Spec& obs_spec, const ActionSpace& action_space, std::int64_t T,
                   const Spec& state_spec, const std::vector<std::string>& info_names, bool prev_inputs) {
  MNEMO_CHECK(T > 0, "sequence length must be positive, got ", T);
  auto with_time = [T](Shape s) {
    s.insert(s.begin(), T);
    return s;
  };
  Spec spec;
  for (const auto& f : obs_spec.fields) spec.fields.push_back({kObsPrefix + f.name, f.dtype, with_time(f.shape)});
  FieldSpec a = action_space.field();
  spec.fields.push_back({"action", a.dtype, with_time(a.shape)});
  spec.fields.push_back({"reward", DType::kFloat32, {T}});
  if (prev_inputs) {
    spec.fields.push_back({"prev_action", a.dtype, with_time(a.shape)});
    spec.fields.push_back({"prev_reward", DType::kFloat32, {T}});
  }
  spec.fields.push_back({"first", DType::kUInt8, {T}});
  spec.fields.push_back({"terminated", DType::kUInt8, {T}});
  spec.fields.push_back({"truncated", DType::kUInt8, {T}});
  spec.fields.push_back({"logprob", DType::kFloat32, {T}});
  spec.fields.push_back({"value", DType::kFloat32, {T}});
  spec.fields.push_back({"final_value", DType::kFloat32, {T}});
  spec.fields.push_back({"bootstrap_value", DType::kFloat32, {}});
  for (const auto& f : obs_spec.fields) spec.fields.push_back({kBootstrapObsPrefix + f.name, f.dtype, f.shape});
  spec.fields.push_back({"bootstrap_first", DType::kUInt8, {}});
  if (prev_inputs) {
    spec.fields.push_back({"bootstrap_prev_action", a.dtype, a.shape});
    spec.fields.push_back({"bootstrap_prev_reward", DType::kFloat32, {}});
  }
  spec.fields.push_back({"episode_return", DType::kFloat32, {T}});
  spec.fields.push_back({"episode_length", DType::kInt64, {T}});
  spec.fields.push_back({"version", DType::kInt64, {}});
  spec.fields.push_back({"plan", DType::kInt64, {}});
  for (const auto& name : info_names) spec.fields.push_back({kInfoPrefix + name, DType::kFloat32, {T}});
  for (std::size_t i = 0; i < state_spec.fields.size(); ++i)
    spec.fields.push_back({kStatePrefix + std::to_string(i), state_spec.fields[i].dtype, state_spec.fields[i].shape});
  return spec;
}

}  // namespace mnemo::seq
