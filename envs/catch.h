// Catch: bsuite's catch (Osband et al. 2020) with pixel observations: a ball falls from the top
// row, the agent moves a paddle along the bottom row and is paid +1 for catching it, -1 for
// missing it.
//
// It is the small pixel env of the suite: a ten-step episode that a small CNN learns on two CPU
// cores in minutes, so that augmentation and contrastive-encoder code can be tested end to end
// on real images without a long training run.
#pragma once

#include <cstdint>

#include "envs/env.h"

namespace mnemo::envs {

// Options of the `catch` env. Defaults are bsuite's board (10 rows, 5 columns).
struct CatchOptions {
  std::int64_t rows = 10;
  std::int64_t columns = 5;
  std::int64_t cell_pixels = 4;
  std::int64_t visible_rows = 0;

  template <class V>
  void visit(V& v) {
    v("rows", rows, "board rows; the ball needs rows - 1 steps to fall, >= 2");
    v("columns", columns, "board columns, >= 1");
    v("cell_pixels", cell_pixels, "pixels per board cell on each side of the image");
    v("visible_rows", visible_rows,
      "memory variant: the ball is drawn only while it is in the first N rows (0: always drawn)");
  }
  // Throws mnemo::ConfigError naming the offending key.
  void validate() const;
};

// Observation "pixels" uint8[rows * cell_pixels, columns * cell_pixels, 3]: black background, the
// ball red, the paddle white. Actions discrete(3): 0 left, 1 stay, 2 right (clamped). Each step
// moves the paddle, then the ball one row down; when the ball reaches the bottom row the episode
// terminates with +1 if the paddle is under it and -1 otherwise. Info "success": caught.
//
// With visible_rows N > 0 the ball disappears once it has fallen N rows: the agent must remember
// where it was. A memoryless policy then sees only the paddle after the first N observations;
// with N = 1 it can act on the ball's column once, so the paddle's column after that first move
// (one of at most 3) decides where it ends, and it catches at most 3 of every `columns` balls
// (60% on the default board, a return of at most 0.2) where a policy with memory catches all.
class Catch : public Env {
 public:
  static constexpr const char* kName = "catch";
  static constexpr const char* kDescription =
      "bsuite catch with pixels: catch the falling ball; obs uint8[40,20,3] by default, discrete(3)";
  using Options = CatchOptions;

  explicit Catch(CatchOptions options = {});

  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  std::vector<std::string> info_names() const override { return {"success"}; }
  void infos(float* out) const override { out[0] = success_ ? 1.0f : 0.0f; }
  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  // The observation, enlarged so each board cell is at least 16 pixels.
  void render(Frame& frame) const override;

  // For tests and tools.
  std::int64_t ball_row() const { return ball_row_; }
  std::int64_t ball_column() const { return ball_col_; }
  std::int64_t paddle_column() const { return paddle_; }

 private:
  void draw(std::uint8_t* rgb, int cell) const;

  CatchOptions options_;
  Spec spec_;
  ActionSpace space_;
  Rng rng_;
  std::int64_t ball_row_ = 0, ball_col_ = 0, paddle_ = 0;
  bool success_ = false;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace mnemo::envs
