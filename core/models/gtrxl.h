// GTrXL (Parisotto et al. 2019, "Stabilizing Transformers for Reinforcement Learning"): a
// Transformer-XL whose layers take layer norm on the submodule inputs only (identity-map
// reordering) and join the residual paths through GRU-type gates with bias b_g, attending to a
// memory of the M previous layer inputs (stop-gradient) with relative positional encodings.
//
// The per-step cost grows with M, which is what AGaLiTe (agalite.h) avoids; GTrXL is the
// reference it is benchmarked against.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/models/encoders.h"

namespace mnemo::nn {

// GRU-type gating layer g(x, y) of GTrXL (Parisotto et al. eq. in Sec. 3.2):
//   r = σ(W_r y + U_r x), z = σ(W_z y + U_z x − b_g), ĥ = tanh(W_g y + U_g (r ⊙ x)),
//   g = (1 − z) ⊙ x + z ⊙ ĥ.
// x is the residual stream, y the submodule output; b_g > 0 starts each layer near the identity
// map, so a fresh agent behaves like a reactive (Markov) policy and learns to use memory later.
class GruGateImpl : public torch::nn::Module {
 public:
  GruGateImpl(int64_t dim, double bias);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

 private:
  torch::nn::Linear wr_{nullptr}, ur_{nullptr}, wz_{nullptr}, uz_{nullptr}, wg_{nullptr}, ug_{nullptr};
  torch::Tensor bg_;
};
TORCH_MODULE(GruGate);

struct RelativeAttentionOptions {
  RelativeAttentionOptions(int64_t d_model, int64_t heads, int64_t d_head)
      : d_model_(d_model), heads_(heads), d_head_(d_head) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, d_head);
};

// Multi-head attention with Transformer-XL relative positions (Dai et al. 2019, Sec. 3.3):
//   A_ij = (q_i + u)ᵀ k_j + (q_i + v)ᵀ W_R R_{i−j},   softmax over allowed j, scale 1/sqrt(d_head),
// with R the sinusoid encoding of the distance i − j and u, v learned per head (shared by all
// layers of the model, as in Transformer-XL, and passed in).
class RelativeAttentionImpl : public torch::nn::Module {
 public:
  explicit RelativeAttentionImpl(const RelativeAttentionOptions& options);
  // queries [B, T, d] (the last T of `keys`), keys [B, K, d] (memory then current steps),
  // rel [K, d] sinusoids of distances 0..K-1, dist [T, K] int64 distance of each pair (clamped
  // into range), allowed [B, T, K] bool, u, v [H, d_head] -> [B, T, d].
  torch::Tensor forward(const torch::Tensor& queries, const torch::Tensor& keys, const torch::Tensor& rel,
                        const torch::Tensor& dist, const torch::Tensor& allowed, const torch::Tensor& u,
                        const torch::Tensor& v);

 private:
  RelativeAttentionOptions options_;
  torch::nn::Linear q_{nullptr}, kv_{nullptr}, r_{nullptr}, out_{nullptr};
};
TORCH_MODULE(RelativeAttention);

// One GTrXL layer (Parisotto et al. Sec. 3.2, "gated identity-map reordering"):
//   Ȳ = RelMHA(LN([sg(M), E])),  Y = g_MHA(E, ReLU(Ȳ)),  Ē = f(LN(Y)),  E' = g_MLP(Y, ReLU(Ē)).
class GTrXLBlockImpl : public torch::nn::Module {
 public:
  GTrXLBlockImpl(int64_t d_model, int64_t heads, int64_t d_head, int64_t d_ff, double gate_bias);
  // x [B, T, d] current inputs, memory [B, M, d] (already detached) -> [B, T, d].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& rel,
                        const torch::Tensor& dist, const torch::Tensor& allowed, const torch::Tensor& u,
                        const torch::Tensor& v);

 private:
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  RelativeAttention attn_{nullptr};
  torch::nn::Linear ff1_{nullptr}, ff2_{nullptr};
  GruGate gate1_{nullptr}, gate2_{nullptr};
};
TORCH_MODULE(GTrXLBlock);

// GTrXL policy: encoder -> ReLU(linear embedding to d_model) -> L GTrXL layers -> heads.
// State: {memory [B, L, M, d_model], valid [B, M]}. memory[:, l] holds the inputs of layer l at the
// M previous steps (oldest first, stop-gradient); valid marks the slots that belong to the current
// episode (1) so that an episode start drops the whole memory without leaking into the next
// episode. Invalid slots are kept at zero so equal histories give equal states.
//
// unroll() reproduces step-by-step acting exactly: step t attends to itself and the M steps
// before it (a sliding window over memory + sequence), never across an episode start.
class GTrXLPolicyImpl : public RecurrentPolicyImpl {
 public:
  GTrXLPolicyImpl(const ModelOptions& options, const Spec& obs_spec, const ActionSpace& action_space);
  std::string state_layout() const override;

 protected:
  State core_initial_state(int64_t batch, const torch::TensorOptions& options) override;
  std::pair<torch::Tensor, State> core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                              const State& state) override;

 private:
  int64_t layers_, d_model_, memory_;
  torch::nn::Linear embed_{nullptr};
  torch::Tensor u_, v_;
  std::vector<GTrXLBlock> blocks_;
};

// Sinusoid encodings [n, d] of the distances 0..n-1 (Vaswani et al., sin and cos halves).
torch::Tensor sinusoid_positions(int64_t n, int64_t d, const torch::TensorOptions& options);

}  // namespace mnemo::nn
