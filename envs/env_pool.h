// EnvPool: N envs stepped by a thread pool into preallocated contiguous batch buffers, in the
// style of envpool (Weng et al. 2022), with a synchronous and an asynchronous mode.
//
// Synchronous (batch_size == num_envs): every step steps all N envs, shared in small chunks among
// num_threads threads (the calling thread is one of them), and the batch holds env i in row i. Results equal VectorEnv's for the same base seed, whatever the
// thread count.
//
// Asynchronous (batch_size B < num_envs): envs are stepped by num_threads worker threads while
// the caller does something else (batched inference); recv() returns as soon as any B envs are
// ready, in the order they finished, and env_id says which env each row holds. The caller sends
// each returned env its next action with send(); envs not yet returned keep stepping. Each env's
// trajectory is still deterministic (its own seed stream, its own actions); only which envs
// share a batch depends on timing.
//
// Workers write observations straight into the row of the batch they will be returned in (the
// row is claimed when stepping starts), so no step allocates or copies observations, except
// final_obs on the step that ends an episode. Auto-reset, final_obs, first, episode statistics
// and infos follow StepBatch's documented semantics.
//
// Envs that offer a batcher (Env::make_batcher: the Gymnasium bridge's, whose envs live in other
// processes) are reset and stepped through it in one call per batch, from the calling thread; such
// a pool must be synchronous.
//
// Thread-safety: one thread (the actor's) calls every method; the workers are internal.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/array.h"
#include "envs/env.h"
#include "envs/step_batch.h"

namespace mnemo::envs {

// Options of an EnvPool; bind it from an actor's config section.
struct EnvPoolOptions {
  std::int64_t num_envs = 8;
  std::int64_t batch_size = 0;
  std::int64_t num_threads = 1;

  template <class V>
  void visit(V& v) {
    v("num_envs", num_envs, "envs in the pool");
    v("batch_size", batch_size, "envs per returned batch; 0 or num_envs = synchronous, fewer = asynchronous");
    v("num_threads", num_threads, "threads stepping envs (synchronous mode counts the calling thread)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

class EnvPool {
 public:
  // Makes options.num_envs envs with `factory` (all with the same specs) and starts the threads.
  EnvPool(const EnvPoolOptions& options, const EnvFactory& factory);
  // Stops and joins the threads; envs still stepping finish their step first.
  ~EnvPool();
  EnvPool(const EnvPool&) = delete;
  EnvPool& operator=(const EnvPool&) = delete;

  std::size_t num_envs() const { return envs_.size(); }
  std::size_t batch_size() const { return batch_size_; }
  std::size_t num_threads() const { return num_threads_; }
  bool is_async() const { return async_; }
  const Spec& observation_spec() const { return envs_.front()->observation_spec(); }
  const ActionSpace& action_space() const { return envs_.front()->action_space(); }
  const std::vector<std::string>& info_names() const { return info_names_; }

  // Resets every env with seeds from SeedStream(base_seed, i) and returns the first batch: all N
  // envs in synchronous mode, the first B to finish resetting in asynchronous mode. Envs still
  // stepping from before are waited for and their results dropped.
  const StepBatch& reset(std::uint64_t base_seed);
  // Steps the envs of the last returned batch, row b with actions row b, and returns the next
  // batch. Actions: [B] int64 for discrete spaces, [B, dim] float32 for a box, [B, k] int64 for
  // multi-discrete. A wrong dtype or shape, or any invalid action, throws mnemo::Error before any
  // env moves.
  const StepBatch& step(const Array& actions);

  // envpool's primitives. async_reset starts resetting every env and returns at once.
  void async_reset(std::uint64_t base_seed);
  // Starts stepping the envs `env_ids` (int64 [k]) with `actions` ([k, ...]): each must have been
  // returned by recv() and not sent since. Everything is checked before any env moves (throws
  // mnemo::Error). In synchronous mode env_ids must be 0..N-1 and the step runs here.
  void send(const Array& actions, const Array& env_ids);
  // Waits for the next batch of batch_size() envs. The batch stays valid until the next recv,
  // step or reset. Rethrows an exception an env threw while stepping (the pool is unusable
  // after that). Throws mnemo::Error when fewer envs are in flight than a batch needs, instead
  // of waiting forever.
  const StepBatch& recv();
  // recv with a deadline: nullptr when no batch was ready in time (for callers that must stay
  // responsive, and tests that must not hang).
  const StepBatch* recv_for(std::chrono::milliseconds timeout);

  // The env behind env id i, for tools and tests; waits until no env is stepping.
  Env& env(std::size_t i);

  // Exact resume (synchronous mode). With recording on (from before reset), the pool remembers
  // each env's current episode: the seed it was reset with and the actions since. episodes() then
  // describes the whole pool, and restore_episodes() rebuilds it in a pool of the same envs by
  // resetting each env with its seed and replaying its actions, which gives back the same states
  // because an env is a function of its seed and actions (env.h). It returns the batch the saved
  // pool last returned as far as the next step needs it: obs, first and infos (rewards, flags and
  // final_obs are zero). Throws mnemo::Error for bytes that do not describe a pool of these envs
  // and for an env that replays differently (its episode ends early).
  void record_episodes(bool on);
  std::string episodes() const;
  const StepBatch& restore_episodes(const std::string& bytes);

 private:
  struct Block {
    StepBatch batch;
    alignas(64) std::atomic<std::size_t> filled{0};
  };

  void check_actions(const Array& actions, std::size_t rows) const;
  // Resets or steps env i, writing its results into `row` of `b`.
  void run_env(std::size_t i, bool reset, const char* action, StepBatch& b, std::size_t row);
  // The pool's bookkeeping after env i was reset with `seed`, or stepped with `action` (and, when
  // r ended the episode, its final observation copied and the env reset with `seed`).
  void after_reset(std::size_t i, std::uint64_t seed, StepBatch& b, std::size_t row);
  void after_step(std::size_t i, const StepResult& r, const char* action, std::uint64_t seed, StepBatch& b,
                  std::size_t row);
  // Synchronous mode with a batcher: every env in one call.
  void batched_run(bool reset, const char* actions);
  void record_error();
  void rethrow_if_failed() const;

  // Synchronous mode.
  void sync_run(bool reset, const char* actions);
  // Runs chunk c of the current job; returns the number of envs it stepped.
  std::size_t sync_chunk(std::size_t c, bool reset, const char* actions);
  void sync_helper(std::size_t self);

  // Asynchronous mode.
  void worker();
  void process(std::uint64_t task, std::uint64_t row);
  void publish(std::uint64_t new_tail);
  void drain();
  const StepBatch* wait_block(const std::chrono::steady_clock::time_point* deadline);
  template <class Pred>
  bool wait_caller(Pred ready, const std::chrono::steady_clock::time_point* deadline);

  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<std::string> info_names_;
  std::size_t num_infos_ = 0;
  std::vector<std::size_t> obs_row_bytes_;
  std::size_t action_bytes_ = 0;
  std::size_t batch_size_ = 0;
  std::size_t num_threads_ = 1;
  bool async_ = false;
  bool started_ = false;

  // Per env.
  std::vector<ObsSlot> slots_;
  std::vector<SeedStream> seeds_;
  std::vector<double> running_return_;
  std::vector<std::int64_t> running_length_;
  bool record_ = false;
  std::vector<std::uint64_t> episode_seed_;   // recording: the seed of each env's current episode
  std::vector<std::string> episode_actions_;  // recording: its actions since, action_bytes_ each
  std::vector<std::uint8_t> in_flight_;  // caller-side bookkeeping (async)
  std::vector<char> action_buf_;         // async: each env's pending action

  // Envs stepped in batches (Env::make_batcher); synchronous mode only.
  std::unique_ptr<EnvBatcher> batcher_;
  std::vector<std::uint64_t> batch_seeds_;
  std::vector<StepResult> batch_results_;

  // Output blocks: one in synchronous mode; ceil(N/B) + 1 in asynchronous mode, enough that
  // workers never write into the block the caller is reading.
  std::vector<std::unique_ptr<Block>> blocks_;

  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;    // wakes idle threads
  std::condition_variable caller_cv_;  // wakes the caller
  alignas(64) std::atomic<bool> stop_{false};
  alignas(64) std::atomic<int> idle_threads_{0};
  alignas(64) std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;  // guarded by mu_

  // Synchronous job. The envs are cut into chunks, and each thread (the caller is thread 0) owns
  // a contiguous range of them, claimed from its own word holding (generation << 32 | next
  // chunk). A thread works through its own range first, so each env's state stays in the cache of
  // the core that stepped it last time (with one shared counter the chunks changed cores every
  // step and their memory crossed between caches), then steals the rest of the others' ranges: a
  // thread that is descheduled (the machine is shared) only delays the chunk it holds. The row of
  // env i is still row i, so results do not depend on who ran what. Claiming by compare-and-swap
  // on a word that carries the generation means a late thread cannot claim a chunk of a newer job
  // with the parameters of an older one. job_word_ announces the generation to the helpers.
  struct alignas(64) ClaimWord {
    std::atomic<std::uint64_t> word{0};
  };
  std::unique_ptr<ClaimWord[]> claims_;   // one per thread
  std::size_t range_begin(std::size_t thread) const { return thread * num_chunks_ / num_threads_; }
  std::size_t run_claims(std::size_t self, std::uint32_t gen, bool reset, const char* actions);
  alignas(64) std::atomic<std::uint64_t> job_word_{0};
  alignas(64) std::atomic<std::size_t> job_done_{0};  // envs finished in the current job
  std::atomic<const char*> job_actions_{nullptr};
  std::atomic<bool> job_reset_{false};
  std::uint32_t job_gen_ = 0;  // caller side
  std::size_t chunk_ = 1;
  std::size_t num_chunks_ = 1;
  bool sync_sent_ = false;                // a send() waiting for its recv()

  // Asynchronous task queue: task = env << 1 | is_reset, a ring indexed by ever-growing counters.
  std::unique_ptr<std::atomic<std::uint64_t>[]> tasks_;
  std::uint64_t task_mask_ = 0;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // next task to take (workers)
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // tasks published (caller)
  alignas(64) std::atomic<std::uint64_t> next_row_{0};
  alignas(64) std::atomic<std::uint64_t> done_tasks_{0};
  std::uint64_t row_base_ = 0;      // next_row_ at the last reset: rows count from here
  std::uint64_t sent_since_reset_ = 0;
  std::uint64_t blocks_returned_ = 0;
  const StepBatch* last_batch_ = nullptr;
};

}  // namespace mnemo::envs
