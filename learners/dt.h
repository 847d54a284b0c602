// Decision Transformer (Chen et al. 2021, "Decision Transformer: Reinforcement Learning via
// Sequence Modeling") and its behaviour-cloning baselines, as rlpyt-style pieces: the model, the
// data it trains on (windows of K steps cut from offline episodes), its loss, and acting with it
// over a batch of envs. The loop that runs them is learners/offline_trainer.h.
//
// A DT reads, per timestep t, the tokens (R_t, s_t, a_t) — return-to-go, state, action — each
// embedded to the model width plus a learned embedding of the timestep within the episode, and
// predicts a_t from the hidden state of the s_t token through a causal GPT (core/torch/gpt.h).
// Conditioning on a high R at test time asks for a high-return behaviour. BC is the same model
// over (s_t, a_t) tokens only; %BC is BC on the top X% of episodes by return.
//
// Optionally the GPT starts from language-model weights (Reid et al. 2022, "Can Wikipedia Help
// Offline Reinforcement Learning?"), with their similarity-alignment loss between the input
// embeddings and k-means centres of the LM's token embeddings, and LM co-training.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/models/encoders.h"
#include "core/models/gpt.h"
#include "core/models/models.h"

namespace mnemo::replay {
struct Dataset;
}

namespace mnemo::learners {

// The `learner.dt` section: used when learner.algo is dt or bc.
struct DTOptions {
  std::string dataset;               // D4RL or Minari HDF5 (replay/dataset.h)
  std::int64_t context = 20;         // K timesteps per window
  nn::GPTOptions gpt;                // backbone (vocab_size set from the LM when co-training)
  std::int64_t max_ep_len = 1000;    // rows of the timestep embedding; later steps clamp
  bool positions = false;            // add the GPT's own position embedding (as Reid et al. with an LM)
  std::string encoder = "auto";      // state embedding: linear, mlp, nature, impala (auto: CNN for large images)
  std::vector<std::int64_t> encoder_hidden = {128};  // hidden layers of the mlp state encoder
  double rtg_scale = 1000.0;         // returns-to-go are divided by this (gym: 1000)
  bool normalize_states = true;      // vector states: subtract the dataset mean, divide by its std
  double top_percent = 100.0;        // train on the top X% of episodes by return (%BC; 100: all)
  std::int64_t batch_size = 64;
  std::int64_t updates = 100000;
  double lr = 1e-4;
  double weight_decay = 1e-4;
  std::int64_t warmup_steps = 10000;
  double grad_clip = 0.25;
  double target_return = 0.0;        // evaluation's initial return-to-go (0: the dataset's best return)
  std::int64_t eval_every = 0;       // evaluate every N updates (0: only at the end)
  std::int64_t eval_episodes = 20;
  std::int64_t eval_envs = 10;
  bool eval_sample = false;          // discrete actions: sample instead of taking the argmax
  std::string init_from;             // GPT-2-named safetensors (mnemo pretrain-lm's lm.safetensors, GPT-2)
  double align_weight = 0.0;         // Reid et al.'s similarity alignment loss weight (they use 0.1)
  std::int64_t align_clusters = 0;   // k-means centres of the LM token embeddings (0: min(vocab, 1000))
  std::int64_t align_anneal = 0;     // updates over which align_weight decays linearly to 0 (0: constant)
  std::string lm_corpus;             // text for language-model co-training (needs init_from)
  double lm_weight = 0.0;            // weight of the co-trained LM loss
  std::int64_t lm_batch = 8;
  std::int64_t lm_block = 128;
  std::string device = "cpu";        // where the model trains and acts: cpu, cuda or cuda:N

  template <class V>
  void visit(V& v) {
    v("dataset", dataset, "offline dataset: D4RL-layout HDF5 file or Minari dataset (mnemo collect writes one)");
    v("context", context, "K: timesteps per training window and acting context");
    v("gpt", gpt, "causal transformer backbone (Decision Transformer gym default: 3 layers, 1 head, 128 wide)");
    v("max_ep_len", max_ep_len, "rows of the timestep embedding (longer episodes reuse the last row)");
    v("positions", positions, "also add the GPT's token-position embedding (useful with language-model weights)");
    v("encoder", encoder, "state embedding: auto (CNN for images of 32+ pixels, else linear), linear, mlp, nature or impala");
    v("encoder_hidden", encoder_hidden, "hidden layer sizes (ReLU) of the mlp state encoder");
    v("rtg_scale", rtg_scale, "returns-to-go are divided by this before embedding (gym: 1000)");
    v("normalize_states", normalize_states, "normalise vector states with the dataset's mean and std");
    v("top_percent", top_percent, "train on the top X% of episodes by return (%BC); 100 uses them all");
    v("batch_size", batch_size, "windows per update and learner rank");
    v("updates", updates, "gradient updates to train for");
    v("lr", lr, "AdamW learning rate after warmup");
    v("weight_decay", weight_decay, "AdamW weight decay");
    v("warmup_steps", warmup_steps, "updates of linear learning-rate warmup");
    v("grad_clip", grad_clip, "global gradient norm clip");
    v("target_return", target_return, "evaluation's initial return-to-go (0: the best episode return in the dataset)");
    v("eval_every", eval_every, "evaluate in the env every N updates (0: only at the end)");
    v("eval_episodes", eval_episodes, "episodes per evaluation");
    v("eval_envs", eval_envs, "envs stepped together during evaluation");
    v("eval_sample", eval_sample, "discrete actions: sample from the predicted distribution instead of the argmax");
    v("init_from", init_from, "start the transformer from GPT-2-named safetensors weights (mnemo pretrain-lm output or GPT-2)");
    v("align_weight", align_weight, "similarity alignment loss weight (Reid et al.: 0.1); needs init_from");
    v("align_clusters", align_clusters, "k-means centres of the LM token embeddings for alignment (0: min(vocab, 1000))");
    v("align_anneal", align_anneal, "updates over which align_weight decays linearly to 0 (0: constant)");
    v("lm_corpus", lm_corpus, "text file for language-model co-training; needs init_from with a vocabulary");
    v("lm_weight", lm_weight, "weight of the co-trained language-model loss");
    v("lm_batch", lm_batch, "text windows per update for co-training");
    v("lm_block", lm_block, "tokens per co-training window");
    v("device", device, "where the model trains and acts: cpu, cuda or cuda:N (under mpirun, cuda uses NCCL when built with it)");
  }
  // Throws ConfigError naming the key. `algo` is dt or bc.
  void validate(const std::string& algo) const;
  // The parsed device; ConfigError for a bad name or a CUDA device this process does not have
  // (validate() checks the name only).
  torch::Device torch_device() const;
};

// What a DT sees of the environment: the observation spec and action space it acts in, and
// whether it conditions on returns (DT) or not (BC).
struct DTShape {
  Spec obs_spec;
  ActionSpace action_space;
  bool condition_on_return = true;
};

// The model. Inputs are batch-major windows, padded on the left (pad false) as in Chen et al.
class DecisionTransformerImpl : public torch::nn::Module {
 public:
  DecisionTransformerImpl(const DTOptions& options, const DTShape& shape);
  // states [B, K, obs_dim] float (raw, as flatten_obs gives them), actions [B, K] int64 or
  // [B, K, A] float in [-1, 1] (box actions scaled from their bounds), rtg [B, K] float (scaled), timesteps [B, K] int64, pad [B, K] bool (true:
  // a real step) -> action predictions [B, K, A] (logits, or tanh means for continuous actions),
  // where row t predicts a_t from the tokens up to s_t.
  torch::Tensor forward(const torch::Tensor& states, const torch::Tensor& actions, const torch::Tensor& rtg,
                        const torch::Tensor& timesteps, const torch::Tensor& pad);
  // The embedded input tokens of the last forward at real steps, [n, D] (for the alignment loss).
  const torch::Tensor& last_tokens() const { return last_tokens_; }
  // The dataset's per-dimension state mean and std, applied inside forward to vector states;
  // buffers, so a checkpoint carries them to evaluation.
  void set_state_normalizer(const torch::Tensor& mean, const torch::Tensor& std);
  std::int64_t obs_dim() const { return obs_dim_; }
  bool discrete() const { return discrete_; }
  // The device the model lives on.
  torch::Device device() const { return state_mean_.device(); }
  nn::GPT& gpt() { return gpt_; }
  const DTShape& shape() const { return shape_; }
  std::int64_t action_dim() const { return action_dim_; }  // logits or action dimensions

 private:
  DTOptions options_;
  DTShape shape_;
  std::int64_t obs_dim_ = 0, action_dim_ = 0;
  bool discrete_ = true;
  bool normalize_ = false;  // states pass the dataset normaliser before the embedding
  std::shared_ptr<nn::EncoderImpl> encoder_;  // MLP or CNN; null: embed_state reads the states
  torch::nn::Linear embed_state{nullptr}, embed_return{nullptr}, embed_action_box{nullptr}, predict_action{nullptr};
  torch::nn::Embedding embed_timestep{nullptr}, embed_action_discrete{nullptr};
  torch::nn::LayerNorm embed_ln{nullptr};
  nn::GPT gpt_{nullptr};
  torch::Tensor state_mean_, state_std_;
  torch::Tensor last_tokens_;
};
TORCH_MODULE(DecisionTransformer);

// Box actions <-> the model's [-1, 1] range, per dimension from the space's bounds.
torch::Tensor scale_actions(const ActionSpace& space, const torch::Tensor& actions);
torch::Tensor unscale_actions(const ActionSpace& space, const torch::Tensor& scaled);

// A training batch: B windows of K steps, padded on the left.
struct DTBatch {
  torch::Tensor states;     // [B, K, obs_dim] float
  torch::Tensor actions;    // [B, K] int64 or [B, K, A] float
  torch::Tensor rtg;        // [B, K] float, scaled
  torch::Tensor timesteps;  // [B, K] int64
  torch::Tensor pad;        // [B, K] bool
};

// Supervised loss on real steps: cross-entropy (discrete) or mean squared error (continuous).
// Also returns "action_loss" and, for discrete actions, "action_accuracy".
torch::Tensor dt_action_loss(const torch::Tensor& predictions, const DTBatch& batch, bool discrete,
                             std::map<std::string, double>* stats);

// The offline episodes as tensors plus the state normaliser. Windows are drawn as in Chen et
// al.: an episode with probability proportional to its length, a uniformly random start in it,
// up to K steps from there, left-padded when the episode ends sooner.
class DTData {
 public:
  // Keeps the episodes whose return is in the top `top_percent`% (at least one).
  DTData(const replay::Dataset& dataset, const DTOptions& options, const DTShape& shape);
  DTBatch sample(std::int64_t batch_size, at::Generator& gen) const;
  std::int64_t episodes() const { return static_cast<std::int64_t>(starts_.size()); }
  std::int64_t transitions() const { return states_.size(0); }
  double best_return() const { return best_return_; }
  double mean_return() const { return mean_return_; }
  // Per-dimension mean and std of the kept states (0 and 1 when not normalising), for
  // DecisionTransformerImpl::set_state_normalizer.
  const torch::Tensor& state_mean() const { return mean_; }
  const torch::Tensor& state_std() const { return std_; }

 private:
  std::int64_t context_;
  ActionSpace space_;
  torch::Tensor states_, actions_, rtg_, timesteps_;  // concatenated kept episodes (states in stored dtype)
  std::vector<std::int64_t> starts_, lengths_;
  torch::Tensor length_weights_;  // [episodes] float64
  torch::Tensor mean_, std_;
  double best_return_ = 0, mean_return_ = 0;
  bool discrete_ = true;
};

// Acts with a trained model in N envs at once, each with its own history of the last K steps
// and its own return-to-go: it starts at the target and drops by every reward received, and
// starts over when the env's episode ends.
class DTActor {
 public:
  DTActor(DecisionTransformer model, const DTOptions& options, std::int64_t num_envs, double target_return,
          std::uint64_t seed);
  // obs [N, obs_dim] float (raw, as flatten_obs gives) -> actions [N] int64 or [N, A] float.
  torch::Tensor act(const torch::Tensor& obs);
  // After the env step: rewards [N], ended [N] bool (terminated or truncated; the env has reset).
  void observe(const torch::Tensor& rewards, const torch::Tensor& ended);
  // Each env's current (unscaled) return-to-go.
  torch::Tensor returns_to_go() const { return rtg_.clone(); }

 private:
  DecisionTransformer model_;
  DTOptions options_;
  double target_;
  at::Generator gen_;
  torch::Tensor states_, actions_, rtg_window_, timesteps_, pad_;  // [N, K, ...] newest last; actions scaled
  torch::Tensor rtg_;   // [N] unscaled, the next step's
  torch::Tensor t_;     // [N] int64 step within the episode
};

}  // namespace mnemo::learners
