// Tests of the replay Table: FIFO semantics, capacity as backpressure, signature checking and
// stacking of sampled items; samplers, removers, size/bytes/times-sampled limits, rate limiting,
// priorities and importance weights, compressed fields, snapshots.
#include "replay/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "replay/errors.h"

namespace mnemo::replay {
namespace {

// An item of T steps whose every value is `v`, so a sample shows which items it took.
Item make_item(float v, std::int64_t steps = 4) {
  Array obs = Array::zeros(DType::kFloat32, {steps, 3});
  std::fill(obs.data<float>(), obs.data<float>() + obs.numel(), v);
  Array action = Array::zeros(DType::kInt64, {steps});
  std::fill(action.data<std::int64_t>(), action.data<std::int64_t>() + steps, static_cast<std::int64_t>(v));
  return {{"obs", obs}, {"action", action}};
}

TableOptions sized(std::int64_t max_size) {
  TableOptions o;
  o.max_size = max_size;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TableTest, SamplesOldestItemsFirstWithIncreasingKeys) {
  Table table(sized(/*max_size=*/8));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i))));
  auto first = table.try_sample(2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->keys, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(first->at("obs").data<float>()[0], 0.0f);
  EXPECT_EQ(first->at("obs").data<float>()[12], 1.0f);
  auto second = table.try_sample(3);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->keys, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(second->at("action").data<std::int64_t>()[2 * 4], 4);
}

TEST(TableTest, EachItemIsSampledExactlyOnce) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(1)));
  ASSERT_TRUE(table.try_sample(1));
  EXPECT_FALSE(table.try_sample(1));
  EXPECT_EQ(table.size(), 0);
}

TEST(TableTest, RefusesInsertWhenFull) {
  Table table(sized(/*max_size=*/2));
  EXPECT_TRUE(table.try_insert(make_item(0)));
  EXPECT_TRUE(table.try_insert(make_item(1)));
  EXPECT_FALSE(table.try_insert(make_item(2)));
  EXPECT_EQ(table.size(), 2);
  ASSERT_TRUE(table.try_sample(1));
  EXPECT_TRUE(table.try_insert(make_item(2)));
}

TEST(TableTest, SampleReturnsNothingUntilEnoughItemsAreStored) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(0)));
  EXPECT_FALSE(table.try_sample(2));
  EXPECT_EQ(table.size(), 1);  // a failed sample takes nothing
  ASSERT_TRUE(table.try_insert(make_item(1)));
  EXPECT_TRUE(table.try_sample(2));
}

TEST(TableTest, SampleStacksFieldsAlongANewLeadingDimension) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(5, /*steps=*/6)));
  ASSERT_TRUE(table.try_insert(make_item(7, /*steps=*/6)));
  auto batch = table.try_sample(2);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->size(), 2);
  const Array& obs = batch->at("obs");
  EXPECT_EQ(obs.shape(), (Shape{2, 6, 3}));
  EXPECT_EQ(obs.dtype(), DType::kFloat32);
  for (int i = 0; i < 18; ++i) EXPECT_EQ(obs.data<float>()[i], 5.0f);
  for (int i = 18; i < 36; ++i) EXPECT_EQ(obs.data<float>()[i], 7.0f);
  EXPECT_EQ(batch->at("action").shape(), (Shape{2, 6}));
  EXPECT_THROW(batch->at("reward"), Error);
}

TEST(TableTest, FirstItemFixesTheSignature) {
  Table table(sized(/*max_size=*/4));
  EXPECT_FALSE(table.signature());
  ASSERT_TRUE(table.try_insert(make_item(0)));
  ASSERT_TRUE(table.signature());
  EXPECT_EQ(table.signature()->at("obs").shape, (Shape{4, 3}));
  EXPECT_THROW(table.try_insert(make_item(0, /*steps=*/5)), Error);
}

TEST(TableTest, RejectsShapeMismatchNamingTheFieldAndBothShapes) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(0, /*steps=*/4)));
  const std::string msg = error_of([&] { table.try_insert(make_item(0, /*steps=*/5)); });
  EXPECT_NE(msg.find("'obs'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
  EXPECT_EQ(table.size(), 1);
}

TEST(TableTest, RejectsDTypeMismatchNamingBothDTypes) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(0)));
  Item item = make_item(0);
  item[1].second = Array::zeros(DType::kInt32, {4});
  const std::string msg = error_of([&] { table.try_insert(item); });
  EXPECT_NE(msg.find("'action'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
}

TEST(TableTest, RejectsMissingExtraAndRepeatedFields) {
  Table table(sized(/*max_size=*/4));
  ASSERT_TRUE(table.try_insert(make_item(0)));
  Item missing = make_item(0);
  missing.pop_back();
  EXPECT_NE(error_of([&] { table.check(missing); }).find("'action'"), std::string::npos);
  Item extra = make_item(0);
  extra.emplace_back("reward", Array::zeros(DType::kFloat32, {4}));
  EXPECT_NE(error_of([&] { table.check(extra); }).find("'reward'"), std::string::npos);
  Item repeated = make_item(0);
  repeated.push_back(repeated[0]);
  EXPECT_NE(error_of([&] { table.check(repeated); }).find("repeats"), std::string::npos);
}

TEST(TableTest, ChecksItemsAgainstAGivenSignatureAndStoresItsFieldOrder) {
  Spec spec;
  spec.fields.push_back({"action", DType::kInt64, {4}});
  spec.fields.push_back({"obs", DType::kFloat32, {4, 3}});
  Table table(sized(/*max_size=*/4), spec);
  EXPECT_THROW(table.try_insert(make_item(0, /*steps=*/2)), Error);
  ASSERT_TRUE(table.try_insert(make_item(3)));  // fields in a different order than the signature
  auto batch = table.try_sample(1);
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->fields.size(), 2u);
  EXPECT_EQ(batch->fields[0].first, "action");
  EXPECT_EQ(batch->fields[1].first, "obs");
}

TEST(TableTest, RefusesSampleSizesThatCanNeverBeSatisfied) {
  Table table(sized(/*max_size=*/3));
  EXPECT_THROW(table.try_sample(0), Error);
  EXPECT_THROW(table.try_sample(4), Error);
}

TEST(TableTest, UnknownSamplerIsAConfigErrorListingValidValues) {
  TableOptions o;
  o.sampler = "bogus";
  try {
    Table table(o);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'bogus'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fifo"), std::string::npos) << msg;
  }
}

TEST(TableTest, NonPositiveMaxSizeIsAConfigError) { EXPECT_THROW(Table table(sized(/*max_size=*/0)), ConfigError); }

TEST(TableTest, CountersTrackInsertsSamplesAndSize) {
  Table table(sized(/*max_size=*/8));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i))));
  ASSERT_TRUE(table.try_sample(3));
  const TableCounters c = table.counters();
  EXPECT_EQ(c.inserts, 5);
  EXPECT_EQ(c.samples, 3);
  EXPECT_EQ(c.size, 2);
}

TEST(TableTest, ConcurrentProducersAndConsumerSeeEveryItemExactlyOnce) {
  Table table(sized(/*max_size=*/16));
  constexpr int kProducers = 3;
  constexpr int kPerProducer = 200;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        Item item = make_item(static_cast<float>(p * kPerProducer + i));
        while (!table.try_insert(item) && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      }
    });
  }
  std::multiset<int> seen;
  std::vector<std::uint64_t> keys;
  while (seen.size() < kProducers * kPerProducer && std::chrono::steady_clock::now() < deadline) {
    if (auto batch = table.try_sample(2)) {
      for (int i = 0; i < 2; ++i) seen.insert(static_cast<int>(batch->at("obs").data<float>()[i * 12]));
      keys.insert(keys.end(), batch->keys.begin(), batch->keys.end());
    } else {
      std::this_thread::yield();
    }
  }
  for (auto& t : producers) t.join();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kProducers * kPerProducer));
  for (int v = 0; v < kProducers * kPerProducer; ++v) EXPECT_EQ(seen.count(v), 1u) << v;
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

TableOptions table_with(const std::string& sampler, std::int64_t max_size, const std::string& remover = "fifo") {
  TableOptions o;
  o.sampler = sampler;
  o.remover = remover;
  o.max_size = max_size;
  return o;
}

// The value every element of item `i` of a batch has (make_item fills with one value).
float value_of(const Batch& b, std::int64_t i) { return b.at("obs").data<float>()[i * 12]; }

TEST(TableTest, DefaultOptionsAreTheOnPolicyQueue) {
  TableOptions o;
  EXPECT_EQ(o.sampler, "fifo");
  EXPECT_EQ(o.resolved_max_times_sampled(), 1);
  EXPECT_EQ(resolve_rate_limiter(o.rate_limiter, o.sampler, "").kind, "queue");
}

TEST(TableTest, LifoSamplesNewestFirstExactlyOnce) {
  Table table(table_with("lifo", /*max_size=*/8));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i))));
  auto b = table.try_sample(3);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->keys, (std::vector<std::uint64_t>{3, 2, 1}));
  EXPECT_EQ(table.size(), 1);
}

TEST(TableTest, UniformSamplesWithReplacementAndEvictsOldestWhenFull) {
  Table table(table_with("uniform", /*max_size=*/3));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i))));  // never blocks
  EXPECT_EQ(table.size(), 3);
  EXPECT_EQ(table.counters().evicted, 2);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 20; ++i) {
    auto b = table.try_sample(5);  // more than stored: with replacement
    ASSERT_TRUE(b);
    for (std::int64_t j = 0; j < b->size(); ++j) {
      seen.insert(b->keys[static_cast<std::size_t>(j)]);
      EXPECT_EQ(value_of(*b, j), static_cast<float>(b->keys[static_cast<std::size_t>(j)]));
      EXPECT_DOUBLE_EQ(b->probabilities[static_cast<std::size_t>(j)], 1.0 / 3);
      EXPECT_DOUBLE_EQ(b->weights[static_cast<std::size_t>(j)], 1.0);
    }
  }
  EXPECT_EQ(seen, (std::set<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(table.size(), 3);
}

TEST(TableTest, LowestPriorityRemoverEvictsTheLeastImportantItem) {
  Table table(table_with("uniform", /*max_size=*/3, /*remover=*/"lowest_priority"));
  ASSERT_TRUE(table.try_insert(make_item(0), /*priority=*/5.0));
  ASSERT_TRUE(table.try_insert(make_item(1), /*priority=*/0.5));
  ASSERT_TRUE(table.try_insert(make_item(2), /*priority=*/3.0));
  ASSERT_TRUE(table.try_insert(make_item(3), /*priority=*/4.0));  // evicts key 1
  EXPECT_EQ(table.update_priorities({0}, {0.1}), 1);
  ASSERT_TRUE(table.try_insert(make_item(4), /*priority=*/4.0));  // evicts key 0 after its update
  std::set<std::uint64_t> keys;
  for (const auto& e : table.snapshot().items) keys.insert(e.key);
  EXPECT_EQ(keys, (std::set<std::uint64_t>{2, 3, 4}));
}

TEST(TableTest, RemovesItemsAfterMaxTimesSampled) {
  TableOptions o = table_with("uniform", /*max_size=*/10);
  o.max_times_sampled = 2;
  Table table(o);
  ASSERT_TRUE(table.try_insert(make_item(0)));
  ASSERT_TRUE(table.try_insert(make_item(1)));
  auto b = table.try_sample(4);  // 4 samples of a budget of 4
  ASSERT_TRUE(b);
  std::map<std::uint64_t, int> count;
  for (auto k : b->keys) ++count[k];
  EXPECT_EQ(count[0], 2);
  EXPECT_EQ(count[1], 2);
  EXPECT_EQ(table.size(), 0);
  EXPECT_EQ(table.counters().removed_sampled, 2);
  EXPECT_FALSE(table.try_sample(1));
}

TEST(TableTest, MaxBytesEvictsOrBlocksAndRefusesOversizedItems) {
  TableOptions o = table_with("uniform", /*max_size=*/100);
  const std::int64_t item_bytes = 4 * 3 * 4 + 4 * 8;  // obs float32[4,3] + action int64[4]
  o.max_bytes = 2 * item_bytes;
  Table evicting(o);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(evicting.try_insert(make_item(static_cast<float>(i))));
  EXPECT_EQ(evicting.size(), 2);
  EXPECT_EQ(evicting.counters().bytes, 2 * item_bytes);
  o.sampler = "fifo";
  Table queue(o);
  EXPECT_TRUE(queue.try_insert(make_item(0)));
  EXPECT_TRUE(queue.try_insert(make_item(1)));
  EXPECT_FALSE(queue.try_insert(make_item(2)));  // a queue waits instead of evicting
  o.max_bytes = item_bytes - 1;
  Table tiny(o);
  try {
    tiny.try_insert(make_item(0));
    FAIL() << "expected an error";
  } catch (const ReplayError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("max_bytes"), std::string::npos);
  }
}

TEST(TableTest, PrioritizedSamplingFollowsUpdatedPrioritiesAndReportsWeights) {
  TableOptions o = table_with("prioritized", /*max_size=*/10);
  o.priority_exponent = 1.0;
  o.importance_sampling_exponent = 1.0;
  o.seed = 17;
  Table table(o);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i)), /*priority=*/1.0));
  EXPECT_EQ(table.update_priorities({0, 1, 99}, {7.0, 0.0, 3.0}), 2);  // 99 is unknown: ignored
  std::map<std::uint64_t, int> count;
  const int n = 20000;
  for (int i = 0; i < n / 100; ++i) {
    auto b = table.try_sample(100);
    ASSERT_TRUE(b);
    for (std::size_t j = 0; j < b->keys.size(); ++j) {
      ++count[b->keys[j]];
      const double p = b->keys[j] == 0 ? 7.0 / 9 : 1.0 / 9;
      EXPECT_NEAR(b->probabilities[j], p, 1e-12);
      EXPECT_NEAR(b->priorities[j], b->keys[j] == 0 ? 7.0 : 1.0, 1e-12);
      // w = (N p)^-1 normalised by the batch maximum, which belongs to a rare item (p = 1/9).
      EXPECT_NEAR(b->weights[j], b->keys[j] == 0 ? 1.0 / 7 : 1.0, 1e-9);
    }
  }
  EXPECT_EQ(count[1], 0);
  // Chi-square over keys 0, 2, 3 with probabilities 7/9, 1/9, 1/9 (critical value at p ~ 1e-6).
  const double e0 = n * 7.0 / 9, e = n / 9.0;
  const double stat = std::pow(count[0] - e0, 2) / e0 + std::pow(count[2] - e, 2) / e + std::pow(count[3] - e, 2) / e;
  EXPECT_LT(stat, 27.6);
}

TEST(TableTest, RejectsInvalidPriorities) {
  Table table(table_with("prioritized", /*max_size=*/4));
  EXPECT_THROW(table.try_insert(make_item(0), /*priority=*/-1.0), ReplayError);
  EXPECT_THROW(table.try_insert(make_item(0), /*priority=*/std::nan("")), ReplayError);
  ASSERT_TRUE(table.try_insert(make_item(0), /*priority=*/1.0));
  EXPECT_THROW(table.update_priorities({0}, {INFINITY}), ReplayError);
  EXPECT_THROW(table.update_priorities({0, 1}, {1.0}), ReplayError);
}

TEST(TableTest, RateLimiterHoldsSamplesUntilMinSizeAndRatioHoldsInserts) {
  TableOptions o = table_with("uniform", /*max_size=*/100);
  o.rate_limiter.kind = "ratio";
  o.rate_limiter.min_size_to_sample = 2;
  o.rate_limiter.samples_per_insert = 1.0;
  o.rate_limiter.error_buffer = 2.0;  // diff in [0, 4]
  Table table(o);
  ASSERT_TRUE(table.try_insert(make_item(0)));
  EXPECT_FALSE(table.try_sample(1));  // below min size
  ASSERT_TRUE(table.try_insert(make_item(1)));
  ASSERT_TRUE(table.try_insert(make_item(2)));
  ASSERT_TRUE(table.try_insert(make_item(3)));
  EXPECT_FALSE(table.try_insert(make_item(4)));  // diff would be 5
  ASSERT_TRUE(table.try_sample(2));               // diff 2
  EXPECT_TRUE(table.try_insert(make_item(4)));
  table.set_rate_limited(false);  // prefill: anything goes
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(table.try_insert(make_item(5)));
  EXPECT_FALSE(table.counters().rate_limited);
  table.set_rate_limited(true);
  EXPECT_TRUE(table.try_sample(1));
  EXPECT_TRUE(table.try_insert(make_item(6)));
}

TEST(TableTest, SignatureFromOptionsIsCheckedFromTheFirstInsert) {
  TableOptions o = sized(/*max_size=*/4);
  o.signature = {"obs:float32[4,3]", "action:int64[4]"};
  Table table(o);
  ASSERT_TRUE(table.signature());
  try {
    table.try_insert(make_item(0, /*steps=*/5));
    FAIL() << "expected a signature error";
  } catch (const std::exception& e) {
    EXPECT_TRUE(IsSignatureMismatch(e)) << e.what();
  }
  EXPECT_TRUE(table.try_insert(make_item(0)));
  o.signature = {"obs:float33[4]"};
  EXPECT_THROW(Table bad(o), ConfigError);
  EXPECT_EQ(field_spec_str(parse_field_spec("x:uint8[2, 3]")), "x:uint8[2,3]");
  EXPECT_EQ(parse_field_spec("s:float32[]").shape, Shape{});
}

TEST(TableTest, StoresCompressedFieldsAndDecompressesThemIntoBatches) {
  Table table(sized(/*max_size=*/4));
  Item item = make_item(2.5f, /*steps=*/64);
  EncodedItem enc;
  for (const auto& [name, a] : item) {
    ItemField f = ItemField::raw(name, a);
    f.bytes = compress(a, Codec::kZstd, /*level=*/3);
    f.codec = Codec::kZstd;
    enc.push_back(std::move(f));
  }
  ASSERT_TRUE(table.try_insert(std::move(enc), /*priority=*/1.0));
  EXPECT_LT(table.counters().bytes, 64 * 3 * 4 / 4);  // constant data compresses well
  auto b = table.try_sample(1);
  ASSERT_TRUE(b);
  for (std::int64_t i = 0; i < 64 * 3; ++i) ASSERT_EQ(b->at("obs").data<float>()[i], 2.5f);
}

TEST(TableTest, SnapshotAndRestoreGiveAnIdenticalTable) {
  TableOptions o = table_with("prioritized", /*max_size=*/50, /*remover=*/"lowest_priority");
  o.seed = 123;
  Table a(o);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(a.try_insert(make_item(static_cast<float>(i)), /*priority=*/1.0 + i % 5));
  ASSERT_TRUE(a.try_sample(7));
  a.update_priorities({20, 30}, {9.0, 0.25});
  const TableSnapshot snap = a.snapshot();
  Table b(o);
  b.restore(snap);
  const TableCounters ca = a.counters(), cb = b.counters();
  EXPECT_EQ(ca.size, cb.size);
  EXPECT_EQ(ca.inserts, cb.inserts);
  EXPECT_EQ(ca.samples, cb.samples);
  EXPECT_EQ(ca.bytes, cb.bytes);
  EXPECT_EQ(ca.evicted, cb.evicted);
  // Same generator state and selector layout: the very same draws, then the same evictions.
  for (int i = 0; i < 10; ++i) {
    auto x = a.try_sample(5);
    auto y = b.try_sample(5);
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->keys, y->keys);
    EXPECT_EQ(x->probabilities, y->probabilities);
  }
  ASSERT_TRUE(a.try_insert(make_item(99), 3.0));
  ASSERT_TRUE(b.try_insert(make_item(99), 3.0));
  std::vector<Key> ka, kb;
  for (const auto& e : a.snapshot().items) ka.push_back(e.key);
  for (const auto& e : b.snapshot().items) kb.push_back(e.key);
  EXPECT_EQ(ka, kb);
}

TEST(TableTest, RestoreRefusesASnapshotWithAnotherSignature) {
  TableOptions o = sized(/*max_size=*/4);
  Table a(o);
  ASSERT_TRUE(a.try_insert(make_item(0, /*steps=*/5)));
  o.signature = {"obs:float32[4,3]", "action:int64[4]"};
  Table b(o);
  EXPECT_THROW(b.restore(a.snapshot()), ReplayError);
}

}  // namespace
}  // namespace mnemo::replay
