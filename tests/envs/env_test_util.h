// Helpers shared by the env tests: observation buffers laid out from a Spec, and stepping an env
// with a plain action value.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs::testing {

// Owns one observation of any spec, so a test can drive an env without a pool.
struct ObsBuffers {
  explicit ObsBuffers(const Spec& spec) {
    for (const auto& f : spec.fields)
      fields.emplace_back(static_cast<std::size_t>(shape_numel(f.shape)) * dtype_size(f.dtype) + 8, 0);
    std::vector<void*> ptrs;
    for (auto& f : fields) ptrs.push_back(f.data());
    slot = ObsSlot(ptrs);
  }
  template <typename T>
  const T* as(std::size_t field) const {
    return reinterpret_cast<const T*>(fields[field].data());
  }
  template <typename T>
  std::vector<T> vec(std::size_t field) const {
    const std::size_t n = (fields[field].size() - 8) / sizeof(T);
    return std::vector<T>(as<T>(field), as<T>(field) + n);
  }
  // Every byte of every field, for whole-observation comparisons.
  std::vector<char> bytes() const {
    std::vector<char> all;
    for (const auto& f : fields) all.insert(all.end(), f.begin(), f.end());
    return all;
  }
  std::vector<std::vector<char>> fields;
  ObsSlot slot;
};

inline StepResult step_discrete(Env& env, std::int64_t action, ObsBuffers& obs) {
  return env.step(&action, obs.slot);
}

}  // namespace mnemo::envs::testing
