// Tests of the command line of `mnemo plot` (launch/plot_cmd.h); drawing is tested in
// tests/core/plot_test.cc.
#include "launch/plot_cmd.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/check.h"
#include "launch/command.h"

namespace mnemo::launch {
namespace {

using plot::PlotOptions;
using plot::Spread;

PlotOptions parse_plot(const std::vector<std::string>& argv) {
  PlotOptions a;
  CommandArgs args;
  plot_command_line(args, a);
  args.parse(argv);
  return a;
}

TEST(PlotCommandTest, ParsesRunsAndOptions) {
  const PlotOptions a = parse_plot({"runs/a", "--metric", "episode_return", "runs/b", "--x=env_steps", "--mean", "--band",
                                    "std", "--out", "c.SVG", "--title", "t", "--width", "640", "--height=480"});
  EXPECT_EQ(a.runs, (std::vector<std::string>{"runs/a", "runs/b"}));
  EXPECT_EQ(a.metric, "episode_return");
  EXPECT_EQ(a.x, "env_steps");
  EXPECT_TRUE(a.mean);
  EXPECT_EQ(a.spread, Spread::kStd);
  EXPECT_EQ(a.out, "c.SVG");
  EXPECT_EQ(a.title, "t");
  EXPECT_EQ(a.width, 640);
  EXPECT_EQ(a.height, 480);
  const PlotOptions d = parse_plot({"r", "--metric", "m", "--out", "o.png"});
  EXPECT_EQ(d.x, "step");
  EXPECT_FALSE(d.mean);
  EXPECT_EQ(d.spread, Spread::kMinMax);
  EXPECT_EQ(parse_plot({"r", "--metric=m", "-o", "o.png"}).out, "o.png");
}

TEST(PlotCommandTest, BadCommandLinesAreConfigErrorsThatSayWhatIsWrong) {
  auto message = [](const std::vector<std::string>& args) -> std::string {
    try {
      parse_plot(args);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(message({"--metric", "m", "--out", "o.png"}).find("no RUN_DIR"), std::string::npos);
  EXPECT_NE(message({"r", "--out", "o.png"}).find("missing --metric"), std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m"}).find("missing --out"), std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.jpg"}).find(".png or .svg"), std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--smooth", "3"}).find("unknown option '--smooth'"),
            std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--band", "std"}).find("--band needs --mean"),
            std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--mean", "--band", "iqr"}).find("minmax or std"),
            std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--width", "wide"}).find("--width expects an integer"),
            std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--width", "50"}).find("200..8000"), std::string::npos);
  EXPECT_NE(message({"r", "--out", "o.png", "--metric"}).find("--metric needs a value"), std::string::npos);
  EXPECT_NE(message({"r", "--metric", "m", "--out", "o.png", "--mean=yes"}).find("--mean takes no value"),
            std::string::npos);
}

}  // namespace
}  // namespace mnemo::launch
