// The scripted experts. See experts.h.
#include "envs/experts.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <typeinfo>

#include "envs/cartpole.h"
#include "envs/catch.h"
#include "envs/key_to_door.h"
#include "envs/tmaze.h"

namespace mnemo::envs {
namespace {

void write_discrete(std::int64_t a, void* action) { std::memcpy(action, &a, sizeof a); }

// The env behind `env` as the type E the expert reads, or a clear error.
template <class E>
const E& as(const Env& env) {
  const auto* e = dynamic_cast<const E*>(&env);
  if (e == nullptr)
    throw Error(std::string("the ") + E::kName + " expert was given another kind of env (" + typeid(env).name() + ")");
  return *e;
}

// Key-to-Door: in the key room walk to the key, in the distractor room to the nearest apple (if
// any), in the door room to the door. Every room is open (no inner walls), so walking along the
// row, then along the column is a shortest path. A room's side is at most 2 * (room_size - 1)
// steps, within each phase's steps for the default options.
class KeyToDoorExpert : public Expert {
 public:
  void act(const Env& env, void* action) const override {
    const auto& e = as<KeyToDoor>(env);
    const std::int64_t n = e.options().room_size;
    std::int64_t target = -1;
    switch (e.phase()) {
      case KeyToDoor::kKeyPhase: target = e.key_cell(); break;
      case KeyToDoor::kDistractorPhase: target = nearest(e.agent_cell(), e.apple_cells(), n); break;
      case KeyToDoor::kDoorPhase: target = e.door_cell(); break;
      default: break;
    }
    write_discrete(step_towards(e.agent_cell(), target, n), action);
  }

 private:
  static std::int64_t nearest(std::int64_t from, const std::vector<std::int64_t>& cells, std::int64_t n) {
    std::int64_t best = -1, best_d = std::numeric_limits<std::int64_t>::max();
    for (std::int64_t c : cells) {
      const std::int64_t d = std::llabs(c / n - from / n) + std::llabs(c % n - from % n);
      if (d < best_d) {
        best = c;
        best_d = d;
      }
    }
    return best;
  }
  // Actions: 0 up, 1 right, 2 down, 3 left. With nothing to reach (the key already taken, no
  // apples) the agent pushes against the top wall, which changes nothing.
  static std::int64_t step_towards(std::int64_t from, std::int64_t to, std::int64_t n) {
    if (to < 0) return 0;
    const std::int64_t dr = to / n - from / n, dc = to % n - from % n;
    if (dr < 0) return 0;
    if (dr > 0) return 2;
    if (dc > 0) return 1;
    if (dc < 0) return 3;
    return 0;
  }
};

// T-Maze: the cue says which arm pays; walk right to the junction, then turn that way.
class TMazeExpert : public Expert {
 public:
  void act(const Env& env, void* action) const override {
    const auto& e = as<TMaze>(env);
    const bool at_junction = e.position() == e.options().corridor_length - 1;
    write_discrete(at_junction ? e.goal() : static_cast<std::int64_t>(TMaze::kRight), action);
  }
};

// CartPole: push the cart the way the pole falls, leaning on the angular velocity so the push
// comes before the pole is far off, and on the cart's position and velocity, weakly, so the cart
// drifts back towards the centre instead of leaving the track before max_steps.
std::int64_t balance(const std::array<double, 4>& s) {
  const double x = s[0], x_dot = s[1], theta = s[2], theta_dot = s[3];
  const double u = theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot;
  return u > 0 ? 1 : 0;
}

class CartPoleExpert : public Expert {
 public:
  void act(const Env& env, void* action) const override { write_discrete(balance(as<CartPole>(env).state()), action); }
};

// Masked CartPole hides the velocities from the agent, not from the expert.
class MaskedCartPoleExpert : public Expert {
 public:
  void act(const Env& env, void* action) const override {
    write_discrete(balance(as<MaskedCartPole>(env).inner().state()), action);
  }
};

// Catch: move the paddle under the ball's column (0 left, 1 stay, 2 right). The ball falls
// rows - 1 steps, enough to cross a board no wider than that.
class CatchExpert : public Expert {
 public:
  void act(const Env& env, void* action) const override {
    const auto& e = as<Catch>(env);
    const std::int64_t d = e.ball_column() - e.paddle_column();
    write_discrete(d < 0 ? 0 : d > 0 ? 2 : 1, action);
  }
};

struct Entry {
  const char* env;
  std::function<std::unique_ptr<Expert>()> make;
};

// In registry order (envs/registry.h).
const std::vector<Entry>& entries() {
  static const std::vector<Entry> list = {
      {CartPole::kName, [] { return std::make_unique<CartPoleExpert>(); }},
      {MaskedCartPole::kName, [] { return std::make_unique<MaskedCartPoleExpert>(); }},
      {TMaze::kName, [] { return std::make_unique<TMazeExpert>(); }},
      {KeyToDoor::kName, [] { return std::make_unique<KeyToDoorExpert>(); }},
      {Catch::kName, [] { return std::make_unique<CatchExpert>(); }},
  };
  return list;
}

}  // namespace

std::vector<std::string> expert_env_names() {
  std::vector<std::string> names;
  for (const Entry& e : entries()) names.emplace_back(e.env);
  return names;
}

std::unique_ptr<Expert> make_expert(const std::string& env_name) {
  for (const Entry& e : entries())
    if (env_name == e.env) return e.make();
  std::string list;
  for (const std::string& n : expert_env_names()) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("env '" + env_name + "' has no scripted expert (envs with one: " + list + ")");
}

}  // namespace mnemo::envs
