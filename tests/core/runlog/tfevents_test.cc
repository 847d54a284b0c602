// Tests of the TensorBoard event-file writer. The files are read back with a decoder written here
// from the format's description (TFRecord framing, protobuf wire format, CRC-32C by the bit), not
// with mnemo's encoder or CRC code, so a mistake shared by writer and reader cannot hide.
#include "core/runlog/tfevents.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>

#include "core/check.h"
#include "core/runlog/metrics.h"

namespace mnemo {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// The independent decoder.

// CRC-32C, one bit at a time (reflected polynomial 0x82F63B78), as in RFC 3720 appendix B.4.
std::uint32_t reference_crc32c(const std::string& bytes) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint32_t reference_masked(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::uint64_t read_le(const std::string& s, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  return v;
}

struct DecodedValue {
  std::string tag;
  float simple_value = 0;
};

struct DecodedEvent {
  std::optional<double> wall_time;
  std::optional<std::int64_t> step;
  std::optional<std::string> file_version;
  std::vector<DecodedValue> values;
};

// Reads protobuf fields of one message; calls on_field(field, wire_type, varint_or_fixed, bytes).
class ProtoReader {
 public:
  explicit ProtoReader(const std::string& s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos_ >= s_.size() || shift > 63) throw std::runtime_error("bad varint");
      const unsigned char b = static_cast<unsigned char>(s_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
  }
  std::uint64_t fixed(int bytes) {
    if (pos_ + bytes > s_.size()) throw std::runtime_error("truncated fixed field");
    const std::uint64_t v = read_le(s_, pos_, bytes);
    pos_ += bytes;
    return v;
  }
  std::string bytes() {
    const std::uint64_t n = varint();
    if (n > s_.size() - pos_) throw std::runtime_error("length-delimited field overruns its message");
    std::string out = s_.substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  const std::string& s_;
  std::size_t pos_ = 0;
};

DecodedValue decode_value(const std::string& msg) {
  DecodedValue v;
  ProtoReader r(msg);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    if (key == ((1 << 3) | 2)) {
      v.tag = r.bytes();
    } else if (key == ((2 << 3) | 5)) {
      const auto bits = static_cast<std::uint32_t>(r.fixed(4));
      std::memcpy(&v.simple_value, &bits, 4);
    } else {
      throw std::runtime_error("unexpected Summary.Value field key " + std::to_string(key));
    }
  }
  return v;
}

DecodedEvent decode_event(const std::string& msg) {
  DecodedEvent e;
  ProtoReader r(msg);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    if (key == ((1 << 3) | 1)) {
      const std::uint64_t bits = r.fixed(8);
      double d;
      std::memcpy(&d, &bits, 8);
      e.wall_time = d;
    } else if (key == ((2 << 3) | 0)) {
      e.step = static_cast<std::int64_t>(r.varint());
    } else if (key == ((3 << 3) | 2)) {
      e.file_version = r.bytes();
    } else if (key == ((5 << 3) | 2)) {
      const std::string summary = r.bytes();
      ProtoReader s(summary);
      while (!s.done()) {
        if (s.varint() != ((1 << 3) | 2)) throw std::runtime_error("unexpected Summary field");
        e.values.push_back(decode_value(s.bytes()));
      }
    } else {
      throw std::runtime_error("unexpected Event field key " + std::to_string(key));
    }
  }
  return e;
}

// Splits a TFRecord file into records, checking both CRCs; throws naming the first bad one.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) throw std::runtime_error("truncated record header");
    const std::string len_bytes = file.substr(pos, 8);
    const std::uint64_t len = read_le(file, pos, 8);
    if (read_le(file, pos + 8, 4) != reference_masked(reference_crc32c(len_bytes))) {
      throw std::runtime_error("length CRC mismatch in record " + std::to_string(out.size()));
    }
    pos += 12;
    if (len > file.size() - pos || file.size() - pos - len < 4) throw std::runtime_error("truncated record data");
    std::string data = file.substr(pos, len);
    if (read_le(file, pos + len, 4) != reference_masked(reference_crc32c(data))) {
      throw std::runtime_error("data CRC mismatch in record " + std::to_string(out.size()));
    }
    pos += len + 4;
    out.push_back(std::move(data));
  }
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<DecodedEvent> read_events(const fs::path& path) {
  std::vector<DecodedEvent> out;
  for (const auto& r : read_records(read_file(path))) out.push_back(decode_event(r));
  return out;
}

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// ---------------------------------------------------------------------------------------------

class TfEventsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mnemo_tfevents_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<fs::path> event_files() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST(TfEventsDecoderTest, ReferenceCrcMatchesTheStandardCheckValue) {
  // The CRC-32C check value of "123456789" (RFC 3720), so the decoder's own CRC is trustworthy.
  EXPECT_EQ(reference_crc32c("123456789"), 0xe3069283u);
}

TEST_F(TfEventsWriterTest, CreatesAnEventFileNamedWithUnixSecondsAndHostName) {
  const auto before = static_cast<long long>(std::time(nullptr));
  TfEventsWriter w(dir_);
  const auto after = static_cast<long long>(std::time(nullptr));
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);

  ASSERT_EQ(event_files().size(), 1u);
  EXPECT_EQ(w.path(), event_files()[0]);
  const std::string name = w.path().filename().string();
  const std::string prefix = "events.out.tfevents.";
  ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
  const std::string rest = name.substr(prefix.size());
  const auto dot = rest.find('.');
  ASSERT_NE(dot, std::string::npos) << name;
  const long long seconds = std::stoll(rest.substr(0, dot));
  EXPECT_GE(seconds, before);
  EXPECT_LE(seconds, after);
  EXPECT_EQ(rest.substr(dot + 1), host);
}

TEST_F(TfEventsWriterTest, FirstRecordIsTheFileVersionEventWithWallTime) {
  const double before = unix_now();
  { TfEventsWriter w(dir_); }
  const double after = unix_now();
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].file_version.has_value());
  EXPECT_EQ(*events[0].file_version, "brain.Event:2");
  ASSERT_TRUE(events[0].wall_time.has_value());
  EXPECT_GE(*events[0].wall_time, before - 1e-3);
  EXPECT_LE(*events[0].wall_time, after + 1e-3);
  EXPECT_FALSE(events[0].step.has_value());
  EXPECT_TRUE(events[0].values.empty());
}

TEST_F(TfEventsWriterTest, WritesOneEventPerCallWithStepTagsAndFloatValues) {
  const double before = unix_now();
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/2560, {{"episode_return", 23.514018691588785}, {"loss/policy", -0.0023790951}});
    w.write_scalars(/*step=*/5120, {{"episode_return", 28.7}});
  }
  const double after = unix_now();
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), 3u);

  const DecodedEvent& a = events[1];
  ASSERT_TRUE(a.step.has_value());
  EXPECT_EQ(*a.step, 2560);
  ASSERT_TRUE(a.wall_time.has_value());
  EXPECT_GE(*a.wall_time, before - 1e-3);
  EXPECT_LE(*a.wall_time, after + 1e-3);
  EXPECT_FALSE(a.file_version.has_value());
  ASSERT_EQ(a.values.size(), 2u);
  EXPECT_EQ(a.values[0].tag, "episode_return");
  EXPECT_EQ(a.values[0].simple_value, static_cast<float>(23.514018691588785));
  EXPECT_EQ(a.values[1].tag, "loss/policy");
  EXPECT_EQ(a.values[1].simple_value, static_cast<float>(-0.0023790951));

  ASSERT_TRUE(events[2].step.has_value());
  EXPECT_EQ(*events[2].step, 5120);
  ASSERT_EQ(events[2].values.size(), 1u);
  EXPECT_EQ(events[2].values[0].simple_value, 28.7f);
}

TEST_F(TfEventsWriterTest, StepsOfEveryMagnitudeAndSignRoundTripThroughTheVarint) {
  const std::vector<std::int64_t> steps = {0,
                                           1,
                                           127,
                                           128,
                                           300,
                                           1ll << 35,
                                           std::numeric_limits<std::int64_t>::max(),
                                           -1,
                                           std::numeric_limits<std::int64_t>::min()};
  {
    TfEventsWriter w(dir_);
    for (auto s : steps) w.write_scalars(s, {{"x", 1.0}});
  }
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), steps.size() + 1);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    ASSERT_TRUE(events[i + 1].step.has_value());
    EXPECT_EQ(*events[i + 1].step, steps[i]);
  }
}

TEST_F(TfEventsWriterTest, NonFiniteValuesAreKeptAndTagsMayBeLongOrUnicode) {
  const std::string long_tag(300, 'k');  // > 127 bytes: a two-byte length varint
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/7, {{"nan", std::nan("")},
                                 {"inf", std::numeric_limits<double>::infinity()},
                                 {"huge", 1e300},  // beyond float: becomes +inf, as a float cast does
                                 {long_tag, 1.5},
                                 {"r\xc3\xa9sultat", 2.0}});
  }
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), 2u);
  const auto& v = events[1].values;
  ASSERT_EQ(v.size(), 5u);
  EXPECT_TRUE(std::isnan(v[0].simple_value));
  EXPECT_TRUE(std::isinf(v[1].simple_value));
  EXPECT_GT(v[1].simple_value, 0);
  EXPECT_TRUE(std::isinf(v[2].simple_value));
  EXPECT_EQ(v[3].tag, long_tag);
  EXPECT_EQ(v[3].simple_value, 1.5f);
  EXPECT_EQ(v[4].tag, "r\xc3\xa9sultat");
}

TEST_F(TfEventsWriterTest, ManyEventsAllDecodeInOrderWithValidCrcs) {
  constexpr int kEvents = 5000;
  {
    TfEventsWriter w(dir_);
    for (int i = 0; i < kEvents; ++i) {
      w.write_scalars(/*step=*/i * 100, {{"a", i * 0.5}, {"b", -i}, {"c", 1.0 / (i + 1)}});
    }
    w.flush();
  }
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents + 1));
  for (int i = 0; i < kEvents; ++i) {
    const DecodedEvent& e = events[i + 1];
    ASSERT_EQ(e.step.value_or(-1), i * 100);
    ASSERT_EQ(e.values.size(), 3u);
    ASSERT_EQ(e.values[0].simple_value, static_cast<float>(i * 0.5));
    ASSERT_EQ(e.values[1].simple_value, static_cast<float>(-i));
    ASSERT_EQ(e.values[2].simple_value, static_cast<float>(1.0 / (i + 1)));
    ASSERT_EQ(e.values[2].tag, "c");
  }
}

TEST_F(TfEventsWriterTest, EmptyScalarListWritesNoEvent) {
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/1, {});
  }
  EXPECT_EQ(read_events(event_files().at(0)).size(), 1u);
}

TEST_F(TfEventsWriterTest, EmptyTagIsRejectedAndNothingIsWritten) {
  TfEventsWriter w(dir_);
  EXPECT_THROW(w.write_scalars(/*step=*/1, {{"ok", 1.0}, {"", 2.0}}), Error);
  EXPECT_EQ(read_events(w.path()).size(), 1u);
}

TEST_F(TfEventsWriterTest, CorruptDataByteIsDetectedByTheDataCrc) {
  fs::path path;
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/10, {{"episode_return", 100.0}});
    path = w.path();
  }
  std::string bytes = read_file(path);
  ASSERT_NO_THROW(read_records(bytes));
  // The second record starts after the first: 12 header bytes + data + 4 CRC bytes.
  const std::size_t first = 12 + read_le(bytes, 0, 8) + 4;
  bytes[first + 12 + 5] ^= 0x01;  // one bit inside the second record's Event
  try {
    read_records(bytes);
    FAIL() << "corruption not detected";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "data CRC mismatch in record 1");
  }
}

TEST_F(TfEventsWriterTest, CorruptLengthByteIsDetectedByTheLengthCrc) {
  fs::path path;
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/10, {{"episode_return", 100.0}});
    path = w.path();
  }
  std::string bytes = read_file(path);
  bytes[1] ^= 0x40;
  try {
    read_records(bytes);
    FAIL() << "corruption not detected";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "length CRC mismatch in record 0");
  }
}

TEST_F(TfEventsWriterTest, TwoWritersInTheSameSecondKeepSeparateFiles) {
  TfEventsWriter a(dir_);
  TfEventsWriter b(dir_);
  a.write_scalars(/*step=*/1, {{"x", 1.0}});
  b.write_scalars(/*step=*/2, {{"x", 2.0}});
  EXPECT_NE(a.path(), b.path());
  ASSERT_EQ(event_files().size(), 2u);
  EXPECT_EQ(read_events(a.path()).at(1).step.value_or(-1), 1);
  EXPECT_EQ(read_events(b.path()).at(1).step.value_or(-1), 2);
}

TEST_F(TfEventsWriterTest, AsAMetricsSinkReceivesEveryScalarWrittenToMetricsJsonl) {
  {
    TfEventsWriter events(dir_);
    MetricsWriter metrics(dir_);
    metrics.add_sink(events.sink());
    metrics.write(/*step=*/100, {{"loss", 0.5}, {"lr", 0.001}});
    metrics.write(/*step=*/200, {{"loss", 0.25}, {"episode_return", 12.0}});
    // The form the brief's callers use: a lambda forwarding to write_scalars.
    metrics.add_sink([&events](auto step, auto& s) { events.write_scalars(step, s); });
    metrics.write(/*step=*/300, {{"loss", 0.125}});
  }
  const auto events = read_events(event_files().at(0));
  ASSERT_EQ(events.size(), 5u);  // file version, 100, 200, and 300 twice (two sinks)
  EXPECT_EQ(events[1].step.value_or(-1), 100);
  ASSERT_EQ(events[1].values.size(), 2u);
  EXPECT_EQ(events[1].values[1].tag, "lr");
  EXPECT_EQ(events[1].values[1].simple_value, 0.001f);
  EXPECT_EQ(events[2].values[1].tag, "episode_return");
  EXPECT_EQ(events[3].step.value_or(-1), 300);
  EXPECT_EQ(events[4].step.value_or(-1), 300);
  EXPECT_EQ(events[4].values.at(0).simple_value, 0.125f);
}

TEST(TfEventsEncodingTest, FramesAnEmptyRecordWithTheMaskedCrcsOfItsParts) {
  const std::string r = tfevents::frame_record("");
  ASSERT_EQ(r.size(), 16u);
  EXPECT_EQ(read_le(r, 0, 8), 0u);
  EXPECT_EQ(read_le(r, 8, 4), reference_masked(reference_crc32c(std::string(8, '\0'))));
  EXPECT_EQ(read_le(r, 12, 4), reference_masked(reference_crc32c("")));
}

TEST(TfEventsEncodingTest, ScalarEventHasTheExactProtobufBytes) {
  // Hand-assembled from the wire format: Event{1: double, 2: varint, 5: Summary{1: Value{1, 2}}}.
  const std::string got = tfevents::encode_scalars_event(/*wall_time=*/1.0, /*step=*/300, {{"ab", 1.0}});
  const std::string want = std::string("\x09\x00\x00\x00\x00\x00\x00\xf0\x3f", 9) +  // wall_time 1.0
                           std::string("\x10\xac\x02", 3) +                          // step 300
                           std::string("\x2a\x0b", 2) +                              // summary, 11 bytes
                           std::string("\x0a\x09", 2) +                              // value, 9 bytes
                           std::string(
                               "\x0a\x02"
                               "ab",
                               4) +                                 // tag "ab"
                           std::string("\x15\x00\x00\x80\x3f", 5);  // simple_value 1.0f
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace mnemo

// ---------------------------------------------------------------------------------------------
// The reader (mnemo plot reads event files, its own and other frameworks').

namespace mnemo {
namespace {

// Protobuf by hand, for events other writers produce.
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  return out + static_cast<char>(v);
}
std::string key(int field, int wire_type) { return varint(static_cast<std::uint64_t>(field << 3 | wire_type)); }
std::string bytes_field(int field, const std::string& payload) { return key(field, 2) + varint(payload.size()) + payload; }
template <class T>
std::string raw(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

class TfEventsReaderTest : public TfEventsWriterTest {
 protected:
  fs::path write_raw(const std::vector<std::string>& events) {
    fs::create_directories(dir_);
    const fs::path p = dir_ / "events.out.tfevents.1.other";
    std::ofstream out(p, std::ios::binary);
    for (const auto& e : events) out << tfevents::frame_record(e);
    return p;
  }
};

TEST_F(TfEventsReaderTest, ReadsBackWhatTheWriterWrote) {
  fs::path path;
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/5, {{"episode_return", 10.5}, {"loss", 0.25}});
    w.write_scalars(/*step=*/-3, {{"episode_return", std::numeric_limits<double>::infinity()}});
    path = w.path();
  }
  const auto events = tfevents::read_scalars(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].step, 5);
  EXPECT_EQ(events[0].tag, "episode_return");
  EXPECT_DOUBLE_EQ(events[0].value, 10.5);
  EXPECT_EQ(events[1].tag, "loss");
  EXPECT_DOUBLE_EQ(events[1].value, 0.25);
  EXPECT_EQ(events[2].step, -3);
  EXPECT_TRUE(std::isinf(events[2].value));
  EXPECT_GT(events[0].wall_time, 1e9);
}

TEST_F(TfEventsReaderTest, ReadsTensorScalarsAndSkipsOtherSummaries) {
  // TF2's tf.summary.scalar: Value { tag, metadata (field 9), tensor { dtype, tensor_shape, float_val } }.
  const std::string tensor_float = key(1, 0) + varint(1) + bytes_field(2, "") + bytes_field(5, raw(2.5f));
  const std::string tensor_double = key(1, 0) + varint(2) + bytes_field(4, raw(-7.25));
  const std::string tensor_int64 = key(1, 0) + varint(9) + key(10, 0) + varint(42);
  const std::string image = bytes_field(1, "frame") + bytes_field(4, key(1, 0) + varint(8) + bytes_field(4, "PNG..."));
  const std::string summary = bytes_field(1, bytes_field(1, "charts/return") + bytes_field(9, "meta") + bytes_field(8, tensor_float)) +
                              bytes_field(1, bytes_field(1, "d") + bytes_field(8, tensor_double)) +
                              bytes_field(1, bytes_field(1, "i") + bytes_field(8, tensor_int64)) + bytes_field(1, image);
  const std::string event = key(1, 1) + raw(1700000000.5) + key(2, 0) + varint(300) + bytes_field(5, summary);
  const auto events = tfevents::read_scalars(write_raw({tfevents::encode_file_version_event(1, "brain.Event:2"), event}));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].tag, "charts/return");
  EXPECT_DOUBLE_EQ(events[0].value, 2.5);
  EXPECT_EQ(events[0].step, 300);
  EXPECT_DOUBLE_EQ(events[0].wall_time, 1700000000.5);
  EXPECT_DOUBLE_EQ(events[1].value, -7.25);
  EXPECT_DOUBLE_EQ(events[2].value, 42);
}

TEST_F(TfEventsReaderTest, ATruncatedLastRecordEndsTheReadQuietly) {
  fs::path path;
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/1, {{"a", 1.0}});
    w.write_scalars(/*step=*/2, {{"a", 2.0}});
    path = w.path();
  }
  const std::string bytes = read_file(path);
  for (std::size_t cut = 1; cut < 30; ++cut) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - cut);
    const auto events = tfevents::read_scalars(path);
    ASSERT_EQ(events.size(), 1u) << "cut " << cut;
    EXPECT_EQ(events[0].step, 1);
  }
}

TEST_F(TfEventsReaderTest, CorruptionAndGarbageAreErrorsNamingFileAndOffset) {
  fs::path path;
  {
    TfEventsWriter w(dir_);
    w.write_scalars(/*step=*/1, {{"a", 1.0}});
    path = w.path();
  }
  std::string bytes = read_file(path);
  const std::size_t second = 12 + read_le(bytes, 0, 8) + 4;
  bytes[second + 14] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    tfevents::read_scalars(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path.string()), std::string::npos) << m;
    EXPECT_NE(m.find("bad data CRC at byte " + std::to_string(second)), std::string::npos) << m;
  }
  // Valid framing around bytes that are not an Event: a length running past the message.
  const fs::path bad = write_raw({bytes_field(5, std::string("\x0a\x7f", 2))});
  EXPECT_THROW(tfevents::read_scalars(bad), Error);
  std::ofstream(dir_ / "events.out.tfevents.2.text") << "this is not an event file at all, just text";
  EXPECT_THROW(tfevents::read_scalars(dir_ / "events.out.tfevents.2.text"), Error);
  EXPECT_THROW(tfevents::read_scalars(dir_ / "missing"), Error);
}

}  // namespace
}  // namespace mnemo
