// Server: the replay service, one or more Tables behind a ZeroMQ ROUTER socket served by one thread.
//
// Actors insert sequences and learners sample batches through replay::Client, in the same process
// over inproc:// (embedded mode), from other ranks over tcp://, or as its own process
// (`mnemo replay CONFIG`). The service must never let one client stall the others, so nothing
// blocks on a client: an insert the table does not admit yet and a sample it cannot serve yet are
// parked with the request's deadline and answered as soon as the table allows (FIFO among parked
// requests of each kind and table), or with a rate-limiter timeout when the deadline passes. Parked
// requests are bounded in total and per client, and each client bounds its own inserts in flight,
// so memory stays bounded however fast actors produce. Bad bytes from a peer get an error reply
// when one can be addressed, a warning naming the peer, and change nothing else.
//
// Checkpoints: with checkpoint_dir set the server saves every table periodically, on request
// (Client::checkpoint) and when it stops; each save copies the tables' indexes on the serving thread
// and writes on a thread of its own (see checkpointer.h). With resume it restores the newest
// complete checkpoint before serving. A checkpoint request may instead name a directory under
// snapshot_root: the tables' snapshots go there (same copy-the-index-then-write path), so a learner
// can embed replay contents in its own atomic checkpoint, and restore_from() reads them back.
//
// The protocol is described in protocol.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/config.h"
#include "core/net/curve.h"
#include "replay/protocol.h"
#include "replay/table.h"

namespace mnemo::replay {

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:*";
  std::int64_t max_message_mb = 256;
  std::int64_t max_pending = 1024;
  std::int64_t max_pending_per_client = 256;
  TableOptions table;
  config::Node tables;
  std::string checkpoint_dir;
  double checkpoint_every_s = 0;
  std::int64_t checkpoint_keep = 3;
  bool checkpoint_on_stop = true;
  bool resume = false;
  std::string snapshot_root;
  std::string curve_secret_key_file;
  std::vector<std::string> curve_authorized_keys;

  template <class V>
  void visit(V& v) {
    v("bind", bind, "ZeroMQ endpoint to bind (loopback by default); port * picks a free one; inproc://name in one process");
    v("max_message_mb", max_message_mb, "largest request accepted, in MiB; larger ones are rejected");
    v("max_pending", max_pending, "parked inserts/samples beyond this are refused, bounding memory");
    v("max_pending_per_client", max_pending_per_client, "parked requests one client may have, so one cannot crowd out the others");
    v("table", table, "the default table (requests that name no table use it)");
    v("tables", tables, "more tables: a mapping from table name to table options (same keys as table)");
    v("checkpoint_dir", checkpoint_dir, "directory for replay checkpoints; empty disables checkpointing");
    v("checkpoint_every_s", checkpoint_every_s, "seconds between periodic checkpoints; 0 only on request and stop");
    v("checkpoint_keep", checkpoint_keep, "number of replay checkpoints kept");
    v("checkpoint_on_stop", checkpoint_on_stop, "write a checkpoint when the server stops (needs checkpoint_dir)");
    v("resume", resume, "restore the newest complete checkpoint of checkpoint_dir at start");
    v("snapshot_root", snapshot_root, "clients may ask for table snapshots in directories under this one (mnemo train sets it with replay.checkpoint); empty: refused");
    v("curve_secret_key_file", curve_secret_key_file, "CURVE: the server's key file (mnemo keygen); empty: no encryption");
    v("curve_authorized_keys", curve_authorized_keys, "CURVE: client .pub files or directories of them; empty: any client with the server key");
  }
  // Throws ConfigError naming the option.
  void validate() const;
  // The CURVE keys of curve_secret_key_file and curve_authorized_keys (read from their files); none
  // when curve_secret_key_file is empty. Throws ConfigError naming a file that cannot serve.
  transport::CurveServer curve() const;
  // The default table followed by the `tables` entries, each validated. Throws ConfigError.
  std::vector<TableOptions> table_options() const;
};

struct ServerStats {
  std::int64_t size = 0;          // items stored in the default table
  std::int64_t max_size = 0;
  std::int64_t inserts = 0;       // items accepted by the default table
  std::int64_t samples = 0;       // items handed out by the default table
  std::int64_t requests = 0;      // messages received
  std::int64_t bad_requests = 0;  // messages rejected as malformed or invalid
  std::int64_t pending = 0;       // requests parked now (all tables)
  std::int64_t expired = 0;       // parked requests answered with a timeout
  std::int64_t refused = 0;       // requests refused because too many were parked
  std::int64_t lost_replies = 0;  // replies to peers that had gone
  std::int64_t checkpoints = 0;   // checkpoints written
};

class Server {
 public:
  // Binds immediately, so endpoint() can be published before the server runs, and restores the
  // newest checkpoint when options.resume is set. Throws ConfigError for bad options and
  // mnemo::Error when the endpoint cannot be bound or a checkpoint cannot be restored. `signature`
  // fixes the default table's signature.
  explicit Server(ServerOptions options, std::optional<Spec> signature = std::nullopt);
  ~Server();  // stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound endpoint, with the actual port when bind used "*".
  std::string endpoint() const;
  // Serves on a thread of its own until stop(), shutdown request or destruction.
  void start();
  // Serves on the calling thread (a process whose only role is replay). Returns after a
  // kShutdown request or stop() from another thread; parked requests then get a kError reply
  // (code kUnavailable, which clients retry) and, when configured, a last checkpoint is written.
  void run();
  // Makes the serving loop return (within about 50 ms) and joins the thread start() made.
  void stop();
  // Safe from any thread.
  ServerStats stats() const;
  // Writes a checkpoint now from the calling thread (any thread; serialised with the server's own)
  // and returns its directory. Throws mnemo::Error when no checkpoint_dir is configured.
  std::string checkpoint();
  // Replaces the tables' contents with the snapshots in `dir` (written by a checkpoint request
  // naming a directory, or save_tables), tables matched by name; returns the items restored. Call
  // before start()/run(): requests parked under the old contents would be answered against the
  // new ones. Throws ReplayError: kNotFound when `dir` holds no table snapshot, kDataLoss for a
  // corrupt one, kSignatureMismatch for a table whose configured signature differs.
  std::int64_t restore_from(const std::filesystem::path& dir);
  // As restore_from(dir), but this server is part `part` of `parts` of contents saved by
  // `dirs.size()` shards (one directory each): it takes its share of every table (repartition()).
  std::int64_t restore_from(const std::vector<std::filesystem::path>& dirs, int part, int parts);
  // Counters of one table; throws ReplayError(kNotFound) for an unknown name.
  TableCounters table_counters(const std::string& table) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::replay
