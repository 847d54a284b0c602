#!/usr/bin/env python3
"""The table of the language-pretraining comparison (docs/results.md) from a finished sweep of
launch/configs/sweeps/dt_lm_pendulum.yaml or dt_lm_key_to_door.yaml:

    scripts/dt-lm-table.py runs/dt_lm_pendulum [--random -1201.5]
    scripts/dt-lm-table.py runs/dt_lm_key_to_door --metric eval_success --random 0.069

For each dataset and variant, over the seeds: the final evaluation return (mean, min, max; the
evaluation at the last update, 20 episodes), the mean evaluation return over all evaluations (the
area under the curve, per evaluation), and the updates to reach 90% of the scratch runs' final
improvement over a random policy: the first evaluation with return >= R_random + 0.9 *
(R_scratch - R_random), where R_scratch is the mean final return of the scratch variant on that
dataset. Pendulum's returns are negative, so "90% of the final return" is taken over the random
policy's return (--random: the mean return of `mnemo collect --policy random`, which
scripts/dt-lm-data.sh prints; data/pendulum_medium_replay.parts/random.h5). Runs that never reach
it count as not reached ("-"). --metric picks another evaluation column (eval_success on
Key-to-Door, whose --random is the success rate of the random data). Trials are named
VARIANT-dataset=D-seedS, or VARIANT-seedS in a sweep over one dataset. Needs only the Python
standard library.
"""
import argparse
import csv
import os
import re
import statistics
import sys


def curve(run_dir, metric):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r.get(metric)]
    return [(int(r["updates"]), float(r[metric])) for r in rows]


def base_dataset(sweep_dir):
    """The dataset of the sweep's base config (base.yaml), for trials that do not name one."""
    with open(os.path.join(sweep_dir, "base.yaml")) as f:
        m = re.search(r'^\s+dataset:\s*"?([^"\s#]+)', f.read(), re.M)
    return m.group(1).replace("/", "_") if m else "the config's"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep_dir")
    p.add_argument("--random", type=float, default=-1201.5, help="a random policy's mean return")
    p.add_argument("--metric", default="eval_return", help="the metrics.csv column to compare")
    a = p.parse_args()
    fmt = ".0f" if a.metric == "eval_return" else ".3f"
    trials = {}
    with open(os.path.join(a.sweep_dir, "trials.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            m = re.match(r"(.+?)(?:-dataset=(.+))?-seed(\d+)$", row["trial"])
            if not m:
                sys.exit(f"dt-lm-table: trial {row['trial']} is not VARIANT-dataset=D-seedS or VARIANT-seedS")
            run = os.path.join(a.sweep_dir, row["trial"])
            if not os.path.exists(os.path.join(a.sweep_dir, "done", row["trial"] + ".json")):
                print(f"dt-lm-table: {row['trial']} has not finished; left out", file=sys.stderr)
                continue
            trials.setdefault(m.group(2) or base_dataset(a.sweep_dir), {}).setdefault(m.group(1), []).append(curve(run, a.metric))
    print(f"| dataset | variant | seeds | final {a.metric} (mean, min..max) | mean over evaluations | "
          "updates to 90% of scratch (per seed) |")
    print("|---|---|---|---|---|---|")
    for dataset, variants in trials.items():
        if "scratch" not in variants:
            sys.exit(f"dt-lm-table: no finished scratch runs on {dataset}")
        scratch_final = statistics.mean(c[-1][1] for c in variants["scratch"])
        threshold = a.random + 0.9 * (scratch_final - a.random)
        for variant, curves in variants.items():
            finals = [c[-1][1] for c in curves]
            auc = statistics.mean(statistics.mean(r for _, r in c) for c in curves)
            reach = []
            for c in curves:
                hit = next((u for u, r in c if r >= threshold), None)
                reach.append("-" if hit is None else str(hit))
            print(f"| `{dataset}` | `{variant}` | {len(curves)} | "
                  f"{statistics.mean(finals):{fmt}} ({min(finals):{fmt}}..{max(finals):{fmt}}) | {auc:{fmt}} | "
                  f"{', '.join(reach)} |")
        print(f"| | threshold | | {threshold:{fmt}} (scratch final {scratch_final:{fmt}}, random {a.random:{fmt}}) | | |")


if __name__ == "__main__":
    main()
