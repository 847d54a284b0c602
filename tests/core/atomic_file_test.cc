// Tests of the atomic-file helper: a successful write replaces the content; every failure (a
// missing directory, a directory in the way, a write error) throws naming the path, keeps what was
// there and leaves no temporary file; an AtomicFile that is not committed leaves nothing; and
// writers racing on one target, watched by a reader, never produce a torn file.
#include "core/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"

namespace mnemo {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mnemo_atomic_file_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The names in `dir`, so a test can tell that no temporary file stayed behind.
  static std::vector<std::string> names(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // Runs `f`, which must throw mnemo::Error, and returns the message.
  template <class F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected mnemo::Error";
    return "";
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, WriteFileAtomicLeavesExactlyTheNewBytes) {
  const fs::path p = dir_ / "state.bin";
  write_file_atomic(p, "first, and longer than the second");
  write_file_atomic(p, std::string("sec\0ond", 7));
  EXPECT_EQ(slurp(p), std::string("sec\0ond", 7));
  write_file_atomic(p, "");
  EXPECT_TRUE(fs::exists(p));
  EXPECT_EQ(fs::file_size(p), 0u);
  EXPECT_EQ(names(dir_), std::vector<std::string>{"state.bin"});
}

TEST_F(AtomicFileTest, WriteIntoAMissingDirectoryThrowsNamingThePathAndCreatesNothing) {
  const fs::path p = dir_ / "no" / "such" / "file.bin";
  const std::string msg = error_of([&] { write_file_atomic(p, "x"); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  EXPECT_TRUE(names(dir_).empty());
}

TEST_F(AtomicFileTest, WriteOverADirectoryThrowsKeepsTheDirectoryAndLeavesNoTempFile) {
  const fs::path p = dir_ / "taken";
  fs::create_directories(p);
  write_file_atomic(p / "inside", "kept");
  const std::string msg = error_of([&] { write_file_atomic(p, "would replace a directory"); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_directory(p));
  EXPECT_EQ(slurp(p / "inside"), "kept");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"taken"});
}

TEST_F(AtomicFileTest, FailedWriteKeepsTheOldContentAndLeavesNoTempFile) {
  const fs::path p = dir_ / "metrics.csv";
  write_file_atomic(p, "old");
  // A file-size limit makes write(2) fail with EFBIG (SIGXFSZ ignored), a real write error that
  // also hits root, whom permissions do not stop. Each test runs in its own process under ctest;
  // the limit is restored before any assertion can return early.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string msg = error_of([&] { write_file_atomic(p, std::string(4096, 'n')); });
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_EQ(slurp(p), "old");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"metrics.csv"});
}

TEST_F(AtomicFileTest, UncommittedAtomicFileLeavesNothingAndKeepsTheOldContent) {
  const fs::path fresh = dir_ / "fresh.bin", existing = dir_ / "existing.bin";
  write_file_atomic(existing, "before");
  {
    AtomicFile a(fresh);
    AtomicFile b(existing);
    a.write("abandoned");
    b.write("abandoned");
    EXPECT_TRUE(fs::exists(a.temp_path()));
    EXPECT_EQ(a.temp_path().parent_path(), dir_) << "the rename must not cross file systems";
    EXPECT_EQ(a.temp_path().filename().string().front(), '.') << "hidden from globs such as *.bin";
  }
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_EQ(slurp(existing), "before");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"existing.bin"});
}

TEST_F(AtomicFileTest, CommitPublishesStreamedBytesAndMayHappenOnlyOnce) {
  const fs::path p = dir_ / "model.safetensors";
  AtomicFile f(p);
  EXPECT_EQ(f.path(), p);
  std::string want;
  for (int i = 0; i < 100; ++i) {
    const std::string part(1000 + i, static_cast<char>('a' + i % 26));
    f.write(part.data(), part.size());
    want += part;
  }
  EXPECT_FALSE(fs::exists(p)) << "visible before commit";
  f.commit();
  EXPECT_EQ(slurp(p), want);
  EXPECT_FALSE(fs::exists(f.temp_path()));
  EXPECT_THROW(f.commit(), Error);
  EXPECT_THROW(f.write("late"), Error);
  EXPECT_EQ(names(dir_), std::vector<std::string>{"model.safetensors"});
}

TEST_F(AtomicFileTest, LibrariesMayRewriteTheTempFileByNameBeforeCommit) {
  // How HDF5 uses it: the library opens temp_path() itself, truncating it.
  const fs::path p = dir_ / "data.h5";
  AtomicFile f(p);
  {
    std::ofstream lib(f.temp_path(), std::ios::binary | std::ios::trunc);
    lib << "written by a library";
  }
  f.commit();
  EXPECT_EQ(slurp(p), "written by a library");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"data.h5"});
}

TEST_F(AtomicFileTest, ObjectsForTheSameTargetNeverShareATempFile) {
  const fs::path p = dir_ / "same";
  AtomicFile a(p), b(p);
  EXPECT_NE(a.temp_path(), b.temp_path());
}

TEST_F(AtomicFileTest, RacingWritersLeaveOneWholeContentAndAReaderNeverSeesATornFile) {
  const fs::path p = dir_ / "config.yaml";
  // Different lengths and bytes, so any mix or truncation is recognisable.
  const std::string contents[2] = {std::string(300 * 1024, 'a'), std::string(200 * 1024 + 7, 'b')};
  write_file_atomic(p, contents[0]);
  std::atomic<int> writers_left{2};
  std::atomic<int> torn{0}, reads{0};
  auto writer = [&](int w) {
    for (int i = 0; i < 20; ++i) write_file_atomic(p, contents[w]);
    writers_left.fetch_sub(1);
  };
  std::thread reader([&] {
    // Reads until both writers are done, and once more after.
    for (bool last = false; !last;) {
      last = writers_left.load() == 0;
      const std::string got = slurp(p);
      reads.fetch_add(1);
      if (got != contents[0] && got != contents[1]) torn.fetch_add(1);
    }
  });
  std::thread w0(writer, 0), w1(writer, 1);
  w0.join();
  w1.join();
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  const std::string final_content = slurp(p);
  EXPECT_TRUE(final_content == contents[0] || final_content == contents[1]);
  EXPECT_EQ(names(dir_), std::vector<std::string>{"config.yaml"});
}

TEST_F(AtomicFileTest, FsyncDirectoryOfAMissingDirectoryThrowsNamingIt) {
  fsync_directory(dir_);
  const std::string msg = error_of([&] { fsync_directory(dir_ / "gone"); });
  EXPECT_NE(msg.find((dir_ / "gone").string()), std::string::npos) << msg;
}

}  // namespace
}  // namespace mnemo
