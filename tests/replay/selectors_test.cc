// Tests of the selectors: each sampling distribution against its definition (chi-square with a
// fixed seed at a very small significance level), deterministic orders, removal and priority
// updates, and that keys_in_order() recreates a selector's layout.
#include "replay/selectors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

namespace mnemo::replay {
namespace {

// Chi-square critical value at p ~ 1e-6 (Wilson-Hilferty, z = 4.75): a correct selector fails
// this about once in a million seeds, a wrong one (off by a few percent) essentially always.
double chi2_critical(int df) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + 4.75 * std::sqrt(a), 3);
}

// Draws `draws` keys and returns the chi-square statistic against `expected` probabilities.
double chi2(ItemSelector& s, const std::map<Key, double>& expected, int draws, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<Key, int> counts;
  for (int i = 0; i < draws; ++i) {
    const KeyWithProbability kp = s.select(rng);
    EXPECT_NEAR(kp.probability, expected.at(kp.key), 1e-9) << "key " << kp.key;
    ++counts[kp.key];
  }
  double stat = 0;
  for (const auto& [key, p] : expected) {
    const double e = p * draws;
    const double o = counts[key];
    stat += (o - e) * (o - e) / e;
  }
  return stat;
}

TEST(SumTreeTest, KeepsPrefixSumsThroughPushSetAndPop) {
  SumTree t;
  for (int i = 0; i < 100; ++i) t.push(static_cast<double>(i + 1));
  EXPECT_DOUBLE_EQ(t.total(), 5050.0);
  EXPECT_EQ(t.find(0.0), 0u);
  EXPECT_EQ(t.find(0.999), 0u);
  EXPECT_EQ(t.find(1.0), 1u);
  EXPECT_EQ(t.find(5049.9), 99u);
  t.set(99, 0.0);
  EXPECT_DOUBLE_EQ(t.total(), 4950.0);
  EXPECT_EQ(t.find(4949.99), 98u);
  t.pop();
  EXPECT_EQ(t.size(), 99u);
  EXPECT_DOUBLE_EQ(t.total(), 4950.0);
}

TEST(SumTreeTest, DoesNotAccumulateRoundingErrorOverManyUpdates) {
  SumTree t;
  for (int i = 0; i < 1000; ++i) t.push(0.1);
  std::mt19937_64 rng(/*seed=*/3);
  std::uniform_real_distribution<double> u(0.0, 1e6);
  for (int i = 0; i < 200000; ++i) t.set(rng() % 1000, u(rng));
  for (int i = 0; i < 1000; ++i) t.set(static_cast<std::size_t>(i), 1.0);
  EXPECT_DOUBLE_EQ(t.total(), 1000.0);
}

TEST(UniformSelectorTest, SamplesEveryKeyWithEqualProbability) {
  UniformSelector s;
  std::map<Key, double> expected;
  for (Key k = 0; k < 20; ++k) s.insert(k, /*priority=*/static_cast<double>(k));
  s.remove(3);
  s.remove(19);
  for (Key k = 0; k < 20; ++k)
    if (k != 3 && k != 19) expected[k] = 1.0 / 18;
  EXPECT_LT(chi2(s, expected, /*draws=*/180000, /*seed=*/1), chi2_critical(17));
}

TEST(PrioritizedSelectorTest, SamplesProportionallyToPriorityToTheAlpha) {
  for (double alpha : {1.0, 0.5, 0.0}) {
    PrioritizedSelector s(alpha);
    std::map<Key, double> expected;
    double total = 0;
    for (Key k = 0; k < 10; ++k) {
      s.insert(k, static_cast<double>(k + 1));
      total += std::pow(static_cast<double>(k + 1), alpha);
    }
    for (Key k = 0; k < 10; ++k) expected[k] = std::pow(static_cast<double>(k + 1), alpha) / total;
    EXPECT_LT(chi2(s, expected, /*draws=*/200000, /*seed=*/7), chi2_critical(9)) << "alpha " << alpha;
  }
}

TEST(PrioritizedSelectorTest, FollowsPriorityUpdatesAndRemovals) {
  PrioritizedSelector s(/*priority_exponent=*/1.0);
  for (Key k = 0; k < 5; ++k) s.insert(k, 1.0);
  s.update(0, 6.0);   // 6 of 10
  s.remove(4);        // 6, 1, 1, 1
  s.update(2, 0.0);   // never sampled
  const std::map<Key, double> expected{{0, 0.75}, {1, 0.125}, {2, 0.0 + 1e-300}, {3, 0.125}};
  std::mt19937_64 rng(/*seed=*/11);
  std::map<Key, int> counts;
  for (int i = 0; i < 80000; ++i) ++counts[s.select(rng).key];
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[4], 0);
  std::map<Key, double> live{{0, 0.75}, {1, 0.125}, {3, 0.125}};
  double stat = 0;
  for (const auto& [k, p] : live) stat += std::pow(counts[k] - p * 80000, 2) / (p * 80000);
  EXPECT_LT(stat, chi2_critical(2));
}

TEST(PrioritizedSelectorTest, AllZeroPrioritiesFallBackToUniform) {
  PrioritizedSelector s(/*priority_exponent=*/1.0);
  for (Key k = 0; k < 4; ++k) s.insert(k, 0.0);
  std::map<Key, double> expected{{0, 0.25}, {1, 0.25}, {2, 0.25}, {3, 0.25}};
  EXPECT_LT(chi2(s, expected, /*draws=*/40000, /*seed=*/5), chi2_critical(3));
}

TEST(OrderSelectorTest, FifoTakesTheOldestAndLifoTheNewest) {
  OrderSelector fifo(/*lifo=*/false), lifo(/*lifo=*/true);
  std::mt19937_64 rng(/*seed=*/1);
  for (Key k : {5, 2, 9}) {
    fifo.insert(k, 0);
    lifo.insert(k, 0);
  }
  EXPECT_EQ(fifo.select(rng).key, 2u);
  EXPECT_EQ(lifo.select(rng).key, 9u);
  EXPECT_EQ(fifo.select(rng).probability, 1.0);
  fifo.remove(2);
  lifo.remove(9);
  EXPECT_EQ(fifo.select(rng).key, 5u);
  EXPECT_EQ(lifo.select(rng).key, 5u);
}

TEST(HeapSelectorTest, LowestPriorityFirstWithTiesBrokenByAge) {
  HeapSelector low(/*max=*/false), high(/*max=*/true);
  std::mt19937_64 rng(/*seed=*/1);
  for (Key k = 0; k < 5; ++k) {
    low.insert(k, 3.0);
    high.insert(k, 3.0);
  }
  EXPECT_EQ(low.select(rng).key, 0u);
  EXPECT_EQ(high.select(rng).key, 0u);
  low.update(3, 1.0);
  high.update(4, 9.0);
  EXPECT_EQ(low.select(rng).key, 3u);
  EXPECT_EQ(high.select(rng).key, 4u);
  low.remove(3);
  EXPECT_EQ(low.select(rng).key, 0u);
}

TEST(SelectorTest, KeysInOrderRecreateTheSameDraws) {
  for (const char* name : {"uniform", "prioritized"}) {
    auto a = make_selector(name, /*priority_exponent=*/0.7);
    for (Key k = 0; k < 50; ++k) a->insert(k, static_cast<double>(k % 7 + 1));
    for (Key k = 0; k < 50; k += 3) a->remove(k);  // holes move keys around
    auto b = make_selector(name, 0.7);
    for (Key k : a->keys_in_order()) b->insert(k, static_cast<double>(k % 7 + 1));
    std::mt19937_64 ra(/*seed=*/9), rb(/*seed=*/9);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(a->select(ra).key, b->select(rb).key) << name;
  }
}

TEST(SelectorTest, FactoryKnowsEveryNameAndRefusesOthers) {
  for (const auto& name : selector_names()) {
    auto s = make_selector(name, 1.0);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(std::string(s->name()), name);
  }
  EXPECT_FALSE(make_selector("bogus", 1.0));
}

}  // namespace
}  // namespace mnemo::replay
