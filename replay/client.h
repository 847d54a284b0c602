// Client: how actors and learners talk to a replay Server, in-process (inproc://) or remote (tcp://).
//
// Each call sends one request and waits for its reply. The socket is a DEALER rather than a REQ so
// that a request that timed out never leaves the socket stuck waiting for a reply: every request
// carries an id and replies to older requests are discarded. A waiting call can also be
// interrupted through a stop flag, so that an actor shutting down never hangs in insert() while
// the table is full.
//
// Thread-safety: one Client per thread; a Client may move between threads between calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "replay/table.h"

namespace mnemo::replay {

struct ClientOptions {
  std::int64_t timeout_ms = 30000;
  std::int64_t max_message_mb = 4096;

  template <class V>
  void visit(V& v) {
    v("timeout_ms", timeout_ms, "how long insert/sample/info wait for the server before a TimeoutError");
    v("max_message_mb", max_message_mb, "largest reply (a sampled batch) accepted, in MiB");
  }
  // Throws ConfigError naming the option.
  void validate() const;
};

// Counters of the server's table, as of the info() call.
struct Info {
  std::int64_t size = 0;
  std::int64_t max_size = 0;
  std::int64_t inserts = 0;
  std::int64_t samples = 0;
  std::int64_t pending = 0;  // requests parked on the server
};

// Thrown when the stop flag interrupts a waiting call; what() is "stopped".
class StoppedError : public Error {
 public:
  StoppedError() : Error("stopped") {}
};

class Client {
 public:
  // Connects lazily: no server needs to be listening yet. Throws ConfigError for bad options and
  // mnemo::Error for an invalid endpoint.
  explicit Client(std::string endpoint, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Inserts one item, waiting while the table is full. Throws mnemo::Error with the server's
  // message when it refuses the item (e.g. signature mismatch), TimeoutError when it is not
  // accepted within timeout_ms, StoppedError when the stop flag is set while waiting. Once it
  // returns normally the caller may reuse the item's buffers; after a throw the request may still
  // be queued with them, so do not write to them then.
  void insert(const Item& item);
  // Takes the n oldest items, waiting until n are stored. Throws like insert().
  Batch sample(std::int64_t n);
  Info info();
  // Asks the server to stop serving (its run() returns).
  void shutdown_server();

  // While set (non-null and true), waiting calls throw StoppedError within about 50 ms. The flag
  // must outlive the Client or be reset to nullptr.
  void set_stop_flag(const std::atomic<bool>* flag);
  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::replay
