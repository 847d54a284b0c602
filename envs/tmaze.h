// T-Maze: the long-term memory benchmark used for GTrXL and AGaLiTe (Bakker 2001, in the form of
// AGaLiTe's `tmazev2`, SimplerTMazeWDistractors).
//
// The agent starts at the foot of a corridor. Only the very first observation carries a cue
// saying which arm of the T, up or down, is rewarded; every later observation hides it. The agent
// walks the corridor (seeing its position as a Gray code and, optionally, random distractor
// bits) and must turn at the junction the way the cue said, corridor_length steps later. A
// memoryless policy wins half the time; a policy with memory wins always.
#pragma once

#include <cstdint>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `tmaze` env. Defaults are AGaLiTe's T-Maze configuration.
struct TMazeOptions {
  std::int64_t corridor_length = 200;
  std::int64_t num_distractors = 6;
  std::int64_t max_steps = 1000;
  double correct_reward = 4.0;
  double wrong_reward = -1.0;
  double step_reward = -0.1;

  template <class V>
  void visit(V& v) {
    v("corridor_length", corridor_length, "cells from the start to the junction, junction included (>= 1)");
    v("num_distractors", num_distractors, "random 0/1 bits appended to every observation after the first");
    v("max_steps", max_steps, "truncate episodes after this many steps");
    v("correct_reward", correct_reward, "reward for turning the way the cue said (ends the episode)");
    v("wrong_reward", wrong_reward, "reward for turning the other way (ends the episode)");
    v("step_reward", step_reward, "reward of every other step (a small penalty)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation "obs" float32[2 + B + D]: [0..1] the cue, (0, 1) for up and (1, 0) for down at the
// first step and (0, 0) afterwards; then the position in the corridor as a B-bit Gray code, most
// significant bit first (B = 8, or more when the corridor needs it); then D distractor bits, 0 at
// the first step and fresh random bits at every later one.
// Actions discrete(4): 0 up, 1 down, 2 left (back towards the start), 3 right (towards the
// junction). In the corridor, up and down do nothing and left/right move one cell (clamped). At
// the junction (position corridor_length - 1), up or down ends the episode with correct_reward
// or wrong_reward; left and right do nothing there. Every non-ending step gives step_reward.
// Info "success": 1 on the step that took the correct turn.
class TMaze : public Env {
 public:
  static constexpr const char* kName = "tmaze";
  static constexpr const char* kDescription =
      "T-Maze (AGaLiTe/GTrXL): cue at t=0 only, Gray-coded corridor position, distractor bits; discrete(4)";
  using Options = TMazeOptions;

  enum Action : std::int64_t { kUp = 0, kDown = 1, kLeft = 2, kRight = 3 };

  explicit TMaze(TMazeOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"success"}; }
  void infos(float* out) const override { out[0] = success_ ? 1.0f : 0.0f; }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The corridor as a strip of cells with the two arms at its end; the cue's colour fills the
  // first cell while it is shown and marks the rewarded arm's border throughout.
  void render(Frame& frame) const override;

  // For tests and tools.
  std::int64_t position() const { return pos_; }
  // The rewarded arm: kUp or kDown.
  std::int64_t goal() const { return goal_; }
  std::int64_t gray_bits() const { return gray_bits_; }
  const TMazeOptions& options() const { return options_; }

 private:
  void write_obs(const ObsSlot& out, bool first);

  TMazeOptions options_;
  std::int64_t gray_bits_ = 8;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  std::int64_t pos_ = 0;
  std::int64_t goal_ = kUp;
  std::int64_t steps_ = 0;
  std::int64_t ended_with_ = -1;  // the turn that ended the episode, for render
  bool success_ = false;
  bool running_ = false;
};

}  // namespace mnemo::envs
