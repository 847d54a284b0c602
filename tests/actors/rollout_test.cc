// Tests of the rollout toolkit: per-env episode quotas and the episode loop every collector uses.
#include "actors/rollout.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/actors/fixed_length_env.h"

namespace mnemo::actors {
namespace {

TEST(EpisodeQuotasTest, SplitsTheEpisodesOverTheEnvsWithTheRemainderToTheFirst) {
  EpisodeQuotas q(/*episodes=*/23, /*envs=*/10);
  for (std::int64_t i = 0; i < 10; ++i) EXPECT_EQ(q.quota(i), i < 3 ? 3 : 2) << i;
  EXPECT_EQ(q.remaining(), 23);
  q.count(0);
  q.count(0);
  q.count(0);
  EXPECT_FALSE(q.recording(0));
  EXPECT_TRUE(q.recording(1));
  EXPECT_EQ(q.done(), 3);
  EXPECT_THROW(q.count(0), Error);  // env 0 has played its share
}

TEST(EpisodeQuotasTest, RefusesMoreEnvsThanEpisodes) {
  EXPECT_THROW(EpisodeQuotas(/*episodes=*/3, /*envs=*/4), Error);
  EXPECT_THROW(EpisodeQuotas(/*episodes=*/0, /*envs=*/1), Error);
}

TEST(RunEpisodesTest, EveryEnvPlaysItsShareWhateverTheLengthOfItsEpisodes) {
  constexpr std::int64_t kEnvs = 10, kEpisodes = 20, kLong = 8;
  envs::EnvPoolOptions o;
  o.num_envs = kEnvs;
  envs::EnvPool pool(o, testing::fixed_length_envs(kLong));
  EpisodeQuotas quotas(kEpisodes, kEnvs);
  std::vector<std::int64_t> per_env(kEnvs, 0);
  double length_sum = 0;
  EpisodeHooks hooks;
  hooks.episode = [&](std::int64_t env, const envs::StepBatch& b) {
    ++per_env[static_cast<std::size_t>(env)];
    length_sum += static_cast<double>(b.episode_length.data<std::int64_t>()[env]);
  };
  Array zeros = Array::zeros(DType::kInt64, {kEnvs});
  run_episodes(pool, &pool.reset(/*base_seed=*/1), quotas, [&](const envs::StepBatch&) { return zeros; }, hooks);
  EXPECT_EQ(quotas.remaining(), 0);
  for (std::int64_t i = 0; i < kEnvs; ++i) EXPECT_EQ(per_env[static_cast<std::size_t>(i)], 2) << "env " << i;
  // The first 20 episodes to finish would hold 11 one-step episodes (mean length 4.15).
  EXPECT_DOUBLE_EQ(length_sum / kEpisodes, (1.0 + (kEnvs - 1) * kLong) / kEnvs);
}

TEST(RunEpisodesTest, RefusesAPoolOfAnotherSize) {
  envs::EnvPoolOptions o;
  o.num_envs = 3;
  envs::EnvPool pool(o, testing::fixed_length_envs(/*long_length=*/2));
  EpisodeQuotas quotas(/*episodes=*/4, /*envs=*/2);
  Array zeros = Array::zeros(DType::kInt64, {3});
  EXPECT_THROW(run_episodes(pool, &pool.reset(1), quotas, [&](const envs::StepBatch&) { return zeros; }, {}), Error);
}

}  // namespace
}  // namespace mnemo::actors
