#include "learners/encoder_pretrain.h"

#include <chrono>
#include <cstring>

#include "core/check.h"
#include "core/log.h"
#include "core/models/tensor.h"
#include "core/runlog/metrics.h"
#include "core/sequence.h"
#include "replay/checkpointer.h"
#include "replay/compression.h"

namespace mnemo::learners {
namespace {

// The encoder and the loss under one module, so that a checkpoint's model.pt holds both.
struct PretrainModel : torch::nn::Module {
  PretrainModel(std::shared_ptr<nn::EncoderImpl> encoder, Contrastive loss) {
    register_module("encoder", std::move(encoder));
    register_module("loss", loss.ptr());
  }
};

}  // namespace

void EncoderPretrainOptions::validate() const {
  auto bad = [](const std::string& key, const std::string& why) { throw ConfigError("pretrain." + key + " " + why); };
  if (!loss.enabled()) bad("loss.type", "must be atc or curl");
  if (!dataset.empty() && !replay.empty()) bad("replay", "and pretrain.dataset cannot both be set");
  loss.validate("pretrain.loss");
  if (updates < 1) bad("updates", "must be at least 1");
  if (!(lr > 0)) bad("lr", "must be positive");
  if (!(grad_clip > 0)) bad("grad_clip", "must be positive");
  if (log_every < 1) bad("log_every", "must be at least 1");
  if (checkpoint_every < 0) bad("checkpoint_every", "must be >= 0");
  if (keep_checkpoints < 1) bad("keep_checkpoints", "must be at least 1");
  parse_device(device, "pretrain.device", /*available=*/false);
}

replay::Dataset replay_observations(const std::filesystem::path& dir, const Spec& spec) {
  const std::string where = dir.string() + ": ";
  if (!std::filesystem::is_directory(dir)) throw Error(where + "is no directory (a replay snapshot is one)");
  const auto tables = replay::load_tables(dir);
  if (tables.empty())
    throw Error(where + "holds no replay table file (a learner checkpoint's replay/<shard> directory does)");
  const bool image = nn::image_shape(spec).has_value();
  // One row per step: the observation fields, flattened to float32 unless a single uint8 image.
  std::int64_t steps = 0;
  const std::size_t row = image ? static_cast<std::size_t>(nn::obs_dim(spec))
                                : static_cast<std::size_t>(nn::obs_dim(spec)) * sizeof(float);
  std::vector<std::uint8_t> obs;
  std::vector<std::uint8_t> ended;
  for (const auto& t : tables)
    for (const auto& item : t.items) {
      auto decoded = [&](const std::string& name) {
        for (const auto& f : item.fields)
          if (f.name == name) {
            Array a = Array::uninitialized(f.dtype, f.shape);
            if (f.codec == replay::Codec::kNone) std::memcpy(a.raw(), f.bytes.raw(), a.nbytes());
            else replay::decompress(f.codec, f.bytes.raw(), f.bytes.nbytes(), a.raw(), a.nbytes());
            return a;
          }
        throw Error(where + "table '" + t.name + "' has items without the field '" + name + "' (" + spec.str() + ")");
      };
      const Array first = decoded("first");
      const std::int64_t T = first.shape().at(0);
      std::vector<Array> fields;
      for (const auto& f : spec.fields) {
        fields.push_back(decoded(seq::kObsPrefix + f.name));
        const Array& a = fields.back();
        Shape want{T};
        want.insert(want.end(), f.shape.begin(), f.shape.end());
        if (a.shape() != want || a.dtype() != f.dtype)
          throw Error(where + "field '" + seq::kObsPrefix + f.name + "' is " + dtype_name(a.dtype()) + " " +
                      shape_str(a.shape()) + ", the env's observations are " + spec.str());
        if (!image && a.dtype() != DType::kFloat32)
          throw Error(where + "vector observation field '" + f.name + "' is " + dtype_name(a.dtype()) +
                      "; encoders are pretrained on float32 vectors or a uint8 image");
      }
      const std::size_t at = obs.size();
      obs.resize(at + static_cast<std::size_t>(T) * row);
      for (std::int64_t s = 0; s < T; ++s) {
        std::uint8_t* dst = obs.data() + at + static_cast<std::size_t>(s) * row;
        for (const auto& a : fields) {
          const std::size_t n = a.nbytes() / static_cast<std::size_t>(T);
          std::memcpy(dst, static_cast<const std::uint8_t*>(a.raw()) + static_cast<std::size_t>(s) * n, n);
          dst += n;
        }
      }
      const auto* f = static_cast<const std::uint8_t*>(first.raw());
      for (std::int64_t s = 0; s < T; ++s) ended.push_back(s == T - 1 || f[s + 1] != 0 ? 1 : 0);
      steps += T;
    }
  if (steps == 0) throw Error(where + "the replay tables hold no items");
  replay::Dataset d;
  Shape shape{steps};
  if (image) shape.insert(shape.end(), spec.fields[0].shape.begin(), spec.fields[0].shape.end());
  else shape.push_back(nn::obs_dim(spec));
  d.observations = Array::uninitialized(image ? DType::kUInt8 : DType::kFloat32, shape);
  std::memcpy(d.observations.raw(), obs.data(), obs.size());
  d.actions = Array::zeros(DType::kInt64, {steps});
  d.rewards = Array::zeros(DType::kFloat32, {steps});
  d.terminals = Array::zeros(DType::kBool, {steps});
  d.timeouts = Array::zeros(DType::kBool, {steps});
  std::memcpy(d.timeouts.raw(), ended.data(), ended.size());
  return d;
}

std::vector<std::int64_t> contrastive_anchors(const replay::Dataset& data, const Spec& spec, std::int64_t delta,
                                              const std::string& name) {
  const Shape& shape = data.observations.shape();
  const Shape row(shape.begin() + 1, shape.end());
  const auto image = nn::image_shape(spec);
  std::int64_t values = 1;
  for (auto s : row) values *= s;
  if (image) {
    const auto& f = spec.fields[0];
    if (data.observations.dtype() != DType::kUInt8 || row != f.shape)
      throw Error(name + ": observations are " + std::string(dtype_name(data.observations.dtype())) + " " +
                  shape_str(row) + ", the env's are " + spec.str());
  } else if (values != nn::obs_dim(spec)) {
    throw Error(name + ": observations have " + std::to_string(values) + " values per step, the env's " +
                std::to_string(nn::obs_dim(spec)) + " (" + spec.str() + ")");
  }
  std::vector<std::int64_t> anchors;
  for (const auto& ep : replay::split_episodes(data))
    for (std::int64_t i = ep.begin; i + delta < ep.end; ++i) anchors.push_back(i);
  if (anchors.size() < 2)
    throw Error(name + ": " + std::to_string(anchors.size()) + " step(s) have a step " + std::to_string(delta) +
                " later in the same episode; the contrastive loss needs at least 2");
  return anchors;
}

EncoderPretrainer::EncoderPretrainer(EncoderPretrainContext ctx)
    : ctx_(std::move(ctx)), device_(parse_device(ctx_.options.device, "pretrain.device")),
      gen_(nn::make_generator(ctx_.seed)),
      checkpoints_(checked(ctx_.comm, "encoder pretraining"), ctx_.run_dir, ctx_.options.keep_checkpoints,
                   ctx_.config_yaml, device_) {
  ctx_.options.validate();
  MNEMO_CHECK(ctx_.data != nullptr, "encoder pretraining needs a dataset");
  const auto& lo = ctx_.options.loss;
  anchors_ = contrastive_anchors(*ctx_.data, ctx_.obs_spec, lo.type == "atc" ? lo.delta : 0, ctx_.data_name);
  frames_ = to_tensor(ctx_.data->observations);
  // Ranks draw different anchors; parameters start equal via broadcast.
  gen_ = nn::make_generator(ctx_.seed * 1000003ULL + static_cast<std::uint64_t>(ctx_.comm->rank()));
  torch::manual_seed(ctx_.seed);
  encoder_ = nn::make_encoder(ctx_.model, ctx_.obs_spec);
  encoder_->to(device_);
  loss_ = Contrastive(lo, ctx_.model, ctx_.obs_spec, *encoder_);
  model_ = std::make_shared<PretrainModel>(encoder_, loss_);
  trained_ = encoder_->parameters();
  for (const auto& p : loss_->trained_parameters()) trained_.push_back(p);
  optimizer_ = std::make_unique<torch::optim::Adam>(trained_, torch::optim::AdamOptions(ctx_.options.lr));
  reducer_ = std::make_unique<GradientReducer>(*ctx_.comm, trained_);
}

EncoderPretrainer::~EncoderPretrainer() = default;

void EncoderPretrainer::run() {
  run_loop(*this, RunnerOptions{ctx_.comm, device_, ctx_.resume, ctx_.options.checkpoint_every, ctx_.progress,
                                ctx_.metrics, ctx_.interrupt});
}

void EncoderPretrainer::save_checkpoint() {
  StateFile state;
  state.set("updates", counters_.updates);
  state.set("samples", counters_.samples);
  state.set("rng", nn::generator_state(gen_));
  checkpoints_.save(counters_.updates, *model_, *optimizer_, state,
                    "update " + std::to_string(counters_.updates) + ", " + std::to_string(counters_.samples) +
                        " anchors");
}

void EncoderPretrainer::restore() {
  auto r = checkpoints_.restore(*model_, *optimizer_);
  counters_.updates = r.state.get_int("updates");
  counters_.samples = r.state.get_int("samples");
  if (ctx_.comm->rank() == 0) nn::set_generator_state(gen_, r.state.get_string("rng"));
  MNEMO_INFO("resumed from ", r.dir.string(), " at update ", counters_.updates);
}

bool EncoderPretrainer::advance() {
  const auto& lo = ctx_.options.loss;
  const std::int64_t delta = lo.type == "atc" ? lo.delta : 0;
  const auto M = static_cast<std::int64_t>(anchors_.size());
  const std::int64_t n = std::min(lo.batch, M);
  // Windows [i, i + delta] at distinct anchors i: [delta + 1, n, obs_dim] with no episode start
  // inside, so the loss pairs each window's first and last step.
  auto pick = torch::randperm(M, gen_, torch::kLong).narrow(0, 0, n);
  auto starts = torch::from_blob(anchors_.data(), {M}, torch::kLong).index_select(0, pick);
  auto rows = starts.unsqueeze(0) + torch::arange(delta + 1, torch::kLong).unsqueeze(1);  // [delta + 1, n]
  auto obs = frames_.index_select(0, rows.reshape({-1})).to(device_).to(torch::kFloat32).reshape({delta + 1, n, -1});
  auto first = torch::zeros({delta + 1, n}, torch::kBool);
  ContrastiveLoss l = loss_->loss(obs, first, gen_);
  reducer_->zero_grad();
  l.loss.backward();
  reducer_->average_gradients();
  torch::nn::utils::clip_grad_norm_(trained_, ctx_.options.grad_clip);
  optimizer_->step();
  loss_->update_target();
  // The window's mean over all ranks, for the logs.
  auto shared = torch::tensor({l.loss.item<double>(), l.accuracy, static_cast<double>(l.pairs)}, torch::kFloat64);
  ctx_.comm->allreduce_sum(shared);
  const double ranks = ctx_.comm->size();
  loss_sum_ += shared[0].item<double>() / ranks;
  accuracy_sum_ += shared[1].item<double>() / ranks;
  ++window_;
  if (std::isnan(first_loss_)) first_loss_ = shared[0].item<double>() / ranks;
  counters_.samples += static_cast<std::int64_t>(shared[2].item<double>());
  counters_.updates += 1;
  return true;
}

StepReport EncoderPretrainer::report(bool last, bool) {
  StepReport r;
  r.step = counters_.updates;
  if (every(counters_.updates, ctx_.options.log_every) || last) {
    last_loss_ = loss_sum_ / static_cast<double>(std::max<std::int64_t>(window_, 1));
    last_accuracy_ = accuracy_sum_ / static_cast<double>(std::max<std::int64_t>(window_, 1));
    r.metrics = {{"samples", static_cast<double>(counters_.samples)},
                 {"loss", last_loss_},
                 {"accuracy", last_accuracy_}};
    loss_sum_ = accuracy_sum_ = 0;
    window_ = 0;
  }
  r.progress = {{"update {}", static_cast<double>(counters_.updates), "count"},
                {"loss", last_loss_, "%.3f"},
                {"accuracy", last_accuracy_, "%.3f"}};
  return r;
}

void EncoderPretrainer::finish(bool) {
  if (ctx_.comm->rank() != 0 || counters_.updates < ctx_.options.updates) return;
  nn::save_encoder(encoder_path(), *encoder_, ctx_.model, ctx_.obs_spec,
                   {{"mnemo.trained_by", ctx_.options.loss.type},
                    {"mnemo.updates", std::to_string(counters_.updates)},
                    {"mnemo.data", ctx_.data_name},
                    {"mnemo.loss", std::to_string(last_loss_)},
                    {"mnemo.accuracy", std::to_string(last_accuracy_)}});
  MNEMO_INFO("wrote ", encoder_path().string());
}

}  // namespace mnemo::learners
