// Catch: bsuite's rules with the board drawn as an RGB image.
#include "envs/catch.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "envs/draw.h"

namespace mnemo::envs {

void CatchOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& rule, const std::string& got) {
    throw ConfigError("env." + key + " must be " + rule + " for catch, got " + got);
  };
  if (rows < 2 || rows > 256) fail("rows", "in [2, 256]", std::to_string(rows));
  if (columns < 1 || columns > 256) fail("columns", "in [1, 256]", std::to_string(columns));
  if (cell_pixels < 1 || cell_pixels > 32) fail("cell_pixels", "in [1, 32]", std::to_string(cell_pixels));
  if (visible_rows < 0 || visible_rows > rows) fail("visible_rows", "in [0, rows]", std::to_string(visible_rows));
}

Catch::Catch(CatchOptions options) : options_(options), space_(ActionSpace::discrete(3)) {
  options_.validate();
  spec_ = Spec{{{"pixels", DType::kUInt8,
                 {options_.rows * options_.cell_pixels, options_.columns * options_.cell_pixels, 3}}}};
}

void Catch::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  ball_row_ = 0;
  ball_col_ = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(options_.columns)));
  paddle_ = options_.columns / 2;  // bsuite starts the paddle in the middle
  success_ = false;
  started_ = true;
  running_ = true;
  draw(out.as<std::uint8_t>(0), static_cast<int>(options_.cell_pixels));
}

StepResult Catch::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error(std::string("catch: step called ") + (started_ ? "after the episode ended" : "before reset") +
                "; call reset first");
  }
  paddle_ = std::clamp<std::int64_t>(paddle_ + a - 1, 0, options_.columns - 1);
  ++ball_row_;
  StepResult r;
  success_ = false;
  if (ball_row_ == options_.rows - 1) {
    success_ = ball_col_ == paddle_;
    r.reward = success_ ? 1.0f : -1.0f;
    r.terminated = true;
  }
  running_ = !r.terminated;
  draw(out.as<std::uint8_t>(0), static_cast<int>(options_.cell_pixels));
  return r;
}

void Catch::draw(std::uint8_t* rgb, int cell) const {
  const int h = static_cast<int>(options_.rows) * cell, w = static_cast<int>(options_.columns) * cell;
  std::memset(rgb, 0, static_cast<std::size_t>(h) * w * 3);
  Canvas c(rgb, h, w);
  const int by = static_cast<int>(ball_row_) * cell, bx = static_cast<int>(ball_col_) * cell;
  if (options_.visible_rows == 0 || ball_row_ < options_.visible_rows) c.rect(bx, by, bx + cell, by + cell, colors::kRed);
  const int py = static_cast<int>(options_.rows - 1) * cell, px = static_cast<int>(paddle_) * cell;
  // When the ball lands on the paddle both share the cell; the paddle's lower half stays visible.
  c.rect(px, py + (ball_row_ == options_.rows - 1 && ball_col_ == paddle_ ? cell / 2 : 0), px + cell, py + cell,
         colors::kWhite);
}

void Catch::render(Frame& frame) const {
  const int cell = std::max<int>(16, static_cast<int>(options_.cell_pixels));
  frame.resize(static_cast<int>(options_.rows) * cell, static_cast<int>(options_.columns) * cell);
  draw(frame.rgb.data(), cell);
}

}  // namespace mnemo::envs
