// Tests of replay checkpoints: the table file round trip (identical state), refusal of corrupt and
// truncated files, the directory checkpointer, a server that resumes and samples at once, and
// snapshots into a directory a client names (replay contents inside a learner's checkpoint).
#include "replay/checkpointer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "replay/client.h"
#include "replay/errors.h"
#include "replay/server.h"

namespace mnemo::replay {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mnemo-replay-ckpt-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

Item make_item(float v) {
  Array obs = Array::zeros(DType::kUInt8, {8, 16});
  std::fill(obs.data<std::uint8_t>(), obs.data<std::uint8_t>() + obs.numel(), static_cast<std::uint8_t>(v));
  return {{"obs", obs}, {"reward", Array::from_vector(std::vector<float>{v, v}, {2})}};
}

TableOptions prioritized(std::int64_t max_size) {
  TableOptions o;
  o.sampler = "prioritized";
  o.remover = "fifo";
  o.max_size = max_size;
  o.rate_limiter.kind = "ratio";
  o.rate_limiter.min_size_to_sample = 5;
  o.rate_limiter.error_buffer = 1000;
  o.seed = 5;
  return o;
}

void expect_same(const TableSnapshot& a, const TableSnapshot& b) {
  EXPECT_EQ(a.name, b.name);
  ASSERT_EQ(a.signature.has_value(), b.signature.has_value());
  if (a.signature) {
    EXPECT_EQ(*a.signature, *b.signature);
  }
  EXPECT_EQ(a.next_key, b.next_key);
  EXPECT_EQ(a.inserts, b.inserts);
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.evicted, b.evicted);
  EXPECT_EQ(a.limiter.inserts, b.limiter.inserts);
  EXPECT_EQ(a.limiter.samples, b.limiter.samples);
  EXPECT_EQ(a.limiter.enabled, b.limiter.enabled);
  EXPECT_EQ(a.rng, b.rng);
  EXPECT_EQ(a.remover_order, b.remover_order);
  ASSERT_EQ(a.items.size(), b.items.size());
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    EXPECT_EQ(a.items[i].key, b.items[i].key);
    EXPECT_EQ(a.items[i].priority, b.items[i].priority);
    EXPECT_EQ(a.items[i].times_sampled, b.items[i].times_sampled);
    ASSERT_EQ(a.items[i].fields.size(), b.items[i].fields.size());
    for (std::size_t f = 0; f < a.items[i].fields.size(); ++f) {
      const ItemField &x = a.items[i].fields[f], &y = b.items[i].fields[f];
      EXPECT_EQ(x.name, y.name);
      EXPECT_EQ(x.shape, y.shape);
      EXPECT_EQ(x.codec, y.codec);
      ASSERT_EQ(x.bytes.nbytes(), y.bytes.nbytes());
      EXPECT_EQ(std::memcmp(x.bytes.raw(), y.bytes.raw(), x.bytes.nbytes()), 0);
    }
  }
}

TEST(CheckpointerTest, TableFileRoundTripsIdenticalState) {
  Table table(prioritized(/*max_size=*/20));
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i)), 1.0 + i));
  ASSERT_TRUE(table.try_sample(4));
  table.update_priorities({10, 11}, {0.5, 8.0});
  const TableSnapshot snap = table.snapshot();
  const fs::path dir = temp_dir("roundtrip");
  write_table_snapshot(snap, dir / "t.bin");
  expect_same(snap, read_table_snapshot(dir / "t.bin"));
  fs::remove_all(dir);
}

TEST(CheckpointerTest, RefusesTruncatedAndCorruptFilesWithDataLoss) {
  Table table(prioritized(/*max_size=*/8));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(table.try_insert(make_item(static_cast<float>(i)), 1.0));
  const fs::path dir = temp_dir("corrupt");
  write_table_snapshot(table.snapshot(), dir / "t.bin");
  std::string bytes;
  {
    std::ifstream is(dir / "t.bin", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(is), {});
  }
  auto write = [&](const std::string& b) {
    std::ofstream os(dir / "bad.bin", std::ios::binary | std::ios::trunc);
    os.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  std::mt19937 rng(/*seed=*/3);
  for (int i = 0; i < 40; ++i) {
    write(bytes.substr(0, rng() % bytes.size()));
    try {
      read_table_snapshot(dir / "bad.bin");
      ADD_FAILURE() << "a truncated file was accepted";
    } catch (const ReplayError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    }
  }
  // Huge counts and lengths in the header must not allocate: flip bytes in the first 64.
  for (int i = 0; i < 200; ++i) {
    std::string b = bytes;
    b[rng() % 64] = static_cast<char>(rng());
    write(b);
    try {
      read_table_snapshot(dir / "bad.bin");  // may parse if the flip hit a counter value
    } catch (const ReplayError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    }
  }
  fs::remove_all(dir);
}

TEST(CheckpointerTest, DirectoryCheckpointerKeepsTheLatestAndSkipsIncompleteOnes) {
  const fs::path dir = temp_dir("dir");
  Table table(prioritized(/*max_size=*/8));
  DirectoryCheckpointer cp(dir, /*keep_last=*/2);
  EXPECT_FALSE(cp.load_latest());
  ASSERT_TRUE(table.try_insert(make_item(1), 1.0));
  cp.save({table.snapshot()});
  ASSERT_TRUE(table.try_insert(make_item(2), 1.0));
  const std::string second = cp.save({table.snapshot()});
  ASSERT_TRUE(table.try_insert(make_item(3), 1.0));
  const std::string third = cp.save({table.snapshot()});
  auto latest = cp.load_latest();
  ASSERT_TRUE(latest);
  EXPECT_EQ((*latest)[0].items.size(), 3u);
  // Damage the newest: load falls back to the previous one.
  std::ofstream(fs::path(third) / "table-000.bin", std::ios::app) << "x";
  latest = DirectoryCheckpointer(dir, 2).load_latest();
  ASSERT_TRUE(latest);
  EXPECT_EQ((*latest)[0].items.size(), 2u);
  fs::remove_all(dir);
}

TEST(CheckpointerTest, ServerResumesAndSamplesRightAfterRestore) {
  const fs::path dir = temp_dir("server");
  ServerOptions o;
  o.bind = "inproc://checkpointer-test-1";
  o.table = prioritized(/*max_size=*/100);
  o.table.rate_limiter.min_size_to_sample = 10;
  o.table.rate_limiter.samples_per_insert = 2.0;
  o.table.rate_limiter.error_buffer = 20;
  o.checkpoint_dir = dir.string();
  ClientOptions co;
  co.timeout_ms = 5000;
  {
    Server server(o);
    server.start();
    Client client(server.endpoint(), co);
    for (int i = 0; i < 20; ++i) client.insert(make_item(static_cast<float>(i)), /*priority=*/1.0 + i % 4);
    client.sample(30);  // diff = 2 * 20 - 30 = 10: inserts and samples both still admitted
    const auto paths = client.checkpoint();
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_TRUE(fs::exists(paths[0]));
  }
  o.resume = true;
  o.bind = "inproc://checkpointer-test-2";
  Server restored(o);
  EXPECT_EQ(restored.table_counters("default").samples, 30);
  EXPECT_EQ(restored.table_counters("default").size, 20);
  restored.start();
  Client client(restored.endpoint(), co);
  const auto start = std::chrono::steady_clock::now();
  Batch b = client.sample(8);  // must not hang on the limiter
  // Well under the 5 s a parked sample would wait before timing out, with room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(b.size(), 8);
  client.insert(make_item(50));
  EXPECT_EQ(client.info().inserts, 21);
  fs::remove_all(dir);
}

TEST(CheckpointerTest, RestoredServerDrawsTheSameKeysAsTheOriginal) {
  const fs::path dir = temp_dir("same-draws");
  ServerOptions o;
  o.bind = "inproc://checkpointer-test-3";
  o.table = prioritized(/*max_size=*/100);
  o.checkpoint_dir = dir.string();
  o.checkpoint_on_stop = false;
  Server server(o);
  server.start();
  ClientOptions co;
  co.timeout_ms = 5000;
  Client client(server.endpoint(), co);
  for (int i = 0; i < 30; ++i) client.insert(make_item(static_cast<float>(i)), /*priority=*/1.0 + i % 7);
  client.checkpoint();
  const Batch original = client.sample(16);
  o.resume = true;
  o.bind = "inproc://checkpointer-test-4";
  Server restored(o);
  restored.start();
  Client client2(restored.endpoint(), co);
  const Batch again = client2.sample(16);
  EXPECT_EQ(original.keys, again.keys);
  EXPECT_EQ(original.probabilities, again.probabilities);
  server.stop();
  fs::remove_all(dir);
}

TEST(CheckpointerTest, CheckpointWithoutADirectoryIsAnError) {
  ServerOptions o;
  o.bind = "inproc://checkpointer-test-5";
  Server server(o);
  server.start();
  ClientOptions co;
  co.timeout_ms = 5000;
  Client client(server.endpoint(), co);
  EXPECT_THROW(client.checkpoint(), ReplayError);
  EXPECT_THROW(server.checkpoint(), Error);
  o.resume = true;
  EXPECT_THROW(o.validate(), ConfigError);
}

// An off-policy table whose ratio limiter makes a wrongly restored diff visible: samples would
// wait (or inserts stall) if the limiter's counters did not come back with the items.
TableOptions uniform_ratio(std::int64_t max_size) {
  TableOptions o;
  o.sampler = "uniform";
  o.remover = "fifo";
  o.max_size = max_size;
  o.rate_limiter.kind = "ratio";
  o.rate_limiter.min_size_to_sample = 4;
  o.rate_limiter.samples_per_insert = 2.0;
  o.rate_limiter.error_buffer = 8;
  o.seed = 9;
  return o;
}

ServerOptions shard_options(const std::string& name, const fs::path& root) {
  ServerOptions o;
  o.bind = "inproc://checkpointer-test-" + name;
  o.table = uniform_ratio(/*max_size=*/100);
  o.snapshot_root = root.string();
  return o;
}

TEST(CheckpointerTest, CheckpointIntoWritesEveryShardAndRestoresTheSameTablesThatSampleAtOnce) {
  const fs::path root = temp_dir("into");
  ClientOptions co;
  co.timeout_ms = 5000;
  Server a(shard_options("into-a", root)), b(shard_options("into-b", root));
  a.start();
  b.start();
  Client client(a.endpoint() + "," + b.endpoint(), co);
  for (int i = 0; i < 12; ++i) client.insert(make_item(static_cast<float>(i)));  // 6 per shard
  client.sample(8);  // diff per shard = 2 * 6 - 4 = 8, at the top of [0, 16]

  const fs::path dir = root / "000000000005" / "replay";
  const auto snaps = client.checkpoint_into(dir.string());
  ASSERT_EQ(snaps.size(), 2u);
  for (std::size_t shard = 0; shard < 2; ++shard) {
    EXPECT_EQ(fs::path(snaps[shard].path), fs::weakly_canonical(dir / std::to_string(shard)));
    EXPECT_EQ(snaps[shard].items, 6);
  }

  // A restored pair of shards holds exactly what was saved: their own snapshots match byte for byte.
  Server ra(shard_options("into-ra", root)), rb(shard_options("into-rb", root));
  EXPECT_EQ(ra.restore_from(dir / "0"), 6);
  EXPECT_EQ(rb.restore_from(dir / "1"), 6);
  ra.start();
  rb.start();
  Client restored(ra.endpoint() + "," + rb.endpoint(), co);
  const fs::path again = root / "again";
  restored.checkpoint_into(again.string());
  for (std::size_t shard = 0; shard < 2; ++shard) {
    const std::string file = "table-000.bin";
    expect_same(read_table_snapshot(dir / std::to_string(shard) / file),
                read_table_snapshot(again / std::to_string(shard) / file));
  }

  // It samples at once, the same keys the original shards draw, and keeps admitting inserts.
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> got = restored.sample(4).keys;
  // Well under the 5 s a parked sample would wait before timing out, with room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  std::vector<std::uint64_t> want = client.sample(4).keys;
  // Each client starts its sharded samples at a different shard, so the parts come in another order.
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  restored.insert(make_item(/*v=*/99));
  EXPECT_EQ(restored.info().inserts, 13);
  fs::remove_all(root);
}

// The first reward value of every item in a snapshot (make_item(v) stores v).
std::vector<float> values_of(const TableSnapshot& s) {
  std::vector<float> out;
  for (const auto& e : s.items)
    for (const auto& f : e.fields)
      if (f.name == "reward") out.push_back(*static_cast<const float*>(f.bytes.raw()));
  return out;
}

TEST(CheckpointerTest, RepartitionGivesEveryItemToExactlyOnePartWithFreshKeysAndSplitCounters) {
  // Two shards of 5 and 3 items (their keys overlap: each shard numbers its own from 0).
  std::vector<TableSnapshot> saved;
  for (int shard = 0; shard < 2; ++shard) {
    Table t(prioritized(16));
    for (int i = 0; i < (shard == 0 ? 5 : 3); ++i) ASSERT_TRUE(t.try_insert(make_item(static_cast<float>(10 * shard + i)), 1.0 + i));
    saved.push_back(t.snapshot());
  }
  for (int parts : {1, 3}) {
    std::vector<float> all;
    std::int64_t inserts = 0, limiter_inserts = 0;
    for (int part = 0; part < parts; ++part) {
      const TableSnapshot p = repartition(saved, part, parts);
      const auto v = values_of(p);
      all.insert(all.end(), v.begin(), v.end());
      inserts += p.inserts;
      limiter_inserts += p.limiter.inserts;
      // Fresh keys 0..n-1, and the remover knows each item once.
      ASSERT_EQ(p.next_key, static_cast<Key>(p.items.size()));
      std::vector<Key> order = p.remover_order;
      std::sort(order.begin(), order.end());
      for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], static_cast<Key>(i));
      EXPECT_EQ(order.size(), p.items.size());
      // A table restores from it and samples it.
      Table t(prioritized(16));
      t.restore(p);
      EXPECT_EQ(t.size(), static_cast<std::int64_t>(p.items.size()));
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, (std::vector<float>{0, 1, 2, 3, 4, 10, 11, 12})) << parts << " parts";
    EXPECT_EQ(inserts, 8);
    EXPECT_EQ(limiter_inserts, saved[0].limiter.inserts + saved[1].limiter.inserts);
  }
  // Interleaved (0, 10, 1, 11, 2, 12, 3, 4): position p goes to part p % parts.
  EXPECT_EQ(values_of(repartition(saved, 0, 2)), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(values_of(repartition(saved, 0, 3)), (std::vector<float>{0, 11, 3}));
}

TEST(CheckpointerTest, ServerRestoresItsShareOfDirectoriesSavedByAnotherShardCount) {
  const fs::path root = temp_dir("share");
  std::vector<fs::path> dirs;
  for (int shard = 0; shard < 3; ++shard) {
    Table t(prioritized(16));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(t.try_insert(make_item(static_cast<float>(10 * shard + i)), 1.0));
    dirs.push_back(root / std::to_string(shard));
    save_tables({t.snapshot()}, dirs.back());
  }
  std::int64_t items = 0;
  for (int part = 0; part < 2; ++part) {
    ServerOptions o;
    o.bind = "inproc://share-" + std::to_string(part);
    o.table = prioritized(16);
    Server s(o);
    items += s.restore_from(dirs, part, 2);
  }
  EXPECT_EQ(items, 12);
  fs::remove_all(root);
}

TEST(CheckpointerTest, CheckpointIntoADirectoryOutsideTheSnapshotRootIsRefused) {
  const fs::path root = temp_dir("outside");
  ServerOptions o = shard_options("outside", root / "checkpoints");
  Server server(o);
  server.start();
  ServerOptions no_root = shard_options("no-root", fs::path());
  no_root.snapshot_root.clear();
  Server closed(no_root);
  closed.start();
  ClientOptions co;
  co.timeout_ms = 5000;
  Client client(server.endpoint(), co);
  client.insert(make_item(/*v=*/1));
  for (const fs::path& bad : {root / "elsewhere", root / "checkpoints" / ".." / "escape", fs::path("/tmp")}) {
    try {
      client.checkpoint_into(bad.string());
      ADD_FAILURE() << "wrote a snapshot into " << bad;
    } catch (const std::exception& e) {
      EXPECT_TRUE(IsInvalidArgument(e)) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(root / "elsewhere"));
  EXPECT_FALSE(fs::exists(root / "escape"));
  Client to_closed(closed.endpoint(), co);
  EXPECT_THROW(to_closed.checkpoint_into((root / "checkpoints").string()), ReplayError);
  EXPECT_EQ(client.info().size, 1);  // still serving
  fs::remove_all(root);
}

TEST(CheckpointerTest, RestoreFromADirectoryWithoutSnapshotsIsNotFound) {
  const fs::path root = temp_dir("empty");
  Server server(shard_options("empty", root));
  try {
    server.restore_from(root / "nothing-here");
    ADD_FAILURE() << "restored from an empty directory";
  } catch (const ReplayError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace mnemo::replay
