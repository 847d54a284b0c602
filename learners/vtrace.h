// V-trace (Espeholt et al. 2018, "IMPALA"): off-policy value targets and policy-gradient
// advantages for sequences an older policy produced. APPO (Sample Factory) puts the PPO-clipped
// surrogate on `advantages`; IMPALA's loss uses `pg_advantages` and `vs` directly.
//
// Episode ends inside a sequence follow the same rules as GAE (learners/ppo.h): a terminated step
// bootstraps with 0, a truncated one with the value of its final observation (never the next
// episode's first), and no correction flows back across either. The sequence's last step
// bootstraps from the learner's own value of the observation after it.
#pragma once

#include <torch/torch.h>

namespace mnemo::learners {

struct VTraceOptions {
  double gamma = 0.99;       // online learners take learner.ppo.gamma (not a key of learner.vtrace)
  double rho_bar = 1.0;     // clip of the importance weights in the value targets' TD errors
  double c_bar = 1.0;       // clip of the trace-cutting coefficients
  double lambda = 1.0;      // scales the traces (Retrace/TB-style lambda; 1 is the paper's V-trace)
  double pg_rho_bar = 1.0;  // clip of the importance weight of the policy-gradient advantage
  template <class V>
  void visit(V& v) {
    v("rho_bar", rho_bar, "V-trace: clip of the importance weights (rho-bar)");
    v("c_bar", c_bar, "V-trace: clip of the trace coefficients (c-bar)");
    v("lambda", lambda, "V-trace: trace scaling lambda (1 = IMPALA)");
    v("pg_rho_bar", pg_rho_bar, "V-trace: clip of the policy-gradient importance weight");
  }
  // ConfigError naming the key: gamma in [0, 1], lambda in [0, 1], clips > 0.
  void validate() const;
};

// Time-major [T, B] inputs (the bootstrap [B]).
struct VTraceInputs {
  torch::Tensor log_rhos;      // log pi(a_t | x_t) - log mu(a_t | x_t): target minus behaviour
  torch::Tensor rewards;       // r_t
  torch::Tensor values;        // the learner's V(x_t)
  torch::Tensor final_values;  // the learner's V of the final observation where truncated (else ignored)
  torch::Tensor terminated;    // bool or 0/1
  torch::Tensor truncated;     // bool or 0/1
  torch::Tensor bootstrap;     // [B]: the learner's V(x_T), the observation after the last step
};

inline constexpr double kRhoClipTolerance = 1e-3;

struct VTraceOutput {
  torch::Tensor vs;                // [T, B] value targets v_t
  torch::Tensor advantages;        // [T, B] r_t + gamma * v_{t+1} - V(x_t), v_{t+1} by the episode rules
  torch::Tensor pg_advantages;     // [T, B] min(pg_rho_bar, rho_t) * advantages (IMPALA)
  double rho_clipped_fraction = 0;  // share of steps with rho_t > rho_bar (1 + kRhoClipTolerance)
};

// Computed without gradients (targets, not a graph): v_t = V(x_t) + delta_t +
// gamma * c_t * (v_{t+1} - V(x_{t+1})), delta_t = min(rho_bar, rho_t) (r_t + gamma V(x_{t+1}) -
// V(x_t)), c_t = lambda min(c_bar, rho_t). Throws mnemo::Error for inputs of mismatched shapes.
VTraceOutput vtrace(const VTraceOptions& options, const VTraceInputs& in);

}  // namespace mnemo::learners
