// ZeroMQ glue for the wire format: the process-wide context, zero-copy send of encoded Messages,
// bounded receive of multipart messages into wire::Frames, and endpoint helpers.
//
// Every service (replay, parameter server) and client speaks through these functions, so that the
// rules of the data plane live in one place: payload frames are sent from the Arrays' memory without
// copies, received frames keep the zmq message alive instead of copying it, and a receiver never
// buffers more than its limits allow from a peer that sends too much. Only .cc files and the
// transport-owning classes' private parts include this header; public interfaces of core/ and
// replay/ stay free of ZeroMQ types.
#pragma once

#include <zmq.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/net/curve.h"
#include "core/net/wire.h"

namespace mnemo::transport {

// The one ZeroMQ context of the process. inproc:// endpoints only connect sockets of the same
// context, which is what lets the embedded mode run every role as threads of one process. It is
// never destroyed, so process exit cannot hang on a socket a detached thread still holds.
zmq::context_t& context();

// How much one received multipart message may hold.
struct RecvLimits {
  std::size_t max_frames = 2 + 256;
  std::size_t max_bytes = std::size_t{256} << 20;
  // Limits for a message that decodes within `limits`, plus `extra_frames` envelope frames (the
  // ROUTER routing id) of at most 256 bytes each.
  static RecvLimits for_wire(const wire::Limits& limits, std::size_t extra_frames);
};

// One received multipart message.
struct Incoming {
  std::vector<wire::Frame> frames;  // every frame when accepted; the leading ones kept when rejected
  std::string peer;                 // "Peer-Address" of the sender (empty for inproc)
  bool rejected = false;            // over RecvLimits: the rest was drained and dropped
  std::string reason;               // why it was rejected
};

// Waits up to timeout_ms (0: do not wait, negative: forever) for a message and receives all its
// parts. Frames own their zmq::message_t (no copy). A message over `limits` is drained part by
// part without being kept (memory stays bounded) and returned with rejected = true and the frames
// that fit before the limit, so that a ROUTER can still answer the sender. nullopt: no message.
std::optional<Incoming> recv(zmq::socket_t& socket, const RecvLimits& limits, long timeout_ms);

// recv() for callers that only want the frames: throws wire::WireError(kTooLarge) for a message
// over the limits.
std::optional<std::vector<wire::Frame>> recv_frames(zmq::socket_t& socket, const RecvLimits& limits,
                                                    long timeout_ms);

// Sends the frames as one multipart message. Frames with an owner are handed to ZeroMQ without a
// copy (the owner is kept until ZeroMQ releases the buffer); tiny or ownerless frames are copied.
// With wait = false returns false instead of blocking when the socket cannot take the message.
// payload_checksums = false only where the socket is in-process (see wire.h and in_process()).
bool send_frames(zmq::socket_t& socket, const std::vector<wire::Frame>& frames, bool wait);
bool send(zmq::socket_t& socket, const wire::Message& message, bool wait = true, bool payload_checksums = true);
// For ROUTER sockets: prepends the routing-id frame of the peer to answer. Never blocks: a reply
// to a peer that is gone or not reading is dropped by ZeroMQ, so one client cannot stall a server.
bool send_routed(zmq::socket_t& socket, const std::string& routing_id, const wire::Message& message,
                 bool payload_checksums = true);

// Whether an endpoint is in-process (inproc://): its messages never leave this process's memory,
// so they go without payload checksums (wire::Limits::allow_unchecked_payload on the receiver).
bool in_process(const std::string& endpoint);

// "Peer-Address" metadata of a received message (the sender's IP for tcp://), empty if unknown.
std::string peer_address(const zmq::message_t& message);
// A printable name of a peer for log lines: its address, or "inproc peer" when it has none.
std::string peer_name(const std::string& peer);

// Binds (endpoint may use a wildcard port, "tcp://127.0.0.1:*") and returns the endpoint that was
// actually bound, which is what other processes must connect to.
std::string bind_any(zmq::socket_t& socket, const std::string& endpoint);

// Options for a socket that accepts messages from untrusted peers: ZMQ_MAXMSGSIZE (ZeroMQ drops a
// peer that sends a larger frame), a bounded receive queue per peer, and no linger on close.
void configure_server_socket(zmq::socket_t& socket, const wire::Limits& limits);

// ---------------------------------------------------------------------------------------------
// CURVE encryption and authentication (libzmq built with libsodium).
//
// Keys are ZeroMQ's Z85 text (40 characters for 32 bytes). A key file is a small text file in the
// spirit of CZMQ's zcert: `public-key = "..."` and, in the secret file only, `secret-key = "..."`;
// lines starting with '#' are comments. `mnemo keygen` writes PREFIX.key (both keys, mode 0600)
// and PREFIX.pub (public key only, to hand to peers).

// Whether this libzmq supports CURVE.
bool curve_available();
// A fresh key pair. Throws mnemo::Error when CURVE is unavailable.
CurveKeyPair curve_keypair();
// Whether `key` is 40 characters of valid Z85.
bool curve_key_valid(const std::string& key);
// Reads a key file; throws mnemo::Error naming the path and the problem (missing, malformed key).
CurveKeyPair read_curve_key_file(const std::string& path);
// Writes PREFIX.key (mode 0600) and PREFIX.pub atomically; throws mnemo::Error naming the path.
void write_curve_key_files(const std::string& prefix, const CurveKeyPair& keys);

// Makes `socket` a CURVE server with `server` keys. With a non-empty `authorized_public_keys`, only
// clients presenting one of them complete the handshake (a ZAP handler in this process checks);
// otherwise any client that knows the server's public key may connect (encryption only).
void configure_curve_server(zmq::socket_t& socket, const CurveKeyPair& server,
                            const std::vector<std::string>& authorized_public_keys);
// Makes `socket` a CURVE client of the server with `server_public_key`, using `client` keys.
void configure_curve_client(zmq::socket_t& socket, const std::string& server_public_key, const CurveKeyPair& client);

// CURVE on `socket` when `c` is on; nothing otherwise.
inline void configure_curve(zmq::socket_t& socket, const CurveServer& c) {
  if (c.on()) configure_curve_server(socket, c.keys, c.authorized);
}
inline void configure_curve(zmq::socket_t& socket, const CurveClient& c) {
  if (c.on()) configure_curve_client(socket, c.server_public_key, c.keys);
}

}  // namespace mnemo::transport
