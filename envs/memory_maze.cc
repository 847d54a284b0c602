// Memory Maze: maze generation, grid motion and the egocentric view.
//
// Mazes are a randomised depth-first-search spanning tree on the odd cells (every cell reachable),
// opened up with a few rooms and some extra doorways so that there are loops and open areas, as in
// the labmaze layouts of the published env.
#include "envs/memory_maze.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "envs/draw.h"

namespace mnemo::envs {
namespace {

constexpr int kDx[4] = {0, 1, 0, -1};  // north, east, south, west
constexpr int kDy[4] = {-1, 0, 1, 0};

constexpr int kTileFloor = 0, kTileWall = 1, kTileHidden = 2, kTileObject = 3;
constexpr int kTileAgent = kTileObject + MemoryMaze::kMaxObjects;
constexpr int kTileAgentOnObject = kTileAgent + 1;
constexpr int kNumTiles = kTileAgentOnObject + MemoryMaze::kMaxObjects;

constexpr Rgb kMazeFloor{70, 90, 160};
constexpr Rgb kMazeWall{200, 170, 70};

}  // namespace

std::array<std::uint8_t, 3> MemoryMaze::object_color(int k) {
  static constexpr std::array<std::uint8_t, 3> kColors[kMaxObjects] = {
      {230, 30, 30}, {30, 220, 30}, {40, 60, 255}, {240, 240, 30},
      {230, 40, 230}, {30, 230, 230}, {250, 140, 20}, {250, 250, 250}};
  return kColors[k];
}

void MemoryMazeOptions::validate() const {
  auto fail = [](const std::string& key, const std::string& rule, const std::string& got) {
    throw ConfigError("env." + key + " must be " + rule + " for memory_maze, got " + got);
  };
  if (size < 7 || size > 31 || size % 2 == 0) fail("size", "odd and in [7, 31]", std::to_string(size));
  if (num_objects < 0 || num_objects > MemoryMaze::kMaxObjects)
    fail("num_objects", "in [0, 8] (0 = the published count)", std::to_string(num_objects));
  if (max_steps < 0) fail("max_steps", ">= 0 (0 = the published limit)", std::to_string(max_steps));
  if (view_size < 3 || view_size > 31 || view_size % 2 == 0)
    fail("view_size", "odd and in [3, 31]", std::to_string(view_size));
  if (image_size < 2 * view_size + 4 || image_size > 512)
    fail("image_size", "in [2 * view_size + 4, 512]", std::to_string(image_size));
}

std::int64_t MemoryMazeOptions::resolved_num_objects() const {
  return num_objects > 0 ? num_objects : std::min<std::int64_t>((size - 3) / 2, MemoryMaze::kMaxObjects);
}

std::int64_t MemoryMazeOptions::resolved_max_steps() const {
  return max_steps > 0 ? max_steps : std::max<std::int64_t>(500, 500 * (size - 7));
}

MemoryMaze::MemoryMaze(MemoryMazeOptions options) : options_(options), space_(ActionSpace::discrete(6)) {
  options_.validate();
  size_ = options_.size;
  width_ = size_ + 2;
  max_steps_ = options_.resolved_max_steps();
  num_objects_ = static_cast<int>(options_.resolved_num_objects());
  view_ = static_cast<int>(options_.view_size);
  image_ = static_cast<int>(options_.image_size);
  cell_px_ = (image_ - 4) / view_;
  border_ = (image_ - cell_px_ * view_) / 2;
  spec_ = Spec{{{"image", DType::kUInt8, {image_, image_, 3}}, {"target_color", DType::kFloat32, {3}}}};
  const auto cells = static_cast<std::size_t>(width_ * width_);
  walls_.assign(cells, 1);
  object_at_.assign(cells, -1);
  objects_.reserve(kMaxObjects);
  stack_.reserve(cells);
  build_tiles();
}

void MemoryMaze::build_tiles() {
  const int p = cell_px_;
  const std::size_t tile_bytes = static_cast<std::size_t>(p) * p * 3;
  tiles_.assign(tile_bytes * kNumTiles, 0);
  auto canvas = [&](int t) { return Canvas(tiles_.data() + tile_bytes * t, p, p); };
  canvas(kTileFloor).fill(kMazeFloor);
  canvas(kTileWall).fill(kMazeWall);
  canvas(kTileHidden).fill(colors::kBlack);
  auto draw_agent = [p](Canvas c) { c.triangle(p * 0.5, p * 0.12, p * 0.12, p * 0.88, p * 0.88, p * 0.88, colors::kWhite); };
  auto draw_object = [p](Canvas c, int k) {
    const auto col = object_color(k);
    c.disc(p / 2.0, p / 2.0, p * 0.42, Rgb{col[0], col[1], col[2]});
  };
  for (int k = 0; k < kMaxObjects; ++k) {
    Canvas c = canvas(kTileObject + k);
    c.fill(kMazeFloor);
    draw_object(c, k);
    Canvas a = canvas(kTileAgentOnObject + k);
    a.fill(kMazeFloor);
    draw_object(a, k);
    draw_agent(a);
  }
  Canvas a = canvas(kTileAgent);
  a.fill(kMazeFloor);
  draw_agent(a);
}

void MemoryMaze::generate_maze() {
  const std::int64_t w = width_;
  std::fill(walls_.begin(), walls_.end(), 1);
  auto at = [&](std::int64_t x, std::int64_t y) -> std::uint8_t& { return walls_[static_cast<std::size_t>(y * w + x)]; };
  // Spanning tree over the odd cells: randomised depth-first search.
  const std::int64_t m = (size_ + 1) / 2;  // odd cells per side
  auto node = [&](std::int64_t i) { return std::pair<std::int64_t, std::int64_t>{1 + 2 * (i % m), 1 + 2 * (i / m)}; };
  stack_.clear();
  const auto start = static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(m * m)));
  at(node(start).first, node(start).second) = 0;
  stack_.push_back(start);
  while (!stack_.empty()) {
    const std::int64_t cur = stack_.back();
    const std::int64_t cx = cur % m, cy = cur / m;
    std::int64_t options[4];
    int n = 0;
    for (int d = 0; d < 4; ++d) {
      const std::int64_t nx = cx + kDx[d], ny = cy + kDy[d];
      if (nx < 0 || ny < 0 || nx >= m || ny >= m) continue;
      if (at(1 + 2 * nx, 1 + 2 * ny) == 0) continue;
      options[n++] = d;
    }
    if (n == 0) {
      stack_.pop_back();
      continue;
    }
    const auto d = static_cast<int>(options[rng_.below(static_cast<std::uint64_t>(n))]);
    const std::int64_t nx = cx + kDx[d], ny = cy + kDy[d];
    at(1 + 2 * cx + kDx[d], 1 + 2 * cy + kDy[d]) = 0;
    at(1 + 2 * nx, 1 + 2 * ny) = 0;
    stack_.push_back(ny * m + nx);
  }
  // Rooms: open odd-aligned squares of 3 (sometimes 5) cells, about as many as labmaze places.
  const std::int64_t rooms = size_ <= 13 ? 4 + (size_ - 9) / 2 : 9;
  for (std::int64_t r = 0; r < std::max<std::int64_t>(rooms, 1); ++r) {
    const std::int64_t side = (size_ >= 11 && rng_.below(2) == 0) ? 5 : 3;
    const std::int64_t slots = (size_ - side) / 2 + 1;  // odd top-left positions that fit
    const std::int64_t x0 = 1 + 2 * static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(slots)));
    const std::int64_t y0 = 1 + 2 * static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(slots)));
    for (std::int64_t y = y0; y < y0 + side; ++y)
      for (std::int64_t x = x0; x < x0 + side; ++x) at(x, y) = 0;
  }
  // Extra doorways: knock out one in ten of the remaining walls between two odd cells.
  for (std::int64_t y = 1; y <= size_; ++y)
    for (std::int64_t x = 1; x <= size_; ++x)
      if ((x % 2) != (y % 2) && at(x, y) && rng_.below(10) == 0) at(x, y) = 0;
}

void MemoryMaze::reset(std::uint64_t seed, const ObsSlot& out) {
  rng_.seed(seed);
  generate_maze();
  std::fill(object_at_.begin(), object_at_.end(), -1);
  objects_.clear();
  const auto cells = static_cast<std::uint64_t>(width_ * width_);
  auto random_free = [&]() {
    for (;;) {
      const auto c = static_cast<std::int64_t>(rng_.below(cells));
      if (!walls_[static_cast<std::size_t>(c)] && object_at_[static_cast<std::size_t>(c)] < 0) return c;
    }
  };
  for (int k = 0; k < num_objects_; ++k) {
    const std::int64_t c = random_free();
    objects_.push_back(c);
    object_at_[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(k);
  }
  agent_ = random_free();
  dir_ = static_cast<int>(rng_.below(4));
  target_ = static_cast<int>(rng_.below(static_cast<std::uint64_t>(num_objects_)));
  targets_reached_ = 0;
  steps_ = 0;
  started_ = true;
  running_ = true;
  write_obs(out);
}

void MemoryMaze::place_agent(std::int64_t cell, int dir) {
  MNEMO_CHECK(cell >= 0 && cell < width_ * width_ && !is_wall(cell), "cell ", cell, " is not a free cell");
  MNEMO_CHECK(dir >= 0 && dir < 4, "direction ", dir);
  agent_ = cell;
  dir_ = dir;
}

StepResult MemoryMaze::step(const void* action, const ObsSlot& out) {
  const std::int64_t a = read_discrete_action(action, space_);
  if (!running_) {
    throw Error(std::string("memory_maze: step called ") + (started_ ? "after the episode ended" : "before reset") +
                "; call reset first");
  }
  StepResult r;
  if (a == kForward || a == kForwardLeft || a == kForwardRight) {
    const std::int64_t next = agent_ + kDx[dir_] + kDy[dir_] * width_;
    if (!walls_[static_cast<std::size_t>(next)]) {
      agent_ = next;
      if (object_at_[static_cast<std::size_t>(agent_)] == target_) {
        r.reward = 1.0f;
        ++targets_reached_;
        if (num_objects_ > 1) {
          // Uniform over the other objects.
          const auto k = static_cast<int>(rng_.below(static_cast<std::uint64_t>(num_objects_ - 1)));
          target_ = k >= target_ ? k + 1 : k;
        }
      }
    }
  }
  if (a == kLeft || a == kForwardLeft) dir_ = (dir_ + 3) % 4;
  if (a == kRight || a == kForwardRight) dir_ = (dir_ + 1) % 4;
  ++steps_;
  r.truncated = steps_ >= max_steps_;
  running_ = !r.truncated;
  write_obs(out);
  return r;
}

void MemoryMaze::draw_view(std::uint8_t* image) const {
  const int v = view_, p = cell_px_, s = image_;
  const int half = (v - 1) / 2;
  // Which view cells hold a wall, and which can be seen (MiniGrid's propagation: light spreads
  // from the agent through open cells, row by row away from it).
  std::uint8_t opaque[31 * 31], seen[31 * 31];
  const int fx = kDx[dir_], fy = kDy[dir_];
  const int rx = kDx[(dir_ + 1) % 4], ry = kDy[(dir_ + 1) % 4];
  const std::int64_t ax = agent_ % width_, ay = agent_ / width_;
  for (int row = 0; row < v; ++row) {
    const int ahead = v - 1 - row;
    for (int col = 0; col < v; ++col) {
      const int side = col - half;
      const std::int64_t x = ax + ahead * fx + side * rx, y = ay + ahead * fy + side * ry;
      const bool inside = x >= 0 && y >= 0 && x < width_ && y < width_;
      opaque[row * v + col] = !inside || walls_[static_cast<std::size_t>(y * width_ + x)] ? 1 : 0;
      seen[row * v + col] = 0;
    }
  }
  seen[(v - 1) * v + half] = 1;
  for (int row = v - 1; row >= 0; --row) {
    for (int col = 0; col < v - 1; ++col) {
      if (!seen[row * v + col] || opaque[row * v + col]) continue;
      seen[row * v + col + 1] = 1;
      if (row > 0) seen[(row - 1) * v + col + 1] = seen[(row - 1) * v + col] = 1;
    }
    for (int col = v - 1; col > 0; --col) {
      if (!seen[row * v + col] || opaque[row * v + col]) continue;
      seen[row * v + col - 1] = 1;
      if (row > 0) seen[(row - 1) * v + col - 1] = seen[(row - 1) * v + col] = 1;
    }
  }
  // Border in the target's colour: the strips around the view only, since the view covers the
  // rest (the image is written on every step, so the saved bytes matter).
  const auto tc = object_color(target_);
  const int view_px = v * p;
  auto paint = [&](int y, int x0, int x1) {
    std::uint8_t* q = image + (static_cast<std::size_t>(y) * s + x0) * 3;
    for (int x = x0; x < x1; ++x, q += 3) {
      q[0] = tc[0];
      q[1] = tc[1];
      q[2] = tc[2];
    }
  };
  for (int y = 0; y < s; ++y) {
    if (y < border_ || y >= border_ + view_px) {
      paint(y, 0, s);
    } else {
      paint(y, 0, border_);
      paint(y, border_ + view_px, s);
    }
  }
  const std::size_t tile_bytes = static_cast<std::size_t>(p) * p * 3;
  for (int row = 0; row < v; ++row) {
    const int ahead = v - 1 - row;
    for (int col = 0; col < v; ++col) {
      int tile = kTileHidden;
      if (seen[row * v + col]) {
        if (opaque[row * v + col]) {
          tile = kTileWall;
        } else {
          const int side = col - half;
          const std::int64_t x = ax + ahead * fx + side * rx, y = ay + ahead * fy + side * ry;
          const int obj = object_at_[static_cast<std::size_t>(y * width_ + x)];
          const bool agent = ahead == 0 && side == 0;
          tile = obj >= 0 ? (agent ? kTileAgentOnObject : kTileObject) + obj : (agent ? kTileAgent : kTileFloor);
        }
      }
      const std::uint8_t* src = tiles_.data() + tile_bytes * static_cast<std::size_t>(tile);
      std::uint8_t* dst = image + (static_cast<std::size_t>(border_ + row * p) * s + border_ + col * p) * 3;
      for (int y = 0; y < p; ++y) std::memcpy(dst + static_cast<std::size_t>(y) * s * 3, src + y * p * 3, p * 3);
    }
  }
}

void MemoryMaze::write_obs(const ObsSlot& out) const {
  draw_view(out.as<std::uint8_t>(0));
  float* color = out.as<float>(1);
  const auto tc = object_color(target_);
  for (int i = 0; i < 3; ++i) color[i] = tc[i] / 255.0f;
}

void MemoryMaze::render(Frame& frame) const {
  const int cell = std::max(6, 160 / static_cast<int>(width_));
  const int map_px = static_cast<int>(width_) * cell;
  const int view_px = 2 * image_;
  frame.resize(std::max(map_px, view_px), map_px + 8 + view_px);
  Canvas c(frame);
  c.fill(colors::kDarkGrey);
  for (std::int64_t i = 0; i < width_ * width_; ++i) {
    const int x = static_cast<int>(i % width_) * cell, y = static_cast<int>(i / width_) * cell;
    c.rect(x, y, x + cell, y + cell, walls_[static_cast<std::size_t>(i)] ? kMazeWall : kMazeFloor);
  }
  for (int k = 0; k < num_objects_; ++k) {
    const int x = static_cast<int>(objects_[k] % width_) * cell, y = static_cast<int>(objects_[k] / width_) * cell;
    const auto col = object_color(k);
    if (k == target_) c.disc(x + cell / 2.0, y + cell / 2.0, cell * 0.5, colors::kWhite);
    c.disc(x + cell / 2.0, y + cell / 2.0, cell * 0.38, Rgb{col[0], col[1], col[2]});
  }
  const double ax = (agent_ % width_ + 0.5) * cell, ay = (agent_ / width_ + 0.5) * cell, s = cell * 0.45;
  const double fx = kDx[dir_], fy = kDy[dir_];
  c.triangle(ax + fx * s, ay + fy * s, ax - fx * s - fy * s, ay - fy * s + fx * s, ax - fx * s + fy * s,
             ay - fy * s - fx * s, colors::kWhite);
  // The agent's view, doubled.
  std::vector<std::uint8_t> view(static_cast<std::size_t>(image_) * image_ * 3);
  draw_view(view.data());
  for (int y = 0; y < view_px; ++y)
    for (int x = 0; x < view_px; ++x) {
      const std::uint8_t* src = view.data() + (static_cast<std::size_t>(y / 2) * image_ + x / 2) * 3;
      std::memcpy(frame.pixel(y, map_px + 8 + x), src, 3);
    }
}

}  // namespace mnemo::envs
