// LSTM policy: the recurrent baseline of the memory models (encoder -> stacked LSTM -> heads).
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "core/models/encoders.h"

namespace mnemo::nn {

// One LSTM layer over a whole sequence with resets (Hochreiter & Schmidhuber 1997, with a forget
// gate; torch's gate order i, f, g, o). Written out rather than using torch::nn::LSTM because the
// state must restart at episode starts inside the sequence; the input projection of all T steps
// still runs as one matrix product.
class LstmLayerImpl : public torch::nn::Module {
 public:
  LstmLayerImpl(int64_t in_dim, int64_t hidden);
  // x [T, B, in], keep [T, B, 1] (0 where the state restarts before step t), h0, c0 [B, hidden]
  // -> {outputs [T, B, hidden], h_T, c_T}.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& keep,
                                                                  torch::Tensor h, torch::Tensor c);

 private:
  int64_t hidden_;
  torch::nn::Linear ih_{nullptr}, hh_{nullptr};
};
TORCH_MODULE(LstmLayer);

// Stacked LSTM of ModelOptions::layers layers of width d_model on the encoder features.
// State: {h [B, L, d_model], c [B, L, d_model]}, zeros at an episode start.
class LstmPolicyImpl : public RecurrentPolicyImpl {
 public:
  LstmPolicyImpl(const ModelOptions& options, const Spec& obs_spec, const ActionSpace& action_space);
  std::string state_layout() const override;

 protected:
  State core_initial_state(int64_t batch, const torch::TensorOptions& options) override;
  std::pair<torch::Tensor, State> core_unroll(const torch::Tensor& features, const torch::Tensor& first,
                                              const State& state) override;

 private:
  int64_t layers_, hidden_;
  std::vector<LstmLayer> cells_;
};

}  // namespace mnemo::nn
