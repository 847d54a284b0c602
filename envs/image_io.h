// Image files for looking at envs: animated GIF89a and PNG.
//
// GIF frames use one global palette: the exact colours when the frames use at most 256 (envs
// draw with a few flat colours, so this is the usual case and the GIF is lossless), otherwise a
// fixed 6x7x6 colour cube. PNGs come from mnemo's one PNG writer (core/png.h, zlib).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "envs/env.h"

namespace mnemo::envs {

// An animated, looping GIF of `frames` (all of the same size), `delay_cs` hundredths of a second
// per frame. Throws mnemo::Error on an empty or inconsistent frame list.
std::vector<std::uint8_t> encode_gif(const std::vector<Frame>& frames, int delay_cs);
// A truecolour (RGB, 8 bits) PNG of `frame`, by png::encode. Throws mnemo::Error on a frame whose
// buffer does not match its size.
std::vector<std::uint8_t> encode_png(const Frame& frame);
// Writes bytes to `path` with write_file_atomic (so a viewer never shows half a frame); throws
// mnemo::Error naming the path when it cannot.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

namespace detail {
// GIF's variable-width LZW code stream for palette indices < 2^min_code_size, packed LSB first
// (before it is cut into sub-blocks). Exposed for tests, which decode it back.
std::vector<std::uint8_t> gif_lzw(const std::uint8_t* indices, std::size_t n, int min_code_size);
}  // namespace detail

}  // namespace mnemo::envs
