// Pendulum: gym's Pendulum-v1 swing-up (a torque-limited pendulum that must be swung up and held
// upright), and its masked version with the angular velocity hidden.
//
// It is the continuous-control counterpart of CartPole: a box action, a dense cost, and no
// termination (every episode is truncated at max_steps), which exercises the Gaussian policy
// head and bootstrapping from final observations.
#pragma once

#include <array>
#include <cstdint>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `pendulum` and `masked_pendulum` envs.
struct PendulumOptions {
  std::int64_t max_steps = 200;
  double gravity = 10.0;

  template <class V>
  void visit(V& v) {
    v("max_steps", max_steps, "truncate episodes after this many steps (gym's Pendulum-v1 uses 200)");
    v("gravity", gravity, "gravitational acceleration in m/s^2 (gym's default 10)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation "obs" float32[3] = (cos theta, sin theta, theta_dot), theta = 0 upright. Action:
// box(1) torque in [-2, 2], clipped as gym does. Reward -(angle^2 + 0.1 theta_dot^2 + 0.001 u^2)
// with the angle normalised to [-pi, pi). Reset draws theta in [-pi, pi] and theta_dot in
// [-1, 1]. Never terminates; truncates after max_steps.
class Pendulum : public Env {
 public:
  static constexpr const char* kName = "pendulum";
  static constexpr const char* kDescription =
      "gym Pendulum-v1 swing-up; obs float32[3] = (cos, sin, theta_dot), box(1) torque in [-2, 2]";
  using Options = PendulumOptions;

  static constexpr double kMaxSpeed = 8.0;
  static constexpr double kMaxTorque = 2.0;
  static constexpr double kDt = 0.05;
  static constexpr double kMass = 1.0;
  static constexpr double kLength = 1.0;

  explicit Pendulum(PendulumOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The rod seen from the front, 200x200, with the last torque drawn as a bar underneath.
  void render(Frame& frame) const override;

  // For tests and tools: (theta, theta_dot) mid-episode; the step counter is kept.
  void set_state(double theta, double theta_dot);
  const std::array<double, 2>& state() const { return state_; }
  std::int64_t elapsed_steps() const { return steps_; }

 private:
  void write_obs(const ObsSlot& out) const;

  PendulumOptions options_;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  std::array<double, 2> state_{};  // theta, theta_dot
  double last_u_ = 0.0;
  std::int64_t steps_ = 0;
  bool running_ = false;
};

// Pendulum with the angular velocity hidden: observation "obs" float32[2] = (cos theta,
// sin theta). Everything else is Pendulum's.
class MaskedPendulum : public Env {
 public:
  static constexpr const char* kName = "masked_pendulum";
  static constexpr const char* kDescription =
      "pendulum with angular velocity hidden (needs memory); obs float32[2] = (cos, sin), box(1)";
  using Options = PendulumOptions;

  explicit MaskedPendulum(PendulumOptions options = {});
  // The internal slot points into this object, so copies would write into the original.
  MaskedPendulum(const MaskedPendulum&) = delete;
  MaskedPendulum& operator=(const MaskedPendulum&) = delete;

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return inner_.action_space(); }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  void render(Frame& frame) const override { inner_.render(frame); }

  Pendulum& inner() { return inner_; }

 private:
  void write_obs(const ObsSlot& out) const;

  Pendulum inner_;
  Spec spec_;
  std::array<float, 3> full_{};
  ObsSlot full_slot_;
};

}  // namespace mnemo::envs
