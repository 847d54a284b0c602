// Mystery Path: path generation and the grid controller.
//
// The path is a shortest path under random step costs (Dijkstra with costs drawn from 1..8) on a
// grid where a third of the inner cells are blocked, which gives winding paths like Memory Gym's
// A* with random cost noise, with a well-defined result. Grids are tiny (49 cells by default), so
// an O(cells^2) Dijkstra is simpler and as fast as a heap.
#include "envs/mystery_path.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "envs/draw.h"

namespace mnemo::envs {

void MysteryPathOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& rule, const std::string& got) {
    throw ConfigError("env." + key + " must be " + rule + " for mystery_path, got " + got);
  };
  if (grid_size < 3 || grid_size > 64) fail("grid_size", "in [3, 64]", std::to_string(grid_size));
  if (max_steps <= 0) fail("max_steps", "> 0", std::to_string(max_steps));
  if (!std::isfinite(path_progress_reward)) fail("path_progress_reward", "finite", std::to_string(path_progress_reward));
  if (!std::isfinite(goal_reward)) fail("goal_reward", "finite", std::to_string(goal_reward));
}

MysteryPath::MysteryPath(MysteryPathOptions options) : options_(options), space_(ActionSpace::discrete(4)) {
  options_.validate();
  const std::int64_t g = options_.grid_size;
  spec_ = Spec{{{"grid", DType::kUInt8, {4, g, g}}, {"direction", DType::kUInt8, {4}}}};
  const auto cells = static_cast<std::size_t>(g * g);
  on_path_.assign(cells, 0);
  visited_.assign(cells, 0);
  blocked_.assign(cells, 0);
  dist_.assign(cells, 0);
  prev_.assign(cells, 0);
  path_.reserve(cells);
}

void MysteryPath::generate_path() {
  const std::int64_t g = options_.grid_size;
  const std::int64_t cells = g * g;
  // Origin on a random border, goal anywhere on the opposite border.
  const auto side = rng_.below(4);
  const auto a = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(g)));
  const auto b = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(g)));
  std::int64_t origin = 0, goal = 0;
  switch (side) {
    case 0: origin = a * g + 0; goal = b * g + (g - 1); break;        // west -> east
    case 1: origin = a * g + (g - 1); goal = b * g + 0; break;        // east -> west
    case 2: origin = 0 * g + a; goal = (g - 1) * g + b; break;        // north -> south
    default: origin = (g - 1) * g + a; goal = 0 * g + b; break;       // south -> north
  }
  constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::max();
  for (int attempt = 0;; ++attempt) {
    // Blocks only away from the border, as in Memory Gym; after a few dead ends, none at all,
    // which always leaves a path.
    for (std::int64_t c = 0; c < cells; ++c) {
      const std::int64_t x = c % g, y = c / g;
      const bool inner = x > 0 && x < g - 2 && y > 0 && y < g - 2;
      blocked_[static_cast<std::size_t>(c)] = attempt < 8 && inner && rng_.below(100) < 33 ? 1 : 0;
    }
    blocked_[static_cast<std::size_t>(origin)] = 0;
    blocked_[static_cast<std::size_t>(goal)] = 0;
    std::fill(dist_.begin(), dist_.end(), kInf);
    std::fill(visited_.begin(), visited_.end(), 0);
    dist_[static_cast<std::size_t>(origin)] = 0;
    prev_[static_cast<std::size_t>(origin)] = -1;
    for (;;) {
      std::int64_t u = -1;
      for (std::int64_t c = 0; c < cells; ++c)
        if (!visited_[c] && dist_[c] != kInf && (u < 0 || dist_[c] < dist_[u])) u = c;
      if (u < 0 || u == goal) break;
      visited_[static_cast<std::size_t>(u)] = 1;
      const std::int64_t ux = u % g, uy = u / g;
      const std::int64_t nbr[4] = {uy > 0 ? u - g : -1, ux > 0 ? u - 1 : -1, uy < g - 1 ? u + g : -1,
                                   ux < g - 1 ? u + 1 : -1};
      for (std::int64_t v : nbr) {
        if (v < 0 || blocked_[v] || visited_[v]) continue;
        const std::int64_t d = dist_[u] + 1 + static_cast<std::int64_t>(rng_.below(8));
        if (d < dist_[v]) {
          dist_[v] = d;
          prev_[v] = u;
        }
      }
    }
    if (dist_[static_cast<std::size_t>(goal)] != kInf) break;
  }
  path_.clear();
  for (std::int64_t c = goal; c >= 0; c = prev_[static_cast<std::size_t>(c)]) path_.push_back(c);
  std::reverse(path_.begin(), path_.end());
  std::fill(on_path_.begin(), on_path_.end(), 0);
  for (std::int64_t c : path_) on_path_[static_cast<std::size_t>(c)] = 1;
  std::fill(visited_.begin(), visited_.end(), 0);
}

void MysteryPath::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  generate_path();
  agent_ = origin();
  dir_ = kNorth;  // Memory Gym starts every episode facing north
  fall_cell_ = -1;
  off_path_ = false;
  steps_ = 0;
  success_ = false;
  fell_ = false;
  started_ = true;
  running_ = true;
  write_obs(out);
}

void MysteryPath::place_agent(std::int64_t cell, int dir) {
  MNEMO_CHECK(cell >= 0 && cell < options_.grid_size * options_.grid_size, "cell ", cell, " outside the grid");
  MNEMO_CHECK(dir >= 0 && dir < 4, "direction ", dir);
  agent_ = cell;
  dir_ = dir;
  off_path_ = false;
}

StepResult MysteryPath::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error(std::string("mystery_path: step called ") + (started_ ? "after the episode ended" : "before reset") +
                "; call reset first");
  }
  const std::int64_t g = options_.grid_size;
  StepResult r;
  success_ = false;
  fell_ = false;
  if (off_path_) {
    // The step after a fall is spent being carried back; the action is ignored, as in Memory Gym.
    agent_ = origin();
    off_path_ = false;
  } else if (a == kTurnLeft) {
    dir_ = (dir_ + 1) % 4;
  } else if (a == kTurnRight) {
    dir_ = (dir_ + 3) % 4;
  } else if (a == kForward) {
    std::int64_t x = agent_ % g, y = agent_ / g;
    if (dir_ == kNorth && y > 0) --y;
    if (dir_ == kSouth && y < g - 1) ++y;
    if (dir_ == kWest && x > 0) --x;
    if (dir_ == kEast && x < g - 1) ++x;
    agent_ = y * g + x;
  }
  fall_cell_ = -1;
  if (agent_ == goal()) {
    r.reward += static_cast<float>(options_.goal_reward);
    r.terminated = true;
    success_ = true;
  } else if (on_path(agent_)) {
    auto& seen = visited_[static_cast<std::size_t>(agent_)];
    if (!seen && agent_ != origin()) {
      if (options_.easy) r.reward += static_cast<float>(options_.path_progress_reward);
      seen = 1;
    }
  } else {
    fell_ = true;
    off_path_ = true;
    if (options_.visual_feedback) fall_cell_ = agent_;
  }
  ++steps_;
  r.truncated = !r.terminated && steps_ >= options_.max_steps;
  running_ = !(r.terminated || r.truncated);
  write_obs(out);
  return r;
}

void MysteryPath::write_obs(const ObsSlot& out) const {
  const std::int64_t cells = options_.grid_size * options_.grid_size;
  std::uint8_t* grid = out.as<std::uint8_t>(0);
  std::memset(grid, 0, static_cast<std::size_t>(4 * cells));
  grid[agent_] = 1;
  if (options_.easy) {
    grid[cells + origin()] = 1;
    grid[2 * cells + goal()] = 1;
  }
  if (fall_cell_ >= 0) grid[3 * cells + fall_cell_] = 1;
  std::uint8_t* dir = out.as<std::uint8_t>(1);
  std::memset(dir, 0, 4);
  dir[dir_] = 1;
}

void MysteryPath::render(Frame& frame) const {
  const int g = static_cast<int>(options_.grid_size);
  const int cell = std::max(8, 168 / g);
  frame.resize(g * cell, g * cell);
  Canvas c(frame);
  c.fill(colors::kBlack);
  for (std::int64_t p : path_) {
    const int x = static_cast<int>(p % g) * cell, y = static_cast<int>(p / g) * cell;
    c.rect(x + 1, y + 1, x + cell - 1, y + cell - 1, Rgb{40, 40, 40});
  }
  auto fill_cell = [&](std::int64_t p, Rgb col) {
    const int x = static_cast<int>(p % g) * cell, y = static_cast<int>(p / g) * cell;
    c.rect(x, y, x + cell, y + cell, col);
  };
  fill_cell(origin(), colors::kBlue);
  fill_cell(goal(), colors::kGreen);
  const double ax = (agent_ % g + 0.5) * cell, ay = (agent_ / g + 0.5) * cell, s = cell * 0.4;
  // A triangle pointing where the agent faces.
  static constexpr double kFx[4] = {0, -1, 0, 1}, kFy[4] = {-1, 0, 1, 0};
  const double fx = kFx[dir_], fy = kFy[dir_];
  c.triangle(ax + fx * s, ay + fy * s, ax - fx * s - fy * s, ay - fy * s + fx * s, ax - fx * s + fy * s,
             ay - fy * s - fx * s, colors::kAgent);
  if (fall_cell_ >= 0) {
    const double x = (fall_cell_ % g) * cell, y = (fall_cell_ / g) * cell;
    c.line(x + 2, y + 2, x + cell - 2, y + cell - 2, 3, colors::kRed);
    c.line(x + cell - 2, y + 2, x + 2, y + cell - 2, 3, colors::kRed);
  }
}

}  // namespace mnemo::envs
