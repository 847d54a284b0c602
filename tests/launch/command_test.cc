// Tests of CommandArgs (launch/command.h), the parser behind every `mnemo` command; the commands
// themselves are tested through the command table in cli_test.cc.
#include "launch/command.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"

namespace mnemo::launch {
namespace {

struct Toy {
  std::string source, extra;
  std::vector<std::string> rest, sets;
  std::int64_t count = 10;
  std::uint64_t seed = 1;
  std::optional<std::uint64_t> maybe;
  int width = 800;
  bool fast = false;
  std::string out;
};

void toy_command_line(CommandArgs& args, Toy& t) {
  args.positional("SOURCE", &t.source);
  args.optional_positional("EXTRA", &t.extra);
  args.flags()
      ("count", integer(&t.count), "a count")
      ("seed", integer(&t.seed, "S"), "a seed")
      ("maybe", integer(&t.maybe), "an optional number")
      ("width", integer(&t.width, "PX"), "an int")
      ("fast", flag(&t.fast), "a switch")
      ("set", repeated(&t.sets, "KEY=VALUE"), "repeatable")
      ("out,o", text(&t.out, "FILE"), "a file");
}

Toy parse_toy(const std::vector<std::string>& argv) {
  Toy t;
  CommandArgs args;
  toy_command_line(args, t);
  args.parse(argv);
  return t;
}

std::string error_of(const std::vector<std::string>& argv) {
  try {
    parse_toy(argv);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(CommandArgsTest, FlagsTakeTheirValueAfterASpaceOrAnEqualsSign) {
  const Toy a = parse_toy({"src", "--count", "5", "--seed", "7", "--width", "640", "--out", "f", "--set", "a=1", "--set",
                           "b=2", "--fast"});
  const Toy b = parse_toy({"src", "--count=5", "--seed=7", "--width=640", "--out=f", "--set=a=1", "--set=b=2", "--fast"});
  for (const Toy& t : {a, b}) {
    EXPECT_EQ(t.source, "src");
    EXPECT_EQ(t.count, 5);
    EXPECT_EQ(t.seed, 7u);
    EXPECT_EQ(t.width, 640);
    EXPECT_EQ(t.out, "f");
    EXPECT_EQ(t.sets, (std::vector<std::string>{"a=1", "b=2"}));
    EXPECT_TRUE(t.fast);
  }
  EXPECT_EQ(parse_toy({"src", "-o", "g"}).out, "g");
  EXPECT_EQ(parse_toy({"src", "--out", "-x"}).out, "-x");  // a value may start with a dash
}

TEST(CommandArgsTest, FlagsNotGivenKeepTheStructDefaults) {
  const Toy t = parse_toy({"src"});
  EXPECT_EQ(t.count, 10);
  EXPECT_EQ(t.seed, 1u);
  EXPECT_FALSE(t.maybe.has_value());
  EXPECT_FALSE(t.fast);
  EXPECT_TRUE(t.sets.empty());
  EXPECT_EQ(parse_toy({"src", "--maybe", "0"}).maybe, std::optional<std::uint64_t>(0));
}

TEST(CommandArgsTest, IntegersMustBeTheWholeTokenAndInRange) {
  EXPECT_EQ(error_of({"src", "--count", "x"}), "--count expects an integer, got 'x'");
  EXPECT_EQ(error_of({"src", "--count=5x"}), "--count expects an integer, got '5x'");
  EXPECT_EQ(error_of({"src", "--count", " 5"}), "--count expects an integer, got ' 5'");
  EXPECT_EQ(error_of({"src", "--count", "1.5"}), "--count expects an integer, got '1.5'");
  EXPECT_EQ(error_of({"src", "--seed", "-1"}), "--seed must be >= 0, got -1");
  EXPECT_NE(error_of({"src", "--width", "99999999999"}).find("--width is out of range"), std::string::npos);
  EXPECT_NE(error_of({"src", "--count", "99999999999999999999"}).find("--count is out of range"), std::string::npos);
  EXPECT_EQ(parse_toy({"src", "--count", "-3"}).count, -3);
  EXPECT_EQ(parse_toy({"src", "--seed", "18446744073709551615"}).seed, 18446744073709551615ull);
}

TEST(CommandArgsTest, BadFlagsAreConfigErrorsNamingTheFlag) {
  EXPECT_EQ(error_of({"src", "--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(error_of({"src", "--bogus=1"}), "unknown option '--bogus'");
  EXPECT_EQ(error_of({"src", "--cont", "3"}).rfind("unknown option '--cont'", 0), 0u);  // no abbreviations
  EXPECT_EQ(error_of({"src", "-z"}), "unknown option '-z'");
  EXPECT_EQ(error_of({"src", "--count"}), "--count needs a value");
  EXPECT_EQ(error_of({"src", "--count="}), "--count needs a value");
  EXPECT_EQ(error_of({"src", "--fast=1"}), "--fast takes no value");
  EXPECT_EQ(error_of({"src", "--count=1", "--count", "2"}), "--count is given more than once");
}

TEST(CommandArgsTest, PositionalArgumentsAreCountedWithMessagesThatNameThem) {
  EXPECT_EQ(error_of({}), "missing SOURCE");
  EXPECT_EQ(error_of({"--count", "3"}), "missing SOURCE");
  EXPECT_EQ(error_of({"a", "b", "c"}), "expected one EXTRA, got 'b' and 'c'");
  const Toy t = parse_toy({"--count", "3", "a", "--fast", "b"});  // flags and arguments mix
  EXPECT_EQ(t.source, "a");
  EXPECT_EQ(t.extra, "b");
  EXPECT_EQ(parse_toy({"src", "--", "--fast"}).extra, "--fast");  // after --, everything is an argument

  std::vector<std::string> rest;
  CommandArgs args;
  args.positionals("RUN_DIR", &rest);
  args.parse({"a", "b", "c"});
  EXPECT_EQ(rest, (std::vector<std::string>{"a", "b", "c"}));
  CommandArgs none;
  EXPECT_THROW(none.parse({"x"}), ConfigError);
}

TEST(CommandArgsTest, ChecksRunAfterParsingAndSeeWhichFlagsWereGiven) {
  Toy t;
  CommandArgs args;
  toy_command_line(args, t);
  std::vector<std::string> seen;
  args.check([&] {
    seen.push_back(std::to_string(t.count));
    if (args.given("fast") && t.count < 1) throw ConfigError("--fast needs a positive --count");
  });
  args.parse({"src", "--count", "0"});
  EXPECT_EQ(seen, (std::vector<std::string>{"0"}));
  EXPECT_TRUE(args.given("count"));
  EXPECT_FALSE(args.given("fast"));

  Toy u;
  CommandArgs bad;
  toy_command_line(bad, u);
  bad.check([&] {
    if (bad.given("fast") && u.count < 1) throw ConfigError("--fast needs a positive --count");
  });
  EXPECT_THROW(bad.parse({"src", "--count=0", "--fast"}), ConfigError);
}

}  // namespace
}  // namespace mnemo::launch
