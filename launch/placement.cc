#include "launch/placement.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>

#include "core/check.h"

namespace mnemo::launch {

namespace {

// An IPv4 prefix "a.b.c.d/n" as (network, mask) in host byte order; nullopt for anything else.
std::optional<std::pair<std::uint32_t, std::uint32_t>> ipv4_prefix(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr a{};
  const std::string bits = text.substr(slash + 1);
  if (inet_pton(AF_INET, text.substr(0, slash).c_str(), &a) != 1 || bits.empty() || bits.size() > 2 ||
      !std::all_of(bits.begin(), bits.end(), ::isdigit) || std::stoi(bits) > 32)
    return std::nullopt;
  const int n = std::stoi(bits);
  const std::uint32_t mask = n == 0 ? 0 : ~std::uint32_t{0} << (32 - n);
  return std::make_pair(ntohl(a.s_addr) & mask, mask);
}

}  // namespace

void TopologyOptions::validate() const {
  if (learners < 1) throw ConfigError("config: topology.learners must be at least 1");
  if (replay < 1) throw ConfigError("config: topology.replay must be at least 1");
  if (replay_per_node < 0) throw ConfigError("config: topology.replay_per_node must be 0 (off) or more");
  if (interface.find('/') != std::string::npos && !ipv4_prefix(interface))
    throw ConfigError("config: topology.interface '" + interface +
                      "' is neither an interface name nor an IPv4 prefix like 10.0.0.0/8");
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kLearner: return "learner";
    case Role::kReplay: return "replay";
    case Role::kActor: return "actor";
    case Role::kEvaluator: return "evaluator";
  }
  return "?";
}

namespace {

std::string plural(std::int64_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

Placement place_roles(const std::vector<RankSite>& sites, const TopologyOptions& t, bool gpu_learners) {
  const int size = static_cast<int>(sites.size());
  Placement p;
  p.role.assign(size, Role::kActor);
  p.index.assign(size, -1);
  std::vector<bool> taken(size, false);
  // Nodes in order of their lowest rank, each with its ranks in rank order.
  std::map<std::string, int> node_of_name;
  std::vector<std::vector<int>> ranks_of;
  std::vector<int>& node_of = p.node;
  node_of.assign(size, 0);
  std::vector<int> local(size);
  for (int r = 0; r < size; ++r) {
    auto it = node_of_name.find(sites[r].node);
    if (it == node_of_name.end()) {
      it = node_of_name.emplace(sites[r].node, static_cast<int>(p.nodes.size())).first;
      p.nodes.push_back(sites[r].node);
      ranks_of.emplace_back();
    }
    node_of[r] = it->second;
    local[r] = static_cast<int>(ranks_of[it->second].size());
    ranks_of[it->second].push_back(r);
  }
  const int N = static_cast<int>(p.nodes.size());

  // Learners: the lowest ranks on the chosen nodes (with a GPU each when they train on GPUs).
  std::vector<bool> learner_node(N, t.learner_nodes.empty());
  for (const auto& want : t.learner_nodes) {
    bool found = false;
    for (int n = 0; n < N; ++n)
      if (p.nodes[n] == want || std::to_string(n) == want) learner_node[n] = found = true;
    if (!found) {
      std::string names;
      for (int n = 0; n < N; ++n) names += (n ? ", " : "") + std::to_string(n) + " (" + p.nodes[n] + ")";
      throw ConfigError("config: topology.learner_nodes names '" + want + "', which is none of this run's nodes: " + names);
    }
  }
  for (int r = 0; r < size && static_cast<std::int64_t>(p.learners.size()) < t.learners; ++r) {
    if (!learner_node[node_of[r]]) continue;
    if (gpu_learners && local[r] >= sites[r].gpus) continue;
    p.learners.push_back(r);
  }
  if (static_cast<std::int64_t>(p.learners.size()) < t.learners)
    throw ConfigError("topology.learners: " + plural(t.learners, "learner") + " need as many ranks" +
                      (t.learner_nodes.empty() ? std::string() : " on topology.learner_nodes") +
                      (gpu_learners ? " with a GPU each (one learner per GPU of a node)" : "") + "; there are " +
                      std::to_string(p.learners.size()));
  for (std::size_t i = 0; i < p.learners.size(); ++i) {
    p.role[p.learners[i]] = Role::kLearner;
    p.index[p.learners[i]] = static_cast<std::int64_t>(i);
    taken[p.learners[i]] = true;
  }
  auto lowest_free = [&](int n) {
    for (int r : ranks_of[n])
      if (!taken[r]) return r;
    return -1;
  };
  auto take_shard = [&](int r) {
    p.role[r] = Role::kReplay;
    p.index[r] = static_cast<std::int64_t>(p.shards.size());
    p.shards.push_back(r);
    taken[r] = true;
  };
  // Replay shards: a number per node, or spread over the nodes round-robin.
  if (t.replay_per_node > 0) {
    for (int n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < t.replay_per_node; ++k) {
        const int r = lowest_free(n);
        if (r < 0)
          throw ConfigError("topology.replay_per_node: node " + std::to_string(n) + " (" + p.nodes[n] + ") has " +
                            plural(static_cast<std::int64_t>(ranks_of[n].size()), "rank") + ", too few for " +
                            plural(t.replay_per_node, "replay shard") + " besides its learners");
        take_shard(r);
      }
  } else {
    for (int n = 0; static_cast<std::int64_t>(p.shards.size()) < t.replay; n = (n + 1) % N) {
      bool any = false;
      for (int m = 0; m < N && !any; ++m) any = lowest_free(m) >= 0;
      if (!any) break;
      const int r = lowest_free(n);
      if (r >= 0) take_shard(r);
    }
  }
  const std::int64_t R = static_cast<std::int64_t>(p.shards.size());
  if (t.evaluator)
    for (int r = size - 1; r >= 0; --r)
      if (!taken[r]) {
        p.evaluator = r;
        p.role[r] = Role::kEvaluator;
        p.index[r] = 0;
        taken[r] = true;
        break;
      }
  for (int r = 0; r < size; ++r)
    if (!taken[r]) {
      p.index[r] = static_cast<std::int64_t>(p.actors.size());
      p.actors.push_back(r);
    }
  const std::int64_t wanted_shards = t.replay_per_node > 0 ? t.replay_per_node * N : t.replay;
  if (p.actors.empty() || R < wanted_shards || (t.evaluator && p.evaluator < 0)) {
    const std::int64_t need = t.learners + wanted_shards + (t.evaluator ? 1 : 0) + 1;
    throw ConfigError("topology: " + plural(size, "rank") + " leave no actor after " + plural(t.learners, "learner") +
                      ", " + plural(wanted_shards, "replay shard") + (t.evaluator ? " and the evaluator" : "") +
                      "; run with -np " + std::to_string(need) + " or more");
  }
  return p;
}

std::string Placement::describe() const {
  std::ostringstream out;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    out << (n ? "\n" : "") << "node " << n << " (" << nodes[n] << "):";
    const char* sep = " ";
    for (std::size_t r = 0; r < role.size(); ++r)
      if (node[r] == static_cast<int>(n)) {
        out << sep << "rank " << r << " " << role_name(role[r]);
        if (role[r] != Role::kEvaluator) out << " " << index[r];
        sep = ", ";
      }
  }
  return out.str();
}

std::string node_name(const std::string& interface) {
  if (interface.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    return host;
  }
  const auto prefix = ipv4_prefix(interface);
  if (interface.find('/') != std::string::npos && !prefix)
    throw ConfigError("topology.interface: '" + interface + "' is not an IPv4 prefix like 10.0.0.0/8");
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) throw Error("topology.interface: getifaddrs failed");
  std::string found, seen;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    char text[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    seen += std::string(seen.empty() ? "" : ", ") + i->ifa_name + " " + text;
    const bool match = prefix ? (ntohl(sin->sin_addr.s_addr) & prefix->second) == prefix->first
                              : interface == i->ifa_name;
    if (match && found.empty()) found = text;
  }
  freeifaddrs(list);
  if (found.empty())
    throw ConfigError("topology.interface: no IPv4 address on '" + interface + "' here; this host has " +
                      (seen.empty() ? std::string("none") : seen));
  return found;
}

}  // namespace mnemo::launch
