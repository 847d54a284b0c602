// Image files for looking at envs: animated GIF89a and PNG, written without external libraries.
//
// GIF frames use one global palette: the exact colours when the frames use at most 256 (envs
// draw with a few flat colours, so this is the usual case and the GIF is lossless), otherwise a
// fixed 6x7x6 colour cube. PNGs are stored uncompressed inside a valid zlib stream, which keeps
// the writer tiny and free of a zlib dependency; they are for inspection, not archiving.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// An animated, looping GIF of `frames` (all of the same size), `delay_cs` hundredths of a second
// per frame. Throws mnemo::Error on an empty or inconsistent frame list.
std::vector<std::uint8_t> encode_gif(const std::vector<Frame>& frames, int delay_cs);
// A truecolour (RGB, 8 bits) PNG of `frame`.
std::vector<std::uint8_t> encode_png(const Frame& frame);
// Writes bytes to `path`; throws mnemo::Error naming the path when it cannot.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

namespace detail {
// GIF's variable-width LZW code stream for palette indices < 2^min_code_size, packed LSB first
// (before it is cut into sub-blocks). Exposed for tests, which decode it back.
std::vector<std::uint8_t> gif_lzw(const std::uint8_t* indices, std::size_t n, int min_code_size);
// CRC-32 (ISO-HDLC, as PNG uses), exposed for tests.
std::uint32_t crc32(const std::uint8_t* data, std::size_t n, std::uint32_t crc = 0);
}  // namespace detail

}  // namespace mnemo::envs
