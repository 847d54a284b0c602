// Parameter distribution from the learner to the actors over the data plane.
//
// The learner publishes each new version of its flat parameter vector to a ParameterServer (a
// ROUTER socket on its own thread); actors poll it with ParameterClient::fetch, which returns the
// parameters only when a version newer than the one they hold exists, so an idle poll costs one
// small message. The server also carries the run's stop signal to actors in other processes.
// Torch-free: parameters travel as a float32 Array (see nn::flatten_parameters).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/array.h"

namespace mnemo {

class ParameterServer {
 public:
  // Binds `endpoint` ("inproc://params", "tcp://127.0.0.1:*") and starts serving.
  explicit ParameterServer(const std::string& endpoint);
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
  // Number of fetches that returned stop (lets the learner wait until actors have seen it).
  std::int64_t stop_replies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct FetchedParams {
  std::int64_t version = -1;
  std::int64_t base_version = -1;  // first version of this learner session
  Array params;  // undefined when no newer version exists
  bool stop = false;
};

class ParameterClient {
 public:
  explicit ParameterClient(const std::string& endpoint, std::int64_t timeout_ms = 30000);
  ~ParameterClient();
  ParameterClient(const ParameterClient&) = delete;
  ParameterClient& operator=(const ParameterClient&) = delete;

  // Latest version on the server; params are set only when it is newer than `have_version`.
  // Throws TimeoutError when the server does not answer in time.
  FetchedParams fetch(std::int64_t have_version);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
