// A test env whose episode length depends on its index in the pool: env 0's episodes last one
// step, every other env's `long_length` steps, with reward 1 per step (return = length). Pools of
// it tell a fair episode count (each env its share) from one that takes the first episodes to
// finish (which over-weights env 0).
#pragma once

#include <cstdint>
#include <memory>

#include "envs/env.h"
#include "envs/step_batch.h"

namespace mnemo::testing {

class FixedLengthEnv : public envs::Env {
 public:
  explicit FixedLengthEnv(std::int64_t length)
      : length_(length), spec_{{{"obs", DType::kFloat32, {1}}}}, space_(ActionSpace::discrete(2)) {}
  const Spec& observation_spec() const override { return spec_; }
  const ActionSpace& action_space() const override { return space_; }
  void reset(std::uint64_t, const envs::ObsSlot& out) override {
    t_ = 0;
    *out.as<float>(0) = 0.0f;
  }
  envs::StepResult step(const void* action, const envs::ObsSlot& out) override {
    envs::read_discrete_action(action, space_);
    ++t_;
    *out.as<float>(0) = static_cast<float>(t_) / static_cast<float>(length_);
    return {/*reward=*/1.0f, /*terminated=*/t_ >= length_, /*truncated=*/false};
  }

 private:
  std::int64_t length_;
  std::int64_t t_ = 0;
  Spec spec_;
  ActionSpace space_;
};

inline envs::EnvFactory fixed_length_envs(std::int64_t long_length) {
  return [long_length](std::size_t i) -> std::unique_ptr<envs::Env> {
    return std::make_unique<FixedLengthEnv>(i == 0 ? 1 : long_length);
  };
}

}  // namespace mnemo::testing
