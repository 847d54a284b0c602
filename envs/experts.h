// Scripted experts: hand-written policies that solve the envs where a solution is simple, so that
// offline datasets of expert (or expert plus random) behaviour can be collected without training
// a policy first (`mnemo collect --policy scripted`), and so that tests can tell a solvable env
// from a broken one.
//
// An expert acts from the env's state, read through the env's public read-only accessors, not
// from the observation: it is privileged, which is what makes it short and always right (the
// T-Maze expert knows the cue's arm all along, as a policy with perfect memory would).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// A scripted policy for one kind of env. Stateless: act() depends only on the env's current
// state, so one expert serves every env of a pool, from any thread that owns the env it reads.
class Expert {
 public:
  virtual ~Expert() = default;
  // Writes the action for `env`'s current state into `action`, laid out as
  // env.action_space().field(). `env` must be mid-episode (after reset, before the episode ended)
  // and of the kind the expert was made for; another kind throws mnemo::Error.
  virtual void act(const Env& env, void* action) const = 0;
};

// The expert for the env registered as `env_name`. Throws mnemo::ConfigError for an env without
// one, listing the envs that have one.
std::unique_ptr<Expert> make_expert(const std::string& env_name);

// Registered env names that have an expert, in registry order.
std::vector<std::string> expert_env_names();

}  // namespace mnemo::envs
