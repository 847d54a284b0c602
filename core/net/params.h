// Parameter distribution from the learner to the actors over the data plane.
//
// The learner publishes each new version of its flat parameter vector to a ParameterServer (a
// ROUTER socket on its own thread); actors poll it with ParameterClient::fetch, which returns the
// parameters only when a version newer than the one they hold exists, so an idle poll costs one
// small message. The server also carries the run's stop signal to actors in other processes.
// Torch-free: parameters travel as a float32 Array (see nn::flatten_parameters).
//
// It also keeps the run's roster of actors. An actor names itself (id, envs) on every fetch, and
// its heartbeat thread fetches a few times a second, so an actor that is silent for longer than
// the roster's timeout is declared lost (killed, hung or cut off). One that sends `leave` is
// removed at once, and an id the roster did not expect joins it. Each change starts an epoch at
// the current version with the live actors' envs. Sync-mode actors count their share of every
// update from it, so that the others cover a lost actor's share and a joining actor takes its
// part (actors/actor.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/net/curve.h"

namespace mnemo {

// What an evaluator found with the parameters of `version`: named values (return, infos).
struct EvalReport {
  std::int64_t version = -1;
  std::map<std::string, double> values;
};

class ParameterServer {
 public:
  // Binds `endpoint` ("inproc://params", "tcp://127.0.0.1:*") and starts serving, with CURVE when
  // `curve` is on (clients then need its public key).
  explicit ParameterServer(const std::string& endpoint, const transport::CurveServer& curve = {});
  ~ParameterServer();
  ParameterServer(const ParameterServer&) = delete;
  ParameterServer& operator=(const ParameterServer&) = delete;

  // The bound endpoint other processes connect to.
  std::string endpoint() const;
  // Makes `params` (not modified afterwards) version `version`, visible to the next fetch. The
  // first version published is the session's base version (sync-mode actors count from it).
  void publish(Array params, std::int64_t version);
  // Tells every actor that polls from now on to stop.
  void set_stopping();

  // The actors the run starts with: ids 0..count-1 with `envs_each` envs each. They make the first
  // epoch, so a healthy run never changes epoch. An actor unheard of for `timeout_ms` is lost
  // (one never heard of: 3 x timeout_ms after this call, to allow for start-up); 0 disables it.
  void expect_actors(std::int64_t count, std::int64_t envs_each, std::int64_t timeout_ms);
  // Actors in the roster now, and whether every one of them has been told to stop.
  std::int64_t live_actors() const;
  std::vector<std::int64_t> live_actor_ids() const;
  // The version the actors' current plan began at (FetchedParams::plan).
  std::int64_t plan() const;
  // The learner holds the sequences of updates up to `updates` (it sampled for the last of them):
  // a replan from now on starts at that version, so that it never remakes a share already taken.
  void note_sampled(std::int64_t updates);
  bool all_actors_stopped() const;
  // Actors lost (by silence) or gone (by leave) so far.
  std::int64_t lost_actors() const;
  // The evaluators' reports received since the last call, oldest first.
  std::vector<EvalReport> take_reports();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct FetchedParams {
  std::int64_t version = -1;
  std::int64_t base_version = -1;  // first version of this learner session
  Array params;  // undefined when no newer version exists
  bool stop = false;
  std::int64_t epoch = -1;  // version at which the current roster took effect (-1: no roster yet)
  std::int64_t epoch_envs = 0;  // envs of all live actors in it
  std::int64_t actor_id = -1;   // join(): the id assigned
  std::int64_t replans = 0;     // replan() requests so far: the unrolls made before the last one were lost
  std::int64_t plan = -1;       // the version the actors' current plan began at: the session's base
                                // version, or the last replan's; sequences of older plans are superseded
};

class ParameterClient {
 public:
  explicit ParameterClient(const std::string& endpoint, std::int64_t timeout_ms = 30000,
                           const transport::CurveClient& curve = {});
  ~ParameterClient();
  ParameterClient(const ParameterClient&) = delete;
  ParameterClient& operator=(const ParameterClient&) = delete;

  // Latest version on the server; params are set only when it is newer than `have_version`.
  // Throws TimeoutError when the server does not answer in time.
  FetchedParams fetch(std::int64_t have_version);
  // From now on every fetch names this actor (its roster heartbeat). `incarnation` counts the
  // restarts of the id: a new one rejoins the roster (its predecessor's work in flight is lost).
  void set_identity(std::int64_t actor_id, std::int64_t envs, std::int64_t incarnation = 0);
  // Asks the server for a fresh actor id (an actor joining a running job) and takes it as identity.
  std::int64_t join(std::int64_t envs);
  // Sends an evaluation of the parameters of `version` (at most 32 values) to the server.
  void report(std::int64_t version, const std::map<std::string, double>& values);
  // Asks the server to start a new epoch at the current version (sync-mode actors make the
  // current update's share again), e.g. after a replay shard lost its items; `why` is logged.
  void replan(const std::string& why);
  // Tells the server that this actor leaves, with the reason for its log. Waits at most
  // `timeout_ms`; a server that does not answer is not an error here.
  void leave(const std::string& reason, std::int64_t timeout_ms = 1000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
