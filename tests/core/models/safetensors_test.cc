// Tests of the safetensors writer and reader: bit-exact round trips of every supported dtype,
// the byte layout other implementations expect, files written by the reference writer, and the
// rejection of malformed files.
#include "core/models/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace mnemo {
namespace {
namespace fs = std::filesystem;

class SafeTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mnemo-safetensors-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_raw(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string read_raw(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // A file made of a header and data, the way another writer would lay it out.
  static std::string file_of(const std::string& header, const std::string& data) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    return s + header + data;
  }
  void expect_rejected(const std::string& bytes, const std::string& message) {
    const fs::path p = write_raw("bad.safetensors", bytes);
    try {
      load_safetensors(p);
      ADD_FAILURE() << "accepted a file that should fail with: " << message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), static_cast<std::size_t>(ca.nbytes())) == 0;
}

TEST_F(SafeTensorsTest, RoundTripsEveryDtypeAndShapeBitExactly) {
  torch::manual_seed(0);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f32", torch::randn({3, 5})},
      {"f64", torch::randn({2, 2}, torch::kFloat64)},
      {"f16", torch::randn({7}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"i64", torch::arange(-5, 6, torch::kInt64)},
      {"i32", torch::tensor({-2147483647 - 1, 0, 2147483647}, torch::kInt32)},
      {"i16", torch::tensor({-32768, 1, 32767}, torch::kInt16)},
      {"i8", torch::tensor({-128, 0, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 128, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 4})},
      {"transposed", torch::randn({4, 3}).t()},  // not contiguous: written in logical order
      {"special", torch::tensor({std::numeric_limits<float>::quiet_NaN(), -0.0f,
                                 std::numeric_limits<float>::infinity(), 1e-45f})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "q\"uote\nnew line"}};
  const fs::path p = dir_ / "all.safetensors";
  save_safetensors(p, tensors, metadata);
  const SafeTensors got = load_safetensors(p);
  EXPECT_EQ(got.metadata, metadata);
  ASSERT_EQ(got.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) EXPECT_TRUE(same_bytes(got.at(name), t)) << name;
  EXPECT_EQ(got.at("scalar").dim(), 0);
}

TEST_F(SafeTensorsTest, WritesTheReferenceLayout) {
  const fs::path p = dir_ / "layout.safetensors";
  save_safetensors(p, {{"b", torch::tensor({1, 2}, torch::kUInt8)}, {"a", torch::tensor({1.0f, 2.0f})}},
                   {{"k", "v"}});
  const std::string bytes = read_raw(p);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  // Header padded with spaces so the data starts 8-byte aligned; wider dtypes first.
  const std::string header = R"({"__metadata__":{"k":"v"},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})";
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 10);
  EXPECT_EQ(bytes.substr(8, header.size()), header);
  EXPECT_EQ(bytes.substr(8 + header.size(), n - header.size()), std::string(n - header.size(), ' '));
  const float ones[2] = {1.0f, 2.0f};
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, ones, 8), 0);  // little-endian float32
  EXPECT_EQ(bytes.substr(8 + n + 8), std::string("\x01\x02", 2));
}

TEST_F(SafeTensorsTest, ReadsFilesLaidOutByOtherWriters) {
  // Metadata last, tensors listed out of data order, extra whitespace, escapes: all valid.
  const std::string header =
      " { \"w\" : {\"shape\": [2], \"dtype\": \"I32\", \"data_offsets\": [4, 12]},\n"
      "   \"v\\u00e9\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]},\n"
      "   \"__metadata__\": {\"format\": \"pt\"} }";
  std::string data(12, '\0');
  const float f = 1.25f;
  const std::int32_t ints[2] = {-7, 9};
  std::memcpy(&data[0], &f, 4);
  std::memcpy(&data[4], ints, 8);
  // The reference reader requires the header to start with a brace; so does this one.
  expect_rejected(file_of(header, data), "does not start with '{'");
  const SafeTensors got = load_safetensors(write_raw("other.safetensors", file_of(header.substr(1), data)));
  EXPECT_EQ(got.metadata.at("format"), "pt");
  EXPECT_EQ(got.at("v\xC3\xA9").item<float>(), 1.25f);
  EXPECT_TRUE(torch::equal(got.at("w"), torch::tensor({-7, 9}, torch::kInt32)));
}

TEST_F(SafeTensorsTest, RejectsMalformedFilesWithoutCrashing) {
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data8(8, '\0');
  expect_rejected("\x01\x02", "too short");
  expect_rejected(file_of("{" + ok_entry + "}", data8).substr(0, 20), "runs past the end");
  expect_rejected(std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8) + "{}", "exceeds the 100 MB limit");
  expect_rejected(file_of("{\"t\":", ""), "malformed JSON");
  expect_rejected(file_of("[]", ""), "does not start with");
  expect_rejected(file_of("{" + ok_entry + "}", std::string(7, '\0')), "cover 8 bytes of data but the file holds 7");
  expect_rejected(file_of("{" + ok_entry + "}", std::string(9, '\0')), "cover 8 bytes of data but the file holds 9");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8), "need 12");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data8), "negative size");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data8 + "1234"),
                  "starts at data offset 4, expected 0");
  expect_rejected(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          data8),
                  "without gaps or overlaps");
  expect_rejected(file_of(R"({"t":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", data8),
                  "\"Q7\" is not supported");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8), "non-negative integer");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data8),
                  "overflows 64 bits");
  expect_rejected(file_of(R"({"t":{"dtype":"F32","shape":[2]}})", data8), "dtype, shape and data_offsets");
  expect_rejected(file_of("{" + ok_entry + "," + ok_entry + "}", data8), "duplicate key");
  expect_rejected(file_of(R"({"__metadata__":{"n":1}})", ""), "expected a string");
  expect_rejected(file_of(R"({"t":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "\x02"), "other than 0 and 1");
}

TEST_F(SafeTensorsTest, RejectsBadNamesAndLeavesNoPartialFile) {
  const fs::path p = dir_ / "names.safetensors";
  EXPECT_THROW(save_safetensors(p, {{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}), Error);
  EXPECT_THROW(save_safetensors(p, {{"", torch::zeros({1})}}), Error);
  EXPECT_THROW(save_safetensors(p, {{"__metadata__", torch::zeros({1})}}), Error);
  EXPECT_THROW(save_safetensors(dir_ / "no" / "such" / "dir.safetensors", {{"a", torch::zeros({1})}}), Error);
  EXPECT_FALSE(fs::exists(p));
  for (const auto& entry : fs::directory_iterator(dir_)) ADD_FAILURE() << "left behind: " << entry.path();
}

TEST_F(SafeTensorsTest, MissingTensorNamesTheNearestOne) {
  const fs::path p = dir_ / "near.safetensors";
  save_safetensors(p, {{"actor.0.weight", torch::zeros({2})}});
  const SafeTensors got = load_safetensors(p);
  try {
    got.at("actor.0.weights");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'actor.0.weight'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnemo
