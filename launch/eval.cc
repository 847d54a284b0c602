// `mnemo eval`: the evaluation loop over an EnvPool, the report, and the command's arguments.
#include "launch/eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "actors/rollout.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "envs/env_pool.h"
#include "envs/image_io.h"
#include "launch/command.h"
#include "launch/offline.h"
#include "launch/train.h"
#include "launch/trained_policy.h"

namespace mnemo::launch {
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDefaultMaxEnvs = 8;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A lone env that replays env 0's first episode, step by step with env 0's actions, so that the
// GIF also shows the episode's final state (the pool resets an env within the step that ends it,
// before anyone could render it).
class GifRecorder {
 public:
  GifRecorder(std::unique_ptr<envs::Env> env, std::uint64_t episode_seed) : env_(std::move(env)) {
    const Spec& spec = env_->observation_spec();
    std::vector<void*> ptrs;
    for (const auto& f : spec.fields) {
      obs_.emplace_back(static_cast<std::size_t>(shape_numel(f.shape)) * dtype_size(f.dtype));
      ptrs.push_back(obs_.back().data());
    }
    slot_ = envs::ObsSlot(ptrs);
    env_->reset(episode_seed, slot_);
    render();
  }
  bool active() const { return active_; }
  // `action` points at env 0's action (row 0 of the batch).
  void step(const void* action) {
    const envs::StepResult r = env_->step(action, slot_);
    episode_return_ += r.reward;
    ++length_;
    render();
    if (r.terminated || r.truncated) active_ = false;
  }
  const std::vector<envs::Frame>& frames() const { return frames_; }
  double episode_return() const { return static_cast<float>(episode_return_); }  // as the pool reports it
  std::int64_t length() const { return length_; }

 private:
  void render() {
    frames_.emplace_back();
    env_->render(frames_.back());
  }
  std::unique_ptr<envs::Env> env_;
  std::vector<std::vector<char>> obs_;
  envs::ObsSlot slot_;
  std::vector<envs::Frame> frames_;
  double episode_return_ = 0;
  std::int64_t length_ = 0;
  bool active_ = true;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

void EvalOptions::validate() const {
  if (source.empty()) throw ConfigError("eval: a RUN_DIR or CHECKPOINT_DIR is required");
  if (episodes < 1 || episodes > 10'000'000)
    throw ConfigError("--episodes must be in [1, 10000000], got " + std::to_string(episodes));
  if (envs < 0 || envs > 4096) throw ConfigError("--envs must be in [1, 4096], got " + std::to_string(envs));
  if (fps < 1 || fps > 100) throw ConfigError("--fps must be in [1, 100], got " + std::to_string(fps));
  if (!gif.empty()) {
    if (!ends_with(gif, ".gif")) throw ConfigError("--gif expects a file name ending in .gif, got '" + gif + "'");
    // Checked before the episodes run, so a typo does not cost the whole evaluation.
    const fs::path parent = fs::path(gif).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw ConfigError("--gif " + gif + ": directory " + parent.string() + " does not exist");
  }
}

// Evaluation episodes must not replay the training actors' episodes, whose pools are seeded with
// run.seed * 1000003 + actor: mixing in a constant keeps the two seed streams apart.
std::uint64_t eval_pool_seed(std::uint64_t seed) {
  return envs::splitmix64(seed ^ 0x6576616C2D706F6FULL);  // "eval-poo"
}

at::Generator eval_generator(std::uint64_t seed) { return nn::make_generator(envs::splitmix64(seed)); }

Stats summarize(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  double sum = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (double x : v) {
    sum += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(v.size()));
  return s;
}

Stats EvalResult::returns() const {
  std::vector<double> v;
  for (const auto& e : episodes) v.push_back(e.episode_return);
  return summarize(v);
}

Stats EvalResult::lengths() const {
  std::vector<double> v;
  for (const auto& e : episodes) v.push_back(static_cast<double>(e.length));
  return summarize(v);
}

Stats EvalResult::info(std::size_t i) const {
  std::vector<double> v;
  for (const auto& e : episodes) v.push_back(e.infos.at(i));
  return summarize(v);
}

EvalResult evaluate(const EvalOptions& options) {
  options.validate();
  TrainedPolicy trained = load_trained_policy(options.source, options.overrides);
  const TrainConfig& c = trained.config;
  set_threads(c.run);

  const std::int64_t N = options.episodes;
  const std::int64_t M = std::min(options.envs > 0 ? options.envs : kDefaultMaxEnvs, N);
  envs::EnvPoolOptions pool_options;
  pool_options.num_envs = M;
  // Synchronous pool: results do not depend on the thread count, so the actors' setting is safe.
  pool_options.num_threads = std::min(c.actor.env_threads, M);
  const envs::EnvFactory factory = env_factory(c);
  envs::EnvPool pool(pool_options, factory);

  EvalResult result;
  result.checkpoint = trained.checkpoint_dir;
  result.updates = trained.updates;
  result.env_steps = trained.env_steps;
  result.env = config_env_name(c);
  result.num_envs = M;
  result.stochastic = options.stochastic;
  result.seed = options.seed;
  result.info_names = pool.info_names();
  const std::size_t num_infos = result.info_names.size();

  actors::EpisodeQuotas quotas(N, M);
  std::vector<std::vector<EpisodeResult>> per_env(static_cast<std::size_t>(M));

  const std::uint64_t base_seed = eval_pool_seed(options.seed);
  std::unique_ptr<GifRecorder> gif;
  // Env 0's first episode seed: the pool draws it from the same stream on reset.
  if (!options.gif.empty()) gif = std::make_unique<GifRecorder>(factory(0), envs::SeedStream(base_seed, 0).next());

  const envs::StepBatch* batch = &pool.reset(base_seed);
  actors::PolicyRunner runner(trained.policy, pool.action_space(), M, options.stochastic,
                              eval_generator(options.seed));
  // On stderr, so that stdout holds only the report (`mnemo eval ... > result.txt`).
  ProgressLine progress(1.0, stderr);
  std::int64_t steps = 0;
  double return_sum = 0;
  const auto start = std::chrono::steady_clock::now();
  actors::EpisodeHooks hooks;
  if (gif)
    hooks.acted = [&](const envs::StepBatch&, const Array& actions) {
      if (gif->active()) gif->step(actions.raw());
    };
  hooks.episode = [&](std::int64_t i, const envs::StepBatch& b) {
    EpisodeResult ep;
    ep.env = i;
    ep.episode_return = b.episode_return.data<float>()[i];
    ep.length = b.episode_length.data<std::int64_t>()[i];
    for (std::size_t k = 0; k < num_infos; ++k)
      ep.infos.push_back(b.infos.data<float>()[static_cast<std::size_t>(i) * num_infos + k]);
    return_sum += ep.episode_return;
    per_env[static_cast<std::size_t>(i)].push_back(std::move(ep));
  };
  hooks.progress = [&](const actors::EpisodeQuotas& q) {
    ++steps;
    if (!options.progress || !progress.due()) return;
    // Quiet for the first second: a short evaluation prints its table and nothing else.
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (secs < 1.0) return;
    std::vector<ProgressItem> items = {
        {"{}/" + std::to_string(N) + " episodes", static_cast<double>(q.done()), "count"},
        {"{} steps/s", static_cast<double>(steps * M) / secs, "count"}};
    if (q.done() > 0) items.push_back({"return", return_sum / static_cast<double>(q.done()), "%.1f"});
    progress.update(items);
  };
  actors::run_episodes(pool, batch, quotas, [&](const envs::StepBatch& b) { return runner.act(b); }, hooks);
  progress.finish();
  for (auto& eps : per_env)
    for (auto& ep : eps) result.episodes.push_back(std::move(ep));

  if (gif) {
    const auto& frames = gif->frames();
    const std::vector<std::uint8_t> bytes = envs::encode_gif(frames, static_cast<int>(100 / options.fps));
    write_file_atomic(options.gif, std::string(bytes.begin(), bytes.end()));
    result.gif_frames = static_cast<std::int64_t>(frames.size());
    result.gif_return = gif->episode_return();
    result.gif_length = gif->length();
  }
  return result;
}

std::string format_eval_result(const EvalResult& r) {
  std::string out = "checkpoint " + r.checkpoint.string() + " (update " + format_count(static_cast<double>(r.updates)) +
                    ", " + format_count(static_cast<double>(r.env_steps)) + " env steps)\n";
  out += r.env + ": " + std::to_string(r.episodes.size()) + " episodes on " + std::to_string(r.num_envs) + " envs, " +
         (r.stochastic ? "stochastic policy (sampled actions)" : "deterministic policy (mode)") + ", seed " +
         std::to_string(r.seed) + "\n\n";
  struct Row {
    std::string name;
    Stats s;
    const char* format;
  };
  std::vector<Row> rows = {{"return", r.returns(), "%.2f"}, {"length", r.lengths(), "%.1f"}};
  for (std::size_t i = 0; i < r.info_names.size(); ++i) rows.push_back({r.info_names[i], r.info(i), "%.3f"});
  std::size_t name_w = 0;
  for (const auto& row : rows) name_w = std::max(name_w, row.name.size());
  std::size_t num_w = 8;
  for (const auto& row : rows)
    for (double v : {row.s.mean, row.s.std, row.s.min, row.s.max}) num_w = std::max(num_w, fmt(row.format, v).size());
  auto fill = [](const std::string& s, std::size_t w) { return std::string(w > s.size() ? w - s.size() : 0, ' '); };
  auto pad_left = [&](const std::string& s, std::size_t w) { return fill(s, w) + s; };
  auto pad_right = [&](const std::string& s, std::size_t w) { return s + fill(s, w); };
  out += pad_right("", name_w);
  for (const char* h : {"mean", "std", "min", "max"}) out += "  " + pad_left(h, num_w);
  out += "\n";
  for (const auto& row : rows) {
    out += pad_right(row.name, name_w);
    for (double v : {row.s.mean, row.s.std, row.s.min, row.s.max}) out += "  " + pad_left(fmt(row.format, v), num_w);
    out += "\n";
  }
  return out;
}

void eval_command_line(CommandArgs& args, EvalOptions& o) {
  args.positional("RUN_DIR|CHECKPOINT_DIR", &o.source);
  args.flags()
      ("episodes", integer(&o.episodes), "finished episodes to evaluate (default 10)")
      ("envs", integer(&o.envs, "M"), "envs stepped together (default min(N, 8); at most N)")
      ("seed", integer(&o.seed, "S"), "seed of the env episodes and of --stochastic sampling (default 1)")
      ("stochastic", flag(&o.stochastic), "sample actions instead of taking the distribution's mode")
      ("set", repeated(&o.overrides, "KEY=VALUE"), "override a key of the run's config (env.*, ...); repeatable")
      ("gif", text(&o.gif, "FILE.gif"), "record env 0's first episode as an animated GIF")
      ("fps", integer(&o.fps, "F"), "GIF frame rate (default 30)");
  args.check([&args, &o] {
    if (args.given("envs") && o.envs < 1) throw ConfigError("--envs must be at least 1, got " + std::to_string(o.envs));
    o.validate();
  });
}

int eval_command(EvalOptions& o) {
  o.progress = true;
  if (is_offline_run(o.source)) {
    // A Decision Transformer / BC run: conditioned on the run's target return.
    if (!o.gif.empty()) throw ConfigError("--gif: recording is for online policies, not offline runs");
    const std::int64_t envs = o.envs > 0 ? std::min(o.envs, o.episodes) : std::min<std::int64_t>(o.episodes, 8);
    const auto r = evaluate_offline_run(o.source, o.overrides, o.episodes, envs, eval_pool_seed(o.seed), o.stochastic);
    std::cout << "checkpoint " << r.checkpoint.string() << " (update " << r.updates << "), " << o.episodes
              << " episodes, target return " << r.target_return << "\n";
    for (const auto& kv : r.metrics) std::cout << "  " << kv.first << " " << fmt("%.4g", kv.second) << "\n";
    std::cout << std::flush;
    return 0;
  }
  const EvalResult r = evaluate(o);
  std::cout << format_eval_result(r);
  if (!o.gif.empty())
    std::cout << "\nrecorded env 0's first episode (return " << fmt("%.2f", r.gif_return) << ", " << r.gif_length
              << " steps, " << r.gif_frames << " frames) -> " << o.gif << "\n";
  std::cout << std::flush;
  return 0;
}

}  // namespace mnemo::launch
