// The safetensors writer and reader. See safetensors.h for the layout and the reader's checks.
#include "core/models/safetensors.h"

#include <algorithm>
#include <fstream>
#include <limits>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/json.h"

namespace mnemo {
namespace fs = std::filesystem;

// The format is little-endian; on such hosts tensor memory is already in file order.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace {

// The reference implementation's limit: larger headers are refused before being read.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DTypeName kDTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I64", at::kLong},
    {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},   {"U8", at::kByte},       {"BOOL", at::kBool},
};

at::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.type;
  std::string valid;
  for (const auto& d : kDTypes) valid += std::string(valid.empty() ? "" : ", ") + d.name;
  throw Error(where + ": dtype \"" + name + "\" is not supported (supported: " + valid + ")");
}

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& where) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) throw Error(where + ": size overflows 64 bits");
  return a * b;
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

}  // namespace

std::string safetensors_dtype(at::ScalarType t) {
  for (const auto& d : kDTypes)
    if (t == d.type) return d.name;
  throw Error(std::string("safetensors: torch dtype ") + c10::toString(t) + " has no safetensors name here");
}

const torch::Tensor& SafeTensors::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& kv : tensors) names.push_back(kv.first);
  const std::string near = config::nearest(name, names);
  throw Error("safetensors: no tensor named '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
}

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  struct Entry {
    const std::string* name;
    torch::Tensor data;  // CPU, contiguous
    std::string dtype;
  };
  std::vector<Entry> entries;
  std::map<std::string, int> seen;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == kMetadataKey)
      throw Error("safetensors: " + path.string() + ": invalid tensor name '" + name + "'");
    if (seen[name]++ > 0) throw Error("safetensors: " + path.string() + ": tensor name '" + name + "' is used twice");
    MNEMO_CHECK(t.defined(), "safetensors: tensor '", name, "' is undefined");
    entries.push_back({&name, t.detach().to(torch::kCPU).contiguous(), safetensors_dtype(t.scalar_type())});
  }
  // Widest elements first: with the data starting 8-byte aligned, every tensor then starts at a
  // multiple of its element size, which zero-copy (mmap) readers need. Stable, so the caller's
  // order (module order, which people read) survives within each width.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.data.element_size() > b.data.element_size(); });

  std::string header = "{";
  if (!metadata.empty()) {
    header += json::quote(kMetadataKey) + ":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json::quote(k) + ":" + json::quote(v);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const auto& e : entries) {
    if (header.size() > 1) header += ",";
    header += json::quote(*e.name) + ":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
    for (std::int64_t d = 0; d < e.data.dim(); ++d) header += (d ? "," : "") + std::to_string(e.data.size(d));
    const std::uint64_t nbytes = static_cast<std::uint64_t>(e.data.nbytes());
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
  }
  header += "}";
  // Trailing spaces are JSON whitespace; they align the data to 8 bytes, as the reference does.
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderBytes)
    throw Error("safetensors: " + path.string() + ": header of " + std::to_string(header.size()) +
                " bytes is too large");

  AtomicFile out(path);
  const std::string len = le64(header.size());
  out.write(len.data(), len.size());
  out.write(header.data(), header.size());
  for (const auto& e : entries) out.write(e.data.data_ptr(), static_cast<std::size_t>(e.data.nbytes()));
  out.commit();
}

SafeTensors load_safetensors(const fs::path& path) {
  const std::string where = "safetensors: " + path.string();
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw Error(where + ": cannot read: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(where + ": cannot open");
  if (file_size < 8) throw Error(where + ": " + std::to_string(file_size) + " bytes is too short for a header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes) throw Error(where + ": header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > file_size - 8)
    throw Error(where + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(file_size) + " bytes)");
  std::string header(static_cast<std::size_t>(n), '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  if (!in) throw Error(where + ": cannot read the header");
  if (header.empty() || header[0] != '{') throw Error(where + ": the header does not start with '{'");
  const json::Value root = json::parse(header, where + " header");
  if (!root.is_object()) throw Error(where + ": the header is not a JSON object");

  struct Entry {
    std::string name;
    at::ScalarType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin, end;
  };
  SafeTensors out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : root.members) {
    const std::string what = where + ": '" + name + "'";
    if (name == kMetadataKey) {
      if (!v.is_object()) throw Error(what + " must be an object of strings");
      for (const auto& [k, s] : v.members) out.metadata[k] = s.as_string(what + " key '" + k + "'");
      continue;
    }
    if (!v.is_object()) throw Error(what + ": expected {dtype, shape, data_offsets}");
    const json::Value* dtype = v.find("dtype");
    const json::Value* shape = v.find("shape");
    const json::Value* offsets = v.find("data_offsets");
    if (dtype == nullptr || shape == nullptr || offsets == nullptr)
      throw Error(what + ": expected the keys dtype, shape and data_offsets");
    Entry e;
    e.name = name;
    e.dtype = dtype_from_name(dtype->as_string(what + " dtype"), what);
    if (!shape->is_array()) throw Error(what + ": shape must be an array");
    std::uint64_t numel = 1;
    for (const auto& d : shape->items) {
      const std::uint64_t dim = d.as_uint64(what + " shape");
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw Error(what + ": dimension " + d.text + " is too large");
      numel = checked_mul(numel, dim, what);
      e.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const std::uint64_t nbytes = checked_mul(numel, c10::elementSize(e.dtype), what);
    if (!offsets->is_array() || offsets->items.size() != 2) throw Error(what + ": data_offsets must be [begin, end]");
    e.begin = offsets->items[0].as_uint64(what + " data_offsets");
    e.end = offsets->items[1].as_uint64(what + " data_offsets");
    if (e.end < e.begin || e.end - e.begin != nbytes)
      throw Error(what + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] hold " +
                  (e.end < e.begin ? std::string("a negative size") : std::to_string(e.end - e.begin) + " bytes") +
                  " but dtype and shape need " + std::to_string(nbytes));
    entries.push_back(std::move(e));
  }
  // The tensors must tile the data exactly: no gaps that could hide bytes, no overlaps, nothing
  // past the end, no trailing bytes.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t data_size = file_size - 8 - n;
  std::uint64_t expected = 0;
  for (const auto& e : entries) {
    if (e.begin != expected)
      throw Error(where + ": '" + e.name + "' starts at data offset " + std::to_string(e.begin) + ", expected " +
                  std::to_string(expected) + " (tensors must tile the data without gaps or overlaps)");
    expected = e.end;
  }
  if (expected != data_size)
    throw Error(where + ": the tensors cover " + std::to_string(expected) + " bytes of data but the file holds " +
                std::to_string(data_size));

  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) throw Error(where + ": cannot read the data of '" + e.name + "'");
    }
    // A bool byte other than 0 or 1 is undefined behaviour for torch's kernels.
    if (e.dtype == at::kBool && t.view(torch::kUInt8).gt(1).any().item<bool>())
      throw Error(where + ": '" + e.name + "' holds BOOL bytes other than 0 and 1");
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace mnemo
