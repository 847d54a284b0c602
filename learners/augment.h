// Data augmentation of observations in learner batches (RAD, Laskin et al. 2020; DrQ's random
// shift, Kostrikov et al. 2020): a configured chain of random transforms, applied to the frames of
// a batch before the algorithm computes its targets and losses, and to the views of the
// contrastive losses (learners/contrastive.h).
//
// Frames are laid out [N, K, ...]: one random draw per row n, shared by its K frames. The learner
// puts one sequence in each row (learner.augment.draw: sequence), so that a recurrent policy sees
// the same shift, crop or colour change at every step of a sequence, or one frame per row (frame).
// Images are [N, K, H, W, C] uint8, or float holding the values 0..255 (what flatten_obs gives the
// policy); vectors are [N, K, D] float.
//
// Every transform keeps the shape, the dtype and the device (CPU or CUDA; the draws are made on
// the CPU from the caller's generator, so a seed gives the same augmentation on either), keeps
// images integral in [0, 255], and is the identity at zero strength (pad 0, crop scale 1, cutout
// size 0, jitter 0, probability 0, amplitude range [1, 1], noise 0).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/array.h"
#include "learners/ppo.h"

namespace mnemo::learners {

// The `learner.augment:` section (and the `augment:` of a contrastive loss).
struct AugmentOptions {
  std::vector<std::string> ops;
  std::string draw = "sequence";
  std::int64_t shift_pad = 4;
  double crop_scale = 0.84;
  double cutout_min = 0.1;
  double cutout_max = 0.3;
  double brightness = 0.4;
  double contrast = 0.4;
  double saturation = 0.4;
  double hue = 0.1;
  double grayscale_p = 0.3;
  double flip_p = 0.5;
  double amplitude_low = 0.6;
  double amplitude_high = 1.4;
  double noise_std = 0.1;
  template <class V>
  void visit(V& v) {
    v("ops", ops,
      "transforms applied in order (empty: none): shift, crop, cutout, jitter, grayscale, flip (images); amplitude, "
      "noise (vectors)");
    v("draw", draw, "sequence: one random draw per sequence, shared by its steps; frame: one per step");
    v("shift_pad", shift_pad, "shift: pad each side by this many pixels (edge pixels repeated), crop back at random");
    v("crop_scale", crop_scale, "crop: a random window of this fraction of each side, resized back (nearest)");
    v("cutout_min", cutout_min, "cutout: smallest side of the blacked-out box, as a fraction of the image side");
    v("cutout_max", cutout_max, "cutout: largest side of the blacked-out box, as a fraction of the image side");
    v("brightness", brightness, "jitter: brightness factor drawn from [1 - x, 1 + x]");
    v("contrast", contrast, "jitter: contrast factor drawn from [1 - x, 1 + x]");
    v("saturation", saturation, "jitter: saturation factor drawn from [1 - x, 1 + x] (RGB)");
    v("hue", hue, "jitter: hue rotation drawn from [-x, x] turns of the colour wheel (RGB, x <= 0.5)");
    v("grayscale_p", grayscale_p, "grayscale: probability of replacing the colours by their luminance (RGB)");
    v("flip_p", flip_p, "flip: probability of a horizontal flip");
    v("amplitude_low", amplitude_low, "amplitude: smallest factor the observation vector is scaled by");
    v("amplitude_high", amplitude_high, "amplitude: largest factor the observation vector is scaled by");
    v("noise_std", noise_std, "noise: std of the Gaussian noise added to each observation value");
  }
  // ConfigError naming `path`.key for a bad value or an unknown op.
  void validate(const std::string& path) const;
  bool enabled() const { return !ops.empty(); }
};

// The chain of AugmentOptions for observations of one spec.
class Augmenter {
 public:
  // ConfigError (naming `path`) for an image op on vector observations or the reverse, and for
  // colour ops on images whose channels are not RGB triples.
  Augmenter(AugmentOptions options, const Spec& obs_spec, std::string path);
  // x [N, K, H, W, C] (images) or [N, K, D] (vectors) -> augmented copy; draws per row n.
  torch::Tensor apply(const torch::Tensor& x, at::Generator& gen) const;
  // Flat observations [..., obs_dim] (the policy's input) with leading dims [N, K].
  torch::Tensor apply_flat(const torch::Tensor& obs, at::Generator& gen) const;
  // The batch with obs and next_obs augmented, the observation after a sequence drawn like the
  // sequence's own steps.
  SequenceBatch apply(const SequenceBatch& b, at::Generator& gen) const;
  bool enabled() const { return o_.enabled(); }
  bool image() const { return image_; }
  const AugmentOptions& options() const { return o_; }

 private:
  AugmentOptions o_;
  bool image_;
  std::vector<std::int64_t> frame_;  // {H, W, C} or {D}
};

// The transforms, each on [N, K, ...] frames with a draw per row (see the top of this file).
namespace augment {
torch::Tensor shift(const torch::Tensor& x, std::int64_t pad, at::Generator& gen);
torch::Tensor crop(const torch::Tensor& x, double scale, at::Generator& gen);
torch::Tensor cutout(const torch::Tensor& x, double min_frac, double max_frac, at::Generator& gen);
torch::Tensor jitter(const torch::Tensor& x, double brightness, double contrast, double saturation, double hue,
                     at::Generator& gen);
torch::Tensor grayscale(const torch::Tensor& x, double p, at::Generator& gen);
torch::Tensor flip(const torch::Tensor& x, double p, at::Generator& gen);
torch::Tensor amplitude(const torch::Tensor& x, double low, double high, at::Generator& gen);
torch::Tensor noise(const torch::Tensor& x, double std, at::Generator& gen);
}  // namespace augment

}  // namespace mnemo::learners
