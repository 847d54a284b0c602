// `mnemo render`: records an env under a simple policy as an animated GIF or a folder of PNG
// frames, so that a person can see what an env looks like and does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "envs/recorder.h"

namespace mnemo::launch {

// The command line of `mnemo render`.
struct RenderArgs {
  std::string env;                // ENV: a registered env's name
  std::vector<std::string> sets;  // --set KEY=VALUE: an option of ENV (`corridor_length` or `env.corridor_length`)
  envs::RecordOptions record;     // --policy random|zero, --steps N, --seed S
  std::int64_t fps = 10;          // --fps F: GIF frame rate
  std::string out;                // --out FILE.gif|DIR
};

class CommandArgs;  // launch/command.h

// `mnemo render ENV --out FILE.gif|DIR [options]` (a row of command_table()): binds ENV and the
// flags to `r` and checks them once parsed (an unknown env is reported when it is made).
void render_command_line(CommandArgs& args, RenderArgs& r);
// Records the episode: an --out ending in .gif writes one animated GIF; anything else is a
// directory (created if needed) that receives frame_00000.png, frame_00001.png, ... Returns 0;
// throws ConfigError for bad input (unknown env or option, invalid value).
int render_command(RenderArgs& r);

}  // namespace mnemo::launch
