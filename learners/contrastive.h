// Contrastive representation learning for the observation encoder: CURL (Laskin, Srinivas and
// Abbeel 2020) and ATC (augmented temporal contrast; Stooke, Lee, Abbeel and Laskin 2021, rlpyt's
// ul/). Both train the policy's encoder to tell each anchor's positive apart from the other
// positives of the batch (in-batch negatives), against a momentum (EMA) copy of the encoder:
//   CURL: anchor and positive are two augmentations of the same frame; logits q W k^T;
//   ATC:  the positive is the frame k steps later in the same episode (pairs that cross an episode
//         boundary are left out), both randomly shifted; the anchor goes through a residual
//         predictor, logits (a + MLP(a)) W p^T.
// The cross-entropy over each row of logits (labels on the diagonal) is the loss. It runs as an
// auxiliary loss next to the RL loss (learner.aux; PPO, APPO, IMPALA) or on its own, to pretrain
// an encoder from a dataset (mnemo pretrain-encoder, launch/pretrain_encoder.h).
//
// The encoder's own parameters belong to whoever trains it (the policy's optimizer); this module
// owns the contrast matrix W, the predictor and the target encoder (no gradient: after every
// optimizer step, target <- (1 - tau) target + tau online).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/models/encoders.h"
#include "learners/augment.h"

namespace mnemo::learners {

// The `learner.aux:` section (and `pretrain:` of mnemo pretrain-encoder).
struct ContrastiveOptions {
  std::string type = "none";
  double weight = 1.0;
  std::int64_t batch = 64;
  std::int64_t delta = 1;
  double tau = 0.01;
  std::int64_t predictor_hidden = 256;
  AugmentOptions augment = default_augment();
  template <class V>
  void visit(V& v) {
    v("type", type, "none, curl or atc: a contrastive loss on the policy's observation encoder");
    v("weight", weight, "weight of the contrastive loss next to the RL loss");
    v("batch", batch, "anchors per gradient step (each one's negatives are the others' positives)");
    v("delta", delta, "atc: the positive is the frame this many steps after the anchor, in the same episode");
    v("tau", tau, "rate of the target encoder's moving average (ATC 0.01, CURL 0.05)");
    v("predictor_hidden", predictor_hidden, "atc: hidden width of the anchor's residual predictor MLP (0: none)");
    v("augment", augment, "augmentation of anchors and positives (no ops: a random shift for images, none for vectors)");
  }
  bool enabled() const { return type != "none"; }
  void validate(const std::string& path) const;
  static AugmentOptions default_augment() {
    AugmentOptions a;
    a.draw = "frame";
    return a;
  }
};

// What one contrastive step reports.
struct ContrastiveLoss {
  torch::Tensor loss;       // scalar, differentiable in the online encoder and this module
  double accuracy = 0;      // anchors whose own positive scored highest
  std::int64_t pairs = 0;   // anchors used
};

class ContrastiveImpl : public torch::nn::Module {
 public:
  // `online`: the encoder being trained (a policy's, alive as long as this), built from
  // `model` for `obs_spec`; the target starts as its copy.
  ContrastiveImpl(const ContrastiveOptions& options, const nn::ModelOptions& model, const Spec& obs_spec,
                  nn::EncoderImpl& online);
  // obs [T, B, obs_dim] flat float observations of B sequences, first [T, B] bool (episode
  // starts). Draws up to options.batch anchors (and their augmentations) from `gen`. Error when
  // the batch holds no valid pair.
  ContrastiveLoss loss(const torch::Tensor& obs, const torch::Tensor& first, at::Generator& gen);
  // The moving-average step of the target encoder; after every optimizer step.
  void update_target();
  // W and the predictor: what an optimizer trains next to the encoder.
  std::vector<torch::Tensor> trained_parameters();
  // This module's whole state (W, predictor, target encoder) as aux.pt in a checkpoint directory.
  void save(const std::filesystem::path& dir);
  void load(const std::filesystem::path& dir, torch::Device device);
  const ContrastiveOptions& options() const { return o_; }

 private:
  ContrastiveOptions o_;
  nn::EncoderImpl* online_;
  std::shared_ptr<nn::EncoderImpl> target_;
  Augmenter augment_;
  torch::Tensor w_;
  torch::nn::Sequential predictor_{nullptr};
};
TORCH_MODULE(Contrastive);

}  // namespace mnemo::learners
