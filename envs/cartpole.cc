// CartPole dynamics: a line-by-line port of gym's CartPoleEnv.step (euler integrator), kept in
// the same order of operations so that trajectories match gym's to float precision.
#include "envs/cartpole.h"

#include <cmath>
#include <string>

namespace mnemo::envs {

void CartPoleOptions::validate() const {
  if (max_steps <= 0) {
    throw ConfigError("env.max_steps must be > 0 for cartpole, got " + std::to_string(max_steps));
  }
}

CartPole::CartPole(CartPoleOptions options)
    : options_(options), spec_{{{"obs", DType::kFloat32, {4}}}}, space_(ActionSpace::discrete(2)) {
  options_.validate();
}

void CartPole::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  for (auto& s : state_) s = rng_.uniform(-0.05, 0.05);
  steps_ = 0;
  running_ = true;
  write_obs(out);
}

StepResult CartPole::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error("cartpole: step called " + std::string(steps_ == 0 ? "before reset" : "after the episode ended") +
                "; call reset first");
  }
  constexpr double kTotalMass = kMassPole + kMassCart;
  constexpr double kPoleMassLength = kMassPole * kLength;

  auto& [x, x_dot, theta, theta_dot] = state_;
  const double force = a == 1 ? kForceMag : -kForceMag;
  const double costheta = std::cos(theta);
  const double sintheta = std::sin(theta);
  const double temp = (force + kPoleMassLength * theta_dot * theta_dot * sintheta) / kTotalMass;
  const double thetaacc =
      (kGravity * sintheta - costheta * temp) / (kLength * (4.0 / 3.0 - kMassPole * costheta * costheta / kTotalMass));
  const double xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;
  x = x + kTau * x_dot;
  x_dot = x_dot + kTau * xacc;
  theta = theta + kTau * theta_dot;
  theta_dot = theta_dot + kTau * thetaacc;
  ++steps_;

  StepResult r;
  r.reward = 1.0f;
  r.terminated = x < -kXThreshold || x > kXThreshold || theta < -kThetaThreshold || theta > kThetaThreshold;
  r.truncated = !r.terminated && steps_ >= options_.max_steps;
  running_ = !(r.terminated || r.truncated);
  write_obs(out);
  return r;
}

void CartPole::set_state(const std::array<double, 4>& state) {
  state_ = state;
  running_ = true;
}

void CartPole::write_obs(const ObsSlot& out) const {
  float* obs = out.as<float>(0);
  for (int i = 0; i < 4; ++i) obs[i] = static_cast<float>(state_[i]);
}

}  // namespace mnemo::envs
