// GTrXL policy (see gtrxl.h).
#include "core/models/gtrxl.h"

#include <cmath>
#include <limits>

namespace mnemo::nn {
namespace {

torch::nn::Linear linear(int64_t in, int64_t out, double gain, bool bias = true) {
  auto lin = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  init_linear(lin, gain);
  return lin;
}

}  // namespace

torch::Tensor sinusoid_positions(int64_t n, int64_t d, const torch::TensorOptions& options) {
  auto pos = torch::arange(n, options).unsqueeze(1);                                      // [n, 1]
  auto inv_freq = torch::pow(10000.0, -torch::arange(0, d, 2, options) / static_cast<double>(d));  // [ceil(d/2)]
  auto angles = pos * inv_freq;
  return torch::cat({torch::sin(angles), torch::cos(angles)}, -1).narrow(-1, 0, d);
}

GruGateImpl::GruGateImpl(int64_t dim, double bias) {
  wr_ = register_module("wr", linear(dim, dim, 1.0, false));
  ur_ = register_module("ur", linear(dim, dim, 1.0, false));
  wz_ = register_module("wz", linear(dim, dim, 1.0, false));
  uz_ = register_module("uz", linear(dim, dim, 1.0, false));
  wg_ = register_module("wg", linear(dim, dim, 1.0, false));
  ug_ = register_module("ug", linear(dim, dim, 1.0, false));
  bg_ = register_parameter("bg", torch::full({dim}, bias));
}

torch::Tensor GruGateImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  auto r = torch::sigmoid(wr_->forward(y) + ur_->forward(x));
  auto z = torch::sigmoid(wz_->forward(y) + uz_->forward(x) - bg_);
  auto h = torch::tanh(wg_->forward(y) + ug_->forward(r * x));
  return (1 - z) * x + z * h;
}

RelativeAttentionImpl::RelativeAttentionImpl(const RelativeAttentionOptions& o) : options_(o) {
  const int64_t hd = o.heads() * o.d_head();
  q_ = register_module("q", linear(o.d_model(), hd, 1.0));
  kv_ = register_module("kv", linear(o.d_model(), 2 * hd, 1.0));
  r_ = register_module("r", linear(o.d_model(), hd, 1.0, /*bias=*/false));
  out_ = register_module("out", linear(hd, o.d_model(), 1.0));
}

torch::Tensor RelativeAttentionImpl::forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                             const torch::Tensor& rel, const torch::Tensor& dist,
                                             const torch::Tensor& allowed, const torch::Tensor& u,
                                             const torch::Tensor& v) {
  const int64_t B = queries.size(0), T = queries.size(1), K = keys.size(1);
  const int64_t H = options_.heads(), D = options_.d_head();
  auto q = q_->forward(queries).view({B, T, H, D});
  auto kv = kv_->forward(keys).view({B, K, H, 2 * D}).chunk(2, -1);
  auto k = kv[0].permute({0, 2, 3, 1});                  // [B, H, D, K]
  auto val = kv[1].permute({0, 2, 1, 3});                // [B, H, K, D]
  auto r = r_->forward(rel).view({K, H, D}).permute({1, 2, 0});  // [H, D, K] indexed by distance
  auto content = torch::matmul((q + u).permute({0, 2, 1, 3}), k);  // [B, H, T, K]
  // Position scores per distance, then each (i, j) pair picks its distance i − j: the direct
  // form of Transformer-XL's "relative shift" trick, easier to check.
  auto by_dist = torch::matmul((q + v).permute({0, 2, 1, 3}), r);  // [B, H, T, K(distance)]
  auto position = by_dist.gather(3, dist.view({1, 1, T, K}).expand({B, H, T, K}));
  auto scores = (content + position) * (1.0 / std::sqrt(static_cast<double>(D)));
  scores = scores.masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  auto attn = torch::softmax(scores, -1);
  auto y = torch::matmul(attn, val).permute({0, 2, 1, 3}).reshape({B, T, H * D});
  return out_->forward(y);
}

GTrXLBlockImpl::GTrXLBlockImpl(int64_t d_model, int64_t heads, int64_t d_head, int64_t d_ff, double gate_bias) {
  ln1_ = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  attn_ = register_module("attn", RelativeAttention(RelativeAttentionOptions(d_model, heads, d_head)));
  gate1_ = register_module("gate1", GruGate(d_model, gate_bias));
  ln2_ = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  ff1_ = register_module("ff1", linear(d_model, d_ff, std::sqrt(2.0)));
  ff2_ = register_module("ff2", linear(d_ff, d_model, 1.0));
  gate2_ = register_module("gate2", GruGate(d_model, gate_bias));
}

torch::Tensor GTrXLBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& rel,
                                      const torch::Tensor& dist, const torch::Tensor& allowed,
                                      const torch::Tensor& u, const torch::Tensor& v) {
  auto full = ln1_->forward(torch::cat({memory, x}, 1));  // [B, M + T, d]
  auto queries = full.narrow(1, memory.size(1), x.size(1));
  auto a = torch::relu(attn_->forward(queries, full, rel, dist, allowed, u, v));
  auto y = gate1_->forward(x, a);
  auto f = ff2_->forward(torch::relu(ff1_->forward(ln2_->forward(y))));
  return gate2_->forward(y, torch::relu(f));
}

GTrXLPolicyImpl::GTrXLPolicyImpl(const ModelOptions& o, const Spec& spec, const ActionSpace& space)
    : RecurrentPolicyImpl("gtrxl", o, spec, space), layers_(o.layers), d_model_(o.d_model), memory_(o.memory) {
  if (o.layers < 1) throw ConfigError("model.layers must be at least 1, got " + std::to_string(o.layers));
  if (o.d_model < 1) throw ConfigError("model.d_model must be positive, got " + std::to_string(o.d_model));
  if (o.heads < 1) throw ConfigError("model.heads must be at least 1, got " + std::to_string(o.heads));
  if (o.memory < 1) throw ConfigError("model.memory must be at least 1, got " + std::to_string(o.memory));
  if (o.d_head < 0 || o.d_ff < 0) throw ConfigError("model.d_head and model.d_ff must be >= 0 (0: default)");
  if (o.d_head == 0 && o.d_model % o.heads != 0)
    throw ConfigError("model.d_model (" + std::to_string(o.d_model) + ") must be divisible by model.heads (" +
                      std::to_string(o.heads) + ") when model.d_head is 0");
  const int64_t d_head = o.d_head > 0 ? o.d_head : o.d_model / o.heads;
  const int64_t d_ff = o.d_ff > 0 ? o.d_ff : o.d_model;
  embed_ = register_module("embed", linear(feature_dim(), d_model_, std::sqrt(2.0)));
  // u and v start at zero: at init the scores are the plain content and position terms.
  u_ = register_parameter("u", torch::zeros({o.heads, d_head}));
  v_ = register_parameter("v", torch::zeros({o.heads, d_head}));
  for (int64_t l = 0; l < layers_; ++l)
    blocks_.push_back(
        register_module("layer" + std::to_string(l), GTrXLBlock(d_model_, o.heads, d_head, d_ff, o.gate_bias)));
  finish(d_model_);
}

std::string GTrXLPolicyImpl::state_layout() const {
  return "memory [B, layers, memory, d_model] = [B, " + std::to_string(layers_) + ", " + std::to_string(memory_) +
         ", " + std::to_string(d_model_) + "]; valid [B, memory] = [B, " + std::to_string(memory_) + "]";
}

State GTrXLPolicyImpl::core_initial_state(int64_t batch, const torch::TensorOptions& options) {
  return {torch::zeros({batch, layers_, memory_, d_model_}, options), torch::zeros({batch, memory_}, options)};
}

std::pair<torch::Tensor, State> GTrXLPolicyImpl::core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                                             const State& state) {
  const int64_t T = features.size(0), B = features.size(1), M = memory_, K = M + T;
  auto iopts = torch::TensorOptions().dtype(torch::kLong).device(features.device());
  // Positions in the concatenation [memory (0..M-1), sequence (M..M+T-1)]; step i sits at M + i.
  auto j = torch::arange(K, iopts);                   // key positions [K]
  auto i = torch::arange(T, iopts).unsqueeze(1) + M;  // query positions [T, 1]
  // Episode start seen by step i of env b: the position of the latest first at or before i, or
  // 0 when none (then the memory's own valid flags decide).
  auto t_idx = torch::arange(T, iopts).unsqueeze(1).expand({T, B});
  auto last_first = std::get<0>(torch::cummax(torch::where(first, t_idx, torch::full_like(t_idx, -1)), 0));  // [T, B]
  auto start = torch::where(last_first >= 0, last_first + M, torch::zeros_like(last_first)).t();  // [B, T]
  auto valid0 = state[1] > 0.5;                                                                     // [B, M]
  auto key_ok = torch::cat({valid0, torch::ones({B, T}, valid0.options())}, 1);                    // [B, K]
  // A step sees itself and the M steps before it (exactly what step() sees), within its episode.
  auto window = (j.unsqueeze(0) <= i) & (j.unsqueeze(0) >= i - M);  // [T, K]
  auto allowed = window.unsqueeze(0) & (j.view({1, 1, K}) >= start.unsqueeze(2)) & key_ok.unsqueeze(1);  // [B, T, K]
  auto dist = (i - j.unsqueeze(0)).clamp(0, K - 1);                                                       // [T, K]
  auto rel = sinusoid_positions(K, d_model_, features.options());

  auto x = torch::relu(embed_->forward(features)).transpose(0, 1);  // [B, T, d]
  auto memory = state[0].detach();                                  // stop-gradient into the past
  std::vector<torch::Tensor> new_memory;
  for (int64_t l = 0; l < layers_; ++l) {
    auto mem_l = memory.select(1, l);
    new_memory.push_back(torch::cat({mem_l, x.detach()}, 1).narrow(1, T, M));
    x = blocks_[static_cast<std::size_t>(l)]->forward(x, mem_l, rel, dist, allowed, u_, v_);
  }
  // Slots valid after the last step: inside the last episode and, for old memory, valid before.
  auto end_start = start.select(1, T - 1).unsqueeze(1);                                  // [B, 1]
  auto valid = ((j.unsqueeze(0) >= end_start) & key_ok).narrow(1, T, M).to(features.scalar_type());  // [B, M]
  auto mem = torch::stack(new_memory, 1) * valid.view({B, 1, M, 1});
  return {x.transpose(0, 1), {mem, valid}};
}

}  // namespace mnemo::nn
