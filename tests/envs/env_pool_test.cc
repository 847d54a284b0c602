// EnvPool tests: the synchronous mode reproduces VectorEnv exactly at any thread count;
// auto-reset semantics; the asynchronous mode returns batches of distinct envs, returns every
// env eventually, keeps each env's trajectory deterministic, and rejects misuse; errors inside
// envs reach the caller; recorded episodes restore a pool that goes on as the original. Waits use recv_for with generous timeouts, never sleeps.
#include "envs/env_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <set>

#include "envs/cartpole.h"
#include "envs/tmaze.h"
#include "envs/vector_env.h"

namespace mnemo::envs {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kTimeout{10000};

EnvFactory cartpoles(std::int64_t max_steps = 500) {
  return [max_steps](std::size_t) { return std::make_unique<CartPole>(CartPoleOptions{max_steps}); };
}

EnvFactory tmazes() {
  return [](std::size_t) {
    TMazeOptions o;
    o.corridor_length = 5;
    o.max_steps = 12;
    return std::make_unique<TMaze>(o);
  };
}

EnvPoolOptions pool_options(std::int64_t n, std::int64_t batch, std::int64_t threads) {
  EnvPoolOptions o;
  o.num_envs = n;
  o.batch_size = batch;
  o.num_threads = threads;
  return o;
}

Array discrete(const std::vector<std::int64_t>& a) {
  return Array::from_vector<std::int64_t>(a, {static_cast<std::int64_t>(a.size())});
}

bool same(const Array& a, const Array& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// An env that throws on its third step, to check that worker errors reach the caller.
class Faulty : public CartPole {
 public:
  StepResult step(const void* action, const ObsSlot& out) override {
    if (++calls_ == 3) throw Error("faulty env broke on purpose");
    return CartPole::step(action, out);
  }

 private:
  int calls_ = 0;
};

TEST(EnvPoolTest, SynchronousPoolReproducesVectorEnvAtAnyThreadCount) {
  constexpr int kEnvs = 7;
  for (std::int64_t threads : {1, 2, 3, 5, 9}) {  // 9 > envs: empty ranges
    VectorEnv reference(kEnvs, tmazes());
    EnvPool pool(pool_options(kEnvs, /*batch=*/0, threads), tmazes());
    EXPECT_FALSE(pool.is_async());
    const StepBatch& r = reference.reset(/*base_seed=*/3);
    const StepBatch& p = pool.reset(/*base_seed=*/3);
    int episodes = 0;
    for (int t = 0; t < 60; ++t) {
      ASSERT_TRUE(same(r.obs[0], p.obs[0])) << "threads " << threads << " step " << t;
      ASSERT_TRUE(same(r.first, p.first));
      ASSERT_TRUE(same(r.env_id, p.env_id));
      std::vector<std::int64_t> actions(kEnvs);
      for (int i = 0; i < kEnvs; ++i) actions[i] = (t + i) % 7 == 0 ? (t % 2) : 3;
      reference.step(discrete(actions));
      pool.step(discrete(actions));
      ASSERT_TRUE(same(r.reward, p.reward));
      ASSERT_TRUE(same(r.terminated, p.terminated));
      ASSERT_TRUE(same(r.truncated, p.truncated));
      ASSERT_TRUE(same(r.infos, p.infos));
      for (int i = 0; i < kEnvs; ++i) {
        if (r.terminated.data<std::uint8_t>()[i] || r.truncated.data<std::uint8_t>()[i]) {
          ++episodes;
          ASSERT_EQ(r.episode_return.data<float>()[i], p.episode_return.data<float>()[i]);
          ASSERT_EQ(r.episode_length.data<std::int64_t>()[i], p.episode_length.data<std::int64_t>()[i]);
          ASSERT_EQ(std::memcmp(r.final_obs[0].data<float>() + i * 16, p.final_obs[0].data<float>() + i * 16, 64), 0);
        }
      }
    }
    EXPECT_GT(episodes, kEnvs) << "the run must cover auto-resets";
  }
}

TEST(EnvPoolTest, SynchronousAutoResetKeepsTheFinalObservationAndMarksFirst) {
  EnvPool pool(pool_options(/*n=*/2, /*batch=*/0, /*threads=*/2), cartpoles(/*max_steps=*/3));
  const StepBatch& b = pool.reset(/*base_seed=*/1);
  pool.step(discrete({0, 1}));
  pool.step(discrete({0, 1}));
  EXPECT_EQ(b.first.data<std::uint8_t>()[0], 0);
  const Array before = b.obs[0].clone();
  pool.step(discrete({0, 1}));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(b.truncated.data<std::uint8_t>()[i], 1);
    EXPECT_EQ(b.first.data<std::uint8_t>()[i], 1);
    EXPECT_EQ(b.episode_length.data<std::int64_t>()[i], 3);
    EXPECT_EQ(b.episode_return.data<float>()[i], 3.0f);
    EXPECT_EQ(dynamic_cast<CartPole&>(pool.env(i)).elapsed_steps(), 0);
    for (int k = 0; k < 4; ++k) EXPECT_LE(std::abs(b.obs[0].data<float>()[i * 4 + k]), 0.05f);
  }
  EXPECT_FALSE(same(before, b.final_obs[0]));
}

TEST(EnvPoolTest, RecordedEpisodesRestoreAPoolThatGoesOnExactlyAsTheOriginal) {
  // T-Mazes (with infos) of 12 steps at most: over the steps below every env ends episodes at its
  // own times, so the saved episodes have every length, none included.
  EnvPool a(pool_options(/*n=*/3, /*batch=*/0, /*threads=*/1), tmazes());
  a.record_episodes(true);
  const StepBatch* ba = &a.reset(/*base_seed=*/7);
  std::uint64_t x = 1;
  auto actions = [&x] {
    std::vector<std::int64_t> v;
    for (int i = 0; i < 3; ++i) v.push_back(static_cast<std::int64_t>((x = x * 6364136223846793005ULL + 1) >> 62));
    return discrete(v);
  };
  for (int t = 0; t < 17; ++t) ba = &a.step(actions());

  EnvPool b(pool_options(3, 0, /*threads=*/2), tmazes());
  const StepBatch* bb = &b.restore_episodes(a.episodes());
  ASSERT_TRUE(same(ba->obs[0], bb->obs[0]));
  ASSERT_TRUE(same(ba->first, bb->first));
  ASSERT_TRUE(same(ba->infos, bb->infos));
  bool ended = false;
  for (int t = 0; t < 30; ++t) {
    const Array act = actions();
    ba = &a.step(act);
    bb = &b.step(act);
    ASSERT_TRUE(same(ba->obs[0], bb->obs[0])) << "step " << t;
    ASSERT_TRUE(same(ba->reward, bb->reward)) << "step " << t;
    ASSERT_TRUE(same(ba->terminated, bb->terminated)) << "step " << t;
    ASSERT_TRUE(same(ba->truncated, bb->truncated)) << "step " << t;
    ASSERT_TRUE(same(ba->first, bb->first)) << "step " << t;
    ASSERT_TRUE(same(ba->infos, bb->infos)) << "step " << t;
    for (int i = 0; i < 3; ++i)
      if (ba->first.data<std::uint8_t>()[i]) {
        ended = true;
        // The ended episode's return and length count the steps from before the restore too.
        EXPECT_EQ(ba->episode_return.data<float>()[i], bb->episode_return.data<float>()[i]) << "step " << t;
        EXPECT_EQ(ba->episode_length.data<std::int64_t>()[i], bb->episode_length.data<std::int64_t>()[i]);
      }
  }
  EXPECT_TRUE(ended);
}

TEST(EnvPoolTest, EpisodesThatDoNotFitThePoolAreRejected) {
  EnvPool a(pool_options(2, 0, 1), cartpoles());
  a.record_episodes(true);
  a.reset(1);
  EnvPool three(pool_options(3, 0, 1), cartpoles());
  EXPECT_THROW(three.restore_episodes(a.episodes()), Error);
  EnvPool two(pool_options(2, 0, 1), cartpoles());
  std::string damaged = a.episodes();
  damaged[damaged.size() / 2] ^= 0x5a;
  EXPECT_THROW(two.restore_episodes(damaged), Error);
  EXPECT_THROW(two.restore_episodes("not a state"), Error);
  EnvPool async(pool_options(4, 2, 1), cartpoles());
  EXPECT_THROW(async.record_episodes(true), Error);
}

TEST(EnvPoolTest, SynchronousPoolRejectsBadActionsBeforeAnyEnvMoves) {
  EnvPool pool(pool_options(/*n=*/3, /*batch=*/0, /*threads=*/2), cartpoles());
  EXPECT_THROW(pool.step(discrete({0, 0, 0})), Error) << "step before reset";
  const StepBatch& b = pool.reset(/*base_seed=*/0);
  const Array obs = b.obs[0].clone();
  EXPECT_THROW(pool.step(discrete({0, 1, 2})), Error);
  EXPECT_THROW(pool.step(discrete({0, 1})), Error);
  EXPECT_THROW(pool.step(Array::from_vector<float>({0, 1, 0})), Error);
  EXPECT_TRUE(same(obs, b.obs[0]));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(dynamic_cast<CartPole&>(pool.env(i)).elapsed_steps(), 0);
}

TEST(EnvPoolTest, AsyncBatchesHoldDistinctEnvsAndEveryEnvComesBackEventually) {
  constexpr int kEnvs = 8, kBatch = 3;
  EnvPool pool(pool_options(kEnvs, kBatch, /*threads=*/2), tmazes());
  EXPECT_TRUE(pool.is_async());
  pool.async_reset(/*base_seed=*/9);
  std::map<std::int64_t, int> returned;
  for (int round = 0; round < 200; ++round) {
    const StepBatch* b = pool.recv_for(kTimeout);
    ASSERT_NE(b, nullptr) << "no batch within the timeout in round " << round;
    ASSERT_EQ(b->size(), kBatch);
    std::set<std::int64_t> ids;
    for (int r = 0; r < kBatch; ++r) {
      const std::int64_t id = b->env_id.data<std::int64_t>()[r];
      ASSERT_GE(id, 0);
      ASSERT_LT(id, kEnvs);
      ids.insert(id);
      ++returned[id];
    }
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(kBatch)) << "an env appeared twice in one batch";
    pool.send(discrete(std::vector<std::int64_t>(kBatch, TMaze::kRight)), b->env_id);
  }
  EXPECT_EQ(returned.size(), static_cast<std::size_t>(kEnvs)) << "some env never came back";
}

TEST(EnvPoolTest, AsyncResetReturnsFreshEpisodesMarkedFirst) {
  EnvPool pool(pool_options(/*n=*/6, /*batch=*/2, /*threads=*/2), tmazes());
  const StepBatch& b = pool.reset(/*base_seed=*/4);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(b.first.data<std::uint8_t>()[r], 1);
    EXPECT_EQ(b.reward.data<float>()[r], 0.0f);
    const float* o = b.obs[0].data<float>() + r * 16;
    EXPECT_EQ(o[0] + o[1], 1.0f) << "the cue is visible at the first step";
  }
}

// Each env's own trajectory must not depend on which envs share its batches: replaying the
// actions an env received on a lone TMaze with the same seed stream gives the same observations.
TEST(EnvPoolTest, AsyncEnvTrajectoriesAreDeterministicPerEnv) {
  constexpr int kEnvs = 6, kBatch = 2;
  EnvPool pool(pool_options(kEnvs, kBatch, /*threads=*/3), tmazes());
  std::map<std::int64_t, std::vector<std::vector<float>>> seen;
  std::map<std::int64_t, std::vector<std::int64_t>> sent;
  const StepBatch* b = &pool.reset(/*base_seed=*/21);
  for (int round = 0; round < 150; ++round) {
    std::vector<std::int64_t> actions(kBatch);
    for (int r = 0; r < kBatch; ++r) {
      const std::int64_t id = b->env_id.data<std::int64_t>()[r];
      const float* o = b->obs[0].data<float>() + r * 16;
      seen[id].emplace_back(o, o + 16);
      actions[r] = (round + id) % 5 == 0 ? TMaze::kUp : TMaze::kRight;
      sent[id].push_back(actions[r]);
    }
    pool.send(discrete(actions), b->env_id);
    b = pool.recv_for(kTimeout);
    ASSERT_NE(b, nullptr);
  }
  for (const auto& [id, observations] : seen) {
    TMazeOptions o;
    o.corridor_length = 5;
    o.max_steps = 12;
    TMaze lone(o);
    std::vector<float> obs(16);
    ObsSlot slot({obs.data()});
    SeedStream seeds(/*base_seed=*/21, static_cast<std::size_t>(id));
    lone.reset(seeds.next(), slot);
    for (std::size_t t = 0; t < observations.size(); ++t) {
      ASSERT_EQ(obs, observations[t]) << "env " << id << " step " << t;
      const StepResult r = lone.step(&sent[id][t], slot);
      if (r.terminated || r.truncated) lone.reset(seeds.next(), slot);
    }
  }
}

TEST(EnvPoolTest, AsyncSendRejectsEnvsThatAreStillSteppingDuplicatesAndUnknownIds) {
  EnvPool pool(pool_options(/*n=*/4, /*batch=*/2, /*threads=*/1), tmazes());
  const StepBatch& b = pool.reset(/*base_seed=*/0);
  const std::int64_t a = b.env_id.data<std::int64_t>()[0], c = b.env_id.data<std::int64_t>()[1];
  std::int64_t stepping = 0;
  while (stepping == a || stepping == c) ++stepping;
  const Array two = discrete({TMaze::kRight, TMaze::kRight});
  EXPECT_THROW(pool.send(two, discrete({a, stepping})), Error);
  EXPECT_THROW(pool.send(two, discrete({a, a})), Error);
  EXPECT_THROW(pool.send(two, discrete({a, 4})), Error);
  EXPECT_THROW(pool.send(discrete({TMaze::kRight, 7}), discrete({a, c})), Error);
  // Nothing was marked by the failed calls: the right send still works.
  EXPECT_NO_THROW(pool.send(two, discrete({a, c})));
  ASSERT_NE(pool.recv_for(kTimeout), nullptr);
}

TEST(EnvPoolTest, AsyncRecvWithoutEnoughEnvsSteppingThrowsInsteadOfHanging) {
  EnvPool pool(pool_options(/*n=*/4, /*batch=*/3, /*threads=*/2), tmazes());
  const StepBatch& b = pool.reset(/*base_seed=*/0);
  (void)b;
  // One env is still stepping after reset's batch of three; a batch needs three.
  EXPECT_THROW(pool.recv(), Error);
}

TEST(EnvPoolTest, ResetWhileEnvsAreSteppingStartsOver) {
  EnvPool pool(pool_options(/*n=*/8, /*batch=*/4, /*threads=*/2), tmazes());
  const StepBatch* b = &pool.reset(/*base_seed=*/0);
  pool.send(discrete({2, 2, 2, 2}), b->env_id);
  b = &pool.reset(/*base_seed=*/1);
  for (int r = 0; r < 4; ++r) EXPECT_EQ(b->first.data<std::uint8_t>()[r], 1);
  for (int round = 0; round < 20; ++round) {
    b = &pool.step(discrete({3, 3, 3, 3}));
    ASSERT_EQ(b->size(), 4);
  }
}

TEST(EnvPoolTest, AnExceptionInsideAnEnvReachesTheCaller) {
  for (std::int64_t batch : {0, 2}) {
    EnvPool pool(pool_options(/*n=*/4, batch, /*threads=*/2),
                 [](std::size_t) { return std::make_unique<Faulty>(); });
    const StepBatch* b = &pool.reset(/*base_seed=*/0);
    bool thrown = false;
    for (int t = 0; t < 10 && !thrown; ++t) {
      try {
        std::vector<std::int64_t> a(static_cast<std::size_t>(b->size()), 0);
        b = &pool.step(discrete(a));
      } catch (const Error& e) {
        thrown = true;
        EXPECT_NE(std::string(e.what()).find("on purpose"), std::string::npos);
      }
    }
    EXPECT_TRUE(thrown) << "batch " << batch;
  }
}

TEST(EnvPoolTest, DestroyingAPoolWithEnvsSteppingDoesNotHang) {
  EnvPool pool(pool_options(/*n=*/16, /*batch=*/4, /*threads=*/2), cartpoles());
  const StepBatch& b = pool.reset(/*base_seed=*/0);
  pool.send(discrete({0, 1, 0, 1}), b.env_id);
}

TEST(EnvPoolTest, InvalidOptionsAreConfigErrorsNamingTheKey) {
  auto message = [](EnvPoolOptions o) -> std::string {
    try {
      EnvPool pool(o, cartpoles());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(pool_options(0, 0, 1)).find("num_envs"), std::string::npos);
  EXPECT_NE(message(pool_options(4, 5, 1)).find("batch_size"), std::string::npos);
  EXPECT_NE(message(pool_options(4, -1, 1)).find("batch_size"), std::string::npos);
  EXPECT_NE(message(pool_options(4, 0, 0)).find("num_threads"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::envs
