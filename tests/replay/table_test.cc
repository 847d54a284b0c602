// Tests of the replay Table: FIFO semantics, capacity as backpressure, signature checking and
// stacking of sampled items.
#include "replay/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

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
  o.sampler = "uniform";
  try {
    Table table(o);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'uniform'"), std::string::npos) << msg;
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

}  // namespace
}  // namespace mnemo::replay
