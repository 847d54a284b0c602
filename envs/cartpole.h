// CartPole: the classic control task (Barto, Sutton, Anderson 1983) with gym's CartPole-v1
// dynamics, reward and limits, so that learning curves compare with published gym results.
//
// It is fully observed and cheap, which makes it the smoke test of the whole training stack: if
// PPO does not reach a return near max_steps on CartPole, something outside the env is broken.
#pragma once

#include <array>
#include <cstdint>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `cartpole` env, bound from the `env:` section of a config.
struct CartPoleOptions {
  std::int64_t max_steps = 500;

  template <class V>
  void visit(V& v) {
    v("max_steps", max_steps, "truncate episodes after this many steps (gym's CartPole-v1 uses 500)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation: one field "obs", float32 [4] = (cart position, cart velocity, pole angle in
// radians, pole angular velocity). Actions: discrete(2), 0 pushes the cart left, 1 right.
// Reward 1 on every step, the terminating one included. Terminates when |x| > 2.4 or
// |theta| > 12 degrees; truncates after max_steps steps otherwise.
class CartPole : public Env {
 public:
  static constexpr const char* kName = "cartpole";
  static constexpr const char* kDescription =
      "classic cart-pole balancing, gym CartPole-v1 dynamics; obs float32[4], discrete(2)";
  using Options = CartPoleOptions;

  // Gym's constants, public so that tests and tools can compute expected dynamics.
  static constexpr double kGravity = 9.8;
  static constexpr double kMassCart = 1.0;
  static constexpr double kMassPole = 0.1;
  static constexpr double kLength = 0.5;  // half the pole's length
  static constexpr double kForceMag = 10.0;
  static constexpr double kTau = 0.02;    // seconds per step
  static constexpr double kThetaThreshold = 12 * 2 * 3.14159265358979323846 / 360;
  static constexpr double kXThreshold = 2.4;

  explicit CartPole(CartPoleOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // Gym's picture at half size: the track, the cart and the pole, 300x200.
  void render(Frame& frame) const override;

  // For tests and tools: puts the env mid-episode in a chosen state, (x, x_dot, theta,
  // theta_dot), as if reset had produced it; the step counter is kept, so truncation still
  // counts from the last reset.
  void set_state(const std::array<double, 4>& state);
  const std::array<double, 4>& state() const { return state_; }
  std::int64_t elapsed_steps() const { return steps_; }
  const CartPoleOptions& options() const { return options_; }

 private:
  void write_obs(const ObsSlot& out) const;

  CartPoleOptions options_;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  // Integrated in double, as gym does, and narrowed to float32 only in the observation.
  std::array<double, 4> state_{};
  std::int64_t steps_ = 0;
  bool running_ = false;
};

// CartPole with the velocities hidden (POPGym's StatelessCartPole, SB3-contrib's CartPoleNoVel):
// observation "obs" float32[2] = (cart position, pole angle). The dynamics, rewards and limits
// are CartPole's; a memoryless policy can no longer tell which way the pole is falling, so the
// velocities must be inferred from consecutive observations.
class MaskedCartPole : public Env {
 public:
  static constexpr const char* kName = "masked_cartpole";
  static constexpr const char* kDescription =
      "cartpole with velocities hidden (needs memory); obs float32[2] = (x, theta), discrete(2)";
  using Options = CartPoleOptions;

  explicit MaskedCartPole(CartPoleOptions options = {});
  // The internal slot points into this object, so copies would write into the original.
  MaskedCartPole(const MaskedCartPole&) = delete;
  MaskedCartPole& operator=(const MaskedCartPole&) = delete;

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return inner_.action_space(); }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  void render(Frame& frame) const override { inner_.render(frame); }

  // The full env underneath, for tests (set_state, state) and scripted experts (state).
  CartPole& inner() { return inner_; }
  const CartPole& inner() const { return inner_; }

 private:
  void write_obs(const ObsSlot& out) const;

  CartPole inner_;
  Spec spec_;
  std::array<float, 4> full_{};
  ObsSlot full_slot_;
};

}  // namespace mnemo::envs
