// Client: how actors and learners talk to replay Servers, in-process (inproc://) or remote (tcp://).
//
// The socket is a DEALER rather than a REQ so that a request that timed out never leaves the socket
// stuck waiting for a reply: every request carries an id and replies to abandoned requests are
// discarded. On top of that the client adds what a long training run needs:
//   - pipelined inserts with a bounded number in flight (max_in_flight_inserts): an actor keeps the
//     network busy, yet can never grow memory without bound when replay is slower than it, because
//     insert() waits for the oldest acknowledgement once the bound is reached;
//   - sample prefetch: up to `prefetch` sample requests of the same size stay in flight, so a learner
//     finds its next batch already received;
//   - timeouts with clear errors (errors.h: IsRateLimiterTimeout, IsDeadlineExceeded, ...) and a stop
//     flag, so an actor shutting down never hangs in insert() while a table is full;
//   - automatic reconnect: when a tcp:// connection drops (server restart, heartbeat timeout) the
//     socket is rebuilt and every unanswered request is sent again, so a restarted server sees them
//     (inserts are at-least-once across a restart);
//   - sharding: an endpoint list "tcp://a:1,tcp://b:2" spreads inserts round-robin over the
//     servers and splits each sample over all of them;
//   - optional lz4/zstd compression of large fields and CURVE encryption.
//
// Thread-safety: one Client per thread; a Client may move between threads between calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/net/curve.h"
#include "replay/errors.h"
#include "replay/table.h"

namespace mnemo::replay {

struct ClientOptions {
  std::int64_t timeout_ms = 30000;
  std::int64_t max_message_mb = 4096;
  std::string table;
  std::int64_t max_in_flight_inserts = 1;
  std::int64_t max_batch_mb = 64;
  std::int64_t prefetch = 0;
  std::string compression = "none";
  std::int64_t compression_level = 1;
  std::int64_t compress_min_bytes = 16384;
  bool reconnect = true;
  std::int64_t heartbeat_ms = 0;
  std::string curve_server_key_file;
  std::string curve_key_file;

  template <class V>
  void visit(V& v) {
    v("timeout_ms", timeout_ms, "how long insert/sample/info wait for the server before a timeout error");
    v("max_message_mb", max_message_mb, "largest reply (a sampled batch) accepted, in MiB");
    v("table", table, "table that requests name by default; empty: the server's default table");
    v("max_in_flight_inserts", max_in_flight_inserts, "inserts sent but not yet acknowledged; 1 waits for each");
    v("max_batch_mb", max_batch_mb,
      "largest insert_many request (stacked items), in MiB; keep it under the server's max_message_mb");
    v("prefetch", prefetch, "sample requests kept in flight ahead of sample() (same batch size); 0 off");
    v("compression", compression, "compress large item fields: none, lz4 or zstd");
    v("compression_level", compression_level, "zstd level (1-19) or lz4 acceleration (1 = densest)");
    v("compress_min_bytes", compress_min_bytes, "fields smaller than this are sent uncompressed");
    v("reconnect", reconnect, "rebuild a dropped tcp connection and resend unanswered requests");
    v("heartbeat_ms", heartbeat_ms, "ZeroMQ heartbeat interval to detect silent servers (0 off; libzmq 4.3.4 can abort with heartbeats under load)");
    v("curve_server_key_file", curve_server_key_file, "CURVE: the server's .pub file; empty: no encryption");
    v("curve_key_file", curve_key_file, "CURVE: this client's .key file; empty: a fresh key pair per client");
  }
  // Throws ConfigError naming the option.
  void validate() const;
  // The CURVE keys of curve_server_key_file and curve_key_file (a fresh pair when that is empty);
  // none when curve_server_key_file is empty. Throws ConfigError naming a file that cannot serve.
  transport::CurveClient curve() const;
};

// Counters of the server's table (summed over shards), as of the info() call.
struct Info {
  std::int64_t size = 0;
  std::int64_t max_size = 0;
  std::int64_t inserts = 0;
  std::int64_t samples = 0;
  std::int64_t pending = 0;  // requests parked on the server(s)
  std::int64_t bytes = 0;
  std::int64_t evicted = 0;
  bool rate_limited = true;
  std::vector<std::string> tables;  // every table of the (first) server
};

// Where a server wrote its tables' snapshots (Client::checkpoint_into) and how many items they hold.
struct Snapshot {
  std::string path;
  std::int64_t items = 0;
};

class Client {
 public:
  // `endpoint` is one endpoint or a comma-separated list of shards. Connects lazily: no server
  // needs to be listening yet. Throws ConfigError for bad options and mnemo::Error for an invalid
  // endpoint or an unreadable key file.
  explicit Client(std::string endpoint, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Inserts one item (into options.table or `table`), with the table's default priority or
  // `priority`. With max_in_flight_inserts 1 it returns once the server accepted the item, waiting
  // while the table does not admit it; otherwise it returns once the item is sent (the item is
  // copied first) and at most max_in_flight_inserts - 1 earlier inserts are unacknowledged, and the
  // failure of an earlier insert is thrown by a later insert() or flush(). Throws ReplayError
  // with the server's message when it refuses the item (IsSignatureMismatch), RateLimiterTimeoutError
  // when it is not admitted within timeout_ms, DeadlineExceededError when the server does not
  // answer, StoppedError when the stop flag is set while waiting. Once it returns normally the
  // caller may reuse the item's buffers.
  void insert(const Item& item);
  void insert(const Item& item, double priority, const std::string& table = "");
  // Inserts items of one layout (same field names, dtypes and shapes; else ReplayError) in as
  // few requests as possible: the items each shard gets are stacked into one request (split at
  // max_batch_mb), which the server inserts in order. Counts as one insert in flight per
  // request, waits and throws like insert(); a request that times out may have inserted part of
  // its items (the error says how many). With compression the items go one by one.
  void insert_many(const std::vector<Item>& items, const std::string& table = "");
  void insert_many(const std::vector<Item>& items, const std::vector<double>& priorities,
                   const std::string& table = "");
  // Waits until every insert in flight is acknowledged; throws the first failure.
  void flush();
  // Takes n items (stacked [n, ...]) with their keys, probabilities and importance weights, waiting
  // until the table admits the sample. Throws like insert().
  Batch sample(std::int64_t n);
  Batch sample(std::int64_t n, const std::string& table);
  // Sets priorities by key (keys from a sampled Batch); returns how many items still existed.
  std::int64_t update_priorities(const std::vector<std::uint64_t>& keys, const std::vector<double>& priorities,
                                 const std::string& table = "");
  // Turns a table's rate limiting off while prefilling from offline data, and on again.
  void set_rate_limited(bool on, const std::string& table = "");
  Info info(const std::string& table = "");
  // Asks every server to write a checkpoint; returns the checkpoint directories (one per shard).
  std::vector<std::string> checkpoint();
  // Asks every server to write its tables' snapshots into `dir`/<shard> (shard: the server's
  // position in the endpoint list) and waits until all are on disk. For embedding replay contents
  // in another atomic checkpoint (a learner's); each server must have `dir` under its
  // snapshot_root, and the directory is not atomic by itself. Returns one entry per shard.
  std::vector<Snapshot> checkpoint_into(const std::string& dir);
  // Asks the server(s) to stop serving (their run() returns).
  void shutdown_server();

  // While set (non-null and true), waiting calls throw StoppedError within about 50 ms. The flag
  // must outlive the Client or be reset to nullptr.
  void set_stop_flag(const std::atomic<bool>* flag);
  const std::string& endpoint() const;
  // Insert requests sent and not yet acknowledged (never more than max_in_flight_inserts).
  std::int64_t in_flight_inserts() const;
  // Times a dropped connection was rebuilt.
  std::int64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::replay
