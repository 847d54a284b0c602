#!/usr/bin/env bash
# The `make demo` job (or another config, the second argument) must reach a mean episode return
# of at least 475 on CartPole (or the third argument).
set -euo pipefail
MNEMO=${1:?path to mnemo}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG=${2:-$SRC/launch/configs/cartpole_ppo.yaml}
THRESHOLD=${3:-475}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# A hung run fails here, stopped, shortly before ctest's TIMEOUT (900 s) would fire.
LIMIT=${MNEMO_TEST_TIMEOUT:-870}
timeout --kill-after=20 "$LIMIT" "$MNEMO" train "$CONFIG" --run-dir "$OUT/run" \
  --set run.progress=false --set run.log_level=warn | tee "$OUT/out.txt" ||
  { rc=$?; echo "mnemo train failed with exit code $rc (124: not done within ${LIMIT} s)"; exit 1; }
ret=$(sed -n 's/.*recent return \([0-9.]*\).*/\1/p' "$OUT/out.txt" | tail -1)
echo "recent return: ${ret:-none}"
test -n "$ret" && awk -v r="$ret" -v t="$THRESHOLD" 'BEGIN { exit !(r >= t) }'
