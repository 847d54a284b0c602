// Key-to-Door rules. Objects are placed by rejection sampling over the room's cells, which is
// cheap because rooms are small and hold at most a handful of objects.
#include "envs/key_to_door.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "envs/draw.h"

namespace mnemo::envs {

void KeyToDoorOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& rule, const std::string& got) {
    throw ConfigError("env." + key + " must be " + rule + " for key_to_door, got " + got);
  };
  if (room_size < 2 || room_size > 64) fail("room_size", "in [2, 64]", std::to_string(room_size));
  if (key_phase_steps < 1) fail("key_phase_steps", ">= 1", std::to_string(key_phase_steps));
  if (distractor_phase_steps < 1) fail("distractor_phase_steps", ">= 1", std::to_string(distractor_phase_steps));
  if (door_phase_steps < 1) fail("door_phase_steps", ">= 1", std::to_string(door_phase_steps));
  // The agent needs one free cell besides the apples.
  if (num_apples < 0 || num_apples > room_size * room_size - 1)
    fail("num_apples", "in [0, room_size^2 - 1]", std::to_string(num_apples));
  if (!std::isfinite(apple_reward)) fail("apple_reward", "finite", std::to_string(apple_reward));
  if (!std::isfinite(door_reward)) fail("door_reward", "finite", std::to_string(door_reward));
}

KeyToDoor::KeyToDoor(KeyToDoorOptions options)
    : options_(options), space_(ActionSpace::discrete(4)) {
  options_.validate();
  spec_ = Spec{{{"room", DType::kUInt8, {4, options_.room_size, options_.room_size}}}};
  apples_.reserve(static_cast<std::size_t>(options_.num_apples));
}

std::int64_t KeyToDoor::random_free_cell() {
  const std::uint64_t cells = static_cast<std::uint64_t>(options_.room_size * options_.room_size);
  for (;;) {
    const auto c = static_cast<std::int64_t>(rng_.below(cells));
    if (c == agent_ || c == key_ || c == door_) continue;
    if (std::find(apples_.begin(), apples_.end(), c) != apples_.end()) continue;
    return c;
  }
}

void KeyToDoor::enter_phase(int phase) {
  phase_ = phase;
  phase_steps_ = 0;
  key_ = -1;
  door_ = -1;
  apples_.clear();
  agent_ = -1;
  agent_ = random_free_cell();
  if (phase == kKeyPhase) key_ = random_free_cell();
  if (phase == kDistractorPhase)
    for (std::int64_t i = 0; i < options_.num_apples; ++i) apples_.push_back(random_free_cell());
  if (phase == kDoorPhase) door_ = random_free_cell();
}

void KeyToDoor::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  has_key_ = false;
  success_ = false;
  started_ = true;
  running_ = true;
  enter_phase(kKeyPhase);
  write_obs(out);
}

StepResult KeyToDoor::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error(std::string("key_to_door: step called ") + (started_ ? "after the episode ended" : "before reset") +
                "; call reset first");
  }
  const std::int64_t n = options_.room_size;
  std::int64_t row = agent_ / n, col = agent_ % n;
  static constexpr int kDr[4] = {-1, 0, 1, 0};
  static constexpr int kDc[4] = {0, 1, 0, -1};
  row = std::clamp<std::int64_t>(row + kDr[a], 0, n - 1);
  col = std::clamp<std::int64_t>(col + kDc[a], 0, n - 1);
  agent_ = row * n + col;

  StepResult r;
  success_ = false;
  if (agent_ == key_) {
    has_key_ = true;
    key_ = -1;
  }
  auto apple = std::find(apples_.begin(), apples_.end(), agent_);
  if (apple != apples_.end()) {
    apples_.erase(apple);  // no reallocation: erase only shifts within the reserved capacity
    r.reward += static_cast<float>(options_.apple_reward);
  }
  if (agent_ == door_) {
    success_ = has_key_;
    if (has_key_) r.reward += static_cast<float>(options_.door_reward);
    r.terminated = true;
  }
  ++phase_steps_;
  if (!r.terminated) {
    if (phase_ == kKeyPhase && phase_steps_ >= options_.key_phase_steps) {
      enter_phase(kDistractorPhase);
    } else if (phase_ == kDistractorPhase && phase_steps_ >= options_.distractor_phase_steps) {
      enter_phase(kDoorPhase);
    } else if (phase_ == kDoorPhase && phase_steps_ >= options_.door_phase_steps) {
      r.terminated = true;
    }
  }
  running_ = !r.terminated;
  write_obs(out);
  return r;
}

void KeyToDoor::write_obs(const ObsSlot& out) const {
  const std::int64_t cells = options_.room_size * options_.room_size;
  std::uint8_t* obs = out.as<std::uint8_t>(0);
  std::memset(obs, 0, static_cast<std::size_t>(4 * cells));
  obs[kAgentPlane * cells + agent_] = 1;
  if (key_ >= 0) obs[kKeyPlane * cells + key_] = 1;
  for (std::int64_t c : apples_) obs[kApplePlane * cells + c] = 1;
  if (door_ >= 0) obs[kDoorPlane * cells + door_] = 1;
}

void KeyToDoor::render(Frame& frame) const {
  const int n = static_cast<int>(options_.room_size);
  const int cell = std::max(8, 160 / n);
  const int top = 16;  // phase bar
  frame.resize(top + (n + 2) * cell, (n + 2) * cell);
  Canvas c(frame);
  c.fill(colors::kWall);
  static constexpr Rgb kPhaseColor[3] = {colors::kYellow, colors::kGrey, colors::kGreen};
  const int bar = static_cast<int>(frame.width * (phase_ + 1) / 3.0);
  c.rect(0, 0, frame.width, top, colors::kDarkGrey);
  c.rect(0, 2, bar, top - 2, kPhaseColor[phase_]);
  if (has_key_) c.rect(frame.width - 14, 3, frame.width - 3, top - 3, colors::kYellow);
  auto cell_x = [&](std::int64_t cc) { return (1 + static_cast<int>(cc % n)) * cell; };
  auto cell_y = [&](std::int64_t cc) { return top + (1 + static_cast<int>(cc / n)) * cell; };
  c.rect(cell, top + cell, (n + 1) * cell, top + (n + 1) * cell, colors::kFloor);
  if (key_ >= 0) {
    const double x = cell_x(key_), y = cell_y(key_);
    c.disc(x + cell * 0.35, y + cell * 0.5, cell * 0.2, colors::kYellow);
    c.rect(static_cast<int>(x + cell * 0.45), static_cast<int>(y + cell * 0.45), static_cast<int>(x + cell * 0.9),
           static_cast<int>(y + cell * 0.58), colors::kYellow);
  }
  for (std::int64_t a : apples_) c.disc(cell_x(a) + cell / 2.0, cell_y(a) + cell / 2.0, cell * 0.3, colors::kRed);
  if (door_ >= 0) {
    c.rect(cell_x(door_) + cell / 6, cell_y(door_) + 1, cell_x(door_) + cell - cell / 6, cell_y(door_) + cell - 1,
           Rgb{140, 80, 30});
  }
  c.disc(cell_x(agent_) + cell / 2.0, cell_y(agent_) + cell / 2.0, cell * 0.35, colors::kAgent);
}

}  // namespace mnemo::envs
