// Which rank plays which role under mpirun: the `topology:` section and the placement of its
// roles on the run's nodes (docs/launching.md, "Placing roles on nodes").
//
// Every rank names its node (the host other ranks reach it at: its host name, or its address on
// `topology.interface`) and the GPUs it sees; the ranks exchange these over MPI and each computes
// the same placement from them. Torch- and MPI-free, so that it is tested on its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnemo::launch {

struct TopologyOptions {
  std::int64_t learners = 1;
  std::int64_t replay = 1;
  std::int64_t replay_per_node = 0;
  std::vector<std::string> learner_nodes;
  bool evaluator = false;
  std::string interface;
  template <class V>
  void visit(V& v) {
    v("learners", learners, "learner ranks (data-parallel), on the lowest ranks of learner_nodes");
    v("replay", replay, "replay shards, spread over the nodes round-robin; every rank left is an actor");
    v("replay_per_node", replay_per_node, "> 0: this many replay shards on every node (replaces replay)");
    v("learner_nodes", learner_nodes, "nodes for the learners (host names or 0-based node numbers); empty: any");
    v("evaluator", evaluator, "the highest free rank evaluates (evaluator.every) instead of acting");
    v("interface", interface, "network interface or IPv4 prefix (eth0, 10.0.0.0/8) whose address a rank advertises and names its node by; empty: the host name");
  }
  // Throws ConfigError naming the field.
  void validate() const;
};

// What a rank tells the others about itself.
struct RankSite {
  std::string node;      // host name or address: ranks with the same one share a node
  std::int64_t gpus = 0; // CUDA devices the rank sees
};

enum class Role { kLearner, kReplay, kActor, kEvaluator };
const char* role_name(Role r);

struct Placement {
  std::vector<Role> role;            // per world rank
  std::vector<std::int64_t> index;   // per world rank: learner index, shard index or actor id
  std::vector<int> node;             // per world rank: its node's number
  std::vector<int> learners, shards, actors;  // world ranks, in role index order
  int evaluator = -1;                // world rank, or -1
  std::vector<std::string> nodes;    // node names, in order of their lowest rank
  int chief() const { return learners.front(); }
  // One line per node: "node 0 (h0): rank 0 learner 0, rank 1 replay 0".
  std::string describe() const;
};

// Places the roles on `sites` (one per world rank). With `gpu_learners`, learners go only on ranks
// whose node-local index is below the GPUs they see (one learner per GPU). Throws ConfigError when
// the ranks cannot hold the roles, saying how many ranks it takes.
Placement place_roles(const std::vector<RankSite>& sites, const TopologyOptions& t, bool gpu_learners);

// This process's node name for `interface` (see TopologyOptions::interface): the host name when
// empty, else the IPv4 address of the named interface or the first one within the prefix. Throws
// ConfigError listing the interfaces there are when none matches.
std::string node_name(const std::string& interface);

}  // namespace mnemo::launch
