// ZeroMQ glue: zero-copy send, bounded multipart receive, endpoint helpers. See transport.h.
#include "core/transport.h"

#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <memory>

namespace mnemo::transport {
namespace {

// Below this size ZeroMQ stores a frame inside the message itself, and handing it our buffer
// would cost an allocation for the bookkeeping instead of saving a copy.
constexpr std::size_t kZeroCopyMin = 64;

void release_owner(void* /*data*/, void* hint) { delete static_cast<std::shared_ptr<void>*>(hint); }

zmq::message_t make_message(const wire::Frame& f) {
  if (f.size == 0) return zmq::message_t();
  if (!f.owner || f.size < kZeroCopyMin) return zmq::message_t(f.data, f.size);
  auto* hint = new std::shared_ptr<void>(f.owner);
  try {
    return zmq::message_t(const_cast<void*>(f.data), f.size, &release_owner, hint);
  } catch (...) {
    delete hint;  // ZeroMQ calls the free function only for a message it accepted
    throw;
  }
}

bool send_one(zmq::socket_t& socket, zmq::message_t& m, bool more, bool wait) {
  zmq::send_flags flags = more ? zmq::send_flags::sndmore : zmq::send_flags::none;
  if (!wait) flags = flags | zmq::send_flags::dontwait;
  return socket.send(m, flags).has_value();
}

}  // namespace

zmq::context_t& context() {
  static zmq::context_t* ctx = new zmq::context_t(1);
  return *ctx;
}

RecvLimits RecvLimits::for_wire(const wire::Limits& limits, std::size_t extra_frames) {
  RecvLimits r;
  r.max_frames = extra_frames + 1 + limits.max_fields;
  r.max_bytes = limits.max_message_bytes + wire::max_header_bytes(limits) + 256 * extra_frames;
  return r;
}

std::optional<Incoming> recv(zmq::socket_t& socket, const RecvLimits& limits, long timeout_ms) {
  if (timeout_ms != 0) {
    zmq_pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    const int rc = zmq_poll(&item, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (rc < 0) {
      if (zmq_errno() == EINTR) return std::nullopt;
      throw zmq::error_t();
    }
    if (rc == 0) return std::nullopt;
  }
  auto msg = std::make_shared<zmq::message_t>();
  if (!socket.recv(*msg, zmq::recv_flags::dontwait)) return std::nullopt;

  Incoming in;
  std::size_t count = 0;
  std::size_t bytes = 0;
  while (true) {
    ++count;
    bytes += msg->size();
    if (in.peer.empty()) in.peer = peer_address(*msg);
    const bool more = msg->more();
    if (!in.rejected && (count > limits.max_frames || bytes > limits.max_bytes)) in.rejected = true;
    if (!in.rejected) in.frames.push_back(wire::Frame{msg->data(), msg->size(), msg});
    if (!more) break;
    // The remaining parts of a multipart message are already queued: ZeroMQ delivers them atomically.
    msg = std::make_shared<zmq::message_t>();
    if (!socket.recv(*msg, zmq::recv_flags::none)) break;
  }
  if (in.rejected) {
    in.reason = "message of " + std::to_string(count) + " frames and " + std::to_string(bytes) +
                " bytes exceeds the limit of " + std::to_string(limits.max_frames) + " frames and " +
                std::to_string(limits.max_bytes) + " bytes";
  }
  return in;
}

std::optional<std::vector<wire::Frame>> recv_frames(zmq::socket_t& socket, const RecvLimits& limits,
                                                    long timeout_ms) {
  auto in = recv(socket, limits, timeout_ms);
  if (!in) return std::nullopt;
  if (in->rejected) throw wire::WireError(wire::WireError::Code::kTooLarge, "wire: " + in->reason);
  return std::move(in->frames);
}

bool send_frames(zmq::socket_t& socket, const std::vector<wire::Frame>& frames, bool wait) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m = make_message(frames[i]);
    if (!send_one(socket, m, i + 1 < frames.size(), wait)) return false;
  }
  return true;
}

bool send(zmq::socket_t& socket, const wire::Message& message, bool wait) {
  return send_frames(socket, wire::encode(message), wait);
}

bool send_routed(zmq::socket_t& socket, const std::string& routing_id, const wire::Message& message) {
  std::vector<wire::Frame> frames = wire::encode(message);
  zmq::message_t id(routing_id.data(), routing_id.size());
  if (!send_one(socket, id, /*more=*/true, /*wait=*/false)) return false;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m = make_message(frames[i]);
    if (!send_one(socket, m, i + 1 < frames.size(), /*wait=*/false)) return false;
  }
  return true;
}

std::string peer_address(const zmq::message_t& message) {
  const char* v = zmq_msg_gets(message.handle(), "Peer-Address");
  return v == nullptr ? std::string() : std::string(v);
}

std::string peer_name(const std::string& peer) { return peer.empty() ? std::string("inproc peer") : peer; }

std::string bind_any(zmq::socket_t& socket, const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("cannot bind " + endpoint + ": " + e.what());
  }
}

void configure_server_socket(zmq::socket_t& socket, const wire::Limits& limits) {
  const std::size_t largest = std::max(limits.max_message_bytes, wire::max_header_bytes(limits));
  const std::size_t capped = std::min<std::size_t>(largest, std::numeric_limits<std::int64_t>::max());
  socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(capped));
  socket.set(zmq::sockopt::rcvhwm, 64);
  socket.set(zmq::sockopt::linger, 0);
}

}  // namespace mnemo::transport
