// Tests of YAML binding, overrides, error messages and the round trip of the resolved config.
#include "core/config.h"

#include <gtest/gtest.h>

namespace mnemo::config {
namespace {

struct Inner {
  double lr = 1e-3;
  std::vector<std::int64_t> sizes = {64, 64};
  template <class V>
  void visit(V& v) {
    v("lr", lr, "learning rate");
    v("sizes", sizes, "hidden sizes");
  }
};

struct Outer {
  std::string name = "x";
  int epochs = 4;
  bool flag = false;
  std::uint64_t seed = 1;
  Inner inner;
  template <class V>
  void visit(V& v) {
    v("name", name, "a name");
    v("epochs", epochs, "epochs");
    v("flag", flag, "a flag");
    v("seed", seed, "seed");
    v("inner", inner, "nested options");
  }
};

struct NodeHolder {
  Node grid;
  template <class V>
  void visit(V& v) {
    v("grid", grid, "a raw node");
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, BindsValuesAndKeepsDefaults) {
  Node n = parse_yaml("epochs: 7\ninner:\n  lr: 3e-4\n", "a.yaml");
  Outer o;
  bind(n, "", o);
  EXPECT_EQ(o.epochs, 7);
  EXPECT_DOUBLE_EQ(o.inner.lr, 3e-4);
  EXPECT_EQ(o.name, "x");
  EXPECT_EQ(o.inner.sizes, (std::vector<std::int64_t>{64, 64}));
}

TEST(ConfigTest, UnknownKeyNamesKeyFileAndNearestValidKey) {
  Node n = parse_yaml("epochs: 7\ninner:\n  lrr: 3e-4\n", "a.yaml");
  Outer o;
  std::string msg = error_of([&] { bind(n, "", o); });
  EXPECT_NE(msg.find("inner.lrr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'inner.lr'"), std::string::npos) << msg;
}

TEST(ConfigTest, WrongTypeNamesKeyAndValue) {
  Outer o;
  std::string msg = error_of([&] { bind(parse_yaml("epochs: many\n", "b.yaml"), "", o); });
  EXPECT_NE(msg.find("'epochs' expects an integer, got 'many'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("b.yaml:1"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { bind(parse_yaml("flag: maybe\n", "b.yaml"), "", o); }), "");
  EXPECT_NE(error_of([&] { bind(parse_yaml("seed: -3\n", "b.yaml"), "", o); }), "");
  EXPECT_NE(error_of([&] { bind(parse_yaml("inner: 3\n", "b.yaml"), "", o); }), "");
  EXPECT_NE(error_of([&] { bind(parse_yaml("inner: {sizes: 3}\n", "b.yaml"), "", o); }), "");
  EXPECT_NE(error_of([&] { bind(parse_yaml("epochs: 1.5\n", "b.yaml"), "", o); }), "");
  EXPECT_NE(error_of([&] { bind(parse_yaml("epochs: 99999999999\n", "b.yaml"), "", o); }), "");
}

TEST(ConfigTest, OverridesReplaceAndCreateValues) {
  Node n = parse_yaml("epochs: 7\n", "a.yaml");
  apply_override(n, "inner.lr=0.5");
  apply_override(n, "epochs=9");
  apply_override(n, "inner.sizes=[8, 16, 32]");
  Outer o;
  bind(n, "", o);
  EXPECT_EQ(o.epochs, 9);
  EXPECT_DOUBLE_EQ(o.inner.lr, 0.5);
  EXPECT_EQ(o.inner.sizes, (std::vector<std::int64_t>{8, 16, 32}));
}

TEST(ConfigTest, OverrideErrorsNameTheArgument) {
  Node n = parse_yaml("epochs: 7\n", "a.yaml");
  EXPECT_NE(error_of([&] { apply_override(n, "noequals"); }).find("KEY=VALUE"), std::string::npos);
  apply_override(n, "inner.lrate=1");
  Outer o;
  std::string msg = error_of([&] { bind(n, "", o); });
  EXPECT_NE(msg.find("--set inner.lrate=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'inner.lr'"), std::string::npos) << msg;
}

TEST(ConfigTest, ResolvedConfigRoundTrips) {
  Outer o;
  o.name = "quote\"d";
  o.epochs = 3;
  o.flag = true;
  o.inner.lr = 2.5e-4;
  o.inner.sizes = {1, 2};
  std::string yaml = to_yaml(o);
  EXPECT_NE(yaml.find("# learning rate"), std::string::npos) << yaml;
  Outer back;
  bind(parse_yaml(yaml, "resolved"), "", back);
  EXPECT_EQ(back.name, o.name);
  EXPECT_EQ(back.epochs, 3);
  EXPECT_TRUE(back.flag);
  EXPECT_DOUBLE_EQ(back.inner.lr, 2.5e-4);
  EXPECT_EQ(back.inner.sizes, o.inner.sizes);
}

TEST(ConfigTest, FlowTextOfNestedValuesParsesBackAsAnOverride) {
  Node n = parse_yaml("grid:\n  - {name: tmaze, sizes: [1, 2]}\n  - 'quoted text'\n  - [[64, 64], 3e-4]\n", "g.yaml");
  const Node& grid = *n.find("grid");
  EXPECT_EQ(flow_text(grid), "[{name: tmaze, sizes: [1, 2]}, \"quoted text\", [[64, 64], 3e-4]]");
  Node root;
  apply_override(root, "x=" + flow_text(grid));
  EXPECT_EQ(flow_text(*root.find("x")), flow_text(grid));
  // The resolved-config writer puts a list of mappings in flow style, so it reads back.
  NodeHolder h{grid};
  NodeHolder back;
  bind(parse_yaml(to_yaml(h), "resolved"), "", back);
  EXPECT_EQ(flow_text(back.grid), flow_text(grid));
}

TEST(ConfigTest, InvalidYamlAndMissingFileAreConfigErrors) {
  EXPECT_THROW(parse_yaml("a: [1, 2\n", "bad.yaml"), ConfigError);
  EXPECT_THROW(load_file("/nonexistent/x.yaml"), ConfigError);
  EXPECT_THROW(parse_yaml("a: 1\na: 2\n", "dup.yaml"), ConfigError);
}

TEST(ConfigTest, NearestFindsCloseKeysOnly) {
  EXPECT_EQ(nearest("epoch", {"epochs", "lr"}), "epochs");
  EXPECT_EQ(nearest("zzzzzz", {"epochs", "lr"}), "");
}

}  // namespace
}  // namespace mnemo::config
