// Pendulum dynamics: a line-by-line port of gym's PendulumEnv.step (semi-implicit Euler: the
// velocity is updated and clipped first, then the angle moves with the new velocity).
#include "envs/pendulum.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "envs/draw.h"

namespace mnemo::envs {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Python's ((x + pi) % (2 pi)) - pi: the modulo of a negative number is positive there.
double angle_normalize(double x) {
  double m = std::fmod(x + kPi, 2 * kPi);
  if (m < 0) m += 2 * kPi;
  return m - kPi;
}

}  // namespace

void PendulumOptions::validate() const {
  if (max_steps <= 0) {
    throw ConfigError("env.max_steps must be > 0 for pendulum, got " + std::to_string(max_steps));
  }
  if (!(gravity >= 0.0) || !std::isfinite(gravity)) {
    throw ConfigError("env.gravity must be a finite number >= 0 for pendulum, got " + std::to_string(gravity));
  }
}

Pendulum::Pendulum(PendulumOptions options)
    : options_(options),
      spec_{{{"obs", DType::kFloat32, {3}}}},
      space_(ActionSpace::box({-kMaxTorque}, {kMaxTorque})) {
  options_.validate();
}

void Pendulum::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  state_[0] = rng_.uniform(-kPi, kPi);
  state_[1] = rng_.uniform(-1.0, 1.0);
  last_u_ = 0.0;
  steps_ = 0;
  running_ = true;
  write_obs(out);
}

StepResult Pendulum::step(const void* action, const ObsSlot& out) {
  validate_action(action, space_);
  if (!running_) {
    throw Error("pendulum: step called " + std::string(steps_ == 0 ? "before reset" : "after the episode ended") +
                "; call reset first");
  }
  float a;
  std::memcpy(&a, action, sizeof a);
  const double u = std::clamp(static_cast<double>(a), -kMaxTorque, kMaxTorque);
  auto& [th, thdot] = state_;
  const double g = options_.gravity;
  const double costs = angle_normalize(th) * angle_normalize(th) + 0.1 * thdot * thdot + 0.001 * u * u;
  double newthdot = thdot + (3 * g / (2 * kLength) * std::sin(th) + 3.0 / (kMass * kLength * kLength) * u) * kDt;
  newthdot = std::clamp(newthdot, -kMaxSpeed, kMaxSpeed);
  th = th + newthdot * kDt;
  thdot = newthdot;
  last_u_ = u;
  ++steps_;
  StepResult r;
  r.reward = static_cast<float>(-costs);
  r.truncated = steps_ >= options_.max_steps;
  running_ = !r.truncated;
  write_obs(out);
  return r;
}

void Pendulum::set_state(double theta, double theta_dot) {
  state_ = {theta, theta_dot};
  running_ = true;
}

void Pendulum::write_obs(const ObsSlot& out) const {
  float* obs = out.as<float>(0);
  obs[0] = static_cast<float>(std::cos(state_[0]));
  obs[1] = static_cast<float>(std::sin(state_[0]));
  obs[2] = static_cast<float>(state_[1]);
}

void Pendulum::render(Frame& frame) const {
  constexpr int kSize = 200;
  frame.resize(kSize, kSize);
  Canvas c(frame);
  c.fill(colors::kWhite);
  const double cx = kSize / 2.0, cy = kSize / 2.0 - 10, len = 70;
  // theta = 0 points up; positive theta turns counter-clockwise as in gym's picture.
  const double tx = cx - len * std::sin(state_[0]);
  const double ty = cy - len * std::cos(state_[0]);
  c.line(cx, cy, tx, ty, 12, Rgb{204, 77, 77});
  c.disc(tx, ty, 6, Rgb{204, 77, 77});
  c.disc(cx, cy, 4, colors::kBlack);
  // Torque bar: right of centre for positive torque.
  const double bar = last_u_ / kMaxTorque * 80;
  c.rect(static_cast<int>(cx + std::min(0.0, bar)), kSize - 20, static_cast<int>(cx + std::max(0.0, bar)) + 1,
         kSize - 12, colors::kBlue);
}

MaskedPendulum::MaskedPendulum(PendulumOptions options)
    : inner_(options), spec_{{{"obs", DType::kFloat32, {2}}}}, full_slot_({full_.data()}) {}

void MaskedPendulum::reset(std::uint64_t seed, const ObsSlot& out) {
  inner_.reset(seed, full_slot_);
  write_obs(out);
}

StepResult MaskedPendulum::step(const void* action, const ObsSlot& out) {
  const StepResult r = inner_.step(action, full_slot_);
  write_obs(out);
  return r;
}

void MaskedPendulum::write_obs(const ObsSlot& out) const {
  float* obs = out.as<float>(0);
  obs[0] = full_[0];
  obs[1] = full_[1];
}

}  // namespace mnemo::envs
