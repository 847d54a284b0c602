"""TensorBoard's own reader against a run directory's metrics.jsonl.

    tensorboard_reference.py RUN_DIR

Loads the run's event files with tensorboard's EventAccumulator (what `tensorboard --logdir` runs)
and checks that its scalars are exactly metrics.jsonl's: the same tags, and for each tag the same
steps with the same values (as float32, the precision of TensorBoard's scalars; NaN matches NaN).
metrics.jsonl's "time" (training seconds, continued across resumes) is no tag: TensorBoard keeps
the clock as each event's wall time. Exit code 0 when all of this holds.
"""
import json
import math
import os
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator


def main(run_dir):
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    expected = {}
    for row in rows:
        for key, value in row.items():
            if key in ("step", "time") or not isinstance(value, (int, float)):
                continue
            expected.setdefault(key, []).append((row["step"], float(np.float32(value))))
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    failures = []
    if tags != set(expected):
        failures.append("tags differ: only in TensorBoard %s, only in metrics.jsonl %s"
                        % (sorted(tags - set(expected)), sorted(set(expected) - tags)))
    for tag in sorted(tags & set(expected)):
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = expected[tag]
        same = len(got) == len(want) and all(
            gs == ws and (gv == wv or (math.isnan(gv) and math.isnan(wv))) for (gs, gv), (ws, wv) in zip(got, want))
        if not same:
            failures.append("%s: TensorBoard has %d points %s..., metrics.jsonl %d %s..." % (
                tag, len(got), got[:3], len(want), want[:3]))
    points = sum(len(v) for v in expected.values())
    print("tensorboard_reference: %s: %d tags, %d points: %s" % (
        run_dir, len(expected), points, "equal" if not failures else "%d differences" % len(failures)))
    for f in failures[:10]:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
