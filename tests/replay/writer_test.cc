// Tests of the SequenceWriter: fixed-length items, overlap of period < length, episode boundaries,
// the padded tail, and that its items fit the signature it announces.
#include "replay/writer.h"

#include <gtest/gtest.h>

#include "replay/table.h"

namespace mnemo::replay {
namespace {

Spec step_spec() {
  Spec s;
  s.fields.push_back({"obs", DType::kFloat32, {2}});
  s.fields.push_back({"reward", DType::kFloat32, {}});
  return s;
}

Item step(float t) {
  return {{"obs", Array::from_vector(std::vector<float>{t, -t}, {2})}, {"reward", Array::scalar<float>(t)}};
}

std::vector<float> rewards(const Item& item) {
  const Array& r = item[1].second;
  return std::vector<float>(r.data<float>(), r.data<float>() + r.numel());
}

TEST(SequenceWriterTest, EmitsOverlappingSequencesEveryPeriodSteps) {
  std::vector<Item> items;
  SequenceWriter w([&](const Item& i) { items.push_back(i); }, step_spec(), {/*length=*/4, /*period=*/2, false});
  for (int t = 0; t < 9; ++t) w.append(step(static_cast<float>(t)));
  ASSERT_EQ(items.size(), 3u);  // steps 0-3, 2-5, 4-7
  EXPECT_EQ(rewards(items[0]), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(rewards(items[1]), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ(rewards(items[2]), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(items[1][0].second.shape(), (Shape{4, 2}));
  EXPECT_EQ(items[1][0].second.data<float>()[1], -2.0f);
}

TEST(SequenceWriterTest, NonOverlappingWhenPeriodEqualsLength) {
  std::vector<Item> items;
  SequenceWriter w([&](const Item& i) { items.push_back(i); }, step_spec(), {/*length=*/3, /*period=*/3, false});
  for (int t = 0; t < 7; ++t) w.append(step(static_cast<float>(t)));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(rewards(items[1]), (std::vector<float>{3, 4, 5}));
}

TEST(SequenceWriterTest, SequencesNeverSpanEpisodes) {
  std::vector<Item> items;
  SequenceWriter w([&](const Item& i) { items.push_back(i); }, step_spec(), {/*length=*/3, /*period=*/1, false});
  w.append(step(0));
  w.append(step(1));
  w.end_episode();
  for (int t = 10; t < 13; ++t) w.append(step(static_cast<float>(t)));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(rewards(items[0]), (std::vector<float>{10, 11, 12}));
}

TEST(SequenceWriterTest, PadEndEmitsTheTailWithAValidMask) {
  std::vector<Item> items;
  SequenceWriter w([&](const Item& i) { items.push_back(i); }, step_spec(), {/*length=*/4, /*period=*/2, true});
  for (int t = 0; t < 5; ++t) w.append(step(static_cast<float>(t)));
  w.end_episode();  // items: 0-3, then the tail 2-4 padded
  w.append(step(7));
  w.end_episode();  // a one-step episode: 7 padded
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(rewards(items[1]), (std::vector<float>{2, 3, 4, 0}));
  const Array& valid = items[1][2].second;
  EXPECT_EQ(std::vector<std::uint8_t>(valid.data<std::uint8_t>(), valid.data<std::uint8_t>() + 4),
            (std::vector<std::uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(rewards(items[2]), (std::vector<float>{7, 0, 0, 0}));
  // Every item fits the announced signature.
  Table table(TableOptions(), w.item_spec());
  for (const auto& item : items) EXPECT_NO_THROW(table.check(item));
}

TEST(SequenceWriterTest, RejectsMismatchedStepsAndBadOptions) {
  SequenceWriter w([](const Item&) {}, step_spec(), {/*length=*/2, /*period=*/1, false});
  EXPECT_THROW(w.append({{"obs", Array::zeros(DType::kFloat32, {3})}, {"reward", Array::scalar<float>(0)}}), Error);
  EXPECT_THROW(w.append({{"obs", Array::zeros(DType::kFloat32, {2})}}), Error);
  EXPECT_THROW(SequenceWriter([](const Item&) {}, step_spec(), {/*length=*/2, /*period=*/3, false}), ConfigError);
}

}  // namespace
}  // namespace mnemo::replay
