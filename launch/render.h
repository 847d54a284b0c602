// `mnemo render`: records an env under a simple policy as an animated GIF or a folder of PNG
// frames, so that a person can see what an env looks like and does.
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// args: everything after `render`:
//   ENV [--set KEY=VALUE]... [--policy random|zero] [--steps N] [--seed S] [--fps F]
//   --out FILE.gif|DIR
// KEY is an option of ENV (`corridor_length` or `env.corridor_length`). An --out ending in .gif
// writes one animated GIF; anything else is a directory (created if needed) that receives
// frame_00000.png, frame_00001.png, ... Returns 0 on success, 2 for bad input (unknown env,
// option or flag, invalid value; the message on stderr names it), 1 when writing fails.
int render_main(const std::vector<std::string>& args);

}  // namespace mnemo::launch
