#include "learners/dt.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "core/check.h"
#include "core/models/tensor.h"
#include "replay/datasets/dataset.h"

namespace mnemo::learners {
namespace {

// The state embedding: a CNN only for images large enough for its strides.
std::string encoder_kind(const DTOptions& o, const Spec& spec) {
  if (o.encoder != "auto") return o.encoder;
  auto image = nn::image_shape(spec);
  return image && image->height >= 32 && image->width >= 32 ? "nature" : "linear";
}

// States are normalised before a linear or MLP embedding; CNNs scale pixels themselves.
bool normalized(const DTOptions& o, const Spec& spec) {
  const std::string kind = encoder_kind(o, spec);
  return kind == "linear" || kind == "mlp";
}

}  // namespace

void DTOptions::validate(const std::string& algo) const {
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("learner.dt." + key + " " + what);
  };
  if (dataset.empty()) fail("dataset", "is required for learner.algo " + algo + " (an HDF5 file; mnemo collect writes one)");
  if (context < 1) fail("context", "must be at least 1");
  gpt.validate();
  if (max_ep_len < 1) fail("max_ep_len", "must be at least 1");
  if (encoder != "auto" && encoder != "linear" && encoder != "mlp" && encoder != "nature" && encoder != "impala")
    fail("encoder", "must be auto, linear, mlp, nature or impala, not '" + encoder + "'");
  if (encoder == "mlp" && encoder_hidden.empty()) fail("encoder_hidden", "must name at least one layer for encoder mlp");
  if (!(rtg_scale > 0)) fail("rtg_scale", "must be positive");
  if (!(top_percent > 0 && top_percent <= 100)) fail("top_percent", "must be in (0, 100]");
  if (batch_size < 1) fail("batch_size", "must be at least 1");
  if (updates < 1) fail("updates", "must be at least 1");
  if (!(lr > 0)) fail("lr", "must be positive");
  if (weight_decay < 0) fail("weight_decay", "must be >= 0");
  if (warmup_steps < 0) fail("warmup_steps", "must be >= 0");
  if (!(grad_clip > 0)) fail("grad_clip", "must be positive");
  if (eval_every < 0) fail("eval_every", "must be >= 0");
  if (eval_episodes < 0) fail("eval_episodes", "must be >= 0");
  if (eval_envs < 1) fail("eval_envs", "must be at least 1");
  if (align_weight < 0) fail("align_weight", "must be >= 0");
  if (align_weight > 0 && init_from.empty()) fail("align_weight", "needs learner.dt.init_from (language-model weights)");
  if (align_clusters < 0) fail("align_clusters", "must be >= 0");
  if (align_anneal < 0) fail("align_anneal", "must be >= 0");
  if (lm_weight < 0) fail("lm_weight", "must be >= 0");
  if (lm_weight > 0 && (init_from.empty() || lm_corpus.empty()))
    fail("lm_weight", "needs learner.dt.init_from and learner.dt.lm_corpus");
  if (lm_batch < 1) fail("lm_batch", "must be at least 1");
  if (lm_block < 2) fail("lm_block", "must be at least 2");
  parse_device(device, "learner.dt.device", /*available=*/false);
  const std::int64_t tokens = (algo == "bc" ? 2 : 3) * context;
  if (positions && tokens > gpt.n_positions)
    fail("context", "x " + std::to_string(tokens / context) + " tokens (" + std::to_string(tokens) +
                        ") exceeds learner.dt.gpt.n_positions (" + std::to_string(gpt.n_positions) + ")");
}

torch::Device DTOptions::torch_device() const { return parse_device(device, "learner.dt.device"); }

// ---------------------------------------------------------------------------------------------
// Model

DecisionTransformerImpl::DecisionTransformerImpl(const DTOptions& options, const DTShape& shape)
    : options_(options), shape_(shape) {
  const auto& space = shape.action_space;
  if (space.kind == ActionSpace::Kind::kMultiDiscrete)
    throw ConfigError("learner.dt: multi-discrete action spaces are not supported (discrete and box are)");
  discrete_ = space.kind == ActionSpace::Kind::kDiscrete;
  action_dim_ = nn::action_head_size(space);
  obs_dim_ = nn::obs_dim(shape.obs_spec);
  const std::int64_t d = options.gpt.n_embd;
  const std::string kind = encoder_kind(options, shape.obs_spec);
  normalize_ = normalized(options, shape.obs_spec);
  if (kind == "linear") {
    embed_state = register_module("embed_state", torch::nn::Linear(obs_dim_, d));
  } else if (kind == "mlp") {
    // Normalised features, so no pixel scaling even for small uint8 grids such as Key-to-Door's.
    encoder_ = register_module(
        "encoder", std::make_shared<nn::MlpEncoderImpl>(
                       nn::MlpEncoderOptions(obs_dim_).hidden(options.encoder_hidden).activation("relu")));
    embed_state = register_module("embed_state", torch::nn::Linear(encoder_->out_dim(), d));
  } else {
    nn::ModelOptions mo;
    mo.encoder = kind;
    encoder_ = register_module("encoder", nn::make_encoder(mo, shape.obs_spec));
    embed_state = register_module("embed_state", torch::nn::Linear(encoder_->out_dim(), d));
  }
  embed_timestep = register_module("embed_timestep", torch::nn::Embedding(options.max_ep_len, d));
  if (shape.condition_on_return) embed_return = register_module("embed_return", torch::nn::Linear(1, d));
  if (discrete_)
    embed_action_discrete = register_module("embed_action", torch::nn::Embedding(space.n, d));
  else
    embed_action_box = register_module("embed_action", torch::nn::Linear(action_dim_, d));
  embed_ln = register_module("embed_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  gpt_ = register_module("gpt", nn::GPT(options.gpt));
  predict_action = register_module("predict_action", torch::nn::Linear(d, action_dim_));
  state_mean_ = register_buffer("state_mean", torch::zeros({obs_dim_}));
  state_std_ = register_buffer("state_std", torch::ones({obs_dim_}));
}

void DecisionTransformerImpl::set_state_normalizer(const torch::Tensor& mean, const torch::Tensor& std) {
  MNEMO_CHECK(mean.numel() == obs_dim_ && std.numel() == obs_dim_, "normaliser of ", mean.numel(), " dims for ",
              obs_dim_, "-dimensional states");
  torch::NoGradGuard no_grad;
  state_mean_.copy_(mean.reshape({obs_dim_}));
  state_std_.copy_(std.reshape({obs_dim_}));
}

torch::Tensor DecisionTransformerImpl::forward(const torch::Tensor& states, const torch::Tensor& actions,
                                               const torch::Tensor& rtg, const torch::Tensor& timesteps,
                                               const torch::Tensor& pad) {
  MNEMO_CHECK(states.dim() == 3 && states.size(2) == obs_dim_, "dt: states of shape ", states.sizes(),
              ", expected [B, K, ", obs_dim_, "]");
  const std::int64_t B = states.size(0), K = states.size(1), d = options_.gpt.n_embd;
  MNEMO_CHECK(pad.sizes() == torch::IntArrayRef({B, K}) && timesteps.sizes() == pad.sizes(), "dt: pad ",
              pad.sizes(), " / timesteps ", timesteps.sizes(), " must be [", B, ", ", K, "]");
  torch::Tensor s;
  auto x = normalize_ ? (states - state_mean_) / state_std_ : states;
  if (encoder_) {
    s = embed_state(encoder_->forward(x.reshape({B * K, obs_dim_}))).view({B, K, d});
  } else {
    s = embed_state(x);
  }
  auto time = embed_timestep(timesteps.clamp(0, options_.max_ep_len - 1));
  torch::Tensor a;
  if (discrete_) {
    MNEMO_CHECK(actions.sizes() == pad.sizes(), "dt: discrete actions ", actions.sizes(), ", expected [B, K]");
    a = embed_action_discrete(actions.clamp(0, action_dim_ - 1));
  } else {
    MNEMO_CHECK(actions.dim() == 3 && actions.size(2) == action_dim_, "dt: actions ", actions.sizes(),
                ", expected [B, K, ", action_dim_, "]");
    a = embed_action_box(actions);
  }
  std::vector<torch::Tensor> per_step;
  if (shape_.condition_on_return) per_step.push_back(embed_return(rtg.unsqueeze(-1)) + time);
  per_step.push_back(s + time);
  per_step.push_back(a + time);
  const std::int64_t n = static_cast<std::int64_t>(per_step.size());
  // (R_1, s_1, a_1, R_2, ...): interleaved so that the causal mask lets s_t see R_<=t, s_<=t, a_<t.
  auto tokens = embed_ln(torch::stack(per_step, 2).reshape({B, n * K, d}));
  auto token_pad = pad.unsqueeze(2).expand({B, K, n}).reshape({B, n * K});
  last_tokens_ = tokens.index({token_pad});
  auto h = gpt_->forward_embeds(tokens, token_pad, options_.positions).view({B, K, n, d});
  auto out = predict_action(h.select(2, n - 2));  // the state token of each step
  return discrete_ ? out : torch::tanh(out);
}

torch::Tensor scale_actions(const ActionSpace& space, const torch::Tensor& actions) {
  auto low = torch::tensor(space.low, torch::kFloat32), high = torch::tensor(space.high, torch::kFloat32);
  return ((actions.to(torch::kFloat32) - low) / (high - low) * 2 - 1).clamp(-1, 1);
}

torch::Tensor unscale_actions(const ActionSpace& space, const torch::Tensor& scaled) {
  auto low = torch::tensor(space.low, torch::kFloat32), high = torch::tensor(space.high, torch::kFloat32);
  return low + (scaled.clamp(-1, 1) + 1) * 0.5 * (high - low);
}

torch::Tensor dt_action_loss(const torch::Tensor& predictions, const DTBatch& batch, bool discrete,
                             std::map<std::string, double>* stats) {
  auto real = batch.pad;
  torch::Tensor loss;
  if (discrete) {
    auto logits = predictions.index({real});
    auto target = batch.actions.index({real});
    loss = torch::nn::functional::cross_entropy(logits, target);
    if (stats != nullptr) {
      torch::NoGradGuard no_grad;
      (*stats)["action_accuracy"] = logits.argmax(-1).eq(target).to(torch::kFloat64).mean().item<double>();
    }
  } else {
    loss = (predictions.index({real}) - batch.actions.index({real})).pow(2).mean();
  }
  if (stats != nullptr) (*stats)["action_loss"] = loss.item<double>();
  return loss;
}

// ---------------------------------------------------------------------------------------------
// Data

DTData::DTData(const replay::Dataset& dataset, const DTOptions& options, const DTShape& shape)
    : context_(options.context), space_(shape.action_space) {
  dataset.validate();
  discrete_ = space_.kind == ActionSpace::Kind::kDiscrete;
  auto episodes = replay::split_episodes(dataset);
  if (episodes.empty()) throw Error("dt: the dataset has no transitions");
  auto rtg_all = replay::returns_to_go(dataset, episodes, 1.0);

  const std::int64_t obs_dim = nn::obs_dim(shape.obs_spec);
  auto obs = to_tensor(dataset.observations);
  if (obs.numel() != dataset.size() * obs_dim)
    throw Error("dt: dataset observations have shape " + nn::sizes_str(obs.sizes()) + " but the env's spec " +
                shape.obs_spec.str() + " has " + std::to_string(obs_dim) + " values per step");
  obs = obs.reshape({dataset.size(), obs_dim});
  auto act = to_tensor(dataset.actions);
  if (discrete_) {
    if (act.scalar_type() != torch::kLong || act.dim() != 1)
      throw Error("dt: the env has discrete actions but the dataset's actions are " + nn::sizes_str(act.sizes()) +
                  " " + std::string(dtype_name(dataset.actions.dtype())));
    if (act.numel() > 0 && (act.min().item<std::int64_t>() < 0 || act.max().item<std::int64_t>() >= space_.n))
      throw Error("dt: dataset actions outside the env's discrete(" + std::to_string(space_.n) + ") space");
  } else {
    const auto n = static_cast<std::int64_t>(space_.low.size());
    if (act.numel() != dataset.size() * n)
      throw Error("dt: the env's actions have " + std::to_string(n) + " dimensions but the dataset's have shape " +
                  nn::sizes_str(act.sizes()));
    act = scale_actions(space_, act.reshape({dataset.size(), n}));
  }

  // %BC: the best episodes by return (ties keep dataset order).
  std::vector<std::size_t> order(episodes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return episodes[a].ret > episodes[b].ret; });
  auto keep = static_cast<std::size_t>(std::ceil(options.top_percent / 100.0 * static_cast<double>(order.size())));
  keep = std::clamp<std::size_t>(keep, 1, order.size());
  order.resize(keep);
  std::sort(order.begin(), order.end());

  std::vector<torch::Tensor> index;
  std::vector<std::int64_t> steps;
  std::int64_t at = 0;
  double ret_sum = 0;
  best_return_ = -std::numeric_limits<double>::infinity();
  for (auto i : order) {
    const auto& e = episodes[i];
    index.push_back(torch::arange(e.begin, e.end, torch::kLong));
    for (std::int64_t t = 0; t < e.length(); ++t) steps.push_back(t);
    starts_.push_back(at);
    lengths_.push_back(e.length());
    at += e.length();
    ret_sum += e.ret;
    best_return_ = std::max(best_return_, e.ret);
  }
  mean_return_ = ret_sum / static_cast<double>(order.size());
  auto idx = torch::cat(index);
  states_ = obs.index_select(0, idx).contiguous();  // stored dtype: uint8 pixels stay compact
  actions_ = act.index_select(0, idx).contiguous();
  rtg_ = torch::from_blob(rtg_all.data(), {dataset.size()}, torch::kFloat32).index_select(0, idx) /
         options.rtg_scale;
  timesteps_ = torch::tensor(steps, torch::kLong);
  length_weights_ = torch::tensor(lengths_, torch::kFloat64);

  if (options.normalize_states && normalized(options, shape.obs_spec)) {
    auto f = states_.to(torch::kFloat64);
    mean_ = f.mean(0).to(torch::kFloat32);
    std_ = f.std(0, /*unbiased=*/false).clamp_min(1e-6).to(torch::kFloat32);
  } else {
    mean_ = torch::zeros({obs_dim});
    std_ = torch::ones({obs_dim});
  }
}

DTBatch DTData::sample(std::int64_t batch_size, at::Generator& gen) const {
  const std::int64_t K = context_;
  auto ep = torch::multinomial(length_weights_, batch_size, /*replacement=*/true, gen);
  auto starts = torch::tensor(starts_, torch::kLong).index_select(0, ep);
  auto lengths = torch::tensor(lengths_, torch::kLong).index_select(0, ep);
  // A uniformly random first step, then up to K steps, right-aligned in the window.
  auto first = (torch::rand({batch_size}, gen, torch::kFloat64) * lengths.to(torch::kFloat64))
                   .floor()
                   .to(torch::kLong)
                   .clamp_max(lengths - 1);
  auto take = torch::minimum(lengths - first, torch::full_like(lengths, K));
  auto slot = torch::arange(K, torch::kLong).unsqueeze(0);           // [1, K]
  auto offset = slot - (K - take).unsqueeze(1);                      // step within the window's span
  auto pad = offset.ge(0);                                           // [B, K]
  auto row = (starts + first).unsqueeze(1) + offset.clamp_min(0);   // absolute rows (pads reuse the first)
  auto flat = row.reshape({-1});
  DTBatch b;
  auto zero_pads = [&](torch::Tensor t) {
    auto mask = pad;
    while (mask.dim() < t.dim()) mask = mask.unsqueeze(-1);
    return t * mask.to(t.scalar_type());
  };
  b.states = zero_pads(states_.index_select(0, flat).to(torch::kFloat32).view({batch_size, K, -1}));
  auto acts = actions_.index_select(0, flat);
  b.actions = zero_pads(discrete_ ? acts.view({batch_size, K}) : acts.view({batch_size, K, -1}));
  b.rtg = zero_pads(rtg_.index_select(0, flat).view({batch_size, K}));
  b.timesteps = zero_pads(timesteps_.index_select(0, flat).view({batch_size, K}));
  b.pad = pad;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Acting

DTActor::DTActor(DecisionTransformer model, const DTOptions& options, std::int64_t num_envs, double target_return,
                 std::uint64_t seed)
    : model_(std::move(model)), options_(options), target_(target_return), gen_(nn::make_generator(seed)) {
  const std::int64_t K = options.context, N = num_envs;
  states_ = torch::zeros({N, K, model_->obs_dim()});
  actions_ = model_->discrete() ? torch::zeros({N, K}, torch::kLong) : torch::zeros({N, K, model_->action_dim()});
  rtg_window_ = torch::zeros({N, K});
  timesteps_ = torch::zeros({N, K}, torch::kLong);
  pad_ = torch::zeros({N, K}, torch::kBool);
  rtg_ = torch::full({N}, target_return, torch::kFloat64);
  t_ = torch::zeros({N}, torch::kLong);
}

torch::Tensor DTActor::act(const torch::Tensor& obs) {
  const std::int64_t N = states_.size(0), K = states_.size(1);
  MNEMO_CHECK(obs.dim() == 2 && obs.size(0) == N && obs.size(1) == model_->obs_dim(), "dt actor: observations ",
              obs.sizes(), ", expected [", N, ", ", model_->obs_dim(), "]");
  // Slide every window by one step; the new step's action slot is a placeholder the causal mask
  // hides from its state token.
  auto push = [](torch::Tensor& window, const torch::Tensor& step) {
    window = torch::cat({window.narrow(1, 1, window.size(1) - 1), step.unsqueeze(1).to(window.scalar_type())}, 1);
  };
  push(states_, obs.to(torch::kFloat32));
  push(actions_, torch::zeros_like(actions_.select(1, 0)));
  push(rtg_window_, (rtg_ / options_.rtg_scale).to(torch::kFloat32));
  push(timesteps_, t_);
  push(pad_, torch::ones({N}, torch::kBool));

  torch::Tensor pred;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = model_->is_training();
    model_->eval();
    const auto device = model_->device();
    pred = model_->forward(states_.to(device), actions_.to(device), rtg_window_.to(device), timesteps_.to(device),
                           pad_.to(device))
               .select(1, K - 1)
               .to(torch::kCPU);
    if (was_training) model_->train();
  }
  const auto& space = model_->shape().action_space;
  if (model_->discrete()) {
    auto a = options_.eval_sample ? torch::multinomial(torch::softmax(pred, -1), 1, false, gen_).squeeze(1)
                                  : pred.argmax(-1);
    actions_.select(1, K - 1).copy_(a);
    return a;
  }
  actions_.select(1, K - 1).copy_(pred);
  return unscale_actions(space, pred);
}

void DTActor::observe(const torch::Tensor& rewards, const torch::Tensor& ended) {
  const std::int64_t N = rtg_.size(0);
  MNEMO_CHECK(rewards.numel() == N && ended.numel() == N, "dt actor: ", rewards.numel(), " rewards and ",
              ended.numel(), " flags for ", N, " envs");
  rtg_ -= rewards.to(torch::kFloat64).reshape({N});
  t_ += 1;
  auto done = ended.to(torch::kBool).reshape({N});
  // An ended episode starts over: empty history, the target again, timestep 0.
  rtg_.masked_fill_(done, target_);
  t_.masked_fill_(done, 0);
  pad_.masked_fill_(done.unsqueeze(1), false);
}

}  // namespace mnemo::learners
