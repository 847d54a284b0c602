// CURVE key material, without ZeroMQ: what options hand to the sockets of core/net/transport.h.
#pragma once

#include <string>
#include <vector>

namespace mnemo::transport {

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85; empty when read from a public key file
};

// The CURVE side of one server or client socket, loaded from key files; empty keys: plain.
struct CurveServer {
  CurveKeyPair keys;
  std::vector<std::string> authorized;  // client public keys; empty: any client with the server key
  bool on() const { return !keys.secret_key.empty(); }
};
struct CurveClient {
  std::string server_public_key;
  CurveKeyPair keys;
  bool on() const { return !server_public_key.empty(); }
};

}  // namespace mnemo::transport
