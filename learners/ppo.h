// PPO (clipped surrogate, GAE, value loss, entropy bonus, gradient clipping) as rlpyt-style
// algorithm pieces: advantage estimation and the loss of one minibatch, free of the loop that
// samples data and applies updates (learners/trainer.h). make_ppo (learners/algorithm.h) puts them
// together: GAE over the batch from the behaviour values, then epochs x minibatches of the loss,
// over shuffled transitions for memoryless policies and whole sequences for recurrent ones.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "core/array.h"
#include "core/models/models.h"

namespace mnemo::learners {

struct PPOOptions {
  double lr = 2.5e-4;
  bool anneal_lr = true;
  double gamma = 0.99;
  double gae_lambda = 0.95;
  std::int64_t epochs = 4;
  std::int64_t minibatches = 4;
  double clip = 0.2;
  bool clip_value_loss = true;
  double vf_coef = 0.5;
  double ent_coef = 0.01;
  double max_grad_norm = 0.5;
  bool normalize_advantages = true;
  double adam_eps = 1e-5;
  std::string device = "cpu";
  template <class V>
  void visit(V& v) {
    v("lr", lr, "Adam learning rate");
    v("anneal_lr", anneal_lr, "decay the learning rate linearly to 0 over the run");
    v("gamma", gamma, "discount factor");
    v("gae_lambda", gae_lambda, "GAE lambda");
    v("epochs", epochs, "optimisation epochs over each batch");
    v("minibatches", minibatches, "minibatches per epoch");
    v("clip", clip, "surrogate clipping coefficient");
    v("clip_value_loss", clip_value_loss, "clip the value loss around the behaviour value");
    v("vf_coef", vf_coef, "value loss coefficient");
    v("ent_coef", ent_coef, "entropy bonus coefficient");
    v("max_grad_norm", max_grad_norm, "global gradient norm clip");
    v("normalize_advantages", normalize_advantages, "normalise advantages per minibatch");
    v("adam_eps", adam_eps, "Adam epsilon");
    v("device", device,
      "where the learner trains: cpu, cuda or cuda:N (actors act on the CPU; under mpirun, cuda uses NCCL "
      "and each learner of a node takes its own GPU)");
  }
  void validate() const;
  // The parsed device; ConfigError for a bad name or a CUDA device this process does not have
  // (validate() checks the name only).
  torch::Device torch_device() const;
};

// A batch of B sequences of T steps, time-major ([T, B, ...]), as tensors.
struct SequenceBatch {
  torch::Tensor obs;          // [T, B, obs_dim] float32
  torch::Tensor actions;      // [T, B] int64 or [T, B, D] float32
  torch::Tensor rewards;      // [T, B]
  nn::PrevInputs prev;        // the policy's prev inputs: action [T, B] / [T, B, D], reward [T, B]
  torch::Tensor first;        // [T, B] bool
  torch::Tensor terminated;   // [T, B] bool
  torch::Tensor truncated;    // [T, B] bool
  torch::Tensor logprob;      // [T, B]
  torch::Tensor value;        // [T, B]
  torch::Tensor final_value;  // [T, B]
  torch::Tensor bootstrap;    // [B] the behaviour value of the observation after the last step
  torch::Tensor next_obs;     // [1, B, obs_dim] that observation
  torch::Tensor next_first;   // [1, B] bool: it starts an episode
  nn::PrevInputs next_prev;   // its prev inputs, [1, B] (when the policy reads them)
  torch::Tensor version;      // [B] int64 (on the CPU)
  nn::State state0;           // recurrent state at t=0, each [B, ...]
  int64_t T() const { return rewards.size(0); }
  int64_t B() const { return rewards.size(1); }
};

// Generalised advantage estimation over [T, B] with episode ends inside the sequence: a
// terminated step bootstraps with 0, a truncated one with the value of its final observation.
// Returns {advantages, returns}.
std::pair<torch::Tensor, torch::Tensor> compute_gae(const SequenceBatch& b, double gamma, double lambda);

// Loss of one minibatch and the statistics logged for it.
struct PPOLoss {
  torch::Tensor total;
  std::map<std::string, double> stats;  // policy_loss, value_loss, entropy, approx_kl, clip_frac
};
PPOLoss ppo_loss(const PPOOptions& o, const ActionSpace& space, const nn::PolicyOutput& out, torch::Tensor log_std,
                 const torch::Tensor& actions, const torch::Tensor& old_logprob, const torch::Tensor& old_value,
                 torch::Tensor advantages, const torch::Tensor& returns);

struct LearnerOptions;
struct OnlineLearner;
class OnlineAlgorithm;
std::unique_ptr<OnlineAlgorithm> make_ppo(const LearnerOptions& options, const OnlineLearner& learner);

}  // namespace mnemo::learners
