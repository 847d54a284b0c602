#!/usr/bin/env bash
# TensorBoard's own reader (tensorboard's EventAccumulator, from build/venv) reads what a run wrote:
# a short CartPole run, resumed once (a second session appends a second event file), has exactly
# the scalars of its metrics.jsonl (tests/interop/tensorboard_reference.py), and a TensorBoard server
# on the run serves them (tests/interop/tensorboard_serve.py). Skipped without the venv.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
PY=${2:?python of build/venv}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[[ -x $PY ]] || { echo "SKIPPED: no $PY (make test-interop makes it: scripts/python-venv.sh)"; exit 77; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
run() {
  timeout --kill-after=10 300 "$MNEMO" train "$@" --set run.progress=false --set run.log_level=warn > "$OUT/out.txt" 2>&1 ||
    { echo "FAILED: mnemo train $* exited with $?"; tail -5 "$OUT/out.txt"; exit 1; }
}
run "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run" --set learner.total_env_steps=10240 \
  --set learner.checkpoint_every=10 --set evaluator.every=5 --set evaluator.episodes=4
run --resume "$OUT/run" --set learner.total_env_steps=20480
n=$(ls "$OUT"/run/events.out.tfevents.* | wc -l)
((n == 2)) || { echo "FAILED: $n event files, expected one per session (2)"; exit 1; }
"$PY" "$SRC/tests/interop/tensorboard_reference.py" "$OUT/run" || exit 1
# A real TensorBoard server: its HTTP API serves the same values.
"$PY" "$SRC/tests/interop/tensorboard_serve.py" "$OUT/run"
