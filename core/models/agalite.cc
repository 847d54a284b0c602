// GaLiTe and AGaLiTe policies (see agalite.h for the equations).
#include "core/models/agalite.h"

#include <cmath>

namespace mnemo::nn {
namespace {

torch::nn::Linear linear(int64_t in, int64_t out, double gain) {
  auto lin = torch::nn::Linear(in, out);
  init_linear(lin, gain);
  return lin;
}

// a [..., D] ⊗ p [..., η] -> [..., η·D]: the feature-map expansion by η.
torch::Tensor expand(const torch::Tensor& a, const torch::Tensor& p) {
  return (p.unsqueeze(-1) * a.unsqueeze(-2)).flatten(-2);
}

// The oscillators' common period: ω_j·P is a multiple of 2π for every ω_j in linspace(−π, π, r).
int64_t tick_period(int64_t r) { return 2 * std::max<int64_t>(r - 1, 1); }

}  // namespace

GatedLinearAttentionImpl::GatedLinearAttentionImpl(const GatedLinearAttentionOptions& o) : options_(o) {
  const int64_t H = o.heads(), D = o.d_head(), eta = o.eta();
  kqvbg_ = register_module("kqvbg", linear(o.d_model(), 5 * H * D, 1.0));
  p_ = register_module("p", linear(o.d_model(), 3 * H * eta, 1.0));
  out_ = register_module("out", linear(H * D, o.d_model(), 1.0));
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> GatedLinearAttentionImpl::forward(
    const torch::Tensor& x, const torch::Tensor& keep, const torch::Tensor& osc, std::vector<torch::Tensor> state) {
  const int64_t T = x.size(0), B = x.size(1), H = options_.heads(), D = options_.d_head(), eta = options_.eta();
  const int64_t r = options_.r();
  const double eps = options_.eps();
  auto proj = kqvbg_->forward(x).view({T, B, H, 5 * D}).chunk(5, -1);
  auto p = p_->forward(x).view({T, B, H, 3 * eta}).chunk(3, -1);
  auto keys = expand(torch::relu(proj[0]), torch::relu(p[0]));        // [T, B, H, ηD]
  auto queries = expand(torch::relu(proj[1]), torch::relu(p[1]));     // [T, B, H, ηD]
  auto gamma = expand(torch::sigmoid(proj[4]), torch::sigmoid(p[2]));  // [T, B, H, ηD]
  auto beta = torch::sigmoid(proj[3]);                                 // [T, B, H, D]
  // Per-step slices via unbind: the backward of x[t] would allocate a zero tensor of the whole
  // sequence for every t, which dominated the cost of training.
  // A reset before step t zeroes the carried state: fold it into that step's decays.
  auto kept = keep.view({T, B, 1, 1});
  auto kg = (keys * gamma).unbind(0), vb = (proj[2] * beta).unbind(0);
  auto key_decay = ((1 - gamma) * kept).unbind(0), value_decay = ((1 - beta) * kept).unbind(0);
  auto qs = queries.unbind(0);

  // The recurrences are elementwise and cheap; everything that multiplies weights ran above for
  // all T steps at once. The read-out stays inside the loop so that no [T, ...] stack of the
  // (large, for GaLiTe) states is kept beyond what autograd needs.
  std::vector<torch::Tensor> outs;
  outs.reserve(static_cast<std::size_t>(T));
  if (r == 0) {
    auto C = state[0], s = state[1];
    for (int64_t t = 0; t < T; ++t) {
      C = C * (value_decay[t].unsqueeze(-1) * key_decay[t].unsqueeze(-2)) + vb[t].unsqueeze(-1) * kg[t].unsqueeze(-2);
      s = s * key_decay[t] + kg[t];
      auto num = torch::matmul(C, qs[t].unsqueeze(-1)).squeeze(-1);  // [B, H, D]
      auto den = (s * qs[t]).sum(-1, /*keepdim=*/true);               // [B, H, 1]
      outs.push_back(num / (den + eps));
    }
    state = {C, s};
  } else {
    auto kt = state[0], vt = state[1], s = state[2];
    auto oscs = osc.unbind(0);
    for (int64_t t = 0; t < T; ++t) {
      auto o_t = oscs[t].view({B, r, 1, 1});
      kt = kt * key_decay[t].unsqueeze(1) + o_t * kg[t].unsqueeze(1);
      vt = vt * value_decay[t].unsqueeze(1) + o_t * vb[t].unsqueeze(1);
      s = s * key_decay[t] + kg[t];
      auto kq = (kt * qs[t].unsqueeze(1)).sum(-1, /*keepdim=*/true);  // [B, r, H, 1]
      auto num = (vt * kq).sum(1);                                    // [B, H, D]
      auto den = (s * qs[t]).sum(-1, /*keepdim=*/true);               // [B, H, 1]
      outs.push_back(num / (2.0 * static_cast<double>(r) * den + eps));
    }
    state = {kt, vt, s};
  }
  return {out_->forward(torch::stack(outs).view({T, B, H * D})), std::move(state)};
}

GatedLinearBlockImpl::GatedLinearBlockImpl(const GatedLinearAttentionOptions& o, int64_t d_ff, double gate_bias) {
  const int64_t d = o.d_model();
  ln1_ = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  attn_ = register_module("attn", GatedLinearAttention(o));
  gate1_ = register_module("gate1", GruGate(d, gate_bias));
  ln2_ = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  ff1_ = register_module("ff1", linear(d, d_ff, std::sqrt(2.0)));
  ff2_ = register_module("ff2", linear(d_ff, d, 1.0));
  gate2_ = register_module("gate2", GruGate(d, gate_bias));
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> GatedLinearBlockImpl::forward(
    const torch::Tensor& x, const torch::Tensor& keep, const torch::Tensor& osc, std::vector<torch::Tensor> state) {
  auto [a, new_state] = attn_->forward(ln1_->forward(x), keep, osc, std::move(state));
  auto y = gate1_->forward(x, torch::relu(a));
  auto f = ff2_->forward(torch::relu(ff1_->forward(ln2_->forward(y))));
  return {gate2_->forward(y, torch::relu(f)), std::move(new_state)};
}

GaLiTePolicyImpl::GaLiTePolicyImpl(const ModelOptions& o, const Spec& spec, const ActionSpace& space, bool approximate)
    : RecurrentPolicyImpl(approximate ? "agalite" : "galite", o, spec, space),
      approximate_(approximate),
      layers_(o.layers),
      d_model_(o.d_model),
      heads_(o.heads),
      eta_(o.eta),
      r_(approximate ? o.r : 0) {
  if (o.layers < 1) throw ConfigError("model.layers must be at least 1, got " + std::to_string(o.layers));
  if (o.d_model < 1) throw ConfigError("model.d_model must be positive, got " + std::to_string(o.d_model));
  if (o.heads < 1) throw ConfigError("model.heads must be at least 1, got " + std::to_string(o.heads));
  if (o.eta < 1) throw ConfigError("model.eta must be at least 1, got " + std::to_string(o.eta));
  if (approximate && o.r < 1) throw ConfigError("model.r must be at least 1, got " + std::to_string(o.r));
  if (o.d_head < 0 || o.d_ff < 0) throw ConfigError("model.d_head and model.d_ff must be >= 0 (0: default)");
  if (o.d_head == 0 && o.d_model % o.heads != 0)
    throw ConfigError("model.d_model (" + std::to_string(o.d_model) + ") must be divisible by model.heads (" +
                      std::to_string(o.heads) + ") when model.d_head is 0");
  d_head_ = o.d_head > 0 ? o.d_head : o.d_model / o.heads;
  const int64_t d_ff = o.d_ff > 0 ? o.d_ff : o.d_model;
  embed_ = register_module("embed", linear(feature_dim(), d_model_, std::sqrt(2.0)));
  auto ao = GatedLinearAttentionOptions(d_model_, heads_, d_head_, eta_).r(r_);
  for (int64_t l = 0; l < layers_; ++l)
    blocks_.push_back(register_module("layer" + std::to_string(l), GatedLinearBlock(ao, d_ff, o.gate_bias)));
  finish(d_model_);
}

std::string GaLiTePolicyImpl::state_layout() const {
  auto n = [](int64_t v) { return std::to_string(v); };
  const std::string L = n(layers_), H = n(heads_), D = n(d_head_), ED = n(eta_ * d_head_);
  if (!approximate_)
    return "C [B, layers, heads, d_head, eta*d_head] = [B, " + L + ", " + H + ", " + D + ", " + ED +
           "]; s [B, layers, heads, eta*d_head] = [B, " + L + ", " + H + ", " + ED + "]";
  const std::string R = n(r_);
  return "k [B, layers, r, heads, eta*d_head] = [B, " + L + ", " + R + ", " + H + ", " + ED +
         "]; v [B, layers, r, heads, d_head] = [B, " + L + ", " + R + ", " + H + ", " + D +
         "]; s [B, layers, heads, eta*d_head] = [B, " + L + ", " + H + ", " + ED + "]; tick [B, 1]";
}

State GaLiTePolicyImpl::core_initial_state(int64_t batch, const torch::TensorOptions& options) {
  const int64_t ED = eta_ * d_head_;
  if (!approximate_)
    return {torch::zeros({batch, layers_, heads_, d_head_, ED}, options),
            torch::zeros({batch, layers_, heads_, ED}, options)};
  // The reference implementation starts its tick at 1 and advances it before use.
  return {torch::zeros({batch, layers_, r_, heads_, ED}, options),
          torch::zeros({batch, layers_, r_, heads_, d_head_}, options),
          torch::zeros({batch, layers_, heads_, ED}, options), torch::ones({batch, 1}, options)};
}

std::pair<torch::Tensor, State> GaLiTePolicyImpl::core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                                              const State& state) {
  const int64_t T = features.size(0);
  // Every layer state starts from zero, so a reset before step t is a multiplication by 0.
  auto keep = first.logical_not().to(features.scalar_type());  // [T, B]
  torch::Tensor osc, tick;
  if (approximate_) {
    const double period = static_cast<double>(tick_period(r_));
    tick = state[3].squeeze(1);
    std::vector<torch::Tensor> ticks;
    for (int64_t t = 0; t < T; ++t) {
      tick = torch::where(first[t], torch::ones_like(tick), tick);
      tick = torch::fmod(tick + 1.0, period);
      ticks.push_back(tick);
    }
    auto omega = torch::linspace(-M_PI, M_PI, r_, features.options());
    osc = torch::cos(torch::stack(ticks).unsqueeze(-1) * omega);  // [T, B, r]
  }
  auto x = torch::relu(embed_->forward(features));
  std::vector<std::vector<torch::Tensor>> finals;
  for (int64_t l = 0; l < layers_; ++l) {
    std::vector<torch::Tensor> layer_state;
    for (std::size_t k = 0; k < (approximate_ ? 3u : 2u); ++k) layer_state.push_back(state[k].select(1, l));
    auto [y, new_state] = blocks_[static_cast<std::size_t>(l)]->forward(x, keep, osc, std::move(layer_state));
    x = y;
    finals.push_back(std::move(new_state));
  }
  State out;
  for (std::size_t k = 0; k < finals[0].size(); ++k) {
    std::vector<torch::Tensor> per_layer;
    for (auto& f : finals) per_layer.push_back(f[k]);
    out.push_back(torch::stack(per_layer, 1));
  }
  if (approximate_) out.push_back(tick.unsqueeze(1));
  return {x, out};
}

}  // namespace mnemo::nn
