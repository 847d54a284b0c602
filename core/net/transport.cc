// ZeroMQ glue: zero-copy send, bounded multipart receive, endpoint helpers. See transport.h.
#include "core/net/transport.h"

#include <zmq.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "core/runlog/checkpoint.h"

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

bool send(zmq::socket_t& socket, const wire::Message& message, bool wait, bool payload_checksums) {
  return send_frames(socket, wire::encode(message, payload_checksums), wait);
}

bool send_routed(zmq::socket_t& socket, const std::string& routing_id, const wire::Message& message,
                 bool payload_checksums) {
  std::vector<wire::Frame> frames = wire::encode(message, payload_checksums);
  zmq::message_t id(routing_id.data(), routing_id.size());
  if (!send_one(socket, id, /*more=*/true, /*wait=*/false)) return false;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m = make_message(frames[i]);
    if (!send_one(socket, m, i + 1 < frames.size(), /*wait=*/false)) return false;
  }
  return true;
}

bool in_process(const std::string& endpoint) { return endpoint.rfind("inproc://", 0) == 0; }

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

// ---------------------------------------------------------------------------------------------
// CURVE

namespace {

// Allowlists of client public keys per ZAP domain; one domain per authenticating server socket.
struct ZapRegistry {
  std::mutex mu;
  std::map<std::string, std::set<std::string>> allowed;
};
ZapRegistry& zap_registry() {
  static ZapRegistry* r = new ZapRegistry();
  return *r;
}

// ZeroMQ asks the ZAP handler bound at inproc://zeromq.zap.01 of the socket's context about every
// CURVE handshake. One handler serves the whole process; domains without an allowlist (servers
// that only encrypt) are accepted.
void zap_loop(zmq::socket_t* sock) {
  while (true) {
    std::vector<zmq::message_t> parts;
    try {
      zmq::message_t m;
      do {
        if (!sock->recv(m, zmq::recv_flags::none)) break;
        parts.emplace_back(std::move(m));
        m = zmq::message_t();
      } while (parts.back().more());
    } catch (const zmq::error_t&) {
      return;  // context terminated
    }
    if (parts.size() < 6) continue;
    const std::string domain = parts[2].to_string();
    const std::string mechanism = parts[5].to_string();
    std::string status = "200", text = "OK";
    if (mechanism == "CURVE" && parts.size() >= 7 && parts[6].size() == 32) {
      char z85[41] = {0};
      zmq_z85_encode(z85, static_cast<const std::uint8_t*>(parts[6].data()), 32);
      std::lock_guard<std::mutex> lock(zap_registry().mu);
      auto it = zap_registry().allowed.find(domain);
      if (it != zap_registry().allowed.end() && !it->second.count(z85)) {
        status = "400";
        text = "client key not authorized";
        MNEMO_WARN("curve: refused a client with public key ", z85, " from ", parts[3].to_string());
      }
    } else if (mechanism != "NULL") {
      status = "400";
      text = "unsupported mechanism";
    }
    const std::string fields[] = {"1.0", parts[1].to_string(), status, text, "", ""};
    for (int i = 0; i < 6; ++i) {
      zmq::message_t r(fields[i].data(), fields[i].size());
      sock->send(r, i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
}

void ensure_zap_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto* sock = new zmq::socket_t(context(), zmq::socket_type::rep);
    sock->set(zmq::sockopt::linger, 0);
    sock->bind("inproc://zeromq.zap.01");
    std::thread(zap_loop, sock).detach();
  });
}

std::string unquote(std::string v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.pop_back();
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

bool curve_available() { return zmq_has("curve") != 0; }

CurveKeyPair curve_keypair() {
  if (!curve_available()) throw Error("this libzmq was built without CURVE (libsodium) support");
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) throw Error(std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  return {pub, sec};
}

bool curve_key_valid(const std::string& key) {
  if (key.size() != 40) return false;
  std::uint8_t out[32];
  return zmq_z85_decode(out, key.c_str()) != nullptr;
}

CurveKeyPair read_curve_key_file(const std::string& path) {
  std::ifstream is(path);
  if (!is) throw Error("cannot read CURVE key file " + path);
  CurveKeyPair keys;
  std::string line;
  int lineno = 0;
  while (std::getline(is, line) && lineno < 1000) {
    ++lineno;
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    const std::string name = unquote(line.substr(0, eq));
    const std::string value = unquote(line.substr(eq + 1));
    std::string* dst = name == "public-key" ? &keys.public_key : name == "secret-key" ? &keys.secret_key : nullptr;
    if (dst == nullptr) continue;
    if (!curve_key_valid(value))
      throw Error("CURVE key file " + path + ":" + std::to_string(lineno) + ": " + name +
                  " is not a 40-character Z85 key");
    *dst = value;
  }
  if (keys.public_key.empty()) throw Error("CURVE key file " + path + " has no public-key line");
  return keys;
}

void write_curve_key_files(const std::string& prefix, const CurveKeyPair& keys) {
  MNEMO_CHECK(curve_key_valid(keys.public_key) && curve_key_valid(keys.secret_key), "invalid CURVE key pair");
  const std::string head = "# mnemo CURVE key (ZeroMQ Z85), written by `mnemo keygen`.\n";
  const std::string pub = head + "public-key = \"" + keys.public_key + "\"\n";
  const std::string sec = head + "# Secret: keep this file private; give peers the .pub file.\n" + "public-key = \"" +
                          keys.public_key + "\"\nsecret-key = \"" + keys.secret_key + "\"\n";
  // Create the secret file private before any byte of the key is written into it.
  const mode_t old = ::umask(077);
  try {
    write_file_atomic(prefix + ".key", sec);
  } catch (...) {
    ::umask(old);
    throw;
  }
  ::umask(old);
  ::chmod((prefix + ".key").c_str(), 0600);
  write_file_atomic(prefix + ".pub", pub);
}

void configure_curve_server(zmq::socket_t& socket, const CurveKeyPair& server,
                            const std::vector<std::string>& authorized_public_keys) {
  if (!curve_available()) throw Error("CURVE requested but this libzmq has no CURVE support");
  if (!curve_key_valid(server.secret_key)) throw Error("CURVE server needs a valid secret key");
  if (!authorized_public_keys.empty()) {
    static std::atomic<int> next_domain{0};
    const std::string domain = "mnemo-" + std::to_string(next_domain++);
    {
      std::lock_guard<std::mutex> lock(zap_registry().mu);
      auto& allowed = zap_registry().allowed[domain];
      for (const auto& k : authorized_public_keys) {
        if (!curve_key_valid(k)) throw Error("authorized CURVE key '" + k + "' is not a 40-character Z85 key");
        allowed.insert(k);
      }
    }
    ensure_zap_handler();
    socket.set(zmq::sockopt::zap_domain, domain);
  }
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, server.secret_key);
}

void configure_curve_client(zmq::socket_t& socket, const std::string& server_public_key, const CurveKeyPair& client) {
  if (!curve_available()) throw Error("CURVE requested but this libzmq has no CURVE support");
  if (!curve_key_valid(server_public_key)) throw Error("CURVE server public key is not a 40-character Z85 key");
  if (!curve_key_valid(client.public_key) || !curve_key_valid(client.secret_key))
    throw Error("CURVE client needs a valid key pair");
  socket.set(zmq::sockopt::curve_serverkey, server_public_key);
  socket.set(zmq::sockopt::curve_publickey, client.public_key);
  socket.set(zmq::sockopt::curve_secretkey, client.secret_key);
}

}  // namespace mnemo::transport
