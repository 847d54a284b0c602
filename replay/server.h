// Server: the replay service, one Table behind a ZeroMQ ROUTER socket served by one thread.
//
// Actors insert sequences and learners sample batches through replay::Client, in the same process
// over inproc:// (embedded mode) or from other ranks over tcp://. The service must never let one
// client stall the others, so nothing blocks on a client: an insert into a full table and a sample
// of more items than are stored are parked with the request's deadline and answered as soon as
// the table allows (FIFO among parked requests of each kind), or with a timeout error when the
// deadline passes. Bad bytes from a peer get an error reply when one can be addressed, a warning
// naming the peer, and change nothing else.
//
// Protocol (wire::Message fields; every reply carries the request's request_id):
//   kInsert  item fields + "timeout_ms" (int64 scalar)  -> kOk
//   kSample  "n", "timeout_ms" (int64 scalars)          -> kOk with the stacked fields + "keys" (int64 [n])
//   kInfo                                               -> kOk with "size", "max_size", "inserts",
//                                                          "samples", "pending" (int64 scalars)
//   kShutdown                                           -> kOk, then run() returns
//   failures                                            -> kError with "message" (text) and, when
//                                                          the deadline passed, "timeout" (bool)
// A request the server could not decode is answered with request_id 0.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/array.h"
#include "replay/table.h"

namespace mnemo::replay {

// Field names the protocol reserves; an item cannot use them.
inline constexpr const char* kTimeoutField = "timeout_ms";
inline constexpr const char* kCountField = "n";
inline constexpr const char* kKeysField = "keys";
inline constexpr const char* kMessageField = "message";
inline constexpr const char* kTimedOutField = "timeout";
bool is_reserved_field(const std::string& name);

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:*";
  std::int64_t max_message_mb = 256;
  std::int64_t max_pending = 1024;
  TableOptions table;

  template <class V>
  void visit(V& v) {
    v("bind", bind, "ZeroMQ endpoint to bind; port * picks a free one (inproc://name in one process)");
    v("max_message_mb", max_message_mb, "largest request accepted, in MiB; larger ones are rejected");
    v("max_pending", max_pending, "parked inserts/samples beyond this are refused, bounding memory");
    v("table", table, "the replay table");
  }
  // Throws ConfigError naming the option.
  void validate() const;
};

struct ServerStats {
  std::int64_t size = 0;          // items stored
  std::int64_t max_size = 0;
  std::int64_t inserts = 0;       // items accepted
  std::int64_t samples = 0;       // items handed out
  std::int64_t requests = 0;      // messages received
  std::int64_t bad_requests = 0;  // messages rejected as malformed or invalid
  std::int64_t pending = 0;       // requests parked now
  std::int64_t expired = 0;       // parked requests answered with a timeout
};

class Server {
 public:
  // Binds immediately, so endpoint() can be published before the server runs. Throws ConfigError
  // for bad options and mnemo::Error when the endpoint cannot be bound.
  explicit Server(ServerOptions options, std::optional<Spec> signature = std::nullopt);
  ~Server();  // stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound endpoint, with the actual port when bind used "*".
  std::string endpoint() const;
  // Serves on a thread of its own until stop(), shutdown request or destruction.
  void start();
  // Serves on the calling thread (a process whose only role is replay). Returns after a
  // kShutdown request or stop() from another thread; parked requests then get a kError reply.
  void run();
  // Makes the serving loop return (within about 50 ms) and joins the thread start() made.
  void stop();
  // Safe from any thread.
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::replay
