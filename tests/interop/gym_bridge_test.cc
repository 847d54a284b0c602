// Real Gymnasium envs through the bridge (label `interop`): a pool of CartPole-v1, Pendulum-v1
// and two POPGym memory tasks served by Python servers steps with random actions, and
// tests/interop/gym_reference.py replays the same seeds and actions in Gymnasium's own loop
// (env.reset(seed=...), env.step(...)), checking that every observation, reward, flag and final
// observation the pool saw is what Gymnasium gives. MiniGrid's MissionSpace is refused with the
// space printed. Skipped with a message where build/venv (scripts/python-venv.sh) is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "envs/env_pool.h"
#include "envs/gym.h"

namespace mnemo::envs {
namespace {
namespace fs = std::filesystem;

const std::string kVenvPython = MNEMO_VENV_PYTHON;

#define REQUIRE_VENV()                                                                      \
  if (!fs::exists(kVenvPython))                                                             \
  GTEST_SKIP() << "no " << kVenvPython << " (make test-interop creates it: scripts/python-venv.sh)"

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string bytes_of(const Array& a) { return std::string(static_cast<const char*>(a.raw()), a.nbytes()); }

// Steps `n` copies of `id` for `steps` steps through the bridge, writes what the pool saw to a
// folder and returns the reference script's exit code (0: Gymnasium's loop agrees).
int run_and_compare(const std::string& id, std::int64_t n, int steps, const fs::path& dir) {
  GymOptions o;
  o.id = id;
  o.python = kVenvPython;
  o.render_mode = "";
  o.servers = 2;
  EnvPoolOptions p;
  p.num_envs = n;
  EnvPool pool(p, [o](std::size_t) { return std::make_unique<GymEnv>(o); });
  EXPECT_EQ(pool.observation_spec().fields.size(), 1u) << "the reference compares one observation field";
  const std::uint64_t base = 42;
  std::string actions, obs, final_obs, reward, terminated, truncated;
  const StepBatch* b = &pool.reset(base);
  obs += bytes_of(b->obs[0]);
  Rng rng(7);
  const FieldSpec af = pool.action_space().field();
  const std::size_t row = static_cast<std::size_t>(shape_numel(af.shape)) * dtype_size(af.dtype);
  std::vector<std::vector<std::uint64_t>> seeds(static_cast<std::size_t>(n));
  std::vector<SeedStream> streams;
  for (std::int64_t i = 0; i < n; ++i) {
    streams.emplace_back(base, static_cast<std::size_t>(i));
    seeds[static_cast<std::size_t>(i)].push_back(streams.back().next());
  }
  for (int t = 0; t < steps; ++t) {
    Shape shape{n};
    shape.insert(shape.end(), af.shape.begin(), af.shape.end());
    Array a = Array::zeros(af.dtype, shape);
    for (std::int64_t i = 0; i < n; ++i) sample_action(pool.action_space(), rng, static_cast<char*>(a.raw()) + i * row);
    b = &pool.step(a);
    actions += bytes_of(a);
    obs += bytes_of(b->obs[0]);
    reward += bytes_of(b->reward);
    terminated += bytes_of(b->terminated);
    truncated += bytes_of(b->truncated);
    for (std::int64_t i = 0; i < n; ++i) {
      const bool ended = b->terminated.data<std::uint8_t>()[i] || b->truncated.data<std::uint8_t>()[i];
      const std::size_t bytes = b->final_obs[0].nbytes() / static_cast<std::size_t>(n);
      const char* f = static_cast<const char*>(b->final_obs[0].raw()) + static_cast<std::size_t>(i) * bytes;
      final_obs += ended ? std::string(f, bytes) : std::string(bytes, '\0');
      if (ended) seeds[static_cast<std::size_t>(i)].push_back(streams[static_cast<std::size_t>(i)].next());
    }
  }
  fs::create_directories(dir);
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {"actions", actions}, {"obs", obs}, {"final_obs", final_obs}, {"reward", reward},
           {"terminated", terminated}, {"truncated", truncated}})
    write_bytes(dir / (name + ".bin"), data);
  const FieldSpec& of = pool.observation_spec().fields[0];
  std::string meta = "{\"id\": " + json::quote(id) + ", \"num_envs\": " + std::to_string(n) +
                     ", \"steps\": " + std::to_string(steps) + ", \"obs_dtype\": \"" + dtype_name(of.dtype) +
                     "\", \"obs_shape\": " + shape_str(of.shape) + ", \"action_dtype\": \"" + dtype_name(af.dtype) +
                     "\", \"action_shape\": " + shape_str(af.shape) + ", \"seeds\": [";
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    meta += i ? ", [" : "[";
    for (std::size_t k = 0; k < seeds[i].size(); ++k) meta += (k ? ", " : "") + std::to_string(seeds[i][k]);
    meta += "]";
  }
  write_bytes(dir / "meta.json", meta + "]}");
  const std::string cmd = kVenvPython + " " + MNEMO_SOURCE_DIR + "/tests/interop/gym_reference.py " + dir.string();
  return std::system(cmd.c_str());
}

class GymInteropTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GymInteropTest, ThePoolSeesWhatGymnasiumsOwnLoopGivesForTheSameSeedsAndActions) {
  REQUIRE_VENV();
  const fs::path dir = fs::temp_directory_path() / ("mnemo-gym-interop-" + std::to_string(::getpid()));
  const int rc = run_and_compare(GetParam(), /*n=*/4, /*steps=*/400, dir);
  fs::remove_all(dir);
  EXPECT_EQ(rc, 0) << GetParam() << ": see the reference's output above";
}

INSTANTIATE_TEST_SUITE_P(RealEnvs, GymInteropTest,
                         ::testing::Values("CartPole-v1", "Pendulum-v1",
                                           "popgym.envs.position_only_cartpole:PositionOnlyCartPoleEasy",
                                           "popgym.envs.repeat_previous:RepeatPreviousEasy"),
                         [](const auto& info) {
                           std::string s = info.param.substr(info.param.rfind(':') + 1);
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(GymInteropTest, MiniGridsMissionSpaceIsRefusedWithTheSpacePrinted) {
  REQUIRE_VENV();
  GymOptions o;
  o.id = "minigrid:MiniGrid-MemoryS7-v0";  // Gymnasium's module:id, importing minigrid to register it
  o.python = kVenvPython;
  try {
    GymEnv env(o);
    FAIL() << "MiniGrid's observation space was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MissionSpace"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace mnemo::envs
