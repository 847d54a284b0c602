#include "launch/placement.h"

#include <gtest/gtest.h>

#include "core/check.h"

namespace mnemo::launch {
namespace {

std::vector<RankSite> sites(const std::vector<std::string>& nodes, std::int64_t gpus = 0) {
  std::vector<RankSite> out;
  for (const auto& n : nodes) out.push_back({n, gpus});
  return out;
}

TopologyOptions topo(std::int64_t learners, std::int64_t replay, bool evaluator = false) {
  TopologyOptions t;
  t.learners = learners;
  t.replay = replay;
  t.evaluator = evaluator;
  return t;
}

TEST(PlacementTest, OneNodeKeepsTheRankOrderLearnersReplayActorsEvaluatorLast) {
  const Placement p = place_roles(sites({"a", "a", "a", "a", "a", "a"}), topo(2, 2, true), false);
  EXPECT_EQ(p.learners, (std::vector<int>{0, 1}));
  EXPECT_EQ(p.shards, (std::vector<int>{2, 3}));
  EXPECT_EQ(p.actors, (std::vector<int>{4}));
  EXPECT_EQ(p.evaluator, 5);
  EXPECT_EQ(p.chief(), 0);
  EXPECT_EQ(p.index[4], 0);  // actor id
  EXPECT_EQ(p.index[3], 1);  // shard index
  EXPECT_EQ(p.nodes, (std::vector<std::string>{"a"}));
}

TEST(PlacementTest, ShardsSpreadOverNodesRoundRobin) {
  // Two nodes of three ranks, by-slot mapping (ranks 0-2 on a, 3-5 on b).
  const Placement p = place_roles(sites({"a", "a", "a", "b", "b", "b"}), topo(1, 2), false);
  EXPECT_EQ(p.learners, (std::vector<int>{0}));
  EXPECT_EQ(p.shards, (std::vector<int>{1, 3}));
  EXPECT_EQ(p.actors, (std::vector<int>{2, 4, 5}));
  EXPECT_EQ(p.node[3], 1);
}

TEST(PlacementTest, ReplayPerNodePutsShardsOnEveryNode) {
  TopologyOptions t = topo(1, 1);
  t.replay_per_node = 1;
  const Placement p = place_roles(sites({"a", "b", "c", "a", "b", "c"}), t, false);  // by-node mapping
  EXPECT_EQ(p.shards, (std::vector<int>{3, 1, 2}));  // a's first free rank, then b's, then c's
  EXPECT_EQ(p.index[1], 1);
  EXPECT_EQ(p.actors, (std::vector<int>{4, 5}));
}

TEST(PlacementTest, LearnerNodesByNameOrNumber) {
  TopologyOptions t = topo(2, 1);
  t.learner_nodes = {"gpu"};
  const Placement p = place_roles(sites({"cpu", "cpu", "gpu", "gpu", "cpu"}), t, false);
  EXPECT_EQ(p.learners, (std::vector<int>{2, 3}));
  EXPECT_EQ(p.chief(), 2);
  EXPECT_EQ(p.shards, (std::vector<int>{0}));  // node 0 (cpu) first
  EXPECT_EQ(p.actors, (std::vector<int>{1, 4}));
  t.learner_nodes = {"1"};
  EXPECT_EQ(place_roles(sites({"cpu", "cpu", "gpu", "gpu", "cpu"}), t, false).learners, (std::vector<int>{2, 3}));
  t.learner_nodes = {"nowhere"};
  try {
    place_roles(sites({"cpu", "gpu"}), t, false);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'nowhere', which is none of this run's nodes: 0 (cpu), 1 (gpu)"),
              std::string::npos)
        << e.what();
  }
}

TEST(PlacementTest, GpuLearnersTakeOneRankPerGpu) {
  std::vector<RankSite> s = {{"a", 0}, {"a", 0}, {"b", 2}, {"b", 2}, {"b", 2}, {"a", 0}};
  const Placement p = place_roles(s, topo(2, 1), true);
  EXPECT_EQ(p.learners, (std::vector<int>{2, 3}));  // b's local ranks 0 and 1; its third has no GPU left
  EXPECT_EQ(p.shards, (std::vector<int>{0}));
  try {
    place_roles(s, topo(3, 1), true);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("with a GPU each"), std::string::npos) << e.what();
  }
}

TEST(PlacementTest, TooFewRanksSaysHowManyItTakes) {
  try {
    place_roles(sites({"a", "a", "a"}), topo(1, 2), false);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("run with -np 4 or more"), std::string::npos) << e.what();
  }
  TopologyOptions t = topo(1, 1);
  t.replay_per_node = 2;
  try {
    place_roles(sites({"a", "a", "a", "a", "b"}), t, false);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("node 1 (b) has 1 rank, too few for 2 replay shards"), std::string::npos)
        << e.what();
  }
}

TEST(PlacementTest, DescribeListsEveryRankByNode) {
  const Placement p = place_roles(sites({"a", "a", "b", "b"}), topo(1, 1, true), false);
  EXPECT_EQ(p.describe(), "node 0 (a): rank 0 learner 0, rank 1 replay 0\nnode 1 (b): rank 2 actor 0, rank 3 evaluator");
}

TEST(PlacementTest, NodeNameIsTheHostNameOrAnInterfaceAddress) {
  EXPECT_FALSE(node_name("").empty());
  EXPECT_EQ(node_name("lo"), "127.0.0.1");
  EXPECT_EQ(node_name("127.0.0.0/8"), "127.0.0.1");
  try {
    node_name("10.254.254.0/24");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lo 127.0.0.1"), std::string::npos) << e.what();
  }
  TopologyOptions t;
  t.interface = "10.0.0.0/33";
  EXPECT_THROW(t.validate(), ConfigError);
  t.interface = "eth0";
  EXPECT_NO_THROW(t.validate());
}

}  // namespace
}  // namespace mnemo::launch
