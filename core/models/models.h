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

// Options of the `model:` config section. The memory models (lstm, gtrxl, agalite, galite) are
// described, with their state layouts and deviations from the papers, in docs/models.md.
struct ModelOptions {
  std::string type = "mlp";
  std::vector<std::int64_t> hidden = {64, 64};
  std::string activation = "tanh";
  double init_log_std = 0.0;
  std::int64_t layers = 2;
  std::int64_t d_model = 64;
  std::int64_t heads = 2;
  std::int64_t d_head = 0;
  std::int64_t d_ff = 0;
  std::int64_t eta = 4;
  std::int64_t r = 2;
  std::int64_t memory = 64;
  double gate_bias = 2.0;
  std::string encoder = "auto";
  std::vector<std::int64_t> encoder_hidden = {64};
  std::int64_t cnn_features = 256;
  std::vector<std::int64_t> impala_channels = {16, 32, 32};
  bool prev_action = false;
  bool prev_reward = false;
  std::string encoder_init;
  bool freeze_encoder = false;
  template <class V>
  void visit(V& v) {
    v("type", type, "policy model: mlp, lstm, gtrxl, agalite or galite");
    v("hidden", hidden, "hidden layer sizes of the MLP torsos (type mlp, vector observations)");
    v("activation", activation, "tanh or relu (MLP torsos and the MLP encoder)");
    v("init_log_std", init_log_std, "initial log std of Gaussian heads (continuous actions)");
    v("layers", layers, "number of LSTM or transformer layers");
    v("d_model", d_model, "width of the memory core: LSTM hidden size or transformer model dimension");
    v("heads", heads, "attention heads (gtrxl, agalite, galite)");
    v("d_head", d_head, "dimension per attention head (0: d_model / heads)");
    v("d_ff", d_ff, "hidden width of the transformer feed-forward blocks (0: d_model)");
    v("eta", eta, "feature-map expansion eta of agalite/galite: keys and queries get eta * d_head features");
    v("r", r, "oscillators of the agalite approximation (state grows linearly in r)");
    v("memory", memory, "gtrxl memory length M: past layer inputs each step attends to");
    v("gate_bias", gate_bias, "GRU-gate bias b_g of gtrxl/agalite/galite (> 0 starts near the identity map)");
    v("encoder", encoder, "auto (mlp for vectors, nature for uint8 HWC images), mlp, nature or impala");
    v("encoder_hidden", encoder_hidden, "layer sizes of the MLP encoder in front of memory models (empty: raw obs)");
    v("cnn_features", cnn_features, "output size of the fully connected layer after the nature/impala convolutions");
    v("impala_channels", impala_channels, "channels of the IMPALA CNN stacks (conv, pool, 2 residual blocks each)");
    v("prev_action", prev_action,
      "feed the previous action (one-hot for discrete actions) to the policy next to the encoded observation");
    v("prev_reward", prev_reward, "feed the previous reward to the policy next to the encoded observation");
    v("encoder_init", encoder_init,
      "start the observation encoder from this encoder.safetensors (mnemo pretrain-encoder output; learners only)");
    v("freeze_encoder", freeze_encoder, "keep the observation encoder's parameters fixed during training");
  }
};

using State = std::vector<torch::Tensor>;
class EncoderImpl;

struct PolicyOutput {
  torch::Tensor params;  // categorical logits [.., A] or Gaussian mean [.., D]
  torch::Tensor value;   // [..]
  State state;           // state after the last step
};

// The previous action and reward a policy may read next to each observation (model.prev_action,
// model.prev_reward; IMPALA and R2D2 feed them to their LSTMs). Discrete actions are int64 [B]
// and enter one-hot, with -1 meaning "no previous action" (all zeros); continuous ones are float
// [B, D] (zeros: none); rewards are float [B]. At an episode start there is no previous action or reward:
// none_prev() gives that, next_prev() the inputs of the step after an env step.
struct PrevInputs {
  torch::Tensor action;  // [B] int64 (-1: none) or [B, D] float32
  torch::Tensor reward;  // [B] float32
};
PrevInputs none_prev(const ActionSpace& space, int64_t batch, torch::Device device = torch::kCPU);
// The inputs for the observations an env step returned: its action and reward, or none in the
// rows where `first` is set (the env was reset, the observation starts a new episode).
PrevInputs next_prev(const ActionSpace& space, const torch::Tensor& action, const torch::Tensor& reward,
                     const torch::Tensor& first);

class PolicyImpl : public torch::nn::Module {
 public:
  // State for a batch of fresh episodes.
  virtual State initial_state(int64_t batch) = 0;
  // obs [B, obs_dim] float32, prev [B] / [B, D] -> params [B, A], value [B]. The caller resets
  // state rows and passes none_prev() rows at episode starts. The prev tensors may be undefined
  // when the model reads neither (model.prev_action and model.prev_reward off).
  virtual PolicyOutput step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) = 0;
  PolicyOutput step(const torch::Tensor& obs, const State& state) { return step(obs, PrevInputs{}, state); }
  // obs [T, B, obs_dim], prev [T, B] / [T, B, D], first [T, B] (bool/uint8) -> params [T, B, A],
  // value [T, B]. Where first[t, b] is set, the state and the prev inputs of env b are reset.
  virtual PolicyOutput unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                              const State& state0) = 0;
  PolicyOutput unroll(const torch::Tensor& obs, const torch::Tensor& first, const State& state0) {
    return unroll(obs, PrevInputs{}, first, state0);
  }
  // Log std of a Gaussian head (undefined for discrete actions).
  virtual torch::Tensor log_std() { return {}; }
  // Whether step/unroll read prev inputs (model.prev_action or model.prev_reward).
  virtual bool reads_prev() const = 0;
  // The observation encoder in front of the policy (core/models/encoders.h), or null when the
  // policy has none (the mlp type on vector observations).
  virtual EncoderImpl* encoder() { return nullptr; }
};
TORCH_MODULE(Policy);

// Turns PrevInputs into the features a policy appends to its encoded observation: the previous
// action (one-hot for discrete spaces, raw for boxes) when model.prev_action is on, the previous
// reward when model.prev_reward is on, nothing when both are off. Parameter-free; checks shapes
// and names the model and method in its errors.
class PrevInputEncoder {
 public:
  PrevInputEncoder(const ModelOptions& options, const ActionSpace& space);
  int64_t dim() const { return dim_; }
  // x [lead..., F] -> [lead..., F + dim()]: x with the prev features appended, zeroed in the
  // rows where `first` ([lead...] bool, may be undefined) is set. `where` prefixes errors.
  torch::Tensor append(const torch::Tensor& x, const PrevInputs& prev, const torch::Tensor& first,
                       const std::string& where) const;
  // Throws mnemo::Error unless the inputs the model reads are defined with leading dims `lead`.
  void check(const PrevInputs& prev, const std::vector<int64_t>& lead, const std::string& where) const;

 private:
  bool use_action_, use_reward_;
  bool discrete_;
  int64_t action_dim_;  // one-hot width or box dimension
  int64_t dim_;
};

// Memoryless actor-critic with separate MLP torsos (CleanRL's PPO layout, orthogonal init); the
// prev inputs, when on, join the observation at the torsos' input.
class MlpPolicyImpl : public PolicyImpl {
 public:
  MlpPolicyImpl(const ModelOptions& options, int64_t obs_dim, const ActionSpace& action_space);
  using PolicyImpl::step;
  using PolicyImpl::unroll;
  State initial_state(int64_t) override { return {}; }
  PolicyOutput step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) override;
  PolicyOutput unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                      const State& state0) override;
  torch::Tensor log_std() override { return log_std_; }
  bool reads_prev() const override { return prev_.dim() > 0; }

 private:
  int64_t obs_dim_;
  PrevInputEncoder prev_;
  torch::nn::Sequential actor_{nullptr}, critic_{nullptr};
  torch::Tensor log_std_;
};

// Builds the policy the options name; throws ConfigError on unknown types and bad options. The
// obs_spec overload picks the encoder from the spec: a single uint8 field of rank 3 is an HWC
// image (the policy still receives it flattened to floats 0..255 by flatten_obs and reshapes it
// inside its encoder); anything else is a feature vector of obs_dim(spec) values. The obs_dim
// overload means a vector observation of that size.
std::shared_ptr<PolicyImpl> make_policy(const ModelOptions& options, int64_t obs_dim, const ActionSpace& action_space);
std::shared_ptr<PolicyImpl> make_policy(const ModelOptions& options, const Spec& obs_spec,
                                        const ActionSpace& action_space);

// The action distribution of a policy head: categorical for discrete spaces, diagonal Gaussian
// for boxes, and for multi-discrete spaces independent categoricals, one per component, whose
// logits are consecutive slices of the head's outputs (sum(nvec) of them; log-probabilities and
// entropies add up over the components). Sampling takes an explicit generator so that concurrent
// actor and learner threads stay reproducible.
class ActionDist {
 public:
  ActionDist(const ActionSpace& space, torch::Tensor params, torch::Tensor log_std);
  torch::Tensor sample(at::Generator& gen) const;  // [..] int64, [.., D] float or [.., K] int64
  torch::Tensor mode() const;
  torch::Tensor log_prob(const torch::Tensor& actions) const;  // [..]
  torch::Tensor entropy() const;                               // [..]

 private:
  static torch::Tensor sample_categorical(const torch::Tensor& log_probs, at::Generator& gen);

  ActionSpace::Kind kind_;
  torch::Tensor params_;               // logits (normalised per component) or mean
  torch::Tensor log_std_;              // Gaussian only, broadcast to params_
  std::vector<torch::Tensor> blocks_;  // multi-discrete: each component's normalised logits
};

// Parameters as one flat float32 vector (publishing to actors) and back.
Array flatten_parameters(torch::nn::Module& m);
void load_flat_parameters(torch::nn::Module& m, const Array& flat);
int64_t count_parameters(torch::nn::Module& m);
// Outputs of a policy head for the action space (logits or Gaussian means); ConfigError for
// spaces the heads do not support yet.
int64_t action_head_size(const ActionSpace& space);

// A trainer's model and optimizer as model.pt and optimizer.pt in a checkpoint directory, and
// back with every tensor placed on `device` (the checkpoint may come from another device).
void save_model_and_optimizer(const std::string& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer);
void load_model_and_optimizer(const std::string& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                              torch::Device device);

at::Generator make_generator(uint64_t seed);
// A CPU generator's state as bytes (for checkpoints) and back.
std::string generator_state(at::Generator& gen);
void set_generator_state(at::Generator& gen, const std::string& bytes);

// Observation fields flattened into one float32 feature vector per step: the policy input size
// for a spec, and the concatenation of field tensors [lead..., ...field] -> [lead..., obs_dim].
int64_t obs_dim(const Spec& obs_spec);
torch::Tensor flatten_obs(const std::vector<torch::Tensor>& fields, int64_t lead_dims);

}  // namespace mnemo::nn
