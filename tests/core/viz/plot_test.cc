// Tests of learning-curve plots: reading metrics files written by MetricsWriter, averaging over
// seeds, the command line, the SVG document and the PNG image. The PNG is decoded by the test
// decoder of png_test_util.h (CRCs, zlib inflate, all five PNG filters), so the image is checked
// byte for byte against the rasteriser's pixels.
#include "core/runlog/tfevents.h"
#include "core/viz/plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "core/check.h"
#include "core/runlog/metrics.h"
#include "tests/core/viz/png_test_util.h"

namespace mnemo::plot {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// PNG decoding (tests/core/png_test_util.h: independent of the writer)

using mnemo::png::testing::be32;
using mnemo::png::testing::reference_crc32;

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};

// Plots are 8-bit truecolour; any other layout is a failure too.
DecodedPng decode_png(const std::vector<std::uint8_t>& png) {
  const auto d = mnemo::png::testing::decode_png(png);
  if (d.bit_depth != 8 || d.color_type != 2) throw std::runtime_error("not an 8-bit RGB PNG");
  return {d.width, d.height, d.pixels};
}

// ---------------------------------------------------------------------------------------------
// Helpers

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::path(::testing::TempDir()) / ("mnemo_plot_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A run directory written by the real MetricsWriter: episode_return = f(step) every 1000 steps.
  fs::path write_run(const std::string& name, double (*f)(double), int rows = 50) {
    const fs::path run = dir_ / name;
    MetricsWriter w(run);
    for (int i = 1; i <= rows; ++i) {
      const double step = i * 1000.0;
      w.write(static_cast<std::int64_t>(step),
              {{"env_steps", step * 4}, {"episode_return", f(step)}, {"loss", 1.0 / i}});
    }
    return run;
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  fs::path dir_;
};

Chart two_curve_chart() {
  Chart c;
  c.title = "returns";
  c.x_label = "step";
  c.y_label = "episode_return";
  c.curves.push_back({"ppo_seed0", palette(0), {0, 100, 200, 300}, {0, 50, 80, 95}, {}, {}});
  c.curves.push_back(
      {"dt <offline> & co", palette(1), {0, 100, 200, 300}, {10, 20, 30, 40}, {5, 15, 25, 35}, {15, 25, 35, 45}});
  return c;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

// The value of attribute `name` of the element in which the first `marker` ends, or "". A plain
// search: std::regex recurses per character and overflows the stack on long point lists.
std::string attribute(const std::string& svg, const std::string& marker, const std::string& name) {
  auto at = svg.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size() - 1;  // inside the element the marker ends in
  const auto end = svg.find('>', at);
  const auto a = svg.find(" " + name + "=\"", at);
  if (a == std::string::npos || a > end) return "";
  const auto start = a + name.size() + 3;
  return svg.substr(start, svg.find('"', start) - start);
}

std::string hex_color(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// PNG

TEST(PlotPngTest, DecoderSelfCheckCrc32OfTheStandardString) {
  const std::string s = "123456789";
  EXPECT_EQ(reference_crc32(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), 0xcbf43926u);
}

TEST(PlotPngTest, ChartPngHasSignatureSizeAndDecodesToTheRenderedPixels) {
  Chart chart = two_curve_chart();
  chart.width = 640;
  chart.height = 360;
  const Image im = render_image(chart);
  ASSERT_EQ(im.width, 640);
  ASSERT_EQ(im.height, 360);
  const auto png = encode_png(im);
  ASSERT_GE(png.size(), 33u);
  EXPECT_EQ(std::string(png.begin() + 1, png.begin() + 4), "PNG");
  EXPECT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  EXPECT_EQ(be32(png, 16), 640u);
  EXPECT_EQ(be32(png, 20), 360u);

  const DecodedPng d = decode_png(png);
  EXPECT_EQ(d.width, 640);
  EXPECT_EQ(d.height, 360);
  EXPECT_EQ(d.rgb, im.rgb);
}

TEST(PlotPngTest, ChartIsNotBlankAndShowsEachCurveColourAndTheBand) {
  const Image im = render_image(two_curve_chart());
  const DecodedPng d = decode_png(encode_png(im));
  std::size_t non_white = 0, first = 0, second = 0, band = 0;
  const Rgb c0 = palette(0), c1 = palette(1);
  for (std::size_t i = 0; i < d.rgb.size(); i += 3) {
    const std::uint8_t r = d.rgb[i], g = d.rgb[i + 1], b = d.rgb[i + 2];
    if (r != 255 || g != 255 || b != 255) ++non_white;
    if (r == c0.r && g == c0.g && b == c0.b) ++first;
    if (r == c1.r && g == c1.g && b == c1.b) ++second;
    // The translucent orange band over white: a light orange.
    if (r == 255 && g > 200 && g < 245 && b > 160 && b < 230) ++band;
  }
  EXPECT_GT(non_white, d.rgb.size() / 3 / 50) << "less than 2% of the pixels are drawn";
  EXPECT_GT(first, 200u) << "first curve's colour barely present";
  EXPECT_GT(second, 200u) << "second curve's colour barely present";
  EXPECT_GT(band, 2000u) << "band not visible";
}

TEST(PlotPngTest, FlatImagesCompressManyTimesAndNoiseStillRoundTrips) {
  Image flat;
  flat.width = 500;
  flat.height = 400;
  flat.rgb.assign(500 * 400 * 3, 255);
  const auto flat_png = encode_png(flat);
  EXPECT_LT(flat_png.size(), flat.rgb.size() / 50);
  EXPECT_EQ(decode_png(flat_png).rgb, flat.rgb);

  Image noise;
  noise.width = 97;  // odd sizes: rows do not line up with anything
  noise.height = 31;
  std::mt19937 rng(/*seed=*/7);
  noise.rgb.resize(97 * 31 * 3);
  for (auto& v : noise.rgb) v = static_cast<std::uint8_t>(rng());
  EXPECT_EQ(decode_png(encode_png(noise)).rgb, noise.rgb);

  // Repeats at every distance and length deflate can express.
  Image rep;
  rep.width = 300;
  rep.height = 200;
  rep.rgb.resize(300 * 200 * 3);
  for (std::size_t i = 0; i < rep.rgb.size(); ++i) rep.rgb[i] = static_cast<std::uint8_t>((i * 7919) % 251 ^ (i / 997));
  EXPECT_EQ(decode_png(encode_png(rep)).rgb, rep.rgb);
}

TEST(PlotPngTest, DecoderNoticesACorruptedByte) {
  // Guards the checks above: a decoder that accepted anything would make them vacuous.
  auto png = encode_png(render_image(two_curve_chart()));
  ASSERT_NO_THROW(decode_png(png));
  png[png.size() / 2] ^= 0x10;  // inside IDAT
  EXPECT_THROW(decode_png(png), std::runtime_error);
}

TEST(PlotPngTest, RejectsImagesWhoseBufferDoesNotMatchTheirSize) {
  Image bad;
  bad.width = 10;
  bad.height = 10;
  bad.rgb.resize(10);
  EXPECT_THROW(encode_png(bad), Error);
}

TEST(PlotPngTest, ManyThousandPointsRenderAndCompressWell) {
  Chart c;
  c.x_label = "step";
  c.y_label = "episode_return";
  Curve curve{"long run", palette(0), {}, {}, {}, {}};
  for (int i = 0; i < 200000; ++i) {
    curve.x.push_back(i);
    curve.y.push_back(std::sin(i * 0.001) * 100 + (i % 7));
  }
  c.curves.push_back(curve);
  const Image im = render_image(c);
  const auto png = encode_png(im);
  EXPECT_LT(png.size(), 150000u);
  EXPECT_EQ(decode_png(png).rgb, im.rgb);
}

// ---------------------------------------------------------------------------------------------
// SVG

TEST(PlotSvgTest, ContainsEachSeriesAsAPolylineTheBandAndTheLegend) {
  const Chart chart = two_curve_chart();
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"500\""), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 2u);
  EXPECT_NE(svg.find("stroke=\"" + hex_color(palette(0)) + "\""), std::string::npos);
  EXPECT_NE(svg.find("stroke=\"" + hex_color(palette(1)) + "\""), std::string::npos);
  EXPECT_EQ(count(svg, "<path class=\"band\""), 1u);  // only the second curve has lo/hi

  const auto legend = svg.find("<g class=\"legend\">");
  ASSERT_NE(legend, std::string::npos);
  const std::string legend_part = svg.substr(legend, svg.find("</g>", legend) - legend);
  EXPECT_EQ(count(legend_part, "class=\"swatch\""), 2u);
  EXPECT_NE(legend_part.find(">ppo_seed0</text>"), std::string::npos);
  EXPECT_NE(legend_part.find(">dt &lt;offline&gt; &amp; co</text>"), std::string::npos) << "labels are XML-escaped";
  EXPECT_NE(legend_part.find("fill=\"" + hex_color(palette(1)) + "\""), std::string::npos);
  EXPECT_NE(svg.find(">episode_return</text>"), std::string::npos);
  EXPECT_NE(svg.find(">returns</text>"), std::string::npos);
}

TEST(PlotSvgTest, PolylineHasOnePointPerDataPointWhenSparse) {
  Chart c;
  c.curves.push_back({"a", palette(0), {1, 2, 3, 4, 5}, {5, 3, 4, 1, 2}, {}, {}});
  const std::string points = attribute(render_svg(c), "class=\"series\"", "points");
  EXPECT_EQ(count(points, ","), 5u);
}

TEST(PlotSvgTest, DenseSeriesAreThinnedToAFewPointsPerPixelColumn) {
  Chart c;
  Curve curve{"dense", palette(0), {}, {}, {}, {}};
  for (int i = 0; i < 100000; ++i) {
    curve.x.push_back(i);
    curve.y.push_back(i % 2 ? 1.0 : -1.0);
  }
  c.curves.push_back(curve);
  const std::string svg = render_svg(c);
  EXPECT_LT(svg.size(), 200000u);
  const std::string points = attribute(svg, "class=\"series\"", "points");
  EXPECT_GT(count(points, ","), 100u);
  EXPECT_LE(count(points, ","), 4u * 800);
  // Both extremes survive the thinning: the line still spans nearly the whole plot height.
  double lo = 1e9, hi = -1e9;
  std::istringstream in(points);
  for (std::string xy; in >> xy;) {
    const double y = std::stod(xy.substr(xy.find(',') + 1));
    lo = std::min(lo, y);
    hi = std::max(hi, y);
  }
  EXPECT_GT(hi - lo, 300);
}

TEST(PlotSvgTest, StepAxesUseThousandsSuffixes) {
  Chart c;
  c.curves.push_back({"a", palette(0), {0, 400000}, {0, 500}, {}, {}});
  const std::string svg = render_svg(c);
  EXPECT_NE(svg.find(">100k</text>"), std::string::npos);
  EXPECT_NE(svg.find(">400k</text>"), std::string::npos);
  EXPECT_NE(svg.find(">500</text>"), std::string::npos);
}

TEST(PlotSvgTest, LegendGoesToACornerTheCurvesLeaveFree) {
  auto legend_x = [](const Chart& c) {
    const std::string svg = render_svg(c);
    const std::string x = attribute(svg, "<g class=\"legend\">\n<rect", "x");
    const std::string y = attribute(svg, "<g class=\"legend\">\n<rect", "y");
    return std::make_pair(x.empty() ? -1 : std::stoi(x), y.empty() ? -1 : std::stoi(y));
  };
  Chart rising;
  rising.curves.push_back({"rising", palette(0), {0, 1, 2, 3}, {0, 1, 2, 3}, {}, {}});
  const auto [rx, ry] = legend_x(rising);
  EXPECT_GE(rx, 0);
  EXPECT_LT(rx, 400);  // top left
  EXPECT_GE(ry, 0);
  EXPECT_LT(ry, 250);
  Chart falling;  // a loss: top left is taken, and so is bottom right
  falling.curves.push_back({"falling", palette(0), {0, 1, 2, 3}, {3, 2, 1, 0}, {}, {}});
  const auto [fx, fy] = legend_x(falling);
  EXPECT_GT(fx, 400);  // top right
  EXPECT_LT(fy, 250);
}

TEST(PlotSvgTest, LongLabelsAreShortenedKeepingTheEndOfRunNames) {
  Chart c;
  const std::string name = std::string(60, 'x') + "_seed12";
  c.curves.push_back({name, palette(0), {0, 1}, {0, 1}, {}, {}});
  const std::string svg = render_svg(c);
  EXPECT_EQ(svg.find(name), svg.find("<title>") + 7) << "the full name stays in the tooltip";
  EXPECT_NE(svg.find(">..." + std::string(30, 'x') + "_seed12</text>"), std::string::npos);
}

TEST(PlotChartTest, NothingFiniteToPlotIsABadInput) {
  Chart c;
  c.curves.push_back({"a", palette(0), {1, 2}, {std::nan(""), std::nan("")}, {}, {}});
  EXPECT_THROW(render_svg(c), ConfigError);
  EXPECT_THROW(render_image(c), ConfigError);
}

TEST(PlotChartTest, ConstantAndSinglePointCurvesStillDraw) {
  Chart c;
  c.curves.push_back({"flat", palette(0), {0, 10, 20}, {5, 5, 5}, {}, {}});
  c.curves.push_back({"dot", palette(1), {10}, {5}, {}, {}});
  const Image im = render_image(c);
  std::size_t orange = 0;
  for (std::size_t i = 0; i < im.rgb.size(); i += 3) {
    if (im.rgb[i] == palette(1).r && im.rgb[i + 1] == palette(1).g && im.rgb[i + 2] == palette(1).b) ++orange;
  }
  EXPECT_GT(orange, 50u);  // the legend swatch and the dot
  EXPECT_EQ(count(render_svg(c), "<polyline class=\"series\""), 2u);
}

// ---------------------------------------------------------------------------------------------
// Reading metrics files

double linear(double s) { return s / 100.0; }

TEST_F(PlotTest, ReadsTheMetricAgainstStepFromMetricsCsvWrittenByMetricsWriter) {
  const fs::path run = write_run("ppo", linear, /*rows=*/20);
  const Series s = read_series(run, "episode_return");
  EXPECT_EQ(s.label, "ppo");
  ASSERT_EQ(s.x.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_DOUBLE_EQ(s.x[i], (i + 1) * 1000.0);
    EXPECT_DOUBLE_EQ(s.y[i], (i + 1) * 10.0);
  }
}

TEST_F(PlotTest, ReadsTensorBoardEventFilesAndDirectoriesOfThem) {
  // Another framework's run: only event files, the second one from a resumed session.
  const fs::path run = dir_ / "cleanrl";
  {
    TfEventsWriter w(run);
    for (int i = 1; i <= 5; ++i) w.write_scalars(i * 100, {{"charts/episodic_return", i * 2.0}, {"sps", 50.0}});
  }
  const Series one = read_series(run, "charts/episodic_return");
  EXPECT_EQ(one.label, "cleanrl");
  EXPECT_EQ(one.x, (std::vector<double>{100, 200, 300, 400, 500}));
  EXPECT_EQ(one.y, (std::vector<double>{2, 4, 6, 8, 10}));
  fs::path first;
  for (const auto& e : fs::directory_iterator(run)) first = e.path();
  const Series direct = read_series(first, "charts/episodic_return");
  EXPECT_EQ(direct.y, one.y);
  EXPECT_EQ(direct.label, "cleanrl");
  const Series by_time = read_series(run, "sps", "time");
  EXPECT_DOUBLE_EQ(by_time.x.front(), 0.0);
  try {
    read_series(run, "episodic_return");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'charts/episodic_return'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_series(run, "sps", "env_steps"), ConfigError);
  std::ofstream(run / "events.out.tfevents.0.junk") << "not a record";
  EXPECT_THROW(read_series(run, "sps"), ConfigError);
}

TEST_F(PlotTest, ReadsMetricsJsonlWhenThereIsNoCsvAndGivesTheSameSeries) {
  const fs::path run = write_run("ppo", linear, /*rows=*/20);
  const Series from_csv = read_series(run, "episode_return", "env_steps");
  const Series direct_jsonl = read_series(run / "metrics.jsonl", "episode_return", "env_steps");
  fs::remove(run / "metrics.csv");
  const Series from_jsonl = read_series(run, "episode_return", "env_steps");
  EXPECT_EQ(from_jsonl.x, from_csv.x);
  EXPECT_EQ(from_jsonl.y, from_csv.y);
  EXPECT_EQ(direct_jsonl.y, from_csv.y);
  EXPECT_EQ(direct_jsonl.label, "ppo");
  EXPECT_DOUBLE_EQ(from_jsonl.x.front(), 4000.0);
}

TEST_F(PlotTest, SkipsRowsWhereTheMetricIsMissingOrNotFinite) {
  const fs::path run = dir_ / "gaps";
  {
    MetricsWriter w(run);
    w.write(/*step=*/1, {{"loss", 1.0}});
    w.write(/*step=*/2, {{"loss", 0.5}, {"episode_return", 3.0}});
    w.write(/*step=*/3, {{"loss", 0.4}, {"episode_return", std::nan("")}});
    w.write(/*step=*/4, {{"loss", 0.3}, {"episode_return", std::numeric_limits<double>::infinity()}});
    w.write(/*step=*/5, {{"episode_return", 7.0}});
  }
  for (const fs::path& p : {run, run / "metrics.jsonl"}) {
    const Series s = read_series(p, "episode_return");
    EXPECT_EQ(s.x, (std::vector<double>{2, 5})) << p;
    EXPECT_EQ(s.y, (std::vector<double>{3, 7})) << p;
  }
}

TEST_F(PlotTest, AResumedRunReplacesThePointsAfterItsCheckpoint) {
  const fs::path run = dir_ / "resumed";
  {
    MetricsWriter w(run);
    for (int s = 1; s <= 5; ++s) w.write(s * 10, {{"episode_return", s * 1.0}});
  }
  {
    MetricsWriter w(run, /*append=*/true);  // resumed from the checkpoint at step 30
    for (int s = 4; s <= 6; ++s) w.write(s * 10, {{"episode_return", s * 100.0}});
  }
  for (const fs::path& p : {run, run / "metrics.jsonl"}) {
    const Series s = read_series(p, "episode_return");
    EXPECT_EQ(s.x, (std::vector<double>{10, 20, 30, 40, 50, 60})) << p;
    EXPECT_EQ(s.y, (std::vector<double>{1, 2, 3, 400, 500, 600})) << p;
  }
}

TEST_F(PlotTest, IgnoresAPartialLastLineOfARunStillWriting) {
  const fs::path run = write_run("live", linear, /*rows=*/3);
  std::ofstream(run / "metrics.csv", std::ios::app) << "4000,1.0,16000,99";
  std::ofstream(run / "metrics.jsonl", std::ios::app) << "{\"step\": 4000, \"episode_ret";
  EXPECT_EQ(read_series(run, "episode_return").x.size(), 3u);
  EXPECT_EQ(read_series(run / "metrics.jsonl", "episode_return").x.size(), 3u);
}

TEST_F(PlotTest, UnknownMetricNamesTheNearestColumn) {
  const fs::path run = write_run("ppo", linear);
  try {
    read_series(run, "episode_retrun");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'episode_retrun' is not in"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'episode_return'"), std::string::npos) << msg;
  }
  EXPECT_THROW(read_series(run, "episode_return", "wall_clock"), ConfigError);
  EXPECT_THROW(read_series(run / "metrics.jsonl", "nope"), ConfigError);
}

TEST_F(PlotTest, MissingOrUnreadableMetricsAreBadInput) {
  EXPECT_THROW(read_series(dir_ / "does_not_exist", "episode_return"), ConfigError);
  fs::create_directories(dir_ / "empty_run");
  EXPECT_THROW(read_series(dir_ / "empty_run", "episode_return"), ConfigError);
  // A metrics.csv that cannot be read (a directory; permissions do not stop root).
  fs::create_directories(dir_ / "odd_run" / "metrics.csv");
  try {
    read_series(dir_ / "odd_run", "episode_return");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos) << e.what();
  }
  std::ofstream(dir_ / "broken.jsonl") << "{\"step\": 1, \"x\": 2}\nnot json\n";
  EXPECT_THROW(read_series(dir_ / "broken.jsonl", "x"), ConfigError);
  std::ofstream(dir_ / "notes.txt") << "step,x\n1,2\n";
  EXPECT_THROW(read_series(dir_ / "notes.txt", "x"), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// Averaging over seeds

TEST(PlotAggregateTest, MeanMinAndMaxOfRunsLoggedAtTheSameSteps) {
  const std::vector<Series> runs = {
      {"a", {0, 1, 2, 3}, {0, 1, 2, 3}}, {"b", {0, 1, 2, 3}, {2, 3, 4, 5}}, {"c", {0, 1, 2, 3}, {1, 5, 0, 4}}};
  const Band b = aggregate(runs, Spread::kMinMax);
  EXPECT_EQ(b.runs, 3u);
  EXPECT_EQ(b.x, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(b.mean, (std::vector<double>{1, 3, 2, 4}));
  EXPECT_EQ(b.lo, (std::vector<double>{0, 1, 0, 3}));
  EXPECT_EQ(b.hi, (std::vector<double>{2, 5, 4, 5}));
}

TEST(PlotAggregateTest, StdBandIsMeanPlusMinusPopulationStandardDeviation) {
  const std::vector<Series> runs = {{"a", {0, 10}, {0, 10}}, {"b", {0, 10}, {2, 14}}};
  const Band b = aggregate(runs, Spread::kStd);
  EXPECT_EQ(b.mean, (std::vector<double>{1, 12}));
  EXPECT_DOUBLE_EQ(b.lo[0], 0);
  EXPECT_DOUBLE_EQ(b.hi[0], 2);
  EXPECT_DOUBLE_EQ(b.lo[1], 10);
  EXPECT_DOUBLE_EQ(b.hi[1], 14);
}

TEST(PlotAggregateTest, InterpolatesRunsLoggedAtDifferentStepsOverTheCommonRangeOnly) {
  // y = x sampled at even x from 0, y = 2x + 1 at odd x from 1 to 11: the common range is [1, 10].
  Series a{"a", {}, {}}, b{"b", {}, {}};
  for (int x = 0; x <= 10; x += 2) a.x.push_back(x), a.y.push_back(x);
  for (int x = 1; x <= 11; x += 2) b.x.push_back(x), b.y.push_back(2 * x + 1);
  const Band band = aggregate({a, b}, Spread::kMinMax);
  ASSERT_FALSE(band.x.empty());
  EXPECT_DOUBLE_EQ(band.x.front(), 1);
  EXPECT_DOUBLE_EQ(band.x.back(), 10);
  EXPECT_EQ(band.x.size(), 10u);  // 1, 2, ..., 10: the union of both runs' x in range
  for (std::size_t i = 0; i < band.x.size(); ++i) {
    const double x = band.x[i];
    EXPECT_DOUBLE_EQ(band.mean[i], (x + 2 * x + 1) / 2) << x;  // linear runs interpolate exactly
    EXPECT_DOUBLE_EQ(band.lo[i], x) << x;
    EXPECT_DOUBLE_EQ(band.hi[i], 2 * x + 1) << x;
  }
}

TEST(PlotAggregateTest, GridIsThinnedEvenlyToMaxPointsKeepingBothEnds) {
  Series a{"a", {}, {}};
  for (int x = 0; x <= 1000; ++x) a.x.push_back(x), a.y.push_back(x);
  const Band b = aggregate({a, a}, Spread::kMinMax, /*max_points=*/11);
  EXPECT_EQ(b.x, (std::vector<double>{0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}));
  EXPECT_EQ(b.mean, b.x);
}

TEST(PlotAggregateTest, RunsThatDoNotOverlapOrHaveOnePointAreBadInput) {
  EXPECT_THROW(aggregate({{"a", {0, 1}, {0, 1}}, {"b", {2, 3}, {0, 1}}}, Spread::kMinMax), ConfigError);
  EXPECT_THROW(aggregate({{"a", {0, 1}, {0, 1}}, {"b", {0}, {0}}}, Spread::kMinMax), ConfigError);
  EXPECT_THROW(aggregate({}, Spread::kMinMax), ConfigError);
}

TEST(PlotGroupBySeedTest, StripsTheCommonSeedSuffixSpellings) {
  EXPECT_EQ(strip_seed_suffix("ppo_seed3"), "ppo");
  EXPECT_EQ(strip_seed_suffix("ppo-seed=12"), "ppo");
  EXPECT_EQ(strip_seed_suffix("cartpole.seed_7"), "cartpole");
  EXPECT_EQ(strip_seed_suffix("lr=1e-3-s2"), "lr=1e-3");
  EXPECT_EQ(strip_seed_suffix("dt_Seed-0"), "dt");
  EXPECT_EQ(strip_seed_suffix("runs3"), "runs3");  // no separator: not a seed
  EXPECT_EQ(strip_seed_suffix("ppo_v2"), "ppo_v2");
  EXPECT_EQ(strip_seed_suffix("seed3"), "seed3");  // nothing would be left
  EXPECT_EQ(strip_seed_suffix("ppo"), "ppo");
}

TEST(PlotGroupBySeedTest, GroupsSeedsOfEachConfigurationInOrderOfFirstAppearance) {
  const auto g = group_by_seed({"a_seed0", "b_seed0", "a_seed1", "b_seed1", "a_seed2", "lone"});
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].first, "a");
  EXPECT_EQ(g[0].second, (std::vector<std::size_t>{0, 2, 4}));
  EXPECT_EQ(g[1].first, "b");
  EXPECT_EQ(g[1].second, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(g[2].first, "lone");
}

TEST(PlotGroupBySeedTest, RunsWithoutSeedSuffixesFormOneGroup) {
  const auto g = group_by_seed({"first", "second", "third"});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].first, "mean");
  EXPECT_EQ(g[0].second, (std::vector<std::size_t>{0, 1, 2}));
}

// ---------------------------------------------------------------------------------------------
// Runs to a file (the command line of `mnemo plot` is tested in tests/launch/plot_cmd_test.cc)

double noisy_a(double s) { return s / 100 + 5; }
double noisy_b(double s) { return s / 100 - 5; }
double noisy_c(double s) { return s / 100; }
double other(double s) { return 500 - s / 100; }

TEST_F(PlotTest, PlotsOneLinePerRunToPng) {
  write_run("ppo_seed0", noisy_a);
  write_run("ppo_seed1", noisy_b);
  PlotOptions a;
  a.runs = {(dir_ / "ppo_seed0").string(), (dir_ / "ppo_seed1").string()};
  a.metric = "episode_return";
  a.out = (dir_ / "out" / "curves.png").string();
  const std::string summary = run_plot(a);
  EXPECT_NE(summary.find("2 curve(s)"), std::string::npos) << summary;
  const std::string bytes = slurp(a.out);
  const DecodedPng d = decode_png(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  EXPECT_EQ(d.width, 800);
  EXPECT_EQ(d.height, 500);
  EXPECT_EQ(d.rgb, render_image(build_chart(a)).rgb);
  for (const auto& e : fs::directory_iterator(dir_ / "out")) {
    EXPECT_EQ(e.path().filename(), "curves.png") << "temporary file left behind";
  }
}

TEST_F(PlotTest, MeanDrawsOneLineAndBandPerSeedGroupToSvg) {
  write_run("ppo_seed0", noisy_a);
  write_run("ppo_seed1", noisy_b);
  write_run("ppo_seed2", noisy_c);
  write_run("dqn_seed0", other);
  write_run("dqn_seed1", other);
  PlotOptions a;
  for (const char* n : {"ppo_seed0", "ppo_seed1", "ppo_seed2", "dqn_seed0", "dqn_seed1"})
    a.runs.push_back((dir_ / n).string());
  a.metric = "episode_return";
  a.x = "env_steps";
  a.mean = true;
  a.out = (dir_ / "curves.svg").string();

  const Chart chart = build_chart(a);
  ASSERT_EQ(chart.curves.size(), 2u);
  EXPECT_EQ(chart.curves[0].label, "ppo (n=3)");
  EXPECT_EQ(chart.curves[1].label, "dqn (n=2)");
  EXPECT_EQ(chart.x_label, "env_steps");
  ASSERT_EQ(chart.curves[0].x.size(), 50u);
  EXPECT_DOUBLE_EQ(chart.curves[0].y[0], 10);  // (15 + 5 + 10) / 3 at step 1000
  EXPECT_DOUBLE_EQ(chart.curves[0].lo[0], 5);
  EXPECT_DOUBLE_EQ(chart.curves[0].hi[0], 15);
  EXPECT_DOUBLE_EQ(chart.curves[0].x[0], 4000);

  run_plot(a);
  const std::string svg = slurp(a.out);
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 2u);
  EXPECT_EQ(count(svg, "<path class=\"band\""), 2u);
  EXPECT_NE(svg.find(">ppo (n=3)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">dqn (n=2)</text>"), std::string::npos);
}

TEST_F(PlotTest, MeanOverHandPickedRunsIsOneGroup) {
  write_run("first", noisy_a);
  write_run("second", noisy_b);
  PlotOptions a;
  a.runs = {(dir_ / "first").string(), (dir_ / "second").string()};
  a.metric = "episode_return";
  a.mean = true;
  a.out = (dir_ / "c.svg").string();
  const Chart chart = build_chart(a);
  ASSERT_EQ(chart.curves.size(), 1u);
  EXPECT_EQ(chart.curves[0].label, "mean of 2 runs");
}

TEST_F(PlotTest, RunsWithTheSameDirectoryNameAreLabelledByTheirPath) {
  const fs::path a_run = write_run("x/run", noisy_a);
  const fs::path b_run = write_run("y/run", noisy_b);
  PlotOptions a;
  a.runs = {a_run.string(), b_run.string()};
  a.metric = "episode_return";
  a.out = (dir_ / "c.svg").string();
  const Chart chart = build_chart(a);
  EXPECT_EQ(chart.curves[0].label, a_run.string());
  EXPECT_EQ(chart.curves[1].label, b_run.string());
}

TEST_F(PlotTest, FailedPlotWritesNoFile) {
  write_run("ppo", noisy_a);
  PlotOptions a;
  a.runs = {(dir_ / "ppo").string()};
  a.metric = "no_such_metric";
  a.out = (dir_ / "curves.png").string();
  EXPECT_THROW(run_plot(a), ConfigError);
  EXPECT_FALSE(fs::exists(a.out));
  a.metric = "episode_return";
  a.runs.push_back((dir_ / "missing").string());
  EXPECT_THROW(run_plot(a), ConfigError);
  EXPECT_FALSE(fs::exists(a.out));
}

}  // namespace
}  // namespace mnemo::plot
