// The GIF encoder; PNGs and files through core/.
#include "envs/image_io.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/viz/png.h"

namespace mnemo::envs {
namespace detail {
namespace {

// Packs variable-width codes least significant bit first, as GIF's LZW stream wants.
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  void write(std::uint32_t code, int bits) {
    acc_ |= static_cast<std::uint64_t>(code) << nbits_;
    nbits_ += bits;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<std::uint8_t>(acc_ & 0xFF));
      acc_ >>= 8;
      nbits_ -= 8;
    }
  }
  void flush() {
    if (nbits_ > 0) out_.push_back(static_cast<std::uint8_t>(acc_ & 0xFF));
    acc_ = 0;
    nbits_ = 0;
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::uint64_t acc_ = 0;
  int nbits_ = 0;
};

// Open-addressing map from (prefix code, next index) to code; 4096 codes at most, so 8192 slots
// keep probes short, and clearing is a small fill rather than a reallocation.
class CodeTable {
 public:
  void clear() { keys_.fill(-1); }
  int find(std::int32_t key) const {
    for (std::uint32_t h = hash(key);; h = (h + 1) & kMask) {
      if (keys_[h] == key) return codes_[h];
      if (keys_[h] < 0) return -1;
    }
  }
  void insert(std::int32_t key, int code) {
    std::uint32_t h = hash(key);
    while (keys_[h] >= 0) h = (h + 1) & kMask;
    keys_[h] = key;
    codes_[h] = static_cast<std::int16_t>(code);
  }

 private:
  static constexpr std::uint32_t kMask = 8191;
  static std::uint32_t hash(std::int32_t key) { return (static_cast<std::uint32_t>(key) * 2654435761u) >> 19 & kMask; }
  std::array<std::int32_t, 8192> keys_;
  std::array<std::int16_t, 8192> codes_;
};

}  // namespace

std::vector<std::uint8_t> gif_lzw(const std::uint8_t* indices, std::size_t n, int min_code_size) {
  MNEMO_CHECK(min_code_size >= 2 && min_code_size <= 8, "GIF min code size ", min_code_size);
  std::vector<std::uint8_t> out;
  BitWriter bits(out);
  const int clear = 1 << min_code_size, eoi = clear + 1;
  int code_size = min_code_size + 1;
  int next = eoi + 1;
  auto table = std::make_unique<CodeTable>();
  table->clear();
  bits.write(static_cast<std::uint32_t>(clear), code_size);
  if (n == 0) {
    bits.write(static_cast<std::uint32_t>(eoi), code_size);
    bits.flush();
    return out;
  }
  // Every emitted code makes the decoder add a table entry one code later; the encoder mirrors
  // that bookkeeping (next, code_size) exactly so that both switch code widths at the same code.
  auto after_emit = [&] {
    ++next;
    if (next - 1 >= (1 << code_size) && code_size < 12) ++code_size;
  };
  int prefix = indices[0];
  for (std::size_t i = 1; i < n; ++i) {
    const int c = indices[i];
    const std::int32_t key = (prefix << 8) | c;
    const int found = table->find(key);
    if (found >= 0) {
      prefix = found;
      continue;
    }
    bits.write(static_cast<std::uint32_t>(prefix), code_size);
    table->insert(key, next);
    after_emit();
    if (next - 1 == 4095) {
      // The table is full: start over, as every GIF decoder expects.
      bits.write(static_cast<std::uint32_t>(clear), code_size);
      table->clear();
      code_size = min_code_size + 1;
      next = eoi + 1;
    }
    prefix = c;
  }
  bits.write(static_cast<std::uint32_t>(prefix), code_size);
  after_emit();
  bits.write(static_cast<std::uint32_t>(eoi), std::min(code_size, 12));
  bits.flush();
  return out;
}

}  // namespace detail

namespace {

void put16le(std::vector<std::uint8_t>& out, int v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
}

std::uint32_t rgb_key(const std::uint8_t* p) { return (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2]; }

}  // namespace

std::vector<std::uint8_t> encode_gif(const std::vector<Frame>& frames, int delay_cs) {
  if (frames.empty()) throw Error("gif: no frames to write");
  const int w = frames[0].width, h = frames[0].height;
  if (w <= 0 || h <= 0 || w > 65535 || h > 65535) throw Error("gif: frame size " + std::to_string(w) + "x" + std::to_string(h));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].width != w || frames[i].height != h || frames[i].rgb.size() != static_cast<std::size_t>(w) * h * 3)
      throw Error("gif: frame " + std::to_string(i) + " is " + std::to_string(frames[i].width) + "x" +
                  std::to_string(frames[i].height) + " but frame 0 is " + std::to_string(w) + "x" + std::to_string(h));
  }
  // Palette: exact when the frames use at most 256 colours.
  std::unordered_map<std::uint32_t, std::uint8_t> exact;
  bool fits = true;
  for (const Frame& f : frames) {
    for (std::size_t p = 0; p < f.rgb.size() && fits; p += 3) {
      const std::uint32_t key = rgb_key(&f.rgb[p]);
      if (exact.count(key) == 0) {
        if (exact.size() == 256) fits = false;
        else exact.emplace(key, static_cast<std::uint8_t>(exact.size()));
      }
    }
    if (!fits) break;
  }
  std::vector<std::uint32_t> palette;
  if (fits) {
    palette.resize(exact.size());
    for (const auto& [key, index] : exact) palette[index] = key;
  } else {
    for (int r = 0; r < 6; ++r)
      for (int g = 0; g < 7; ++g)
        for (int b = 0; b < 6; ++b)
          palette.push_back((std::uint32_t(r * 255 / 5) << 16) | (std::uint32_t(g * 255 / 6) << 8) | std::uint32_t(b * 255 / 5));
  }
  int bits = 1;
  while ((1 << bits) < static_cast<int>(palette.size())) ++bits;
  const int table_size = 1 << bits;
  const int min_code_size = std::max(2, bits);

  std::vector<std::uint8_t> out = {'G', 'I', 'F', '8', '9', 'a'};
  put16le(out, w);
  put16le(out, h);
  out.push_back(static_cast<std::uint8_t>(0x80 | (7 << 4) | (bits - 1)));  // global table, 8-bit colour
  out.push_back(0);                                                         // background colour
  out.push_back(0);                                                         // square pixels
  for (int i = 0; i < table_size; ++i) {
    const std::uint32_t c = i < static_cast<int>(palette.size()) ? palette[i] : 0;
    out.push_back(static_cast<std::uint8_t>(c >> 16));
    out.push_back(static_cast<std::uint8_t>(c >> 8));
    out.push_back(static_cast<std::uint8_t>(c));
  }
  // NETSCAPE2.0: loop forever.
  const std::uint8_t loop[] = {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 0x03, 0x01, 0x00, 0x00, 0x00};
  out.insert(out.end(), std::begin(loop), std::end(loop));

  std::vector<std::uint8_t> indices(static_cast<std::size_t>(w) * h);
  for (const Frame& f : frames) {
    for (std::size_t p = 0; p < indices.size(); ++p) {
      const std::uint8_t* c = &f.rgb[p * 3];
      indices[p] = fits ? exact[rgb_key(c)]
                        : static_cast<std::uint8_t>((c[0] * 5 + 127) / 255 * 42 + (c[1] * 6 + 127) / 255 * 6 +
                                                    (c[2] * 5 + 127) / 255);
    }
    // Graphic control extension: no disposal, the frame's delay, no transparency.
    out.insert(out.end(), {0x21, 0xF9, 0x04, 0x00});
    put16le(out, std::clamp(delay_cs, 0, 65535));
    out.insert(out.end(), {0x00, 0x00});
    out.push_back(0x2C);
    put16le(out, 0);
    put16le(out, 0);
    put16le(out, w);
    put16le(out, h);
    out.push_back(0);  // no local table, not interlaced
    out.push_back(static_cast<std::uint8_t>(min_code_size));
    const std::vector<std::uint8_t> data = detail::gif_lzw(indices.data(), indices.size(), min_code_size);
    for (std::size_t i = 0; i < data.size(); i += 255) {
      const std::size_t len = std::min<std::size_t>(255, data.size() - i);
      out.push_back(static_cast<std::uint8_t>(len));
      out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(i), data.begin() + static_cast<std::ptrdiff_t>(i + len));
    }
    out.push_back(0);
  }
  out.push_back(0x3B);
  return out;
}

std::vector<std::uint8_t> encode_png(const Frame& frame) {
  return mnemo::png::encode(frame.rgb.data(), frame.rgb.size(), frame.width, frame.height, /*channels=*/3);
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace mnemo::envs
