// T-Maze rules, following AGaLiTe's tmazev2 step for step (including that left/right at the
// junction and up/down in the corridor are wasted steps rather than errors).
#include "envs/tmaze.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "envs/draw.h"

namespace mnemo::envs {

void TMazeOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& rule, const std::string& got) {
    throw ConfigError("env." + key + " must be " + rule + " for tmaze, got " + got);
  };
  if (corridor_length < 1) fail("corridor_length", ">= 1", std::to_string(corridor_length));
  if (corridor_length > (std::int64_t{1} << 30)) fail("corridor_length", "<= 2^30", std::to_string(corridor_length));
  if (num_distractors < 0) fail("num_distractors", ">= 0", std::to_string(num_distractors));
  if (num_distractors > 4096) fail("num_distractors", "<= 4096", std::to_string(num_distractors));
  if (max_steps <= 0) fail("max_steps", "> 0", std::to_string(max_steps));
  for (auto [key, v] : {std::pair<const char*, double>{"correct_reward", correct_reward},
                        {"wrong_reward", wrong_reward},
                        {"step_reward", step_reward}}) {
    if (!std::isfinite(v)) fail(key, "finite", std::to_string(v));
  }
}

TMaze::TMaze(TMazeOptions options) : options_(options), space_(ActionSpace::discrete(4)) {
  options_.validate();
  // AGaLiTe uses 8 bits; longer corridors get as many as their last position needs.
  while ((std::int64_t{1} << gray_bits_) < options_.corridor_length) ++gray_bits_;
  spec_ = Spec{{{"obs", DType::kFloat32, {2 + gray_bits_ + options_.num_distractors}}}};
}

void TMaze::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  goal_ = (rng_.next() >> 63) == 0 ? kUp : kDown;
  pos_ = 0;
  steps_ = 0;
  ended_with_ = -1;
  success_ = false;
  running_ = true;
  write_obs(out, /*first=*/true);
}

StepResult TMaze::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error("tmaze: step called " + std::string(steps_ == 0 ? "before reset" : "after the episode ended") +
                "; call reset first");
  }
  StepResult r;
  r.reward = static_cast<float>(options_.step_reward);
  success_ = false;
  const bool at_junction = pos_ == options_.corridor_length - 1;
  if (at_junction && (a == kUp || a == kDown)) {
    success_ = a == goal_;
    r.reward = static_cast<float>(success_ ? options_.correct_reward : options_.wrong_reward);
    r.terminated = true;
    ended_with_ = a;
  } else if (!at_junction && a == kLeft) {
    pos_ = std::max<std::int64_t>(pos_ - 1, 0);
  } else if (!at_junction && a == kRight) {
    pos_ = std::min<std::int64_t>(pos_ + 1, options_.corridor_length - 1);
  }
  ++steps_;
  r.truncated = !r.terminated && steps_ >= options_.max_steps;
  running_ = !(r.terminated || r.truncated);
  write_obs(out, /*first=*/false);
  return r;
}

void TMaze::write_obs(const ObsSlot& out, bool first) {
  float* obs = out.as<float>(0);
  obs[0] = first && goal_ == kDown ? 1.0f : 0.0f;
  obs[1] = first && goal_ == kUp ? 1.0f : 0.0f;
  const std::uint64_t gray = static_cast<std::uint64_t>(pos_) ^ (static_cast<std::uint64_t>(pos_) >> 1);
  for (std::int64_t b = 0; b < gray_bits_; ++b) obs[2 + b] = static_cast<float>((gray >> (gray_bits_ - 1 - b)) & 1);
  float* distractors = obs + 2 + gray_bits_;
  const std::int64_t d = options_.num_distractors;
  if (first) {
    std::fill(distractors, distractors + d, 0.0f);
    return;
  }
  // One generator call yields 64 bits, so distractors cost little even when there are many.
  for (std::int64_t k = 0; k < d; k += 64) {
    std::uint64_t bits = rng_.next();
    for (std::int64_t j = k; j < std::min(d, k + 64); ++j, bits >>= 1) distractors[j] = static_cast<float>(bits & 1);
  }
}

void TMaze::render(Frame& frame) const {
  const std::int64_t len = options_.corridor_length;
  // Long corridors get thinner cells so that the picture stays at most about 640 pixels wide.
  const int cell = static_cast<int>(std::clamp<std::int64_t>(600 / std::max<std::int64_t>(len, 1), 2, 24));
  const int margin = 8;
  const int w = static_cast<int>(len) * cell + 2 * margin;
  const int h = 5 * cell + 2 * margin;
  frame.resize(h, w);
  Canvas c(frame);
  c.fill(colors::kDarkGrey);
  const int y_corridor = margin + 2 * cell;
  const Rgb cue_color = goal_ == kUp ? colors::kGreen : colors::kBlue;
  for (std::int64_t i = 0; i < len; ++i) {
    const int x = margin + static_cast<int>(i) * cell;
    c.rect(x, y_corridor, x + cell - (cell > 3 ? 1 : 0), y_corridor + cell, colors::kFloor);
  }
  const int xj = margin + static_cast<int>(len - 1) * cell;
  // The arms: up (rows 0-1) and down (rows 3-4) at the junction column.
  for (int arm = 0; arm < 2; ++arm) {
    const int y = arm == 0 ? margin : margin + 3 * cell;
    const bool rewarded = (arm == 0) == (goal_ == kUp);
    c.rect(xj, y, xj + cell, y + 2 * cell, rewarded ? cue_color : colors::kFloor);
    if (ended_with_ == (arm == 0 ? kUp : kDown)) c.frame_rect(xj, y, xj + cell, y + 2 * cell, 2, colors::kRed);
  }
  // The cue, only while the agent can see it.
  if (steps_ == 0) c.rect(margin, y_corridor, margin + cell, y_corridor + cell, cue_color);
  const int xa = margin + static_cast<int>(pos_) * cell;
  int ya = y_corridor;
  if (ended_with_ == kUp) ya = margin + cell / 2;
  if (ended_with_ == kDown) ya = margin + 3 * cell + cell / 2;
  c.disc(xa + cell / 2.0, ya + cell / 2.0, std::max(1.0, cell / 2.5), colors::kAgent);
}

}  // namespace mnemo::envs
