#include "actors/actor.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "actors/rollout.h"
#include "core/log.h"
#include "core/models/tensor.h"
#include "core/sequence.h"

namespace mnemo::actors {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The per-env layout of the policy's recurrent state (without the batch dimension), stored with
// every sequence so that the learner can replay it from the state the actor had.
Spec state_spec(nn::PolicyImpl& policy) {
  Spec spec;
  nn::State s = policy.initial_state(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    Shape shape(s[i].sizes().begin() + 1, s[i].sizes().end());
    spec.fields.push_back({"state" + std::to_string(i), from_torch_dtype(s[i].scalar_type()), shape});
  }
  return spec;
}

}  // namespace

void ActorOptions::validate() const {
  if (num_actors < 1) throw ConfigError("actor.num_actors must be at least 1");
  if (num_envs < 1) throw ConfigError("actor.num_envs must be at least 1");
  if (unroll_length < 1) throw ConfigError("actor.unroll_length must be at least 1");
  if (env_threads < 1) throw ConfigError("actor.env_threads must be at least 1");
  if (param_timeout_ms < 1) throw ConfigError("actor.param_timeout_ms must be positive");
  if (restarts < 0) throw ConfigError("actor.restarts must be >= 0");
}

std::uint64_t actor_seed(std::uint64_t run_seed, std::int64_t resume_step) {
  if (resume_step < 0) return run_seed;
  return envs::splitmix64(envs::splitmix64(run_seed) + static_cast<std::uint64_t>(resume_step));
}

Actor::Actor(ActorContext ctx) : ctx_(std::move(ctx)) { ctx_.options.validate(); }

std::int64_t Actor::required_version() const {
  if (!ctx_.options.sync) return 0;
  const std::int64_t e = epoch_ >= 0 ? epoch_ : base_version_;
  const std::int64_t envs = epoch_envs_ > 0 ? epoch_envs_ : ctx_.total_actors * ctx_.options.num_envs;
  std::int64_t unrolls = 0;
  for (const auto& u : unrolls_at_)
    if (u.first >= e) unrolls += u.second;
  return std::max<std::int64_t>(e + (envs * unrolls) / ctx_.sequences_per_update, 0);
}

bool Actor::learner_stopping() const {
  try {
    return ParameterClient(ctx_.params_endpoint, 2000, ctx_.replay_client.curve()).fetch(std::numeric_limits<std::int64_t>::max()).stop;
  } catch (const std::exception&) {
    return false;
  }
}

bool Actor::sync_parameters() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx_.options.param_timeout_ms);
  int sleep_us = 50;
  while (true) {
    if (ctx_.stop != nullptr && ctx_.stop->load()) stop_ = true;
    if (stop_.load()) return false;
    FetchedParams p = params_->fetch(version_);
    base_version_ = p.base_version;
    plan_ = p.plan;
    epoch_ = p.epoch;
    epoch_envs_ = p.epoch_envs;
    if (p.replans > replans_) {
      // A replay shard restarted empty: the unrolls in it are gone and count no more.
      replans_ = p.replans;
      unrolls_at_.clear();
    }
    if (p.params.defined() && p.params.numel() > 0) {
      nn::load_flat_parameters(*policy_, p.params);
      if (version_ >= 0) ++stats_.param_updates;
      version_ = p.version;
    }
    if (p.stop) {
      stop_ = true;
      return false;
    }
    const std::int64_t required = required_version();
    if (version_ >= required) return true;
    if (std::chrono::steady_clock::now() > deadline)
      throw TimeoutError("actor " + std::to_string(ctx_.actor_id) + ": no parameters of version " +
                         std::to_string(required) + " within " + std::to_string(ctx_.options.param_timeout_ms) +
                         " ms (have " + std::to_string(version_) + ")");
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min(sleep_us * 2, 5000);
  }
}

void Actor::run() {
  const auto& o = ctx_.options;
  const transport::CurveClient curve = ctx_.replay_client.curve();  // the replay's keys secure the parameters too
  params_ = std::make_unique<ParameterClient>(ctx_.params_endpoint, o.param_timeout_ms, curve);
  if (ctx_.join)
    ctx_.actor_id = static_cast<int>(params_->join(o.num_envs));
  else
    params_->set_identity(ctx_.actor_id, o.num_envs, ctx_.incarnation);
  // The heartbeat: keeps this actor in the roster and watches for the stop.
  std::atomic<bool> done{false};
  std::thread heartbeat([this, &done, &curve] {
    ParameterClient hb(ctx_.params_endpoint, 2000, curve);
    hb.set_identity(ctx_.actor_id, ctx_.options.num_envs, ctx_.incarnation);
    while (!done.load() && !stop_.load()) {
      try {
        if (hb.fetch(std::numeric_limits<std::int64_t>::max()).stop) stop_ = true;
      } catch (const std::exception&) {
        // A silent learner is the actor's own parameter timeout to report.
      }
      for (int i = 0; i < 20 && !done.load() && !stop_.load(); ++i) {
        if (ctx_.stop != nullptr && ctx_.stop->load()) stop_ = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
  std::exception_ptr failure;
  std::string why;
  try {
    run_unrolls();
  } catch (const std::exception& e) {
    failure = std::current_exception();
    why = e.what();
  }
  done = true;
  heartbeat.join();
  // At the end of a run the replay shards close while actors still insert: a failure then is the
  // stop arriving first through replay.
  if (failure && !stop_.load() && !learner_stopping()) {
    params_->leave(why);
    std::rethrow_exception(failure);
  }
  MNEMO_INFO("actor ", ctx_.actor_id, " stopping after ", stats_.env_steps, " env steps, ", stats_.episodes,
             " episodes; seconds in env steps ", stats_.env_s, ", inference ", stats_.inference_s,
             ", replay inserts ", stats_.insert_s, ", waiting for parameters ", stats_.param_wait_s);
  // Stopped from outside (a signal, the embedded run's end) rather than by the learner.
  if (ctx_.stop != nullptr && ctx_.stop->load()) params_->leave("stopped");
}

std::optional<StateFile> Actor::restored_state() const {
  if (ctx_.restore_state.empty() || !std::filesystem::exists(ctx_.restore_state)) return std::nullopt;
  try {
    StateFile s = StateFile::load(ctx_.restore_state);
    if (s.get_int("envs") != ctx_.options.num_envs)
      throw Error("saved with " + std::to_string(s.get_int("envs")) + " envs, this actor has " +
                  std::to_string(ctx_.options.num_envs));
    return s;
  } catch (const std::exception& e) {
    MNEMO_WARN("actor ", ctx_.actor_id, ": ", ctx_.restore_state, " does not restore (", e.what(),
               "); fresh episodes instead");
    return std::nullopt;
  }
}

void Actor::save_state(std::int64_t version, const envs::EnvPool& pool, const PolicyStepper& stepper,
                       at::Generator& gen) const {
  StateFile s;
  s.set("version", version);
  s.set("envs", ctx_.options.num_envs);
  s.set("pool", pool.episodes());
  s.set("stepper", stepper.save());
  s.set("rng", nn::generator_state(gen));
  const std::filesystem::path dir = std::filesystem::path(ctx_.state_dir) / std::to_string(ctx_.actor_id);
  std::filesystem::create_directories(dir);
  // Complete or absent for the learner (rename), but not fsynced: this runs at every update, and
  // the checkpoint that takes the file in syncs it with the rest of the checkpoint.
  const std::filesystem::path file = dir / (std::to_string(version) + ".state"), tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const std::string bytes = s.serialize();
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw Error("actor " + std::to_string(ctx_.actor_id) + ": cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, file);
}

void Actor::run_unrolls() {
  const auto& o = ctx_.options;
  const int64_t N = o.num_envs, T = o.unroll_length;
  envs::EnvPoolOptions pool_options;
  pool_options.num_envs = N;
  pool_options.num_threads = o.env_threads;
  envs::EnvPool venv(pool_options, ctx_.env_factory);
  const Spec& obs_spec = venv.observation_spec();
  const ActionSpace& space = venv.action_space();
  policy_ = nn::make_policy(ctx_.model, obs_spec, space);
  policy_->eval();
  // A restarted actor gets streams of its own: the same id again would replay its first life.
  std::uint64_t seed = actor_seed(ctx_.seed, ctx_.resume_step);
  if (ctx_.incarnation > 0) seed = envs::splitmix64(seed + static_cast<std::uint64_t>(ctx_.incarnation));
  at::Generator gen = nn::make_generator(seed * 7919ULL + static_cast<std::uint64_t>(ctx_.actor_id) + 1);
  replay::Client replay(ctx_.replay_endpoint, ctx_.replay_client);
  replay.set_stop_flag(&stop_);

  // Exact resume: the envs' episodes, the policy's state and the sampling RNG as this actor left
  // them at the checkpoint's update; otherwise fresh episodes.
  if (!ctx_.state_dir.empty()) venv.record_episodes(true);
  std::optional<StateFile> saved = restored_state();
  const envs::StepBatch* step = nullptr;
  if (saved) {
    try {
      step = &venv.restore_episodes(saved->get_string("pool"));
    } catch (const std::exception& e) {
      MNEMO_WARN("actor ", ctx_.actor_id, ": ", ctx_.restore_state, " does not restore (", e.what(),
                 "); fresh episodes instead");
      saved.reset();
    }
  }
  if (!saved) step = &venv.reset(seed * 1000003ULL + static_cast<std::uint64_t>(ctx_.actor_id));
  std::vector<torch::Tensor> obs_now, final_obs;
  for (std::size_t f = 0; f < obs_spec.fields.size(); ++f) {
    obs_now.push_back(to_tensor(step->obs[f]));
    final_obs.push_back(to_tensor(step->final_obs[f]));
  }
  auto first_now = to_tensor(step->first);
  auto reward_now = to_tensor(step->reward);
  auto term_now = to_tensor(step->terminated);
  auto trunc_now = to_tensor(step->truncated);
  auto ep_ret_now = to_tensor(step->episode_return);
  auto ep_len_now = to_tensor(step->episode_length);
  PolicyStepper stepper(policy_, space, N);
  if (saved) {
    stepper.load(saved->get_string("stepper"));
    nn::set_generator_state(gen, saved->get_string("rng"));
    MNEMO_INFO("actor ", ctx_.actor_id, " resumes its ", N, " envs' episodes from ", ctx_.restore_state);
  }
  const auto& info_names = venv.info_names();
  // Only a policy that reads prev inputs stores them (other runs keep their sequence layout).
  const bool prev_inputs = stepper.reads_prev();
  const Spec item_spec =
      seq::sequence_spec(obs_spec, space, T, state_spec(*policy_), info_names, prev_inputs);
  auto infos_now = info_names.empty() ? torch::Tensor() : to_tensor(step->infos);

  while (true) {
    auto t0 = Clock::now();
    const bool go_on = sync_parameters();
    stats_.param_wait_s += seconds_since(t0);
    if (!go_on) break;
    const std::int64_t unroll_version = version_;

    // One buffer per sequence field, [N, T, ...]; env b's item views row b without copying.
    std::vector<Array> bufs;
    std::vector<torch::Tensor> views;
    for (const auto& f : item_spec.fields) {
      Shape s = f.shape;
      s.insert(s.begin(), N);
      bufs.push_back(Array::zeros(f.dtype, s));
      views.push_back(to_tensor(bufs.back()));
    }
    auto field = [&](const std::string& name) -> torch::Tensor& {
      for (std::size_t i = 0; i < item_spec.fields.size(); ++i)
        if (item_spec.fields[i].name == name) return views[i];
      throw Error("no sequence field " + name);
    };
    std::vector<torch::Tensor*> obs_views;
    for (const auto& f : obs_spec.fields) obs_views.push_back(&field(seq::kObsPrefix + f.name));
    auto& action_v = field("action");
    auto& reward_v = field("reward");
    auto& first_v = field("first");
    auto& term_v = field("terminated");
    auto& trunc_v = field("truncated");
    auto& logprob_v = field("logprob");
    auto& value_v = field("value");
    auto& final_value_v = field("final_value");
    auto& ep_ret_v = field("episode_return");
    auto& ep_len_v = field("episode_length");
    torch::Tensor* prev_action_v = prev_inputs ? &field("prev_action") : nullptr;
    torch::Tensor* prev_reward_v = prev_inputs ? &field("prev_reward") : nullptr;
    // The learner replays the sequence from the state the policy had at its first step.
    for (std::size_t i = 0; i < stepper.state().size(); ++i)
      field(seq::kStatePrefix + std::to_string(i)).copy_(stepper.state()[i]);

    for (std::int64_t t = 0; t < T; ++t) {
      torch::Tensor action;
      t0 = Clock::now();
      {
        torch::InferenceMode guard;
        nn::PolicyOutput out = stepper.forward(obs_now);
        nn::ActionDist dist(space, out.params, policy_->log_std());
        action = dist.sample(gen);
        logprob_v.select(1, t).copy_(dist.log_prob(action));
        value_v.select(1, t).copy_(out.value);
        stepper.commit(action, std::move(out.state));
      }
      stats_.inference_s += seconds_since(t0);
      for (std::size_t f = 0; f < obs_now.size(); ++f) obs_views[f]->select(1, t).copy_(obs_now[f]);
      first_v.select(1, t).copy_(first_now);
      action_v.select(1, t).copy_(action);
      if (prev_inputs) {
        prev_action_v->select(1, t).copy_(stepper.prev().action);
        prev_reward_v->select(1, t).copy_(stepper.prev().reward);
      }
      t0 = Clock::now();
      step = &venv.step(to_array(action));
      stats_.env_s += seconds_since(t0);
      reward_v.select(1, t).copy_(reward_now);
      term_v.select(1, t).copy_(term_now);
      trunc_v.select(1, t).copy_(trunc_now);
      for (std::size_t i = 0; i < info_names.size(); ++i)
        field(seq::kInfoPrefix + info_names[i]).select(1, t).copy_(infos_now.select(1, static_cast<int64_t>(i)));
      auto ended = term_now.logical_or(trunc_now);
      if (ended.any().item<bool>()) {
        ep_ret_v.select(1, t).copy_(ep_ret_now.where(ended, torch::zeros_like(ep_ret_now)));
        ep_len_v.select(1, t).copy_(ep_len_now.where(ended, torch::zeros_like(ep_len_now)));
        stats_.episodes += ended.sum().item<int64_t>();
        if (trunc_now.logical_and(term_now.logical_not()).any().item<bool>()) {
          t0 = Clock::now();
          torch::InferenceMode guard;
          auto fv = stepper.final_value(final_obs, reward_now);
          final_value_v.select(1, t).copy_(fv.where(trunc_now.to(torch::kBool), torch::zeros_like(fv)));
          stats_.inference_s += seconds_since(t0);
        }
      }
      // Prev inputs for the next step; recurrent state restarts in the rows whose episode began.
      stepper.observe(reward_now, first_now);
    }
    t0 = Clock::now();
    {
      torch::InferenceMode guard;
      field("bootstrap_value").copy_(stepper.forward(obs_now).value);
    }
    stats_.inference_s += seconds_since(t0);
    // What that value was computed from, for learners that bootstrap from their own value.
    for (std::size_t f = 0; f < obs_now.size(); ++f)
      field(seq::kBootstrapObsPrefix + obs_spec.fields[f].name).copy_(obs_now[f]);
    field("bootstrap_first").copy_(first_now);
    if (prev_inputs) {
      field("bootstrap_prev_action").copy_(stepper.prev().action);
      field("bootstrap_prev_reward").copy_(stepper.prev().reward);
    }
    field("version").fill_(version_);
    field("plan").fill_(plan_);
    stats_.env_steps += N * T;
    ++stats_.unrolls;

    // One item per env (views of its rows), sent in one request per replay shard.
    std::vector<replay::Item> items(static_cast<std::size_t>(N));
    for (int64_t b = 0; b < N; ++b) {
      replay::Item& item = items[static_cast<std::size_t>(b)];
      item.reserve(bufs.size());
      for (std::size_t i = 0; i < bufs.size(); ++i) {
        const Array& buf = bufs[i];
        Shape s(buf.shape().begin() + 1, buf.shape().end());
        std::size_t row = buf.nbytes() / static_cast<std::size_t>(N);
        item.emplace_back(item_spec.fields[i].name,
                          Array::wrap(buf.dtype(), s, static_cast<char*>(buf.raw()) + b * row, buf.owner()));
      }
    }
    t0 = Clock::now();
    try {
      replay.insert_many(items);
    } catch (const Error& e) {
      stats_.insert_s += seconds_since(t0);
      if (stop_.load()) return;
      throw;
    }
    stats_.insert_s += seconds_since(t0);
    ++unrolls_at_[unroll_version];
    if (epoch_ >= 0) unrolls_at_.erase(unrolls_at_.begin(), unrolls_at_.lower_bound(epoch_));
    // The state the next update's unrolls start from, for the learner's checkpoint of that update.
    if (!ctx_.state_dir.empty()) {
      const std::int64_t next = required_version();
      if (next > unroll_version) save_state(next, venv, stepper, gen);
    }
  }
}

}  // namespace mnemo::actors
