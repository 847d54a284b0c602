// The two ends every policy shares: observation encoders in front, actor-critic heads behind,
// and the scaffold of the memory policies (encoder -> memory core -> heads) with the shape checks
// that turn a wrong observation or state into a clear mnemo::Error.
//
// Observations arrive as the flat float tensor nn::flatten_obs produces. Pixel observations (a
// single uint8 HWC field) therefore arrive as floats 0..255 and the CNN encoders reshape them
// with the spec and scale them by 1/255 themselves: images stay uint8 on the wire and in replay.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/models/models.h"

namespace mnemo::nn {

// The image geometry of an observation spec, or nullopt for a feature vector. An observation is
// an image when its spec has exactly one field and that field is uint8 of rank 3 (H, W, C).
struct ImageShape {
  int64_t height = 0, width = 0, channels = 0;
};
std::optional<ImageShape> image_shape(const Spec& obs_spec);

// An observation encoder: [N, obs_dim] float -> [N, out_dim()] features. A base class rather
// than a single module so that policies can hold any of the encoders behind one pointer.
class EncoderImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& obs) = 0;
  virtual int64_t out_dim() const = 0;
};

struct MlpEncoderOptions {
  explicit MlpEncoderOptions(int64_t in_dim) : in_dim_(in_dim) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(std::vector<int64_t>, hidden) = {64};
  TORCH_ARG(std::string, activation) = "tanh";
  // Multiplies the input first: 1/255 when an image goes through the MLP encoder.
  TORCH_ARG(double, scale) = 1.0;
};

// Fully connected layers with an activation after each; no layers is the identity, so memory
// cores can read raw features.
class MlpEncoderImpl : public EncoderImpl {
 public:
  explicit MlpEncoderImpl(const MlpEncoderOptions& options);
  torch::Tensor forward(const torch::Tensor& obs) override;
  int64_t out_dim() const override { return out_dim_; }

 private:
  MlpEncoderOptions options_;
  torch::nn::Sequential layers_{nullptr};
  int64_t out_dim_;
};

struct CnnEncoderOptions {
  explicit CnnEncoderOptions(ImageShape image) : image_(image) {}
  TORCH_ARG(ImageShape, image);
  // Size of the fully connected layer after the convolutions (the encoder's output).
  TORCH_ARG(int64_t, features) = 256;
  // IMPALA only: channels of each conv + max-pool + 2 residual blocks stack.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>({16, 32, 32});
};

// The DQN Nature CNN (Mnih et al. 2015): 8x8/4 32, 4x4/2 64, 3x3/1 64, then a fully connected
// layer, ReLU throughout, orthogonal init as in CleanRL. Needs images of at least 36x36.
class NatureCnnImpl : public EncoderImpl {
 public:
  explicit NatureCnnImpl(const CnnEncoderOptions& options);
  torch::Tensor forward(const torch::Tensor& obs) override;
  int64_t out_dim() const override { return options_.features(); }

 private:
  CnnEncoderOptions options_;
  torch::nn::Sequential convs_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// The IMPALA ResNet encoder (Espeholt et al. 2018): per stack a 3x3 conv, a 3x3/2 max-pool and
// two residual blocks, then ReLU and a fully connected layer. Works on any image size.
class ImpalaCnnImpl : public EncoderImpl {
 public:
  explicit ImpalaCnnImpl(const CnnEncoderOptions& options);
  torch::Tensor forward(const torch::Tensor& obs) override;
  int64_t out_dim() const override { return options_.features(); }

 private:
  CnnEncoderOptions options_;
  torch::nn::Sequential stacks_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// The encoder that ModelOptions::encoder names for this spec ("auto": nature for images, mlp for
// vectors). Throws ConfigError for an unknown name or a CNN asked of a non-image spec.
std::shared_ptr<EncoderImpl> make_encoder(const ModelOptions& options, const Spec& obs_spec);
// The encoder type make_encoder builds for the spec, "auto" resolved: mlp, nature or impala.
std::string encoder_type(const ModelOptions& options, const Spec& obs_spec);

// An encoder on its own (mnemo pretrain-encoder writes one; model.encoder_init reads it): its
// parameters by name as safetensors, with metadata naming what it encodes, so that loading it
// into another shape or type is a clear error:
//   mnemo.kind "encoder", mnemo.encoder (its type), mnemo.observation (the spec),
//   mnemo.out_dim, plus `metadata` (e.g. how it was trained).
void save_encoder(const std::filesystem::path& path, EncoderImpl& encoder, const ModelOptions& options,
                  const Spec& obs_spec, std::map<std::string, std::string> metadata = {});
// Loads `path` into `encoder` (built from options and spec). Error naming the file and the
// mismatch when it is no encoder file, encodes another type or observation, or a tensor differs.
void load_encoder(const std::filesystem::path& path, EncoderImpl& encoder, const ModelOptions& options,
                  const Spec& obs_spec);
// Applies model.encoder_init and model.freeze_encoder to a policy about to be trained (learners
// call it after building the policy). ConfigError when the policy has no encoder.
void prepare_encoder(PolicyImpl& policy, const ModelOptions& options, const Spec& obs_spec);

// Actor and critic heads on a feature vector: categorical logits or a Gaussian mean (with a
// state-independent log std parameter) and a value. Orthogonal init with gain 0.01 on the policy
// head so that the first policy is close to uniform, gain 1 on the value head (CleanRL).
class ActorCriticHeadsImpl : public torch::nn::Module {
 public:
  ActorCriticHeadsImpl(int64_t in_dim, const ActionSpace& space, double init_log_std);
  // features [..., in_dim] -> {params [..., A], value [...]}
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& features);
  const torch::Tensor& log_std() const { return log_std_; }

 private:
  torch::nn::Linear actor_{nullptr}, critic_{nullptr};
  torch::Tensor log_std_;
};
TORCH_MODULE(ActorCriticHeads);

// Orthogonal weights with `gain`, zero bias: the init every model here uses.
void init_linear(torch::nn::Linear& layer, double gain);

// Memoryless actor-critic over a shared encoder and linear heads (CleanRL's Atari PPO layout):
// what the mlp type builds for image observations.
class EncoderPolicyImpl : public PolicyImpl {
 public:
  EncoderPolicyImpl(const ModelOptions& options, const Spec& obs_spec, const ActionSpace& action_space);
  using PolicyImpl::step;
  using PolicyImpl::unroll;
  State initial_state(int64_t) override { return {}; }
  PolicyOutput step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) override;
  PolicyOutput unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                      const State& state0) override;
  torch::Tensor log_std() override { return heads_->log_std(); }
  bool reads_prev() const override { return prev_.dim() > 0; }
  EncoderImpl* encoder() override { return encoder_.get(); }

 private:
  int64_t obs_dim_;
  PrevInputEncoder prev_;
  std::shared_ptr<EncoderImpl> encoder_;
  ActorCriticHeads heads_{nullptr};
};

// Base of the memory policies: obs -> encoder (+ prev action/reward) -> memory core -> heads. It owns the public
// Policy contract (shape checks with clear errors, resets at `first` handled by the core's
// unroll, step = a one-step unroll without resets) so that each core only implements its
// recurrence. Subclasses register their modules in their constructor and then call
// finish(core_dim), which adds the heads; the registration order fixes the flat parameter layout.
class RecurrentPolicyImpl : public PolicyImpl {
 public:
  using PolicyImpl::step;
  using PolicyImpl::unroll;
  State initial_state(int64_t batch) final;
  PolicyOutput step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) final;
  PolicyOutput unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                      const State& state0) final;
  torch::Tensor log_std() override { return heads_->log_std(); }
  bool reads_prev() const override { return prev_.dim() > 0; }
  EncoderImpl* encoder() override { return encoder_.get(); }
  // The state tensors in order, with symbolic and actual sizes per env, e.g.
  // "memory [B, L, M, d_model] = [B, 2, 8, 16]; valid [B, M] = [B, 8]".
  virtual std::string state_layout() const = 0;
  const std::string& name() const { return name_; }
  int64_t obs_dim() const { return obs_dim_; }

 protected:
  RecurrentPolicyImpl(std::string name, const ModelOptions& options, const Spec& obs_spec,
                      const ActionSpace& action_space);
  void finish(int64_t core_dim);
  // Input width of the core: the encoded observation and the prev inputs.
  int64_t feature_dim() const { return encoder_->out_dim() + prev_.dim(); }

  // The state of fresh episodes: every tensor [batch, ...], float32, with `options`' device.
  virtual State core_initial_state(int64_t batch, const torch::TensorOptions& options) = 0;
  // features [T, B, feature_dim], first [T, B] bool (reset the state of env b to the initial
  // state before step t), a validated state -> {outputs [T, B, core_dim], final state}.
  virtual std::pair<torch::Tensor, State> core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                                      const State& state) = 0;

 private:
  void check_state(const char* method, const State& state, int64_t batch);
  PolicyOutput run(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first, const State& state,
                   const std::string& where);

  std::string name_;
  int64_t obs_dim_;
  ModelOptions options_;
  ActionSpace space_;
  PrevInputEncoder prev_;
  std::shared_ptr<EncoderImpl> encoder_;
  ActorCriticHeads heads_{nullptr};
};

// The row-wise state reset of unroll(): where reset[b] is set, the initial state, else `state`.
State reset_rows(const State& state, const State& initial, const torch::Tensor& reset);

// "[2, 3, 4]" for error messages.
std::string sizes_str(torch::IntArrayRef sizes);

}  // namespace mnemo::nn
