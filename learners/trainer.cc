#include "learners/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <thread>

#include "core/log.h"
#include "core/models/tensor.h"
#include "core/net/params.h"
#include "core/runlog/checkpoint.h"
#include "core/runlog/metrics.h"
#include "core/sequence.h"

namespace mnemo::learners {
namespace {

// [B, T, ...] replay field -> [T, B, ...] tensor (CPU, over the batch's memory).
torch::Tensor time_major(const replay::Batch& b, const std::string& name) {
  return to_tensor(b.at(name)).transpose(0, 1);
}

// The items of `b` at `rows` (in order) as a batch of their own.
replay::Batch select_items(const replay::Batch& b, const std::vector<std::int64_t>& rows) {
  replay::Batch out;
  out.table = b.table;
  const auto n = static_cast<std::int64_t>(rows.size());
  for (const auto& [name, a] : b.fields) {
    Shape shape = a.shape();
    const std::size_t row = a.nbytes() / static_cast<std::size_t>(shape[0]);
    shape[0] = n;
    Array c = Array::uninitialized(a.dtype(), shape);  // every row is copied below
    for (std::int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char*>(c.raw()) + static_cast<std::size_t>(i) * row,
                  static_cast<const char*>(a.raw()) + static_cast<std::size_t>(rows[static_cast<std::size_t>(i)]) * row, row);
    out.fields.emplace_back(name, std::move(c));
  }
  for (std::int64_t r : rows) {
    const auto i = static_cast<std::size_t>(r);
    out.keys.push_back(b.keys[i]);
    out.probabilities.push_back(b.probabilities[i]);
    out.weights.push_back(b.weights[i]);
    out.priorities.push_back(b.priorities[i]);
  }
  return out;
}

// The rows of `parts` one after the other (same fields, in the same order).
replay::Batch concat_items(const std::vector<replay::Batch>& parts) {
  replay::Batch out;
  out.table = parts.front().table;
  std::int64_t n = 0;
  for (const auto& p : parts) n += p.size();
  for (std::size_t f = 0; f < parts.front().fields.size(); ++f) {
    const auto& [name, first] = parts.front().fields[f];
    Shape shape = first.shape();
    shape[0] = n;
    Array c = Array::uninitialized(first.dtype(), shape);  // every row is copied below
    std::size_t at = 0;
    for (const auto& p : parts) {
      const Array& a = p.fields[f].second;
      std::memcpy(static_cast<char*>(c.raw()) + at, a.raw(), a.nbytes());
      at += a.nbytes();
    }
    out.fields.emplace_back(name, std::move(c));
  }
  for (const auto& p : parts) {
    out.keys.insert(out.keys.end(), p.keys.begin(), p.keys.end());
    out.probabilities.insert(out.probabilities.end(), p.probabilities.begin(), p.probabilities.end());
    out.weights.insert(out.weights.end(), p.weights.begin(), p.weights.end());
    out.priorities.insert(out.priorities.end(), p.priorities.begin(), p.priorities.end());
  }
  return out;
}

// How long the chief waits for an actor's state of the update it checkpoints (exact resume).
constexpr std::int64_t kActorStateWaitMs = 3000;
// How long the chief waits for the replay shards to write their tables into a checkpoint: a large
// table takes far longer than a sample's timeout_ms.
constexpr std::int64_t kReplaySnapshotTimeoutMs = 30LL * 60 * 1000;

}  // namespace

void LearnerOptions::validate() const {
  if (!is_online_algorithm(algo) && !offline()) {
    std::string valid;
    for (const auto& name : online_algorithm_names()) valid += name + ", ";
    throw ConfigError("learner.algo: unknown algorithm '" + algo + "' (valid: " + valid + "dt, bc)");
  }
  if (batch_sequences < 1) throw ConfigError("learner.batch_sequences must be at least 1");
  if (total_env_steps < 1) throw ConfigError("learner.total_env_steps must be positive");
  if (checkpoint_every < 0) throw ConfigError("learner.checkpoint_every must be >= 0");
  if (keep_checkpoints < 1) throw ConfigError("learner.keep_checkpoints must be at least 1");
  if (log_every < 1) throw ConfigError("learner.log_every must be at least 1");
  if (collective_timeout_ms < 0) throw ConfigError("learner.collective_timeout_ms must be >= 0 (0: no timeout)");
  if (actor_timeout_ms < 0) throw ConfigError("learner.actor_timeout_ms must be >= 0 (0: actors are never declared lost)");
  if (burn_in < 0) throw ConfigError("learner.burn_in must be >= 0");
  if (max_policy_lag < 0) throw ConfigError("learner.max_policy_lag must be >= 0 (0: no limit)");
  if (offline()) {
    dt.validate(algo);
    return;
  }
  ppo.validate();
  if (off_policy_corrected()) vtrace.validate();
  augment.validate("learner.augment");
  aux.validate("learner.aux");
}

Trainer::Trainer(TrainerContext ctx)
    : ctx_(std::move(ctx)), gen_(nn::make_generator(ctx_.seed)),
      checkpoints_(checked(ctx_.comm, "trainer"), ctx_.run_dir, ctx_.options.keep_checkpoints, ctx_.config_yaml, ctx_.device) {
  ctx_.options.validate();
  // Each rank draws different minibatch orders; parameters start equal via broadcast.
  gen_ = nn::make_generator(ctx_.seed * 1000003ULL + static_cast<std::uint64_t>(ctx_.comm->rank()));
  torch::manual_seed(ctx_.seed);
  policy_ = nn::make_policy(ctx_.model, ctx_.obs_spec, ctx_.action_space);
  // A resumed run takes its encoder from the checkpoint, not from model.encoder_init.
  nn::ModelOptions encoder_options = ctx_.model;
  if (ctx_.resume) encoder_options.encoder_init.clear();
  nn::prepare_encoder(*policy_, encoder_options, ctx_.obs_spec);
  policy_->to(ctx_.device);
  if (ctx_.options.aux.enabled()) {
    if (ctx_.model.freeze_encoder)
      throw ConfigError("learner.aux trains the observation encoder; it cannot be combined with model.freeze_encoder");
    if (policy_->encoder() == nullptr)
      throw ConfigError("learner.aux: a " + ctx_.model.type +
                        " policy on vector observations has no observation encoder to train (use a memory model or "
                        "image observations)");
    aux_ = Contrastive(ctx_.options.aux, ctx_.model, ctx_.obs_spec, *policy_->encoder());
  }
  const std::vector<torch::Tensor> trained = trained_parameters(*policy_, aux_ ? aux_.get() : nullptr);
  if (ctx_.options.augment.enabled())
    augmenter_ = std::make_unique<Augmenter>(ctx_.options.augment, ctx_.obs_spec, "learner.augment");
  optimizer_ = std::make_unique<torch::optim::Adam>(
      trained, torch::optim::AdamOptions(ctx_.options.ppo.lr).eps(ctx_.options.ppo.adam_eps));
  reducer_ = std::make_unique<GradientReducer>(*ctx_.comm, trained);
  algorithm_ = make_online_algorithm(ctx_.options, OnlineLearner{*policy_, *optimizer_, *reducer_, *ctx_.comm, gen_,
                                                                 ctx_.action_space, ctx_.device, augmenter_.get(),
                                                                 aux_ ? aux_.get() : nullptr});
  replay_ = std::make_unique<replay::Client>(ctx_.replay_endpoint, ctx_.replay_client);
  if (ctx_.interrupt != nullptr) replay_->set_stop_flag(ctx_.interrupt);
}

Trainer::~Trainer() = default;

SequenceBatch Trainer::to_batch(const replay::Batch& b) const {
  SequenceBatch s;
  const torch::Device d = ctx_.device;
  auto field = [&](const std::string& name) { return time_major(b, name).to(d); };
  std::vector<torch::Tensor> obs;
  // Pixels cross to the device as uint8 and become floats there.
  for (const auto& f : ctx_.obs_spec.fields) obs.push_back(field(seq::kObsPrefix + f.name));
  s.obs = nn::flatten_obs(obs, 2);
  s.actions = field("action");
  s.rewards = field("reward");
  if (b.has("prev_action")) s.prev = {field("prev_action"), field("prev_reward")};  // stored when the policy reads them
  s.first = field("first").to(torch::kBool);
  s.terminated = field("terminated").to(torch::kBool);
  s.truncated = field("truncated").to(torch::kBool);
  s.logprob = field("logprob");
  s.value = field("value");
  s.final_value = field("final_value");
  s.bootstrap = to_tensor(b.at("bootstrap_value")).to(d);
  if (b.has("bootstrap_first")) {
    // [B, ...] -> [1, B, ...]: one more step after the sequence.
    auto next = [&](const std::string& name) { return to_tensor(b.at(name)).unsqueeze(0).to(d); };
    std::vector<torch::Tensor> next_obs;
    for (const auto& f : ctx_.obs_spec.fields) next_obs.push_back(next(seq::kBootstrapObsPrefix + f.name));
    s.next_obs = nn::flatten_obs(next_obs, 2);
    s.next_first = next("bootstrap_first").to(torch::kBool);
    if (b.has("bootstrap_prev_action")) s.next_prev = {next("bootstrap_prev_action"), next("bootstrap_prev_reward")};
  }
  s.version = to_tensor(b.at("version"));
  for (std::size_t i = 0;; ++i) {
    std::string name = seq::kStatePrefix + std::to_string(i);
    if (!b.has(name)) break;
    s.state0.push_back(to_tensor(b.at(name)).to(d));
  }
  return s;
}

void Trainer::save_checkpoint() {
  StateFile state;
  state.set("updates", counters_.updates);
  state.set("env_steps", counters_.env_steps);
  state.set("learner_rng", nn::generator_state(gen_));
  // The windows the logged means are over, so that a resumed run logs what an unbroken one would.
  auto pair_bytes = [](double a, double b) {
    const double v[2] = {a, b};
    return std::string(reinterpret_cast<const char*>(v), sizeof v);
  };
  std::string returns;
  for (const auto& r : session_.returns) returns += pair_bytes(r.first, r.second);
  state.set("return_window", returns);
  state.set("info_window", static_cast<std::int64_t>(session_.info_window.size()));
  for (std::size_t k = 0; k < session_.info_window.size(); ++k)
    for (const auto& kv : session_.info_window[k])
      state.set("info_window/" + std::to_string(k) + "/" + kv.first, pair_bytes(kv.second.first, kv.second.second));
  RunCheckpoints::Extra extra = [this](const std::filesystem::path& dir) {
    if (aux_) aux_->save(dir);
    std::string note;
    if (!ctx_.actor_state_dir.empty() && ctx_.params != nullptr)
      note = std::to_string(save_actor_states(dir / "actors")) + " actor states";
    if (!ctx_.checkpoint_replay) return note;
    const std::int64_t items = save_replay(dir / "replay");
    if (items >= 0) note += (note.empty() ? "" : ", ") + std::to_string(items) + " replay items";
    return note;
  };
  checkpoints_.save(counters_.updates, *policy_, *optimizer_, state,
                    "update " + std::to_string(counters_.updates) + ", " + std::to_string(counters_.env_steps) +
                        " env steps",
                    extra);
}

// A replan (a replay shard restarted empty, in sync mode) makes the actors remake the update's
// whole share, so the sequences of the plan before it that were not lost with the shard are
// superseded: trained on, they would make every later update one update late. The same holds for a
// queue restored from a checkpoint, whose sequences the resumed actors make again. Sequences of a
// plan older than the newest seen are dropped (counted as stale) and the batch is filled up with
// newer ones, which the actors are making.
replay::Batch Trainer::drop_superseded(replay::Batch rb, std::int64_t& stale) {
  if (!rb.has("plan")) return rb;
  const std::int64_t n = rb.size();
  std::vector<replay::Batch> parts;
  std::int64_t have = 0;
  while (true) {
    // The chief holds the plan itself; other learners learn of a new one from its sequences.
    if (ctx_.params != nullptr) newest_plan_ = std::max(newest_plan_, ctx_.params->plan());
    const std::int64_t* plan = rb.at("plan").data<std::int64_t>();
    for (std::int64_t i = 0; i < rb.size(); ++i) newest_plan_ = std::max(newest_plan_, plan[i]);
    std::vector<std::int64_t> kept;
    for (std::int64_t i = 0; i < rb.size(); ++i)
      if (plan[i] >= newest_plan_) kept.push_back(i);
    stale += rb.size() - static_cast<std::int64_t>(kept.size());
    if (parts.empty() && kept.size() == static_cast<std::size_t>(rb.size())) return rb;
    if (!kept.empty()) parts.push_back(select_items(rb, kept));
    have += static_cast<std::int64_t>(kept.size());
    if (have >= n) break;
    rb = replay_->sample(n - have);
  }
  return parts.size() == 1 ? parts.front() : concat_items(parts);
}

std::int64_t Trainer::save_actor_states(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const std::int64_t update = counters_.updates;
  const std::string name = std::to_string(update) + ".state";
  // An actor writes the state right after inserting the update's last unroll, so it may still be
  // on its way when the learner has trained on that unroll.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kActorStateWaitMs);
  std::int64_t taken = 0;
  for (std::int64_t id : ctx_.params->live_actor_ids()) {
    const fs::path file = ctx_.actor_state_dir / std::to_string(id) / name;
    while (!fs::exists(file) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!fs::exists(file)) {
      MNEMO_WARN("checkpoint of update ", update, ": actor ", id, " left no state for it (", file.string(),
                 "); a resume from it starts that actor's episodes afresh");
      continue;
    }
    fs::create_directories(dir);
    fs::rename(file, dir / (std::to_string(id) + ".state"));
    ++taken;
  }
  // States of this update or older are no longer wanted.
  std::error_code ec;
  for (const auto& actor : fs::directory_iterator(ctx_.actor_state_dir, ec))
    for (const auto& f : fs::directory_iterator(actor.path(), ec)) {
      const std::string stem = f.path().stem().string();
      if (f.path().extension() == ".state" && !stem.empty() && stem.find_first_not_of("0123456789") == std::string::npos &&
          std::stoll(stem) <= update)
        fs::remove(f.path(), ec);
    }
  return taken;
}

// Asks every replay shard to write its tables into dir/<shard> and returns the items written, or
// -1 after removing dir when a shard fails: a checkpoint without replay contents (resume then
// starts with empty tables, and says so) beats losing the model's checkpoint or sealing half of
// the replay.
std::int64_t Trainer::save_replay(const std::filesystem::path& dir) {
  if (!replay_snapshots_) {
    // A client of its own: no stop flag (an interrupted run still saves its replay), no prefetched
    // samples in the way, and a deadline long enough for writing a large table.
    replay::ClientOptions o = ctx_.replay_client;
    o.prefetch = 0;
    o.timeout_ms = std::max<std::int64_t>(o.timeout_ms, kReplaySnapshotTimeoutMs);
    replay_snapshots_ = std::make_unique<replay::Client>(ctx_.replay_endpoint, o);
  }
  try {
    std::int64_t items = 0;
    for (const auto& s : replay_snapshots_->checkpoint_into(std::filesystem::absolute(dir).string())) items += s.items;
    return items;
  } catch (const std::exception& e) {
    MNEMO_ERROR("checkpoint without replay contents: ", e.what());
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return -1;
  }
}

void Trainer::restore() {
  // The launcher may have chosen the checkpoint (so that replay shards restore the same one).
  auto r = checkpoints_.restore(*policy_, *optimizer_, ctx_.resume_step);
  if (aux_) aux_->load(r.dir, ctx_.device);
  counters_.updates = r.state.get_int("updates");
  counters_.env_steps = r.state.get_int("env_steps");
  // The checkpoint holds the chief's generator; other ranks keep their own rank-seeded one so that
  // ranks go on drawing different minibatch orders.
  if (ctx_.comm->rank() == 0) nn::set_generator_state(gen_, r.state.get_string("learner_rng"));
  if (r.state.has("return_window")) {
    auto pair_of = [](const std::string& b, std::size_t at) {
      double v[2];
      std::memcpy(v, b.data() + at, sizeof v);
      return std::make_pair(v[0], v[1]);
    };
    const std::string& returns = r.state.get_string("return_window");
    MNEMO_CHECK(returns.size() % 16 == 0, "checkpoint ", r.dir.string(), ": return_window is not pairs of doubles");
    for (std::size_t at = 0; at < returns.size(); at += 16) session_.returns.push_back(pair_of(returns, at));
    const std::int64_t slots = r.state.get_int("info_window");
    session_.info_window.assign(static_cast<std::size_t>(std::clamp<std::int64_t>(slots, 0, 10)), {});
    for (const auto& key : r.state.keys()) {
      if (key.rfind("info_window/", 0) != 0) continue;
      const auto slash = key.find('/', 12);
      const std::size_t k = std::stoul(key.substr(12, slash - 12));
      const std::string& b = r.state.get_string(key);
      if (k < session_.info_window.size() && b.size() == 16) session_.info_window[k][key.substr(slash + 1)] = pair_of(b, 0);
    }
  }
  MNEMO_INFO("resumed from ", r.dir.string(), " at update ", counters_.updates, ", ", counters_.env_steps, " env steps");
}

void Trainer::run() {
  run_loop(*this, RunnerOptions{ctx_.comm, ctx_.device, ctx_.resume, ctx_.options.checkpoint_every, ctx_.progress, ctx_.metrics,
                    ctx_.interrupt});
}

void Trainer::publish() {
  if (ctx_.params != nullptr) ctx_.params->publish(nn::flatten_parameters(*policy_), counters_.updates);
}

void Trainer::begin() {
  publish();
  newest_plan_ = counters_.updates;  // this session's plan begins at its first version
  Session fresh;  // a resumed run's windows (restore()) carry over
  fresh.returns = std::move(session_.returns);
  fresh.info_window = std::move(session_.info_window);
  session_ = std::move(fresh);
  session_.start = std::chrono::steady_clock::now();
  session_.start_steps = counters_.env_steps;
}

void Trainer::finish(bool) {
  timing_.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - session_.start).count();
}

bool Trainer::advance() {
  const auto& o = ctx_.options;
  replay::Batch rb;
  std::int64_t stale = 0;
  const auto wait_start = std::chrono::steady_clock::now();
  try {
    // Sequences older than max_policy_lag are dropped (and counted); this rank samples again
    // until it has at least one fresh sequence, so every rank takes part in every update.
    while (true) {
      rb = replay_->sample(o.batch_sequences);
      if (o.max_policy_lag <= 0) break;
      const std::int64_t* version = rb.at("version").data<std::int64_t>();
      std::vector<std::int64_t> fresh;
      for (std::int64_t i = 0; i < rb.size(); ++i)
        if (counters_.updates - version[i] <= o.max_policy_lag) fresh.push_back(i);
      stale += rb.size() - static_cast<std::int64_t>(fresh.size());
      if (fresh.size() == static_cast<std::size_t>(rb.size())) break;
      if (!fresh.empty()) {
        rb = select_items(rb, fresh);
        break;
      }
    }
    if (ctx_.sync_queue) {
      rb = drop_superseded(std::move(rb), stale);
      if (ctx_.params != nullptr) {
        ctx_.params->note_sampled(counters_.updates + 1);
        // A replan that came between the check and the note began at this update, superseding the
        // batch; one after it begins at the next update and leaves the batch as it is.
        if (ctx_.params->plan() == counters_.updates && newest_plan_ < counters_.updates)
          rb = drop_superseded(std::move(rb), stale);
      }
    }
  } catch (const Error& e) {
    if (ctx_.interrupt != nullptr && ctx_.interrupt->load()) return false;
    throw;
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
  timing_.sample_s += waited;
  SequenceBatch batch = to_batch(rb);
  double frac = 1.0 - static_cast<double>(counters_.env_steps) / static_cast<double>(o.total_env_steps);
  session_.lr = o.ppo.anneal_lr ? o.ppo.lr * std::max(frac, 0.0) : o.ppo.lr;
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(session_.lr);
  const auto update_start = std::chrono::steady_clock::now();
  session_.stats = algorithm_->update(batch);
  timing_.update_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - update_start).count();

  // Counters every rank agrees on: steps, finished episodes, policy lag.
  auto ended = batch.terminated.logical_or(batch.truncated).cpu();
  auto ep_ret = time_major(rb, "episode_return");
  const torch::Tensor lag = counters_.updates - batch.version.to(torch::kFloat64);
  std::vector<double> sums{static_cast<double>(batch.T() * batch.B()), ep_ret.masked_select(ended).sum().item<double>(),
                           ended.sum().item<double>(),
                           lag.sum().item<double>(),
                           static_cast<double>(batch.B()),
                           static_cast<double>(stale), waited};
  constexpr std::size_t kInfos = 7;  // sums[kInfos + i]: info i
  // Env infos (success, ...) summed over the steps that ended an episode.
  std::vector<std::string> info_names;
  for (const auto& f : rb.fields)
    if (f.first.rfind(seq::kInfoPrefix, 0) == 0) info_names.push_back(f.first.substr(seq::kInfoPrefix.size()));
  for (const auto& name : info_names)
    sums.push_back(time_major(rb, seq::kInfoPrefix + name).masked_select(ended).sum().item<double>());
  // The largest lag of every rank, each in its own slot (a sum of one-hot slots is a gather: the
  // communicator has no max-reduce).
  const std::size_t lag_slots = sums.size();
  sums.resize(lag_slots + static_cast<std::size_t>(ctx_.comm->size()), 0.0);
  sums[lag_slots + static_cast<std::size_t>(ctx_.comm->rank())] = lag.max().item<double>();
  auto g = torch::tensor(sums, torch::kFloat64).to(ctx_.device);  // NCCL reduces device tensors only
  ctx_.comm->allreduce_sum(g);
  g = g.cpu();
  auto gv = g.accessor<double, 1>();
  counters_.env_steps += static_cast<std::int64_t>(gv[0]);
  counters_.updates += 1;
  publish();

  Session& w = session_;
  w.returns.emplace_back(gv[1], gv[2]);
  if (w.returns.size() > 10) w.returns.pop_front();
  w.info_window.emplace_back();
  for (std::size_t i = 0; i < info_names.size(); ++i) w.info_window.back()[info_names[i]] = {gv[kInfos + i], gv[2]};
  if (w.info_window.size() > 10) w.info_window.pop_front();
  for (const auto& kv : w.stats) w.log_sums[kv.first] += kv.second;
  w.log_sums["policy_lag"] += gv[3] / gv[4];
  // Over the log interval: the largest lag any rank trained on, the sequences all ranks dropped
  // as stale, and the seconds the ranks waited for data (summed over ranks).
  for (std::size_t r = lag_slots; r < sums.size(); ++r) w.lag_max = std::max(w.lag_max, gv[static_cast<std::int64_t>(r)]);
  w.dropped += gv[5];
  w.idle += gv[6];
  ++w.log_count;
  return true;
}

StepReport Trainer::report(bool, bool) {
  const auto& o = ctx_.options;
  Session& w = session_;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - w.start).count();
  double sps = static_cast<double>(counters_.env_steps - w.start_steps) / std::max(secs, 1e-9);
  double rsum = 0, rcount = 0;
  for (const auto& r : w.returns) {
    rsum += r.first;
    rcount += r.second;
  }
  double mean_return = rcount > 0 ? rsum / rcount : std::nan("");
  recent_return_ = mean_return;
  std::map<std::string, std::pair<double, double>> info_sums;
  for (const auto& iw : w.info_window)
    for (const auto& kv : iw) {
      info_sums[kv.first].first += kv.second.first;
      info_sums[kv.first].second += kv.second.second;
    }
  recent_infos_.clear();
  for (const auto& kv : info_sums)
    if (kv.second.second > 0) recent_infos_[kv.first] = kv.second.first / kv.second.second;
  StepReport r;
  r.step = counters_.env_steps;
  r.progress = {{"step {}", static_cast<double>(counters_.env_steps), "count"},
                {"{} steps/s", sps, "count"},
                {"ETA {}s", static_cast<double>(o.total_env_steps - counters_.env_steps) / std::max(sps, 1e-9), "count"},
                {"return", mean_return, "%.1f"},
                {"loss", w.stats["policy_loss"] + w.stats["value_loss"], "%.3g"},
                {"lag", w.log_sums["policy_lag"] / static_cast<double>(std::max<std::int64_t>(1, w.log_count)), "%.2f"}};
  if (every(counters_.updates, o.log_every)) {
    r.metrics = {{"env_steps", static_cast<double>(counters_.env_steps)},
                 {"updates", static_cast<double>(counters_.updates)},
                 {"sps", sps},
                 {"lr", w.lr}};
    if (rcount > 0) r.metrics.emplace_back("episode_return", mean_return);
    for (const auto& kv : recent_infos_) r.metrics.emplace_back(kv.first, kv.second);
    for (const auto& kv : w.log_sums) r.metrics.emplace_back(kv.first, kv.second / static_cast<double>(w.log_count));
    r.metrics.emplace_back("policy_lag_max", w.lag_max);
    r.metrics.emplace_back("stale_dropped", w.dropped);
    r.metrics.emplace_back("learner_idle_s", w.idle);
    w.log_sums.clear();
    w.log_count = 0;
    w.lag_max = w.dropped = w.idle = 0;
  }
  // The evaluator's latest report joins the row of the update it arrives at.
  if (ctx_.params != nullptr) {
    const std::vector<EvalReport> reports = ctx_.params->take_reports();
    if (!reports.empty()) {
      const EvalReport& e = reports.back();
      r.metrics.emplace_back("eval_update", static_cast<double>(e.version));
      for (const auto& kv : e.values) r.metrics.emplace_back("eval_" + kv.first, kv.second);
    }
  }
  return r;
}

}  // namespace mnemo::learners
