// The environment interface every mnemo env implements, plus the small helpers envs share
// (action validation, a seeded random generator).
//
// Modelled on envpool's declaration: an env declares its observation Spec and ActionSpace once,
// and reset/step write the observation into a slot whose memory the caller (a VectorEnv or a
// threaded pool) owns, so that a step allocates nothing and a batch of observations is already
// contiguous when it reaches batched policy inference.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/check.h"

namespace mnemo::envs {

// Where an env writes one observation: one raw pointer per field of observation_spec(), in
// spec order, each pointing at numel(field.shape) elements of field.dtype. The pointers are set
// up once by the owner and updated in place (set) when a pool moves an env to another row, so
// that building a slot is not a per-step allocation.
class ObsSlot {
 public:
  ObsSlot() = default;
  explicit ObsSlot(std::vector<void*> fields) : fields_(std::move(fields)) {}

  std::size_t size() const { return fields_.size(); }
  void* operator[](std::size_t i) const { return fields_[i]; }
  template <typename T>
  T* as(std::size_t i) const { return static_cast<T*>(fields_[i]); }
  void set(std::size_t i, void* p) { fields_[i] = p; }

 private:
  std::vector<void*> fields_;
};

// The outcome of one step. `terminated`: the episode reached a terminal state (do not
// bootstrap). `truncated`: it was cut by a time limit while not terminal (bootstrap from the
// final observation). Envs in mnemo never set both.
struct StepResult {
  float reward = 0.0f;
  bool terminated = false;
  bool truncated = false;
};

// One RGB image for people to look at (render, GIFs): row-major, height x width x 3 bytes.
struct Frame {
  int height = 0;
  int width = 0;
  std::vector<std::uint8_t> rgb;

  // Sets the size and paints every pixel black; keeps the capacity so that re-rendering into the
  // same Frame does not allocate.
  void resize(int h, int w) {
    MNEMO_CHECK(h > 0 && w > 0, "frame size ", h, "x", w);
    height = h;
    width = w;
    rgb.assign(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * 3, 0);
  }
  std::uint8_t* pixel(int y, int x) { return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  const std::uint8_t* pixel(int y, int x) const {
    return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3;
  }
};

struct StepBatch;
class Env;

// Steps every env of a synchronous pool in one call, for envs whose step is a round trip to
// another process (the Gymnasium bridge, envs/gym.h: one request per server per batch instead of
// one per env). The pool keeps its own bookkeeping (seeds, episode statistics, first, recording)
// and asks the batcher only for what the envs produce.
class EnvBatcher {
 public:
  virtual ~EnvBatcher() = default;
  // Resets (actions == nullptr) or steps every env i with its action at actions + i * action
  // bytes, writing row i of out.obs and out.infos and results[i]. A reset uses seeds[i]. A step
  // that ends env i's episode (terminated or truncated) writes that episode's last observation to
  // row i of out.final_obs and resets the env at once with seeds[i], so that row i of out.obs is
  // the new episode's first observation, as the pool's own auto-reset does. Throws mnemo::Error
  // (the pool is unusable after that).
  virtual void run(const char* actions, const std::uint64_t* seeds, StepBatch& out, StepResult* results) = 0;
};

// An environment. Not thread-safe: one thread drives one env at a time; a pool gets its
// parallelism from many envs, never from sharing one.
//
// Contract:
//  - reset(seed, out) starts an episode and writes its first observation; the same seed gives
//    the same episode for the same sequence of actions.
//  - step(action, out) advances one step and writes the next observation. `action` points at one
//    action laid out as action_space().field() (a single int64 for discrete spaces, `dim`
//    float32 for a box). An out-of-range action throws mnemo::Error and leaves the env as it
//    was; calling step before reset or after the episode ended also throws.
//  - info_names() names the scalar infos (for example "success") an env reports; infos(out)
//    writes info_names().size() floats describing the last reset or step. Infos are meant for
//    metrics, so they are floats whatever they measure.
//  - render(frame) draws the state after the last reset or step as an RGB image for people
//    (`mnemo render`, GIFs of episodes). It is a view, not the observation: pixel envs may draw
//    more than the agent sees (the whole maze next to the agent's view), vector envs draw a
//    picture of their state. It never changes the env, so rendering does not alter an episode.
//    Every registered env renders; the default throws mnemo::Error for envs that do not.
//
// A complete env, small enough to read in one go (one observation field, two actions, the
// episode ends when the counter reaches zero):
//
//   class Countdown : public mnemo::envs::Env {
//    public:
//     Countdown() : spec_{{{"count", mnemo::DType::kInt64, {}}}},
//                   space_(mnemo::ActionSpace::discrete(2)) {}
//     const mnemo::Spec& observation_spec() const override { return spec_; }
//     const mnemo::ActionSpace& action_space() const override { return space_; }
//     void reset(std::uint64_t seed, const ObsSlot& out) override {
//       count_ = 3 + static_cast<std::int64_t>(seed % 5);
//       *out.as<std::int64_t>(0) = count_;
//     }
//     StepResult step(const void* action, const ObsSlot& out) override {
//       std::int64_t a = read_discrete_action(action, space_);  // throws when out of range
//       count_ -= 1 + a;
//       *out.as<std::int64_t>(0) = count_;
//       return {/*reward=*/1.0f, /*terminated=*/count_ <= 0, /*truncated=*/false};
//     }
//    private:
//     mnemo::Spec spec_;
//     mnemo::ActionSpace space_;
//     std::int64_t count_ = 0;
//   };
class Env {
 public:
  virtual ~Env() = default;

  virtual const Spec& observation_spec() const = 0;
  virtual const ActionSpace& action_space() const = 0;

  virtual void reset(std::uint64_t seed, const ObsSlot& out) = 0;
  virtual StepResult step(const void* action, const ObsSlot& out) = 0;

  // Scalar infos; most envs have none.
  virtual std::vector<std::string> info_names() const { return {}; }
  virtual void infos(float* out) const { (void)out; }

  // Draws the current state into `frame` (resizing it). See the contract above.
  virtual void render(Frame& frame) const {
    (void)frame;
    throw Error("this env does not implement render()");
  }

  // A batcher for a synchronous pool of `envs` (this env among them, all made by one factory), or
  // nullptr (the default): the pool steps each env itself. Envs stepped by a batcher still answer
  // reset/step one by one (tools, exact resume), just more slowly.
  virtual std::unique_ptr<EnvBatcher> make_batcher(const std::vector<Env*>& envs) const {
    (void)envs;
    return nullptr;
  }
};

// Reads one discrete action and checks it against the space, so every env reports a bad action
// the same way instead of indexing out of bounds.
inline std::int64_t read_discrete_action(const void* action, const ActionSpace& space) {
  MNEMO_CHECK(space.kind == ActionSpace::Kind::kDiscrete, "env has action space ", space.str(),
              ", not a discrete one");
  std::int64_t a;
  std::memcpy(&a, action, sizeof a);  // actions may sit unaligned inside a wire frame
  if (a < 0 || a >= space.n) {
    throw Error("action " + std::to_string(a) + " is out of range for action space " + space.str() +
                " (valid actions are 0.." + std::to_string(space.n - 1) + ")");
  }
  return a;
}

// Checks one action of any kind without stepping: discrete and multi-discrete values must lie in
// range, box values must be finite (envs clip box actions to their bounds themselves, as gym
// does, since a Gaussian policy routinely samples outside them). A pool calls this for a whole
// batch before stepping any env so that one bad action leaves every env untouched.
inline void validate_action(const void* action, const ActionSpace& space) {
  switch (space.kind) {
    case ActionSpace::Kind::kDiscrete:
      read_discrete_action(action, space);
      return;
    case ActionSpace::Kind::kMultiDiscrete:
      for (std::size_t k = 0; k < space.nvec.size(); ++k) {
        std::int64_t a;
        std::memcpy(&a, static_cast<const char*>(action) + k * sizeof a, sizeof a);
        if (a < 0 || a >= space.nvec[k]) {
          throw Error("action component " + std::to_string(k) + " = " + std::to_string(a) +
                      " is out of range for action space " + space.str() + " (valid values are 0.." +
                      std::to_string(space.nvec[k] - 1) + ")");
        }
      }
      return;
    case ActionSpace::Kind::kBox:
      for (std::size_t k = 0; k < space.low.size(); ++k) {
        float a;
        std::memcpy(&a, static_cast<const char*>(action) + k * sizeof a, sizeof a);
        if (!std::isfinite(a)) {
          throw Error("action component " + std::to_string(k) + " is not finite (" + std::to_string(a) +
                      ") for action space " + space.str());
        }
      }
      return;
  }
}

// One step of the splitmix64 sequence (Steele, Lea, Flood 2014): a cheap, well-mixed way to
// turn one seed into many independent ones.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// xoshiro256** (Blackman, Vigna): small state, fast, and identical on every platform, unlike
// std::uniform_real_distribution whose output differs between standard libraries, which would
// break "same seed, same episode" across machines.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { this->seed(seed); }

  void seed(std::uint64_t seed) {
    // The standard seeding: consecutive outputs of a splitmix64 generator started at `seed`.
    for (auto& s : s_) {
      s = splitmix64(seed);
      seed += 0x9E3779B97F4A7C15ULL;
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-64 * n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Writes one uniformly random action of `space` into `out`, laid out as space.field() (int64
// values for discrete and multi-discrete spaces, float32 for a box): each discrete component
// uniform over its values, each box component uniform in [low, high). The random policy of
// `mnemo render` and `mnemo collect`.
inline void sample_action(const ActionSpace& space, Rng& rng, void* out) {
  switch (space.kind) {
    case ActionSpace::Kind::kDiscrete: {
      const auto a = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(space.n)));
      std::memcpy(out, &a, sizeof a);
      return;
    }
    case ActionSpace::Kind::kMultiDiscrete:
      for (std::size_t k = 0; k < space.nvec.size(); ++k) {
        const auto a = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(space.nvec[k])));
        std::memcpy(static_cast<char*>(out) + k * sizeof a, &a, sizeof a);
      }
      return;
    case ActionSpace::Kind::kBox:
      for (std::size_t k = 0; k < space.low.size(); ++k) {
        const auto a = static_cast<float>(rng.uniform(space.low[k], space.high[k]));
        std::memcpy(static_cast<char*>(out) + k * sizeof a, &a, sizeof a);
      }
      return;
  }
}

}  // namespace mnemo::envs
