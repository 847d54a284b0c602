// Language-model pretraining: corpus, windows, schedule and the runner loop. See lm.h.
#include "learners/lm.h"

#include <chrono>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/crc32c.h"
#include "core/log.h"
#include "core/models/models.h"
#include "core/models/safetensors.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "core/version.h"

namespace mnemo::learners {
namespace fs = std::filesystem;

namespace {

constexpr double kLn2 = 0.69314718055994530942;

// splitmix64: decorrelates the seeds of the per-(rank, step) generators.
std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Streams of random numbers that a step draws from.
enum class Stream : std::uint64_t { kWindows = 1, kDropout = 2 };

std::uint64_t stream_seed(std::uint64_t seed, Stream stream, int rank, std::int64_t step) {
  std::uint64_t h = splitmix(seed);
  h = splitmix(h ^ static_cast<std::uint64_t>(stream));
  h = splitmix(h ^ static_cast<std::uint64_t>(rank));
  return splitmix(h ^ static_cast<std::uint64_t>(step));
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r\f\v") == std::string::npos; }

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

}  // namespace

void LMOptions::validate() const {
  if (block_size < 1) throw ConfigError("lm.block_size must be at least 1, got " + std::to_string(block_size));
  if (batch_size < 1) throw ConfigError("lm.batch_size must be at least 1, got " + std::to_string(batch_size));
  if (steps < 1) throw ConfigError("lm.steps must be at least 1, got " + std::to_string(steps));
  if (!(lr > 0.0)) throw ConfigError("lm.lr must be positive");
  if (!(min_lr_ratio >= 0.0 && min_lr_ratio <= 1.0)) throw ConfigError("lm.min_lr_ratio must be in [0, 1]");
  if (warmup < 0) throw ConfigError("lm.warmup must be >= 0");
  if (!(weight_decay >= 0.0)) throw ConfigError("lm.weight_decay must be >= 0");
  if (!(beta1 >= 0.0 && beta1 < 1.0)) throw ConfigError("lm.beta1 must be in [0, 1)");
  if (!(beta2 >= 0.0 && beta2 < 1.0)) throw ConfigError("lm.beta2 must be in [0, 1)");
  if (!(grad_clip >= 0.0)) throw ConfigError("lm.grad_clip must be >= 0 (0: no clipping)");
  if (!(val_fraction >= 0.0 && val_fraction < 0.5)) throw ConfigError("lm.val_fraction must be in [0, 0.5)");
  if (eval_every < 1) throw ConfigError("lm.eval_every must be at least 1");
  if (eval_batches < 1) throw ConfigError("lm.eval_batches must be at least 1");
  if (log_every < 1) throw ConfigError("lm.log_every must be at least 1");
  if (checkpoint_every < 0) throw ConfigError("lm.checkpoint_every must be >= 0");
  if (keep_checkpoints < 1) throw ConfigError("lm.keep_checkpoints must be at least 1");
}

std::vector<std::string> split_documents(const std::string& text) {
  std::vector<std::string> docs;
  std::string doc;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (blank(line)) {
      if (!doc.empty()) docs.push_back(std::move(doc));
      doc.clear();
    } else {
      if (!doc.empty()) doc.push_back('\n');
      doc += line;
    }
    pos = end + 1;
  }
  if (!doc.empty()) docs.push_back(std::move(doc));
  return docs;
}

torch::Tensor tokenize_documents(const std::vector<std::string>& documents) {
  std::int64_t total = 0;
  for (const auto& d : documents) total += static_cast<std::int64_t>(d.size());
  if (!documents.empty()) total += static_cast<std::int64_t>(documents.size()) - 1;
  auto out = torch::empty({total}, torch::kShort);
  auto* p = out.data_ptr<std::int16_t>();
  for (std::size_t i = 0; i < documents.size(); ++i) {
    if (i > 0) *p++ = static_cast<std::int16_t>(nn::ByteTokenizer::kEndOfText);
    for (unsigned char c : documents[i]) *p++ = static_cast<std::int16_t>(c);
  }
  return out;
}

LMCorpus load_corpus(const fs::path& path, double val_fraction, std::int64_t block_size) {
  if (path.empty()) throw ConfigError("lm.corpus: no corpus given (pass --corpus FILE)");
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ConfigError("lm.corpus: " + path.string() + " is not a readable file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("lm.corpus: cannot open " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ConfigError("lm.corpus: cannot read " + path.string());

  LMCorpus c;
  c.bytes = static_cast<std::int64_t>(text.size());
  c.crc = crc32c(text.data(), text.size());
  const auto docs = split_documents(text);
  c.documents = static_cast<std::int64_t>(docs.size());
  if (docs.empty()) throw ConfigError("lm.corpus: " + path.string() + " holds no text (" + std::to_string(c.bytes) + " bytes)");
  text.clear();
  text.shrink_to_fit();
  auto tokens = tokenize_documents(docs);
  const std::int64_t total = tokens.numel();
  const auto n_val = static_cast<std::int64_t>(static_cast<double>(total) * val_fraction);
  const std::int64_t need = block_size + 1;
  if (total - n_val < need || (val_fraction > 0.0 && n_val < need)) {
    std::ostringstream os;
    os << "lm.corpus: " << path.string() << " is too short: " << total << " tokens, of which " << total - n_val
       << " for training and " << n_val << " for validation (lm.val_fraction " << val_fraction
       << "); each part needs at least lm.block_size + 1 = " << need
       << " tokens. Use a larger corpus or a smaller lm.block_size";
    throw ConfigError(os.str());
  }
  c.train = tokens.narrow(0, 0, total - n_val);
  c.val = tokens.narrow(0, total - n_val, n_val);
  return c;
}

torch::Tensor sample_windows(const torch::Tensor& tokens, std::int64_t batch, std::int64_t block_size,
                             at::Generator& gen) {
  const std::int64_t n = tokens.numel();
  MNEMO_CHECK(tokens.dim() == 1 && n >= block_size + 1, "sample_windows: need a 1-D stream of at least ",
              block_size + 1, " tokens, got ", shape_str(tokens));
  auto starts = torch::randint(n - block_size, {batch, 1}, gen, torch::TensorOptions().dtype(torch::kLong));
  auto idx = starts + torch::arange(block_size + 1, torch::kLong).unsqueeze(0);
  return tokens.index_select(0, idx.reshape({-1})).view({batch, block_size + 1}).to(torch::kLong);
}

double lm_learning_rate(const LMOptions& o, std::int64_t step) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  const double span = static_cast<double>(std::max<std::int64_t>(1, o.steps - 1 - o.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup) / span);
  const double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + 0.5 * (1.0 + std::cos(std::acos(-1.0) * progress)) * (o.lr - min_lr);
}

std::map<std::string, std::string> lm_weights_metadata(const nn::GPTOptions& g) {
  std::ostringstream eps;
  eps.precision(17);
  eps << g.layer_norm_eps;
  return {{"format", "gpt2"},
          {"tokenizer", "byte"},
          {"n_head", std::to_string(g.n_head)},
          {"n_layer", std::to_string(g.n_layer)},
          {"n_embd", std::to_string(g.n_embd)},
          {"n_positions", std::to_string(g.n_positions)},
          {"vocab_size", std::to_string(g.vocab_size)},
          {"layer_norm_eps", eps.str()},
          {"mnemo_version", kVersion}};
}

void save_lm_weights(const fs::path& path, const nn::GPTImpl& model, const std::map<std::string, std::string>& extra) {
  auto metadata = lm_weights_metadata(model.options());
  for (const auto& kv : extra) metadata[kv.first] = kv.second;
  save_safetensors(path, nn::gpt2_named_tensors(model), metadata);
}

LMTrainer::LMTrainer(LMContext ctx)
    : ctx_(std::move(ctx)), gen_(at::make_generator<at::CPUGeneratorImpl>(ctx_.seed)),
      checkpoints_(checked(ctx_.comm, "LMTrainer"), ctx_.run_dir, ctx_.options.keep_checkpoints, ctx_.config_yaml,
                   torch::kCPU) {
  MNEMO_CHECK(ctx_.corpus != nullptr && ctx_.corpus->train.numel() > ctx_.options.block_size, "LMTrainer needs a corpus");
  ctx_.options.validate();
  ctx_.gpt.validate();
  if (ctx_.gpt.vocab_size < nn::ByteTokenizer::kVocabSize)
    throw ConfigError("gpt.vocab_size must be at least " + std::to_string(nn::ByteTokenizer::kVocabSize) +
                      " for the byte tokenizer, got " + std::to_string(ctx_.gpt.vocab_size));
  if (ctx_.options.block_size > ctx_.gpt.n_positions)
    throw ConfigError("lm.block_size (" + std::to_string(ctx_.options.block_size) + ") must be at most gpt.n_positions (" +
                      std::to_string(ctx_.gpt.n_positions) + ")");
  torch::manual_seed(ctx_.seed);  // the same initial weights on every rank (broadcast makes sure)
  model_ = nn::GPT(ctx_.gpt);
  model_->train();
  // Weight decay on matrices and embeddings only: decaying biases and layer-norm gains towards
  // zero only hurts (as in GPT-2 / nanoGPT).
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model_->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  const auto& o = ctx_.options;
  auto options = torch::optim::AdamWOptions(o.lr).betas(std::make_tuple(o.beta1, o.beta2)).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay,
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(options).weight_decay(0.0)));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), options);
  reducer_ = std::make_unique<GradientReducer>(*ctx_.comm, model_->parameters());
}

LMTrainer::~LMTrainer() = default;

std::map<std::string, double> LMTrainer::train_step() {
  const auto& o = ctx_.options;
  const int rank = ctx_.comm->rank();
  const std::int64_t step = counters_.steps;
  gen_.set_current_seed(stream_seed(ctx_.seed, Stream::kWindows, rank, step));
  torch::manual_seed(stream_seed(ctx_.seed, Stream::kDropout, rank, step));
  auto batch = sample_windows(ctx_.corpus->train, o.batch_size, o.block_size, gen_);
  const double lr = lm_learning_rate(o, step);
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  reducer_->zero_grad();
  auto loss = model_->lm_loss(batch);
  loss.backward();
  reducer_->average_gradients();
  const double max_norm = o.grad_clip > 0 ? o.grad_clip : std::numeric_limits<double>::infinity();
  const double norm = static_cast<double>(torch::nn::utils::clip_grad_norm_(model_->parameters(), max_norm));
  optimizer_->step();
  counters_.steps += 1;
  counters_.tokens += o.batch_size * o.block_size * ctx_.comm->size();
  return {{"loss", loss.item<double>()}, {"lr", lr}, {"grad_norm", norm}};
}

double LMTrainer::evaluate() {
  const auto& val = ctx_.corpus->val;
  const std::int64_t block = ctx_.options.block_size, batch = ctx_.options.batch_size;
  if (val.numel() < block + 1) return std::nan("");
  // Fixed, non-overlapping windows from the start of the held-out part: every evaluation scores
  // the same text, so the curve shows progress and not sampling noise.
  const std::int64_t windows = std::min((val.numel() - 1) / block, ctx_.options.eval_batches * batch);
  std::vector<std::int64_t> mine;
  for (std::int64_t w = ctx_.comm->rank(); w < windows; w += ctx_.comm->size()) mine.push_back(w * block);
  double sum = 0, count = 0;
  {
    torch::NoGradGuard no_grad;
    model_->eval();
    for (std::size_t i = 0; i < mine.size(); i += static_cast<std::size_t>(batch)) {
      const auto n = std::min<std::size_t>(static_cast<std::size_t>(batch), mine.size() - i);
      auto starts = torch::tensor(std::vector<std::int64_t>(mine.begin() + static_cast<std::ptrdiff_t>(i),
                                                            mine.begin() + static_cast<std::ptrdiff_t>(i + n)),
                                  torch::kLong);
      auto idx = starts.unsqueeze(1) + torch::arange(block + 1, torch::kLong).unsqueeze(0);
      auto ids = val.index_select(0, idx.reshape({-1})).view({static_cast<std::int64_t>(n), block + 1}).to(torch::kLong);
      const double tokens = static_cast<double>(n) * static_cast<double>(block);
      sum += model_->lm_loss(ids).item<double>() * tokens;
      count += tokens;
    }
    model_->train();
  }
  auto t = torch::tensor({sum, count}, torch::kFloat64);
  ctx_.comm->allreduce_sum(t);
  return t[0].item<double>() / t[1].item<double>();
}

void LMTrainer::save_checkpoint() {
  StateFile state;
  state.set("steps", counters_.steps);
  state.set("tokens", counters_.tokens);
  state.set("corpus_bytes", ctx_.corpus->bytes);
  state.set("corpus_crc32c", static_cast<std::int64_t>(ctx_.corpus->crc));
  checkpoints_.save(counters_.steps, *model_, *optimizer_, state,
                    "step " + std::to_string(counters_.steps) + ", " + std::to_string(counters_.tokens) + " tokens");
}

void LMTrainer::restore() {
  auto r = checkpoints_.restore(*model_, *optimizer_);
  counters_.steps = r.state.get_int("steps");
  counters_.tokens = r.state.get_int("tokens");
  if (r.state.get_int("corpus_bytes") != ctx_.corpus->bytes ||
      r.state.get_int("corpus_crc32c") != static_cast<std::int64_t>(ctx_.corpus->crc))
    MNEMO_WARN("resume: the corpus differs from the one the checkpoint was trained on (",
               r.state.get_int("corpus_bytes"), " bytes then, ", ctx_.corpus->bytes, " now)");
  MNEMO_INFO("resumed from ", r.dir.string(), " at step ", counters_.steps, ", ", counters_.tokens, " tokens");
}

void LMTrainer::run() {
  run_loop(*this, RunnerOptions{ctx_.comm, torch::kCPU, ctx_.resume, ctx_.options.checkpoint_every, ctx_.progress, ctx_.metrics, ctx_.interrupt});
}

void LMTrainer::begin() {
  first_val_loss_ = last_val_loss_ = evaluate();
  if (ctx_.comm->rank() == 0 && ctx_.metrics != nullptr && !ctx_.resume && std::isfinite(first_val_loss_))
    ctx_.metrics->write(counters_.steps,
                        {{"tokens", 0.0}, {"val_loss", first_val_loss_}, {"val_bits_per_byte", first_val_loss_ / kLn2}});
  start_tokens_ = counters_.tokens;
}

bool LMTrainer::advance() {
  const auto t0 = std::chrono::steady_clock::now();
  auto stats = train_step();
  // One small all-reduce per step: the mean loss for the logs.
  auto shared = torch::tensor({stats["loss"]}, torch::kFloat64);
  ctx_.comm->allreduce_sum(shared);
  train_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  step_loss_ = shared[0].item<double>() / ctx_.comm->size();
  step_lr_ = stats["lr"];
  loss_sum_ += step_loss_;
  norm_sum_ += stats["grad_norm"];
  ++loss_count_;
  if (std::isnan(first_loss_)) first_loss_ = step_loss_;
  tokens_per_s_ = static_cast<double>(counters_.tokens - start_tokens_) / std::max(train_seconds_, 1e-9);
  return true;
}

StepReport LMTrainer::report(bool last, bool) {
  const auto& o = ctx_.options;
  const std::int64_t step = counters_.steps;
  StepReport r;
  r.step = step;
  if (every(step, o.log_every) || last) {
    last_loss_ = loss_sum_ / static_cast<double>(loss_count_);
    r.metrics = {{"tokens", static_cast<double>(counters_.tokens)},
                 {"loss", last_loss_},
                 {"bits_per_byte", last_loss_ / kLn2},
                 {"lr", step_lr_},
                 {"grad_norm", norm_sum_ / static_cast<double>(loss_count_)},
                 {"tokens_per_s", tokens_per_s_}};
    loss_sum_ = norm_sum_ = 0;
    loss_count_ = 0;
  }
  // Collective: every rank validates at the same steps.
  if (every(step, o.eval_every) || done()) {
    last_val_loss_ = evaluate();
    if (std::isfinite(last_val_loss_)) {
      if (r.metrics.empty()) r.metrics.emplace_back("tokens", static_cast<double>(counters_.tokens));
      r.metrics.emplace_back("val_loss", last_val_loss_);
      r.metrics.emplace_back("val_bits_per_byte", last_val_loss_ / kLn2);
    }
  }
  r.progress = {{"step {}", static_cast<double>(step), "count"},
                {"{} tokens/s", tokens_per_s_, "count"},
                {"ETA {}s",
                 static_cast<double>((o.steps - step) * o.batch_size * o.block_size * ctx_.comm->size()) /
                     std::max(tokens_per_s_, 1e-9),
                 "count"},
                {"loss", step_loss_, "%.3f"},
                {"val_loss", last_val_loss_, "%.3f"}};
  return r;
}

void LMTrainer::finish(bool) {
  if (ctx_.comm->rank() == 0 && counters_.steps >= ctx_.options.steps) {
    save_lm_weights(weights_path(), *model_,
                    {{"steps", std::to_string(counters_.steps)},
                     {"tokens", std::to_string(counters_.tokens)},
                     {"val_loss", std::to_string(last_val_loss_)}});
    MNEMO_INFO("wrote ", weights_path().string());
  }
}

}  // namespace mnemo::learners
