// Observation encoders, actor-critic heads and the memory-policy scaffold (see encoders.h).
#include "core/models/encoders.h"

#include <cmath>
#include <sstream>

#include "core/models/safetensors.h"

namespace mnemo::nn {
namespace {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, double gain) {
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
  if (gain > 0) {
    torch::nn::init::orthogonal_(conv->weight, gain);
    torch::nn::init::zeros_(conv->bias);
  }
  return conv;
}

// [N, H*W*C] floats 0..255 -> [N, C, H, W] floats 0..1, the layout torch's convolutions want.
torch::Tensor to_nchw(const torch::Tensor& obs, const ImageShape& im) {
  return obs.reshape({obs.size(0), im.height, im.width, im.channels}).permute({0, 3, 1, 2}) * (1.0 / 255.0);
}

// IMPALA residual block: x + conv(relu(conv(relu(x)))), channels and size preserved.
class ImpalaResidualBlockImpl : public torch::nn::Module {
 public:
  explicit ImpalaResidualBlockImpl(int64_t channels)
      : conv0_(register_module("conv0", make_conv(channels, channels, 3, 1, 1, /*gain=*/0))),
        conv1_(register_module("conv1", make_conv(channels, channels, 3, 1, 1, /*gain=*/0))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return x + conv1_->forward(torch::relu(conv0_->forward(torch::relu(x))));
  }

 private:
  torch::nn::Conv2d conv0_, conv1_;
};
TORCH_MODULE(ImpalaResidualBlock);


}  // namespace

std::string sizes_str(torch::IntArrayRef sizes) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  os << "]";
  return os.str();
}

void init_linear(torch::nn::Linear& layer, double gain) {
  torch::nn::init::orthogonal_(layer->weight, gain);
  if (layer->bias.defined()) torch::nn::init::zeros_(layer->bias);
}

std::optional<ImageShape> image_shape(const Spec& spec) {
  if (spec.fields.size() != 1) return std::nullopt;
  const auto& f = spec.fields[0];
  if (f.dtype != DType::kUInt8 || f.shape.size() != 3) return std::nullopt;
  return ImageShape{f.shape[0], f.shape[1], f.shape[2]};
}

// ---------------------------------------------------------------------------------------------
// Encoders

MlpEncoderImpl::MlpEncoderImpl(const MlpEncoderOptions& o) : options_(o), out_dim_(o.in_dim()) {
  if (o.activation() != "tanh" && o.activation() != "relu")
    throw ConfigError("model.activation must be tanh or relu, got '" + o.activation() + "'");
  layers_ = register_module("layers", torch::nn::Sequential());
  for (auto h : o.hidden()) {
    if (h <= 0) throw ConfigError("model.encoder_hidden sizes must be positive, got " + std::to_string(h));
    auto lin = torch::nn::Linear(out_dim_, h);
    init_linear(lin, std::sqrt(2.0));
    layers_->push_back(lin);
    if (o.activation() == "tanh") layers_->push_back(torch::nn::Tanh());
    else layers_->push_back(torch::nn::ReLU());
    out_dim_ = h;
  }
}

torch::Tensor MlpEncoderImpl::forward(const torch::Tensor& obs) {
  auto x = options_.scale() == 1.0 ? obs : obs * options_.scale();
  return layers_->is_empty() ? x : layers_->forward(x);
}

NatureCnnImpl::NatureCnnImpl(const CnnEncoderOptions& o) : options_(o) {
  const auto& im = o.image();
  auto out = [](int64_t n, int64_t k, int64_t s) { return (n - k) / s + 1; };
  int64_t h = out(out(out(im.height, 8, 4), 4, 2), 3, 1), w = out(out(out(im.width, 8, 4), 4, 2), 3, 1);
  if (im.height < 36 || im.width < 36 || h < 1 || w < 1)
    throw ConfigError("model.encoder: the nature CNN needs images of at least 36x36, got " + std::to_string(im.height) +
                      "x" + std::to_string(im.width) + " (use encoder: impala for small images)");
  if (o.features() <= 0) throw ConfigError("model.cnn_features must be positive");
  const double gain = std::sqrt(2.0);
  convs_ = register_module(
      "convs", torch::nn::Sequential(make_conv(im.channels, 32, 8, 4, 0, gain), torch::nn::ReLU(),
                                     make_conv(32, 64, 4, 2, 0, gain), torch::nn::ReLU(),
                                     make_conv(64, 64, 3, 1, 0, gain), torch::nn::ReLU(), torch::nn::Flatten()));
  fc_ = register_module("fc", torch::nn::Linear(64 * h * w, o.features()));
  init_linear(fc_, std::sqrt(2.0));
}

torch::Tensor NatureCnnImpl::forward(const torch::Tensor& obs) {
  return torch::relu(fc_->forward(convs_->forward(to_nchw(obs, options_.image()))));
}

ImpalaCnnImpl::ImpalaCnnImpl(const CnnEncoderOptions& o) : options_(o) {
  const auto& im = o.image();
  if (im.height < 1 || im.width < 1 || im.channels < 1)
    throw ConfigError("model.encoder: empty image " + std::to_string(im.height) + "x" + std::to_string(im.width) + "x" +
                      std::to_string(im.channels));
  if (o.channels().empty()) throw ConfigError("model.impala_channels must not be empty");
  if (o.features() <= 0) throw ConfigError("model.cnn_features must be positive");
  stacks_ = register_module("stacks", torch::nn::Sequential());
  int64_t c = im.channels, h = im.height, w = im.width;
  // Convolutions keep torch's default (Kaiming-uniform) init, as CleanRL's IMPALA agent does:
  // orthogonal sqrt(2) gains compound through the residual sums.
  for (auto ch : o.channels()) {
    if (ch <= 0) throw ConfigError("model.impala_channels must be positive");
    stacks_->push_back(make_conv(c, ch, 3, 1, 1, /*gain=*/0));
    stacks_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
    stacks_->push_back(ImpalaResidualBlock(ch));
    stacks_->push_back(ImpalaResidualBlock(ch));
    c = ch;
    h = (h - 1) / 2 + 1;
    w = (w - 1) / 2 + 1;
  }
  stacks_->push_back(torch::nn::Flatten());
  fc_ = register_module("fc", torch::nn::Linear(c * h * w, o.features()));
  init_linear(fc_, std::sqrt(2.0));
}

torch::Tensor ImpalaCnnImpl::forward(const torch::Tensor& obs) {
  return torch::relu(fc_->forward(torch::relu(stacks_->forward(to_nchw(obs, options_.image())))));
}

std::string encoder_type(const ModelOptions& o, const Spec& spec) {
  return o.encoder == "auto" ? (image_shape(spec) ? "nature" : "mlp") : o.encoder;
}

std::shared_ptr<EncoderImpl> make_encoder(const ModelOptions& o, const Spec& spec) {
  auto image = image_shape(spec);
  const std::string kind = encoder_type(o, spec);
  if (kind == "mlp") {
    return std::make_shared<MlpEncoderImpl>(MlpEncoderOptions(obs_dim(spec))
                                                .hidden(o.encoder_hidden)
                                                .activation(o.activation)
                                                .scale(image ? 1.0 / 255.0 : 1.0));
  }
  if (kind != "nature" && kind != "impala")
    throw ConfigError("model.encoder: unknown encoder '" + o.encoder + "' (valid: auto, mlp, nature, impala)");
  if (!image)
    throw ConfigError("model.encoder: " + kind + " needs a single uint8 image field of shape [H, W, C], got " +
                      spec.str());
  auto co = CnnEncoderOptions(*image).features(o.cnn_features).channels(o.impala_channels);
  if (kind == "nature") return std::make_shared<NatureCnnImpl>(co);
  return std::make_shared<ImpalaCnnImpl>(co);
}

// ---------------------------------------------------------------------------------------------
// Heads and policies

ActorCriticHeadsImpl::ActorCriticHeadsImpl(int64_t in_dim, const ActionSpace& space, double init_log_std) {
  actor_ = register_module("actor", torch::nn::Linear(in_dim, action_head_size(space)));
  critic_ = register_module("critic", torch::nn::Linear(in_dim, 1));
  init_linear(actor_, 0.01);
  init_linear(critic_, 1.0);
  if (space.kind == ActionSpace::Kind::kBox)
    log_std_ = register_parameter("log_std", torch::full({action_head_size(space)}, init_log_std));
}

std::pair<torch::Tensor, torch::Tensor> ActorCriticHeadsImpl::forward(const torch::Tensor& features) {
  return {actor_->forward(features), critic_->forward(features).squeeze(-1)};
}

EncoderPolicyImpl::EncoderPolicyImpl(const ModelOptions& o, const Spec& spec, const ActionSpace& space)
    : obs_dim_(nn::obs_dim(spec)), prev_(o, space) {
  encoder_ = register_module("encoder", make_encoder(o, spec));
  heads_ = register_module("heads", ActorCriticHeads(encoder_->out_dim() + prev_.dim(), space, o.init_log_std));
}

PolicyOutput EncoderPolicyImpl::step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) {
  if (obs.dim() != 2 || obs.size(1) != obs_dim_)
    throw Error("mlp.step: observations have shape " + sizes_str(obs.sizes()) + ", expected [B, " +
                std::to_string(obs_dim_) + "]");
  auto [params, value] = heads_->forward(prev_.append(encoder_->forward(obs), prev, {}, "mlp.step: "));
  return {params, value, state};
}

PolicyOutput EncoderPolicyImpl::unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                                       const State& state0) {
  if (obs.dim() != 3 || obs.size(2) != obs_dim_)
    throw Error("mlp.unroll: observations have shape " + sizes_str(obs.sizes()) + ", expected [T, B, " +
                std::to_string(obs_dim_) + "]");
  const int64_t T = obs.size(0), B = obs.size(1);
  auto features = encoder_->forward(obs.reshape({T * B, obs_dim_})).reshape({T, B, -1});
  auto [params, value] =
      heads_->forward(prev_.append(features, prev, first.defined() ? first.to(torch::kBool) : first, "mlp.unroll: "));
  return {params, value, state0};
}

State reset_rows(const State& state, const State& initial, const torch::Tensor& reset) {
  State out;
  out.reserve(state.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    std::vector<int64_t> shape(static_cast<std::size_t>(state[i].dim()), 1);
    shape[0] = reset.size(0);
    out.push_back(torch::where(reset.view(shape), initial[i], state[i]));
  }
  return out;
}

RecurrentPolicyImpl::RecurrentPolicyImpl(std::string name, const ModelOptions& o, const Spec& spec,
                                         const ActionSpace& space)
    : name_(std::move(name)), obs_dim_(nn::obs_dim(spec)), options_(o), space_(space), prev_(o, space) {
  encoder_ = register_module("encoder", make_encoder(o, spec));
}

void RecurrentPolicyImpl::finish(int64_t core_dim) {
  heads_ = register_module("heads", ActorCriticHeads(core_dim, space_, options_.init_log_std));
}

State RecurrentPolicyImpl::initial_state(int64_t batch) {
  MNEMO_CHECK(batch >= 0, name_, ".initial_state: negative batch ", batch);
  auto p = heads_->parameters().front();
  return core_initial_state(batch, torch::TensorOptions().dtype(torch::kFloat32).device(p.device()));
}

void RecurrentPolicyImpl::check_state(const char* method, const State& state, int64_t batch) {
  // Shapes of a batch of one are enough to check any batch: the first dimension is the batch.
  State expected = core_initial_state(1, torch::TensorOptions().dtype(torch::kFloat32));
  std::string where = name_ + "." + method + ": ";
  if (state.size() != expected.size())
    throw Error(where + "state has " + std::to_string(state.size()) + " tensors, expected " +
                std::to_string(expected.size()) + " (" + state_layout() + ")");
  for (std::size_t i = 0; i < state.size(); ++i) {
    auto want = expected[i].sizes().vec();
    want[0] = batch;
    if (!state[i].defined() || state[i].sizes().vec() != want)
      throw Error(where + "state[" + std::to_string(i) + "] has shape " +
                  (state[i].defined() ? sizes_str(state[i].sizes()) : std::string("(undefined)")) + ", expected " +
                  sizes_str(want) + " for a batch of " + std::to_string(batch) + " (" + state_layout() + ")");
  }
}

PolicyOutput RecurrentPolicyImpl::run(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                                      const State& state, const std::string& where) {
  const int64_t T = obs.size(0), B = obs.size(1);
  auto features = encoder_->forward(obs.reshape({T * B, obs_dim_})).reshape({T, B, -1});
  auto [out, final_state] = core_unroll(prev_.append(features, prev, first, where), first, state);
  auto [params, value] = heads_->forward(out);
  return {params, value, std::move(final_state)};
}

PolicyOutput RecurrentPolicyImpl::step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) {
  if (obs.dim() != 2 || obs.size(1) != obs_dim_)
    throw Error(name_ + ".step: observations have shape " + sizes_str(obs.sizes()) + ", expected [B, " +
                std::to_string(obs_dim_) + "]");
  check_state("step", state, obs.size(0));
  prev_.check(prev, {obs.size(0)}, name_ + ".step: ");
  // The caller resets rows itself (actors do at episode ends), so a step is an unroll of one
  // step without resets: one code path, so acting and training cannot drift apart.
  auto first = torch::zeros({1, obs.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(obs.device()));
  auto one_step = [](const torch::Tensor& t) { return t.defined() ? t.unsqueeze(0) : t; };
  auto out = run(obs.unsqueeze(0), {one_step(prev.action), one_step(prev.reward)}, first, state, name_ + ".step: ");
  return {out.params.squeeze(0), out.value.squeeze(0), std::move(out.state)};
}

PolicyOutput RecurrentPolicyImpl::unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                                         const State& state0) {
  if (obs.dim() != 3 || obs.size(2) != obs_dim_ || obs.size(0) < 1)
    throw Error(name_ + ".unroll: observations have shape " + sizes_str(obs.sizes()) + ", expected [T, B, " +
                std::to_string(obs_dim_) + "] with T >= 1");
  if (!first.defined() || first.dim() != 2 || first.size(0) != obs.size(0) || first.size(1) != obs.size(1))
    throw Error(name_ + ".unroll: first has shape " +
                (first.defined() ? sizes_str(first.sizes()) : std::string("(undefined)")) + ", expected [" +
                std::to_string(obs.size(0)) + ", " + std::to_string(obs.size(1)) + "] to match observations " +
                sizes_str(obs.sizes()));
  check_state("unroll", state0, obs.size(1));
  return run(obs, prev, first.to(torch::kBool), state0, name_ + ".unroll: ");
}

void save_encoder(const std::filesystem::path& path, EncoderImpl& encoder, const ModelOptions& options,
                  const Spec& obs_spec, std::map<std::string, std::string> metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : encoder.named_parameters()) tensors.emplace_back(p.key(), p.value().detach());
  for (const auto& b : encoder.named_buffers()) tensors.emplace_back(b.key(), b.value());
  metadata["mnemo.kind"] = "encoder";
  metadata["mnemo.encoder"] = encoder_type(options, obs_spec);
  metadata["mnemo.observation"] = obs_spec.str();
  metadata["mnemo.out_dim"] = std::to_string(encoder.out_dim());
  save_safetensors(path, tensors, metadata);
}

void load_encoder(const std::filesystem::path& path, EncoderImpl& encoder, const ModelOptions& options,
                  const Spec& obs_spec) {
  const SafeTensors f = load_safetensors(path);
  const std::string where = path.string() + ": ";
  auto meta = [&](const std::string& key) {
    auto it = f.metadata.find(key);
    return it == f.metadata.end() ? std::string() : it->second;
  };
  if (meta("mnemo.kind") != "encoder")
    throw Error(where + "is no encoder file (its metadata has no mnemo.kind: encoder; mnemo pretrain-encoder writes one)");
  const std::string type = encoder_type(options, obs_spec);
  if (meta("mnemo.encoder") != type)
    throw Error(where + "holds a " + meta("mnemo.encoder") + " encoder, the model has a " + type +
                " encoder (model.encoder)");
  if (meta("mnemo.observation") != obs_spec.str())
    throw Error(where + "encodes observations " + meta("mnemo.observation") + ", this env gives " + obs_spec.str());
  if (meta("mnemo.out_dim") != std::to_string(encoder.out_dim()))
    throw Error(where + "encodes to " + meta("mnemo.out_dim") + " features, the model's encoder to " +
                std::to_string(encoder.out_dim()) + " (model.cnn_features / model.encoder_hidden)");
  torch::NoGradGuard no_grad;
  std::size_t expected = 0;
  auto copy = [&](const std::string& name, torch::Tensor& dst) {
    auto it = f.tensors.find(name);
    if (it == f.tensors.end()) throw Error(where + "has no tensor '" + name + "' that the model's encoder needs");
    if (it->second.sizes() != dst.sizes())
      throw Error(where + "tensor '" + name + "' has shape " + sizes_str(it->second.sizes()) + ", the model's is " +
                  sizes_str(dst.sizes()));
    dst.copy_(it->second.to(dst.scalar_type()));
    ++expected;
  };
  for (auto& p : encoder.named_parameters()) copy(p.key(), p.value());
  for (auto& b : encoder.named_buffers()) copy(b.key(), b.value());
  if (f.tensors.size() != expected)
    throw Error(where + "holds " + std::to_string(f.tensors.size()) + " tensors, the model's encoder " +
                std::to_string(expected));
}

void prepare_encoder(PolicyImpl& policy, const ModelOptions& options, const Spec& obs_spec) {
  if (options.encoder_init.empty() && !options.freeze_encoder) return;
  EncoderImpl* encoder = policy.encoder();
  if (encoder == nullptr)
    throw ConfigError(std::string("model.") + (options.encoder_init.empty() ? "freeze_encoder" : "encoder_init") +
                      ": a " + options.type + " policy on vector observations has no encoder (use a memory model, " +
                      "or image observations)");
  if (!options.encoder_init.empty()) load_encoder(options.encoder_init, *encoder, options, obs_spec);
  if (options.freeze_encoder)
    for (auto& p : encoder->parameters()) p.set_requires_grad(false);
}

}  // namespace mnemo::nn
