#!/usr/bin/env bash
# A run resumes on another topology: 1 learner and 1 actor, then 2 learners and 3 actors, then 1
# learner and 2 actors again (`mpirun -np N mnemo train --resume RUN_DIR --set topology...`). Each
# session must resume from the previous one's checkpoint and train on to its step count; actor
# processes take the session's config (RUN_DIR/session.yaml), so sync mode splits every update
# over the new actors and learners.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
MPIRUN=${2:-mpirun}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'pkill -9 -f "$OUT/" 2>/dev/null; rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
fail() { echo "FAILED: $*"; tail -5 "$OUT"/session-*.out; exit 1; }
session() {  # NAME NP TOTAL_STEPS ARGS...
  local name=$1 np=$2 steps=$3
  shift 3
  timeout --kill-after=20 150 "$MPIRUN" --allow-run-as-root --oversubscribe -np "$np" "$MNEMO" train "$@" \
    --set learner.total_env_steps="$steps" --set run.progress=false < /dev/null > "$OUT/session-$name.out" 2>&1 ||
    fail "$name: mpirun exited with $?"
  local got
  got=$(sed -n 's/^run .*: \([0-9]*\) env steps, .*/\1/p' "$OUT/session-$name.out" | tail -1)
  ((got >= steps)) || fail "$name: trained on $got env steps, not $steps"
  echo "ok: $name ($np ranks) reached $got env steps"
}
session first 3 4096 "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run"
session wider 6 12288 --resume "$OUT/run" --set topology.learners=2
grep -q "resumed from .* at update 8" "$OUT/session-wider.out" || fail "wider: did not resume from update 8"
grep -q "rank 1/6 role learner" "$OUT/session-wider.out" || fail "wider: no second learner"
session narrower 4 16384 --resume "$OUT/run" --set topology.learners=1
grep -q "resumed from .* at update 16" "$OUT/session-narrower.out" || fail "narrower: did not resume from update 16"
echo "PASSED"
