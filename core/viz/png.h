// The one PNG writer: learning-curve plots (core/plot.h) and env frames (envs/image_io.h).
//
// Each row gets the PNG filter that predicts it best (libpng's minimum-sum-of-absolute-differences
// heuristic) and the rows are deflated by zlib at its default level: dynamic Huffman codes and a
// maintained, fuzzed compressor rather than a second hand-written one. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnemo::png {

// A PNG file of a `width` x `height` image with 8-bit samples, `channels` per pixel: 1 (grey),
// 3 (RGB) or 4 (RGBA, not premultiplied), rows top to bottom without padding. Throws mnemo::Error
// when a size is not positive, `channels` is another number, or `size` is not exactly
// width * height * channels bytes.
std::vector<std::uint8_t> encode(const std::uint8_t* pixels, std::size_t size, int width, int height, int channels);

}  // namespace mnemo::png
