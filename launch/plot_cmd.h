// `mnemo plot`: learning curves from run directories to PNG or SVG, without Python. Reading,
// averaging and drawing live in core/plot.h, where they are unit-tested; this is the command
// line and the expansion of sweep directories into their trials.
#pragma once

#include "core/viz/plot.h"

namespace mnemo::launch {

class CommandArgs;  // launch/command.h

// `mnemo plot RUN_DIR... --metric NAME --out FILE.png|FILE.svg [options]` (a row of
// command_table()): binds the runs and the flags to `a` and checks them once parsed: a missing
// --metric, --out or run, an --out that is neither .png nor .svg, --band without --mean, a size
// outside 200..8000 are ConfigErrors naming the flag.
void plot_command_line(CommandArgs& args, plot::PlotOptions& a);
// Replaces each sweep directory among a.runs by its trials' run directories, plots (run_plot)
// and prints the summary line. Returns 0; throws ConfigError for unreadable input.
int plot_command(plot::PlotOptions& a);

}  // namespace mnemo::launch
