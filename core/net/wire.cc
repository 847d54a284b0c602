// Wire format encoding and the bounded decoder. See wire.h for the layout.
//
// The decoder reads the header through cereal's binary archive over a read-only view of the frame,
// but never with cereal's std::string / std::vector loaders: those read a length from the input and
// allocate it unchecked. Every variable-length item is read as an explicit length, checked against
// Limits, then read with cereal::binary_data.
#include "core/net/wire.h"

#include <cereal/archives/binary.hpp>

#include <cstring>
#include <istream>
#include <limits>
#include <sstream>
#include <streambuf>
#include <unordered_set>

#include "core/crc32c.h"

namespace mnemo::wire {
namespace {

using Code = WireError::Code;

// Fixed part of the header: magic, version, type, request_id, field count.
constexpr std::size_t kFixedHeader = 4 + 2 + 2 + 8 + 4;
constexpr std::size_t kCrcBytes = 4;

// A read-only streambuf over memory we do not own, so cereal can read frame 0 in place.
class ViewBuf : public std::streambuf {
 public:
  ViewBuf(const void* data, std::size_t size) {
    char* p = const_cast<char*>(static_cast<const char*>(data));
    setg(p, p, p + size);
  }
  std::size_t consumed() const { return static_cast<std::size_t>(gptr() - eback()); }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

struct FieldHeader {
  std::string name;
  std::uint8_t dtype = 0;
  Shape shape;
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
};

[[noreturn]] void fail(Code code, const std::string& what) { throw WireError(code, "wire: " + what); }

template <typename T>
void read_pod(cereal::BinaryInputArchive& ar, ViewBuf& buf, T& value, const char* what) {
  if (buf.remaining() < sizeof(T)) fail(Code::kTruncated, std::string("header ends before ") + what);
  ar(value);
}

}  // namespace

bool msg_type_valid(std::uint16_t raw) { return raw >= 1 && raw <= 16; }

const char* msg_type_name(MsgType type) {
  switch (type) {
    case MsgType::kOk: return "ok";
    case MsgType::kError: return "error";
    case MsgType::kInsert: return "insert";
    case MsgType::kSample: return "sample";
    case MsgType::kInfo: return "info";
    case MsgType::kShutdown: return "shutdown";
    case MsgType::kGetParams: return "get_params";
    case MsgType::kParams: return "params";
    case MsgType::kUpdatePriorities: return "update_priorities";
    case MsgType::kCheckpoint: return "checkpoint";
    case MsgType::kConfigure: return "configure";
    case MsgType::kInsertBatch: return "insert_batch";
    case MsgType::kEnvOpen: return "env_open";
    case MsgType::kEnvReset: return "env_reset";
    case MsgType::kEnvStep: return "env_step";
    case MsgType::kEnvRender: return "env_render";
  }
  return "invalid";
}

bool Message::has(const std::string& name) const {
  for (const auto& f : fields)
    if (f.first == name) return true;
  return false;
}

const Array& Message::at(const std::string& name) const {
  for (const auto& f : fields)
    if (f.first == name) return f.second;
  std::string present;
  for (const auto& f : fields) present += (present.empty() ? "" : ", ") + f.first;
  throw Error(std::string(msg_type_name(type)) + " message has no field '" + name + "' (fields: " +
              (present.empty() ? "none" : present) + ")");
}

void Message::add(std::string name, Array a) {
  if (has(name)) throw Error("message already has a field '" + name + "'");
  fields.emplace_back(std::move(name), std::move(a));
}

Array text_array(const std::string& text) {
  Array a = Array::zeros(DType::kUInt8, {static_cast<std::int64_t>(text.size())});
  if (!text.empty()) std::memcpy(a.raw(), text.data(), text.size());
  return a;
}

std::string array_text(const Array& a) {
  if (a.dtype() != DType::kUInt8) throw Error(std::string("text field is ") + dtype_name(a.dtype()) + ", expected uint8");
  return std::string(static_cast<const char*>(a.raw()), a.nbytes());
}

Frame Frame::copy_of(const void* data, std::size_t size) {
  return from_string(std::string(static_cast<const char*>(data), size));
}

Frame Frame::from_string(std::string bytes) {
  auto holder = std::make_shared<std::string>(std::move(bytes));
  Frame f;
  f.data = holder->data();
  f.size = holder->size();
  f.owner = holder;
  return f;
}

std::size_t max_header_bytes(const Limits& limits) {
  std::size_t per_field = 4 + limits.max_name + 1 + 4 + 8 * limits.max_ndim + 8 + 4;
  return kFixedHeader + limits.max_fields * per_field + kCrcBytes;
}

WireError::WireError(Code code, const std::string& what) : Error(what), code_(code) {}

const char* code_name(WireError::Code code) {
  switch (code) {
    case Code::kBadMagic: return "bad_magic";
    case Code::kBadVersion: return "bad_version";
    case Code::kTruncated: return "truncated";
    case Code::kSizeMismatch: return "size_mismatch";
    case Code::kTooLarge: return "too_large";
    case Code::kBadChecksum: return "bad_checksum";
    case Code::kMalformed: return "malformed";
  }
  return "invalid";
}

std::vector<Frame> encode(const Message& message, bool payload_checksums) {
  std::ostringstream os;
  {
    cereal::BinaryOutputArchive ar(os);
    MNEMO_CHECK(message.fields.size() <= std::numeric_limits<std::uint32_t>::max(), "too many fields");
    const std::uint16_t type =
        static_cast<std::uint16_t>(static_cast<std::uint16_t>(message.type) | (payload_checksums ? 0 : kNoPayloadChecksums));
    ar(kMagic, kVersion, type, message.request_id, static_cast<std::uint32_t>(message.fields.size()));
    for (const auto& [name, array] : message.fields) {
      MNEMO_CHECK(array.defined(), "field '", name, "' has no memory");
      MNEMO_CHECK(name.size() <= std::numeric_limits<std::uint32_t>::max(), "field name too long");
      const std::size_t bytes = array.nbytes();
      ar(static_cast<std::uint32_t>(name.size()));
      ar(cereal::binary_data(name.data(), name.size()));
      ar(static_cast<std::uint8_t>(array.dtype()), static_cast<std::uint32_t>(array.shape().size()));
      for (std::int64_t d : array.shape()) ar(d);
      ar(static_cast<std::uint64_t>(bytes), payload_checksums ? crc32c(array.raw(), bytes) : std::uint32_t{0});
    }
  }
  std::string header = os.str();
  const std::uint32_t crc = crc32c(header.data(), header.size());
  header.append(reinterpret_cast<const char*>(&crc), sizeof(crc));

  std::vector<Frame> frames;
  frames.reserve(1 + message.fields.size());
  frames.push_back(Frame::from_string(std::move(header)));
  for (const auto& field : message.fields) {
    const Array& a = field.second;
    frames.push_back(Frame{a.raw(), a.nbytes(), a.owner()});
  }
  return frames;
}

Message decode(std::vector<Frame> frames, const Limits& limits) {
  if (frames.empty()) fail(Code::kTruncated, "no frames (expected a header frame)");
  const Frame& head = frames[0];
  if (head.size > 0 && head.data == nullptr) fail(Code::kMalformed, "header frame without data");
  if (head.size > max_header_bytes(limits))
    fail(Code::kTooLarge, "header of " + std::to_string(head.size) + " bytes exceeds the limit of " +
                              std::to_string(max_header_bytes(limits)));

  Message msg;
  std::vector<FieldHeader> fields;
  bool unchecked = false;
  std::uint32_t header_crc = 0;
  std::size_t crc_offset = 0;
  {
    ViewBuf buf(head.data, head.size);
    std::istream is(&buf);
    cereal::BinaryInputArchive ar(is);
    try {
      std::uint32_t magic = 0;
      read_pod(ar, buf, magic, "magic");
      if (magic != kMagic) {
        std::ostringstream os;
        os << "bad magic 0x" << std::hex << magic << " (expected 0x" << kMagic << ")";
        fail(Code::kBadMagic, os.str());
      }
      std::uint16_t version = 0;
      read_pod(ar, buf, version, "version");
      if (version != kVersion)
        fail(Code::kBadVersion, "unsupported version " + std::to_string(version) + " (this build speaks " +
                                    std::to_string(kVersion) + ")");
      std::uint16_t type = 0;
      read_pod(ar, buf, type, "type");
      read_pod(ar, buf, msg.request_id, "request id");
      std::uint32_t count = 0;
      read_pod(ar, buf, count, "field count");
      if (count > limits.max_fields)
        fail(Code::kTooLarge, std::to_string(count) + " fields exceed the limit of " + std::to_string(limits.max_fields));
      fields.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        FieldHeader f;
        std::uint32_t name_len = 0;
        read_pod(ar, buf, name_len, "field name length");
        if (name_len > limits.max_name)
          fail(Code::kTooLarge, "field " + std::to_string(i) + " name of " + std::to_string(name_len) +
                                    " bytes exceeds the limit of " + std::to_string(limits.max_name));
        if (buf.remaining() < name_len) fail(Code::kTruncated, "header ends inside field " + std::to_string(i) + "'s name");
        f.name.resize(name_len);
        ar(cereal::binary_data(f.name.data(), name_len));
        read_pod(ar, buf, f.dtype, "dtype");
        std::uint32_t ndim = 0;
        read_pod(ar, buf, ndim, "ndim");
        if (ndim > limits.max_ndim)
          fail(Code::kTooLarge, "field '" + f.name + "' has " + std::to_string(ndim) + " dimensions, limit " +
                                    std::to_string(limits.max_ndim));
        f.shape.resize(ndim);
        for (std::uint32_t d = 0; d < ndim; ++d) read_pod(ar, buf, f.shape[d], "dims");
        read_pod(ar, buf, f.length, "byte length");
        read_pod(ar, buf, f.crc, "field checksum");
        fields.push_back(std::move(f));
      }
      crc_offset = buf.consumed();
      read_pod(ar, buf, header_crc, "header checksum");
      if (buf.remaining() != 0)
        fail(Code::kMalformed, std::to_string(buf.remaining()) + " unexpected bytes after the header");
      unchecked = (type & kNoPayloadChecksums) != 0;
      msg.type = static_cast<MsgType>(type & ~kNoPayloadChecksums);
    } catch (const cereal::Exception& e) {
      // read_pod checks lengths first, so this only guards against a short read we did not foresee.
      fail(Code::kTruncated, std::string("header: ") + e.what());
    }
  }

  const std::uint32_t actual_crc = crc32c(head.data, crc_offset);
  if (actual_crc != header_crc) fail(Code::kBadChecksum, "header checksum mismatch");
  if (!msg_type_valid(static_cast<std::uint16_t>(msg.type)))
    fail(Code::kMalformed, "unknown message type " + std::to_string(static_cast<unsigned>(msg.type)));
  if (unchecked && !limits.allow_unchecked_payload)
    fail(Code::kBadChecksum, "message without payload checksums on a transport that is not in-process");

  // Semantic checks on each declared field, before touching any payload frame.
  std::size_t total = 0;
  std::unordered_set<std::string> names;
  for (const FieldHeader& f : fields) {
    if (!names.insert(f.name).second) fail(Code::kMalformed, "duplicate field '" + f.name + "'");
    if (!dtype_valid(f.dtype))
      fail(Code::kMalformed, "field '" + f.name + "' has invalid dtype " + std::to_string(f.dtype));
    std::int64_t numel = 0;
    try {
      numel = shape_numel(f.shape);
    } catch (const Error&) {
      fail(Code::kMalformed, "field '" + f.name + "' has invalid shape " + shape_str(f.shape));
    }
    const std::uint64_t elem = dtype_size(static_cast<DType>(f.dtype));
    if (static_cast<std::uint64_t>(numel) > std::numeric_limits<std::uint64_t>::max() / elem)
      fail(Code::kMalformed, "field '" + f.name + "' shape " + shape_str(f.shape) + " overflows");
    if (static_cast<std::uint64_t>(numel) * elem != f.length)
      fail(Code::kMalformed, "field '" + f.name + "' declares " + std::to_string(f.length) + " bytes but shape " +
                                 shape_str(f.shape) + " of " + dtype_name(static_cast<DType>(f.dtype)) + " needs " +
                                 std::to_string(static_cast<std::uint64_t>(numel) * elem));
    if (f.length > limits.max_message_bytes - total)
      fail(Code::kTooLarge, "payload exceeds the limit of " + std::to_string(limits.max_message_bytes) +
                                " bytes at field '" + f.name + "' (" + std::to_string(f.length) + " bytes)");
    total += static_cast<std::size_t>(f.length);
  }

  if (frames.size() != 1 + fields.size())
    fail(Code::kSizeMismatch, "header declares " + std::to_string(fields.size()) + " fields but " +
                                  std::to_string(frames.size() - 1) + " payload frames arrived");
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const Frame& fr = frames[i + 1];
    const FieldHeader& f = fields[i];
    if (fr.size != f.length)
      fail(Code::kSizeMismatch, "field '" + f.name + "' declares " + std::to_string(f.length) + " bytes, frame has " +
                                    std::to_string(fr.size));
    if (fr.size > 0 && fr.data == nullptr) fail(Code::kMalformed, "field '" + f.name + "' frame without data");
    if (!unchecked && crc32c(fr.data, fr.size) != f.crc)
      fail(Code::kBadChecksum, "field '" + f.name + "' checksum mismatch");
  }

  msg.fields.reserve(fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    FieldHeader& f = fields[i];
    Frame& fr = frames[i + 1];
    const DType dtype = static_cast<DType>(f.dtype);
    Array a;
    const bool aligned = reinterpret_cast<std::uintptr_t>(fr.data) % dtype_size(dtype) == 0;
    if (fr.size > 0 && aligned && fr.owner) {
      a = Array::wrap(dtype, std::move(f.shape), const_cast<void*>(fr.data), std::move(fr.owner));
    } else {
      a = Array::uninitialized(dtype, std::move(f.shape));  // fr.size == a.nbytes(), checked above
      if (fr.size > 0) std::memcpy(a.raw(), fr.data, fr.size);
    }
    msg.fields.emplace_back(std::move(f.name), std::move(a));
  }
  return msg;
}

}  // namespace mnemo::wire
