// Replay server loop: one thread, one ROUTER socket, tables with parked requests and deadlines,
// asynchronous checkpoints. See server.h.
#include "replay/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "core/net/transport.h"
#include "core/net/wire.h"
#include "replay/checkpointer.h"

namespace mnemo::replay {
namespace {

using Clock = std::chrono::steady_clock;
using wire::Message;
using wire::MsgType;

// The loop wakes at least this often to notice stop(), passed deadlines and finished checkpoints.
constexpr long kSliceMs = 50;
// Messages handled before parked requests and deadlines are looked at again.
constexpr int kBurst = 256;
// A deadline further away than this is treated as this (keeps time arithmetic far from overflow).
constexpr std::int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;
// Snapshot exports (checkpoint requests naming a directory) being written at once.
constexpr std::size_t kMaxExports = 4;

const ServerOptions& validated(const ServerOptions& o) {
  o.validate();
  return o;
}

wire::Limits limits_of(const ServerOptions& o) {
  wire::Limits l;
  l.max_message_bytes = static_cast<std::size_t>(o.max_message_mb) << 20;
  // In-process clients leave payload checksums out, and so do the replies to them (wire.h).
  l.allow_unchecked_payload = transport::in_process(o.bind);
  return l;
}

std::string table_name_of(const Message& m) {
  return m.has(kTableField) ? wire::array_text(m.at(kTableField)) : std::string();
}

std::vector<std::string> authorized_keys(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> keys;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".pub") keys.push_back(transport::read_curve_key_file(e.path().string()).public_key);
    } else {
      keys.push_back(transport::read_curve_key_file(p).public_key);
    }
  }
  return keys;
}

}  // namespace

void ServerOptions::validate() const {
  if (bind.empty()) throw ConfigError("replay server option 'bind' must not be empty");
  if (max_message_mb < 1 || max_message_mb > (std::int64_t{1} << 20))
    throw ConfigError("replay server option 'max_message_mb' must be in [1, 1048576], got " +
                      std::to_string(max_message_mb));
  if (max_pending < 1)
    throw ConfigError("replay server option 'max_pending' must be at least 1, got " + std::to_string(max_pending));
  if (max_pending_per_client < 1)
    throw ConfigError("replay server option 'max_pending_per_client' must be at least 1, got " +
                      std::to_string(max_pending_per_client));
  if (checkpoint_every_s < 0)
    throw ConfigError("replay server option 'checkpoint_every_s' must be >= 0, got " + std::to_string(checkpoint_every_s));
  if (checkpoint_keep < 1)
    throw ConfigError("replay server option 'checkpoint_keep' must be at least 1, got " + std::to_string(checkpoint_keep));
  if (resume && checkpoint_dir.empty())
    throw ConfigError("replay server option 'resume' needs 'checkpoint_dir'");
  if (curve_secret_key_file.empty() && !curve_authorized_keys.empty())
    throw ConfigError("replay server option 'curve_authorized_keys' needs 'curve_secret_key_file'");
  table_options();
}

transport::CurveServer ServerOptions::curve() const {
  transport::CurveServer c;
  if (curve_secret_key_file.empty()) return c;
  c.keys = transport::read_curve_key_file(curve_secret_key_file);
  if (c.keys.secret_key.empty())
    throw ConfigError("replay option 'curve_secret_key_file': " + curve_secret_key_file +
                      " has no secret-key (use the .key file, not the .pub)");
  c.authorized = authorized_keys(curve_authorized_keys);
  return c;
}

std::vector<TableOptions> ServerOptions::table_options() const {
  std::vector<TableOptions> out{table};
  if (tables.kind != config::Node::Kind::kNull) {
    if (!tables.is_map())
      throw ConfigError("replay option 'tables' must be a mapping from table name to options" +
                        (tables.origin.empty() ? std::string() : " (" + tables.origin + ")"));
    for (const auto& [name, node] : tables.map) {
      TableOptions t;
      config::bind(node, "replay.tables." + name, t);
      if (t.name != "default" && t.name != name)
        throw ConfigError("replay.tables." + name + ".name is '" + t.name + "'; leave it out or make it '" + name + "'");
      t.name = name;
      out.push_back(std::move(t));
    }
  }
  std::map<std::string, int> seen;
  for (const auto& t : out) {
    t.validate();
    if (seen[t.name]++) throw ConfigError("replay: two tables are named '" + t.name + "'");
  }
  return out;
}

struct Server::Impl {
  enum class Kind { kInsert, kSample };
  // A request that cannot be answered yet.
  struct Parked {
    Kind kind = Kind::kInsert;
    std::string routing_id;
    std::string peer;
    std::uint64_t request_id = 0;
    std::int64_t timeout_ms = 0;
    Clock::time_point deadline;
    std::vector<EncodedItem> items;  // inserts: one, or a batch's
    std::vector<double> priorities;  // inserts, per item
    std::size_t next = 0;            // inserts: items already in the table
    bool batch = false;              // inserts: a kInsertBatch request (its reply counts the items)
    std::int64_t n = 0;              // samples
  };
  struct TableState {
    std::unique_ptr<Table> table;
    std::deque<Parked> inserts;
    std::deque<Parked> samples;
  };
  struct Waiter {
    std::string routing_id;
    std::uint64_t request_id;
  };

  Impl(ServerOptions o, std::optional<Spec> signature)
      : options(validated(o)),
        limits(limits_of(options)),
        recv_limits(transport::RecvLimits::for_wire(limits, /*extra_frames=*/1)),
        socket(transport::context(), zmq::socket_type::router) {
    const auto all = options.table_options();
    for (std::size_t i = 0; i < all.size(); ++i) {
      TableState t;
      t.table = std::make_unique<Table>(all[i], i == 0 ? signature : std::nullopt);
      by_name[all[i].name] = tables.size();
      tables.push_back(std::move(t));
    }
    if (!options.checkpoint_dir.empty()) {
      checkpointer = std::make_unique<DirectoryCheckpointer>(options.checkpoint_dir,
                                                             static_cast<int>(options.checkpoint_keep));
      if (options.resume) restore();
    }
    transport::configure_server_socket(socket, limits);
    socket.set(zmq::sockopt::router_mandatory, 1);
    transport::configure_curve(socket, options.curve());
    endpoint = transport::bind_any(socket, options.bind);
  }

  void restore() {
    auto snaps = checkpointer->load_latest();
    if (!snaps) {
      MNEMO_INFO("replay: no checkpoint in ", options.checkpoint_dir, ", starting empty");
      return;
    }
    apply(*snaps);
  }

  // Restores every configured table found in `snaps`; returns the items restored.
  std::int64_t apply(const std::vector<TableSnapshot>& snaps) {
    std::int64_t items = 0;
    for (const auto& s : snaps) {
      auto it = by_name.find(s.name);
      if (it == by_name.end()) {
        MNEMO_WARN("replay: checkpoint has table '", s.name, "' that is not configured; skipped");
        continue;
      }
      tables[it->second].table->restore(s);
      const std::int64_t size = tables[it->second].table->size();
      items += size;
      MNEMO_INFO("replay: restored table '", s.name, "' with ", size, " items");
    }
    return items;
  }

  void serve() {
    MNEMO_INFO("replay server with ", tables.size(), " table(s) serving at ", endpoint);
    bool shutdown = false;
    auto next_checkpoint = Clock::now() + every();
    while (!stop_requested.load() && !shutdown) {
      auto in = transport::recv(socket, recv_limits, wait_ms());
      for (int handled = 0; in && !shutdown;) {
        handle(*in, shutdown);
        if (++handled >= kBurst) break;
        in = transport::recv(socket, recv_limits, 0);
      }
      const auto now = Clock::now();
      expire(now);
      if (checkpointer && options.checkpoint_every_s > 0 && now >= next_checkpoint) {
        start_checkpoint();
        next_checkpoint = now + every();
      }
      finish_checkpoint(/*wait=*/false);
      finish_exports(/*wait=*/false);
    }
    fail_all_parked("replay server at " + endpoint + " is shutting down");
    if (checkpointer && options.checkpoint_on_stop) start_checkpoint();
    finish_checkpoint(/*wait=*/true);
    finish_exports(/*wait=*/true);
    MNEMO_INFO("replay server at ", endpoint, " stopped");
  }

  Clock::duration every() const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.checkpoint_every_s));
  }

  long wait_ms() const {
    long wait = kSliceMs;
    const auto now = Clock::now();
    for (const auto& t : tables)
      for (const auto* queue : {&t.inserts, &t.samples})
        for (const Parked& p : *queue) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count() + 1;
          wait = std::max(0L, std::min(wait, static_cast<long>(left)));
        }
    return wait;
  }

  void handle(transport::Incoming& in, bool& shutdown) {
    ++requests;
    if (in.frames.empty()) {  // even the routing id was over the limits: nobody to answer
      ++bad_requests;
      MNEMO_WARN("replay server at ", endpoint, ": dropped a message from ", transport::peer_name(in.peer), ": ",
                 in.reason);
      return;
    }
    const std::string routing_id(static_cast<const char*>(in.frames[0].data), in.frames[0].size);
    const std::string who = transport::peer_name(in.peer);
    if (in.rejected) return reject(routing_id, who, 0, ErrorCode::kResourceExhausted, in.reason);
    std::vector<wire::Frame> frames(std::make_move_iterator(in.frames.begin() + 1),
                                    std::make_move_iterator(in.frames.end()));
    in.frames.clear();
    Message request;
    try {
      request = wire::decode(std::move(frames), limits);
    } catch (const wire::WireError& e) {
      const auto code = e.code() == wire::WireError::Code::kTooLarge ? ErrorCode::kResourceExhausted
                                                                      : ErrorCode::kInvalidArgument;
      return reject(routing_id, who, 0, code, e.what());
    }
    try {
      dispatch(routing_id, who, request, shutdown);
    } catch (const std::exception& e) {
      ErrorCode code = code_of(e);
      if (code == ErrorCode::kUnknown) code = ErrorCode::kInvalidArgument;
      reject(routing_id, who, request.request_id, code, e.what());
    }
  }

  TableState& table_of(const Message& req) {
    const std::string name = table_name_of(req);
    if (name.empty()) return tables.front();
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      std::string known;
      for (const auto& t : tables) known += (known.empty() ? "" : ", ") + t.table->name();
      throw ReplayError(ErrorCode::kNotFound, "no replay table named '" + name + "' (tables: " + known + ")");
    }
    return tables[it->second];
  }

  void dispatch(const std::string& routing_id, const std::string& who, const Message& req, bool& shutdown) {
    switch (req.type) {
      case MsgType::kInsert:
      case MsgType::kInsertBatch: {
        TableState& t = table_of(req);
        Parked p = make_parked(Kind::kInsert, routing_id, who, req);
        p.batch = req.type == MsgType::kInsertBatch;
        if (!p.batch) {
          p.items.push_back(item_from_request(req, limits.max_message_bytes));
        } else {
          // Views into the message when items leave in insertion order (the frame goes with the
          // batch's last item); copies when one item could pin the whole batch's memory.
          const TableOptions& o = t.table->options();
          const bool in_order = o.remover == "fifo" && (o.resolved_max_times_sampled() == 0 || o.sampler == "fifo");
          p.items = items_from_batch_request(req, /*share=*/in_order);
        }
        p.priorities = priorities_from_request(req, p.items.size(), t.table->options().default_priority);
        for (const auto& item : p.items) t.table->check(item);
        bool all = false;
        try {
          all = t.inserts.empty() && insert_some(t, p);
        } catch (const std::exception& e) {
          if (p.next == 0) throw;
          progress(t);  // what went in may serve parked samples
          throw ReplayError(code_of(e) == ErrorCode::kUnknown ? ErrorCode::kInvalidArgument : code_of(e),
                            std::string(e.what()) + inserted_note(p));
        }
        const bool some = p.next > 0;
        if (all) {
          reply(routing_id, inserted_reply(p));
        } else {
          park(t, std::move(p));  // the rest of a batch waits; what went in may serve parked samples
        }
        if (some) progress(t);
        return;
      }
      case MsgType::kSample: {
        TableState& t = table_of(req);
        Parked p = make_parked(Kind::kSample, routing_id, who, req);
        p.n = int_field(req, kCountField);
        t.table->check_sample_size(p.n);
        if (t.samples.empty()) {
          if (auto batch = t.table->try_sample(p.n)) {
            reply_batch(routing_id, req.request_id, *batch);
            progress(t);
            return;
          }
        }
        park(t, std::move(p));
        return;
      }
      case MsgType::kUpdatePriorities: {
        TableState& t = table_of(req);
        const Array& keys = req.at(kKeysField);
        const Array& prios = req.at(kPrioritiesField);
        if (keys.dtype() != DType::kInt64 || prios.dtype() != DType::kFloat64 || keys.shape().size() != 1 ||
            prios.shape() != keys.shape())
          throw ReplayError(ErrorCode::kInvalidArgument, "update_priorities needs 'keys' int64[k] and 'priorities' float64[k]");
        const std::int64_t* k = keys.data<std::int64_t>();
        const double* pr = prios.data<double>();
        const std::int64_t updated = t.table->update_priorities(std::vector<Key>(k, k + keys.numel()),
                                                                std::vector<double>(pr, pr + prios.numel()));
        Message m(MsgType::kOk, req.request_id);
        m.add("updated", Array::scalar<std::int64_t>(updated));
        reply(routing_id, m);
        return;
      }
      case MsgType::kInfo: {
        TableState& t = table_of(req);
        const TableCounters c = t.table->counters();
        Message m(MsgType::kOk, req.request_id);
        m.add("size", Array::scalar<std::int64_t>(c.size));
        m.add("max_size", Array::scalar<std::int64_t>(t.table->max_size()));
        m.add("inserts", Array::scalar<std::int64_t>(c.inserts));
        m.add("samples", Array::scalar<std::int64_t>(c.samples));
        m.add("pending", Array::scalar<std::int64_t>(pending.load()));
        m.add("bytes", Array::scalar<std::int64_t>(c.bytes));
        m.add("evicted", Array::scalar<std::int64_t>(c.evicted));
        m.add(kRateLimitedField, Array::scalar<bool>(c.rate_limited));
        std::string names;
        for (const auto& s : tables) names += (names.empty() ? "" : "\n") + s.table->name();
        m.add("tables", wire::text_array(names));
        reply(routing_id, m);
        return;
      }
      case MsgType::kConfigure: {
        TableState& t = table_of(req);
        const Array& a = req.at(kRateLimitedField);
        if (a.numel() != 1 || a.dtype() != DType::kBool)
          throw ReplayError(ErrorCode::kInvalidArgument, "field 'rate_limited' must be a bool scalar");
        t.table->set_rate_limited(a.item<bool>());
        MNEMO_INFO("replay table '", t.table->name(), "': rate limiting ", a.item<bool>() ? "on" : "off", " (", who, ")");
        reply(routing_id, Message(MsgType::kOk, req.request_id));
        progress(t);
        return;
      }
      case MsgType::kCheckpoint:
        if (req.has(kDirField)) return start_export(routing_id, req.request_id, snapshot_dir(req.at(kDirField)));
        if (!checkpointer)
          throw ReplayError(ErrorCode::kInvalidArgument, "replay server at " + endpoint + " has no checkpoint_dir");
        checkpoint_waiters.push_back({routing_id, req.request_id});
        if (!saving.valid()) start_checkpoint();
        return;
      case MsgType::kShutdown:
        MNEMO_INFO("replay server at ", endpoint, ": shutdown requested by ", who);
        reply(routing_id, Message(MsgType::kOk, req.request_id));
        shutdown = true;
        return;
      default:
        throw ReplayError(ErrorCode::kInvalidArgument, std::string("replay server does not handle '") +
                                                            wire::msg_type_name(req.type) + "' requests");
    }
  }

  Parked make_parked(Kind kind, const std::string& routing_id, const std::string& who, const Message& req) const {
    Parked p;
    p.kind = kind;
    p.routing_id = routing_id;
    p.peer = who;
    p.request_id = req.request_id;
    if (req.has(kTimeoutField)) {
      p.timeout_ms = int_field(req, kTimeoutField);
      if (p.timeout_ms < 0)
        throw ReplayError(ErrorCode::kInvalidArgument,
                          "field 'timeout_ms' must not be negative, got " + std::to_string(p.timeout_ms));
    }
    p.deadline = Clock::now() + std::chrono::milliseconds(std::min(p.timeout_ms, kMaxTimeoutMs));
    return p;
  }

  void park(TableState& t, Parked p) {
    if (p.timeout_ms == 0) return reply(p.routing_id, timeout_reply(t, p));
    std::int64_t& mine = per_client[p.routing_id];
    if (pending.load() >= options.max_pending || mine >= options.max_pending_per_client) {
      ++refused;
      const bool total = pending.load() >= options.max_pending;
      if (mine == 0) per_client.erase(p.routing_id);
      return reply(p.routing_id,
                   error_reply(p.request_id, ErrorCode::kResourceExhausted,
                               "replay server at " + endpoint + " is busy: " +
                                   (total ? std::to_string(options.max_pending) + " requests are already waiting"
                                          : "this client already has " + std::to_string(options.max_pending_per_client) +
                                                " waiting requests") +
                                   inserted_note(p)));
    }
    ++mine;
    (p.kind == Kind::kInsert ? t.inserts : t.samples).push_back(std::move(p));
    ++pending;
  }

  // Answers parked requests the table can now satisfy, oldest first, until nothing changes. State
  // and counters are updated before each reply, so a client that got its answer sees them.
  void progress(TableState& t) {
    bool changed = true;
    while (changed) {
      changed = false;
      while (!t.samples.empty()) {
        std::optional<Batch> batch;
        std::optional<std::string> error;
        try {
          batch = t.table->try_sample(t.samples.front().n);
          if (!batch) break;
        } catch (const std::exception& e) {
          error = e.what();
        }
        Parked p = take(t.samples);
        if (error) {
          reject(p.routing_id, p.peer, p.request_id, ErrorCode::kDataLoss, *error);
        } else {
          reply_batch(p.routing_id, p.request_id, *batch);
        }
        changed = true;
      }
      while (!t.inserts.empty()) {
        std::optional<std::string> error;
        try {
          const std::size_t before = t.inserts.front().next;
          if (!insert_some(t, t.inserts.front())) {
            if (t.inserts.front().next > before) changed = true;  // part of a batch went in
            break;
          }
        } catch (const std::exception& e) {
          error = e.what();
        }
        Parked p = take(t.inserts);
        if (error) {
          reject(p.routing_id, p.peer, p.request_id, ErrorCode::kInvalidArgument, *error + inserted_note(p));
        } else {
          reply(p.routing_id, inserted_reply(p));
        }
        changed = true;
      }
    }
  }

  // Inserts p's items from p.next on while the table admits them; true when all are in.
  bool insert_some(TableState& t, Parked& p) {
    while (p.next < p.items.size() && t.table->try_insert(p.items[p.next], p.priorities[p.next])) ++p.next;
    return p.next == p.items.size();
  }

  Message inserted_reply(const Parked& p) const {
    Message m(MsgType::kOk, p.request_id);
    if (p.batch) m.add(kInsertedField, Array::scalar<std::int64_t>(static_cast<std::int64_t>(p.next)));
    return m;
  }

  // " (k of n items of the batch were inserted)" for a batch that fails part-way, else "".
  static std::string inserted_note(const Parked& p) {
    if (!p.batch || p.next == 0) return "";
    return " (" + std::to_string(p.next) + " of " + std::to_string(p.items.size()) + " items of the batch were inserted)";
  }

  Parked take(std::deque<Parked>& queue) {
    Parked p = std::move(queue.front());
    queue.pop_front();
    unpark(p);
    return p;
  }

  void unpark(const Parked& p) {
    --pending;
    auto it = per_client.find(p.routing_id);
    if (it != per_client.end() && --it->second <= 0) per_client.erase(it);
  }

  void expire(Clock::time_point now) {
    for (auto& t : tables) {
      bool any = false;
      for (auto* queue : {&t.inserts, &t.samples}) {
        for (auto it = queue->begin(); it != queue->end();) {
          if (it->deadline > now) {
            ++it;
            continue;
          }
          Parked p = std::move(*it);
          it = queue->erase(it);
          unpark(p);
          ++expired;
          reply(p.routing_id, timeout_reply(t, p));
          any = true;
        }
      }
      // A request that blocked the head of a queue may have gone, letting later ones through.
      if (any) progress(t);
    }
  }

  Message timeout_reply(const TableState& t, const Parked& p) const {
    const Table& table = *t.table;
    const std::string what =
        p.kind == Kind::kSample
            ? "sample of " + std::to_string(p.n) + " items from table '" + table.name() + "' (holding " +
                  std::to_string(table.size()) + ")"
            : (p.batch ? "batch insert of " + std::to_string(p.items.size()) + " items (" +
                                        std::to_string(p.next) + " inserted) "
                                  : std::string("insert ")) +
                  "into table '" + table.name() + "' (holding " + std::to_string(table.size()) + " of " +
                  std::to_string(table.max_size()) + ")";
    return error_reply(p.request_id, ErrorCode::kRateLimiterTimeout,
                       what + " timed out after " + std::to_string(p.timeout_ms) + " ms; rate limiter: " +
                           table.describe_limits(),
                       /*timed_out=*/true);
  }

  void fail_all_parked(const std::string& text) {
    for (auto& t : tables) {
      std::deque<Parked> inserts = std::move(t.inserts);
      std::deque<Parked> samples = std::move(t.samples);
      t.inserts.clear();
      t.samples.clear();
      for (const auto* queue : {&inserts, &samples})
        for (const Parked& p : *queue) reply(p.routing_id, error_reply(p.request_id, ErrorCode::kUnavailable, text));
    }
    pending = 0;
    per_client.clear();
  }

  // --- checkpoints -------------------------------------------------------------------------

  void start_checkpoint() {
    if (!checkpointer || saving.valid()) return;
    std::vector<TableSnapshot> snaps;
    snaps.reserve(tables.size());
    for (const auto& t : tables) snaps.push_back(t.table->snapshot());  // index copies only
    saving = std::async(std::launch::async, [this, snaps = std::move(snaps)] {
      std::lock_guard<std::mutex> lock(save_mu);
      return checkpointer->save(snaps);
    });
  }

  void finish_checkpoint(bool wait) {
    if (!saving.valid()) return;
    if (!wait && saving.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    std::vector<Waiter> waiters = std::move(checkpoint_waiters);
    checkpoint_waiters.clear();
    try {
      const std::string path = saving.get();
      ++checkpoints;
      MNEMO_INFO("replay: checkpoint written to ", path);
      for (const auto& w : waiters) {
        Message m(MsgType::kOk, w.request_id);
        m.add(kPathField, wire::text_array(path));
        reply(w.routing_id, m);
      }
    } catch (const std::exception& e) {
      MNEMO_ERROR("replay: checkpoint failed: ", e.what());
      for (const auto& w : waiters)
        reply(w.routing_id, error_reply(w.request_id, ErrorCode::kUnknown, std::string("checkpoint failed: ") + e.what()));
    }
  }

  // Table snapshots into a directory a client names (a learner's pending checkpoint). Atomicity is
  // the client's: it seals the directory in its own checkpoint once every shard has answered.

  // The requested directory, refused unless it lies under snapshot_root (after resolving `..` and
  // symlinks): a peer must not be able to make the server write files wherever it likes.
  std::filesystem::path snapshot_dir(const Array& field) const {
    namespace fs = std::filesystem;
    const std::string requested = wire::array_text(field);
    if (options.snapshot_root.empty())
      throw ReplayError(ErrorCode::kInvalidArgument, "replay server at " + endpoint +
                                                         " has no snapshot_root, so it writes no snapshot into '" +
                                                         requested + "'");
    if (requested.empty()) throw ReplayError(ErrorCode::kInvalidArgument, "checkpoint field 'dir' is empty");
    std::error_code ec1, ec2;
    const fs::path root = fs::weakly_canonical(fs::absolute(options.snapshot_root), ec1);
    const fs::path dir = fs::weakly_canonical(fs::absolute(requested), ec2);
    if (ec1 || ec2)
      throw ReplayError(ErrorCode::kInvalidArgument, "cannot resolve snapshot directory '" + requested + "': " +
                                                         (ec1 ? ec1 : ec2).message());
    const fs::path rel = dir.lexically_relative(root);
    if (rel.empty() || rel == "." || *rel.begin() == "..")
      throw ReplayError(ErrorCode::kInvalidArgument, "snapshot directory '" + requested +
                                                         "' is not inside the server's snapshot_root " + root.string());
    return dir;
  }

  void start_export(const std::string& routing_id, std::uint64_t request_id, std::filesystem::path dir) {
    // Each export holds a writer thread and the snapshot's index; a few are plenty for one learner.
    if (exports.size() >= kMaxExports)
      throw ReplayError(ErrorCode::kResourceExhausted,
                        std::to_string(kMaxExports) + " snapshots are being written already; try again later");
    std::vector<TableSnapshot> snaps;
    snaps.reserve(tables.size());
    std::int64_t items = 0;
    for (const auto& t : tables) {
      snaps.push_back(t.table->snapshot());  // index copies only
      items += static_cast<std::int64_t>(snaps.back().items.size());
    }
    Export e;
    e.waiter = {routing_id, request_id};
    e.items = items;
    e.done = std::async(std::launch::async, [snaps = std::move(snaps), dir = std::move(dir)] {
      save_tables(snaps, dir);
      return dir.string();
    });
    exports.push_back(std::move(e));
  }

  void finish_exports(bool wait) {
    for (auto it = exports.begin(); it != exports.end();) {
      if (!wait && it->done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++it;
        continue;
      }
      try {
        const std::string path = it->done.get();
        MNEMO_INFO("replay: ", it->items, " items written to ", path);
        Message m(MsgType::kOk, it->waiter.request_id);
        m.add(kPathField, wire::text_array(path));
        m.add(kItemsField, Array::scalar<std::int64_t>(it->items));
        reply(it->waiter.routing_id, m);
      } catch (const std::exception& e) {
        MNEMO_ERROR("replay: snapshot failed: ", e.what());
        reply(it->waiter.routing_id, error_reply(it->waiter.request_id, ErrorCode::kUnknown,
                                                 std::string("snapshot failed: ") + e.what()));
      }
      it = exports.erase(it);
    }
  }

  // --- replies -----------------------------------------------------------------------------

  void reject(const std::string& routing_id, const std::string& who, std::uint64_t request_id, ErrorCode code,
              const std::string& text) {
    ++bad_requests;
    MNEMO_WARN("replay server at ", endpoint, ": rejected a request from ", who, ": ", text);
    reply(routing_id, error_reply(request_id, code, text));
  }

  void reply_batch(const std::string& routing_id, std::uint64_t request_id, const Batch& batch) {
    Message m(MsgType::kOk, request_id);
    for (const auto& [name, array] : batch.fields) m.add(name, array);
    const std::int64_t n = batch.size();
    Array keys = Array::zeros(DType::kInt64, {n});
    std::int64_t* k = keys.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) k[i] = static_cast<std::int64_t>(batch.keys[i]);
    m.add(kKeysField, std::move(keys));
    m.add(kProbabilitiesField, Array::from_vector(batch.probabilities, {n}));
    m.add(kWeightsField, Array::from_vector(batch.weights, {n}));
    m.add(kPrioritiesField, Array::from_vector(batch.priorities, {n}));
    reply(routing_id, m);
  }

  void reply(const std::string& routing_id, const Message& m) {
    try {
      if (!transport::send_routed(socket, routing_id, m, /*payload_checksums=*/!limits.allow_unchecked_payload)) {
        ++lost_replies;
        MNEMO_DEBUG("replay server at ", endpoint, ": a reply was dropped (peer not reading)");
      }
    } catch (const zmq::error_t& e) {
      ++lost_replies;  // EHOSTUNREACH under ROUTER_MANDATORY: the peer has gone
      MNEMO_DEBUG("replay server at ", endpoint, ": could not reply to a peer that has gone: ", e.what());
    } catch (const std::exception& e) {
      MNEMO_WARN("replay server at ", endpoint, ": could not send a reply: ", e.what());
    }
  }

  const ServerOptions options;
  const wire::Limits limits;
  const transport::RecvLimits recv_limits;
  std::vector<TableState> tables;
  std::map<std::string, std::size_t> by_name;
  zmq::socket_t socket;
  std::string endpoint;
  std::unordered_map<std::string, std::int64_t> per_client;

  std::unique_ptr<Checkpointer> checkpointer;
  std::mutex save_mu;
  std::future<std::string> saving;
  std::vector<Waiter> checkpoint_waiters;
  struct Export {
    Waiter waiter;
    std::int64_t items = 0;
    std::future<std::string> done;
  };
  std::vector<Export> exports;

  std::thread thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::int64_t> bad_requests{0};
  std::atomic<std::int64_t> pending{0};
  std::atomic<std::int64_t> expired{0};
  std::atomic<std::int64_t> refused{0};
  std::atomic<std::int64_t> lost_replies{0};
  std::atomic<std::int64_t> checkpoints{0};
};

Server::Server(ServerOptions options, std::optional<Spec> signature)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(signature))) {}

Server::~Server() { stop(); }

std::string Server::endpoint() const { return impl_->endpoint; }

void Server::start() {
  MNEMO_CHECK(!impl_->thread.joinable(), "replay server already started");
  impl_->thread = std::thread([this] {
    log::set_thread_role("replay");
    try {
      run();
    } catch (const std::exception& e) {
      MNEMO_ERROR("replay server at ", impl_->endpoint, " failed: ", e.what());
    }
  });
}

void Server::run() {
  bool expected = false;
  if (!impl_->serving.compare_exchange_strong(expected, true)) throw Error("replay server is already running");
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag = false; }
  } done{impl_->serving};
  impl_->serve();
}

void Server::stop() {
  impl_->stop_requested = true;
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
}

ServerStats Server::stats() const {
  const Table& t = *impl_->tables.front().table;
  const TableCounters c = t.counters();
  ServerStats s;
  s.size = c.size;
  s.max_size = t.max_size();
  s.inserts = c.inserts;
  s.samples = c.samples;
  s.requests = impl_->requests.load();
  s.bad_requests = impl_->bad_requests.load();
  s.pending = impl_->pending.load();
  s.expired = impl_->expired.load();
  s.refused = impl_->refused.load();
  s.lost_replies = impl_->lost_replies.load();
  s.checkpoints = impl_->checkpoints.load();
  return s;
}

std::string Server::checkpoint() {
  if (!impl_->checkpointer) throw Error("replay server at " + impl_->endpoint + " has no checkpoint_dir");
  std::vector<TableSnapshot> snaps;
  for (const auto& t : impl_->tables) snaps.push_back(t.table->snapshot());
  std::lock_guard<std::mutex> lock(impl_->save_mu);
  std::string path = impl_->checkpointer->save(snaps);
  ++impl_->checkpoints;
  return path;
}

std::int64_t Server::restore_from(const std::filesystem::path& dir) {
  MNEMO_CHECK(!impl_->thread.joinable() && !impl_->serving.load(),
              "replay server: restore_from() must come before start()/run()");
  const auto snaps = load_tables(dir);
  if (snaps.empty()) throw ReplayError(ErrorCode::kNotFound, "no replay table snapshot in " + dir.string());
  MNEMO_INFO("replay: restoring tables from ", dir.string());
  return impl_->apply(snaps);
}

std::int64_t Server::restore_from(const std::vector<std::filesystem::path>& dirs, int part, int parts) {
  MNEMO_CHECK(!impl_->thread.joinable() && !impl_->serving.load(),
              "replay server: restore_from() must come before start()/run()");
  MNEMO_CHECK(part >= 0 && part < parts, "replay server: part ", part, " of ", parts);
  std::map<std::string, std::vector<TableSnapshot>> by_table;
  std::vector<std::string> order;
  for (const auto& dir : dirs)
    for (auto& snap : load_tables(dir)) {
      auto& list = by_table[snap.name];
      if (list.empty()) order.push_back(snap.name);
      list.push_back(std::move(snap));
    }
  if (by_table.empty()) throw ReplayError(ErrorCode::kNotFound, "no replay table snapshot in the " +
                                                                  std::to_string(dirs.size()) + " shard directories");
  std::vector<TableSnapshot> mine;
  for (const auto& name : order) mine.push_back(repartition(by_table[name], part, parts));
  MNEMO_INFO("replay: taking part ", part, " of ", parts, " of the tables of ", dirs.size(), " saved shard(s)");
  return impl_->apply(mine);
}

TableCounters Server::table_counters(const std::string& table) const {
  auto it = impl_->by_name.find(table);
  if (it == impl_->by_name.end()) throw ReplayError(ErrorCode::kNotFound, "no replay table named '" + table + "'");
  return impl_->tables[it->second].table->counters();
}

}  // namespace mnemo::replay
