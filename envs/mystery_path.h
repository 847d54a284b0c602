// Mystery Path: Memory Gym's grid task (Pleines et al. 2023, MysteryPath-Grid) of finding and
// remembering an invisible path.
//
// A path leads across a square grid from an origin on one border to a goal on the opposite one.
// The path is invisible: the agent learns where it is only by stepping off it, which sends it
// back to the origin (the episode goes on). To reach the goal the agent must remember every cell
// it has found to be safe or deadly. The "easy" variant shows the origin and the goal and pays
// a small reward for every new path cell, which makes the task learnable without curricula.
#pragma once

#include <cstdint>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `mystery_path` env. Defaults are MysteryPath-Grid's.
struct MysteryPathOptions {
  std::int64_t grid_size = 7;
  std::int64_t max_steps = 128;
  bool easy = false;
  double path_progress_reward = 0.1;
  double goal_reward = 1.0;
  bool visual_feedback = true;

  template <class V>
  void visit(V& v) {
    v("grid_size", grid_size, "cells per side of the grid, >= 3");
    v("max_steps", max_steps, "truncate episodes after this many steps");
    v("easy", easy, "show origin and goal and reward path progress (Memory Gym's easy mode)");
    v("path_progress_reward", path_progress_reward, "reward for each path cell reached the first time (easy only)");
    v("goal_reward", goal_reward, "reward for reaching the goal (ends the episode)");
    v("visual_feedback", visual_feedback, "mark the cell where the agent fell off, for one step");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation: "grid" uint8[4, G, G], planes 0 the agent, 1 the origin (easy only), 2 the goal
// (easy only), 3 the cell the agent just fell off (visual_feedback only, for the step of the
// fall); "direction" uint8[4], one-hot facing (north, west, south, east).
// Actions discrete(4), the grid controller of Memory Gym: 0 nothing, 1 turn left, 2 turn right,
// 3 forward (clamped to the grid). Stepping off the path shows the fall for one step; the next
// step puts the agent back on the origin whatever the action. Reaching the goal ends the episode
// with goal_reward; max_steps truncates it. Infos: "success" (reached the goal this step),
// "fell" (left the path this step).
class MysteryPath : public Env {
 public:
  static constexpr const char* kName = "mystery_path";
  static constexpr const char* kDescription =
      "Mystery Path (Memory Gym, grid): invisible path, falling off returns to origin; obs uint8[4,G,G]+dir, discrete(4)";
  using Options = MysteryPathOptions;

  enum Action : std::int64_t { kNoop = 0, kTurnLeft = 1, kTurnRight = 2, kForward = 3 };
  enum Direction : int { kNorth = 0, kWest = 1, kSouth = 2, kEast = 3 };

  explicit MysteryPath(MysteryPathOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"success", "fell"}; }
  void infos(float* out) const override {
    out[0] = success_ ? 1.0f : 0.0f;
    out[1] = fell_ ? 1.0f : 0.0f;
  }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The grid from above with the path drawn faintly (what the agent must discover), origin in
  // blue, goal in green, the agent with its facing and a red cross where it fell.
  void render(Frame& frame) const override;

  // For tests and tools. Cells are (x, y) packed as y * grid_size + x; y grows southwards.
  std::int64_t agent_cell() const { return agent_; }
  int direction() const { return dir_; }
  std::int64_t origin() const { return path_.front(); }
  std::int64_t goal() const { return path_.back(); }
  // The path from origin to goal, every step to a 4-neighbour.
  const std::vector<std::int64_t>& path() const { return path_; }
  bool on_path(std::int64_t cell) const { return on_path_[static_cast<std::size_t>(cell)] != 0; }
  // Puts the agent on a cell facing a direction, as if it had walked there.
  void place_agent(std::int64_t cell, int dir);

 private:
  void generate_path();
  void write_obs(const ObsSlot& out) const;

  MysteryPathOptions options_;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  std::vector<std::int64_t> path_;
  std::vector<std::uint8_t> on_path_;  // per cell
  std::vector<std::uint8_t> visited_;  // per cell: path progress already rewarded
  // Scratch for path generation, kept to avoid allocating on every reset.
  std::vector<std::uint8_t> blocked_;
  std::vector<std::int64_t> dist_, prev_;
  std::int64_t agent_ = 0;
  int dir_ = kNorth;
  std::int64_t fall_cell_ = -1;  // shown this step
  bool off_path_ = false;        // the next step returns the agent to the origin
  std::int64_t steps_ = 0;
  bool success_ = false;
  bool fell_ = false;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace mnemo::envs
