// GaLiTe and AGaLiTe (Pramanik et al., "AGaLiTe: Approximate Gated Linear Transformers for Online
// Reinforcement Learning", arXiv 2310.15719): transformers whose self-attention is replaced by a
// gated linear attention, a recurrence with a state of constant size, so that acting costs the
// same at every step however long the episode (unlike GTrXL, whose cost grows with its memory).
//
// Per head, with x the layer-normed input and ⊗ the outer product flattened to η·d_head values
// (the feature-map expansion by η):
//   k = relu(W_k x) ⊗ relu(W_p1 x),  q = relu(W_q x) ⊗ relu(W_p2 x),  γ = σ(W_γ x) ⊗ σ(W_p3 x),
//   β = σ(W_β x),  v = W_v x.
// GaLiTe (exact):
//   C_t = ((1 − β_t) (1 − γ_t)ᵀ) ⊙ C_{t−1} + (β_t ⊙ v_t)(γ_t ⊙ k_t)ᵀ     [d_head × η·d_head]
//   s_t = (1 − γ_t) ⊙ s_{t−1} + γ_t ⊙ k_t
//   a_t = C_t q_t / (s_tᵀ q_t + ε)
// AGaLiTe replaces C_t by r oscillating rank-one terms, cos(ω_j t) with ω = linspace(−π, π, r):
//   ṽ_t^j = (1 − β_t) ⊙ ṽ_{t−1}^j + cos(ω_j t) β_t ⊙ v_t
//   k̃_t^j = (1 − γ_t) ⊙ k̃_{t−1}^j + cos(ω_j t) γ_t ⊙ k_t
//   a_t = Σ_j ṽ_t^j (k̃_t^jᵀ q_t) / (2r s_tᵀ q_t + ε)
// so its state is O(r·η·d_head) per head instead of GaLiTe's O(η·d_head²).
// Each layer wraps the attention like GTrXL: layer norm on the submodule inputs, ReLU on the
// submodule outputs, GRU gates with bias b_g on the residual paths (docs/models.md).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/models/encoders.h"
#include "core/models/gtrxl.h"

namespace mnemo::nn {

struct GatedLinearAttentionOptions {
  GatedLinearAttentionOptions(int64_t d_model, int64_t heads, int64_t d_head, int64_t eta)
      : d_model_(d_model), heads_(heads), d_head_(d_head), eta_(eta) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, d_head);
  TORCH_ARG(int64_t, eta);
  // Oscillators of the AGaLiTe approximation; 0 selects exact GaLiTe.
  TORCH_ARG(int64_t, r) = 0;
  // Keeps the normalisation finite while s_tᵀ q_t is still 0 (relu features can all be off).
  TORCH_ARG(double, eps) = 1e-5;
};

// The gated linear attention of one layer, exact (r = 0) or approximated with r oscillators.
// Layer state, exact: {C [B, H, d_head, η·d_head], s [B, H, η·d_head]};
// approximate: {k̃ [B, r, H, η·d_head], ṽ [B, r, H, d_head], s [B, H, η·d_head]}.
class GatedLinearAttentionImpl : public torch::nn::Module {
 public:
  explicit GatedLinearAttentionImpl(const GatedLinearAttentionOptions& options);
  // x [T, B, d_model] (layer-normed), keep [T, B] (0 where the state restarts from zero before
  // step t), osc [T, B, r] = cos(ω_j t) (approximate only), state -> {[T, B, d_model], new state}.
  std::pair<torch::Tensor, std::vector<torch::Tensor>> forward(const torch::Tensor& x, const torch::Tensor& keep,
                                                               const torch::Tensor& osc,
                                                               std::vector<torch::Tensor> state);

 private:
  GatedLinearAttentionOptions options_;
  torch::nn::Linear kqvbg_{nullptr}, p_{nullptr}, out_{nullptr};
};
TORCH_MODULE(GatedLinearAttention);

// One (A)GaLiTe layer: Y = g_1(E, ReLU(Attn(LN(E)))), E' = g_2(Y, ReLU(f(LN(Y)))).
class GatedLinearBlockImpl : public torch::nn::Module {
 public:
  GatedLinearBlockImpl(const GatedLinearAttentionOptions& options, int64_t d_ff, double gate_bias);
  std::pair<torch::Tensor, std::vector<torch::Tensor>> forward(const torch::Tensor& x, const torch::Tensor& keep,
                                                               const torch::Tensor& osc,
                                                               std::vector<torch::Tensor> state);

 private:
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  GatedLinearAttention attn_{nullptr};
  torch::nn::Linear ff1_{nullptr}, ff2_{nullptr};
  GruGate gate1_{nullptr}, gate2_{nullptr};
};
TORCH_MODULE(GatedLinearBlock);

// The agalite (approximate) and galite (exact) policies: encoder -> ReLU(linear embedding to
// d_model) -> L layers -> heads. State, all layers stacked on dim 1:
//   agalite: {k̃ [B, L, r, H, η·d_head], ṽ [B, L, r, H, d_head], s [B, L, H, η·d_head], tick [B, 1]}
//   galite:  {C [B, L, H, d_head, η·d_head], s [B, L, H, η·d_head]}
// tick is the oscillator time of the last step, kept modulo the oscillators' common period
// 2·max(r − 1, 1) so that it stays exact in float32 however long the episode.
class GaLiTePolicyImpl : public RecurrentPolicyImpl {
 public:
  GaLiTePolicyImpl(const ModelOptions& options, const Spec& obs_spec, const ActionSpace& action_space,
                   bool approximate);
  std::string state_layout() const override;

 protected:
  State core_initial_state(int64_t batch, const torch::TensorOptions& options) override;
  std::pair<torch::Tensor, State> core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                              const State& state) override;

 private:
  bool approximate_;
  int64_t layers_, d_model_, heads_, d_head_, eta_, r_;
  torch::nn::Linear embed_{nullptr};
  std::vector<GatedLinearBlock> blocks_;
};

}  // namespace mnemo::nn
