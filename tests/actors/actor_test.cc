#include "actors/actor.h"

#include <gtest/gtest.h>

#include <set>

namespace mnemo::actors {
namespace {

TEST(ActorSeedTest, AFreshRunUsesTheRunSeedAsItIs) {
  EXPECT_EQ(actor_seed(/*run_seed=*/42, /*resume_step=*/-1), 42u);
}

TEST(ActorSeedTest, EveryResumeGetsStreamsOfItsOwnAndReproducesThem) {
  std::set<std::uint64_t> seen;
  for (std::uint64_t run_seed : {1ULL, 2ULL, 3ULL})
    for (std::int64_t step : {0, 1, 1024, 2048, 4096}) {
      EXPECT_EQ(actor_seed(run_seed, step), actor_seed(run_seed, step));
      seen.insert(actor_seed(run_seed, step));
      EXPECT_NE(actor_seed(run_seed, step), actor_seed(run_seed, -1));
    }
  EXPECT_EQ(seen.size(), 15u);  // no two (run, resume step) pairs share their streams
}

}  // namespace
}  // namespace mnemo::actors
