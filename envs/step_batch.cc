// Batch construction shared by VectorEnv and EnvPool.
#include "envs/step_batch.h"

namespace mnemo::envs::detail {
namespace {

bool same_action_space(const ActionSpace& a, const ActionSpace& b) {
  return a.kind == b.kind && a.n == b.n && a.low == b.low && a.high == b.high && a.nvec == b.nvec;
}

}  // namespace

Shape batched(std::size_t n, const Shape& item) {
  Shape s{static_cast<std::int64_t>(n)};
  s.insert(s.end(), item.begin(), item.end());
  return s;
}

std::vector<std::unique_ptr<Env>> make_envs(std::size_t n, const EnvFactory& factory) {
  if (n == 0) throw ConfigError("a vector env needs at least one env (num_envs = 0)");
  MNEMO_CHECK(factory != nullptr, "vector env needs an env factory");
  std::vector<std::unique_ptr<Env>> envs;
  envs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    envs.push_back(factory(i));
    MNEMO_CHECK(envs.back() != nullptr, "env factory returned null for env ", i);
  }
  const Spec& spec = envs.front()->observation_spec();
  const ActionSpace& space = envs.front()->action_space();
  const std::vector<std::string> infos = envs.front()->info_names();
  for (std::size_t i = 1; i < n; ++i) {
    MNEMO_CHECK(envs[i]->observation_spec() == spec, "env ", i, " observes ", envs[i]->observation_spec().str(),
                " but env 0 observes ", spec.str());
    MNEMO_CHECK(same_action_space(envs[i]->action_space(), space), "env ", i, " has action space ",
                envs[i]->action_space().str(), " but env 0 has ", space.str());
    MNEMO_CHECK(envs[i]->info_names() == infos, "env ", i, " reports different infos than env 0");
  }
  return envs;
}

StepBatch make_step_batch(std::size_t rows, const Env& env) {
  const auto n = static_cast<std::int64_t>(rows);
  StepBatch b;
  b.env_id = Array::zeros(DType::kInt64, {n});
  for (std::int64_t i = 0; i < n; ++i) b.env_id.data<std::int64_t>()[i] = i;
  for (const auto& f : env.observation_spec().fields) {
    b.obs.push_back(Array::zeros(f.dtype, batched(rows, f.shape)));
    b.final_obs.push_back(Array::zeros(f.dtype, batched(rows, f.shape)));
  }
  b.reward = Array::zeros(DType::kFloat32, {n});
  b.terminated = Array::zeros(DType::kUInt8, {n});
  b.truncated = Array::zeros(DType::kUInt8, {n});
  b.first = Array::zeros(DType::kUInt8, {n});
  b.episode_return = Array::zeros(DType::kFloat32, {n});
  b.episode_length = Array::zeros(DType::kInt64, {n});
  b.infos = Array::zeros(DType::kFloat32, {n, static_cast<std::int64_t>(env.info_names().size())});
  return b;
}

std::vector<std::size_t> obs_row_bytes(const Spec& spec) {
  std::vector<std::size_t> bytes;
  for (const auto& f : spec.fields) bytes.push_back(static_cast<std::size_t>(shape_numel(f.shape)) * dtype_size(f.dtype));
  return bytes;
}

std::size_t action_bytes(const ActionSpace& space) {
  const FieldSpec field = space.field();
  return static_cast<std::size_t>(shape_numel(field.shape)) * dtype_size(field.dtype);
}

}  // namespace mnemo::envs::detail
