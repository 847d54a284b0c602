// The env registry: maps the `env.name` of a config to an Env, with typed options.
//
// Every env class declares its registry entry itself (kName, kDescription, `using Options`,
// Options::visit and Options::validate), and RegisteredEnvs lists the classes once, so that the
// name dispatch in make_env and the listing in registered_envs() cannot drift apart. The config
// layer supplies a binder that fills any options struct from the YAML `env:` section through its
// visit(), which keeps the registry free of YAML and the options of every env typed.
//
// Adding an env: write the class with the four declarations above, include its header here and
// append it to RegisteredEnvs.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "envs/cartpole.h"
#include "envs/catch.h"
#include "envs/env.h"
#include "envs/gym.h"
#include "envs/key_to_door.h"
#include "envs/memory_maze.h"
#include "envs/mystery_path.h"
#include "envs/pendulum.h"
#include "envs/tmaze.h"

namespace mnemo::envs {

template <class... E>
struct EnvList {};

// Every env `make_env` knows, in the order `registered_envs()` lists them: the classic control
// tasks next to their masked (memory-requiring) versions, then the memory suite, then pixels.
using RegisteredEnvs =
    EnvList<CartPole, MaskedCartPole, Pendulum, MaskedPendulum, TMaze, KeyToDoor, MysteryPath, MemoryMaze, Catch>;

// Envs that are not compiled into mnemo but reached through a bridge (envs/gym.h): make_env knows
// them too, but their spec comes from the env they serve, so they have no default instance and
// registered_envs() (the suite, whose contracts the registry tests check) does not list them.
using BridgeEnvs = EnvList<GymEnv>;

// One option of an env, for `mnemo envs` style listings and docs.
struct OptionDoc {
  std::string key;            // dotted for nested structs
  std::string type;           // bool, int, int64, double, string, list<...>
  std::string default_value;  // formatted like the YAML a user would write
  std::string help;
};

// One registry entry.
struct EnvInfo {
  std::string name;
  std::string description;
  std::vector<OptionDoc> options;
};

const std::vector<EnvInfo>& registered_envs();
// The bridge envs, described like registered ones.
const std::vector<EnvInfo>& bridge_envs();
// "cartpole, ..., gym" for error messages: every name make_env knows.
std::string registered_env_names();
// Throws mnemo::ConfigError naming `name` and every valid name.
[[noreturn]] void throw_unknown_env(const std::string& name);

namespace detail {

template <class E, class Binder>
std::unique_ptr<Env> make_registered(Binder& bind) {
  using Options = typename E::Options;
  Options options;
  if constexpr (std::is_invocable_v<Binder&, Options&>) {
    bind(options);
  } else {
    // A binder written for one env's options was used to make another env: a programming error,
    // reported rather than silently building the env with defaults.
    throw Error(std::string("make_env: the options binder cannot bind the options of env '") + E::kName + "'");
  }
  options.validate();
  return std::make_unique<E>(options);
}

template <class Binder, class... E>
std::unique_ptr<Env> make_from_list(const std::string& name, Binder& bind, EnvList<E...>) {
  std::unique_ptr<Env> env;
  ((env == nullptr && name == E::kName ? (void)(env = make_registered<E>(bind)) : void()), ...);
  return env;
}

}  // namespace detail

// Makes the env registered as `name`. `bind(options)` is called with a default-constructed
// options struct of that env (for example CartPoleOptions) and fills it from config; the
// options are then validated. A generic binder (`[&](auto& o) { bind_yaml(node, o); }`) serves
// every env; a binder taking one options type is fine for the env it fits.
// Throws mnemo::ConfigError for an unknown name or invalid options.
template <class Binder>
std::unique_ptr<Env> make_env(const std::string& name, Binder&& bind) {
  std::unique_ptr<Env> env = detail::make_from_list(name, bind, RegisteredEnvs{});
  if (env == nullptr) env = detail::make_from_list(name, bind, BridgeEnvs{});
  if (env == nullptr) throw_unknown_env(name);
  return env;
}

// Makes the env registered as `name` with default options.
std::unique_ptr<Env> make_env(const std::string& name);

}  // namespace mnemo::envs
