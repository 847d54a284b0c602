// The replay request/reply protocol: reserved field names and the encoding of item fields
// (compressed or not) shared by Server and Client.
//
// Requests and replies are wire::Messages (core/wire.h). An item travels as one field per item
// field. A compressed field travels as uint8 bytes under its own name plus a companion field
// "__z.<name>" holding int64 [codec, dtype, ndim, dims...]: the wire decoder keeps checking every
// frame against its declared shape, and the server can check the logical dtype/shape against the
// signature before it decompresses anything.
//
//   kInsert            item fields, "timeout_ms", ["table"], ["priority" float64]   -> kOk
//   kInsertBatch       k items' fields stacked [k, ...] (uncompressed), "timeout_ms", ["table"],
//                      ["priority" float64[k]]  -> kOk: "inserted" int64 (= k). Items go in in
//                      order; a batch the table cannot take at once waits like one insert, and a
//                      timeout reply says how many of its items went in
//   kSample            "n", "timeout_ms", ["table"]  -> kOk: stacked fields, "keys" int64[n],
//                      "probabilities", "weights", "priorities" float64[n]
//   kUpdatePriorities  "keys" int64[k], "priorities" float64[k], ["table"]  -> kOk: "updated"
//   kInfo              ["table"]  -> kOk: int64 scalars "size", "max_size", "inserts", "samples",
//                      "pending", "bytes", "evicted", bool "rate_limited", text "tables"
//   kConfigure         "rate_limited" bool, ["table"]  -> kOk
//   kCheckpoint        ["dir" text]  -> kOk: "path" text, "items" int64 (answered once on disk).
//                      Without "dir" the server writes a checkpoint into its own checkpoint_dir;
//                      with it, its tables' snapshots into that directory, which must lie under the
//                      server's snapshot_root (a learner embedding replay in its own checkpoint)
//   kShutdown                     -> kOk, then the server's run() returns
//   failures           -> kError: "message" text, "code" int32 (replay::ErrorCode), and "timeout"
//                         (bool) when a deadline passed
// A request the server could not decode is answered with request_id 0.
#pragma once

#include <cstddef>
#include <string>

#include "core/net/wire.h"
#include "replay/compression.h"
#include "replay/errors.h"
#include "replay/table.h"

namespace mnemo::replay {

// Field names the protocol reserves; an item cannot use them (nor names starting with "__").
inline constexpr const char* kTimeoutField = "timeout_ms";
inline constexpr const char* kCountField = "n";
inline constexpr const char* kKeysField = "keys";
inline constexpr const char* kMessageField = "message";
inline constexpr const char* kTimedOutField = "timeout";
inline constexpr const char* kTableField = "table";
inline constexpr const char* kPriorityField = "priority";
inline constexpr const char* kPrioritiesField = "priorities";
inline constexpr const char* kProbabilitiesField = "probabilities";
inline constexpr const char* kWeightsField = "weights";
inline constexpr const char* kCodeField = "code";
inline constexpr const char* kRateLimitedField = "rate_limited";
inline constexpr const char* kPathField = "path";
inline constexpr const char* kCompressedPrefix = "__z.";
inline constexpr const char* kInsertedField = "inserted";
bool is_reserved_field(const std::string& name);
// Fields of checkpoint requests and replies. Not reserved: those messages never carry an item.
inline constexpr const char* kDirField = "dir";
inline constexpr const char* kItemsField = "items";

// Adds item field `name` to `m`, compressed with `codec` when it has at least `min_bytes` bytes
// and compression actually saves space.
void add_item_field(wire::Message& m, const std::string& name, const Array& a, Codec codec, int level,
                    std::size_t min_bytes);
// The item fields of an insert request. Compressed fields are checked: their declared logical size
// must be within `max_logical_bytes` and the bytes must decompress to exactly that size. Throws
// ReplayError (kInvalidArgument / kDataLoss) naming the field.
EncodedItem item_from_request(const wire::Message& m, std::size_t max_logical_bytes);
// The k items of a kInsertBatch request: row i of every stacked field. With `share` the items
// are views into the message's frames (no copy; a frame is freed with the last of its items),
// else private copies (for tables whose remover may keep one item of a batch long after the rest).
// Throws ReplayError(kInvalidArgument) naming the field for compressed or reserved fields, fields
// whose first dimension differs, or an empty batch.
std::vector<EncodedItem> items_from_batch_request(const wire::Message& m, bool share);
// The per-item priorities of an insert or batch request (`count` items): the "priority" field,
// else `default_priority` for each. Throws ReplayError(kInvalidArgument) for a malformed field.
std::vector<double> priorities_from_request(const wire::Message& m, std::size_t count, double default_priority);

// Reply helpers.
wire::Message error_reply(std::uint64_t request_id, ErrorCode code, const std::string& text, bool timed_out = false);
// An integer scalar field (int32 or int64); throws ReplayError(kInvalidArgument) otherwise.
std::int64_t int_field(const wire::Message& m, const char* name);

}  // namespace mnemo::replay
