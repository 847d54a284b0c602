// PNG encoding on zlib. See png.h.
#include "core/viz/png.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/check.h"

namespace mnemo::png {
namespace {

// Decoders accept any IDAT split; bounded chunks keep each CRC pass and length field small.
constexpr std::size_t kMaxIdatBytes = 1u << 20;

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int k = 3; k >= 0; --k) out.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}

void put_chunk(std::vector<std::uint8_t>& png, const char* type, const std::uint8_t* data, std::size_t n) {
  put_be32(png, static_cast<std::uint32_t>(n));
  const std::size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data, data + n);
  // The CRC covers the type and the data, not the length.
  put_be32(png, static_cast<std::uint32_t>(::crc32(0L, &png[start], static_cast<uInt>(png.size() - start))));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
}

// Filtered scanlines, each led by its filter type. Filters turn flat runs and gradients into runs
// of zeros, which is most of what deflate then gains on drawn images.
std::vector<std::uint8_t> filter_rows(const std::uint8_t* pixels, std::size_t stride, int height, int bpp) {
  std::vector<std::uint8_t> raw;
  raw.reserve((stride + 1) * static_cast<std::size_t>(height));
  std::vector<std::uint8_t> cand[5];
  for (auto& c : cand) c.resize(stride);
  const std::vector<std::uint8_t> zero_row(stride, 0);
  const auto b = static_cast<std::size_t>(bpp);
  for (int y = 0; y < height; ++y) {
    const std::uint8_t* row = pixels + static_cast<std::size_t>(y) * stride;
    const std::uint8_t* up = y > 0 ? row - stride : zero_row.data();
    long best_cost = std::numeric_limits<long>::max();
    int best = 0;
    for (int f = 0; f < 5; ++f) {
      long cost = 0;
      for (std::size_t i = 0; i < stride; ++i) {
        const int left = i >= b ? row[i - b] : 0, above = up[i], diag = i >= b ? up[i - b] : 0;
        const int pred = f == 0   ? 0
                         : f == 1 ? left
                         : f == 2 ? above
                         : f == 3 ? (left + above) / 2
                                  : paeth(left, above, diag);
        const auto v = static_cast<std::uint8_t>(row[i] - pred);
        cand[f][i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best_cost) {
        best_cost = cost;
        best = f;
      }
    }
    raw.push_back(static_cast<std::uint8_t>(best));
    raw.insert(raw.end(), cand[best].begin(), cand[best].end());
  }
  return raw;
}

std::vector<std::uint8_t> zlib_compress(const std::vector<std::uint8_t>& raw) {
  uLongf n = ::compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> z(n);
  const int rc = ::compress2(z.data(), &n, raw.data(), static_cast<uLong>(raw.size()), Z_DEFAULT_COMPRESSION);
  MNEMO_CHECK(rc == Z_OK, "png: zlib compress2 failed (", rc, ") for ", raw.size(), " bytes");
  z.resize(n);
  return z;
}

}  // namespace

std::vector<std::uint8_t> encode(const std::uint8_t* pixels, std::size_t size, int width, int height, int channels) {
  MNEMO_CHECK(width > 0 && height > 0, "png: empty image ", width, "x", height);
  MNEMO_CHECK(channels == 1 || channels == 3 || channels == 4, "png: ", channels,
              " channels per pixel (1 grey, 3 RGB or 4 RGBA)");
  const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  MNEMO_CHECK(stride <= std::numeric_limits<std::size_t>::max() / static_cast<std::size_t>(height) - 1,
              "png: image ", width, "x", height, " is too large");
  MNEMO_CHECK(size == stride * static_cast<std::size_t>(height) && (size == 0 || pixels != nullptr),
              "png: image buffer has ", size, " bytes for ", width, "x", height, " with ", channels, " channel(s)");

  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, static_cast<std::uint32_t>(width));
  put_be32(ihdr, static_cast<std::uint32_t>(height));
  const std::uint8_t color_type = channels == 1 ? 0 : channels == 3 ? 2 : 6;
  ihdr.insert(ihdr.end(), {8, color_type, 0, 0, 0});  // 8 bits, deflate, adaptive filters, no interlace
  put_chunk(png, "IHDR", ihdr.data(), ihdr.size());
  const std::vector<std::uint8_t> z = zlib_compress(filter_rows(pixels, stride, height, channels));
  for (std::size_t i = 0; i < z.size(); i += kMaxIdatBytes)
    put_chunk(png, "IDAT", z.data() + i, std::min(kMaxIdatBytes, z.size() - i));
  put_chunk(png, "IEND", nullptr, 0);
  return png;
}

}  // namespace mnemo::png
