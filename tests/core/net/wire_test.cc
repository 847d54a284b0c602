// Tests of the wire format: lossless round trips, zero-copy where promised, and a typed rejection
// (never a crash, hang or unchecked allocation) for every kind of bad input.
#include "core/net/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.h"

namespace mnemo::wire {
namespace {

using Code = WireError::Code;

Array patterned(DType dtype, Shape shape, int seed = 0) {
  Array a = Array::zeros(dtype, std::move(shape));
  auto* p = static_cast<unsigned char*>(a.raw());
  for (std::size_t i = 0; i < a.nbytes(); ++i)
    p[i] = dtype == DType::kBool ? static_cast<unsigned char>((i + seed) % 2) : static_cast<unsigned char>(i * 7 + 3 + seed);
  return a;
}

bool same_bytes(const Array& a, const Array& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// What a receiver holds: private copies of the sent frames.
std::vector<Frame> received(const std::vector<Frame>& frames) {
  std::vector<Frame> out;
  for (const Frame& f : frames) out.push_back(Frame::copy_of(f.data, f.size));
  return out;
}

std::string bytes_of(const Frame& f) { return std::string(static_cast<const char*>(f.data), f.size); }

// The code decode() fails with; a test failure if it succeeds or throws anything else.
Code rejection(std::vector<Frame> frames, const Limits& limits = {}) {
  try {
    decode(std::move(frames), limits);
  } catch (const WireError& e) {
    return e.code();
  }
  ADD_FAILURE() << "decode accepted the input";
  return Code::kMalformed;
}

Message small_message() {
  Message m(MsgType::kInsert, /*id=*/42);
  m.add("obs", patterned(DType::kFloat32, {2, 3}));
  m.add("reward", patterned(DType::kFloat64, {2}));
  return m;
}

// Writes headers by hand, independently of encode(), so tests can declare anything.
class HeaderWriter {
 public:
  HeaderWriter& u8(std::uint8_t v) { return raw(&v, sizeof(v)); }
  HeaderWriter& u16(std::uint16_t v) { return raw(&v, sizeof(v)); }
  HeaderWriter& u32(std::uint32_t v) { return raw(&v, sizeof(v)); }
  HeaderWriter& u64(std::uint64_t v) { return raw(&v, sizeof(v)); }
  HeaderWriter& i64(std::int64_t v) { return raw(&v, sizeof(v)); }
  HeaderWriter& name(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    return raw(s.data(), s.size());
  }
  HeaderWriter& prefix(std::uint16_t type, std::uint32_t count) {
    return u32(kMagic).u16(kVersion).u16(type).u64(/*request_id=*/7).u32(count);
  }
  HeaderWriter& field(const std::string& n, std::uint8_t dtype, const Shape& shape, std::uint64_t length,
                      std::uint32_t crc = 0) {
    name(n).u8(dtype).u32(static_cast<std::uint32_t>(shape.size()));
    for (auto d : shape) i64(d);
    return u64(length).u32(crc);
  }
  // The header frame with its trailing checksum.
  Frame finish() const {
    std::string b = bytes_;
    const std::uint32_t crc = crc32c(b.data(), b.size());
    b.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
    return Frame::from_string(b);
  }
  Frame unfinished() const { return Frame::from_string(bytes_); }

 private:
  HeaderWriter& raw(const void* p, std::size_t n) {
    bytes_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string bytes_;
};

TEST(WireTest, RoundTripsEveryDTypeAndShape) {
  const std::vector<Shape> shapes = {{}, {0}, {5}, {2, 3}, {2, 0, 4}, {1, 2, 3, 4}};
  for (int d = 0; d < kNumDTypes; ++d) {
    for (const Shape& shape : shapes) {
      const DType dtype = static_cast<DType>(d);
      Message m(MsgType::kParams, /*id=*/d);
      m.add("x", patterned(dtype, shape, d));
      Message back = decode(received(encode(m)));
      SCOPED_TRACE(std::string(dtype_name(dtype)) + shape_str(shape));
      EXPECT_EQ(back.type, MsgType::kParams);
      EXPECT_EQ(back.request_id, static_cast<std::uint64_t>(d));
      ASSERT_EQ(back.fields.size(), 1u);
      EXPECT_TRUE(same_bytes(back.at("x"), m.at("x")));
    }
  }
}

TEST(WireTest, RoundTripKeepsFieldOrderTypeAndRequestId) {
  Message m(MsgType::kSample, /*id=*/0xfedcba9876543210ull);
  m.add("z", patterned(DType::kUInt8, {3}));
  m.add("a", patterned(DType::kInt64, {}));
  m.add("m", patterned(DType::kInt32, {2, 2}));
  Message back = decode(received(encode(m)));
  EXPECT_EQ(back.type, MsgType::kSample);
  EXPECT_EQ(back.request_id, 0xfedcba9876543210ull);
  ASSERT_EQ(back.fields.size(), 3u);
  EXPECT_EQ(back.fields[0].first, "z");
  EXPECT_EQ(back.fields[1].first, "a");
  EXPECT_EQ(back.fields[2].first, "m");
  EXPECT_TRUE(same_bytes(back.at("m"), m.at("m")));
}

TEST(WireTest, RoundTripsAMessageWithoutFields) {
  Message back = decode(received(encode(Message(MsgType::kShutdown, /*id=*/3))));
  EXPECT_EQ(back.type, MsgType::kShutdown);
  EXPECT_EQ(back.request_id, 3u);
  EXPECT_TRUE(back.fields.empty());
}

TEST(WireTest, EncodePointsPayloadFramesAtTheArraysMemory) {
  Message m = small_message();
  std::vector<Frame> frames = encode(m);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].data, m.at("obs").raw());
  EXPECT_EQ(frames[1].size, m.at("obs").nbytes());
  EXPECT_EQ(frames[2].data, m.at("reward").raw());
}

TEST(WireTest, DecodedArraysShareAlignedFrameMemory) {
  Message m = small_message();
  std::vector<Frame> frames = encode(m);  // payload frames are the Arrays' 64-byte aligned memory
  const void* obs_memory = frames[1].data;
  Message back = decode(frames);
  EXPECT_EQ(back.at("obs").raw(), obs_memory);
}

TEST(WireTest, DecodeCopiesMisalignedFrames) {
  Message m(MsgType::kParams);
  m.add("w", patterned(DType::kFloat64, {16}));
  std::vector<Frame> frames = encode(m);
  auto buffer = std::make_shared<std::vector<unsigned char>>(frames[1].size + 1);
  std::memcpy(buffer->data() + 1, frames[1].data, frames[1].size);
  frames[1] = Frame{buffer->data() + 1, frames[1].size, buffer};
  Message back = decode(frames);
  const Array& w = back.at("w");
  EXPECT_NE(w.raw(), frames[1].data);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w.raw()) % alignof(double), 0u);
  EXPECT_TRUE(same_bytes(w, m.at("w")));
}

TEST(WireTest, MessageAtNamesTheMissingField) {
  Message m = small_message();
  try {
    m.at("value");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'value'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("obs"), std::string::npos) << e.what();
  }
}

TEST(WireTest, MessageRefusesDuplicateFieldNames) {
  Message m = small_message();
  EXPECT_THROW(m.add("obs", patterned(DType::kUInt8, {1})), Error);
}

TEST(WireTest, TextArraysRoundTrip) {
  EXPECT_EQ(array_text(text_array("table is full")), "table is full");
  EXPECT_EQ(array_text(text_array("")), "");
  EXPECT_THROW(array_text(patterned(DType::kFloat32, {2})), Error);
}

TEST(WireTest, RejectsWrongMagic) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::string h = bytes_of(frames[0]);
  h[0] ^= 0x20;
  frames[0] = Frame::from_string(h);
  EXPECT_EQ(rejection(frames), Code::kBadMagic);
}

TEST(WireTest, RejectsWrongVersion) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::string h = bytes_of(frames[0]);
  const std::uint16_t version = kVersion + 1;
  std::memcpy(&h[4], &version, sizeof(version));
  frames[0] = Frame::from_string(h);
  EXPECT_EQ(rejection(frames), Code::kBadVersion);
}

TEST(WireTest, RejectsTruncatedHeader) {
  std::vector<Frame> frames = received(encode(small_message()));
  const std::string h = bytes_of(frames[0]);
  for (std::size_t len = 0; len < h.size(); ++len) {
    frames[0] = Frame::from_string(h.substr(0, len));
    EXPECT_EQ(rejection(frames), Code::kTruncated) << "header cut to " << len << " of " << h.size() << " bytes";
  }
}

TEST(WireTest, RejectsNoFramesAtAll) { EXPECT_EQ(rejection({}), Code::kTruncated); }

TEST(WireTest, RejectsFrameCountMismatch) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::vector<Frame> missing(frames.begin(), frames.end() - 1);
  EXPECT_EQ(rejection(missing), Code::kSizeMismatch);
  std::vector<Frame> extra = frames;
  extra.push_back(Frame::from_string("surplus"));
  EXPECT_EQ(rejection(extra), Code::kSizeMismatch);
}

TEST(WireTest, RejectsFrameSizeMismatch) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::string shorter = bytes_of(frames[1]);
  shorter.pop_back();
  frames[1] = Frame::from_string(shorter);
  EXPECT_EQ(rejection(frames), Code::kSizeMismatch);
}

TEST(WireTest, RejectsHugeDeclaredShapesWithoutAllocating) {
  const std::int64_t big = std::int64_t{1} << 30;
  // 2^60 float32 elements, with a byte length that matches: over the message limit.
  Frame h1 = HeaderWriter().prefix(3, 1).field("obs", 3, {big, big}, std::uint64_t{1} << 62).finish();
  EXPECT_EQ(rejection({h1, Frame::from_string("x")}), Code::kTooLarge);
  // Elements overflow int64.
  Frame h2 = HeaderWriter().prefix(3, 1).field("obs", 3, {big, big, big}, 8).finish();
  EXPECT_EQ(rejection({h2, Frame::from_string("x")}), Code::kMalformed);
  // Element count fits int64 but the byte count does not fit uint64.
  Frame h3 = HeaderWriter().prefix(3, 1).field("obs", 4, {std::int64_t{1} << 62}, 0).finish();
  EXPECT_EQ(rejection({h3, Frame::from_string("x")}), Code::kMalformed);
  // Negative dimensions.
  Frame h4 = HeaderWriter().prefix(3, 1).field("obs", 0, {-4}, 0).finish();
  EXPECT_EQ(rejection({h4, Frame::from_string("")}), Code::kMalformed);
  // A byte length that disagrees with the shape.
  Frame h5 = HeaderWriter().prefix(3, 1).field("obs", 3, {2}, std::uint64_t{1} << 40).finish();
  EXPECT_EQ(rejection({h5, Frame::from_string("")}), Code::kMalformed);
}

TEST(WireTest, RejectsTooManyFields) {
  Message m(MsgType::kInsert);
  for (int i = 0; i < 257; ++i) m.add("f" + std::to_string(i), patterned(DType::kUInt8, {1}));
  EXPECT_EQ(rejection(received(encode(m))), Code::kTooLarge);
  // A count of 2^32-1 with nothing behind it is refused before anything is reserved for it.
  EXPECT_EQ(rejection({HeaderWriter().prefix(3, 0xffffffffu).unfinished()}), Code::kTooLarge);
}

TEST(WireTest, RejectsTooManyDimensionsAndLongNames) {
  Frame ndim = HeaderWriter().prefix(3, 1).name("obs").u8(3).u32(0xffffffffu).unfinished();
  EXPECT_EQ(rejection({ndim}), Code::kTooLarge);
  Frame name = HeaderWriter().prefix(3, 1).u32(0xffffffffu).unfinished();
  EXPECT_EQ(rejection({name}), Code::kTooLarge);
  Message m(MsgType::kInsert);
  m.add(std::string(65, 'n'), patterned(DType::kUInt8, {1}));
  EXPECT_EQ(rejection(received(encode(m))), Code::kTooLarge);
}

TEST(WireTest, RejectsPayloadOverTheMessageLimit) {
  Limits limits;
  limits.max_message_bytes = 40;
  Message m(MsgType::kInsert);
  m.add("a", patterned(DType::kUInt8, {30}));
  m.add("b", patterned(DType::kUInt8, {30}));
  EXPECT_EQ(rejection(received(encode(m)), limits), Code::kTooLarge);
}

TEST(WireTest, RejectsHeaderFrameLargerThanAnyValidHeader) {
  std::string huge(max_header_bytes(Limits{}) + 1, '\0');
  EXPECT_EQ(rejection({Frame::from_string(huge)}), Code::kTooLarge);
}

TEST(WireTest, RejectsBadPayloadChecksum) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::string payload = bytes_of(frames[2]);
  payload[3] ^= 0x01;
  frames[2] = Frame::from_string(payload);
  EXPECT_EQ(rejection(frames), Code::kBadChecksum);
}

TEST(WireTest, PayloadChecksumsCanBeLeftOutOnlyWhereTheReceiverAllowsIt) {
  const Message m = small_message();
  std::vector<Frame> unchecked = encode(m, /*payload_checksums=*/false);
  Limits in_process;
  in_process.allow_unchecked_payload = true;
  // Refused by default, with the reason.
  try {
    decode(received(unchecked));
    FAIL() << "decode accepted a message without payload checksums";
  } catch (const WireError& e) {
    EXPECT_EQ(e.code(), Code::kBadChecksum);
    EXPECT_NE(std::string(e.what()).find("not in-process"), std::string::npos) << e.what();
  }
  // Accepted where allowed, the same message (type without the flag).
  Message back = decode(received(unchecked), in_process);
  EXPECT_EQ(back.type, m.type);
  EXPECT_EQ(back.request_id, m.request_id);
  ASSERT_EQ(back.fields.size(), m.fields.size());
  for (std::size_t i = 0; i < m.fields.size(); ++i) EXPECT_TRUE(same_bytes(back.fields[i].second, m.fields[i].second));
  // A message that has checksums is still checked where they are optional.
  std::vector<Frame> checked = received(encode(m));
  std::string payload = bytes_of(checked[2]);
  payload[3] ^= 0x01;
  checked[2] = Frame::from_string(payload);
  EXPECT_EQ(rejection(checked, in_process), Code::kBadChecksum);
  // The header checksum covers the flag: setting it on a checksummed message breaks the header.
  std::vector<Frame> flagged = received(encode(m));
  std::string h = bytes_of(flagged[0]);
  h[7] = static_cast<char>(h[7] | 0x80);  // the type's high byte (little-endian)
  flagged[0] = Frame::from_string(h);
  EXPECT_EQ(rejection(flagged, in_process), Code::kBadChecksum);
}

TEST(WireTest, RejectsBadHeaderChecksum) {
  std::vector<Frame> frames = received(encode(small_message()));
  std::string h = bytes_of(frames[0]);
  h[9] ^= 0x10;  // inside request_id, which no other check looks at
  frames[0] = Frame::from_string(h);
  EXPECT_EQ(rejection(frames), Code::kBadChecksum);
}

TEST(WireTest, RejectsInvalidDTypeTypeAndDuplicateNames) {
  Frame dtype = HeaderWriter().prefix(3, 1).field("obs", /*dtype=*/9, {1}, 1).finish();
  EXPECT_EQ(rejection({dtype, Frame::from_string("x")}), Code::kMalformed);
  Frame type = HeaderWriter().prefix(/*type=*/99, 0).finish();
  EXPECT_EQ(rejection({type}), Code::kMalformed);
  Frame dup = HeaderWriter().prefix(3, 2).field("a", 0, {}, 1).field("a", 0, {}, 1).finish();
  EXPECT_EQ(rejection({dup, Frame::from_string("x"), Frame::from_string("y")}), Code::kMalformed);
}

TEST(WireTest, RejectsBytesAfterTheHeaderChecksum) {
  std::vector<Frame> frames = received(encode(small_message()));
  frames[0] = Frame::from_string(bytes_of(frames[0]) + "!");
  EXPECT_EQ(rejection(frames), Code::kMalformed);
}

// Any exception other than WireError, or a crash, fails these tests.
void expect_rejected_or_consistent(std::vector<Frame> frames) {
  std::vector<std::size_t> sizes;
  for (const Frame& f : frames) sizes.push_back(f.size);
  try {
    Message m = decode(std::move(frames));
    ASSERT_EQ(m.fields.size() + 1, sizes.size());
    for (std::size_t i = 0; i < m.fields.size(); ++i) EXPECT_EQ(m.fields[i].second.nbytes(), sizes[i + 1]);
  } catch (const WireError&) {
  }
}

TEST(WireTest, RejectsRandomGarbage) {
  std::mt19937 rng(/*seed=*/1234);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<Frame> frames(1 + rng() % 4);
    for (Frame& f : frames) {
      std::string b(rng() % 300, '\0');
      for (char& c : b) c = static_cast<char>(rng());
      f = Frame::from_string(b);
    }
    if (trial % 2 == 1 && frames[0].size >= 6) {
      // Get past the magic and version checks to exercise the rest of the parser.
      std::string h = bytes_of(frames[0]);
      std::memcpy(&h[0], &kMagic, 4);
      std::memcpy(&h[4], &kVersion, 2);
      frames[0] = Frame::from_string(h);
    }
    EXPECT_THROW(decode(frames), WireError) << "trial " << trial;
  }
}

TEST(WireTest, RejectsRandomlyCorruptedMessages) {
  std::mt19937 rng(/*seed=*/99);
  const std::vector<Frame> good = received(encode(small_message()));
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<Frame> frames = good;
    const std::size_t which = rng() % frames.size();
    std::string b = bytes_of(frames[which]);
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    frames[which] = Frame::from_string(b);
    EXPECT_THROW(decode(frames), WireError) << "trial " << trial;
  }
}

TEST(WireTest, SurvivesRandomHeadersWithValidChecksums) {
  std::mt19937 rng(/*seed=*/7);
  for (int trial = 0; trial < 3000; ++trial) {
    const std::uint32_t count = rng() % 4;
    HeaderWriter w;
    w.prefix(static_cast<std::uint16_t>(rng() % 10), count);
    for (std::uint32_t i = 0; i < count; ++i) {
      Shape shape(rng() % 4);
      for (auto& d : shape) d = (rng() % 8 == 0) ? static_cast<std::int64_t>(std::uint64_t{rng()} << (rng() % 40)) : rng() % 5;
      w.field("f" + std::to_string(rng() % 3), static_cast<std::uint8_t>(rng() % 8), shape,
              rng() % 8 == 0 ? rng() : rng() % 64, static_cast<std::uint32_t>(rng() % 2 ? 0 : rng()));
    }
    std::vector<Frame> frames{w.finish()};
    const std::size_t payloads = rng() % 5;
    for (std::size_t i = 0; i < payloads; ++i) frames.push_back(Frame::from_string(std::string(rng() % 64, '\0')));
    expect_rejected_or_consistent(std::move(frames));
  }
}

}  // namespace
}  // namespace mnemo::wire
