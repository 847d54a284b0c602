// Checkpoints: atomic, checksummed checkpoint directories and a small key/value state file.
//
// A run keeps its checkpoints in runs/<name>/checkpoints/<step>/ (step zero-padded so names sort).
// This layer is torch-free: it hands the caller a temporary directory, the caller writes model.pt,
// optimizer.pt, state.bin, config.yaml... into it, and commit() seals it with a manifest of sizes
// and CRC32Cs, fsyncs and renames it into place. A preempted or crashed writer therefore leaves
// either a complete checkpoint or an ignored `.tmp-*` directory, never a half-written <step>/, and
// latest() re-checks every checksum so that bit rot or a truncated copy falls back to the previous
// checkpoint instead of failing a resume half-way through loading.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/atomic_file.h"  // callers of read_file() write with write_file_atomic()
#include "core/check.h"

namespace mnemo {

// One complete (verified) checkpoint.
struct CheckpointInfo {
  std::int64_t step = 0;
  std::filesystem::path dir;
};

class PendingCheckpoint;

// Owns a checkpoints/ directory: begins, lists, verifies and prunes checkpoints.
//
// Thread-safety: begin/latest/list/verify may be called from any thread; commits of several
// PendingCheckpoints (of one or more managers in this process) serialise on a process-wide lock.
// Only one process should write into a given checkpoints/ directory (rank 0 of a run).
class CheckpointManager {
 public:
  // `keep_last` <= 0 keeps every checkpoint. The directory is created if missing.
  explicit CheckpointManager(std::filesystem::path checkpoints_dir, int keep_last = 3);

  const std::filesystem::path& dir() const { return dir_; }
  int keep_last() const { return keep_last_; }

  // Starts a checkpoint for `step` (>= 0) in a fresh temporary directory.
  PendingCheckpoint begin(std::int64_t step);

  // Newest checkpoint that verifies completely; skipped ones are logged with MNEMO_WARN and why.
  std::optional<CheckpointInfo> latest() const;
  // Every checkpoint that verifies completely, oldest first.
  std::vector<CheckpointInfo> list() const;
  // The directory a checkpoint for `step` has once committed (<dir>/000000001234).
  std::filesystem::path step_dir(std::int64_t step) const;

  // Full check of one checkpoint directory: the manifest parses, its own CRC matches, and every
  // listed file exists with the listed size and CRC32C. On failure `why` (if given) says what.
  static bool verify(const std::filesystem::path& dir, std::string* why = nullptr);
  // Name of the manifest file inside each checkpoint directory.
  static constexpr const char* kManifestName = "manifest";

 private:
  friend class PendingCheckpoint;
  std::filesystem::path dir_;
  int keep_last_;
};

// A checkpoint being written. Move-only; destroying it without commit() removes its directory,
// so an exception while saving leaves nothing behind.
class PendingCheckpoint {
 public:
  PendingCheckpoint(PendingCheckpoint&& other) noexcept;
  PendingCheckpoint& operator=(PendingCheckpoint&& other) noexcept;
  PendingCheckpoint(const PendingCheckpoint&) = delete;
  PendingCheckpoint& operator=(const PendingCheckpoint&) = delete;
  ~PendingCheckpoint();

  // Where the caller writes the checkpoint's files (subdirectories are allowed; file names may
  // not contain whitespace or control characters, and "manifest" at the top level is reserved).
  const std::filesystem::path& dir() const { return tmp_dir_; }
  std::int64_t step() const { return step_; }

  // Seals the checkpoint: manifest, fsync, rename to <step>/ (replacing an existing one), then
  // removes checkpoints beyond keep_last and leftover temporary directories. Throws mnemo::Error
  // on I/O failure, in which case no <step>/ directory was created or replaced.
  CheckpointInfo commit();

 private:
  friend class CheckpointManager;
  PendingCheckpoint(CheckpointManager manager, std::int64_t step, std::filesystem::path tmp_dir);
  void discard() noexcept;

  CheckpointManager manager_;
  std::int64_t step_ = 0;
  std::filesystem::path tmp_dir_;
  bool active_ = false;
};

// The whole content of `path`; throws mnemo::Error naming the path if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Typed key/value pairs for counters, schedules and RNG state (state.bin in a checkpoint).
//
// The encoding is cereal binary (native byte order, little-endian on every supported platform)
// followed by a CRC32C of the content. parse() treats its input as untrusted: every length is
// checked against the bytes that remain before anything is allocated, and any inconsistency is
// reported as mnemo::Error rather than a crash or a huge allocation.
class StateFile {
 public:
  using Value = std::variant<std::int64_t, double, std::string>;

  void set(const std::string& key, std::int64_t value);
  void set(const std::string& key, double value);
  void set(const std::string& key, std::string value);
  void set(const std::string& key, const char* value) { set(key, std::string(value)); }
  // Other integer types (int, uint64_t, bool...) are stored as int64; out-of-range values throw.
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, std::int64_t>, int> = 0>
  void set(const std::string& key, T value) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      MNEMO_CHECK(value <= static_cast<T>(std::numeric_limits<std::int64_t>::max()), "state key '", key, "': ", value,
                  " does not fit in int64");
    }
    set(key, static_cast<std::int64_t>(value));
  }
  void set(const std::string& key, float value) { set(key, static_cast<double>(value)); }

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  // Throw mnemo::Error naming the key when it is missing or holds another type.
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  // Keys in sorted order.
  std::vector<std::string> keys() const;
  std::size_t size() const { return values_.size(); }

  std::string serialize() const;
  static StateFile parse(const std::string& bytes);

  // serialize() + write_file_atomic; load() = read_file + parse, errors name the path.
  void save(const std::filesystem::path& path) const;
  static StateFile load(const std::filesystem::path& path);

 private:
  const Value& find(const std::string& key) const;
  std::map<std::string, Value> values_;
};

}  // namespace mnemo
