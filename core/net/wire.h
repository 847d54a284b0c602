// Wire format: how a request or reply (a Message of named Arrays) becomes a list of frames for one
// multipart ZeroMQ message, and how received frames become a Message again.
//
// Frame 0 is a small versioned header written with cereal's binary archive; frames 1..n are the
// fields' bytes, pointing at the Arrays' own memory so that sending copies nothing. Decoding is the
// trust boundary of every server: it checks every size the header declares against the frames that
// actually arrived and against configured Limits before it allocates anything, and it reports a
// typed WireError instead of crashing on any input. This header knows nothing about ZeroMQ; the
// socket glue lives in core/transport.h.
//
// Header layout (native byte order, which is little-endian on every supported machine; a
// big-endian peer fails cleanly with kBadMagic):
//   u32 magic "MNEM" | u16 version | u16 type (| kNoPayloadChecksums) | u64 request_id |
//   u32 field count |
//   per field: u32 name length, name bytes, u8 dtype, u32 ndim, i64 dims[ndim], u64 byte length,
//              u32 CRC32C of the field's bytes (0 with kNoPayloadChecksums) |
//   u32 CRC32C of all the header bytes before it
//
// Payload checksums guard bytes that crossed a wire. Over inproc:// nothing does: the frames are
// the sender's own memory in the same process, so senders there leave them out (the type's
// kNoPayloadChecksums bit) and receivers that know their transport is in-process accept that
// (Limits::allow_unchecked_payload). Every other receiver refuses such a message, and the header
// checksum is always there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/array.h"
#include "core/check.h"

namespace mnemo::wire {

constexpr std::uint32_t kMagic = 0x4d4e454du;  // "MNEM"
constexpr std::uint16_t kVersion = 1;
// Set in the header's type field when the fields carry no payload checksums.
constexpr std::uint16_t kNoPayloadChecksums = 0x8000;

// What a message asks for or answers. Values are part of the wire format: append, never reorder.
enum class MsgType : std::uint16_t {
  kOk = 1,         // success reply; carries the result's fields
  kError = 2,      // failure reply; field "message" holds the text (see text_array)
  kInsert = 3,     // replay: insert one item
  kSample = 4,     // replay: take items
  kInfo = 5,       // replay: counters
  kShutdown = 6,   // ask a service process to exit
  kGetParams = 7,  // parameter server: ask for the latest parameters
  kParams = 8,     // parameter server: a model's flat parameters
  kUpdatePriorities = 9,  // replay: set the priorities of items by key
  kCheckpoint = 10,       // replay: write a checkpoint of every table
  kConfigure = 11,        // replay: runtime switches (rate limiting on/off)
  kInsertBatch = 12,      // replay: insert several items, their fields stacked
  kEnvOpen = 13,          // env server (envs/gym.h): make copies of the env, answer its spec
  kEnvReset = 14,         // env server: reset copies
  kEnvStep = 15,          // env server: step copies
  kEnvRender = 16,        // env server: one copy's RGB frame
};
bool msg_type_valid(std::uint16_t raw);
const char* msg_type_name(MsgType type);

// One request or reply: a type, an id that pairs a reply with its request, and named Arrays.
struct Message {
  MsgType type = MsgType::kOk;
  std::uint64_t request_id = 0;
  std::vector<std::pair<std::string, Array>> fields;

  Message() = default;
  explicit Message(MsgType t, std::uint64_t id = 0) : type(t), request_id(id) {}

  bool has(const std::string& name) const;
  // Throws mnemo::Error naming the missing field and the fields present.
  const Array& at(const std::string& name) const;
  // Throws mnemo::Error on a duplicate name: a decoder could not tell the two apart.
  void add(std::string name, Array a);
};

// Text travels as a uint8 Array (error messages, names) because Arrays are all the wire carries.
Array text_array(const std::string& text);
std::string array_text(const Array& a);

// A contiguous byte range to send or that was received. `owner` keeps the memory alive: an
// Array's owner for outgoing payloads, the ZeroMQ message for incoming ones. A null owner means
// the memory is not kept alive by the frame, so a sender must copy it.
struct Frame {
  const void* data = nullptr;
  std::size_t size = 0;
  std::shared_ptr<void> owner;

  // A frame owning a private copy of the bytes (tests, small control frames).
  static Frame copy_of(const void* data, std::size_t size);
  static Frame from_string(std::string bytes);
};

// Bounds applied while decoding; a server sets max_message_bytes from its options.
struct Limits {
  std::size_t max_message_bytes = std::size_t{256} << 20;  // sum of all field payloads
  std::size_t max_fields = 256;
  std::size_t max_ndim = 8;
  std::size_t max_name = 64;
  // Accept messages without payload checksums: only for in-process (inproc://) sockets.
  bool allow_unchecked_payload = false;
};
// The largest header frame that a message within `limits` can have.
std::size_t max_header_bytes(const Limits& limits);

// A message that cannot be decoded. The code says which check failed, so that a server can count
// and report kinds of bad input; what() names the offending field and sizes.
class WireError : public Error {
 public:
  enum class Code { kBadMagic, kBadVersion, kTruncated, kSizeMismatch, kTooLarge, kBadChecksum, kMalformed };
  WireError(Code code, const std::string& what);
  Code code() const { return code_; }

 private:
  Code code_;
};
const char* code_name(WireError::Code code);

// Frames for one multipart message: the header, then one frame per field pointing at the field's
// memory (no payload copy). Without payload_checksums (inproc:// only) the payload is not read at
// all. Throws mnemo::Error for an Array without memory.
std::vector<Frame> encode(const Message& message, bool payload_checksums = true);

// The inverse of encode. Throws WireError on anything inconsistent; never trusts a size from the
// input before checking it. Decoded Arrays share the frames' memory when it is aligned for the
// dtype and are copied otherwise. Over inproc:// ZeroMQ passes the sender's buffers through, so a
// decoded Array may be the sender's own memory: a sender must not write to an Array it has sent
// (send a copy of a buffer it reuses), and a receiver should clone before writing.
Message decode(std::vector<Frame> frames, const Limits& limits = {});

}  // namespace mnemo::wire
