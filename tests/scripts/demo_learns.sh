#!/usr/bin/env bash
# The `make demo` job must reach a mean episode return of at least 475 on CartPole.
set -euo pipefail
MNEMO=${1:?path to mnemo}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$MNEMO" train "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run" --set run.progress=false \
  --set run.log_level=warn | tee "$OUT/out.txt"
ret=$(sed -n 's/.*recent return \([0-9.]*\).*/\1/p' "$OUT/out.txt" | tail -1)
echo "recent return: ${ret:-none}"
test -n "$ret" && awk -v r="$ret" 'BEGIN { exit !(r >= 475) }'
