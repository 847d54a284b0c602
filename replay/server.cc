// Replay server loop: one thread, one ROUTER socket, parked requests with deadlines. See server.h.
#include "replay/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "core/log.h"
#include "core/transport.h"
#include "core/wire.h"

namespace mnemo::replay {
namespace {

using Clock = std::chrono::steady_clock;
using wire::Message;
using wire::MsgType;

// The loop wakes at least this often to notice stop() and passed deadlines.
constexpr long kSliceMs = 50;
// Messages handled before parked requests and deadlines are looked at again.
constexpr int kBurst = 256;
// A deadline further away than this is treated as this (keeps time arithmetic far from overflow).
constexpr std::int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

std::int64_t int_scalar(const Message& m, const char* name) {
  const Array& a = m.at(name);
  if (a.numel() != 1 || !a.shape().empty() || (a.dtype() != DType::kInt64 && a.dtype() != DType::kInt32))
    throw Error(std::string("field '") + name + "' must be an int64 scalar, got " + dtype_name(a.dtype()) +
                shape_str(a.shape()));
  return a.item<std::int64_t>();
}

Message error_reply(std::uint64_t request_id, const std::string& text, bool timed_out) {
  Message m(MsgType::kError, request_id);
  m.add(kMessageField, wire::text_array(text));
  if (timed_out) m.add(kTimedOutField, Array::scalar<bool>(true));
  return m;
}

const ServerOptions& validated(const ServerOptions& o) {
  o.validate();
  return o;
}

wire::Limits limits_of(const ServerOptions& o) {
  wire::Limits l;
  l.max_message_bytes = static_cast<std::size_t>(o.max_message_mb) << 20;
  return l;
}

}  // namespace

bool is_reserved_field(const std::string& name) {
  return name == kTimeoutField || name == kCountField || name == kKeysField || name == kMessageField ||
         name == kTimedOutField;
}

void ServerOptions::validate() const {
  if (bind.empty()) throw ConfigError("replay server option 'bind' must not be empty");
  if (max_message_mb < 1 || max_message_mb > (std::int64_t{1} << 20))
    throw ConfigError("replay server option 'max_message_mb' must be in [1, 1048576], got " +
                      std::to_string(max_message_mb));
  if (max_pending < 1)
    throw ConfigError("replay server option 'max_pending' must be at least 1, got " + std::to_string(max_pending));
  table.validate();
}

struct Server::Impl {
  // A request that cannot be answered yet.
  struct Parked {
    std::string routing_id;
    std::string peer;
    std::uint64_t request_id = 0;
    std::int64_t timeout_ms = 0;
    Clock::time_point deadline;
    Item item;           // inserts
    std::int64_t n = 0;  // samples
  };

  Impl(ServerOptions o, std::optional<Spec> signature)
      : options(validated(o)),
        limits(limits_of(options)),
        recv_limits(transport::RecvLimits::for_wire(limits, /*extra_frames=*/1)),
        table(options.table, std::move(signature)),
        socket(transport::context(), zmq::socket_type::router) {
    transport::configure_server_socket(socket, limits);
    endpoint = transport::bind_any(socket, options.bind);
  }

  void serve() {
    MNEMO_INFO("replay server for table '", table.name(), "' serving at ", endpoint);
    bool shutdown = false;
    while (!stop_requested.load() && !shutdown) {
      auto in = transport::recv(socket, recv_limits, wait_ms());
      for (int handled = 0; in && !shutdown;) {
        handle(*in, shutdown);
        progress();
        if (++handled >= kBurst) break;
        in = transport::recv(socket, recv_limits, 0);
      }
      expire(Clock::now());
    }
    fail_all_parked("replay server at " + endpoint + " is shutting down");
    MNEMO_INFO("replay server at ", endpoint, " stopped");
  }

  long wait_ms() const {
    long wait = kSliceMs;
    const auto now = Clock::now();
    for (const auto* queue : {&parked_inserts, &parked_samples})
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
    if (in.rejected) return reject(routing_id, who, 0, in.reason);
    std::vector<wire::Frame> frames(std::make_move_iterator(in.frames.begin() + 1),
                                    std::make_move_iterator(in.frames.end()));
    in.frames.clear();
    Message request;
    try {
      request = wire::decode(std::move(frames), limits);
    } catch (const wire::WireError& e) {
      return reject(routing_id, who, 0, e.what());
    }
    try {
      dispatch(routing_id, who, request, shutdown);
    } catch (const std::exception& e) {
      reject(routing_id, who, request.request_id, e.what());
    }
  }

  void dispatch(const std::string& routing_id, const std::string& who, const Message& req, bool& shutdown) {
    switch (req.type) {
      case MsgType::kInsert: {
        Parked p = make_parked(routing_id, who, req);
        for (const auto& [name, array] : req.fields) {
          if (name == kTimeoutField) continue;
          if (is_reserved_field(name)) throw Error("item field name '" + name + "' is reserved by the replay protocol");
          p.item.emplace_back(name, array);
        }
        table.check(p.item);
        if (parked_inserts.empty() && table.try_insert(p.item)) {
          reply(routing_id, Message(MsgType::kOk, req.request_id));
        } else {
          park(parked_inserts, std::move(p));
        }
        return;
      }
      case MsgType::kSample: {
        Parked p = make_parked(routing_id, who, req);
        p.n = int_scalar(req, kCountField);
        if (p.n < 1 || p.n > table.max_size())
          throw Error("cannot sample " + std::to_string(p.n) + " items from table '" + table.name() +
                      "', which holds at most " + std::to_string(table.max_size()));
        if (parked_samples.empty()) {
          if (auto batch = table.try_sample(p.n)) {
            reply_batch(routing_id, req.request_id, *batch);
            return;
          }
        }
        park(parked_samples, std::move(p));
        return;
      }
      case MsgType::kInfo: {
        const TableCounters c = table.counters();
        Message m(MsgType::kOk, req.request_id);
        m.add("size", Array::scalar<std::int64_t>(c.size));
        m.add("max_size", Array::scalar<std::int64_t>(table.max_size()));
        m.add("inserts", Array::scalar<std::int64_t>(c.inserts));
        m.add("samples", Array::scalar<std::int64_t>(c.samples));
        m.add("pending", Array::scalar<std::int64_t>(pending.load()));
        reply(routing_id, m);
        return;
      }
      case MsgType::kShutdown:
        MNEMO_INFO("replay server at ", endpoint, ": shutdown requested by ", who);
        reply(routing_id, Message(MsgType::kOk, req.request_id));
        shutdown = true;
        return;
      default:
        throw Error(std::string("replay server does not handle '") + wire::msg_type_name(req.type) + "' requests");
    }
  }

  Parked make_parked(const std::string& routing_id, const std::string& who, const Message& req) const {
    Parked p;
    p.routing_id = routing_id;
    p.peer = who;
    p.request_id = req.request_id;
    if (req.has(kTimeoutField)) {
      p.timeout_ms = int_scalar(req, kTimeoutField);
      if (p.timeout_ms < 0) throw Error("field 'timeout_ms' must not be negative, got " + std::to_string(p.timeout_ms));
    }
    p.deadline = Clock::now() + std::chrono::milliseconds(std::min(p.timeout_ms, kMaxTimeoutMs));
    return p;
  }

  void park(std::deque<Parked>& queue, Parked p) {
    if (p.timeout_ms == 0) return reply(p.routing_id, timeout_reply(p));
    if (static_cast<std::int64_t>(parked_inserts.size() + parked_samples.size()) >= options.max_pending)
      return reply(p.routing_id, error_reply(p.request_id,
                                             "replay server at " + endpoint + " is busy: " +
                                                 std::to_string(options.max_pending) + " requests are already waiting",
                                             /*timed_out=*/false));
    queue.push_back(std::move(p));
    update_pending();
  }

  // Answers parked requests the table can now satisfy, oldest first, until nothing changes. State
  // and counters are updated before each reply, so a client that got its answer sees them.
  void progress() {
    bool changed = true;
    while (changed) {
      changed = false;
      while (!parked_samples.empty()) {
        auto batch = table.try_sample(parked_samples.front().n);
        if (!batch) break;
        Parked p = take(parked_samples);
        reply_batch(p.routing_id, p.request_id, *batch);
        changed = true;
      }
      while (!parked_inserts.empty()) {
        std::optional<std::string> error;
        try {
          if (!table.try_insert(parked_inserts.front().item)) break;
        } catch (const std::exception& e) {
          error = e.what();
        }
        Parked p = take(parked_inserts);
        if (error) {
          reject(p.routing_id, p.peer, p.request_id, *error);
        } else {
          reply(p.routing_id, Message(MsgType::kOk, p.request_id));
        }
        changed = true;
      }
    }
  }

  Parked take(std::deque<Parked>& queue) {
    Parked p = std::move(queue.front());
    queue.pop_front();
    update_pending();
    return p;
  }

  void update_pending() { pending = static_cast<std::int64_t>(parked_inserts.size() + parked_samples.size()); }

  void expire(Clock::time_point now) {
    std::vector<Parked> late;
    for (auto* queue : {&parked_inserts, &parked_samples}) {
      for (auto it = queue->begin(); it != queue->end();) {
        if (it->deadline > now) {
          ++it;
          continue;
        }
        late.push_back(std::move(*it));
        it = queue->erase(it);
      }
    }
    if (late.empty()) return;
    update_pending();
    expired += static_cast<std::int64_t>(late.size());
    for (const Parked& p : late) reply(p.routing_id, timeout_reply(p));
    // A sample that blocked the head of the queue may have gone, letting later ones through.
    progress();
  }

  Message timeout_reply(const Parked& p) const {
    const std::string what =
        p.n > 0 ? "sample of " + std::to_string(p.n) + " items from table '" + table.name() + "' (holding " +
                      std::to_string(table.size()) + ")"
                : "insert into table '" + table.name() + "' (full at " + std::to_string(table.max_size()) + " items)";
    return error_reply(p.request_id, what + " timed out after " + std::to_string(p.timeout_ms) + " ms",
                       /*timed_out=*/true);
  }

  void fail_all_parked(const std::string& text) {
    std::deque<Parked> inserts = std::move(parked_inserts);
    std::deque<Parked> samples = std::move(parked_samples);
    parked_inserts.clear();
    parked_samples.clear();
    update_pending();
    for (const auto* queue : {&inserts, &samples})
      for (const Parked& p : *queue) reply(p.routing_id, error_reply(p.request_id, text, /*timed_out=*/false));
  }

  void reject(const std::string& routing_id, const std::string& who, std::uint64_t request_id,
              const std::string& text) {
    ++bad_requests;
    MNEMO_WARN("replay server at ", endpoint, ": rejected a request from ", who, ": ", text);
    reply(routing_id, error_reply(request_id, text, /*timed_out=*/false));
  }

  void reply_batch(const std::string& routing_id, std::uint64_t request_id, const Batch& batch) {
    Message m(MsgType::kOk, request_id);
    for (const auto& [name, array] : batch.fields) m.add(name, array);
    Array keys = Array::zeros(DType::kInt64, {batch.size()});
    std::int64_t* k = keys.data<std::int64_t>();
    for (std::size_t i = 0; i < batch.keys.size(); ++i) k[i] = static_cast<std::int64_t>(batch.keys[i]);
    m.add(kKeysField, std::move(keys));
    reply(routing_id, m);
  }

  void reply(const std::string& routing_id, const Message& m) {
    try {
      transport::send_routed(socket, routing_id, m);
    } catch (const std::exception& e) {
      MNEMO_WARN("replay server at ", endpoint, ": could not send a reply: ", e.what());
    }
  }

  const ServerOptions options;
  const wire::Limits limits;
  const transport::RecvLimits recv_limits;
  Table table;
  zmq::socket_t socket;
  std::string endpoint;

  std::deque<Parked> parked_inserts;
  std::deque<Parked> parked_samples;

  std::thread thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::int64_t> bad_requests{0};
  std::atomic<std::int64_t> pending{0};
  std::atomic<std::int64_t> expired{0};
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
  const TableCounters c = impl_->table.counters();
  ServerStats s;
  s.size = c.size;
  s.max_size = impl_->table.max_size();
  s.inserts = c.inserts;
  s.samples = c.samples;
  s.requests = impl_->requests.load();
  s.bad_requests = impl_->bad_requests.load();
  s.pending = impl_->pending.load();
  s.expired = impl_->expired.load();
  return s;
}

}  // namespace mnemo::replay
