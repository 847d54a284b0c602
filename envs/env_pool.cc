// EnvPool internals.
//
// Waiting is spin-then-block: a thread first polls its condition for a short while (steps of
// vector envs take tens of nanoseconds, so the next job usually arrives within microseconds and
// a futex round trip would dominate), then sleeps on a condition variable. The waker publishes
// its change and then checks whether anyone sleeps; the sleeper announces itself and then
// re-checks the condition; both with sequentially consistent atomics, so at least one of them
// sees the other and no wake-up is lost, while the common case takes no lock at all.
#include "envs/env_pool.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/runlog/checkpoint.h"

namespace mnemo::envs {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls before sleeping; about 20-100 microseconds of pause instructions.
constexpr int kSpin = 2000;

}  // namespace

void EnvPoolOptions::validate() const {
  if (num_envs < 1) throw ConfigError("num_envs must be >= 1 for an env pool, got " + std::to_string(num_envs));
  if (batch_size < 0 || batch_size > num_envs)
    throw ConfigError("batch_size must be in [0, num_envs = " + std::to_string(num_envs) + "], got " +
                      std::to_string(batch_size));
  if (num_threads < 1 || num_threads > 1024)
    throw ConfigError("num_threads must be in [1, 1024] for an env pool, got " + std::to_string(num_threads));
}

EnvPool::EnvPool(const EnvPoolOptions& options, const EnvFactory& factory) {
  options.validate();
  const auto n = static_cast<std::size_t>(options.num_envs);
  envs_ = detail::make_envs(n, factory);
  info_names_ = envs_.front()->info_names();
  num_infos_ = info_names_.size();
  obs_row_bytes_ = detail::obs_row_bytes(observation_spec());
  action_bytes_ = detail::action_bytes(action_space());
  batch_size_ = options.batch_size == 0 ? n : static_cast<std::size_t>(options.batch_size);
  async_ = batch_size_ < n;
  {
    std::vector<Env*> raw;
    for (auto& e : envs_) raw.push_back(e.get());
    batcher_ = envs_.front()->make_batcher(raw);
  }
  if (batcher_ != nullptr && async_)
    throw ConfigError("these envs step in batches (one request per batch) and need a synchronous pool: batch_size 0 "
                      "or num_envs, got " + std::to_string(batch_size_) + " of " + std::to_string(n));
  batch_seeds_.assign(batcher_ != nullptr ? n : 0, 0);
  batch_results_.assign(batcher_ != nullptr ? n : 0, StepResult{});
  // More synchronous threads than envs would leave some with nothing to do; a batcher steps every
  // env from the calling thread (its envs run elsewhere).
  num_threads_ = async_ ? static_cast<std::size_t>(options.num_threads)
                        : batcher_ != nullptr ? 1 : std::min(n, static_cast<std::size_t>(options.num_threads));

  slots_.resize(n);
  for (auto& s : slots_) s = ObsSlot(std::vector<void*>(obs_row_bytes_.size(), nullptr));
  seeds_.assign(n, SeedStream());
  running_return_.assign(n, 0.0);
  running_length_.assign(n, 0);
  in_flight_.assign(n, 0);

  const std::size_t num_blocks = async_ ? (n + batch_size_ - 1) / batch_size_ + 1 : 1;
  for (std::size_t k = 0; k < num_blocks; ++k) {
    blocks_.push_back(std::make_unique<Block>());
    blocks_.back()->batch = detail::make_step_batch(batch_size_, *envs_.front());
  }

  if (async_) {
    action_buf_.assign(n * action_bytes_, 0);
    std::size_t cap = 1;
    while (cap < n) cap <<= 1;
    tasks_ = std::make_unique<std::atomic<std::uint64_t>[]>(cap);
    task_mask_ = cap - 1;
    for (std::size_t t = 0; t < num_threads_; ++t) threads_.emplace_back([this] { worker(); });
  } else {
    // Env i writes into row i for good: the slots never move.
    StepBatch& b = blocks_[0]->batch;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t f = 0; f < obs_row_bytes_.size(); ++f)
        slots_[i].set(f, static_cast<char*>(b.obs[f].raw()) + i * obs_row_bytes_[f]);
    // About eight chunks per thread: few enough claims to be cheap, enough to rebalance.
    chunk_ = std::max<std::size_t>(1, n / (8 * num_threads_));
    num_chunks_ = (n + chunk_ - 1) / chunk_;
    claims_ = std::make_unique<ClaimWord[]>(num_threads_);
    for (std::size_t t = 1; t < num_threads_; ++t) threads_.emplace_back([this, t] { sync_helper(t); });
  }
}

EnvPool::~EnvPool() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// ---------------------------------------------------------------------------------------------
// Shared per-env work.

void EnvPool::run_env(std::size_t i, bool reset, const char* action, StepBatch& b, std::size_t row) {
  ObsSlot& slot = slots_[i];
  if (async_) {
    for (std::size_t f = 0; f < obs_row_bytes_.size(); ++f)
      slot.set(f, static_cast<char*>(b.obs[f].raw()) + row * obs_row_bytes_[f]);
    b.env_id.data<std::int64_t>()[row] = static_cast<std::int64_t>(i);
  }
  float* infos = num_infos_ > 0 ? b.infos.data<float>() + row * num_infos_ : nullptr;
  Env& env = *envs_[i];
  if (reset) {
    const std::uint64_t seed = seeds_[i].next();
    env.reset(seed, slot);
    if (infos != nullptr) env.infos(infos);
    after_reset(i, seed, b, row);
    return;
  }
  const StepResult r = env.step(action, slot);
  // Infos describe the transition, so they are read before an auto-reset overwrites the state.
  if (infos != nullptr) env.infos(infos);
  std::uint64_t seed = 0;
  if (r.terminated || r.truncated) {
    for (std::size_t f = 0; f < obs_row_bytes_.size(); ++f) {
      const std::size_t bytes = obs_row_bytes_[f];
      std::memcpy(static_cast<char*>(b.final_obs[f].raw()) + row * bytes, slot[f], bytes);
    }
    seed = seeds_[i].next();
    env.reset(seed, slot);
  }
  after_step(i, r, action, seed, b, row);
}

void EnvPool::after_reset(std::size_t i, std::uint64_t seed, StepBatch& b, std::size_t row) {
  if (record_) {
    episode_seed_[i] = seed;
    episode_actions_[i].clear();
  }
  b.reward.data<float>()[row] = 0.0f;
  b.terminated.data<std::uint8_t>()[row] = 0;
  b.truncated.data<std::uint8_t>()[row] = 0;
  b.first.data<std::uint8_t>()[row] = 1;
  running_return_[i] = 0.0;
  running_length_[i] = 0;
}

void EnvPool::after_step(std::size_t i, const StepResult& r, const char* action, std::uint64_t seed, StepBatch& b,
                         std::size_t row) {
  b.reward.data<float>()[row] = r.reward;
  b.terminated.data<std::uint8_t>()[row] = r.terminated ? 1 : 0;
  b.truncated.data<std::uint8_t>()[row] = r.truncated ? 1 : 0;
  running_return_[i] += r.reward;
  running_length_[i] += 1;
  if (r.terminated || r.truncated) {
    b.episode_return.data<float>()[row] = static_cast<float>(running_return_[i]);
    b.episode_length.data<std::int64_t>()[row] = running_length_[i];
    running_return_[i] = 0.0;
    running_length_[i] = 0;
    if (record_) {
      episode_seed_[i] = seed;
      episode_actions_[i].clear();
    }
    b.first.data<std::uint8_t>()[row] = 1;
  } else {
    if (record_) episode_actions_[i].append(action, action_bytes_);
    b.first.data<std::uint8_t>()[row] = 0;
  }
}

void EnvPool::batched_run(bool reset, const char* actions) {
  StepBatch& b = blocks_[0]->batch;
  // A reset starts each env with the next seed of its stream; a step hands the batcher the seed an
  // env's next episode would start with, and the stream moves on only where the episode ended, so
  // that the seeds are those of the pool's own auto-reset.
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    SeedStream peek = seeds_[i];
    batch_seeds_[i] = peek.next();
  }
  try {
    batcher_->run(actions, batch_seeds_.data(), b, batch_results_.data());
  } catch (...) {
    record_error();
    rethrow_if_failed();
  }
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    const StepResult& r = batch_results_[i];
    if (reset || r.terminated || r.truncated) seeds_[i].next();
    if (reset)
      after_reset(i, batch_seeds_[i], b, i);
    else
      after_step(i, r, actions + i * action_bytes_, batch_seeds_[i], b, i);
  }
}

void EnvPool::record_error() {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_ == nullptr) error_ = std::current_exception();
  failed_.store(true);
}

void EnvPool::rethrow_if_failed() const {
  if (failed_.load()) {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = error_;
    }
    std::rethrow_exception(e);
  }
}

void EnvPool::check_actions(const Array& actions, std::size_t rows) const {
  const FieldSpec field = action_space().field();
  const Shape expected = detail::batched(rows, field.shape);
  if (actions.dtype() != field.dtype || actions.shape() != expected) {
    std::ostringstream os;
    os << "actions must be " << dtype_name(field.dtype) << shape_str(expected) << " for a batch of " << rows
       << " envs with action space " << action_space().str() << ", got " << dtype_name(actions.dtype())
       << shape_str(actions.shape());
    throw Error(os.str());
  }
  const char* base = static_cast<const char*>(actions.raw());
  for (std::size_t r = 0; r < rows; ++r) {
    try {
      validate_action(base + r * action_bytes_, action_space());
    } catch (const Error& e) {
      throw Error("batch row " + std::to_string(r) + ": " + e.what());
    }
  }
}

template <class Pred>
bool EnvPool::wait_caller(Pred ready, const std::chrono::steady_clock::time_point* deadline) {
  for (int i = 0; i < kSpin; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  std::unique_lock<std::mutex> lock(mu_);
  caller_waiting_.store(true);
  bool ok;
  if (deadline == nullptr) {
    caller_cv_.wait(lock, ready);
    ok = true;
  } else {
    ok = caller_cv_.wait_until(lock, *deadline, ready);
  }
  caller_waiting_.store(false);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Public API.

const StepBatch& EnvPool::reset(std::uint64_t base_seed) {
  rethrow_if_failed();
  if (!async_) {
    for (std::size_t i = 0; i < envs_.size(); ++i) seeds_[i] = SeedStream(base_seed, i);
    sync_run(/*reset=*/true, nullptr);
    started_ = true;
    sync_sent_ = false;
    last_batch_ = &blocks_[0]->batch;
    return *last_batch_;
  }
  async_reset(base_seed);
  return recv();
}

const StepBatch& EnvPool::step(const Array& actions) {
  if (last_batch_ == nullptr) throw Error("env pool: step called before reset");
  if (!async_) {
    rethrow_if_failed();
    check_actions(actions, envs_.size());
    sync_run(/*reset=*/false, static_cast<const char*>(actions.raw()));
    return *last_batch_;
  }
  send(actions, last_batch_->env_id);
  return recv();
}

void EnvPool::send(const Array& actions, const Array& env_ids) {
  rethrow_if_failed();
  if (!started_) throw Error("env pool: send called before reset");
  if (env_ids.dtype() != DType::kInt64 || env_ids.shape().size() != 1)
    throw Error("env pool: env_ids must be int64[k], got " + std::string(dtype_name(env_ids.dtype())) +
                shape_str(env_ids.shape()));
  const auto k = static_cast<std::size_t>(env_ids.numel());
  check_actions(actions, k);
  const std::int64_t* ids = env_ids.data<std::int64_t>();
  if (!async_) {
    bool in_order = k == envs_.size();
    for (std::size_t r = 0; in_order && r < k; ++r) in_order = ids[r] == static_cast<std::int64_t>(r);
    if (!in_order) throw Error("env pool: a synchronous pool steps every env, so env_ids must be 0..N-1 in order");
    if (sync_sent_) throw Error("env pool: send called twice without recv");
    sync_run(/*reset=*/false, static_cast<const char*>(actions.raw()));
    sync_sent_ = true;
    return;
  }
  // Validate every id before touching anything; 2 marks ids seen in this call to find duplicates
  // and is rolled back if a later row is bad.
  std::size_t r = 0;
  try {
    for (; r < k; ++r) {
      const std::int64_t id = ids[r];
      if (id < 0 || id >= static_cast<std::int64_t>(envs_.size()))
        throw Error("env pool: env id " + std::to_string(id) + " in row " + std::to_string(r) +
                    " is out of range [0, " + std::to_string(envs_.size()) + ")");
      if (in_flight_[static_cast<std::size_t>(id)] != 0)
        throw Error("env pool: env " + std::to_string(id) + " (row " + std::to_string(r) +
                    ") is still stepping or appears twice; send only envs returned by recv, once");
      in_flight_[static_cast<std::size_t>(id)] = 2;
    }
  } catch (const Error&) {
    for (std::size_t j = 0; j < r; ++j) in_flight_[static_cast<std::size_t>(ids[j])] = 0;
    throw;
  }
  const char* src = static_cast<const char*>(actions.raw());
  std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  for (r = 0; r < k; ++r) {
    const auto id = static_cast<std::size_t>(ids[r]);
    in_flight_[id] = 1;
    std::memcpy(action_buf_.data() + id * action_bytes_, src + r * action_bytes_, action_bytes_);
    tasks_[tail & task_mask_].store(static_cast<std::uint64_t>(id) << 1, std::memory_order_relaxed);
    ++tail;
  }
  sent_since_reset_ += k;
  publish(tail);
}

void EnvPool::async_reset(std::uint64_t base_seed) {
  rethrow_if_failed();
  if (!async_) {
    reset(base_seed);
    sync_sent_ = true;  // the reset batch is what the next recv returns
    return;
  }
  drain();
  rethrow_if_failed();
  for (auto& b : blocks_) b->filled.store(0, std::memory_order_relaxed);
  row_base_ = next_row_.load(std::memory_order_relaxed);
  blocks_returned_ = 0;
  sent_since_reset_ = 0;
  last_batch_ = nullptr;
  std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    seeds_[i] = SeedStream(base_seed, i);
    in_flight_[i] = 1;
    tasks_[tail & task_mask_].store((static_cast<std::uint64_t>(i) << 1) | 1, std::memory_order_relaxed);
    ++tail;
  }
  sent_since_reset_ = envs_.size();
  started_ = true;
  publish(tail);
}

const StepBatch& EnvPool::recv() {
  const StepBatch* b = wait_block(nullptr);
  return *b;
}

const StepBatch* EnvPool::recv_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  return wait_block(&deadline);
}

const StepBatch* EnvPool::wait_block(const std::chrono::steady_clock::time_point* deadline) {
  rethrow_if_failed();
  if (!started_) throw Error("env pool: recv called before reset");
  if (!async_) {
    if (!sync_sent_) throw Error("env pool: recv called without a send (synchronous pool)");
    sync_sent_ = false;
    return last_batch_;
  }
  const std::uint64_t k = blocks_returned_;
  if (sent_since_reset_ < (k + 1) * batch_size_) {
    throw Error("env pool: recv would wait forever: " + std::to_string(sent_since_reset_ - k * batch_size_) +
                " envs are stepping but a batch needs " + std::to_string(batch_size_) +
                "; send the envs of the last batch first");
  }
  Block& block = *blocks_[k % blocks_.size()];
  auto ready = [&] { return block.filled.load(std::memory_order_acquire) >= batch_size_ || failed_.load(); };
  if (!wait_caller(ready, deadline)) return nullptr;
  rethrow_if_failed();
  // The previous block is no longer the caller's; workers may fill it again from now on (they
  // cannot before the caller's next send, see the block count in the constructor).
  if (k > 0) blocks_[(k - 1) % blocks_.size()]->filled.store(0, std::memory_order_relaxed);
  ++blocks_returned_;
  const std::int64_t* ids = block.batch.env_id.data<std::int64_t>();
  for (std::size_t r = 0; r < batch_size_; ++r) in_flight_[static_cast<std::size_t>(ids[r])] = 0;
  last_batch_ = &block.batch;
  return last_batch_;
}

Env& EnvPool::env(std::size_t i) {
  if (async_) drain();
  return *envs_.at(i);
}

void EnvPool::record_episodes(bool on) {
  MNEMO_CHECK(!async_, "env pool: recording episodes needs the synchronous mode");
  record_ = on;
  episode_seed_.assign(envs_.size(), 0);
  episode_actions_.assign(envs_.size(), std::string());
}

namespace {

std::string u64_bytes(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), sizeof v); }

std::uint64_t u64_of(const std::string& b, const std::string& key) {
  MNEMO_CHECK(b.size() == sizeof(std::uint64_t), "env pool state: '", key, "' is not 8 bytes");
  std::uint64_t v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

}  // namespace

std::string EnvPool::episodes() const {
  MNEMO_CHECK(record_ && started_, "env pool: episodes() needs recording on and a reset");
  StateFile s;
  s.set("envs", static_cast<std::int64_t>(envs_.size()));
  s.set("action_bytes", static_cast<std::int64_t>(action_bytes_));
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    const std::string k = std::to_string(i) + "/";
    s.set(k + "stream", u64_bytes(seeds_[i].state()));
    s.set(k + "seed", u64_bytes(episode_seed_[i]));
    s.set(k + "actions", episode_actions_[i]);
  }
  return s.serialize();
}

const StepBatch& EnvPool::restore_episodes(const std::string& bytes) {
  MNEMO_CHECK(!async_, "env pool: restoring episodes needs the synchronous mode");
  const StateFile s = StateFile::parse(bytes);
  const auto n = static_cast<std::int64_t>(envs_.size());
  if (s.get_int("envs") != n || s.get_int("action_bytes") != static_cast<std::int64_t>(action_bytes_))
    throw Error("env pool state: saved for " + std::to_string(s.get_int("envs")) + " envs with " +
                std::to_string(s.get_int("action_bytes")) + "-byte actions, this pool has " + std::to_string(n) +
                " with " + std::to_string(action_bytes_));
  record_episodes(true);
  StepBatch& b = blocks_[0]->batch;
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    const std::string k = std::to_string(i) + "/";
    seeds_[i] = SeedStream::at(u64_of(s.get_string(k + "stream"), k + "stream"));
    episode_seed_[i] = u64_of(s.get_string(k + "seed"), k + "seed");
    episode_actions_[i] = s.get_string(k + "actions");
    const std::string& actions = episode_actions_[i];
    if (actions.size() % std::max<std::size_t>(action_bytes_, 1) != 0)
      throw Error("env pool state: env " + std::to_string(i) + "'s actions are not whole actions");
    Env& env = *envs_[i];
    env.reset(episode_seed_[i], slots_[i]);
    running_return_[i] = 0.0;
    running_length_[i] = 0;
    const std::size_t steps = action_bytes_ == 0 ? 0 : actions.size() / action_bytes_;
    for (std::size_t t = 0; t < steps; ++t) {
      const StepResult r = env.step(actions.data() + t * action_bytes_, slots_[i]);
      running_return_[i] += r.reward;
      running_length_[i] += 1;
      if (r.terminated || r.truncated)
        throw Error("env pool state: env " + std::to_string(i) + "'s episode ended after " + std::to_string(t + 1) +
                    " of its " + std::to_string(steps) + " saved steps: the env does not replay the same way");
    }
    if (num_infos_ > 0) env.infos(b.infos.data<float>() + i * num_infos_);
    b.reward.data<float>()[i] = 0.0f;
    b.terminated.data<std::uint8_t>()[i] = 0;
    b.truncated.data<std::uint8_t>()[i] = 0;
    b.first.data<std::uint8_t>()[i] = steps == 0 ? 1 : 0;
  }
  started_ = true;
  sync_sent_ = false;
  last_batch_ = &b;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Synchronous mode.

std::size_t EnvPool::sync_chunk(std::size_t c, bool reset, const char* actions) {
  StepBatch& b = blocks_[0]->batch;
  const std::size_t begin = c * chunk_, end = std::min(envs_.size(), begin + chunk_);
  try {
    for (std::size_t i = begin; i < end; ++i) run_env(i, reset, reset ? nullptr : actions + i * action_bytes_, b, i);
  } catch (...) {
    record_error();
  }
  return end - begin;
}

void EnvPool::sync_run(bool reset, const char* actions) {
  if (batcher_ != nullptr) return batched_run(reset, actions);
  const std::size_t n = envs_.size();
  job_actions_.store(actions, std::memory_order_relaxed);
  job_reset_.store(reset, std::memory_order_relaxed);
  job_done_.store(0, std::memory_order_relaxed);
  ++job_gen_;
  const std::uint64_t gen = static_cast<std::uint64_t>(job_gen_) << 32;
  for (std::size_t t = 0; t < num_threads_; ++t) claims_[t].word.store(gen | range_begin(t), std::memory_order_relaxed);
  job_word_.store(gen);  // publishes the parameters and claim words above
  if (num_threads_ > 1 && idle_threads_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    work_cv_.notify_all();
  }
  const std::size_t mine = run_claims(0, job_gen_, reset, actions);
  if (job_done_.fetch_add(mine) + mine != n) wait_caller([&] { return job_done_.load() == n; }, nullptr);
  rethrow_if_failed();
}

std::size_t EnvPool::run_claims(std::size_t self, std::uint32_t gen, bool reset, const char* actions) {
  std::size_t done = 0;
  for (std::size_t j = 0; j < num_threads_; ++j) {
    const std::size_t t = (self + j) % num_threads_;  // own range first, then the others'
    const std::size_t end = range_begin(t + 1);
    std::uint64_t w = claims_[t].word.load();
    for (;;) {
      if (static_cast<std::uint32_t>(w >> 32) != gen) return done;  // a newer job: this one is over
      const auto c = static_cast<std::size_t>(w & 0xFFFFFFFFu);
      if (c >= end) break;
      if (!claims_[t].word.compare_exchange_weak(w, w + 1)) continue;  // w reloaded
      done += sync_chunk(c, reset, actions);
      w = claims_[t].word.load();
    }
  }
  return done;
}

void EnvPool::sync_helper(std::size_t self) {
  const std::size_t n = envs_.size();
  std::uint32_t seen = 0;  // the last generation this thread worked on
  for (;;) {
    const std::uint64_t w = job_word_.load();
    const auto gen = static_cast<std::uint32_t>(w >> 32);
    if (gen == seen) {
      seen = gen;
      auto has_job = [&] { return stop_.load() || static_cast<std::uint32_t>(job_word_.load() >> 32) != seen; };
      bool ready = false;
      for (int i = 0; i < kSpin && !ready; ++i) {
        ready = has_job();
        if (!ready) cpu_relax();
      }
      if (!ready) {
        std::unique_lock<std::mutex> lock(mu_);
        idle_threads_.fetch_add(1);
        work_cv_.wait(lock, has_job);
        idle_threads_.fetch_sub(1);
      }
      if (stop_.load()) return;
      continue;
    }
    // Read the job before claiming: a successful claim proves the job was still this one (a job
    // ends only when every range is claimed to its end).
    const bool reset = job_reset_.load(std::memory_order_relaxed);
    const char* actions = job_actions_.load(std::memory_order_relaxed);
    const std::size_t done = run_claims(self, gen, reset, actions);
    seen = gen;
    if (done > 0 && job_done_.fetch_add(done) + done == n && caller_waiting_.load()) {
      { std::lock_guard<std::mutex> lock(mu_); }
      caller_cv_.notify_all();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Asynchronous mode.

void EnvPool::publish(std::uint64_t new_tail) {
  tail_.store(new_tail);  // releases the task entries, actions and bookkeeping written before
  if (idle_threads_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    work_cv_.notify_all();
  }
}

void EnvPool::drain() {
  const std::uint64_t target = tail_.load();
  wait_caller([&] { return done_tasks_.load() >= target; }, nullptr);
}

void EnvPool::process(std::uint64_t task, std::uint64_t row) {
  const auto i = static_cast<std::size_t>(task >> 1);
  const bool reset = (task & 1) != 0;
  const std::uint64_t rel = row - row_base_;
  Block& block = *blocks_[(rel / batch_size_) % blocks_.size()];
  try {
    run_env(i, reset, action_buf_.data() + i * action_bytes_, block.batch, static_cast<std::size_t>(rel % batch_size_));
  } catch (...) {
    record_error();
  }
  const bool block_done = block.filled.fetch_add(1) + 1 == batch_size_;
  const std::uint64_t done = done_tasks_.fetch_add(1) + 1;
  if ((block_done || done == tail_.load() || failed_.load()) && caller_waiting_.load()) {
    { std::lock_guard<std::mutex> lock(mu_); }
    caller_cv_.notify_all();
  }
}

void EnvPool::worker() {
  constexpr std::uint64_t kMaxGrab = 16;
  std::uint64_t grabbed[kMaxGrab];
  const std::uint64_t threads = num_threads_;
  for (;;) {
    std::uint64_t h = head_.load();
    std::uint64_t t = tail_.load();
    if (h >= t) {
      // Nothing to do: spin, then sleep until the caller publishes tasks or the pool stops.
      bool work = false;
      for (int i = 0; i < kSpin && !work; ++i) {
        if (stop_.load()) return;
        if (head_.load() < tail_.load()) work = true;
        else cpu_relax();
      }
      if (!work) {
        std::unique_lock<std::mutex> lock(mu_);
        idle_threads_.fetch_add(1);
        work_cv_.wait(lock, [&] { return stop_.load() || head_.load() < tail_.load(); });
        idle_threads_.fetch_sub(1);
      }
      if (stop_.load()) return;
      continue;
    }
    // Share what is queued among the workers, a few tasks per grab to keep the queue cheap.
    const std::uint64_t k = std::clamp<std::uint64_t>((t - h) / threads, 1, kMaxGrab);
    for (std::uint64_t j = 0; j < k; ++j) grabbed[j] = tasks_[(h + j) & task_mask_].load(std::memory_order_relaxed);
    if (!head_.compare_exchange_weak(h, h + k)) continue;
    const std::uint64_t row0 = next_row_.fetch_add(k);
    for (std::uint64_t j = 0; j < k; ++j) process(grabbed[j], row0 + j);
  }
}

}  // namespace mnemo::envs
