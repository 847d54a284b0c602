// Tests of metrics.jsonl / metrics.csv writing (header growth, resume, non-finite values, threads)
// and of the console progress line formatting.
#include "core/runlog/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "core/check.h"

namespace mnemo {
namespace {

namespace fs = std::filesystem;

class MetricsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mnemo_metrics_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> lines(const std::string& name) const {
    std::ifstream in(dir_ / name);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // The line with its "time" value replaced by T, since wall time is not deterministic.
  static std::string without_time(std::string line) {
    auto pos = line.find("\"time\": ");
    if (pos != std::string::npos) {
      auto end = line.find_first_of(",}", pos);
      line.replace(pos, end - pos, "\"time\": T");
    }
    return line;
  }
  static std::string csv_without_time(const std::string& row) {
    auto a = row.find(',');
    auto b = row.find(',', a + 1);
    return row.substr(0, a + 1) + "T" + (b == std::string::npos ? "" : row.substr(b));
  }

  fs::path dir_;
};

TEST_F(MetricsWriterTest, WritesOneJsonObjectPerLineWithStepTimeAndScalarsInOrder) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/1, {{"loss", 0.5}, {"lr", 0.001}});
    w.write(/*step=*/2000, {{"loss", 0.25}, {"return", -3}});
  }
  auto l = lines("metrics.jsonl");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(without_time(l[0]), "{\"step\": 1, \"time\": T, \"loss\": 0.5, \"lr\": 0.001}");
  EXPECT_EQ(without_time(l[1]), "{\"step\": 2000, \"time\": T, \"loss\": 0.25, \"return\": -3}");
  // time is a float with three decimals
  EXPECT_NE(l[0].find("\"time\": 0."), std::string::npos) << l[0];
}

TEST_F(MetricsWriterTest, ValuesKeepFullPrecision) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/0, {{"x", 0.1 + 0.2}, {"tiny", 1e-300}});
  }
  auto l = lines("metrics.jsonl");
  EXPECT_NE(l[0].find("\"x\": 0.30000000000000004"), std::string::npos) << l[0];
  EXPECT_NE(l[0].find("\"tiny\": 1e-300"), std::string::npos) << l[0];
}

TEST_F(MetricsWriterTest, NonFiniteValuesAreNullInJsonAndNamedInCsv) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/3, {{"nan", std::nan("")},
                         {"inf", std::numeric_limits<double>::infinity()},
                         {"ninf", -std::numeric_limits<double>::infinity()},
                         {"ok", 1}});
  }
  auto j = lines("metrics.jsonl");
  EXPECT_EQ(without_time(j[0]), "{\"step\": 3, \"time\": T, \"nan\": null, \"inf\": null, \"ninf\": null, \"ok\": 1}");
  auto c = lines("metrics.csv");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], "step,time,nan,inf,ninf,ok");
  EXPECT_EQ(csv_without_time(c[1]), "3,T,nan,inf,-inf,1");
}

TEST_F(MetricsWriterTest, CsvHeaderGrowsWhenANewKeyAppearsAndOldRowsStayAligned) {
  MetricsWriter w(dir_);
  w.write(/*step=*/1, {{"loss", 1}});
  w.write(/*step=*/2, {{"loss", 2}});
  w.write(/*step=*/3, {{"return", 30}, {"loss", 3}});
  w.write(/*step=*/4, {{"return", 40}});
  auto c = lines("metrics.csv");
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0], "step,time,loss,return");
  EXPECT_EQ(csv_without_time(c[1]), "1,T,1,");
  EXPECT_EQ(csv_without_time(c[2]), "2,T,2,");
  EXPECT_EQ(csv_without_time(c[3]), "3,T,3,30");
  EXPECT_EQ(csv_without_time(c[4]), "4,T,,40");
  EXPECT_EQ(w.columns(), (std::vector<std::string>{"step", "time", "loss", "return"}));
}

TEST_F(MetricsWriterTest, KeysWithCommasOrQuotesAreQuotedInCsvAndEscapedInJson) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/1, {{"a,b", 1}, {"say \"hi\"", 2}});
  }
  EXPECT_EQ(lines("metrics.csv")[0], "step,time,\"a,b\",\"say \"\"hi\"\"\"");
  EXPECT_NE(lines("metrics.jsonl")[0].find("\"say \\\"hi\\\"\": 2"), std::string::npos);
  // and a resume reads that header back
  MetricsWriter again(dir_, /*append=*/true);
  EXPECT_EQ(again.columns(), (std::vector<std::string>{"step", "time", "a,b", "say \"hi\""}));
}

TEST_F(MetricsWriterTest, AppendModeContinuesFilesHeaderAndClock) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/1, {{"loss", 1}, {"lr", 0.1}});
  }
  // Pretend the first session ran for 100 s so the resumed clock visibly continues.
  {
    auto c = lines("metrics.csv");
    std::ofstream(dir_ / "metrics.csv") << c[0] << "\n" << "1,100.000,1,0.1\n";
  }
  {
    MetricsWriter w(dir_, /*append=*/true);
    w.write(/*step=*/2, {{"lr", 0.2}});
    w.write(/*step=*/3, {{"loss", 3}, {"kl", 0.01}});
  }
  auto j = lines("metrics.jsonl");
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(without_time(j[1]), "{\"step\": 2, \"time\": T, \"lr\": 0.2}");
  EXPECT_NE(j[1].find("\"time\": 100."), std::string::npos) << j[1];
  auto c = lines("metrics.csv");
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0], "step,time,loss,lr,kl");
  EXPECT_EQ(c[1], "1,100.000,1,0.1,");
  EXPECT_EQ(csv_without_time(c[2]), "2,T,,0.2,");
  EXPECT_EQ(csv_without_time(c[3]), "3,T,3,,0.01");
}

TEST_F(MetricsWriterTest, AppendModeDropsAPartialLastLineLeftByACrash) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/1, {{"loss", 1}});
  }
  std::ofstream(dir_ / "metrics.jsonl", std::ios::app) << "{\"step\": 2, \"ti";
  std::ofstream(dir_ / "metrics.csv", std::ios::app) << "2,0.5";
  {
    MetricsWriter w(dir_, /*append=*/true);
    w.write(/*step=*/3, {{"loss", 3}});
  }
  auto j = lines("metrics.jsonl");
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(without_time(j[1]), "{\"step\": 3, \"time\": T, \"loss\": 3}");
  auto c = lines("metrics.csv");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(csv_without_time(c[2]), "3,T,3");
}

TEST_F(MetricsWriterTest, AppendModeWithoutExistingFilesStartsThem) {
  {
    MetricsWriter w(dir_, /*append=*/true);
    w.write(/*step=*/1, {{"loss", 1}});
  }
  EXPECT_EQ(lines("metrics.csv")[0], "step,time,loss");
  EXPECT_EQ(lines("metrics.jsonl").size(), 1u);
}

TEST_F(MetricsWriterTest, AppendModeRejectsACsvThatIsNotOurs) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "metrics.csv") << "a,b,c\n1,2,3\n";
  EXPECT_THROW(MetricsWriter(dir_, /*append=*/true), Error);
}

TEST_F(MetricsWriterTest, FreshWriterTruncatesExistingFiles) {
  {
    MetricsWriter w(dir_);
    w.write(/*step=*/1, {{"old", 1}});
  }
  {
    MetricsWriter w(dir_, /*append=*/false);
    w.write(/*step=*/1, {{"new", 1}});
  }
  EXPECT_EQ(lines("metrics.jsonl").size(), 1u);
  EXPECT_EQ(lines("metrics.csv")[0], "step,time,new");
}

TEST_F(MetricsWriterTest, RejectsReservedDuplicateEmptyAndControlCharacterNamesWithoutWriting) {
  MetricsWriter w(dir_);
  EXPECT_THROW(w.write(/*step=*/1, {{"step", 1}}), Error);
  EXPECT_THROW(w.write(/*step=*/1, {{"time", 1}}), Error);
  EXPECT_THROW(w.write(/*step=*/1, {{"a", 1}, {"a", 2}}), Error);
  EXPECT_THROW(w.write(/*step=*/1, {{"", 1}}), Error);
  EXPECT_THROW(w.write(/*step=*/1, {{"a\nb", 1}}), Error);
  EXPECT_TRUE(lines("metrics.jsonl").empty());
  EXPECT_TRUE(w.columns().empty());
}

TEST_F(MetricsWriterTest, SinksSeeEveryWriteInOrder) {
  MetricsWriter w(dir_);
  std::vector<std::pair<std::int64_t, Scalars>> seen;
  w.add_sink([&](std::int64_t step, const Scalars& s) { seen.emplace_back(step, s); });
  w.write(/*step=*/1, {{"a", 1}});
  w.write(/*step=*/2, {{"b", 2}});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, 1);
  EXPECT_EQ(seen[1].second, (Scalars{{"b", 2}}));
}

TEST_F(MetricsWriterTest, ConcurrentWritersProduceWholeAlignedLines) {
  constexpr int kThreads = 4, kWrites = 200;
  {
    MetricsWriter w(dir_);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&w, t] {
        for (int i = 0; i < kWrites; ++i) {
          // Each thread brings its own key, so header rewrites race with appends.
          w.write(/*step=*/i, {{"common", i}, {"thread" + std::to_string(t), t}});
        }
      });
    }
    for (auto& th : threads) th.join();
    w.flush();
  }
  auto j = lines("metrics.jsonl");
  ASSERT_EQ(j.size(), static_cast<std::size_t>(kThreads * kWrites));
  for (const auto& line : j) {
    ASSERT_EQ(line.rfind("{\"step\": ", 0), 0u) << line;
    ASSERT_EQ(line.back(), '}') << line;
  }
  auto c = lines("metrics.csv");
  ASSERT_EQ(c.size(), static_cast<std::size_t>(kThreads * kWrites + 1));
  const auto ncols = std::count(c[0].begin(), c[0].end(), ',');
  EXPECT_EQ(ncols, 2 + kThreads);  // step,time,common,thread0..3
  for (const auto& row : c) ASSERT_EQ(std::count(row.begin(), row.end(), ','), ncols) << row;
}

// ---------------------------------------------------------------------------------------------
// ProgressLine

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
  return out;
}

TEST(ProgressLineTest, FormatsCountsPlaceholdersAndPrintfConversions) {
  std::vector<ProgressItem> items = {
      {"step", 12345, "count"},
      {"{} steps/s", 4321.4, "count"},
      {"return", 123.44, "%.1f"},
      {"loss", 0.1234, "%.3f"},
      {"lag", 1.2},
  };
  EXPECT_EQ(ProgressLine::format_line(items), "step 12,345 | 4,321 steps/s | return 123.4 | loss 0.123 | lag 1.2");
}

TEST(ProgressLineTest, FormatCountGroupsThousandsAndHandlesEdgeValues) {
  EXPECT_EQ(format_count(0), "0");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(1000), "1,000");
  EXPECT_EQ(format_count(-1234567), "-1,234,567");
  EXPECT_EQ(format_count(std::nan("")), "nan");
  EXPECT_EQ(format_count(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(ProgressLineTest, RejectsFormatsThatAreNotOneDoubleConversion) {
  for (const char* bad : {"%d", "%s", "%.3f%%", "x", "%.3f and %f", ""}) {
    EXPECT_THROW(ProgressLine::format_line({{"v", 1, bad}}), Error) << bad;
  }
}

TEST(ProgressLineTest, PlainModePrintsWholeLinesAtMostOncePerInterval) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressLine p(/*interval_s=*/3600, f, /*in_place=*/0);
    EXPECT_TRUE(p.due());
    EXPECT_TRUE(p.update({{"step", 1, "count"}}));
    EXPECT_FALSE(p.due());
    EXPECT_FALSE(p.update({{"step", 2, "count"}}));
    EXPECT_TRUE(p.update({{"step", 3000, "count"}}, /*force=*/true));
    p.finish();
  }
  EXPECT_EQ(read_all(f), "step 1\nstep 3,000\n");
  std::fclose(f);
}

TEST(ProgressLineTest, PlainLinesKeepTheirOwnLongerInterval) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressLine plain(/*interval_s=*/0, f, /*in_place=*/0, /*plain_interval_s=*/3600);
    EXPECT_TRUE(plain.update({{"step", 1, "count"}}));
    EXPECT_FALSE(plain.due());
    ProgressLine in_place(/*interval_s=*/0, f, /*in_place=*/1, /*plain_interval_s=*/3600);
    EXPECT_TRUE(in_place.update({{"step", 1, "count"}}));
    EXPECT_TRUE(in_place.due());
  }
  std::fclose(f);
}

TEST(ProgressLineTest, InPlaceModeRewritesTheLineAndFinishEndsIt) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressLine p(/*interval_s=*/0, f, /*in_place=*/1);
    p.update({{"step", 1, "count"}});
    p.update({{"step", 2, "count"}});
    p.finish();
    p.finish();
  }
  EXPECT_EQ(read_all(f), "\rstep 1\x1b[K\rstep 2\x1b[K\n");
  std::fclose(f);
}

}  // namespace
}  // namespace mnemo
