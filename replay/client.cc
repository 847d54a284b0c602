// Replay client: request/reply over a DEALER socket with request ids, timeouts and a stop flag.
// See client.h.
#include "replay/client.h"

#include <zmq.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"
#include "core/transport.h"
#include "core/wire.h"
#include "replay/server.h"

namespace mnemo::replay {
namespace {

using Clock = std::chrono::steady_clock;
using wire::Message;
using wire::MsgType;

constexpr long kSliceMs = 50;
// Extra wait beyond the timeout sent to the server, so that the server's own timeout reply usually
// arrives and the caller sees the server's account of what it was waiting for.
constexpr std::int64_t kGraceMs = 250;

std::int64_t int_scalar(const Message& m, const char* name) {
  const Array& a = m.at(name);
  if (a.numel() != 1 || (a.dtype() != DType::kInt64 && a.dtype() != DType::kInt32))
    throw Error(std::string("replay reply field '") + name + "' is not an integer scalar");
  return a.item<std::int64_t>();
}

}  // namespace

void ClientOptions::validate() const {
  if (timeout_ms < 0) throw ConfigError("replay client option 'timeout_ms' must not be negative, got " +
                                        std::to_string(timeout_ms));
  if (max_message_mb < 1 || max_message_mb > (std::int64_t{1} << 20))
    throw ConfigError("replay client option 'max_message_mb' must be in [1, 1048576], got " +
                      std::to_string(max_message_mb));
}

struct Client::Impl {
  Impl(std::string ep, ClientOptions o)
      : endpoint(std::move(ep)), options(std::move(o)), socket(transport::context(), zmq::socket_type::dealer) {
    options.validate();
    limits.max_message_bytes = static_cast<std::size_t>(options.max_message_mb) << 20;
    recv_limits = transport::RecvLimits::for_wire(limits, /*extra_frames=*/0);
    socket.set(zmq::sockopt::linger, 0);
    try {
      socket.connect(endpoint);
    } catch (const zmq::error_t& e) {
      throw Error("replay client cannot connect to '" + endpoint + "': " + e.what());
    }
  }

  void check_stop() const {
    if (stop_flag != nullptr && stop_flag->load()) throw StoppedError();
  }

  long slice(Clock::time_point deadline) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<long>(std::clamp<std::int64_t>(left, 0, kSliceMs));
  }

  // Sends `req` and returns its kOk reply. With server_timeout, the request tells the server how
  // long it may park it.
  Message call(Message req, bool server_timeout) {
    const char* what = wire::msg_type_name(req.type);
    const std::uint64_t id = next_id++;
    req.request_id = id;
    if (server_timeout) req.add(kTimeoutField, Array::scalar<std::int64_t>(options.timeout_ms));
    const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms + kGraceMs);
    const std::vector<wire::Frame> frames = wire::encode(req);

    auto timeout = [&](const std::string& doing) {
      return TimeoutError("replay client: " + doing + " " + what + " request to " + endpoint + " within " +
                          std::to_string(options.timeout_ms) + " ms");
    };
    while (true) {
      check_stop();
      if (transport::send_frames(socket, frames, /*wait=*/false)) break;
      if (Clock::now() >= deadline) throw timeout("could not send the");
      zmq_pollitem_t item{socket.handle(), 0, ZMQ_POLLOUT, 0};
      zmq_poll(&item, 1, slice(deadline));
    }
    while (true) {
      check_stop();
      if (Clock::now() >= deadline) throw timeout("no reply to the");
      auto got = transport::recv_frames(socket, recv_limits, std::max(1L, slice(deadline)));
      if (!got) continue;
      Message rep = wire::decode(std::move(*got), limits);
      // Request id 0 answers a request the server could not decode, which can only be ours.
      const bool ours = rep.request_id == id || (rep.request_id == 0 && rep.type == MsgType::kError);
      if (!ours) {
        MNEMO_DEBUG("replay client: discarding a late reply to request ", rep.request_id);
        continue;
      }
      if (rep.type == MsgType::kError) {
        const std::string text = rep.has(kMessageField) ? wire::array_text(rep.at(kMessageField)) : "unknown error";
        if (rep.has(kTimedOutField)) throw TimeoutError("replay server at " + endpoint + ": " + text);
        throw Error("replay server at " + endpoint + ": " + text);
      }
      if (rep.type != MsgType::kOk)
        throw Error(std::string("replay client: unexpected '") + wire::msg_type_name(rep.type) + "' reply from " +
                    endpoint);
      return rep;
    }
  }

  std::string endpoint;
  ClientOptions options;
  wire::Limits limits;
  transport::RecvLimits recv_limits;
  zmq::socket_t socket;
  std::uint64_t next_id = 1;
  const std::atomic<bool>* stop_flag = nullptr;
};

Client::Client(std::string endpoint, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::insert(const Item& item) {
  // Over inproc:// ZeroMQ hands our buffers to the server thread as they are, and the table would
  // keep them: copy, so that callers may reuse their buffers as soon as insert() returns, as they
  // may over tcp://.
  const bool in_process = impl_->endpoint.rfind("inproc://", 0) == 0;
  Message req(MsgType::kInsert);
  for (const auto& [name, array] : item) {
    if (is_reserved_field(name))
      throw Error("replay client: item field name '" + name + "' is reserved by the replay protocol");
    req.add(name, in_process ? array.clone() : array);
  }
  impl_->call(std::move(req), /*server_timeout=*/true);
}

Batch Client::sample(std::int64_t n) {
  if (n < 1) throw Error("replay client: cannot sample " + std::to_string(n) + " items");
  Message req(MsgType::kSample);
  req.add(kCountField, Array::scalar<std::int64_t>(n));
  Message rep = impl_->call(std::move(req), /*server_timeout=*/true);
  Batch batch;
  for (auto& [name, array] : rep.fields) {
    if (name == kKeysField) {
      if (array.dtype() != DType::kInt64 || array.numel() != n)
        throw Error("replay client: reply field 'keys' is " + std::string(dtype_name(array.dtype())) +
                    shape_str(array.shape()) + ", expected int64[" + std::to_string(n) + "]");
      const std::int64_t* k = array.data<std::int64_t>();
      batch.keys.assign(k, k + n);
    } else {
      batch.fields.emplace_back(name, array);
    }
  }
  if (batch.size() != n) throw Error("replay client: sample reply from " + impl_->endpoint + " has no keys");
  return batch;
}

Info Client::info() {
  Message rep = impl_->call(Message(MsgType::kInfo), /*server_timeout=*/false);
  Info info;
  info.size = int_scalar(rep, "size");
  info.max_size = int_scalar(rep, "max_size");
  info.inserts = int_scalar(rep, "inserts");
  info.samples = int_scalar(rep, "samples");
  info.pending = int_scalar(rep, "pending");
  return info;
}

void Client::shutdown_server() { impl_->call(Message(MsgType::kShutdown), /*server_timeout=*/false); }

void Client::set_stop_flag(const std::atomic<bool>* flag) { impl_->stop_flag = flag; }

const std::string& Client::endpoint() const { return impl_->endpoint; }

}  // namespace mnemo::replay
