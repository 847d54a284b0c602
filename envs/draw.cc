// Canvas primitives: simple scanline fills tested per pixel centre. Renders are for people and
// small pixel observations, so clarity beats anti-aliasing and speed beyond "cheap".
#include "envs/draw.h"

#include <algorithm>
#include <cmath>

namespace mnemo::envs {

void Canvas::rect(int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, width_);
  y1 = std::min(y1, height_);
  for (int y = y0; y < y1; ++y) {
    std::uint8_t* p = rgb_ + (static_cast<std::size_t>(y) * width_ + x0) * 3;
    for (int x = x0; x < x1; ++x, p += 3) {
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
  }
}

void Canvas::frame_rect(int x0, int y0, int x1, int y1, int t, Rgb c) {
  rect(x0, y0, x1, y0 + t, c);
  rect(x0, y1 - t, x1, y1, c);
  rect(x0, y0, x0 + t, y1, c);
  rect(x1 - t, y0, x1, y1, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, double t, Rgb c) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double len2 = dx * dx + dy * dy;
  const double half = t / 2.0;
  const int bx0 = static_cast<int>(std::floor(std::min(x0, x1) - half));
  const int bx1 = static_cast<int>(std::ceil(std::max(x0, x1) + half));
  const int by0 = static_cast<int>(std::floor(std::min(y0, y1) - half));
  const int by1 = static_cast<int>(std::ceil(std::max(y0, y1) + half));
  for (int y = std::max(by0, 0); y <= std::min(by1, height_ - 1); ++y) {
    for (int x = std::max(bx0, 0); x <= std::min(bx1, width_ - 1); ++x) {
      const double px = x + 0.5 - x0, py = y + 0.5 - y0;
      // Distance from the pixel centre to the segment.
      double u = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
      u = std::clamp(u, 0.0, 1.0);
      const double ex = px - u * dx, ey = py - u * dy;
      if (ex * ex + ey * ey <= half * half) put(x, y, c);
    }
  }
}

void Canvas::disc(double cx, double cy, double r, Rgb c) {
  const int y0 = static_cast<int>(std::floor(cy - r)), y1 = static_cast<int>(std::ceil(cy + r));
  const int x0 = static_cast<int>(std::floor(cx - r)), x1 = static_cast<int>(std::ceil(cx + r));
  for (int y = std::max(y0, 0); y <= std::min(y1, height_ - 1); ++y)
    for (int x = std::max(x0, 0); x <= std::min(x1, width_ - 1); ++x) {
      const double px = x + 0.5 - cx, py = y + 0.5 - cy;
      if (px * px + py * py <= r * r) put(x, y, c);
    }
}

void Canvas::triangle(double x0, double y0, double x1, double y1, double x2, double y2, Rgb c) {
  const int bx0 = static_cast<int>(std::floor(std::min({x0, x1, x2})));
  const int bx1 = static_cast<int>(std::ceil(std::max({x0, x1, x2})));
  const int by0 = static_cast<int>(std::floor(std::min({y0, y1, y2})));
  const int by1 = static_cast<int>(std::ceil(std::max({y0, y1, y2})));
  auto edge = [](double ax, double ay, double bx, double by, double px, double py) {
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
  };
  for (int y = std::max(by0, 0); y <= std::min(by1, height_ - 1); ++y)
    for (int x = std::max(bx0, 0); x <= std::min(bx1, width_ - 1); ++x) {
      const double px = x + 0.5, py = y + 0.5;
      const double e0 = edge(x0, y0, x1, y1, px, py);
      const double e1 = edge(x1, y1, x2, y2, px, py);
      const double e2 = edge(x2, y2, x0, y0, px, py);
      // Inside for either winding order.
      if ((e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0)) put(x, y, c);
    }
}

}  // namespace mnemo::envs
