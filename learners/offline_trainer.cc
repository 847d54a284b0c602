#include "learners/offline_trainer.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "core/log.h"
#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "replay/datasets/dataset.h"

namespace mnemo::learners {
namespace {

// The token embedding of a GPT-2-named file, with or without GPT2LMHeadModel's prefix.
torch::Tensor token_embedding(const SafeTensors& w, const std::string& origin) {
  for (const char* name : {"wte.weight", "transformer.wte.weight"}) {
    auto it = w.tensors.find(name);
    if (it != w.tensors.end()) return it->second.to(torch::kFloat32);
  }
  throw Error(origin + ": no token embedding (wte.weight) for the alignment loss");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("learner.dt.lm_corpus: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

OfflineTrainer::OfflineTrainer(OfflineContext ctx) : ctx_(std::move(ctx)), gen_(nn::make_generator(ctx_.seed)) {
  MNEMO_CHECK(ctx_.comm != nullptr, "offline trainer needs a communicator");
  MNEMO_CHECK(ctx_.dataset != nullptr, "offline trainer needs a dataset");
  auto& o = ctx_.options;
  o.validate(ctx_.algo);
  ctx_.shape.condition_on_return = ctx_.algo == "dt";
  gen_ = nn::make_generator(ctx_.seed * 1000003ULL + static_cast<std::uint64_t>(ctx_.comm->rank()));
  torch::manual_seed(ctx_.seed);

  // Language-model weights fix the backbone's size; the DT keeps its own dropout.
  std::unique_ptr<SafeTensors> lm;
  if (!o.init_from.empty()) {
    lm = std::make_unique<SafeTensors>(load_safetensors(o.init_from));
    nn::GPTOptions g = nn::gpt2_options(*lm, o.gpt.n_head);
    g.dropout = o.gpt.dropout;
    if (o.lm_weight == 0) g.vocab_size = 0;
    o.gpt = g;
    if (o.positions && (ctx_.algo == "bc" ? 2 : 3) * o.context > g.n_positions)
      throw ConfigError("learner.dt.context: too long for the " + std::to_string(g.n_positions) +
                        " positions of " + o.init_from);
  }
  data_ = std::make_unique<DTData>(*ctx_.dataset, o, ctx_.shape);
  model_ = DecisionTransformer(o, ctx_.shape);
  model_->set_state_normalizer(data_->state_mean(), data_->state_std());
  if (lm) {
    auto loaded = nn::load_gpt2_weights(*model_->gpt(), *lm, o.init_from, /*skip_wte=*/o.gpt.vocab_size == 0);
    MNEMO_INFO("initialised the transformer from ", o.init_from, " (", loaded.size(), " tensors)");
    if (o.align_weight > 0) {
      auto wte = token_embedding(*lm, o.init_from);
      const std::int64_t k = o.align_clusters > 0 ? o.align_clusters : std::min<std::int64_t>(wte.size(0), 1000);
      centres_ = nn::kmeans(wte, k, /*iterations=*/20, ctx_.seed);
    }
    if (o.lm_weight > 0) {
      lm_tokens_ = nn::ByteTokenizer::encode(read_text(o.lm_corpus));
      if (static_cast<std::int64_t>(lm_tokens_.size()) < o.lm_block + 1)
        throw ConfigError("learner.dt.lm_corpus: " + o.lm_corpus + " has fewer than lm_block + 1 = " +
                          std::to_string(o.lm_block + 1) + " tokens");
      if (o.gpt.vocab_size < nn::ByteTokenizer::kVocabSize - 1)
        throw ConfigError("learner.dt.lm_weight: " + o.init_from + " has a vocabulary of " +
                          std::to_string(o.gpt.vocab_size) + ", too small for byte tokens");
    }
  }
  device_ = o.torch_device();
  model_->to(device_);
  if (centres_.defined()) centres_ = centres_.to(device_);
  target_ = o.target_return != 0 ? o.target_return : data_->best_return();
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      model_->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  reducer_ = std::make_unique<GradientReducer>(*ctx_.comm, model_->parameters());
  checkpoints_ = std::make_unique<RunCheckpoints>(*ctx_.comm, ctx_.run_dir, ctx_.keep_checkpoints, ctx_.config_yaml, device_);
  MNEMO_INFO(ctx_.algo, ": ", data_->episodes(), " episodes, ", data_->transitions(), " transitions (best return ",
             data_->best_return(), ", mean ", data_->mean_return(), "), ", nn::count_parameters(*model_),
             " parameters");
}

OfflineTrainer::~OfflineTrainer() = default;

std::map<std::string, double> OfflineTrainer::update(const DTBatch& batch) {
  const auto& o = ctx_.options;
  std::map<std::string, double> stats;
  model_->train();
  DTBatch b{batch.states.to(device_), batch.actions.to(device_), batch.rtg.to(device_), batch.timesteps.to(device_),
            batch.pad.to(device_)};
  auto pred = model_->forward(b.states, b.actions, b.rtg, b.timesteps, b.pad);
  auto loss = dt_action_loss(pred, b, model_->discrete(), &stats);
  if (centres_.defined()) {
    // Reid et al.: pull each input embedding towards its nearest language embedding, with a
    // weight that may anneal to zero as the task loss takes over.
    double w = o.align_weight;
    if (o.align_anneal > 0) w *= std::max(0.0, 1.0 - static_cast<double>(updates_) / static_cast<double>(o.align_anneal));
    auto align = nn::similarity_alignment_loss(model_->last_tokens(), centres_);
    stats["align_loss"] = align.item<double>();
    if (w > 0) loss = loss + w * align;
  }
  if (!lm_tokens_.empty()) {
    const auto n = static_cast<std::int64_t>(lm_tokens_.size());
    auto tokens = torch::from_blob(lm_tokens_.data(), {n}, torch::kLong);
    auto start = torch::randint(0, n - o.lm_block, {o.lm_batch}, gen_, torch::kLong);
    auto idx = start.unsqueeze(1) + torch::arange(o.lm_block + 1, torch::kLong).unsqueeze(0);
    auto lm_loss = model_->gpt()->lm_loss(tokens.index_select(0, idx.reshape({-1})).view(idx.sizes()).to(device_));
    stats["lm_loss"] = lm_loss.item<double>();
    loss = loss + o.lm_weight * lm_loss;
  }
  reducer_->zero_grad();
  loss.backward();
  reducer_->average_gradients();
  stats["grad_norm"] = static_cast<double>(torch::nn::utils::clip_grad_norm_(model_->parameters(), o.grad_clip));
  optimizer_->step();
  stats["loss"] = loss.item<double>();
  return stats;
}

std::map<std::string, double> OfflineTrainer::evaluate_now() {
  if (!ctx_.evaluate || ctx_.options.eval_episodes == 0 || ctx_.comm->rank() != 0) return {};
  auto t0 = std::chrono::steady_clock::now();
  last_eval_ = ctx_.evaluate(model_, target_);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string summary;
  for (const auto& kv : last_eval_) summary += " " + kv.first + "=" + std::to_string(kv.second);
  MNEMO_INFO("evaluation at update ", updates_, " (target return ", target_, ", ", secs, " s):", summary);
  return last_eval_;
}

void OfflineTrainer::save_checkpoint() {
  StateFile state;
  state.set("updates", updates_);
  state.set("target_return", std::to_string(target_));  // what `mnemo eval` conditions on
  state.set("learner_rng", nn::generator_state(gen_));
  checkpoints_->save(updates_, *model_, *optimizer_, state, "update " + std::to_string(updates_));
}

void OfflineTrainer::restore() {
  auto r = checkpoints_->restore(*model_, *optimizer_);
  updates_ = r.state.get_int("updates");
  // The checkpoint holds the chief's generator; other ranks keep their rank-seeded one so that
  // they go on drawing different windows.
  if (ctx_.comm->rank() == 0) nn::set_generator_state(gen_, r.state.get_string("learner_rng"));
  MNEMO_INFO("resumed from ", r.dir.string(), " at update ", updates_);
}

void OfflineTrainer::run() {
  run_loop(*this, RunnerOptions{ctx_.comm, device_, ctx_.resume, ctx_.checkpoint_every, ctx_.progress, ctx_.metrics, ctx_.interrupt});
}

void OfflineTrainer::begin() {
  session_start_ = std::chrono::steady_clock::now();
  start_updates_ = updates_;
}

bool OfflineTrainer::advance() {
  const auto& o = ctx_.options;
  // Linear warmup (Chen et al.), then the constant rate.
  lr_ = o.lr * std::min(1.0, static_cast<double>(updates_ + 1) / static_cast<double>(std::max<std::int64_t>(1, o.warmup_steps)));
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr_);
  auto stats = update(data_->sample(o.batch_size, gen_));
  ++updates_;
  for (const auto& kv : stats) sums_[kv.first] += kv.second;
  ++count_;
  loss_ = stats["loss"];
  return true;
}

StepReport OfflineTrainer::report(bool last, bool interrupted) {
  const auto& o = ctx_.options;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start_).count();
  const double ups = static_cast<double>(updates_ - start_updates_) / std::max(secs, 1e-9);
  const double samples_per_s = ups * static_cast<double>(o.batch_size * ctx_.comm->size());
  std::map<std::string, double> eval;
  if (every(updates_, o.eval_every) || (last && !interrupted)) eval = evaluate_now();
  StepReport r;
  r.step = updates_;
  r.progress = {{"update {}", static_cast<double>(updates_), "count"},
                {"{} samples/s", samples_per_s, "count"},
                {"ETA {}s", static_cast<double>(o.updates - updates_) / std::max(ups, 1e-9), "count"},
                {"loss", loss_, "%.4g"}};
  auto it = last_eval_.find("eval_return");
  if (it != last_eval_.end()) r.progress.push_back({"eval return", it->second, "%.3g"});
  if (every(updates_, ctx_.log_every) || !eval.empty() || last) {
    r.metrics = {{"updates", static_cast<double>(updates_)}, {"samples_per_s", samples_per_s}, {"lr", lr_}};
    for (const auto& kv : sums_)
      r.metrics.emplace_back(kv.first, kv.second / static_cast<double>(std::max<std::int64_t>(1, count_)));
    for (const auto& kv : eval) r.metrics.emplace_back(kv.first, kv.second);
    sums_.clear();
    count_ = 0;
  }
  return r;
}

}  // namespace mnemo::learners
