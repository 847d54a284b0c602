// Tests of the JSON reader and writing helpers: the grammar, exact integers, escapes, and the
// rejection of malformed or hostile input.
#include "core/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mnemo::json {
namespace {

TEST(JsonTest, ParsesObjectsArraysAndScalarsInSourceOrder) {
  const Value v = parse(R"( {"b": [1, -2.5e3, true, false, null], "a": {"x": "y"}} )", "test");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members.size(), 2u);
  EXPECT_EQ(v.members[0].first, "b");
  EXPECT_EQ(v.members[1].first, "a");
  const Value& b = *v.find("b");
  ASSERT_EQ(b.items.size(), 5u);
  EXPECT_EQ(b.items[0].as_int64("b0"), 1);
  EXPECT_EQ(b.items[1].as_double("b1"), -2500.0);
  EXPECT_TRUE(b.items[2].as_bool("b2"));
  EXPECT_FALSE(b.items[3].as_bool("b3"));
  EXPECT_EQ(b.items[4].kind, Value::Kind::kNull);
  EXPECT_EQ(v.find("a")->find("x")->as_string("x"), "y");
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonTest, ReadsUnsignedIntegersExactlyUpTo2To64) {
  // Above 2^53 a double would round; offsets in large weight files get there.
  EXPECT_EQ(parse("18446744073709551615", "t").as_uint64("max"), 18446744073709551615ULL);
  EXPECT_EQ(parse("9007199254740993", "t").as_uint64("2^53+1"), 9007199254740993ULL);
  EXPECT_EQ(parse("-9223372036854775808", "t").as_int64("min"), std::numeric_limits<std::int64_t>::min());
  EXPECT_THROW(parse("18446744073709551616", "t").as_uint64("overflow"), Error);
  EXPECT_THROW(parse("-1", "t").as_uint64("negative"), Error);
  EXPECT_THROW(parse("1.0", "t").as_uint64("fraction"), Error);
  EXPECT_THROW(parse("1e3", "t").as_uint64("exponent"), Error);
  EXPECT_THROW(parse("\"1\"", "t").as_uint64("string"), Error);
}

TEST(JsonTest, DecodesEscapesAndQuoteRoundTrips) {
  EXPECT_EQ(parse(R"("a\"b\\c\/d\n\t\u00e9\ud83d\ude00")", "t").as_string("s"),
            "a\"b\\c/d\n\t\xC3\xA9\xF0\x9F\x98\x80");
  for (const std::string& s : {std::string("plain"), std::string("q\"uo\\te"), std::string("line\nbreak\x01\x1f"),
                              std::string("caf\xC3\xA9")})
    EXPECT_EQ(parse(quote(s), "t").as_string("s"), s);
  EXPECT_THROW(parse(R"("\ud83d")", "t"), Error);  // lone high surrogate
  EXPECT_THROW(parse(R"("\ude00")", "t"), Error);  // lone low surrogate
  EXPECT_THROW(parse(R"("\x")", "t"), Error);
  EXPECT_THROW(parse("\"a\nb\"", "t"), Error);     // raw control character
}

TEST(JsonTest, NumbersRoundTripIncludingNonFinite) {
  for (double d : {0.0, -1.5, 0.1, 1.0 / 3.0, 2.5e-4, 1e300, -2.0})
    EXPECT_EQ(parse(number(d), "t").as_double("d"), d) << number(d);
  EXPECT_EQ(number(2.0), "2");
  EXPECT_EQ(number(0.1), "0.1");
  EXPECT_TRUE(std::isnan(parse(number(std::nan("")), "t").as_double("nan")));
  EXPECT_EQ(parse(number(std::numeric_limits<double>::infinity()), "t").as_double("inf"),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse(number(-std::numeric_limits<double>::infinity()), "t").as_double("-inf"),
            -std::numeric_limits<double>::infinity());
}

TEST(JsonTest, RejectsMalformedInputWithTheOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "tru", "{} {}", "[1 2]",
                          "{1: 2}", "\"unterminated", "+1", ".5"}) {
    EXPECT_THROW(parse(bad, "t"), Error) << bad;
  }
  try {
    parse("[1, 2, x]", "file.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("file.json: malformed JSON at byte 7"), std::string::npos) << e.what();
  }
}

TEST(JsonTest, RejectsDuplicateKeys) {
  try {
    parse(R"({"w": 1, "w": 2})", "t");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate key \"w\""), std::string::npos) << e.what();
  }
}

TEST(JsonTest, DeepNestingIsAnErrorNotAStackOverflow) {
  EXPECT_NO_THROW(parse(std::string(100, '[') + std::string(100, ']'), "t"));
  EXPECT_THROW(parse(std::string(100000, '['), "t"), Error);
}

}  // namespace
}  // namespace mnemo::json
