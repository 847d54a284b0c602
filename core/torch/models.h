// Policies: the model interface that actors and learners share, and the models behind it.
//
// A Policy maps observations to action-distribution parameters and a value. It is written for
// recurrent models from the start: step() advances one time step for a batch of envs and carries
// a State (a list of tensors, each [B, ...], empty for memoryless models); unroll() runs a whole
// [T, B] sequence from a stored initial state, resetting the state of env b at time t where
// first[t, b] is set. Actors call step() under inference mode; learners train through unroll().
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/array.h"

namespace mnemo::nn {

// Options of the `model:` config section.
struct ModelOptions {
  std::string type = "mlp";
  std::vector<std::int64_t> hidden = {64, 64};
  std::string activation = "tanh";
  double init_log_std = 0.0;
  template <class V>
  void visit(V& v) {
    v("type", type, "policy model: mlp");
    v("hidden", hidden, "hidden layer sizes of the MLP torsos");
    v("activation", activation, "tanh or relu");
    v("init_log_std", init_log_std, "initial log std of Gaussian heads (continuous actions)");
  }
};

using State = std::vector<torch::Tensor>;

struct PolicyOutput {
  torch::Tensor params;  // categorical logits [.., A] or Gaussian mean [.., D]
  torch::Tensor value;   // [..]
  State state;           // state after the last step
};

class PolicyImpl : public torch::nn::Module {
 public:
  // State for a batch of fresh episodes.
  virtual State initial_state(int64_t batch) = 0;
  // obs [B, obs_dim] float32 -> params [B, A], value [B].
  virtual PolicyOutput step(const torch::Tensor& obs, const State& state) = 0;
  // obs [T, B, obs_dim], first [T, B] (bool/uint8) -> params [T, B, A], value [T, B].
  virtual PolicyOutput unroll(const torch::Tensor& obs, const torch::Tensor& first, const State& state0) = 0;
  // Log std of a Gaussian head (undefined for discrete actions).
  virtual torch::Tensor log_std() { return {}; }
};
TORCH_MODULE(Policy);

// Memoryless actor-critic with separate MLP torsos (CleanRL's PPO layout, orthogonal init).
class MlpPolicyImpl : public PolicyImpl {
 public:
  MlpPolicyImpl(const ModelOptions& options, int64_t obs_dim, const ActionSpace& action_space);
  State initial_state(int64_t) override { return {}; }
  PolicyOutput step(const torch::Tensor& obs, const State& state) override;
  PolicyOutput unroll(const torch::Tensor& obs, const torch::Tensor& first, const State& state0) override;
  torch::Tensor log_std() override { return log_std_; }

 private:
  torch::nn::Sequential actor_{nullptr}, critic_{nullptr};
  torch::Tensor log_std_;
};

// Builds the policy the options name; throws ConfigError on unknown types.
std::shared_ptr<PolicyImpl> make_policy(const ModelOptions& options, int64_t obs_dim, const ActionSpace& action_space);

// The action distribution of a policy head: categorical for discrete spaces, diagonal Gaussian
// for boxes. Sampling takes an explicit generator so that concurrent actor and learner threads
// stay reproducible.
class ActionDist {
 public:
  ActionDist(const ActionSpace& space, torch::Tensor params, torch::Tensor log_std);
  torch::Tensor sample(at::Generator& gen) const;  // [..] int64 or [.., D] float
  torch::Tensor mode() const;
  torch::Tensor log_prob(const torch::Tensor& actions) const;  // [..]
  torch::Tensor entropy() const;                               // [..]

 private:
  bool discrete_;
  torch::Tensor params_;   // logits or mean
  torch::Tensor log_std_;  // Gaussian only, broadcast to params_
};

// Parameters as one flat float32 vector (publishing to actors) and back.
Array flatten_parameters(torch::nn::Module& m);
void load_flat_parameters(torch::nn::Module& m, const Array& flat);
int64_t count_parameters(torch::nn::Module& m);

at::Generator make_generator(uint64_t seed);

// Observation fields flattened into one float32 feature vector per step: the policy input size
// for a spec, and the concatenation of field tensors [lead..., ...field] -> [lead..., obs_dim].
int64_t obs_dim(const Spec& obs_spec);
torch::Tensor flatten_obs(const std::vector<torch::Tensor>& fields, int64_t lead_dims);

}  // namespace mnemo::nn
