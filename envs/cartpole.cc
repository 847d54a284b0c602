// CartPole dynamics: a line-by-line port of gym's CartPoleEnv.step (euler integrator), kept in
// the same order of operations so that trajectories match gym's to float precision.
#include "envs/cartpole.h"

#include <cmath>
#include <string>

#include "envs/draw.h"

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

void CartPole::render(Frame& frame) const {
  // Gym's layout (600x400, world 4.8 m wide) at half size.
  constexpr int kW = 300, kH = 200;
  constexpr double kScale = kW / (2 * kXThreshold);
  constexpr double kTrackY = 140;
  frame.resize(kH, kW);
  Canvas c(frame);
  c.fill(colors::kWhite);
  c.rect(0, static_cast<int>(kTrackY), kW, static_cast<int>(kTrackY) + 1, colors::kBlack);
  const double cart_x = state_[0] * kScale + kW / 2.0;
  constexpr double kCartW = 25, kCartH = 15;
  c.rect(static_cast<int>(cart_x - kCartW / 2), static_cast<int>(kTrackY - kCartH / 2),
         static_cast<int>(cart_x + kCartW / 2), static_cast<int>(kTrackY + kCartH / 2), colors::kBlack);
  const double pole_len = kScale * 2 * kLength;
  const double top_x = cart_x + pole_len * std::sin(state_[2]);
  const double top_y = kTrackY - pole_len * std::cos(state_[2]);
  c.line(cart_x, kTrackY, top_x, top_y, 5, Rgb{202, 152, 101});
  c.disc(cart_x, kTrackY, 2.5, Rgb{129, 132, 203});
}

MaskedCartPole::MaskedCartPole(CartPoleOptions options)
    : inner_(options), spec_{{{"obs", DType::kFloat32, {2}}}}, full_slot_({full_.data()}) {}

void MaskedCartPole::reset(std::uint64_t seed, const ObsSlot& out) {
  inner_.reset(seed, full_slot_);
  write_obs(out);
}

StepResult MaskedCartPole::step(const void* action, const ObsSlot& out) {
  const StepResult r = inner_.step(action, full_slot_);
  write_obs(out);
  return r;
}

void MaskedCartPole::write_obs(const ObsSlot& out) const {
  float* obs = out.as<float>(0);
  obs[0] = full_[0];  // cart position
  obs[1] = full_[2];  // pole angle
}

}  // namespace mnemo::envs
