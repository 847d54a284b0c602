// Checkpointer: saves and restores the state of a server's tables (items, priorities, selector
// layouts, rate-limiter counters, the sampling generator), Reverb-style behind a small interface.
//
// The server takes a TableSnapshot of every table on its serving thread (a copy of the index, since
// stored items are immutable and shared) and hands them to save() on a thread of its own, so
// inserts and samples are held up only for the copy of the index, never for the disk. A checkpoint
// is one atomic directory (core/checkpoint.h: temp dir, fsync, rename, manifest with CRC32Cs), so a
// crash mid-write leaves the previous checkpoint in place.
//
// The table file format is native-endian binary (little-endian on every supported machine):
//   "MNRT" u32 | version u32 | name | signature | counters | limiter state | rng text |
//   u64 item count | per item: key u64, priority f64, times_sampled i64, u32 fields,
//                     per field: name, dtype u8, u32 ndim, i64 dims, codec u8, u64 nbytes, bytes |
//   u64 remover-order count | keys
// read_table_snapshot treats the file as untrusted: every count and length is checked against the
// bytes left in the file before anything is allocated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "replay/table.h"

namespace mnemo::replay {

class Checkpointer {
 public:
  virtual ~Checkpointer() = default;
  // Writes the snapshots as one complete checkpoint and returns where. Thread-safety: called from
  // one thread at a time (the server runs at most one save at once), never concurrently with load.
  virtual std::string save(const std::vector<TableSnapshot>& tables) = 0;
  // The newest complete checkpoint, nullopt when there is none. Throws ReplayError(kDataLoss) for
  // a checkpoint that verifies but cannot be parsed.
  virtual std::optional<std::vector<TableSnapshot>> load_latest() = 0;
};

// Checkpoints in numbered subdirectories of `dir` (one file per table), keeping the last
// `keep_last`. Corrupt or incomplete ones are skipped by load_latest with a warning.
class DirectoryCheckpointer : public Checkpointer {
 public:
  DirectoryCheckpointer(std::filesystem::path dir, int keep_last);
  std::string save(const std::vector<TableSnapshot>& tables) override;
  std::optional<std::vector<TableSnapshot>> load_latest() override;

 private:
  std::filesystem::path dir_;
  int keep_last_;
  std::int64_t next_step_ = 0;
};

// One table's snapshot to a file and back, and every table of a server into / out of a directory
// (for embedding replay contents in another checkpoint, e.g. a learner's).
void write_table_snapshot(const TableSnapshot& snap, const std::filesystem::path& file);
TableSnapshot read_table_snapshot(const std::filesystem::path& file);
void save_tables(const std::vector<TableSnapshot>& tables, const std::filesystem::path& dir);
std::vector<TableSnapshot> load_tables(const std::filesystem::path& dir);

// Part `part` of `parts` of one table's contents saved by several shards (`saved`, one snapshot per
// old shard, all of the same table), for a run with another shard count. The old shards' items are
// interleaved (item i of shard j at position i x saved.size() + j, so that age order survives) and
// position p goes to part p % parts: every item lands in exactly one part. Items get fresh keys;
// the counters and the rate limiter's counts are divided among the parts (sums preserved), and
// part k keeps old shard k's sampling state where there is one.
TableSnapshot repartition(const std::vector<TableSnapshot>& saved, int part, int parts);

}  // namespace mnemo::replay
