// Checkpoint directories (manifest, fsync, atomic rename, pruning) and the StateFile encoding.
//
// The order of operations in commit() is what makes a checkpoint crash-safe: file contents and the
// manifest reach the disk (fsync) before the rename publishes the directory, and the parent
// directory is fsynced after it so the rename itself survives a power cut. See checkpoint.h.
#include "core/runlog/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include <cereal/archives/binary.hpp>

#include "core/crc32c.h"
#include "core/log.h"

namespace mnemo {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestVersionLine = "mnemo-checkpoint-manifest v1";
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kOldPrefix = ".old-";
// A manifest lists a handful of files; anything this large is not one of ours.
constexpr std::uintmax_t kMaxManifestBytes = 16u << 20;
constexpr std::size_t kIoChunk = 1u << 20;

std::string errno_text(int err) { return std::strerror(err); }

// Closes on scope exit so that every early throw releases its descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Fd open_or_throw(const fs::path& path, int flags, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + errno_text(errno));
  return Fd(fd);
}

void fsync_or_throw(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) throw Error("cannot fsync " + path.string() + ": " + errno_text(errno));
}

// Size and CRC32C of a file, read in chunks so multi-gigabyte model files do not sit in memory.
// With `sync`, the same descriptor is fsynced, which saves reopening every file in commit().
void checksum_file(const fs::path& path, bool sync, std::uint64_t* size, std::uint32_t* crc) {
  Fd fd = open_or_throw(path, O_RDONLY);
  std::vector<char> buf(kIoChunk);
  std::uint64_t total = 0;
  std::uint32_t c = 0;
  for (;;) {
    ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + path.string() + ": " + errno_text(errno));
    }
    if (r == 0) break;
    c = crc32c(buf.data(), static_cast<std::size_t>(r), c);
    total += static_cast<std::uint64_t>(r);
  }
  if (sync) fsync_or_throw(fd.get(), path);
  *size = total;
  *crc = c;
}

std::string hex8(std::uint32_t v) {
  char s[9];
  std::snprintf(s, sizeof(s), "%08x", v);
  return s;
}

bool parse_hex8(const std::string& s, std::uint32_t* out) {
  if (s.size() != 8) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

template <typename T>
bool parse_dec(const std::string& s, T* out) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Step directories are exactly the all-digit names; `.tmp-*`, `.old-*` and strangers are not.
std::optional<std::int64_t> parse_step_name(const std::string& name) {
  std::int64_t step = 0;
  if (!parse_dec(name, &step)) return std::nullopt;
  return step;
}

std::string step_name(std::int64_t step) {
  char s[32];
  std::snprintf(s, sizeof(s), "%012lld", static_cast<long long>(step));
  return s;
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<std::uint64_t>(
                                       std::chrono::steady_clock::now().time_since_epoch().count()));
  char s[17];
  std::snprintf(s, sizeof(s), "%016llx", static_cast<unsigned long long>(rng()));
  return s;
}

// A manifest name is a relative path of plain components. Whitespace would break the line format,
// and `..` or an absolute path in a corrupted manifest must not make verify() read outside the
// checkpoint.
bool valid_entry_name(const std::string& name, std::string* why) {
  if (name.empty()) {
    *why = "empty file name";
    return false;
  }
  for (unsigned char ch : name) {
    if (ch <= 0x20 || ch == 0x7f) {
      *why = "file name '" + name + "' contains whitespace or a control character";
      return false;
    }
  }
  if (name.front() == '/' || name.back() == '/') {
    *why = "file name '" + name + "' is not a relative path";
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      *why = "file name '" + name + "' has an empty, '.' or '..' component";
      return false;
    }
    start = end + 1;
  }
  return true;
}

struct ManifestEntry {
  std::string name;
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
};

struct Manifest {
  std::int64_t step = 0;
  std::vector<ManifestEntry> files;
};

std::string render_manifest(const Manifest& m) {
  std::ostringstream os;
  os << kManifestVersionLine << "\n";
  os << "step " << m.step << "\n";
  for (const auto& f : m.files) os << f.name << " " << f.size << " " << hex8(f.crc) << "\n";
  std::string body = os.str();
  return body + "crc32c " + hex8(crc32c(body.data(), body.size())) + "\n";
}

bool parse_manifest(const std::string& text, Manifest* out, std::string* why) {
  if (text.empty() || text.back() != '\n') {
    *why = "manifest is empty or truncated (no final newline)";
    return false;
  }
  // The CRC line is the last line; everything before it is what it covers.
  std::size_t last_start = text.rfind('\n', text.size() - 2);
  last_start = (last_start == std::string::npos) ? 0 : last_start + 1;
  std::string crc_line = text.substr(last_start, text.size() - 1 - last_start);
  std::uint32_t want = 0;
  if (crc_line.rfind("crc32c ", 0) != 0 || !parse_hex8(crc_line.substr(7), &want)) {
    *why = "manifest has no final crc32c line (truncated?)";
    return false;
  }
  std::uint32_t got = crc32c(text.data(), last_start);
  if (got != want) {
    *why = "manifest crc32c mismatch (stored " + hex8(want) + ", computed " + hex8(got) + ")";
    return false;
  }
  std::istringstream is(text.substr(0, last_start));
  std::string line;
  if (!std::getline(is, line) || line != kManifestVersionLine) {
    *why = "unknown manifest version line '" + line + "'";
    return false;
  }
  if (!std::getline(is, line) || line.rfind("step ", 0) != 0 || !parse_dec(line.substr(5), &out->step)) {
    *why = "manifest step line is malformed: '" + line + "'";
    return false;
  }
  std::set<std::string> seen;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    std::string name, size_s, crc_s, extra;
    ManifestEntry e;
    if (!(ls >> name >> size_s >> crc_s) || (ls >> extra) || !parse_dec(size_s, &e.size) ||
        !parse_hex8(crc_s, &e.crc)) {
      *why = "malformed manifest line '" + line + "'";
      return false;
    }
    if (!valid_entry_name(name, why)) return false;
    if (!seen.insert(name).second) {
      *why = "manifest lists '" + name + "' twice";
      return false;
    }
    e.name = name;
    out->files.push_back(std::move(e));
  }
  return true;
}

// With `check_crc` false only sizes are compared: pruning uses that so that a commit does not
// reread every kept checkpoint (gigabytes for large models) just to decide what to delete.
bool verify_dir(const fs::path& dir, bool check_crc, Manifest* manifest, std::string* why) {
  std::error_code ec;
  fs::path mpath = dir / CheckpointManager::kManifestName;
  auto st = fs::symlink_status(mpath, ec);
  if (ec || !fs::is_regular_file(st)) {
    *why = "no manifest (incomplete checkpoint)";
    return false;
  }
  auto msize = fs::file_size(mpath, ec);
  if (ec || msize > kMaxManifestBytes) {
    *why = ec ? "cannot stat manifest: " + ec.message() : "manifest is implausibly large";
    return false;
  }
  std::string text;
  try {
    text = read_file(mpath);
  } catch (const Error& e) {
    *why = e.what();
    return false;
  }
  if (!parse_manifest(text, manifest, why)) return false;
  for (const auto& f : manifest->files) {
    fs::path p = dir / f.name;
    auto fst = fs::symlink_status(p, ec);
    if (ec || !fs::is_regular_file(fst)) {
      *why = "file '" + f.name + "' listed in the manifest is missing";
      return false;
    }
    std::uint64_t size = fs::file_size(p, ec);
    if (ec || size != f.size) {
      *why = "file '" + f.name + "' has size " + std::to_string(size) + ", manifest says " +
             std::to_string(f.size);
      return false;
    }
    if (!check_crc) continue;
    std::uint32_t crc = 0;
    try {
      checksum_file(p, /*sync=*/false, &size, &crc);
    } catch (const Error& e) {
      *why = e.what();
      return false;
    }
    if (size != f.size || crc != f.crc) {
      *why = "file '" + f.name + "' crc32c " + hex8(crc) + " does not match manifest " + hex8(f.crc);
      return false;
    }
  }
  return true;
}

struct StepDir {
  std::int64_t step;
  fs::path dir;
};

// Step directories sorted by step, newest first.
std::vector<StepDir> step_dirs(const fs::path& root) {
  std::vector<StepDir> out;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    if (auto step = parse_step_name(it->path().filename().string())) out.push_back({*step, it->path()});
  }
  if (ec) throw Error("cannot list " + root.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const StepDir& a, const StepDir& b) { return a.step > b.step; });
  return out;
}

// Serialises commits in this process and remembers which temporary directories are still being
// written, so that cleaning up leftovers never removes a live one. A pid check alone would not
// do: in containers a restarted run often gets the same pid as the crashed one.
std::mutex& commit_mutex() {
  static std::mutex mu;
  return mu;
}
std::set<std::string>& active_tmp_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}
void set_active(const fs::path& p, bool on) {
  std::lock_guard<std::mutex> lock(commit_mutex());
  if (on) {
    active_tmp_dirs().insert(p.string());
  } else {
    active_tmp_dirs().erase(p.string());
  }
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) MNEMO_WARN("cannot remove ", p.string(), ": ", ec.message());
}

// Collects every file of a pending checkpoint (recursively), checksumming and fsyncing each.
void collect_files(const fs::path& root, std::vector<ManifestEntry>* files, std::vector<fs::path>* subdirs) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    auto st = it->symlink_status(ec);
    if (ec) break;
    std::string rel = it->path().lexically_relative(root).generic_string();
    if (fs::is_directory(st)) {
      subdirs->push_back(it->path());
      continue;
    }
    // A symlink or device would make the checkpoint depend on something outside it.
    MNEMO_CHECK(fs::is_regular_file(st), "checkpoint entry ", it->path().string(),
                " is not a regular file or directory");
    MNEMO_CHECK(rel != CheckpointManager::kManifestName, "'", CheckpointManager::kManifestName,
                "' is reserved in a checkpoint directory (", it->path().string(), ")");
    std::string why;
    MNEMO_CHECK(valid_entry_name(rel, &why), why, " in ", root.string());
    ManifestEntry e;
    e.name = rel;
    checksum_file(it->path(), /*sync=*/true, &e.size, &e.crc);
    files->push_back(std::move(e));
  }
  if (ec) throw Error("cannot list " + root.string() + ": " + ec.message());
  std::sort(files->begin(), files->end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.name < b.name; });
}

// Moves `from` to `to`, where `to` is an existing checkpoint. Afterwards the old checkpoint sits
// at the returned path, to be deleted. With RENAME_EXCHANGE the swap is atomic, so no instant
// exists without a <step>/ directory; elsewhere the old one is first renamed aside.
fs::path replace_dir(const fs::path& from, const fs::path& to, std::int64_t step) {
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) return from;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    throw Error("cannot swap " + from.string() + " with " + to.string() + ": " + errno_text(errno));
  }
#endif
  fs::path aside = to.parent_path() /
                   (std::string(kOldPrefix) + std::to_string(step) + "-" + std::to_string(::getpid()) + "-" +
                    random_suffix());
  if (::rename(to.c_str(), aside.c_str()) != 0) {
    throw Error("cannot move " + to.string() + " aside: " + errno_text(errno));
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    ::rename(aside.c_str(), to.c_str());  // best effort: put the old checkpoint back
    throw Error("cannot rename " + from.string() + " to " + to.string() + ": " + errno_text(err));
  }
  return aside;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CheckpointManager

CheckpointManager::CheckpointManager(fs::path checkpoints_dir, int keep_last)
    : dir_(std::move(checkpoints_dir)), keep_last_(keep_last) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create checkpoint directory " + dir_.string() + ": " + ec.message());
}

fs::path CheckpointManager::step_dir(std::int64_t step) const { return dir_ / step_name(step); }

PendingCheckpoint CheckpointManager::begin(std::int64_t step) {
  MNEMO_CHECK(step >= 0, "checkpoint step must be >= 0, got ", step);
  for (int attempt = 0; attempt < 8; ++attempt) {
    fs::path tmp = dir_ / (std::string(kTmpPrefix) + std::to_string(step) + "-" + std::to_string(::getpid()) +
                           "-" + random_suffix());
    std::error_code ec;
    if (fs::create_directory(tmp, ec)) {
      set_active(tmp, true);
      return PendingCheckpoint(*this, step, tmp);
    }
    if (ec) throw Error("cannot create " + tmp.string() + ": " + ec.message());
  }
  throw Error("cannot create a unique temporary checkpoint directory in " + dir_.string());
}

bool CheckpointManager::verify(const fs::path& dir, std::string* why) {
  Manifest m;
  std::string reason;
  bool ok = verify_dir(dir, /*check_crc=*/true, &m, &reason);
  if (ok) {
    auto name_step = parse_step_name(dir.filename().string());
    if (name_step && *name_step != m.step) {
      ok = false;
      reason = "manifest is for step " + std::to_string(m.step) + " but the directory is " +
               dir.filename().string();
    }
  }
  if (why) *why = reason;
  return ok;
}

std::optional<CheckpointInfo> CheckpointManager::latest() const {
  for (const auto& sd : step_dirs(dir_)) {
    std::string why;
    if (verify(sd.dir, &why)) return CheckpointInfo{sd.step, sd.dir};
    MNEMO_WARN("skipping checkpoint ", sd.dir.string(), ": ", why);
  }
  return std::nullopt;
}

std::vector<CheckpointInfo> CheckpointManager::list() const {
  std::vector<CheckpointInfo> out;
  for (const auto& sd : step_dirs(dir_)) {
    std::string why;
    if (verify(sd.dir, &why)) {
      out.push_back({sd.step, sd.dir});
    } else {
      MNEMO_WARN("skipping checkpoint ", sd.dir.string(), ": ", why);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// PendingCheckpoint

PendingCheckpoint::PendingCheckpoint(CheckpointManager manager, std::int64_t step, fs::path tmp_dir)
    : manager_(std::move(manager)), step_(step), tmp_dir_(std::move(tmp_dir)), active_(true) {}

PendingCheckpoint::PendingCheckpoint(PendingCheckpoint&& other) noexcept
    : manager_(other.manager_), step_(other.step_), tmp_dir_(std::move(other.tmp_dir_)), active_(other.active_) {
  other.active_ = false;
}

PendingCheckpoint& PendingCheckpoint::operator=(PendingCheckpoint&& other) noexcept {
  if (this != &other) {
    discard();
    manager_ = other.manager_;
    step_ = other.step_;
    tmp_dir_ = std::move(other.tmp_dir_);
    active_ = other.active_;
    other.active_ = false;
  }
  return *this;
}

PendingCheckpoint::~PendingCheckpoint() { discard(); }

void PendingCheckpoint::discard() noexcept {
  if (!active_) return;
  active_ = false;
  try {
    remove_quietly(tmp_dir_);
    set_active(tmp_dir_, false);
  } catch (...) {
    // Destructors must not throw; a leftover .tmp-* directory is removed by the next commit.
  }
}

CheckpointInfo PendingCheckpoint::commit() {
  MNEMO_CHECK(active_, "checkpoint for step ", step_, " was already committed or discarded");
  const fs::path& root = manager_.dir_;

  Manifest m;
  m.step = step_;
  std::vector<fs::path> subdirs;
  collect_files(tmp_dir_, &m.files, &subdirs);
  write_file_atomic(tmp_dir_ / CheckpointManager::kManifestName, render_manifest(m));
  // Deepest first, so each directory entry is durable before its parent's.
  std::sort(subdirs.begin(), subdirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.string().size() > b.string().size();
  });
  for (const auto& d : subdirs) fsync_directory(d);
  fsync_directory(tmp_dir_);

  fs::path final_dir = manager_.step_dir(step_);
  {
    std::lock_guard<std::mutex> lock(commit_mutex());
    std::error_code ec;
    std::optional<fs::path> old;
    if (fs::exists(fs::symlink_status(final_dir, ec))) {
      old = replace_dir(tmp_dir_, final_dir, step_);
    } else if (::rename(tmp_dir_.c_str(), final_dir.c_str()) != 0) {
      throw Error("cannot rename " + tmp_dir_.string() + " to " + final_dir.string() + ": " + errno_text(errno));
    }
    // From here on the checkpoint is published; nothing below may undo it.
    active_ = false;
    active_tmp_dirs().erase(tmp_dir_.string());
    try {
      fsync_directory(root);
    } catch (const Error& e) {
      MNEMO_WARN("checkpoint ", final_dir.string(), " committed but not durable yet: ", e.what());
    }
    if (old) remove_quietly(*old);
  }

  // Housekeeping failures must not turn a good checkpoint into a failed save.
  try {
    std::lock_guard<std::mutex> lock(commit_mutex());
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      bool leftover = name.rfind(kTmpPrefix, 0) == 0 || name.rfind(kOldPrefix, 0) == 0;
      if (leftover && active_tmp_dirs().count(it->path().string()) == 0) {
        MNEMO_INFO("removing leftover temporary checkpoint directory ", it->path().string());
        remove_quietly(it->path());
      }
    }
    if (manager_.keep_last_ > 0) {
      int kept = 0;
      for (const auto& sd : step_dirs(root)) {
        if (sd.step == step_) {  // never prune what this call just published
          ++kept;
          continue;
        }
        Manifest pm;
        std::string why;
        bool ok = verify_dir(sd.dir, /*check_crc=*/false, &pm, &why);
        if (kept < manager_.keep_last_) {
          // Broken checkpoints are not counted as kept, so they never push out good ones.
          if (ok) ++kept;
          continue;
        }
        if (!ok) MNEMO_WARN("removing broken checkpoint ", sd.dir.string(), " older than the kept ones: ", why);
        remove_quietly(sd.dir);
      }
    }
  } catch (const std::exception& e) {
    MNEMO_WARN("checkpoint cleanup in ", root.string(), " failed: ", e.what());
  }
  return CheckpointInfo{step_, final_dir};
}

// ---------------------------------------------------------------------------------------------
// Files

std::string read_file(const fs::path& path) {
  Fd fd = open_or_throw(path, O_RDONLY);
  std::string out;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[64 * 1024];
  for (;;) {
    ssize_t r = ::read(fd.get(), buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + path.string() + ": " + errno_text(errno));
    }
    if (r == 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// StateFile
//
// Layout: "MNST" | u32 version | u64 count | count x (u64 key_len, key, u8 type, value) | u32 crc32c
// where value is i64, f64 or (u64 len, bytes). The trailing CRC covers everything before it.

namespace {

constexpr char kStateMagic[4] = {'M', 'N', 'S', 'T'};
constexpr std::uint32_t kStateVersion = 1;
enum StateType : std::uint8_t { kStateInt = 0, kStateDouble = 1, kStateString = 2 };
// The smallest possible entry: empty key length, type byte, 8-byte value.
constexpr std::uint64_t kMinEntryBytes = 8 + 1 + 8;

// Reads from a byte range with every length checked against what remains, so a corrupt or
// hostile file can neither read past the end nor make us allocate more than its own size.
class BoundedReader {
 public:
  BoundedReader(const std::string& bytes, std::size_t size)
      : stream_(bytes.substr(0, size)), archive_(stream_), remaining_(size) {}

  void need(std::uint64_t n, const char* what) {
    if (n > remaining_) {
      throw Error(detail::concat("state file is corrupt: ", what, " needs ", n, " bytes, ", remaining_,
                                 " remain"));
    }
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v{};
    archive_(cereal::binary_data(&v, sizeof(T)));
    remaining_ -= sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    auto n = read<std::uint64_t>(what);
    need(n, what);
    std::string s(static_cast<std::size_t>(n), '\0');
    if (n > 0) archive_(cereal::binary_data(s.data(), s.size()));
    remaining_ -= n;
    return s;
  }
  std::uint64_t remaining() const { return remaining_; }

 private:
  std::istringstream stream_;
  cereal::BinaryInputArchive archive_;
  std::uint64_t remaining_;
};

}  // namespace

void StateFile::set(const std::string& key, std::int64_t value) { values_[key] = value; }
void StateFile::set(const std::string& key, double value) { values_[key] = value; }
void StateFile::set(const std::string& key, std::string value) { values_[key] = std::move(value); }

const StateFile::Value& StateFile::find(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Error("state has no key '" + key + "'");
  return it->second;
}

namespace {
const char* value_type_name(const StateFile::Value& v) {
  switch (v.index()) {
    case 0: return "int";
    case 1: return "double";
    default: return "string";
  }
}
}  // namespace

std::int64_t StateFile::get_int(const std::string& key) const {
  const Value& v = find(key);
  if (auto p = std::get_if<std::int64_t>(&v)) return *p;
  throw Error(std::string("state key '") + key + "' is a " + value_type_name(v) + ", not an int");
}

double StateFile::get_double(const std::string& key) const {
  const Value& v = find(key);
  if (auto p = std::get_if<double>(&v)) return *p;
  throw Error(std::string("state key '") + key + "' is a " + value_type_name(v) + ", not a double");
}

const std::string& StateFile::get_string(const std::string& key) const {
  const Value& v = find(key);
  if (auto p = std::get_if<std::string>(&v)) return *p;
  throw Error(std::string("state key '") + key + "' is a " + value_type_name(v) + ", not a string");
}

std::vector<std::string> StateFile::keys() const {
  std::vector<std::string> out;
  out.reserve(values_.size());
  for (const auto& kv : values_) out.push_back(kv.first);
  return out;
}

std::string StateFile::serialize() const {
  std::ostringstream os;
  {
    cereal::BinaryOutputArchive ar(os);
    ar(cereal::binary_data(kStateMagic, sizeof(kStateMagic)));
    ar(kStateVersion, static_cast<std::uint64_t>(values_.size()));
    for (const auto& [key, value] : values_) {
      ar(static_cast<std::uint64_t>(key.size()));
      ar(cereal::binary_data(key.data(), key.size()));
      auto type = static_cast<std::uint8_t>(value.index());
      ar(type);
      if (auto p = std::get_if<std::int64_t>(&value)) {
        ar(*p);
      } else if (auto d = std::get_if<double>(&value)) {
        ar(*d);
      } else {
        const auto& s = std::get<std::string>(value);
        ar(static_cast<std::uint64_t>(s.size()));
        ar(cereal::binary_data(s.data(), s.size()));
      }
    }
  }
  std::string out = os.str();
  std::uint32_t crc = crc32c(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
  return out;
}

StateFile StateFile::parse(const std::string& bytes) {
  constexpr std::size_t kHeader = sizeof(kStateMagic) + 4 + 8;
  if (bytes.size() < kHeader + 4) {
    throw Error("state file is corrupt: " + std::to_string(bytes.size()) + " bytes is too short");
  }
  if (std::memcmp(bytes.data(), kStateMagic, sizeof(kStateMagic)) != 0) {
    throw Error("state file is corrupt: bad magic (not a mnemo state file)");
  }
  std::size_t body = bytes.size() - 4;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + body, 4);
  std::uint32_t computed = crc32c(bytes.data(), body);
  if (stored != computed) {
    throw Error("state file is corrupt: crc32c " + hex8(computed) + " does not match stored " + hex8(stored));
  }
  StateFile out;
  try {
    BoundedReader r(bytes, body);
    r.read<std::uint32_t>("magic");  // checked above; this only consumes it
    auto version = r.read<std::uint32_t>("version");
    if (version != kStateVersion) {
      throw Error("state file has version " + std::to_string(version) + ", this build reads " +
                  std::to_string(kStateVersion));
    }
    auto count = r.read<std::uint64_t>("entry count");
    if (count > r.remaining() / kMinEntryBytes) {
      throw Error("state file is corrupt: " + std::to_string(count) + " entries cannot fit in " +
                  std::to_string(r.remaining()) + " bytes");
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      std::string key = r.read_string("key");
      auto type = r.read<std::uint8_t>("type");
      Value v;
      switch (type) {
        case kStateInt: v = r.read<std::int64_t>("int value"); break;
        case kStateDouble: v = r.read<double>("double value"); break;
        case kStateString: v = r.read_string("string value"); break;
        default: throw Error("state file is corrupt: unknown value type " + std::to_string(type));
      }
      if (!out.values_.emplace(key, std::move(v)).second) {
        throw Error("state file is corrupt: key '" + key + "' appears twice");
      }
    }
    if (r.remaining() != 0) {
      throw Error("state file is corrupt: " + std::to_string(r.remaining()) + " trailing bytes");
    }
  } catch (const cereal::Exception& e) {
    throw Error(std::string("state file is corrupt: ") + e.what());
  }
  return out;
}

void StateFile::save(const fs::path& path) const { write_file_atomic(path, serialize()); }

StateFile StateFile::load(const fs::path& path) {
  std::string bytes = read_file(path);
  try {
    return parse(bytes);
  } catch (const Error& e) {
    throw Error(path.string() + ": " + e.what());
  }
}

}  // namespace mnemo
