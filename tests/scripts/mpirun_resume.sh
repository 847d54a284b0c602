#!/usr/bin/env bash
# `mpirun -np NP mnemo train` with replay.checkpoint on an off-policy (uniform) table, then the same
# with --resume: passes when the replay ranks restore exactly as many items as the learner's
# checkpoint says its replay snapshot held (each shard process logs to logs/replay-K.log), and the
# resumed run trains on to its step count. By default 1 learner, 2 replay shards (each restores its
# own replay/<shard>/) and 1 actor; then a third session on one shard (NP - SHARDS + 1 ranks) takes
# the contents of all the saved shards (re-partitioned), and a fourth on two shards again splits the
# one saved shard between them.
set -euo pipefail
MNEMO=${1:?path to mnemo}
MPIRUN=${2:-mpirun}
NP=${3:-4}
SHARDS=${4:-2}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap '[[ -n "${MNEMO_KEEP:-}" ]] || rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
PER_UPDATE=512  # learner.batch_sequences 4 x actor.unroll_length 128
# Both runs together must end shortly before ctest's TIMEOUT (300 s): a hung job then fails here,
# with its output and its ranks stopped.
DEADLINE=$((SECONDS + ${MNEMO_TEST_TIMEOUT:-280}))
train() {
  local left=$((DEADLINE - SECONDS))
  if ((left < 1)); then left=1; fi
  timeout --kill-after=20 "$left" "$MPIRUN" --allow-run-as-root --oversubscribe -np "$NP" "$MNEMO" train "$@" \
    --set run.progress=false --set run.log_level=info < /dev/null > "$OUT/out.txt" 2>&1 ||
    { rc=$?; cat "$OUT/out.txt"; echo "mpirun failed with exit code $rc (124: out of time)"; exit 1; }
}
NP0=$NP
train "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run" --set topology.replay="$SHARDS" \
  --set replay.checkpoint=true --set replay.table.sampler=uniform --set replay.table.max_size=64 \
  --set learner.total_env_steps=$((3 * PER_UPDATE))
saved=$(sed -n 's/.*checkpoint .*000000000003 (update 3, .*, \([0-9]*\) replay items).*/\1/p' "$OUT/run/logs/rank-0.log")
echo "checkpoint 3 holds ${saved:-no} replay items"
test -n "$saved" && test "$saved" -gt 0

# Items held by checkpoint UPDATE, from the learner's log.
saved_at() {
  sed -n "s/.*checkpoint .*0000000000*$1 (update $1, .*, \([0-9]*\) replay items).*/\1/p" "$OUT/run/logs/rank-0.log" | tail -1
}
# Resumes to UPDATES updates with SHARDS_NOW shards; the shards must restore ITEMS items between them.
resume() {
  local updates=$1 shards_now=$2 items=$3
  shift 3
  rm -f "$OUT"/run/logs/replay-*.log
  NP=$((NP0 - SHARDS + shards_now))
  train --resume "$OUT/run" --set learner.total_env_steps=$((updates * PER_UPDATE)) --set topology.replay="$shards_now"
  restored=$(cat "$OUT"/run/logs/replay-*.log | sed -n 's/.*resume: replay shard [0-9]* restored \([0-9]*\) items.*/\1/p' |
    awk '{ s += $1; n += 1 } END { print s " " n }')
  echo "resumed replay shards (items, shards): $restored"
  test "$restored" = "$items $shards_now" || { echo "expected $items items over $shards_now shards"; exit 1; }
  grep -q " $updates updates" "$OUT/out.txt" || { cat "$OUT/out.txt"; echo "the resumed run did not reach update $updates"; exit 1; }
}
resume 5 "$SHARDS" "$saved"
resume 7 1 "$(saved_at 5)"
grep -q "re-partitioned over 1" "$OUT"/run/logs/replay-0.log || { echo "no re-partitioning on one shard"; exit 1; }
resume 9 2 "$(saved_at 7)"
