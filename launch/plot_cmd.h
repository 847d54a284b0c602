// `mnemo plot`: learning curves from run directories to PNG or SVG, without Python. Reading,
// averaging and drawing live in core/plot.h, where they are unit-tested; this is the command.
#pragma once

#include <string>
#include <vector>

namespace mnemo::launch {

// args: everything after `plot`:
//   RUN_DIR... --metric NAME --out FILE.png|FILE.svg [--x COLUMN] [--mean [--band minmax|std]]
//   [--title TEXT] [--width PX] [--height PX]
// Returns 0 on success (a summary line on stdout), 2 for bad input (a flag, a missing metric,
// no runs, an unreadable metrics file; the message on stderr names it, with the usage), 1 when
// writing the image fails.
int plot_main(const std::vector<std::string>& args);

}  // namespace mnemo::launch
