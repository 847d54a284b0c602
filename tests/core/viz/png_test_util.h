// A PNG decoder for tests of PNG writers (core/png, plots, env frames), independent of the writer:
// it checks the signature, every chunk's CRC-32 against a bit-by-bit reference, the IHDR fields,
// inflates the IDAT stream with zlib's uncompress (which checks the Adler-32) and undoes all five
// PNG filters. 8-bit grey, RGB and RGBA, not interlaced. Throws std::runtime_error on anything
// wrong, so a test built on it fails when the writer does.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace mnemo::png::testing {

inline std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t p) {
  return (std::uint32_t{b.at(p)} << 24) | (std::uint32_t{b.at(p + 1)} << 16) | (std::uint32_t{b.at(p + 2)} << 8) |
         b.at(p + 3);
}

// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: no table to get wrong.
inline std::uint32_t reference_crc32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t crc = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct DecodedPng {
  int width = 0, height = 0, bit_depth = 0, color_type = 0, channels = 0;
  std::vector<std::string> chunk_types;  // in file order
  std::vector<std::uint8_t> pixels;      // height * width * channels
};

inline DecodedPng decode_png(const std::vector<std::uint8_t>& png) {
  static const std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (png.size() < 8 || !std::equal(sig, sig + 8, png.begin())) throw std::runtime_error("bad PNG signature");
  DecodedPng d;
  std::vector<std::uint8_t> idat;
  bool seen_end = false;
  for (std::size_t p = 8; p < png.size();) {
    if (seen_end) throw std::runtime_error("bytes after IEND");
    if (p + 12 > png.size()) throw std::runtime_error("truncated chunk");
    const std::uint32_t len = be32(png, p);
    if (len > png.size() - p - 12) throw std::runtime_error("chunk overruns the file");
    const std::string type(png.begin() + static_cast<std::ptrdiff_t>(p + 4),
                           png.begin() + static_cast<std::ptrdiff_t>(p + 8));
    if (reference_crc32(&png[p + 4], len + 4) != be32(png, p + 8 + len)) throw std::runtime_error(type + " CRC mismatch");
    d.chunk_types.push_back(type);
    if (type == "IHDR") {
      if (len != 13 || d.chunk_types.size() != 1) throw std::runtime_error("IHDR is not a 13-byte first chunk");
      d.width = static_cast<int>(be32(png, p + 8));
      d.height = static_cast<int>(be32(png, p + 12));
      d.bit_depth = png[p + 16];
      d.color_type = png[p + 17];
      if (png[p + 18] != 0 || png[p + 19] != 0 || png[p + 20] != 0) throw std::runtime_error("unexpected IHDR methods");
    } else if (type == "IDAT") {
      idat.insert(idat.end(), png.begin() + static_cast<std::ptrdiff_t>(p + 8),
                  png.begin() + static_cast<std::ptrdiff_t>(p + 8 + len));
    } else if (type == "IEND") {
      seen_end = true;
    }
    p += 12 + len;
  }
  if (!seen_end) throw std::runtime_error("no IEND");
  if (d.bit_depth != 8) throw std::runtime_error("decoder handles 8-bit samples only");
  d.channels = d.color_type == 0 ? 1 : d.color_type == 2 ? 3 : d.color_type == 6 ? 4 : 0;
  if (d.channels == 0) throw std::runtime_error("colour type " + std::to_string(d.color_type) + " not handled");
  if (d.width <= 0 || d.height <= 0) throw std::runtime_error("empty image");

  const std::size_t stride = static_cast<std::size_t>(d.width) * static_cast<std::size_t>(d.channels);
  const std::size_t want = (stride + 1) * static_cast<std::size_t>(d.height);
  // One spare byte: an IDAT stream holding more than the image is an error, not a truncation.
  std::vector<std::uint8_t> raw(want + 1);
  uLongf got = static_cast<uLongf>(raw.size());
  const int rc = ::uncompress(raw.data(), &got, idat.data(), static_cast<uLong>(idat.size()));
  if (rc != Z_OK) throw std::runtime_error("IDAT does not inflate (zlib " + std::to_string(rc) + ")");
  if (got != want) throw std::runtime_error("IDAT has " + std::to_string(got) + " bytes, not " + std::to_string(want));

  const std::size_t bpp = static_cast<std::size_t>(d.channels);
  d.pixels.resize(stride * static_cast<std::size_t>(d.height));
  for (std::size_t y = 0; y < static_cast<std::size_t>(d.height); ++y) {
    const int filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* row = &d.pixels[y * stride];
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? row[i - bpp] : 0;
      const int b = y > 0 ? d.pixels[(y - 1) * stride + i] : 0;
      const int c = (y > 0 && i >= bpp) ? d.pixels[(y - 1) * stride + i - bpp] : 0;
      int pred;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
          break;
        }
        default: throw std::runtime_error("bad filter type " + std::to_string(filter));
      }
      row[i] = static_cast<std::uint8_t>(in[i] + pred);
    }
  }
  return d;
}

}  // namespace mnemo::png::testing
