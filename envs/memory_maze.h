// Memory Maze: a 2-D, grid-world rendition of Memory Maze (Pasukonis et al. 2022), the long-term
// spatial memory benchmark.
//
// A procedurally generated maze holds K coloured objects. The agent sees a small egocentric,
// partial RGB view of the maze around it and, as a border of the image and as a separate field,
// the colour of its current target. Touching the target pays +1 and picks a new target among the
// other objects, whose places stay fixed for the episode, so an agent that remembers where it
// saw each colour collects targets much faster than one that explores again each time.
//
// The published env is 3-D (MuJoCo, first-person camera, continuous motion at 4 Hz). This one
// keeps its task, sizes, object counts, step limits, action set and observation layout, but moves
// on a grid and draws a top-down view of the cells ahead (occluded by walls, as MiniGrid does):
// cheap enough for 100k+ steps/s per core, so a memory agent is never env-bound.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `memory_maze` env. The published sizes are 9, 11, 13 and 15 (cells per side,
// outer walls not counted) with 3, 4, 5 and 6 objects and 1000 to 4000 steps.
struct MemoryMazeOptions {
  std::int64_t size = 9;
  std::int64_t num_objects = 0;
  std::int64_t max_steps = 0;
  std::int64_t image_size = 64;
  std::int64_t view_size = 7;

  template <class V>
  void visit(V& v) {
    v("size", size, "maze cells per side without outer walls: odd, in [7, 31] (published: 9, 11, 13, 15)");
    v("num_objects", num_objects, "coloured objects, <= 8; 0 = as published for the size ((size - 3) / 2)");
    v("max_steps", max_steps, "truncate episodes after this many steps; 0 = as published (500 * (size - 7))");
    v("image_size", image_size, "height and width of the RGB observation in pixels");
    v("view_size", view_size, "cells the view spans across and ahead (odd, the agent sits at the bottom middle)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
  // The object count and step limit after applying the published defaults for the size.
  std::int64_t resolved_num_objects() const;
  std::int64_t resolved_max_steps() const;
};

// Observation: "image" uint8[S, S, 3] (height, width, channel as in the published env), the
// view_size x view_size cells ahead of the agent with the agent at the bottom middle facing up,
// cells hidden behind walls black, framed by a border in the target's colour; "target_color"
// float32[3], the target's RGB in [0, 1].
// Actions discrete(6), the published discrete set: 0 nothing, 1 forward, 2 turn left, 3 turn
// right, 4 forward then turn left, 5 forward then turn right. Walking into a wall does nothing.
// Entering the target's cell gives +1 and a new target (a different object when K > 1).
// Never terminates; truncates after max_steps. Info "targets": targets reached this episode.
class MemoryMaze : public Env {
 public:
  static constexpr const char* kName = "memory_maze";
  static constexpr const char* kDescription =
      "Memory Maze (2-D grid version): K coloured objects, egocentric RGB view, target colour; discrete(6)";
  using Options = MemoryMazeOptions;

  enum Action : std::int64_t { kNoop = 0, kForward = 1, kLeft = 2, kRight = 3, kForwardLeft = 4, kForwardRight = 5 };
  enum Direction : int { kNorth = 0, kEast = 1, kSouth = 2, kWest = 3 };
  static constexpr int kMaxObjects = 8;

  explicit MemoryMaze(MemoryMazeOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"targets"}; }
  void infos(float* out) const override { out[0] = static_cast<float>(targets_reached_); }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The whole maze from above (objects, agent, the target ringed in white) beside the agent's
  // view at twice its size.
  void render(Frame& frame) const override;

  // For tests and tools. Cells are (x, y) packed as y * width() + x on the map with outer walls.
  std::int64_t width() const { return width_; }
  bool is_wall(std::int64_t cell) const { return walls_[static_cast<std::size_t>(cell)] != 0; }
  std::int64_t agent_cell() const { return agent_; }
  int direction() const { return dir_; }
  int target() const { return target_; }
  int num_objects() const { return num_objects_; }
  std::int64_t object_cell(int k) const { return objects_[static_cast<std::size_t>(k)]; }
  static std::array<std::uint8_t, 3> object_color(int k);
  // Puts the agent on a free cell facing a direction.
  void place_agent(std::int64_t cell, int dir);
  std::int64_t max_steps() const { return max_steps_; }

 private:
  void generate_maze();
  void draw_view(std::uint8_t* image) const;
  void write_obs(const ObsSlot& out) const;
  void build_tiles();

  MemoryMazeOptions options_;
  std::int64_t size_ = 9, width_ = 11, max_steps_ = 1000;
  int num_objects_ = 3;
  int view_ = 7, image_ = 64, cell_px_ = 8, border_ = 4;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  std::vector<std::uint8_t> walls_;       // per map cell
  std::vector<std::int8_t> object_at_;    // per map cell: object index or -1
  std::vector<std::int64_t> objects_;     // per object: its cell
  std::vector<std::int64_t> stack_;       // maze generation scratch
  // Pre-drawn cell_px x cell_px tiles, so drawing the view is a few hundred small memcpys:
  // floor, wall, hidden, then per object the object tile, then the agent on floor and per object
  // the agent on that object.
  std::vector<std::uint8_t> tiles_;
  std::int64_t agent_ = 0;
  int dir_ = kNorth;
  int target_ = 0;
  std::int64_t targets_reached_ = 0;
  std::int64_t steps_ = 0;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace mnemo::envs
