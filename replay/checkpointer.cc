// Table snapshot files and the directory checkpointer. See checkpointer.h.
#include "replay/checkpointer.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/log.h"
#include "core/runlog/checkpoint.h"
#include "replay/errors.h"

namespace mnemo::replay {
namespace fs = std::filesystem;
namespace {

constexpr std::uint32_t kMagic = 0x54524e4du;  // "MNRT"
constexpr std::uint32_t kFileVersion = 1;
constexpr std::uint32_t kMaxName = 4096;
constexpr std::uint32_t kMaxNdim = 16;
constexpr std::uint32_t kMaxFields = 1024;

class Out {
 public:
  explicit Out(const fs::path& path) : path_(path), os_(path, std::ios::binary | std::ios::trunc) {
    if (!os_) throw Error("cannot write " + path.string());
    os_.rdbuf()->pubsetbuf(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  }
  template <typename T>
  void pod(T v) { bytes(&v, sizeof(v)); }
  void str(const std::string& s) {
    pod(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void bytes(const void* p, std::size_t n) {
    if (n > 0) os_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  }
  void finish() {
    os_.flush();
    if (!os_) throw Error("cannot write " + path_.string() + " (disk full?)");
  }

 private:
  fs::path path_;
  std::vector<char> buf_ = std::vector<char>(1 << 20);
  std::ofstream os_;
};

class In {
 public:
  explicit In(const fs::path& path) : path_(path), is_(path, std::ios::binary) {
    if (!is_) throw ReplayError(ErrorCode::kDataLoss, "cannot read " + path.string());
    std::error_code ec;
    left_ = fs::file_size(path, ec);
    if (ec) throw ReplayError(ErrorCode::kDataLoss, "cannot stat " + path.string());
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw ReplayError(ErrorCode::kDataLoss, "replay checkpoint " + path_.string() + ": " + why);
  }
  void need(std::uint64_t n, const char* what) const {
    if (n > left_) fail(std::string("truncated at ") + what);
  }
  template <typename T>
  T pod(const char* what) {
    T v{};
    bytes(&v, sizeof(v), what);
    return v;
  }
  void bytes(void* p, std::uint64_t n, const char* what) {
    need(n, what);
    if (n > 0) is_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (!is_) fail(std::string("read error at ") + what);
    left_ -= n;
  }
  std::string str(const char* what, std::uint32_t max = kMaxName) {
    const auto n = pod<std::uint32_t>(what);
    if (n > max) fail(std::string(what) + " of " + std::to_string(n) + " bytes is implausible");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  std::uint64_t left() const { return left_; }

 private:
  fs::path path_;
  std::ifstream is_;
  std::uint64_t left_ = 0;
};

void write_shape(Out& o, const Shape& s) {
  o.pod(static_cast<std::uint32_t>(s.size()));
  for (auto d : s) o.pod(d);
}

Shape read_shape(In& in) {
  const auto nd = in.pod<std::uint32_t>("ndim");
  if (nd > kMaxNdim) in.fail("ndim " + std::to_string(nd) + " is implausible");
  Shape s(nd);
  for (auto& d : s) d = in.pod<std::int64_t>("dims");
  try {
    shape_numel(s);
  } catch (const Error&) {
    in.fail("invalid shape " + shape_str(s));
  }
  return s;
}

DType read_dtype(In& in) {
  const auto d = in.pod<std::uint8_t>("dtype");
  if (!dtype_valid(d)) in.fail("invalid dtype " + std::to_string(d));
  return static_cast<DType>(d);
}

std::string table_file(std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "table-%03zu.bin", i);
  return name;
}

}  // namespace

void write_table_snapshot(const TableSnapshot& snap, const fs::path& file) {
  Out o(file);
  o.pod(kMagic);
  o.pod(kFileVersion);
  o.str(snap.name);
  o.pod(static_cast<std::uint8_t>(snap.signature ? 1 : 0));
  if (snap.signature) {
    o.pod(static_cast<std::uint32_t>(snap.signature->fields.size()));
    for (const auto& f : snap.signature->fields) {
      o.str(f.name);
      o.pod(static_cast<std::uint8_t>(f.dtype));
      write_shape(o, f.shape);
    }
  }
  o.pod(static_cast<std::uint64_t>(snap.next_key));
  o.pod(snap.inserts);
  o.pod(snap.samples);
  o.pod(snap.evicted);
  o.pod(snap.removed_sampled);
  o.pod(snap.limiter.inserts);
  o.pod(snap.limiter.samples);
  o.pod(static_cast<std::uint8_t>(snap.limiter.enabled ? 1 : 0));
  o.str(snap.rng);
  o.pod(static_cast<std::uint64_t>(snap.items.size()));
  for (const auto& e : snap.items) {
    o.pod(static_cast<std::uint64_t>(e.key));
    o.pod(e.priority);
    o.pod(e.times_sampled);
    o.pod(static_cast<std::uint32_t>(e.fields.size()));
    for (const ItemField& f : e.fields) {
      o.str(f.name);
      o.pod(static_cast<std::uint8_t>(f.dtype));
      write_shape(o, f.shape);
      o.pod(static_cast<std::uint8_t>(f.codec));
      o.pod(static_cast<std::uint64_t>(f.bytes.nbytes()));
      o.bytes(f.bytes.raw(), f.bytes.nbytes());
    }
  }
  o.pod(static_cast<std::uint64_t>(snap.remover_order.size()));
  for (Key k : snap.remover_order) o.pod(static_cast<std::uint64_t>(k));
  o.finish();
}

TableSnapshot read_table_snapshot(const fs::path& file) {
  In in(file);
  if (in.pod<std::uint32_t>("magic") != kMagic) in.fail("not a replay table file (bad magic)");
  const auto version = in.pod<std::uint32_t>("version");
  if (version != kFileVersion) in.fail("unsupported version " + std::to_string(version));
  TableSnapshot snap;
  snap.name = in.str("table name");
  if (in.pod<std::uint8_t>("signature flag")) {
    const auto n = in.pod<std::uint32_t>("signature size");
    if (n > kMaxFields) in.fail("signature of " + std::to_string(n) + " fields is implausible");
    Spec spec;
    for (std::uint32_t i = 0; i < n; ++i) {
      FieldSpec f;
      f.name = in.str("field name");
      f.dtype = read_dtype(in);
      f.shape = read_shape(in);
      spec.fields.push_back(std::move(f));
    }
    snap.signature = std::move(spec);
  }
  snap.next_key = in.pod<std::uint64_t>("next key");
  snap.inserts = in.pod<std::int64_t>("inserts");
  snap.samples = in.pod<std::int64_t>("samples");
  snap.evicted = in.pod<std::int64_t>("evicted");
  snap.removed_sampled = in.pod<std::int64_t>("removed");
  snap.limiter.inserts = in.pod<std::int64_t>("limiter inserts");
  snap.limiter.samples = in.pod<std::int64_t>("limiter samples");
  snap.limiter.enabled = in.pod<std::uint8_t>("limiter flag") != 0;
  snap.rng = in.str("rng state", /*max=*/1 << 16);  // mt19937_64 as text is about 6 KiB
  const auto count = in.pod<std::uint64_t>("item count");
  // Each item takes at least 28 bytes, which bounds what a corrupt count can make us reserve.
  if (count > in.left() / 28) in.fail("item count " + std::to_string(count) + " exceeds the file");
  snap.items.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    TableSnapshot::Entry e;
    e.key = in.pod<std::uint64_t>("key");
    e.priority = in.pod<double>("priority");
    e.times_sampled = in.pod<std::int64_t>("times sampled");
    const auto nf = in.pod<std::uint32_t>("field count");
    if (nf > kMaxFields) in.fail("item with " + std::to_string(nf) + " fields is implausible");
    for (std::uint32_t j = 0; j < nf; ++j) {
      ItemField f;
      f.name = in.str("field name");
      f.dtype = read_dtype(in);
      f.shape = read_shape(in);
      const auto codec = in.pod<std::uint8_t>("codec");
      if (codec > static_cast<std::uint8_t>(Codec::kZstd)) in.fail("invalid codec " + std::to_string(codec));
      f.codec = static_cast<Codec>(codec);
      const auto nbytes = in.pod<std::uint64_t>("field length");
      in.need(nbytes, "field bytes");
      if (f.codec == Codec::kNone) {
        if (static_cast<std::uint64_t>(shape_numel(f.shape)) * dtype_size(f.dtype) != nbytes)
          in.fail("field '" + f.name + "' length does not match its shape");
        f.bytes = Array::zeros(f.dtype, f.shape);
      } else {
        f.bytes = Array::zeros(DType::kUInt8, {static_cast<std::int64_t>(nbytes)});
      }
      in.bytes(f.bytes.raw(), nbytes, "field bytes");
      e.fields.push_back(std::move(f));
    }
    snap.items.push_back(std::move(e));
  }
  const auto nrem = in.pod<std::uint64_t>("remover count");
  if (nrem > in.left() / 8) in.fail("remover order exceeds the file");
  snap.remover_order.resize(static_cast<std::size_t>(nrem));
  for (auto& k : snap.remover_order) k = in.pod<std::uint64_t>("remover key");
  if (in.left() != 0) in.fail(std::to_string(in.left()) + " unexpected bytes at the end");
  return snap;
}

void save_tables(const std::vector<TableSnapshot>& tables, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create " + dir.string() + ": " + ec.message());
  for (std::size_t i = 0; i < tables.size(); ++i) write_table_snapshot(tables[i], dir / table_file(i));
}

std::vector<TableSnapshot> load_tables(const fs::path& dir) {
  std::vector<TableSnapshot> out;
  for (std::size_t i = 0;; ++i) {
    const fs::path p = dir / table_file(i);
    if (!fs::exists(p)) break;
    out.push_back(read_table_snapshot(p));
  }
  return out;
}

DirectoryCheckpointer::DirectoryCheckpointer(fs::path dir, int keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  CheckpointManager manager(dir_, keep_last_);
  // Step numbers only order the checkpoints; continue after the newest directory, verified or not.
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        name.size() < 18)
      next_step_ = std::max<std::int64_t>(next_step_, std::stoll(name) + 1);
  }
}

std::string DirectoryCheckpointer::save(const std::vector<TableSnapshot>& tables) {
  CheckpointManager manager(dir_, keep_last_);
  PendingCheckpoint pending = manager.begin(next_step_++);
  save_tables(tables, pending.dir());
  return pending.commit().dir.string();
}

std::optional<std::vector<TableSnapshot>> DirectoryCheckpointer::load_latest() {
  CheckpointManager manager(dir_, keep_last_);
  auto latest = manager.latest();
  if (!latest) return std::nullopt;
  MNEMO_INFO("replay: restoring tables from ", latest->dir.string());
  return load_tables(latest->dir);
}

}  // namespace mnemo::replay

namespace mnemo::replay {

namespace {

// `total` divided among `parts`: part k's share, the remainder going to the first parts.
std::int64_t share(std::int64_t total, int part, int parts) {
  return total / parts + (part < total % parts ? 1 : 0);
}

}  // namespace

TableSnapshot repartition(const std::vector<TableSnapshot>& saved, int part, int parts) {
  MNEMO_CHECK(!saved.empty(), "repartition: no snapshots");
  MNEMO_CHECK(part >= 0 && part < parts, "repartition: part ", part, " of ", parts);
  const std::size_t S = saved.size();
  TableSnapshot out;
  out.name = saved[0].name;
  for (const auto& s : saved) {
    if (s.name != out.name) throw ReplayError(ErrorCode::kDataLoss, "repartition: tables '" + out.name + "' and '" + s.name + "' mixed");
    if (!out.signature) out.signature = s.signature;
    if (s.signature && out.signature && !(*s.signature == *out.signature))
      throw ReplayError(ErrorCode::kSignatureMismatch, "replay table '" + out.name + "': the saved shards' signatures " +
                                                           out.signature->str() + " and " + s.signature->str() + " differ");
  }
  // Interleave the shards' items; position p goes to part p % parts and gets the next fresh key.
  std::vector<std::unordered_map<Key, Key>> fresh(S);  // per old shard: old key -> new key
  std::size_t longest = 0;
  for (const auto& s : saved) longest = std::max(longest, s.items.size());
  std::int64_t position = 0;
  for (std::size_t i = 0; i < longest; ++i)
    for (std::size_t j = 0; j < S; ++j) {
      if (i >= saved[j].items.size()) continue;
      if (position++ % parts != part) continue;
      TableSnapshot::Entry e = saved[j].items[i];
      fresh[j][e.key] = out.next_key;
      e.key = out.next_key++;
      out.items.push_back(std::move(e));
    }
  // The removers' orders, interleaved the same way, restricted to the items of this part.
  std::size_t longest_order = 0;
  for (const auto& s : saved) longest_order = std::max(longest_order, s.remover_order.size());
  for (std::size_t i = 0; i < longest_order; ++i)
    for (std::size_t j = 0; j < S; ++j) {
      if (i >= saved[j].remover_order.size()) continue;
      const auto it = fresh[j].find(saved[j].remover_order[i]);
      if (it != fresh[j].end()) out.remover_order.push_back(it->second);
    }
  std::int64_t inserts = 0, samples = 0, evicted = 0, removed_sampled = 0, limiter_inserts = 0, limiter_samples = 0;
  bool enabled = true;
  for (const auto& s : saved) {
    inserts += s.inserts;
    samples += s.samples;
    evicted += s.evicted;
    removed_sampled += s.removed_sampled;
    limiter_inserts += s.limiter.inserts;
    limiter_samples += s.limiter.samples;
    enabled = enabled && s.limiter.enabled;
  }
  out.inserts = share(inserts, part, parts);
  out.samples = share(samples, part, parts);
  out.evicted = share(evicted, part, parts);
  out.removed_sampled = share(removed_sampled, part, parts);
  out.limiter.inserts = share(limiter_inserts, part, parts);
  out.limiter.samples = share(limiter_samples, part, parts);
  out.limiter.enabled = enabled;
  if (static_cast<std::size_t>(part) < S) out.rng = saved[part].rng;
  return out;
}

}  // namespace mnemo::replay
