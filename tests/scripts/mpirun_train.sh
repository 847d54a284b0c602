#!/usr/bin/env bash
# `mpirun -np NP mnemo train`: by default 1 learner, 1 replay shard and 1 actor in separate
# processes over tcp loopback; extra arguments are passed to `mnemo train` (e.g. --set
# topology.replay=2 with NP=4 for two replay shards). Passes when the run exits cleanly and has
# learned (recent return far above the ~22 of a random policy).
set -euo pipefail
MNEMO=${1:?path to mnemo}
MPIRUN=${2:-mpirun}
NP=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# A hung job fails here, with its ranks stopped, shortly before ctest's TIMEOUT (600 s) would fire.
LIMIT=${MNEMO_TEST_TIMEOUT:-570}
timeout --kill-after=20 "$LIMIT" "$MPIRUN" --allow-run-as-root --oversubscribe -np "$NP" "$MNEMO" train \
  "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run" --set learner.total_env_steps=80000 \
  --set run.progress=false --set run.log_level=warn "$@" < /dev/null | tee "$OUT/out.txt" ||
  { rc=$?; echo "mpirun failed with exit code $rc (124: not done within ${LIMIT} s)"; exit 1; }
ret=$(sed -n 's/.*recent return \([0-9.]*\).*/\1/p' "$OUT/out.txt" | tail -1)
echo "recent return: ${ret:-none}"
for r in $(seq 0 $((NP - 1))); do test -f "$OUT/run/logs/rank-$r.log" || { echo "missing log of rank $r"; exit 1; }; done
if [[ "$*" == *topology.evaluator=true* ]]; then
  grep -q '"eval_return"' "$OUT/run/metrics.jsonl" || { echo "no evaluation in the metrics"; exit 1; }
  grep '"eval_update"' "$OUT/run/metrics.jsonl" | tail -1
fi
test -n "$ret" && awk -v r="$ret" 'BEGIN { exit !(r > 100) }'
