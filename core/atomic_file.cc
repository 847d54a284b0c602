// Atomic, durable file replacement. See atomic_file.h for the protocol.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include "core/check.h"

namespace mnemo {
namespace fs = std::filesystem;

namespace {

// Room for ".<name>.tmp-<pid>-<counter>-<random>" within NAME_MAX (255) for any target name.
constexpr std::size_t kMaxNameInTemp = 200;
constexpr int kCreateAttempts = 8;

[[noreturn]] void fail(const fs::path& target, const std::string& what, int err) {
  throw Error("cannot write " + target.string() + ": " + what + ": " + std::strerror(err));
}

fs::path directory_of(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

// pid + counter is unique among the live processes of one host; the random part keeps writers on
// different hosts of a shared file system (and a restarted process that got a crashed one's pid
// next to its leftovers) apart too.
std::string unique_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<std::uint64_t>(
                                       std::chrono::steady_clock::now().time_since_epoch().count()));
  char s[64];
  std::snprintf(s, sizeof(s), "%ld-%llu-%08x", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)),
                static_cast<unsigned>(rng() & 0xffffffffu));
  return s;
}

}  // namespace

void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open directory " + dir.string() + ": " + std::strerror(errno));
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (r != 0 && err != EINVAL) throw Error("cannot fsync directory " + dir.string() + ": " + std::strerror(err));
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  std::string name = path_.filename().string();
  if (name.size() > kMaxNameInTemp) name.resize(kMaxNameInTemp);
  const fs::path dir = directory_of(path_);
  for (int attempt = 1;; ++attempt) {
    tmp_ = dir / ("." + name + ".tmp-" + unique_suffix());
    // O_EXCL: never write into a file another writer (or a leftover) owns.
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) return;
    if (errno != EEXIST || attempt == kCreateAttempts) fail(path_, "cannot create " + tmp_.string(), errno);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  MNEMO_CHECK(fd_ >= 0, "write to ", path_.string(), " after commit()");
  auto p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path_, "cannot write " + tmp_.string(), errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void AtomicFile::commit() {
  MNEMO_CHECK(fd_ >= 0, "commit() of ", path_.string(), " called twice");
  if (::fsync(fd_) != 0) fail(path_, "cannot fsync " + tmp_.string(), errno);
  const int fd = fd_;
  fd_ = -1;
  // Some file systems (NFS) report a failed write only here.
  if (::close(fd) != 0) fail(path_, "cannot close " + tmp_.string(), errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail(path_, "cannot rename " + tmp_.string() + " over it", errno);
  committed_ = true;
  try {
    fsync_directory(directory_of(path_));
  } catch (const Error& e) {
    throw Error("wrote " + path_.string() + ", but the rename may not survive a crash: " + e.what());
  }
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace mnemo
