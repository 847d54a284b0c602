// Key-to-Door: the credit-assignment task of the Decision Transformer paper (Chen et al. 2021,
// after Hung et al. 2019 and Mesnard et al. 2021).
//
// An episode has three phases of fixed length, each in its own small room: a key room where the
// agent may pick up a key by walking onto it, a distractor room, and a door room. Reaching the door
// in phase three pays reward only if the key was picked up in phase one, dozens of steps earlier,
// and nothing in the door room shows whether the agent holds it.
#pragma once

#include <cstdint>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `key_to_door` env.
struct KeyToDoorOptions {
  std::int64_t room_size = 5;
  std::int64_t key_phase_steps = 15;
  std::int64_t distractor_phase_steps = 60;
  std::int64_t door_phase_steps = 15;
  std::int64_t num_apples = 0;
  double apple_reward = 0.0;
  double door_reward = 1.0;

  template <class V>
  void visit(V& v) {
    v("room_size", room_size, "cells per side of every room (walls not counted), >= 2");
    v("key_phase_steps", key_phase_steps, "steps spent in the key room (phase 1)");
    v("distractor_phase_steps", distractor_phase_steps, "steps spent in the distractor room (phase 2)");
    v("door_phase_steps", door_phase_steps, "steps allowed in the door room (phase 3)");
    v("num_apples", num_apples, "apples in the distractor room (0 = the empty room of the DT paper)");
    v("apple_reward", apple_reward, "reward per apple eaten in phase 2 (a distraction from the key)");
    v("door_reward", door_reward, "reward for reaching the door holding the key");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation "room" uint8[4, R, R] (R = room_size), one plane per object, 1 where it is: 0 the
// agent, 1 the key (phase 1 until picked up), 2 apples (phase 2), 3 the door (phase 3). Nothing
// shows the phase or whether the key is held.
// Actions discrete(4): 0 up, 1 right, 2 down, 3 left; a move into the room's wall does nothing.
// The agent starts each phase on a random cell; key, apples and door lie on other random cells.
// Phases switch after their step counts. Reaching the door ends the episode (terminated) with
// door_reward if the key is held and 0 otherwise; the door phase running out ends it too
// (terminated: the task is over, there is nothing left to bootstrap).
// Infos: "success" (1 when the episode ended at the door with the key), "has_key".
class KeyToDoor : public Env {
 public:
  static constexpr const char* kName = "key_to_door";
  static constexpr const char* kDescription =
      "Key-to-Door (Decision Transformer): key room, distractor room, door room; obs uint8[4,R,R], discrete(4)";
  using Options = KeyToDoorOptions;

  enum Phase : int { kKeyPhase = 0, kDistractorPhase = 1, kDoorPhase = 2 };
  enum Plane : int { kAgentPlane = 0, kKeyPlane = 1, kApplePlane = 2, kDoorPlane = 3 };

  explicit KeyToDoor(KeyToDoorOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"success", "has_key"}; }
  void infos(float* out) const override {
    out[0] = success_ ? 1.0f : 0.0f;
    out[1] = has_key_ ? 1.0f : 0.0f;
  }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The current room from above, with the phase as a coloured bar and a key icon while held.
  void render(Frame& frame) const override;

  // For tests and tools: cells are (row, col) packed as row * room_size + col.
  int phase() const { return phase_; }
  bool has_key() const { return has_key_; }
  std::int64_t agent_cell() const { return agent_; }
  std::int64_t key_cell() const { return key_; }     // -1 once picked up or outside phase 1
  std::int64_t door_cell() const { return door_; }   // -1 outside phase 3
  const std::vector<std::int64_t>& apple_cells() const { return apples_; }  // uneaten, phase 2
  // Moves the agent (for tests that walk to a known cell).
  void set_agent_cell(std::int64_t cell) { agent_ = cell; }
  const KeyToDoorOptions& options() const { return options_; }

 private:
  void enter_phase(int phase);
  std::int64_t random_free_cell();
  void write_obs(const ObsSlot& out) const;

  KeyToDoorOptions options_;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  int phase_ = kKeyPhase;
  std::int64_t phase_steps_ = 0;  // steps taken in the current phase
  std::int64_t agent_ = 0;
  std::int64_t key_ = -1;
  std::int64_t door_ = -1;
  std::vector<std::int64_t> apples_;  // cells of uneaten apples
  bool has_key_ = false;
  bool success_ = false;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace mnemo::envs
