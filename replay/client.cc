// Replay client: request/reply over DEALER sockets with request ids, pipelined inserts, sample
// prefetch, reconnects and shards. See client.h.
#include "replay/client.h"

#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "core/net/transport.h"
#include "core/net/wire.h"
#include "replay/protocol.h"

namespace mnemo::replay {
namespace {

using Clock = std::chrono::steady_clock;
using wire::Message;
using wire::MsgType;

constexpr long kSliceMs = 50;
// Extra wait beyond the timeout sent to the server, so that the server's own timeout reply arrives
// and the caller sees the server's account of what it was waiting for, even from a server (or a
// machine) that is busy for a moment: 250 ms and then 1 s proved too short on a loaded machine
// (`make test-stress`). A server that has gone is noticed this much later.
constexpr std::int64_t kGraceMs = 5000;
// How long a closing client waits for the replies to its outstanding requests.
constexpr std::int64_t kCloseGraceMs = 500;
// Sharded keys carry the shard index in their top byte.
constexpr int kShardShift = 56;

// A private copy of `a` for a request that outlives the caller's buffer.
Array private_copy(const Array& a) {
  Array copy = Array::uninitialized(a.dtype(), a.shape());
  if (a.nbytes() > 0) std::memcpy(copy.raw(), a.raw(), a.nbytes());
  return copy;
}

std::vector<std::string> split_endpoints(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

}  // namespace

void ClientOptions::validate() const {
  if (timeout_ms < 0)
    throw ConfigError("replay client option 'timeout_ms' must not be negative, got " + std::to_string(timeout_ms));
  if (max_message_mb < 1 || max_message_mb > (std::int64_t{1} << 20))
    throw ConfigError("replay client option 'max_message_mb' must be in [1, 1048576], got " +
                      std::to_string(max_message_mb));
  if (max_in_flight_inserts < 1 || max_in_flight_inserts > 65536)
    throw ConfigError("replay client option 'max_in_flight_inserts' must be in [1, 65536], got " +
                      std::to_string(max_in_flight_inserts));
  if (max_batch_mb < 1 || max_batch_mb > (std::int64_t{1} << 20))
    throw ConfigError("replay client option 'max_batch_mb' must be in [1, 1048576], got " + std::to_string(max_batch_mb));
  if (prefetch < 0 || prefetch > 1024)
    throw ConfigError("replay client option 'prefetch' must be in [0, 1024], got " + std::to_string(prefetch));
  if (!codec_from_name(compression))
    throw ConfigError("replay client option 'compression' must be none, lz4 or zstd, got '" + compression + "'");
  if (compression_level < 1 || compression_level > 65537)
    throw ConfigError("replay client option 'compression_level' must be >= 1, got " + std::to_string(compression_level));
  if (compress_min_bytes < 0)
    throw ConfigError("replay client option 'compress_min_bytes' must be >= 0, got " + std::to_string(compress_min_bytes));
  if (heartbeat_ms < 0)
    throw ConfigError("replay client option 'heartbeat_ms' must be >= 0, got " + std::to_string(heartbeat_ms));
  if (curve_server_key_file.empty() && !curve_key_file.empty())
    throw ConfigError("replay client option 'curve_key_file' needs 'curve_server_key_file'");
}

transport::CurveClient ClientOptions::curve() const {
  transport::CurveClient c;
  if (curve_server_key_file.empty()) return c;
  c.server_public_key = transport::read_curve_key_file(curve_server_key_file).public_key;
  c.keys = curve_key_file.empty() ? transport::curve_keypair() : transport::read_curve_key_file(curve_key_file);
  if (c.keys.secret_key.empty())
    throw ConfigError("replay client option 'curve_key_file': " + curve_key_file + " has no secret-key (use the .key file)");
  return c;
}

struct Client::Impl {
  // A request sent and not answered yet. Its frames are kept for a resend after a reconnect; they
  // hold the payload Arrays alive (copies for pipelined inserts, the caller's memory otherwise).
  struct Outstanding {
    MsgType type;
    std::vector<wire::Frame> frames;
    Clock::time_point deadline;
  };
  // One server (shard).
  struct Conn {
    std::string endpoint;
    std::unique_ptr<zmq::socket_t> socket;
    std::unique_ptr<zmq::socket_t> monitor;
    std::map<std::uint64_t, Outstanding> outstanding;
    std::map<std::uint64_t, Message> replies;  // arrived, not yet consumed
  };
  // A sample split over shards: one request id per shard asked.
  struct SampleCall {
    std::int64_t n = 0;
    std::string table;
    std::vector<std::pair<std::size_t, std::uint64_t>> parts;  // (conn, id)
  };

  Impl(std::string ep, ClientOptions o) : endpoint(std::move(ep)), options(std::move(o)) {
    options.validate();
    codec = *codec_from_name(options.compression);
    limits.max_message_bytes = static_cast<std::size_t>(options.max_message_mb) << 20;
    recv_limits = transport::RecvLimits::for_wire(limits, /*extra_frames=*/0);
    curve = options.curve();
    const auto eps = split_endpoints(endpoint);
    if (eps.empty()) throw Error("replay client: empty endpoint '" + endpoint + "'");
    if (eps.size() > 255) throw Error("replay client: at most 255 shards");
    conns.resize(eps.size());
    for (std::size_t i = 0; i < eps.size(); ++i) {
      conns[i].endpoint = eps[i];
      open(conns[i]);
    }
  }

  ~Impl() {
    // Replies still on their way (prefetched samples, pipelined inserts) are awaited for a moment
    // before the sockets close: libzmq 4.3.4 can abort in an I/O thread ("Resource temporarily
    // unavailable (src/session_base.cpp:260)") when a tcp connection closes while a multipart
    // message is in the middle of crossing it.
    try {
      const auto deadline = Clock::now() + std::chrono::milliseconds(std::min<std::int64_t>(options.timeout_ms, kCloseGraceMs));
      auto outstanding = [&] {
        for (const auto& c : conns)
          if (!c.outstanding.empty()) return true;
        return false;
      };
      while (outstanding() && Clock::now() < deadline) pump(10);
    } catch (...) {
      // Closing anyway.
    }
    for (auto& c : conns) close(c);
  }

  bool sharded() const { return conns.size() > 1; }
  static bool in_process(const std::string& ep) { return transport::in_process(ep); }

  void open(Conn& c) {
    c.socket = std::make_unique<zmq::socket_t>(transport::context(), zmq::socket_type::dealer);
    zmq::socket_t& s = *c.socket;
    s.set(zmq::sockopt::linger, 0);
    if (options.heartbeat_ms > 0 && !in_process(c.endpoint)) {
      s.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(options.heartbeat_ms));
      s.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(3 * options.heartbeat_ms));
    }
    transport::configure_curve(s, curve);
    if (options.reconnect && !in_process(c.endpoint)) {
      static std::atomic<std::uint64_t> counter{0};
      const std::string mon = "inproc://mnemo-replay-client-monitor-" + std::to_string(counter++);
      if (zmq_socket_monitor(s.handle(), mon.c_str(), ZMQ_EVENT_DISCONNECTED) == 0) {
        c.monitor = std::make_unique<zmq::socket_t>(transport::context(), zmq::socket_type::pair);
        c.monitor->set(zmq::sockopt::linger, 0);
        c.monitor->connect(mon);
      }
    }
    try {
      s.connect(c.endpoint);
    } catch (const zmq::error_t& e) {
      throw Error("replay client cannot connect to '" + c.endpoint + "': " + e.what());
    }
  }

  void close(Conn& c) {
    if (c.monitor) {
      zmq_socket_monitor(c.socket->handle(), nullptr, 0);
      c.monitor.reset();
    }
    c.socket.reset();
  }

  // The connection dropped: a new socket (the old one's queue is discarded with it) and every
  // unanswered request sent again. Delivery is at least once: ZeroMQ may already have reconnected
  // the old socket and delivered a request sent after the drop before its event is read here.
  void rebuild(Conn& c) {
    ++reconnect_count;
    MNEMO_WARN("replay client: connection to ", c.endpoint, " dropped; reconnecting and resending ",
               c.outstanding.size(), " request(s)");
    close(c);
    open(c);
    for (auto& [id, o] : c.outstanding) transport::send_frames(*c.socket, o.frames, /*wait=*/false);
  }

  void check_stop() const {
    if (stop_flag != nullptr && stop_flag->load()) throw StoppedError();
  }

  Clock::time_point deadline_from_now() const {
    return Clock::now() + std::chrono::milliseconds(options.timeout_ms + kGraceMs);
  }

  // Sends `req` on connection `ci` and returns its id. With server_timeout the request tells the
  // server how long it may park it.
  std::uint64_t send(std::size_t ci, Message req, bool server_timeout) {
    Conn& c = conns[ci];
    const std::uint64_t id = next_id++;
    req.request_id = id;
    if (server_timeout) req.add(kTimeoutField, Array::scalar<std::int64_t>(options.timeout_ms));
    // In-process: no payload checksums either way (wire.h).
    Outstanding o{req.type, wire::encode(req, /*payload_checksums=*/!in_process(c.endpoint)), deadline_from_now()};
    while (true) {
      check_stop();
      if (transport::send_frames(*c.socket, o.frames, /*wait=*/false)) break;
      if (Clock::now() >= o.deadline)
        throw DeadlineExceededError("replay client: could not send the " + std::string(wire::msg_type_name(req.type)) +
                                    " request to " + c.endpoint + " within " + std::to_string(options.timeout_ms) +
                                    " ms");
      zmq_pollitem_t item{c.socket->handle(), 0, ZMQ_POLLOUT, 0};
      zmq_poll(&item, 1, kSliceMs);
    }
    c.outstanding.emplace(id, std::move(o));
    return id;
  }

  // Receives whatever arrives within `ms` on any connection (replies and monitor events).
  void pump(long ms) {
    std::vector<zmq_pollitem_t> items;
    for (auto& c : conns) {
      items.push_back({c.socket->handle(), 0, ZMQ_POLLIN, 0});
      // A null socket with no events keeps the indexing uniform for connections without a monitor.
      items.push_back({c.monitor ? c.monitor->handle() : nullptr, 0, static_cast<short>(c.monitor ? ZMQ_POLLIN : 0), 0});
    }
    const int rc = zmq_poll(items.data(), static_cast<int>(items.size()), ms);
    if (rc <= 0) return;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (items[2 * i + 1].revents & ZMQ_POLLIN) {
        bool dropped = false;
        while (true) {
          zmq::message_t ev;
          if (!c.monitor->recv(ev, zmq::recv_flags::dontwait)) break;
          if (ev.size() >= 2) {
            std::uint16_t event = 0;
            std::memcpy(&event, ev.data(), 2);
            if (event == ZMQ_EVENT_DISCONNECTED) dropped = true;
          }
          while (ev.more()) {
            zmq::message_t rest;
            if (!c.monitor->recv(rest, zmq::recv_flags::dontwait)) break;
            ev = std::move(rest);
          }
        }
        if (dropped) {
          rebuild(c);
          continue;
        }
      }
      if (!(items[2 * i].revents & ZMQ_POLLIN)) continue;
      for (int k = 0; k < 1024; ++k) {
        std::optional<std::vector<wire::Frame>> got;
        try {
          got = transport::recv_frames(*c.socket, recv_limits, 0);
        } catch (const wire::WireError& e) {
          MNEMO_WARN("replay client: dropped a reply from ", c.endpoint, ": ", e.what());
          continue;
        }
        if (!got) break;
        Message rep;
        try {
          wire::Limits l = limits;
          l.allow_unchecked_payload = in_process(c.endpoint);
          rep = wire::decode(std::move(*got), l);
        } catch (const wire::WireError& e) {
          MNEMO_WARN("replay client: dropped a malformed reply from ", c.endpoint, ": ", e.what());
          continue;
        }
        std::uint64_t id = rep.request_id;
        // Request id 0 answers a request the server could not decode: attribute it to the oldest.
        if (id == 0 && rep.type == MsgType::kError && !c.outstanding.empty()) id = c.outstanding.begin()->first;
        auto it = c.outstanding.find(id);
        if (it == c.outstanding.end()) {
          MNEMO_DEBUG("replay client: discarding a late reply to request ", rep.request_id);
          continue;
        }
        c.outstanding.erase(it);
        c.replies.emplace(id, std::move(rep));
      }
    }
  }

  // Waits for the reply to request `id` on connection `ci`; returns it if kOk, throws otherwise.
  Message wait(std::size_t ci, std::uint64_t id) {
    Conn& c = conns[ci];
    while (true) {
      auto r = c.replies.find(id);
      if (r != c.replies.end()) {
        Message rep = std::move(r->second);
        c.replies.erase(r);
        return check_reply(c, std::move(rep));
      }
      auto o = c.outstanding.find(id);
      if (o == c.outstanding.end()) throw Error("replay client: request " + std::to_string(id) + " is not pending");
      try {
        check_stop();
      } catch (...) {
        c.outstanding.erase(o);  // abandoned: a late reply is discarded
        throw;
      }
      const auto now = Clock::now();
      if (now >= o->second.deadline) {
        const std::string what = wire::msg_type_name(o->second.type);
        c.outstanding.erase(o);
        throw DeadlineExceededError("replay client: no reply to the " + what + " request to " + c.endpoint +
                                    " within " + std::to_string(options.timeout_ms) + " ms");
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(o->second.deadline - now).count();
      pump(static_cast<long>(std::clamp<std::int64_t>(left, 1, kSliceMs)));
    }
  }

  Message check_reply(const Conn& c, Message rep) const {
    if (rep.type == MsgType::kError) {
      const std::string text = rep.has(kMessageField) ? wire::array_text(rep.at(kMessageField)) : "unknown error";
      ErrorCode code = ErrorCode::kUnknown;
      if (rep.has(kCodeField)) {
        const Array& a = rep.at(kCodeField);
        if (a.numel() == 1 && a.dtype() == DType::kInt32) code = static_cast<ErrorCode>(a.item<std::int32_t>());
      }
      if (rep.has(kTimedOutField) && code != ErrorCode::kRateLimiterTimeout) code = ErrorCode::kRateLimiterTimeout;
      throw_error(code, "replay server at " + c.endpoint + ": " + text);
    }
    if (rep.type != MsgType::kOk)
      throw Error(std::string("replay client: unexpected '") + wire::msg_type_name(rep.type) + "' reply from " + c.endpoint);
    return rep;
  }

  Message call(std::size_t ci, Message req, bool server_timeout) {
    const std::uint64_t id = send(ci, std::move(req), server_timeout);
    return wait(ci, id);
  }

  void add_table(Message& m, const std::string& table) const {
    const std::string& t = table.empty() ? options.table : table;
    if (!t.empty()) m.add(kTableField, wire::text_array(t));
  }

  // --- inserts ---------------------------------------------------------------------------

  void insert(const Item& item, const double* priority, const std::string& table) {
    collect_inserts(/*keep=*/options.max_in_flight_inserts - 1);
    const std::size_t ci = sharded() ? next_shard++ % conns.size() : 0;
    // Over inproc:// ZeroMQ hands our buffers to the server, which keeps them; a pipelined insert
    // returns before the item is sent. Either way the caller may reuse its buffers after insert()
    // returns, so the item is copied then (compression makes its own copy).
    const bool copy = in_process(conns[ci].endpoint) || options.max_in_flight_inserts > 1;
    Message req(MsgType::kInsert);
    for (const auto& [name, array] : item) {
      if (is_reserved_field(name))
        throw ReplayError(ErrorCode::kInvalidArgument,
                          "replay client: item field name '" + name + "' is reserved by the replay protocol");
      const bool compressible = codec != Codec::kNone && array.nbytes() >= static_cast<std::size_t>(options.compress_min_bytes);
      add_item_field(req, name, copy && !compressible ? private_copy(array) : array, codec,
                     static_cast<int>(options.compression_level), static_cast<std::size_t>(options.compress_min_bytes));
    }
    if (priority != nullptr) req.add(kPriorityField, Array::scalar<double>(*priority));
    add_table(req, table);
    const std::uint64_t id = send(ci, std::move(req), /*server_timeout=*/true);
    in_flight.push_back({ci, id});
    if (options.max_in_flight_inserts == 1) collect_inserts(0);
  }

  // Items in few requests: per shard, the items it gets (round-robin, as insert() spreads them)
  // stacked field by field into one kInsertBatch request of at most max_message_mb. Stacking is
  // the copy that lets the caller reuse its buffers. Compressed clients insert item by item (each
  // field is compressed on its own).
  void insert_many(const std::vector<Item>& items, const std::vector<double>* priorities, const std::string& table) {
    if (items.empty()) return;
    if (priorities != nullptr && priorities->size() != items.size())
      throw ReplayError(ErrorCode::kInvalidArgument, "replay client: insert_many got " +
                                                         std::to_string(priorities->size()) + " priorities for " +
                                                         std::to_string(items.size()) + " items");
    const Item& first = items.front();
    if (first.empty()) throw ReplayError(ErrorCode::kInvalidArgument, "replay client: insert_many: item 0 has no fields");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const Item& item = items[i];
      bool same = item.size() == first.size();
      for (std::size_t f = 0; same && f < item.size(); ++f)
        same = item[f].first == first[f].first && item[f].second.dtype() == first[f].second.dtype() &&
               item[f].second.shape() == first[f].second.shape();
      if (!same)
        throw ReplayError(ErrorCode::kInvalidArgument, "replay client: insert_many: item " + std::to_string(i) +
                                                           " has other fields, dtypes or shapes than item 0");
    }
    if (codec != Codec::kNone) {
      for (std::size_t i = 0; i < items.size(); ++i) insert(items[i], priorities ? &(*priorities)[i] : nullptr, table);
      return;
    }
    for (const auto& [name, array] : first)
      if (is_reserved_field(name))
        throw ReplayError(ErrorCode::kInvalidArgument,
                          "replay client: item field name '" + name + "' is reserved by the replay protocol");
    std::size_t item_bytes = 0;
    for (const auto& field : first) item_bytes += field.second.nbytes();
    const std::size_t limit = static_cast<std::size_t>(options.max_batch_mb) << 20;
    const std::size_t per_request = std::max<std::size_t>(1, item_bytes > 0 ? limit / item_bytes : items.size());
    // Item i goes to shard (start + i) % shards, as consecutive insert() calls would send it.
    const std::size_t shards = conns.size(), start = sharded() ? next_shard : 0;
    next_shard += items.size();
    for (std::size_t s = 0; s < std::min(shards, items.size()); ++s) {
      const std::size_t ci = (start + s) % shards;
      std::vector<std::size_t> mine;
      for (std::size_t i = s; i < items.size(); i += shards) mine.push_back(i);
      for (std::size_t lo = 0; lo < mine.size(); lo += per_request) {
        const std::size_t hi = std::min(mine.size(), lo + per_request);
        collect_inserts(options.max_in_flight_inserts - 1);
        Message req(MsgType::kInsertBatch);
        const auto k = static_cast<std::int64_t>(hi - lo);
        for (std::size_t f = 0; f < first.size(); ++f) {
          Shape shape = first[f].second.shape();
          shape.insert(shape.begin(), k);
          Array stacked = Array::uninitialized(first[f].second.dtype(), shape);
          const std::size_t row = first[f].second.nbytes();
          auto* dst = static_cast<char*>(stacked.raw());
          for (std::size_t j = lo; j < hi; ++j)
            if (row > 0) std::memcpy(dst + (j - lo) * row, items[mine[j]][f].second.raw(), row);
          req.add(first[f].first, std::move(stacked));
        }
        if (priorities != nullptr) {
          std::vector<double> p;
          for (std::size_t j = lo; j < hi; ++j) p.push_back((*priorities)[mine[j]]);
          req.add(kPriorityField, Array::from_vector(p, {k}));
        }
        add_table(req, table);
        in_flight.push_back({ci, send(ci, std::move(req), /*server_timeout=*/true)});
      }
    }
    if (options.max_in_flight_inserts == 1) collect_inserts(0);
  }

  // Waits until at most `keep` inserts are in flight; throws the first failure among those collected.
  void collect_inserts(std::int64_t keep) {
    while (static_cast<std::int64_t>(in_flight.size()) > keep) {
      const auto [ci, id] = in_flight.front();
      try {
        wait(ci, id);
      } catch (const StoppedError&) {
        throw;  // keep the others in flight; the stopped one was abandoned
      } catch (...) {
        in_flight.pop_front();
        throw;
      }
      in_flight.pop_front();
    }
  }

  // --- samples ---------------------------------------------------------------------------

  SampleCall send_sample(std::int64_t n, const std::string& table) {
    SampleCall call;
    call.n = n;
    call.table = table;
    const std::size_t k = conns.size();
    // Split n over the shards, starting at a rotating shard so that remainders spread evenly.
    const std::size_t first = k > 1 ? next_sample_shard++ % k : 0;
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t ci = (first + j) % k;
      const std::int64_t part = n / static_cast<std::int64_t>(k) + (static_cast<std::int64_t>(j) < n % static_cast<std::int64_t>(k) ? 1 : 0);
      if (part == 0) continue;
      Message req(MsgType::kSample);
      req.add(kCountField, Array::scalar<std::int64_t>(part));
      add_table(req, table);
      call.parts.emplace_back(ci, send(ci, std::move(req), /*server_timeout=*/true));
    }
    return call;
  }

  Batch receive_sample(const SampleCall& call) {
    std::vector<std::pair<std::size_t, Message>> replies;
    try {
      for (const auto& [ci, id] : call.parts) replies.emplace_back(ci, wait(ci, id));
    } catch (...) {
      for (const auto& [ci, id] : call.parts) {  // abandon the other shards' parts
        conns[ci].outstanding.erase(id);
        conns[ci].replies.erase(id);
      }
      throw;
    }
    std::vector<Batch> parts;
    for (auto& [ci, rep] : replies) parts.push_back(batch_of(ci, std::move(rep)));
    Batch out = parts.size() == 1 ? std::move(parts[0]) : concat(parts);
    out.table = call.table.empty() ? options.table : call.table;
    return out;
  }

  Batch batch_of(std::size_t ci, Message rep) const {
    Batch b;
    std::int64_t n = -1;
    auto vec = [&](const Array& a, const char* name) {
      if (a.dtype() != DType::kFloat64 || a.shape().size() != 1)
        throw Error(std::string("replay client: reply field '") + name + "' is not float64[n]");
      const double* d = a.data<double>();
      return std::vector<double>(d, d + a.numel());
    };
    for (auto& [name, array] : rep.fields) {
      if (name == kKeysField) {
        if (array.dtype() != DType::kInt64 || array.shape().size() != 1)
          throw Error("replay client: reply field 'keys' is " + std::string(dtype_name(array.dtype())) +
                      shape_str(array.shape()) + ", expected int64[n]");
        const std::int64_t* k = array.data<std::int64_t>();
        n = array.numel();
        for (std::int64_t i = 0; i < n; ++i) {
          std::uint64_t key = static_cast<std::uint64_t>(k[i]);
          if (sharded()) key |= static_cast<std::uint64_t>(ci) << kShardShift;
          b.keys.push_back(key);
        }
      } else if (name == kProbabilitiesField) {
        b.probabilities = vec(array, kProbabilitiesField);
      } else if (name == kWeightsField) {
        b.weights = vec(array, kWeightsField);
      } else if (name == kPrioritiesField) {
        b.priorities = vec(array, kPrioritiesField);
      } else {
        b.fields.emplace_back(name, array);
      }
    }
    if (n < 0) throw Error("replay client: sample reply from " + conns[ci].endpoint + " has no keys");
    for (const auto& f : b.fields)
      if (f.second.shape().empty() || f.second.shape()[0] != n)
        throw Error("replay client: reply field '" + f.first + "' does not have " + std::to_string(n) + " rows");
    if (b.probabilities.size() != static_cast<std::size_t>(n)) b.probabilities.assign(static_cast<std::size_t>(n), 1.0);
    if (b.weights.size() != static_cast<std::size_t>(n)) b.weights.assign(static_cast<std::size_t>(n), 1.0);
    if (b.priorities.size() != static_cast<std::size_t>(n)) b.priorities.assign(static_cast<std::size_t>(n), 0.0);
    return b;
  }

  // Stacks per-shard batches into one. Probabilities become those of the whole draw (each shard
  // contributes its share of the batch), and weights are renormalised over the whole batch.
  static Batch concat(std::vector<Batch>& parts) {
    Batch out;
    std::int64_t n = 0;
    for (const auto& p : parts) n += p.size();
    for (std::size_t f = 0; f < parts[0].fields.size(); ++f) {
      const Array& a0 = parts[0].fields[f].second;
      Shape shape = a0.shape();
      shape[0] = n;
      Array stacked = Array::uninitialized(a0.dtype(), shape);  // the parts fill all n rows
      auto* dst = static_cast<unsigned char*>(stacked.raw());
      for (const auto& p : parts) {
        const Array& a = p.at(parts[0].fields[f].first);
        if (a.dtype() != a0.dtype() || !std::equal(a.shape().begin() + 1, a.shape().end(), a0.shape().begin() + 1,
                                                     a0.shape().end()))
          throw Error("replay client: shards disagree on field '" + parts[0].fields[f].first + "'");
        std::memcpy(dst, a.raw(), a.nbytes());
        dst += a.nbytes();
      }
      out.fields.emplace_back(parts[0].fields[f].first, std::move(stacked));
    }
    double max_w = 0;
    for (const auto& p : parts) {
      const double share = static_cast<double>(p.size()) / static_cast<double>(n);
      out.keys.insert(out.keys.end(), p.keys.begin(), p.keys.end());
      for (double q : p.probabilities) out.probabilities.push_back(q * share);
      out.weights.insert(out.weights.end(), p.weights.begin(), p.weights.end());
      out.priorities.insert(out.priorities.end(), p.priorities.begin(), p.priorities.end());
    }
    for (double w : out.weights) max_w = std::max(max_w, w);
    if (max_w > 0)
      for (double& w : out.weights) w /= max_w;
    return out;
  }

  Batch sample(std::int64_t n, const std::string& table) {
    if (n < 1) throw ReplayError(ErrorCode::kInvalidArgument, "replay client: cannot sample " + std::to_string(n) + " items");
    if (options.prefetch == 0) return receive_sample(send_sample(n, table));
    if (!prefetched.empty() && (prefetched.front().n != n || prefetched.front().table != table)) {
      MNEMO_WARN("replay client: sample size or table changed; discarding ", prefetched.size(), " prefetched batch(es)");
      for (const auto& call : prefetched) {
        try {
          receive_sample(call);
        } catch (const StoppedError&) {
          throw;
        } catch (const std::exception&) {
        }
      }
      prefetched.clear();
    }
    while (static_cast<std::int64_t>(prefetched.size()) < options.prefetch + 1) prefetched.push_back(send_sample(n, table));
    SampleCall call = std::move(prefetched.front());
    prefetched.pop_front();
    return receive_sample(call);
  }

  std::vector<Message> call_all(const std::function<Message()>& make, bool server_timeout) {
    std::vector<std::uint64_t> ids;
    for (std::size_t ci = 0; ci < conns.size(); ++ci) ids.push_back(send(ci, make(), server_timeout));
    std::vector<Message> out;
    for (std::size_t ci = 0; ci < conns.size(); ++ci) out.push_back(wait(ci, ids[ci]));
    return out;
  }

  std::string endpoint;
  ClientOptions options;
  Codec codec = Codec::kNone;
  transport::CurveClient curve;
  wire::Limits limits;
  transport::RecvLimits recv_limits;
  std::vector<Conn> conns;
  std::uint64_t next_id = 1;
  std::size_t next_shard = 0;
  std::size_t next_sample_shard = 0;
  std::deque<std::pair<std::size_t, std::uint64_t>> in_flight;  // inserts: (conn, id), oldest first
  std::deque<SampleCall> prefetched;
  std::int64_t reconnect_count = 0;
  const std::atomic<bool>* stop_flag = nullptr;
};

Client::Client(std::string endpoint, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::insert(const Item& item) { impl_->insert(item, nullptr, ""); }

void Client::insert(const Item& item, double priority, const std::string& table) {
  impl_->insert(item, &priority, table);
}

void Client::insert_many(const std::vector<Item>& items, const std::string& table) {
  impl_->insert_many(items, nullptr, table);
}

void Client::insert_many(const std::vector<Item>& items, const std::vector<double>& priorities,
                         const std::string& table) {
  impl_->insert_many(items, &priorities, table);
}

void Client::flush() { impl_->collect_inserts(0); }

Batch Client::sample(std::int64_t n) { return impl_->sample(n, ""); }

Batch Client::sample(std::int64_t n, const std::string& table) { return impl_->sample(n, table); }

std::int64_t Client::update_priorities(const std::vector<std::uint64_t>& keys, const std::vector<double>& priorities,
                                       const std::string& table) {
  if (keys.size() != priorities.size())
    throw ReplayError(ErrorCode::kInvalidArgument, "replay client: " + std::to_string(keys.size()) + " keys but " +
                                                        std::to_string(priorities.size()) + " priorities");
  const std::size_t k = impl_->conns.size();
  std::vector<std::vector<std::int64_t>> shard_keys(k);
  std::vector<std::vector<double>> shard_prios(k);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::size_t ci = 0;
    std::uint64_t key = keys[i];
    if (impl_->sharded()) {
      ci = static_cast<std::size_t>(key >> kShardShift);
      key &= (std::uint64_t{1} << kShardShift) - 1;
      if (ci >= k) throw ReplayError(ErrorCode::kInvalidArgument, "replay client: key " + std::to_string(keys[i]) + " names no shard");
    }
    shard_keys[ci].push_back(static_cast<std::int64_t>(key));
    shard_prios[ci].push_back(priorities[i]);
  }
  std::int64_t updated = 0;
  for (std::size_t ci = 0; ci < k; ++ci) {
    if (shard_keys[ci].empty()) continue;
    const auto m = static_cast<std::int64_t>(shard_keys[ci].size());
    Message req(MsgType::kUpdatePriorities);
    req.add(kKeysField, Array::from_vector(shard_keys[ci], {m}));
    req.add(kPrioritiesField, Array::from_vector(shard_prios[ci], {m}));
    impl_->add_table(req, table);
    updated += int_field(impl_->call(ci, std::move(req), /*server_timeout=*/false), "updated");
  }
  return updated;
}

void Client::set_rate_limited(bool on, const std::string& table) {
  impl_->collect_inserts(0);
  impl_->call_all(
      [&] {
        Message req(MsgType::kConfigure);
        req.add(kRateLimitedField, Array::scalar<bool>(on));
        impl_->add_table(req, table);
        return req;
      },
      /*server_timeout=*/false);
}

Info Client::info(const std::string& table) {
  impl_->collect_inserts(0);
  auto replies = impl_->call_all(
      [&] {
        Message req(MsgType::kInfo);
        impl_->add_table(req, table);
        return req;
      },
      /*server_timeout=*/false);
  Info info;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const Message& rep = replies[i];
    info.size += int_field(rep, "size");
    info.max_size += int_field(rep, "max_size");
    info.inserts += int_field(rep, "inserts");
    info.samples += int_field(rep, "samples");
    info.pending += int_field(rep, "pending");
    if (rep.has("bytes")) info.bytes += int_field(rep, "bytes");
    if (rep.has("evicted")) info.evicted += int_field(rep, "evicted");
    if (rep.has(kRateLimitedField)) info.rate_limited = info.rate_limited && rep.at(kRateLimitedField).item<bool>();
    if (i == 0 && rep.has("tables")) {
      std::stringstream ss(wire::array_text(rep.at("tables")));
      std::string name;
      while (std::getline(ss, name)) info.tables.push_back(name);
    }
  }
  return info;
}

std::vector<std::string> Client::checkpoint() {
  impl_->collect_inserts(0);
  auto replies = impl_->call_all([] { return Message(MsgType::kCheckpoint); }, /*server_timeout=*/false);
  std::vector<std::string> paths;
  for (const auto& r : replies) paths.push_back(wire::array_text(r.at(kPathField)));
  return paths;
}

std::vector<Snapshot> Client::checkpoint_into(const std::string& dir) {
  impl_->collect_inserts(0);
  std::size_t shard = 0;
  auto replies = impl_->call_all(
      [&] {
        Message req(MsgType::kCheckpoint);
        req.add(kDirField, wire::text_array((std::filesystem::path(dir) / std::to_string(shard++)).string()));
        return req;
      },
      /*server_timeout=*/false);
  std::vector<Snapshot> out;
  for (const auto& r : replies) out.push_back({wire::array_text(r.at(kPathField)), int_field(r, kItemsField)});
  return out;
}

void Client::shutdown_server() {
  impl_->call_all([] { return Message(MsgType::kShutdown); }, /*server_timeout=*/false);
}

void Client::set_stop_flag(const std::atomic<bool>* flag) { impl_->stop_flag = flag; }

const std::string& Client::endpoint() const { return impl_->endpoint; }

std::int64_t Client::in_flight_inserts() const { return static_cast<std::int64_t>(impl_->in_flight.size()); }

std::int64_t Client::reconnects() const { return impl_->reconnect_count; }

}  // namespace mnemo::replay
