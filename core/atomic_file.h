// Files replaced atomically and durably: the one way mnemo writes a file that someone may read
// while it is being written, or after a crash (checkpoints, configs, metrics, plots, datasets).
//
// The content goes to a temporary file with a unique name in the target's directory (so the final
// rename never crosses file systems, and parallel writers never share one), is fsynced, renamed
// over the target, and the directory is fsynced so that the rename itself survives a power cut.
// Readers therefore see the old content or the whole new one, never a torn file. When two writers
// replace the same target at once, the last rename wins and the file holds one writer's bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace mnemo {

// Replaces `path` with `bytes` as described above. Throws mnemo::Error naming the path and the
// system's reason on any failure; then `path` is unchanged (unless only the final directory fsync
// failed, which the message says) and no temporary file is left behind.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

// fsyncs a directory, which makes renames and new entries in it durable. Throws mnemo::Error
// naming the directory. A file system that cannot sync directories (EINVAL) is not an error:
// there is nothing more that could be done on it.
void fsync_directory(const std::filesystem::path& dir);

// A file being written under a temporary name next to `path`, published by commit(). For writers
// that stream more than they want to hold in memory (write()), or that hand a file name to a
// library which writes the file itself (temp_path(): HDF5).
//
// Thread-safety: one object per writer and thread; separate objects never share a temporary file,
// even for the same target.
class AtomicFile {
 public:
  // Creates the empty temporary file (mode 0644 less the umask). Throws mnemo::Error naming
  // `path` when it cannot, for example because the directory does not exist.
  explicit AtomicFile(std::filesystem::path path);
  // Removes the temporary file unless commit() succeeded: an abandoned write leaves nothing.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // The target.
  const std::filesystem::path& path() const { return path_; }
  // Where the content lives until commit(). A library writing it by name must open it in place
  // (create with truncation, as HDF5's H5F_ACC_TRUNC does), not replace it, and close it before
  // commit(): commit() syncs the file through the descriptor opened by the constructor.
  const std::filesystem::path& temp_path() const { return tmp_; }

  // Appends `n` bytes to the temporary file. Throws mnemo::Error naming the target.
  void write(const void* data, std::size_t n);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }

  // fsync of the temporary file, rename over path(), fsync of the directory. Throws mnemo::Error
  // naming the target; then the target is unchanged unless only the directory fsync failed.
  // Callable once.
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace mnemo
