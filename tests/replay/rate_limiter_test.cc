// Tests of the rate limiter's admission rules: the queue, min_size and samples-per-insert kinds,
// blocking and release, the disable switch for prefilling, and the rules that keep it from hanging.
#include "replay/rate_limiter.h"

#include <gtest/gtest.h>

#include "core/check.h"

namespace mnemo::replay {
namespace {

RateLimiter make(const std::string& kind, std::int64_t min_size, double spi, double buffer, std::int64_t max_size = 100) {
  RateLimiterOptions o;
  o.kind = kind;
  o.min_size_to_sample = min_size;
  o.samples_per_insert = spi;
  o.error_buffer = buffer;
  return RateLimiter(resolve_rate_limiter(o, "uniform", ""), max_size);
}

TEST(RateLimiterTest, AutoIsAQueueForOrderSamplersAndMinSizeOtherwise) {
  RateLimiterOptions o;
  EXPECT_EQ(resolve_rate_limiter(o, "fifo", "").kind, "queue");
  EXPECT_EQ(resolve_rate_limiter(o, "lifo", "").kind, "queue");
  EXPECT_EQ(resolve_rate_limiter(o, "uniform", "").kind, "min_size");
  EXPECT_EQ(resolve_rate_limiter(o, "prioritized", "").kind, "min_size");
}

TEST(RateLimiterTest, QueueBlocksInsertsWhenFullAndSamplesUntilEnoughItems) {
  RateLimiter q = make("queue", /*min_size=*/1, 1.0, 1.0, /*max_size=*/2);
  EXPECT_TRUE(q.can_insert(/*size=*/1));
  EXPECT_FALSE(q.can_insert(/*size=*/2));
  EXPECT_FALSE(q.can_sample(/*size=*/1, /*n=*/2));
  EXPECT_TRUE(q.can_sample(/*size=*/2, /*n=*/2));
}

TEST(RateLimiterTest, BlocksSamplesUntilMinSizeReached) {
  RateLimiter r = make("min_size", /*min_size=*/3, 1.0, 1.0);
  EXPECT_FALSE(r.can_sample(/*size=*/2, /*n=*/1));
  EXPECT_TRUE(r.can_sample(/*size=*/3, /*n=*/1));
  EXPECT_TRUE(r.can_sample(/*size=*/3, /*n=*/50));  // with replacement: n may exceed the size
  EXPECT_TRUE(r.can_insert(/*size=*/1000));
}

TEST(RateLimiterTest, RatioBlocksInsertsWhenSamplesLagAndReleasesThemAfterSamples) {
  // spi 2, min_size 1, error buffer 4: diff = 2 * inserts - samples must stay within [-2, 6].
  RateLimiter r = make("ratio", /*min_size=*/1, /*spi=*/2.0, /*buffer=*/4.0);
  std::int64_t size = 0;
  int admitted = 0;
  while (r.can_insert(size) && admitted < 100) {
    r.inserted();
    ++size;
    ++admitted;
  }
  EXPECT_EQ(admitted, 3);  // diff 6 after three inserts; a fourth would make it 8
  EXPECT_TRUE(r.can_sample(size, /*n=*/2));
  r.sampled(2);  // diff 4
  EXPECT_TRUE(r.can_insert(size));
}

TEST(RateLimiterTest, RatioBlocksSamplesThatWouldGetAheadOfInserts) {
  RateLimiter r = make("ratio", /*min_size=*/1, /*spi=*/1.0, /*buffer=*/2.0);  // diff in [-1, 3]
  r.inserted();
  EXPECT_TRUE(r.can_sample(/*size=*/1, /*n=*/2));   // diff 1 -> -1
  EXPECT_FALSE(r.can_sample(/*size=*/1, /*n=*/3));  // diff 1 -> -2
  r.sampled(2);
  EXPECT_FALSE(r.can_sample(/*size=*/1, /*n=*/1));
  r.inserted();
  EXPECT_TRUE(r.can_sample(/*size=*/2, /*n=*/1));
}

TEST(RateLimiterTest, InsertsAreAdmittedBelowMinSizeWhateverTheCounters) {
  RateLimiter r = make("ratio", /*min_size=*/10, /*spi=*/1.0, /*buffer=*/1.0);
  for (int i = 0; i < 100; ++i) r.inserted();  // far past max_diff, e.g. counters from a checkpoint
  EXPECT_TRUE(r.can_insert(/*size=*/5));       // the table lost items (eviction): never hang
  EXPECT_FALSE(r.can_insert(/*size=*/10));
}

TEST(RateLimiterTest, DisablingAdmitsEverythingAndReenablingRecentres) {
  RateLimiter r = make("ratio", /*min_size=*/2, /*spi=*/1.0, /*buffer=*/3.0);
  r.set_enabled(false);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(r.can_insert(/*size=*/i));
    r.inserted();
  }
  EXPECT_TRUE(r.can_sample(/*size=*/1, /*n=*/1));
  r.set_enabled(true);
  EXPECT_TRUE(r.can_insert(/*size=*/1000));     // not held back until 1000 samples are taken
  EXPECT_TRUE(r.can_sample(/*size=*/1000, /*n=*/1));
}

TEST(RateLimiterTest, BatchesLargerThanTheErrorBufferAreImpossible) {
  RateLimiter r = make("ratio", /*min_size=*/1, /*spi=*/1.0, /*buffer=*/2.0);
  EXPECT_TRUE(r.batch_possible(4));
  EXPECT_FALSE(r.batch_possible(5));
  EXPECT_TRUE(make("min_size", 1, 1.0, 1.0).batch_possible(1000));
}

TEST(RateLimiterTest, BadOptionsAreConfigErrors) {
  RateLimiterOptions o;
  o.kind = "sometimes";
  EXPECT_THROW(resolve_rate_limiter(o, "uniform", ""), ConfigError);
  o = RateLimiterOptions();
  o.samples_per_insert = 0;
  EXPECT_THROW(resolve_rate_limiter(o, "uniform", ""), ConfigError);
  o = RateLimiterOptions();
  o.min_size_to_sample = 0;
  EXPECT_THROW(resolve_rate_limiter(o, "uniform", ""), ConfigError);
}

}  // namespace
}  // namespace mnemo::replay
