// Drawing primitives for env renders and pixel observations: filled rectangles, thick lines,
// discs and triangles on an RGB buffer, all clipped to the image.
//
// Envs draw with a handful of flat colours on purpose: frames then compress well in GIFs (the
// exact palette fits in 256 entries) and pixel observations stay crisp at small sizes.
#pragma once

#include <cstdint>

#include "envs/env.h"

namespace mnemo::envs {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// Colours shared by every env, so that renders look like one family.
namespace colors {
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kGrey{128, 128, 128};
constexpr Rgb kDarkGrey{48, 48, 48};
constexpr Rgb kFloor{30, 30, 60};
constexpr Rgb kWall{200, 170, 70};
constexpr Rgb kAgent{250, 204, 153};
constexpr Rgb kRed{230, 40, 40};
constexpr Rgb kGreen{40, 200, 60};
constexpr Rgb kBlue{50, 90, 230};
constexpr Rgb kYellow{240, 220, 40};
}  // namespace colors

// Draws on a caller-owned buffer of height x width x 3 bytes (a Frame's or a pixel observation
// slot's). Coordinates outside the image are clipped, never written.
class Canvas {
 public:
  Canvas(std::uint8_t* rgb, int height, int width) : rgb_(rgb), height_(height), width_(width) {}
  explicit Canvas(Frame& f) : Canvas(f.rgb.data(), f.height, f.width) {}

  int height() const { return height_; }
  int width() const { return width_; }

  void fill(Rgb c) { rect(0, 0, width_, height_, c); }
  // Pixels with x0 <= x < x1 and y0 <= y < y1.
  void rect(int x0, int y0, int x1, int y1, Rgb c);
  // A rectangle outline `t` pixels thick, inside the rectangle.
  void frame_rect(int x0, int y0, int x1, int y1, int t, Rgb c);
  // A segment of thickness `t` pixels between two points given in floating-point pixels.
  void line(double x0, double y0, double x1, double y1, double t, Rgb c);
  void disc(double cx, double cy, double r, Rgb c);
  // A filled triangle.
  void triangle(double x0, double y0, double x1, double y1, double x2, double y2, Rgb c);

 private:
  void put(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    std::uint8_t* p = rgb_ + (static_cast<std::size_t>(y) * width_ + x) * 3;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }

  std::uint8_t* rgb_;
  int height_;
  int width_;
};

}  // namespace mnemo::envs
