// Tests of checkpoint directories (atomic commit, manifest checks, latest/list, pruning, leftover
// cleanup) and of the StateFile encoding against corrupt input.
#include "core/runlog/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "core/crc32c.h"

namespace mnemo {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards, so tests never see each other's checkpoints.
class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(::testing::TempDir()) /
            ("mnemo_ckpt_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path ckpt_dir() const { return root_ / "checkpoints"; }

  static void write(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Saves a checkpoint with the files a learner writes, their content derived from the step.
  static CheckpointInfo save(CheckpointManager& m, std::int64_t step) {
    PendingCheckpoint p = m.begin(step);
    write(p.dir() / "model.pt", "model weights at step " + std::to_string(step));
    write(p.dir() / "optimizer.pt", std::string(1000, static_cast<char>('a' + step % 26)));
    write(p.dir() / "state.bin", "state");
    return p.commit();
  }
  static void flip_byte(const fs::path& p, std::size_t offset) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x01));
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(ckpt_dir())) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path root_;
};

TEST_F(CheckpointTest, CommitCreatesZeroPaddedStepDirWithManifestListingEveryFile) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/3);
  CheckpointInfo info = save(m, /*step=*/1234);

  EXPECT_EQ(info.step, 1234);
  EXPECT_EQ(info.dir, ckpt_dir() / "000000001234");
  EXPECT_EQ(entries(), std::vector<std::string>{"000000001234"});  // no temp dir left behind
  const std::string manifest = slurp(info.dir / "manifest");
  EXPECT_EQ(manifest.rfind("mnemo-checkpoint-manifest v1\nstep 1234\n", 0), 0u) << manifest;
  const std::string model = "model weights at step 1234";
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", crc32c(model.data(), model.size()));
  EXPECT_NE(manifest.find("model.pt " + std::to_string(model.size()) + " " + crc + "\n"), std::string::npos)
      << manifest;
  EXPECT_NE(manifest.find("optimizer.pt 1000 "), std::string::npos);
  EXPECT_NE(manifest.find("state.bin 5 "), std::string::npos);
  EXPECT_NE(manifest.find("\ncrc32c "), std::string::npos);
  std::string why;
  EXPECT_TRUE(CheckpointManager::verify(info.dir, &why)) << why;
}

TEST_F(CheckpointTest, FilesInSubdirectoriesAreListedAndChecked) {
  CheckpointManager m(ckpt_dir());
  PendingCheckpoint p = m.begin(/*step=*/5);
  write(p.dir() / "replay" / "shard-0" / "items.bin", "replay items");
  CheckpointInfo info = p.commit();
  EXPECT_NE(slurp(info.dir / "manifest").find("replay/shard-0/items.bin 12 "), std::string::npos);
  flip_byte(info.dir / "replay" / "shard-0" / "items.bin", /*offset=*/3);
  std::string why;
  EXPECT_FALSE(CheckpointManager::verify(info.dir, &why));
  EXPECT_NE(why.find("replay/shard-0/items.bin"), std::string::npos) << why;
}

TEST_F(CheckpointTest, LatestOfEmptyDirectoryIsNothing) {
  CheckpointManager m(ckpt_dir());
  EXPECT_FALSE(m.latest().has_value());
  EXPECT_TRUE(m.list().empty());
}

TEST_F(CheckpointTest, LatestReturnsNewestCheckpointByStepNotByCommitOrder) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/0);
  save(m, /*step=*/20);
  save(m, /*step=*/100);
  save(m, /*step=*/9);
  auto latest = m.latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 100);
  EXPECT_EQ(latest->dir, m.step_dir(100));
}

TEST_F(CheckpointTest, LatestSkipsCheckpointWithAFlippedByteToThePreviousOne) {
  CheckpointManager m(ckpt_dir());
  save(m, /*step=*/10);
  CheckpointInfo newest = save(m, /*step=*/20);
  flip_byte(newest.dir / "optimizer.pt", /*offset=*/500);

  std::string why;
  EXPECT_FALSE(CheckpointManager::verify(newest.dir, &why));
  EXPECT_NE(why.find("optimizer.pt"), std::string::npos) << why;
  auto latest = m.latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 10);
}

TEST_F(CheckpointTest, LatestSkipsCheckpointWithTruncatedManifest) {
  CheckpointManager m(ckpt_dir());
  save(m, /*step=*/10);
  CheckpointInfo newest = save(m, /*step=*/20);
  std::string manifest = slurp(newest.dir / "manifest");
  fs::resize_file(newest.dir / "manifest", manifest.size() / 2);
  EXPECT_EQ(m.latest()->step, 10);
}

TEST_F(CheckpointTest, LatestSkipsCheckpointWhoseManifestWasEditedWithoutUpdatingItsCrc) {
  CheckpointManager m(ckpt_dir());
  save(m, /*step=*/10);
  CheckpointInfo newest = save(m, /*step=*/20);
  std::string manifest = slurp(newest.dir / "manifest");
  auto pos = manifest.find("state.bin 5");
  manifest.replace(pos, 11, "state.bin 6");
  write(newest.dir / "manifest", manifest);
  std::string why;
  EXPECT_FALSE(CheckpointManager::verify(newest.dir, &why));
  EXPECT_NE(why.find("crc32c mismatch"), std::string::npos) << why;
  EXPECT_EQ(m.latest()->step, 10);
}

TEST_F(CheckpointTest, LatestSkipsCheckpointWithMissingManifestOrMissingFile) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/0);
  save(m, /*step=*/10);
  CheckpointInfo no_file = save(m, /*step=*/20);
  CheckpointInfo no_manifest = save(m, /*step=*/30);
  fs::remove(no_manifest.dir / "manifest");
  fs::remove(no_file.dir / "model.pt");
  EXPECT_EQ(m.latest()->step, 10);
  std::string why;
  EXPECT_FALSE(CheckpointManager::verify(no_file.dir, &why));
  EXPECT_NE(why.find("model.pt"), std::string::npos) << why;
}

TEST_F(CheckpointTest, ManifestForAnotherStepThanItsDirectoryIsRejected) {
  CheckpointManager m(ckpt_dir());
  CheckpointInfo info = save(m, /*step=*/10);
  fs::rename(info.dir, m.step_dir(11));
  EXPECT_FALSE(m.latest().has_value());
}

TEST_F(CheckpointTest, ListReturnsOnlyCompleteCheckpointsInAscendingOrder) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/0);
  for (std::int64_t step : {30, 10, 20, 40}) save(m, step);
  fs::remove(m.step_dir(20) / "manifest");
  auto all = m.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].step, 10);
  EXPECT_EQ(all[1].step, 30);
  EXPECT_EQ(all[2].step, 40);
}

TEST_F(CheckpointTest, UncommittedAndLeftoverTempDirsAreIgnoredByLatest) {
  CheckpointManager m(ckpt_dir());
  save(m, /*step=*/10);
  PendingCheckpoint live = m.begin(/*step=*/20);
  write(live.dir() / "model.pt", "half written");
  write(ckpt_dir() / ".tmp-30-999-deadbeef" / "model.pt", "from a crashed run");
  EXPECT_EQ(m.latest()->step, 10);
  EXPECT_EQ(m.list().size(), 1u);
}

TEST_F(CheckpointTest, DestroyingPendingCheckpointWithoutCommitRemovesItsTempDir) {
  CheckpointManager m(ckpt_dir());
  fs::path tmp;
  {
    PendingCheckpoint p = m.begin(/*step=*/7);
    tmp = p.dir();
    write(tmp / "model.pt", "abandoned");
    EXPECT_TRUE(fs::exists(tmp));
    EXPECT_EQ(tmp.filename().string().rfind(".tmp-7-", 0), 0u) << tmp;
  }
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_TRUE(entries().empty());
}

TEST_F(CheckpointTest, CommitRemovesLeftoverTempDirsButNotOnesStillBeingWritten) {
  CheckpointManager m(ckpt_dir());
  write(ckpt_dir() / ".tmp-30-999-deadbeef" / "model.pt", "from a crashed run");
  PendingCheckpoint live = m.begin(/*step=*/50);
  write(live.dir() / "model.pt", "in progress");
  save(m, /*step=*/40);
  EXPECT_FALSE(fs::exists(ckpt_dir() / ".tmp-30-999-deadbeef"));
  EXPECT_TRUE(fs::exists(live.dir() / "model.pt"));
  EXPECT_EQ(live.commit().step, 50);
  EXPECT_EQ(m.latest()->step, 50);
}

TEST_F(CheckpointTest, CommitTwiceIsAnError) {
  CheckpointManager m(ckpt_dir());
  PendingCheckpoint p = m.begin(/*step=*/1);
  write(p.dir() / "model.pt", "x");
  p.commit();
  EXPECT_THROW(p.commit(), Error);
}

TEST_F(CheckpointTest, CommitOfExistingStepReplacesItAndLeavesNothingAside) {
  CheckpointManager m(ckpt_dir());
  save(m, /*step=*/10);
  PendingCheckpoint p = m.begin(/*step=*/10);
  write(p.dir() / "model.pt", "second attempt");
  CheckpointInfo info = p.commit();
  EXPECT_EQ(slurp(info.dir / "model.pt"), "second attempt");
  EXPECT_FALSE(fs::exists(info.dir / "optimizer.pt"));
  EXPECT_TRUE(CheckpointManager::verify(info.dir, nullptr));
  EXPECT_EQ(entries(), std::vector<std::string>{"000000000010"});
}

TEST_F(CheckpointTest, KeepLastPrunesOldestCheckpoints) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/2);
  for (std::int64_t step = 1; step <= 5; ++step) save(m, step * 100);
  EXPECT_EQ(entries(), (std::vector<std::string>{"000000000400", "000000000500"}));
}

TEST_F(CheckpointTest, KeepLastDoesNotCountBrokenCheckpointsAsKept) {
  CheckpointManager m(ckpt_dir(), /*keep_last=*/2);
  save(m, /*step=*/100);
  save(m, /*step=*/200);
  fs::remove(m.step_dir(200) / "manifest");  // broken: must not push out step 100
  save(m, /*step=*/300);
  auto all = m.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].step, 100);
  EXPECT_EQ(all[1].step, 300);
}

TEST_F(CheckpointTest, NegativeStepAndReservedManifestNameAreRejected) {
  CheckpointManager m(ckpt_dir());
  EXPECT_THROW(m.begin(/*step=*/-1), Error);
  PendingCheckpoint p = m.begin(/*step=*/1);
  write(p.dir() / "manifest", "mine");
  EXPECT_THROW(p.commit(), Error);
  PendingCheckpoint q = m.begin(/*step=*/2);
  write(q.dir() / "has space.pt", "x");
  EXPECT_THROW(q.commit(), Error);
  EXPECT_FALSE(m.latest().has_value());
}

TEST_F(CheckpointTest, ReadFileOfMissingPathThrowsNamingThePath) {
  try {
    read_file(root_ / "nope.bin");
    FAIL() << "expected mnemo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.bin"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// StateFile

StateFile sample_state() {
  StateFile s;
  s.set("step", std::int64_t{123456789012});
  s.set("episodes", 42);
  s.set("min", std::numeric_limits<std::int64_t>::min());
  s.set("lr", 3e-4);
  s.set("neg_zero", -0.0);
  s.set("name", "run-a");
  s.set("rng", std::string("bytes\0with\nnul", 14));
  s.set("empty", std::string());
  return s;
}

TEST(StateFileTest, RoundTripsIntsDoublesAndBinaryStrings) {
  StateFile back = StateFile::parse(sample_state().serialize());
  EXPECT_EQ(back.size(), 8u);
  EXPECT_EQ(back.get_int("step"), 123456789012);
  EXPECT_EQ(back.get_int("episodes"), 42);
  EXPECT_EQ(back.get_int("min"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(back.get_double("lr"), 3e-4);
  EXPECT_TRUE(std::signbit(back.get_double("neg_zero")));
  EXPECT_EQ(back.get_string("name"), "run-a");
  EXPECT_EQ(back.get_string("rng"), std::string("bytes\0with\nnul", 14));
  EXPECT_EQ(back.get_string("empty"), "");
  EXPECT_TRUE(back.has("lr"));
  EXPECT_FALSE(back.has("missing"));
}

TEST(StateFileTest, EmptyStateRoundTrips) {
  EXPECT_EQ(StateFile::parse(StateFile().serialize()).size(), 0u);
}

TEST(StateFileTest, MissingKeyOrWrongTypeThrowsNamingTheKey) {
  StateFile s = sample_state();
  try {
    s.get_double("step");
    FAIL() << "expected mnemo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'step'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.get_int("nope"), Error);
  EXPECT_THROW(s.get_string("lr"), Error);
  EXPECT_THROW(s.set("big", std::numeric_limits<std::uint64_t>::max()), Error);
}

TEST(StateFileTest, RejectsEveryTruncation) {
  const std::string bytes = sample_state().serialize();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(StateFile::parse(bytes.substr(0, n)), Error) << "prefix of " << n << " bytes";
  }
}

TEST(StateFileTest, RejectsEveryFlippedByte) {
  const std::string bytes = sample_state().serialize();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_THROW(StateFile::parse(bad), Error) << "byte " << i;
  }
}

TEST(StateFileTest, RejectsRandomBytes) {
  std::mt19937 rng(/*seed=*/7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes(rng() % 200, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (trial % 2 == 0 && bytes.size() >= 4) std::memcpy(bytes.data(), "MNST", 4);  // get past the magic
    EXPECT_THROW(StateFile::parse(bytes), Error) << "trial " << trial;
  }
}

// A length field claiming 2^60 bytes, with a CRC that matches, must be rejected by the bounds
// check rather than attempted as an allocation.
TEST(StateFileTest, RejectsHugeLengthsEvenWhenTheChecksumMatches) {
  auto with_crc = [](std::string body) {
    std::uint32_t crc = crc32c(body.data(), body.size());
    body.append(reinterpret_cast<const char*>(&crc), 4);
    return body;
  };
  auto put = [](std::string* s, auto v) { s->append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  std::string huge_count = "MNST";
  put(&huge_count, std::uint32_t{1});
  put(&huge_count, std::uint64_t{1} << 60);
  EXPECT_THROW(StateFile::parse(with_crc(huge_count)), Error);

  std::string huge_key = "MNST";
  put(&huge_key, std::uint32_t{1});
  put(&huge_key, std::uint64_t{1});
  put(&huge_key, std::uint64_t{1} << 60);
  huge_key += std::string(17, 'k');
  EXPECT_THROW(StateFile::parse(with_crc(huge_key)), Error);

  std::string huge_value = "MNST";
  put(&huge_value, std::uint32_t{1});
  put(&huge_value, std::uint64_t{1});
  put(&huge_value, std::uint64_t{1});
  huge_value += "k";
  put(&huge_value, std::uint8_t{2});
  put(&huge_value, ~std::uint64_t{0});
  EXPECT_THROW(StateFile::parse(with_crc(huge_value)), Error);
}

TEST_F(CheckpointTest, StateFileSavesAndLoadsThroughAFileAndNamesThePathWhenCorrupt) {
  fs::path p = root_ / "state.bin";
  sample_state().save(p);
  EXPECT_EQ(StateFile::load(p).get_int("episodes"), 42);
  write(p, "garbage");
  try {
    StateFile::load(p);
    FAIL() << "expected mnemo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state.bin"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnemo
