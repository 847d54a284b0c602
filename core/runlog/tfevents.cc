// TensorBoard event-file writer: TFRecord framing and hand-encoded Event protobufs. See tfevents.h.
//
// The subset of tensorflow/core/util/event.proto and summary.proto written here:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// The reader also understands Value { TensorProto tensor = 8; } with
//   TensorProto { DataType dtype = 1; bytes tensor_content = 4; repeated float float_val = 5;
//                 repeated double double_val = 6; repeated int32 int_val = 7; repeated int64 int64_val = 10; }
// Encoding by hand keeps the dependency list short; these field numbers are frozen by TensorBoard's
// need to read files written by every TensorFlow version, so they will not move.
#include "core/runlog/tfevents.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include "core/check.h"
#include "core/crc32c.h"

namespace mnemo {
namespace fs = std::filesystem;

namespace tfevents {
namespace {

// Protobuf wire types.
constexpr std::uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void put_key(std::string& out, std::uint32_t field, std::uint32_t wire_type) {
  put_varint(out, (field << 3) | wire_type);
}

// Little-endian byte by byte, so the files are the same on any host.
void put_fixed(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_double(std::string& out, std::uint32_t field, double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_fixed(out, bits, 8);
}

void put_float(std::string& out, std::uint32_t field, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_fixed(out, bits, 4);
}

void put_bytes(std::string& out, std::uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string frame_record(const std::string& data) {
  std::string header;
  put_fixed(header, data.size(), 8);
  std::string out = header;
  put_fixed(out, crc32c_masked(crc32c(header.data(), header.size())), 4);
  out += data;
  put_fixed(out, crc32c_masked(crc32c(data.data(), data.size())), 4);
  return out;
}

std::string encode_file_version_event(double wall_time, const std::string& file_version) {
  std::string event;
  put_double(event, 1, wall_time);
  put_bytes(event, 3, file_version);
  return event;
}

std::string encode_scalars_event(double wall_time, std::int64_t step, const Scalars& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    put_bytes(v, 1, tag);
    put_float(v, 2, static_cast<float>(value));
    put_bytes(summary, 1, v);
  }
  std::string event;
  put_double(event, 1, wall_time);
  // int64 fields are varints of the two's complement, so a negative step takes ten bytes.
  put_key(event, 2, kVarint);
  put_varint(event, static_cast<std::uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

}  // namespace tfevents

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string name = buf;
  // The host name becomes part of a file name.
  for (char& ch : name) {
    if (ch == '/' || static_cast<unsigned char>(ch) < 0x20) ch = '_';
  }
  return name;
}

}  // namespace

TfEventsWriter::TfEventsWriter(fs::path run_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) throw Error("cannot create run directory " + run_dir.string() + ": " + ec.message());
  const std::string base =
      "events.out.tfevents." + std::to_string(static_cast<long long>(std::time(nullptr))) + "." + host_name();
  // O_EXCL: never truncate the events of an earlier writer that started in the same second.
  for (int attempt = 0; fd_ < 0; ++attempt) {
    path_ = run_dir / (attempt == 0 ? base : base + "." + std::to_string(attempt));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || attempt >= 1000)) {
      throw Error("cannot create " + path_.string() + ": " + std::strerror(errno));
    }
  }
  try {
    write_record(tfevents::encode_file_version_event(tfevents::now_seconds(), "brain.Event:2"));
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

TfEventsWriter::~TfEventsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TfEventsWriter::write_record(const std::string& data) {
  // One write(2) per record, so a reader following the live file (TensorBoard polls it) sees
  // whole records, barring a full disk.
  const std::string record = tfevents::frame_record(data);
  const char* p = record.data();
  std::size_t n = record.size();
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void TfEventsWriter::write_scalars(std::int64_t step, const Scalars& scalars) {
  if (scalars.empty()) return;
  for (const auto& kv : scalars) MNEMO_CHECK(!kv.first.empty(), "TensorBoard tags must not be empty");
  const std::string event = tfevents::encode_scalars_event(tfevents::now_seconds(), step, scalars);
  std::lock_guard<std::mutex> lock(mu_);
  write_record(event);
}

void TfEventsWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (::fsync(fd_) != 0) throw Error("cannot fsync " + path_.string() + ": " + std::strerror(errno));
}

MetricsSink TfEventsWriter::sink() {
  return [this](std::int64_t step, const Scalars& scalars) { write_scalars(step, scalars); };
}


namespace tfevents {
namespace {

// A bounds-checked protobuf reader over one message.
class Wire {
 public:
  Wire(const std::string& bytes, std::size_t begin, std::size_t end) : s_(bytes), pos_(begin), end_(end) {}
  bool done() const { return pos_ >= end_; }
  // False at a malformed varint (too long or running past the end).
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) return false;
      const auto b = static_cast<std::uint8_t>(s_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool fixed(int bytes, std::uint64_t& v) {
    if (end_ - pos_ < static_cast<std::size_t>(bytes)) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(s_[pos_ + i])) << (8 * i);
    pos_ += static_cast<std::size_t>(bytes);
    return true;
  }
  // The [begin, end) of a length-delimited field's payload.
  bool span(std::size_t& begin, std::size_t& end) {
    std::uint64_t n = 0;
    if (!varint(n) || n > end_ - pos_) return false;
    begin = pos_;
    end = pos_ + static_cast<std::size_t>(n);
    pos_ = end;
    return true;
  }
  // Skips a field of an unused number; false for group wire types (3, 4) or a short payload.
  bool skip(std::uint32_t wire_type) {
    std::uint64_t v = 0;
    std::size_t b = 0, e = 0;
    switch (wire_type) {
      case kVarint: return varint(v);
      case kFixed64: return fixed(8, v);
      case kFixed32: return fixed(4, v);
      case kLengthDelimited: return span(b, e);
      default: return false;
    }
  }

 private:
  const std::string& s_;
  std::size_t pos_, end_;
};

double as_double_bits(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
double as_float_bits(std::uint64_t bits) {
  const auto b = static_cast<std::uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// TensorProto dtypes of scalars.
constexpr std::uint64_t kDtFloat = 1, kDtDouble = 2, kDtInt32 = 3, kDtInt64 = 9;

// The first element of a TensorProto, if it is a number; false otherwise.
bool read_tensor(const std::string& s, std::size_t begin, std::size_t end, double& out) {
  Wire w(s, begin, end);
  std::uint64_t dtype = 0;
  bool have = false;
  std::size_t content_b = 0, content_e = 0;
  bool have_content = false;
  while (!w.done()) {
    std::uint64_t key = 0;
    if (!w.varint(key)) return false;
    const auto field = static_cast<std::uint32_t>(key >> 3), type = static_cast<std::uint32_t>(key & 7);
    std::uint64_t v = 0;
    std::size_t b = 0, e = 0;
    if (field == 1 && type == kVarint) {
      if (!w.varint(dtype)) return false;
    } else if (field == 4 && type == kLengthDelimited) {
      if (!w.span(content_b, content_e)) return false;
      have_content = true;
    } else if ((field == 5 || field == 6) && type == kLengthDelimited) {  // packed float / double
      if (!w.span(b, e)) return false;
      const std::size_t width = field == 5 ? 4 : 8;
      if (!have && e - b >= width) {
        Wire p(s, b, e);
        if (!p.fixed(static_cast<int>(width), v)) return false;
        out = field == 5 ? as_float_bits(v) : as_double_bits(v);
        have = true;
      }
    } else if (field == 5 && type == kFixed32) {
      if (!w.fixed(4, v)) return false;
      if (!have) out = as_float_bits(v), have = true;
    } else if (field == 6 && type == kFixed64) {
      if (!w.fixed(8, v)) return false;
      if (!have) out = as_double_bits(v), have = true;
    } else if ((field == 7 || field == 10) && (type == kVarint || type == kLengthDelimited)) {  // int32 / int64
      if (type == kLengthDelimited) {
        if (!w.span(b, e)) return false;
        Wire p(s, b, e);
        if (!have && !p.done()) {
          if (!p.varint(v)) return false;
          out = static_cast<double>(static_cast<std::int64_t>(v)), have = true;
        }
      } else {
        if (!w.varint(v)) return false;
        if (!have) out = static_cast<double>(static_cast<std::int64_t>(v)), have = true;
      }
    } else if (!w.skip(type)) {
      return false;
    }
  }
  if (!have && have_content) {
    Wire p(s, content_b, content_e);
    std::uint64_t v = 0;
    if (dtype == kDtFloat && p.fixed(4, v)) out = as_float_bits(v), have = true;
    else if (dtype == kDtDouble && p.fixed(8, v)) out = as_double_bits(v), have = true;
    else if (dtype == kDtInt32 && p.fixed(4, v)) out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v)), have = true;
    else if (dtype == kDtInt64 && p.fixed(8, v)) out = static_cast<double>(static_cast<std::int64_t>(v)), have = true;
  }
  return have;
}

// One Summary.Value: false if malformed; `found` tells whether it held a scalar.
bool read_value(const std::string& s, std::size_t begin, std::size_t end, std::string& tag, double& value, bool& found) {
  Wire w(s, begin, end);
  found = false;
  while (!w.done()) {
    std::uint64_t key = 0, v = 0;
    if (!w.varint(key)) return false;
    const auto field = static_cast<std::uint32_t>(key >> 3), type = static_cast<std::uint32_t>(key & 7);
    std::size_t b = 0, e = 0;
    if (field == 1 && type == kLengthDelimited) {
      if (!w.span(b, e)) return false;
      tag.assign(s, b, e - b);
    } else if (field == 2 && type == kFixed32) {
      if (!w.fixed(4, v)) return false;
      value = as_float_bits(v);
      found = true;
    } else if (field == 8 && type == kLengthDelimited) {
      if (!w.span(b, e)) return false;
      double t = 0;
      if (read_tensor(s, b, e, t)) value = t, found = true;
    } else if (!w.skip(type)) {
      return false;
    }
  }
  return true;
}

// One Event's scalars; false if malformed.
bool read_event(const std::string& s, std::size_t begin, std::size_t end, std::vector<ScalarEvent>& out) {
  Wire w(s, begin, end);
  std::int64_t step = 0;
  double wall_time = 0;
  std::vector<std::pair<std::string, double>> values;
  while (!w.done()) {
    std::uint64_t key = 0, v = 0;
    if (!w.varint(key)) return false;
    const auto field = static_cast<std::uint32_t>(key >> 3), type = static_cast<std::uint32_t>(key & 7);
    std::size_t b = 0, e = 0;
    if (field == 1 && type == kFixed64) {
      if (!w.fixed(8, v)) return false;
      wall_time = as_double_bits(v);
    } else if (field == 2 && type == kVarint) {
      if (!w.varint(v)) return false;
      step = static_cast<std::int64_t>(v);
    } else if (field == 5 && type == kLengthDelimited) {
      if (!w.span(b, e)) return false;
      Wire summary(s, b, e);
      while (!summary.done()) {
        std::uint64_t k = 0;
        if (!summary.varint(k)) return false;
        std::size_t vb = 0, ve = 0;
        if ((k >> 3) == 1 && (k & 7) == kLengthDelimited) {
          if (!summary.span(vb, ve)) return false;
          std::string tag;
          double value = 0;
          bool found = false;
          if (!read_value(s, vb, ve, tag, value, found)) return false;
          if (found) values.emplace_back(std::move(tag), value);
        } else if (!summary.skip(static_cast<std::uint32_t>(k & 7))) {
          return false;
        }
      }
    } else if (!w.skip(type)) {
      return false;
    }
  }
  for (auto& [tag, value] : values) out.push_back(ScalarEvent{step, wall_time, std::move(tag), value});
  return true;
}

}  // namespace

std::vector<ScalarEvent> read_scalars(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<ScalarEvent> out;
  std::size_t pos = 0;
  auto fail = [&](const std::string& what) {
    throw Error(file.string() + ": " + what + " at byte " + std::to_string(pos) + " (not a TensorBoard event file?)");
  };
  while (pos < s.size()) {
    if (s.size() - pos < 12) break;  // a header still being written
    Wire h(s, pos, pos + 12);
    std::uint64_t length = 0, length_crc = 0;
    h.fixed(8, length);
    h.fixed(4, length_crc);
    if (crc32c_masked(crc32c(s.data() + pos, 8)) != static_cast<std::uint32_t>(length_crc)) fail("bad length CRC");
    if (length > s.size() - pos - 12 || s.size() - pos - 12 - length < 4) break;  // a record still being written
    const std::size_t data = pos + 12;
    Wire t(s, data + length, data + length + 4);
    std::uint64_t data_crc = 0;
    t.fixed(4, data_crc);
    if (crc32c_masked(crc32c(s.data() + data, length)) != static_cast<std::uint32_t>(data_crc)) fail("bad data CRC");
    if (!read_event(s, data, data + length, out)) fail("malformed Event protobuf");
    pos = data + length + 4;
  }
  return out;
}

}  // namespace tfevents

}  // namespace mnemo
