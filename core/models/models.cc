#include "core/models/models.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>

#include "core/models/agalite.h"
#include "core/models/encoders.h"
#include "core/models/gtrxl.h"
#include "core/models/lstm.h"
#include "core/models/tensor.h"

namespace mnemo::nn {
namespace {

torch::nn::Sequential make_mlp(int64_t in, const std::vector<int64_t>& hidden, int64_t out, const std::string& act,
                               double out_gain) {
  torch::nn::Sequential seq;
  int64_t prev = in;
  for (auto h : hidden) {
    auto lin = torch::nn::Linear(prev, h);
    torch::nn::init::orthogonal_(lin->weight, std::sqrt(2.0));
    torch::nn::init::zeros_(lin->bias);
    seq->push_back(lin);
    if (act == "tanh") seq->push_back(torch::nn::Tanh());
    else seq->push_back(torch::nn::ReLU());
    prev = h;
  }
  auto head = torch::nn::Linear(prev, out);
  torch::nn::init::orthogonal_(head->weight, out_gain);
  torch::nn::init::zeros_(head->bias);
  seq->push_back(head);
  return seq;
}


}  // namespace

int64_t action_head_size(const ActionSpace& s) {
  switch (s.kind) {
    case ActionSpace::Kind::kDiscrete: return s.n;
    case ActionSpace::Kind::kBox: return static_cast<int64_t>(s.low.size());
    case ActionSpace::Kind::kMultiDiscrete: {
      int64_t total = 0;
      for (auto n : s.nvec) total += n;
      return total;
    }
  }
  throw ConfigError("model: unknown action space kind");
}

PrevInputs none_prev(const ActionSpace& space, int64_t batch, torch::Device device) {
  PrevInputs p;
  switch (space.kind) {
    case ActionSpace::Kind::kDiscrete: p.action = torch::full({batch}, -1, torch::kLong); break;
    case ActionSpace::Kind::kBox:
      p.action = torch::zeros({batch, static_cast<int64_t>(space.low.size())}, torch::kFloat32);
      break;
    case ActionSpace::Kind::kMultiDiscrete:
      p.action = torch::full({batch, static_cast<int64_t>(space.nvec.size())}, -1, torch::kLong);
      break;
  }
  p.reward = torch::zeros({batch}, torch::kFloat32);
  if (!device.is_cpu()) p = {p.action.to(device), p.reward.to(device)};
  return p;
}

PrevInputs next_prev(const ActionSpace& space, const torch::Tensor& action, const torch::Tensor& reward,
                     const torch::Tensor& first) {
  const int64_t B = reward.size(0);
  PrevInputs none = none_prev(space, B, reward.device());
  auto f = first.to(reward.device(), torch::kBool);
  auto rows = [&](const torch::Tensor& t) {
    std::vector<int64_t> shape(static_cast<std::size_t>(t.dim()), 1);
    shape[0] = B;
    return f.view(shape);
  };
  auto a = action.to(none.action.scalar_type());
  return {torch::where(rows(a), none.action, a), torch::where(f, none.reward, reward.to(torch::kFloat32))};
}

PrevInputEncoder::PrevInputEncoder(const ModelOptions& o, const ActionSpace& space)
    : use_action_(o.prev_action),
      use_reward_(o.prev_reward),
      discrete_(space.kind == ActionSpace::Kind::kDiscrete),
      action_dim_(0) {
  if (use_action_) {
    if (space.kind == ActionSpace::Kind::kMultiDiscrete)
      throw ConfigError("model.prev_action: multi-discrete action spaces are not supported");
    action_dim_ = action_head_size(space);
  }
  dim_ = action_dim_ + (use_reward_ ? 1 : 0);
}

void PrevInputEncoder::check(const PrevInputs& prev, const std::vector<int64_t>& lead, const std::string& where) const {
  auto expect = [&](const torch::Tensor& t, std::vector<int64_t> want, const char* name, const char* option) {
    if (!t.defined() || t.sizes().vec() != want)
      throw Error(where + name + " has shape " + (t.defined() ? sizes_str(t.sizes()) : std::string("(undefined)")) +
                  ", expected " + sizes_str(want) + " (" + option + " is on)");
  };
  if (use_action_) {
    auto want = lead;
    if (!discrete_) want.push_back(action_dim_);
    expect(prev.action, want, "prev_action", "model.prev_action");
  }
  if (use_reward_) expect(prev.reward, lead, "prev_reward", "model.prev_reward");
}

torch::Tensor PrevInputEncoder::append(const torch::Tensor& x, const PrevInputs& prev, const torch::Tensor& first,
                                       const std::string& where) const {
  if (dim_ == 0) return x;
  auto lead = x.sizes().vec();
  lead.pop_back();
  check(prev, lead, where);
  // On the model's device, wherever the caller built them.
  std::vector<torch::Tensor> parts;
  if (use_action_) {
    if (discrete_) {
      auto classes = torch::arange(action_dim_, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
      parts.push_back(prev.action.to(x.device(), torch::kLong).unsqueeze(-1).eq(classes).to(x.scalar_type()));
    } else {
      parts.push_back(prev.action.to(x.device(), x.scalar_type()));
    }
  }
  if (use_reward_) parts.push_back(prev.reward.to(x.device(), x.scalar_type()).unsqueeze(-1));
  auto extra = torch::cat(parts, -1);
  // An episode start has no previous action or reward, whatever the caller passed.
  if (first.defined()) extra = extra * first.logical_not().unsqueeze(-1).to(x.scalar_type());
  return torch::cat({x, extra}, -1);
}

MlpPolicyImpl::MlpPolicyImpl(const ModelOptions& o, int64_t obs_dim, const ActionSpace& space)
    : obs_dim_(obs_dim), prev_(o, space) {
  if (o.activation != "tanh" && o.activation != "relu")
    throw ConfigError("model.activation must be tanh or relu, got '" + o.activation + "'");
  for (auto h : o.hidden)
    if (h <= 0) throw ConfigError("model.hidden sizes must be positive");
  const int64_t in = obs_dim + prev_.dim();
  actor_ = register_module("actor", make_mlp(in, o.hidden, action_head_size(space), o.activation, 0.01));
  critic_ = register_module("critic", make_mlp(in, o.hidden, 1, o.activation, 1.0));
  if (space.kind == ActionSpace::Kind::kBox)
    log_std_ = register_parameter("log_std", torch::full({action_head_size(space)}, o.init_log_std));
}

PolicyOutput MlpPolicyImpl::step(const torch::Tensor& obs, const PrevInputs& prev, const State& state) {
  if (obs.dim() != 2 || obs.size(1) != obs_dim_)
    throw Error("mlp.step: observations have shape " + sizes_str(obs.sizes()) + ", expected [B, " +
                std::to_string(obs_dim_) + "]");
  auto x = prev_.append(obs, prev, {}, "mlp.step: ");
  return {actor_->forward(x), critic_->forward(x).squeeze(-1), state};
}

PolicyOutput MlpPolicyImpl::unroll(const torch::Tensor& obs, const PrevInputs& prev, const torch::Tensor& first,
                                   const State& state0) {
  if (obs.dim() != 3 || obs.size(2) != obs_dim_)
    throw Error("mlp.unroll: observations have shape " + sizes_str(obs.sizes()) + ", expected [T, B, " +
                std::to_string(obs_dim_) + "]");
  // Memoryless: the time and batch dimensions fold together (inside the Linear layers).
  auto x = prev_.append(obs, prev, first.defined() ? first.to(torch::kBool) : first, "mlp.unroll: ");
  return {actor_->forward(x), critic_->forward(x).squeeze(-1), state0};
}

std::shared_ptr<PolicyImpl> make_policy(const ModelOptions& o, int64_t obs_dim, const ActionSpace& space) {
  MNEMO_CHECK(obs_dim > 0, "observation size must be positive, got ", obs_dim);
  return make_policy(o, Spec{{FieldSpec{"obs", DType::kFloat32, {obs_dim}}}}, space);
}

std::shared_ptr<PolicyImpl> make_policy(const ModelOptions& o, const Spec& obs_spec, const ActionSpace& space) {
  if (o.type == "mlp") {
    // Feature vectors keep the MLP torsos; images need an encoder in front of the heads.
    const bool image = image_shape(obs_spec).has_value();
    if (o.encoder == "nature" || o.encoder == "impala" || (o.encoder == "auto" && image))
      return std::make_shared<EncoderPolicyImpl>(o, obs_spec, space);
    if (o.encoder != "auto" && o.encoder != "mlp")
      throw ConfigError("model.encoder: unknown encoder '" + o.encoder + "' (valid: auto, mlp, nature, impala)");
    return std::make_shared<MlpPolicyImpl>(o, obs_dim(obs_spec), space);
  }
  if (o.type == "lstm") return std::make_shared<LstmPolicyImpl>(o, obs_spec, space);
  if (o.type == "gtrxl") return std::make_shared<GTrXLPolicyImpl>(o, obs_spec, space);
  if (o.type == "agalite") return std::make_shared<GaLiTePolicyImpl>(o, obs_spec, space, /*approximate=*/true);
  if (o.type == "galite") return std::make_shared<GaLiTePolicyImpl>(o, obs_spec, space, /*approximate=*/false);
  throw ConfigError("model.type: unknown model '" + o.type + "' (valid: mlp, lstm, gtrxl, agalite, galite)");
}

ActionDist::ActionDist(const ActionSpace& space, torch::Tensor params, torch::Tensor log_std)
    : kind_(space.kind), params_(std::move(params)) {
  switch (kind_) {
    case ActionSpace::Kind::kDiscrete: params_ = params_ - params_.logsumexp(-1, true); break;  // normalised logits
    case ActionSpace::Kind::kBox:
      MNEMO_CHECK(log_std.defined(), "Gaussian head without log_std");
      log_std_ = log_std.expand_as(params_);
      break;
    case ActionSpace::Kind::kMultiDiscrete: {
      MNEMO_CHECK(params_.size(-1) == action_head_size(space),
                  "multi-discrete head has " + std::to_string(params_.size(-1)) + " outputs, expected " +
                      std::to_string(action_head_size(space)));
      int64_t at = 0;
      for (auto n : space.nvec) {
        auto logits = params_.narrow(-1, at, n);
        blocks_.push_back(logits - logits.logsumexp(-1, true));
        at += n;
      }
      params_ = torch::cat(blocks_, -1);
      break;
    }
  }
}

torch::Tensor ActionDist::sample_categorical(const torch::Tensor& log_probs, at::Generator& gen) {
  auto probs = log_probs.exp().reshape({-1, log_probs.size(-1)});
  auto idx = torch::multinomial(probs, 1, /*replacement=*/true, gen).squeeze(-1);
  auto sizes = log_probs.sizes().vec();
  sizes.pop_back();
  return idx.reshape(sizes);
}

torch::Tensor ActionDist::sample(at::Generator& gen) const {
  torch::NoGradGuard no_grad;
  switch (kind_) {
    case ActionSpace::Kind::kDiscrete: return sample_categorical(params_, gen);
    case ActionSpace::Kind::kMultiDiscrete: {
      std::vector<torch::Tensor> parts;
      for (const auto& b : blocks_) parts.push_back(sample_categorical(b, gen));
      return torch::stack(parts, -1);
    }
    case ActionSpace::Kind::kBox: break;
  }
  auto eps = at::normal(0.0, 1.0, params_.sizes(), gen);
  return params_ + log_std_.exp() * eps;
}

torch::Tensor ActionDist::mode() const {
  switch (kind_) {
    case ActionSpace::Kind::kDiscrete: return params_.argmax(-1);
    case ActionSpace::Kind::kMultiDiscrete: {
      std::vector<torch::Tensor> parts;
      for (const auto& b : blocks_) parts.push_back(b.argmax(-1));
      return torch::stack(parts, -1);
    }
    case ActionSpace::Kind::kBox: break;
  }
  return params_;
}

torch::Tensor ActionDist::log_prob(const torch::Tensor& actions) const {
  switch (kind_) {
    case ActionSpace::Kind::kDiscrete:
      return params_.gather(-1, actions.to(torch::kLong).unsqueeze(-1)).squeeze(-1);
    case ActionSpace::Kind::kMultiDiscrete: {
      MNEMO_CHECK(actions.dim() >= 1 && actions.size(-1) == static_cast<int64_t>(blocks_.size()),
                  "multi-discrete actions of shape " + sizes_str(actions.sizes()) + " for " +
                      std::to_string(blocks_.size()) + " components");
      auto a = actions.to(torch::kLong);
      torch::Tensor lp;
      for (std::size_t k = 0; k < blocks_.size(); ++k) {
        auto part = blocks_[k].gather(-1, a.select(-1, static_cast<int64_t>(k)).unsqueeze(-1)).squeeze(-1);
        lp = lp.defined() ? lp + part : part;
      }
      return lp;
    }
    case ActionSpace::Kind::kBox: break;
  }
  auto var = (2 * log_std_).exp();
  auto lp = -((actions - params_).pow(2)) / (2 * var) - log_std_ - 0.5 * std::log(2 * M_PI);
  return lp.sum(-1);
}

torch::Tensor ActionDist::entropy() const {
  switch (kind_) {
    case ActionSpace::Kind::kDiscrete:
    case ActionSpace::Kind::kMultiDiscrete: return -(params_.exp() * params_).sum(-1);  // components add up
    case ActionSpace::Kind::kBox: break;
  }
  return (log_std_ + 0.5 + 0.5 * std::log(2 * M_PI)).sum(-1);
}

int64_t count_parameters(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

Array flatten_parameters(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  Array flat = Array::zeros(DType::kFloat32, {count_parameters(m)});
  float* out = flat.data<float>();
  for (const auto& p : m.parameters()) {
    auto c = p.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    std::memcpy(out, c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * sizeof(float));
    out += c.numel();
  }
  return flat;
}

void load_flat_parameters(torch::nn::Module& m, const Array& flat) {
  torch::NoGradGuard no_grad;
  MNEMO_CHECK(flat.dtype() == DType::kFloat32 && flat.numel() == count_parameters(m),
              "parameter vector of ", flat.numel(), " ", dtype_name(flat.dtype()), " values for a model of ",
              count_parameters(m), " parameters");
  auto src = to_tensor(flat);
  int64_t off = 0;
  for (auto& p : m.parameters()) {
    p.copy_(src.narrow(0, off, p.numel()).view(p.sizes()));
    off += p.numel();
  }
}

void save_model_and_optimizer(const std::string& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  {
    torch::serialize::OutputArchive ar;
    model.save(ar);
    ar.save_to(dir + "/model.pt");
  }
  torch::serialize::OutputArchive ar;
  optimizer.save(ar);
  ar.save_to(dir + "/optimizer.pt");
}

void load_model_and_optimizer(const std::string& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                              torch::Device device) {
  {
    torch::serialize::InputArchive ar;
    ar.load_from(dir + "/model.pt", device);
    model.load(ar);
  }
  torch::serialize::InputArchive ar;
  ar.load_from(dir + "/optimizer.pt", device);
  optimizer.load(ar);
}

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

std::string generator_state(at::Generator& gen) {
  auto t = gen.get_state().contiguous();
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.nbytes()));
}

void set_generator_state(at::Generator& gen, const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  gen.set_state(t);
}

int64_t obs_dim(const Spec& obs_spec) {
  int64_t n = 0;
  for (const auto& f : obs_spec.fields) n += shape_numel(f.shape);
  MNEMO_CHECK(n > 0, "observation spec has no features: ", obs_spec.str());
  return n;
}

torch::Tensor flatten_obs(const std::vector<torch::Tensor>& fields, int64_t lead_dims) {
  MNEMO_CHECK(!fields.empty(), "no observation fields");
  std::vector<torch::Tensor> parts;
  for (const auto& f : fields) {
    auto sizes = f.sizes().vec();
    sizes.resize(static_cast<std::size_t>(lead_dims));
    sizes.push_back(-1);
    parts.push_back(f.reshape(sizes).to(torch::kFloat32));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, -1);
}

}  // namespace mnemo::nn
