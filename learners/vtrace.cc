// V-trace. See vtrace.h.
#include "learners/vtrace.h"

#include "core/check.h"

namespace mnemo::learners {

void VTraceOptions::validate() const {
  auto in_unit = [](double x) { return x >= 0 && x <= 1; };
  if (!in_unit(gamma)) throw ConfigError("learner.vtrace.gamma must be in [0, 1], got " + std::to_string(gamma));
  if (!in_unit(lambda)) throw ConfigError("learner.vtrace.lambda must be in [0, 1], got " + std::to_string(lambda));
  if (!(rho_bar > 0)) throw ConfigError("learner.vtrace.rho_bar must be > 0, got " + std::to_string(rho_bar));
  if (!(c_bar > 0)) throw ConfigError("learner.vtrace.c_bar must be > 0, got " + std::to_string(c_bar));
  if (!(pg_rho_bar > 0))
    throw ConfigError("learner.vtrace.pg_rho_bar must be > 0, got " + std::to_string(pg_rho_bar));
}

VTraceOutput vtrace(const VTraceOptions& o, const VTraceInputs& in) {
  torch::NoGradGuard no_grad;
  const auto shape = in.rewards.sizes();
  MNEMO_CHECK(in.rewards.dim() == 2, "V-trace rewards must be [T, B], got ", in.rewards.sizes());
  for (const torch::Tensor* t : {&in.log_rhos, &in.values, &in.final_values, &in.terminated, &in.truncated})
    MNEMO_CHECK(t->sizes() == shape, "V-trace inputs must all be [T, B] = ", shape, ", got ", t->sizes());
  MNEMO_CHECK(in.bootstrap.dim() == 1 && in.bootstrap.size(0) == shape[1], "V-trace bootstrap must be [B] = [",
              shape[1], "], got ", in.bootstrap.sizes());
  const int64_t T = shape[0];
  const auto rewards = in.rewards.to(torch::kFloat32);
  const auto values = in.values.to(torch::kFloat32);
  const auto final_values = in.final_values.to(torch::kFloat32);
  const auto term = in.terminated.to(torch::kFloat32);
  const auto trunc = in.truncated.to(torch::kFloat32) * (1 - term);  // envs never set both; terminal wins
  const auto ended = term + trunc;
  const auto rhos = in.log_rhos.to(torch::kFloat32).exp();
  const auto clipped_rhos = torch::clamp_max(rhos, o.rho_bar);
  const auto cs = o.lambda * torch::clamp_max(rhos, o.c_bar);
  const auto bootstrap = in.bootstrap.to(torch::kFloat32);

  // The value each step's TD error bootstraps from: 0 after a terminal step, the final
  // observation's after a truncated one, else the next step's (the bootstrap after the last).
  auto next_of = [&](const torch::Tensor& following, int64_t t) {
    return (1 - ended[t]) * following + trunc[t] * final_values[t];
  };
  auto acc = torch::zeros_like(bootstrap);
  auto vs = torch::empty_like(values);
  for (int64_t t = T - 1; t >= 0; --t) {
    const auto next_value = next_of(t == T - 1 ? bootstrap : values[t + 1], t);
    const auto delta = clipped_rhos[t] * (rewards[t] + o.gamma * next_value - values[t]);
    acc = delta + o.gamma * (1 - ended[t]) * cs[t] * acc;
    vs[t] = values[t] + acc;
  }
  auto advantages = torch::empty_like(values);
  for (int64_t t = 0; t < T; ++t) {
    const auto next_vs = next_of(t == T - 1 ? bootstrap : vs[t + 1], t);
    advantages[t] = rewards[t] + o.gamma * next_vs - values[t];
  }
  VTraceOutput out;
  out.vs = vs;
  out.pg_advantages = torch::clamp_max(rhos, o.pg_rho_bar) * advantages;
  out.advantages = std::move(advantages);
  // Not counting rounding: an actor's step() and the learner's unroll() of the same policy differ
  // in the last bits, which would make about half the steps of on-policy data "clipped".
  out.rho_clipped_fraction = static_cast<double>((rhos > o.rho_bar * (1 + kRhoClipTolerance)).sum().item<int64_t>()) /
                             static_cast<double>(rhos.numel());
  return out;
}

}  // namespace mnemo::learners
