// Compression of large item fields (lz4 or zstd), configured per client.
//
// Pixel observations dominate replay memory and network traffic and compress several-fold, so a
// client may compress fields above a size threshold before sending them. The table keeps them
// compressed (memory and max_bytes count the compressed size) and decompresses each into its slot
// of the stacked batch when sampling, so the learner never sees the difference. Decompression is
// bounded by the size the table's signature implies, never by a size read from the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/array.h"

namespace mnemo::replay {

// Values travel on the wire: append, never reorder.
enum class Codec : std::uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

const char* codec_name(Codec codec);
// "none", "lz4" or "zstd"; nullopt for anything else.
std::optional<Codec> codec_from_name(const std::string& name);

// The compressed bytes of `a` as a uint8 array of the compressed length. `level`: zstd level
// (1..19) or lz4 acceleration (>= 1, 1 is the default and densest). Throws mnemo::Error on failure.
Array compress(const Array& a, Codec codec, int level);
// Decompresses `src_bytes` at `src` into exactly `dst_bytes` at `dst`. Throws ReplayError
// (kDataLoss) when the data is corrupt or does not decompress to exactly dst_bytes.
void decompress(Codec codec, const void* src, std::size_t src_bytes, void* dst, std::size_t dst_bytes);

}  // namespace mnemo::replay
