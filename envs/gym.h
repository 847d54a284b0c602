// The Gymnasium bridge: any Gymnasium environment (or anything with its API) as a mnemo env,
// served by Python processes (the server is envs/python/mnemo_envs/server.py): over a Unix stream
// socket for the servers mnemo starts, over ZeroMQ or a Unix socket for servers already running.
//
//   env: {name: gym, id: CartPole-v1}                         # mnemo starts the servers
//   env: {name: gym, id: mypkg.envs:make, kwargs: {level: 3}, servers: 2}
//   env: {name: gym, id: CartPole-v1, endpoints: [tcp://10.0.0.5:5555]}   # servers already running
//
// The observation spec and action space come from the server's spaces (Box, Discrete,
// MultiDiscrete, MultiBinary, Dict and Tuple of those; see spaces.py for the mapping). A pool of
// gym envs is stepped by a batcher (Env::make_batcher): its envs are copies spread over `servers`
// server processes, each answering one request per batch, and the requests to all servers are
// in flight together, so Python stepping runs on as many cores as there are servers. The
// semantics are the pool's own: gym-style auto-reset with final_obs (not Gymnasium 1.x's
// next-step autoreset), terminated vs truncated as the env reports them, seeds from the pool's
// seed streams (env.reset(seed=...)), numeric scalar infos as mnemo infos.
//
// Failure is an Error naming the env and the endpoint: a server that exits (with its status and
// the last lines of its output), one that does not answer within timeout_ms, a space mnemo cannot
// represent (printed), and replies that do not decode or do not match the spec (the C++ wire
// decoder checks every size before allocating, as for any wire input).
//
// Thread-safety: like every Env, one thread at a time; the envs of one pool share their servers
// and are driven by the pool's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "envs/env.h"

namespace mnemo::envs {

struct GymOptions {
  std::string id;                       // Gymnasium id (CartPole-v1) or module:function
  config::Node kwargs;                  // keyword arguments for gymnasium.make or the factory
  std::int64_t servers = 1;             // server processes per pool, when mnemo starts them
  std::vector<std::string> endpoints;   // servers already running (one pool's envs spread over them): tcp://, ipc://, unix://
  std::string python;                   // interpreter; empty: $MNEMO_PYTHON, else /usr/bin/python3, else python3
  std::string render_mode = "rgb_array";  // render_mode of the copies; "" for envs that cannot render
  std::vector<std::string> info_keys;   // infos to pass on; empty: the numeric scalar infos the env shows
  std::int64_t timeout_ms = 60000;      // longest wait for a reply
  std::int64_t start_timeout_ms = 60000;  // longest wait for a server to start (imports, env construction)
  std::int64_t spin_us = 200;           // a started server polls this long for the next request before it sleeps

  template <class V>
  void visit(V& v) {
    v("id", id, "Gymnasium env id (CartPole-v1) or module:function returning an env with the Gymnasium API");
    v("kwargs", kwargs, "keyword arguments for gymnasium.make(id, ...) or the factory, as a map");
    v("servers", servers, "Python server processes per pool (one per core steps envs in parallel)");
    v("endpoints", endpoints, "endpoints of servers already running (python3 -m mnemo_envs.server): ZeroMQ's tcp:// or ipc://, or unix:///path; empty: start them");
    v("python", python, "Python interpreter for the servers; empty: $MNEMO_PYTHON, /usr/bin/python3 or python3");
    v("render_mode", render_mode, "render_mode the copies are made with (rgb_array for frames; empty: none)");
    v("info_keys", info_keys, "info keys passed on as mnemo infos; empty: the numeric scalar infos of the env");
    v("timeout_ms", timeout_ms, "longest wait for a server's reply");
    v("start_timeout_ms", start_timeout_ms, "longest wait for a server to start");
    v("spin_us", spin_us, "microseconds a started server polls for the next request before it sleeps (0: never)");
  }
  void validate() const;
};

class GymServer;
struct GymSpec;

// One copy of a Gymnasium env. A pool of them is stepped in batches; used alone (render, tests)
// a copy starts a server of its own on first use.
class GymEnv : public Env {
 public:
  static constexpr const char* kName = "gym";
  static constexpr const char* kDescription =
      "any Gymnasium env (an id or module:function) served by Python processes (envs/python)";
  using Options = GymOptions;

  // Reads the env's spec (from a short-lived server the first time this process sees these
  // options, then from a cache). Throws mnemo::Error when the server cannot start or the env's
  // spaces cannot be represented.
  explicit GymEnv(const GymOptions& options);
  ~GymEnv() override;

  const Spec& observation_spec() const override;
  const ActionSpace& action_space() const override;
  std::vector<std::string> info_names() const override;
  void infos(float* out) const override;

  void reset(std::uint64_t seed, const ObsSlot& out) override;
  StepResult step(const void* action, const ObsSlot& out) override;
  void render(Frame& frame) const override;

  std::unique_ptr<EnvBatcher> make_batcher(const std::vector<Env*>& envs) const override;

  // The endpoint of the server this copy is served by ("" before first use).
  std::string endpoint() const;

 private:
  friend class GymBatcher;
  void bind_alone();

  GymOptions options_;
  std::shared_ptr<const GymSpec> spec_;
  std::shared_ptr<GymServer> server_;  // the server holding this copy, once bound
  std::int64_t copy_ = 0;              // this copy's index on that server
  std::vector<float> infos_;
  bool started_ = false;
  bool ended_ = false;
};

}  // namespace mnemo::envs
