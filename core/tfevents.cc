// TensorBoard event-file writer: TFRecord framing and hand-encoded Event protobufs. See tfevents.h.
//
// The subset of tensorflow/core/util/event.proto and summary.proto written here:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// Encoding by hand keeps the dependency list short; these field numbers are frozen by TensorBoard's
// need to read files written by every TensorFlow version, so they will not move.
#include "core/tfevents.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

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

}  // namespace mnemo
