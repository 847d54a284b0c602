// Memory Maze tests: every free cell is reachable, the published sizes, object counts and step
// limits, target changes on touch, the target colour in the image border and the field, the
// egocentric view (walls hide what is behind them), truncation, determinism and options.
#include "envs/memory_maze.h"

#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "tests/envs/env_test_util.h"

namespace mnemo::envs {
namespace {

using testing::ObsBuffers;
using testing::step_discrete;

MemoryMaze maze_of_size(std::int64_t size) {
  MemoryMazeOptions o;
  o.size = size;
  return MemoryMaze(o);
}

// Cells reachable from the agent, by breadth-first search over free cells.
std::size_t reachable(const MemoryMaze& env) {
  const std::int64_t w = env.width();
  std::vector<char> seen(static_cast<std::size_t>(w * w), 0);
  std::deque<std::int64_t> q{env.agent_cell()};
  seen[static_cast<std::size_t>(env.agent_cell())] = 1;
  std::size_t n = 0;
  while (!q.empty()) {
    const std::int64_t c = q.front();
    q.pop_front();
    ++n;
    for (std::int64_t d : {-w, w, std::int64_t{-1}, std::int64_t{1}}) {
      const std::int64_t m = c + d;
      if (!env.is_wall(m) && !seen[static_cast<std::size_t>(m)]) {
        seen[static_cast<std::size_t>(m)] = 1;
        q.push_back(m);
      }
    }
  }
  return n;
}

// Shortest path from the agent to `goal` as a list of cells (goal last).
std::vector<std::int64_t> path_to(const MemoryMaze& env, std::int64_t goal) {
  const std::int64_t w = env.width();
  std::vector<std::int64_t> prev(static_cast<std::size_t>(w * w), -2);
  std::deque<std::int64_t> q{env.agent_cell()};
  prev[static_cast<std::size_t>(env.agent_cell())] = -1;
  while (!q.empty()) {
    const std::int64_t c = q.front();
    q.pop_front();
    for (std::int64_t d : {-w, w, std::int64_t{-1}, std::int64_t{1}}) {
      const std::int64_t m = c + d;
      if (!env.is_wall(m) && prev[static_cast<std::size_t>(m)] == -2) {
        prev[static_cast<std::size_t>(m)] = c;
        q.push_back(m);
      }
    }
  }
  std::vector<std::int64_t> path;
  for (std::int64_t c = goal; c != env.agent_cell(); c = prev[static_cast<std::size_t>(c)]) path.insert(path.begin(), c);
  return path;
}

int direction_to(std::int64_t a, std::int64_t b, std::int64_t w) {
  if (b == a - w) return MemoryMaze::kNorth;
  if (b == a + w) return MemoryMaze::kSouth;
  if (b == a + 1) return MemoryMaze::kEast;
  return MemoryMaze::kWest;
}

TEST(MemoryMazeTest, UsesThePublishedObjectCountsAndStepLimitsPerSize) {
  const std::int64_t sizes[] = {9, 11, 13, 15}, objects[] = {3, 4, 5, 6}, limits[] = {1000, 2000, 3000, 4000};
  for (int i = 0; i < 4; ++i) {
    MemoryMaze env = maze_of_size(sizes[i]);
    EXPECT_EQ(env.num_objects(), objects[i]);
    EXPECT_EQ(env.max_steps(), limits[i]);
    EXPECT_EQ(env.width(), sizes[i] + 2);
  }
}

TEST(MemoryMazeTest, DeclaresA64By64RgbImageAndTheTargetColour) {
  MemoryMaze env;
  const Spec& spec = env.observation_spec();
  ASSERT_EQ(spec.fields.size(), 2u);
  EXPECT_EQ(spec.fields[0].name, "image");
  EXPECT_EQ(spec.fields[0].dtype, DType::kUInt8);
  EXPECT_EQ(spec.fields[0].shape, (Shape{64, 64, 3}));
  EXPECT_EQ(spec.fields[1].name, "target_color");
  EXPECT_EQ(spec.fields[1].shape, (Shape{3}));
  EXPECT_EQ(env.action_space().n, 6);
}

TEST(MemoryMazeTest, EveryFreeCellIsReachableAndTheBorderIsWalled) {
  for (std::int64_t size : {7, 9, 11, 13, 15, 21}) {
    MemoryMaze env = maze_of_size(size);
    ObsBuffers obs(env.observation_spec());
    for (std::uint64_t seed = 0; seed < 25; ++seed) {
      env.reset(seed, obs.slot);
      const std::int64_t w = env.width();
      std::size_t free_cells = 0;
      for (std::int64_t c = 0; c < w * w; ++c) {
        const bool border = c % w == 0 || c / w == 0 || c % w == w - 1 || c / w == w - 1;
        if (border) ASSERT_TRUE(env.is_wall(c));
        free_cells += !env.is_wall(c);
      }
      ASSERT_EQ(reachable(env), free_cells) << "size " << size << " seed " << seed;
      std::set<std::int64_t> cells;
      for (int k = 0; k < env.num_objects(); ++k) {
        EXPECT_FALSE(env.is_wall(env.object_cell(k)));
        cells.insert(env.object_cell(k));
      }
      EXPECT_EQ(cells.size(), static_cast<std::size_t>(env.num_objects())) << "objects on distinct cells";
    }
  }
}

TEST(MemoryMazeTest, TouchingTheTargetPaysOneAndPicksADifferentTarget) {
  MemoryMaze env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/4, obs.slot);
  std::set<int> targets{env.target()};
  for (int round = 0; round < 6; ++round) {
    const int target = env.target();
    const std::int64_t goal = env.object_cell(target);
    const auto path = path_to(env, goal);
    ASSERT_FALSE(path.empty());
    StepResult r;
    for (std::int64_t cell : path) {
      env.place_agent(env.agent_cell(), direction_to(env.agent_cell(), cell, env.width()));
      r = step_discrete(env, MemoryMaze::kForward, obs);
      ASSERT_EQ(env.agent_cell(), cell);
      if (cell != goal && r.reward != 0.0f) break;  // passed over the new target on the way
    }
    if (env.agent_cell() != goal) continue;
    EXPECT_FLOAT_EQ(r.reward, 1.0f);
    EXPECT_NE(env.target(), target);
    targets.insert(env.target());
    // Objects stay where they are.
    EXPECT_EQ(env.object_cell(target), goal);
  }
  EXPECT_GE(targets.size(), 2u);
  float reached = 0;
  env.infos(&reached);
  EXPECT_GE(reached, 1.0f);
}

TEST(MemoryMazeTest, ImageBorderAndTargetFieldShowTheTargetColour) {
  MemoryMaze env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/2, obs.slot);
  const auto color = MemoryMaze::object_color(env.target());
  const std::uint8_t* img = obs.as<std::uint8_t>(0);
  for (int x = 0; x < 64; ++x)
    for (int y : {0, 1, 62, 63}) {
      ASSERT_EQ(img[(y * 64 + x) * 3 + 0], color[0]);
      ASSERT_EQ(img[(y * 64 + x) * 3 + 1], color[1]);
      ASSERT_EQ(img[(y * 64 + x) * 3 + 2], color[2]);
    }
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(obs.as<float>(1)[c], color[c] / 255.0f);
}

TEST(MemoryMazeTest, WallsBlockMovementAndHideWhatIsBehindThem) {
  MemoryMaze env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/6, obs.slot);
  const std::int64_t w = env.width();
  // Find a free cell with a wall to its north and face it.
  std::int64_t cell = -1;
  for (std::int64_t c = w; c < w * w && cell < 0; ++c)
    if (!env.is_wall(c) && env.is_wall(c - w) && !env.is_wall(c + w)) cell = c;
  ASSERT_GE(cell, 0);
  env.place_agent(cell, MemoryMaze::kNorth);
  step_discrete(env, MemoryMaze::kForward, obs);
  EXPECT_EQ(env.agent_cell(), cell);
  // The cell two rows ahead (behind the wall) straight in front is hidden: black. View rows are
  // 8 pixels tall from a 4-pixel border; the agent sits in row 6, the wall in row 5.
  const std::uint8_t* img = obs.as<std::uint8_t>(0);
  const int x = 4 + 3 * 8 + 4, y = 4 + 4 * 8 + 4;
  EXPECT_EQ(img[(y * 64 + x) * 3 + 0], 0);
  EXPECT_EQ(img[(y * 64 + x) * 3 + 1], 0);
  EXPECT_EQ(img[(y * 64 + x) * 3 + 2], 0);
}

TEST(MemoryMazeTest, TurnsChangeTheViewButNotThePosition) {
  MemoryMaze env;
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/1, obs.slot);
  const std::int64_t at = env.agent_cell();
  const int dir = env.direction();
  step_discrete(env, MemoryMaze::kLeft, obs);
  EXPECT_EQ(env.direction(), (dir + 3) % 4);
  step_discrete(env, MemoryMaze::kRight, obs);
  step_discrete(env, MemoryMaze::kRight, obs);
  EXPECT_EQ(env.direction(), (dir + 1) % 4);
  EXPECT_EQ(env.agent_cell(), at);
}

TEST(MemoryMazeTest, TruncatesAtTheStepLimitAndNeverTerminates) {
  MemoryMazeOptions o;
  o.max_steps = 50;
  MemoryMaze env(o);
  ObsBuffers obs(env.observation_spec());
  env.reset(/*seed=*/0, obs.slot);
  for (int t = 1; t < 50; ++t) {
    const StepResult r = step_discrete(env, t % 6, obs);
    ASSERT_FALSE(r.terminated);
    ASSERT_FALSE(r.truncated);
  }
  EXPECT_TRUE(step_discrete(env, MemoryMaze::kForward, obs).truncated);
}

TEST(MemoryMazeTest, SameSeedGivesSameMazeAndEpisode) {
  MemoryMaze a, b;
  ObsBuffers oa(a.observation_spec()), ob(b.observation_spec());
  a.reset(/*seed=*/21, oa.slot);
  b.reset(/*seed=*/21, ob.slot);
  for (int t = 0; t < 100; ++t) {
    ASSERT_EQ(oa.bytes(), ob.bytes()) << t;
    step_discrete(a, (t * 5) % 6, oa);
    step_discrete(b, (t * 5) % 6, ob);
  }
}

TEST(MemoryMazeTest, BadActionsAndOptionsAreRejected) {
  MemoryMaze env;
  ObsBuffers obs(env.observation_spec());
  EXPECT_THROW(step_discrete(env, 1, obs), Error);
  env.reset(/*seed=*/0, obs.slot);
  EXPECT_THROW(step_discrete(env, 6, obs), Error);
  for (std::int64_t size : {8, 5, 33, -9}) {
    MemoryMazeOptions o;
    o.size = size;
    EXPECT_THROW(MemoryMaze{o}, ConfigError) << size;
  }
  MemoryMazeOptions o;
  o.num_objects = 9;
  EXPECT_THROW(MemoryMaze{o}, ConfigError);
  o = {};
  o.image_size = 10;
  EXPECT_THROW(MemoryMaze{o}, ConfigError);
}

}  // namespace
}  // namespace mnemo::envs
