// lz4 / zstd field compression. See compression.h.
#include "replay/compression.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>
#include <limits>

#include "replay/errors.h"

namespace mnemo::replay {

const char* codec_name(Codec codec) {
  switch (codec) {
    case Codec::kNone: return "none";
    case Codec::kLz4: return "lz4";
    case Codec::kZstd: return "zstd";
  }
  return "invalid";
}

std::optional<Codec> codec_from_name(const std::string& name) {
  if (name == "none") return Codec::kNone;
  if (name == "lz4") return Codec::kLz4;
  if (name == "zstd") return Codec::kZstd;
  return std::nullopt;
}

Array compress(const Array& a, Codec codec, int level) {
  const std::size_t n = a.nbytes();
  switch (codec) {
    case Codec::kNone: return a;
    case Codec::kLz4: {
      if (n > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) throw Error("lz4: field of " + std::to_string(n) + " bytes is too large");
      const int bound = LZ4_compressBound(static_cast<int>(n));
      Array out = Array::zeros(DType::kUInt8, {bound});
      const int got = LZ4_compress_fast(static_cast<const char*>(a.raw()), static_cast<char*>(out.raw()),
                                        static_cast<int>(n), bound, level < 1 ? 1 : level);
      if (got <= 0) throw Error("lz4 compression failed");
      return Array::wrap(DType::kUInt8, {got}, out.raw(), out.owner());
    }
    case Codec::kZstd: {
      const std::size_t bound = ZSTD_compressBound(n);
      Array out = Array::zeros(DType::kUInt8, {static_cast<std::int64_t>(bound)});
      const std::size_t got = ZSTD_compress(out.raw(), bound, a.raw(), n, level < 1 ? 1 : level);
      if (ZSTD_isError(got)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(got));
      return Array::wrap(DType::kUInt8, {static_cast<std::int64_t>(got)}, out.raw(), out.owner());
    }
  }
  throw Error("invalid codec " + std::to_string(static_cast<int>(codec)));
}

void decompress(Codec codec, const void* src, std::size_t src_bytes, void* dst, std::size_t dst_bytes) {
  switch (codec) {
    case Codec::kNone:
      if (src_bytes != dst_bytes)
        throw ReplayError(ErrorCode::kDataLoss, "stored field has " + std::to_string(src_bytes) + " bytes, expected " +
                                                    std::to_string(dst_bytes));
      if (dst_bytes > 0) std::memcpy(dst, src, dst_bytes);
      return;
    case Codec::kLz4: {
      const int limit = std::numeric_limits<int>::max();
      if (src_bytes > static_cast<std::size_t>(limit) || dst_bytes > static_cast<std::size_t>(limit))
        throw ReplayError(ErrorCode::kDataLoss, "lz4 field is too large");
      const int got = LZ4_decompress_safe(static_cast<const char*>(src), static_cast<char*>(dst),
                                          static_cast<int>(src_bytes), static_cast<int>(dst_bytes));
      if (got < 0 || static_cast<std::size_t>(got) != dst_bytes)
        throw ReplayError(ErrorCode::kDataLoss, "lz4 field does not decompress to " + std::to_string(dst_bytes) + " bytes");
      return;
    }
    case Codec::kZstd: {
      const std::size_t got = ZSTD_decompress(dst, dst_bytes, src, src_bytes);
      if (ZSTD_isError(got) || got != dst_bytes)
        throw ReplayError(ErrorCode::kDataLoss, "zstd field does not decompress to " + std::to_string(dst_bytes) +
                                                    " bytes" + (ZSTD_isError(got) ? std::string(": ") + ZSTD_getErrorName(got) : ""));
      return;
    }
  }
  throw ReplayError(ErrorCode::kDataLoss, "invalid codec " + std::to_string(static_cast<int>(codec)));
}

}  // namespace mnemo::replay
