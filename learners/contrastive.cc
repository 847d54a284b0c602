#include "learners/contrastive.h"

#include <cmath>

#include "core/check.h"

namespace mnemo::learners {
namespace {

// The augmentation of the views: as configured, or a random shift for images when none is.
AugmentOptions views(const ContrastiveOptions& o, const Spec& spec) {
  AugmentOptions a = o.augment;
  if (a.ops.empty() && nn::image_shape(spec)) a.ops = {"shift"};
  return a;
}

}  // namespace

void ContrastiveOptions::validate(const std::string& path) const {
  auto bad = [&](const std::string& key, const std::string& why) { throw ConfigError(path + "." + key + " " + why); };
  if (type != "none" && type != "curl" && type != "atc") bad("type", "must be none, curl or atc, got '" + type + "'");
  if (!(weight >= 0)) bad("weight", "must be >= 0");
  if (batch < 2) bad("batch", "must be at least 2 (the other anchors' positives are the negatives)");
  if (delta < 1) bad("delta", "must be at least 1");
  if (!(tau > 0 && tau <= 1)) bad("tau", "must be in (0, 1]");
  if (predictor_hidden < 0) bad("predictor_hidden", "must be >= 0");
  augment.validate(path + ".augment");
}

ContrastiveImpl::ContrastiveImpl(const ContrastiveOptions& options, const nn::ModelOptions& model, const Spec& obs_spec,
                                 nn::EncoderImpl& online)
    : o_(options), online_(&online), augment_(views(options, obs_spec), obs_spec, "aux.augment") {
  o_.validate("aux");
  MNEMO_CHECK(o_.enabled(), "contrastive loss of type none");
  if (o_.type == "curl" && !augment_.enabled())
    throw ConfigError("aux.augment.ops: curl contrasts two augmentations of a frame; vector observations need a "
                      "transform (amplitude or noise)");
  const int64_t F = online.out_dim();
  target_ = register_module("target", nn::make_encoder(model, obs_spec));
  MNEMO_CHECK(target_->out_dim() == F, "the target encoder encodes to ", target_->out_dim(), " features, not ", F);
  // nn.Linear's default init, as ATC's contrast layer.
  const double bound = 1.0 / std::sqrt(static_cast<double>(F));
  w_ = register_parameter("w", torch::empty({F, F}).uniform_(-bound, bound));
  if (o_.type == "atc" && o_.predictor_hidden > 0) {
    predictor_ = register_module("predictor", torch::nn::Sequential(torch::nn::Linear(F, o_.predictor_hidden),
                                                                    torch::nn::ReLU(),
                                                                    torch::nn::Linear(o_.predictor_hidden, F)));
  }
  const auto device = online.parameters().empty() ? torch::Device(torch::kCPU) : online.parameters()[0].device();
  to(device);
  torch::NoGradGuard no_grad;
  auto src = online.parameters(), dst = target_->parameters();
  MNEMO_CHECK(src.size() == dst.size(), "the target encoder has ", dst.size(), " parameters, the online one ", src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    dst[i].copy_(src[i]);
    dst[i].set_requires_grad(false);
  }
}

std::vector<torch::Tensor> ContrastiveImpl::trained_parameters() {
  std::vector<torch::Tensor> out{w_};
  if (predictor_) for (const auto& p : predictor_->parameters()) out.push_back(p);
  return out;
}

ContrastiveLoss ContrastiveImpl::loss(const torch::Tensor& obs, const torch::Tensor& first, at::Generator& gen) {
  MNEMO_CHECK(obs.dim() == 3 && first.dim() == 2 && obs.size(0) == first.size(0) && obs.size(1) == first.size(1),
              "contrastive loss: observations ", nn::sizes_str(obs.sizes()), " and first ", nn::sizes_str(first.sizes()),
              " must be [T, B, obs_dim] and [T, B]");
  const int64_t T = obs.size(0);
  const bool atc = o_.type == "atc";
  const int64_t delta = atc ? o_.delta : 0;
  // Anchors (t, b): for ATC the steps whose positive t + delta lies in the same episode.
  torch::Tensor valid;
  if (delta == 0) {
    valid = torch::ones({T, obs.size(1)}, torch::kBool);
  } else {
    MNEMO_CHECK(delta < T, "aux.delta (", delta, ") must be shorter than the sequence (", T, ")");
    auto starts = first.to(torch::kCPU, torch::kLong).cumsum(0);  // starts[t] - starts[t'] = starts in (t', t]
    valid = (starts.narrow(0, delta, T - delta) - starts.narrow(0, 0, T - delta)) == 0;
  }
  auto pairs = valid.nonzero();  // [M, 2]
  const int64_t M = pairs.size(0);
  if (M < 2)
    throw Error("contrastive loss: the batch has " + std::to_string(M) + " anchor(s) whose positive lies " +
                std::to_string(delta) + " steps later in the same episode; need at least 2 (longer sequences?)");
  const int64_t n = std::min(o_.batch, M);
  pairs = pairs.index_select(0, torch::randperm(M, gen, torch::kLong).narrow(0, 0, n)).to(obs.device());
  auto t = pairs.select(1, 0), b = pairs.select(1, 1);
  auto view = [&](const torch::Tensor& frames) { return augment_.apply_flat(frames.unsqueeze(1), gen).squeeze(1); };
  auto anchors = view(obs.index({t, b})), positives = view(obs.index({t + delta, b}));

  auto a = online_->forward(anchors);
  if (predictor_) a = a + predictor_->forward(a);
  torch::Tensor p;
  {
    torch::NoGradGuard no_grad;
    p = target_->forward(positives);
  }
  auto logits = a.matmul(w_).matmul(p.t());
  logits = logits - std::get<0>(logits.max(1, /*keepdim=*/true)).detach();
  auto labels = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  ContrastiveLoss r;
  r.loss = torch::nn::functional::cross_entropy(logits, labels);
  r.pairs = n;
  torch::NoGradGuard no_grad;
  r.accuracy = (logits.argmax(1) == labels).to(torch::kFloat64).mean().item<double>();
  return r;
}

void ContrastiveImpl::update_target() {
  torch::NoGradGuard no_grad;
  auto src = online_->parameters(), dst = target_->parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].mul_(1 - o_.tau).add_(src[i].detach(), o_.tau);
}

void ContrastiveImpl::save(const std::filesystem::path& dir) {
  torch::serialize::OutputArchive ar;
  torch::nn::Module::save(ar);
  ar.save_to((dir / "aux.pt").string());
}

void ContrastiveImpl::load(const std::filesystem::path& dir, torch::Device device) {
  const auto path = dir / "aux.pt";
  if (!std::filesystem::exists(path))
    throw Error(path.string() + " not found: the checkpoint was written without learner.aux (" + o_.type +
                " needs its contrast weights and target encoder)");
  torch::serialize::InputArchive ar;
  ar.load_from(path.string(), device);
  torch::nn::Module::load(ar);
}

}  // namespace mnemo::learners
