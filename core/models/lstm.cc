// LSTM policy (see lstm.h).
#include "core/models/lstm.h"

#include <cmath>

namespace mnemo::nn {

LstmLayerImpl::LstmLayerImpl(int64_t in_dim, int64_t hidden) : hidden_(hidden) {
  ih_ = register_module("ih", torch::nn::Linear(in_dim, 4 * hidden));
  hh_ = register_module("hh", torch::nn::Linear(torch::nn::LinearOptions(hidden, 4 * hidden).bias(false)));
  init_linear(ih_, 1.0);
  init_linear(hh_, 1.0);
  // Forget-gate bias 1 (Jozefowicz et al. 2015): gradients flow through time from the start.
  torch::NoGradGuard no_grad;
  ih_->bias.narrow(0, hidden, hidden).fill_(1.0);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> LstmLayerImpl::forward(const torch::Tensor& x,
                                                                               const torch::Tensor& keep,
                                                                               torch::Tensor h, torch::Tensor c) {
  const int64_t T = x.size(0);
  // unbind rather than indexing per step: the backward of x[t] would allocate a zero tensor of
  // the whole sequence for every t.
  auto xin = ih_->forward(x).unbind(0);  // T x [B, 4H], input projection of all steps at once
  auto keeps = keep.unbind(0);
  std::vector<torch::Tensor> outs;
  outs.reserve(static_cast<std::size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    h = h * keeps[t];
    c = c * keeps[t];
    auto gates = (xin[t] + hh_->forward(h)).chunk(4, -1);
    auto i = torch::sigmoid(gates[0]), f = torch::sigmoid(gates[1]);
    auto g = torch::tanh(gates[2]), o = torch::sigmoid(gates[3]);
    c = f * c + i * g;
    h = o * torch::tanh(c);
    outs.push_back(h);
  }
  return {torch::stack(outs), h, c};
}

LstmPolicyImpl::LstmPolicyImpl(const ModelOptions& o, const Spec& spec, const ActionSpace& space)
    : RecurrentPolicyImpl("lstm", o, spec, space), layers_(o.layers), hidden_(o.d_model) {
  if (o.layers < 1) throw ConfigError("model.layers must be at least 1, got " + std::to_string(o.layers));
  if (o.d_model < 1) throw ConfigError("model.d_model must be positive, got " + std::to_string(o.d_model));
  int64_t in = feature_dim();
  for (int64_t l = 0; l < layers_; ++l) {
    cells_.push_back(register_module("lstm" + std::to_string(l), LstmLayer(in, hidden_)));
    in = hidden_;
  }
  finish(hidden_);
}

std::string LstmPolicyImpl::state_layout() const {
  std::string sz = "[B, " + std::to_string(layers_) + ", " + std::to_string(hidden_) + "]";
  return "h [B, layers, d_model] = " + sz + "; c [B, layers, d_model] = " + sz;
}

State LstmPolicyImpl::core_initial_state(int64_t batch, const torch::TensorOptions& options) {
  return {torch::zeros({batch, layers_, hidden_}, options), torch::zeros({batch, layers_, hidden_}, options)};
}

std::pair<torch::Tensor, State> LstmPolicyImpl::core_unroll(const torch::Tensor& x, const torch::Tensor& first,
                                                            const State& state) {
  // The initial state is zero, so a reset is a multiplication by 0 of the carried state.
  auto keep = first.logical_not().to(x.scalar_type()).unsqueeze(-1);  // [T, B, 1]
  auto out = x;
  std::vector<torch::Tensor> hs, cs;
  for (int64_t l = 0; l < layers_; ++l) {
    auto [y, h, c] = cells_[static_cast<std::size_t>(l)]->forward(out, keep, state[0].select(1, l),
                                                                  state[1].select(1, l));
    out = y;
    hs.push_back(h);
    cs.push_back(c);
  }
  return {out, {torch::stack(hs, 1), torch::stack(cs, 1)}};
}

}  // namespace mnemo::nn
