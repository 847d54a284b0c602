#!/usr/bin/env bash
# Env steps/s of `mpirun -np 4 mnemo train` (1 learner, 1 replay shard, 2 actors; CartPole PPO in
# sync mode) before, during and after a kill -9 of one actor, from the run's own metrics.jsonl:
#   lost      actor.restarts 0: the other actor carries on alone;
#   restarted actor.restarts 1: the actor rank starts the actor again and it rejoins;
#   shard     the replay shard's process is killed instead: its rank restarts it (empty, sync mode)
#             and the learner replans the update; "items_lost" is what the shard held when last asked.
# "stall_s" is the longest gap between two updates after the kill (the learner waits for the lost
# actor's share until the roster declares it lost, learner.actor_timeout_ms, or until it is back).
# "lagged_updates" counts the updates that trained on sequences of older parameters.
# Prints one JSON line per case; the ratios compare windows of the same run.
#   bench/faults_bench.sh [MNEMO] [MPIRUN]
set -uo pipefail
MNEMO=$(realpath "${1:-build/mnemo}")
MPIRUN=${2:-mpirun}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
trap 'pkill -9 -f "$OUT/" 2>/dev/null; rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
UPDATES=240

one_case() {  # NAME RESTARTS [VICTIM: actor (default) or shard]
  local run=$OUT/$1
  timeout 600 "$MPIRUN" --allow-run-as-root --oversubscribe -np 4 "$MNEMO" train \
    "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$run" --set learner.total_env_steps=$((UPDATES * 1024)) \
    --set learner.batch_sequences=8 --set learner.log_every=1 --set learner.actor_timeout_ms=3000 \
    --set actor.restarts="$2" --set run.progress=false < /dev/null > "$OUT/$1.out" 2>&1 &
  local job=$! deadline=$((SECONDS + 300))
  until [[ -f $run/metrics.jsonl ]] && (($(wc -l < "$run/metrics.jsonl") >= UPDATES / 3)); do
    ((SECONDS < deadline)) || { echo "faults_bench: $1 made no progress" >&2; return 1; }
    sleep 0.1
  done
  local t_kill pid
  t_kill=$(tail -1 "$run/metrics.jsonl" | sed -n 's/.*"time": \([0-9.e+-]*\).*/\1/p')
  if [[ ${3:-actor} == shard ]]; then
    pid=$(pgrep -f "mnemo replay-shard $run " | head -1)
  else
    pid=$(pgrep -f "mnemo actor $run --id 1 " | head -1)
  fi
  kill -9 "$pid"
  wait "$job" || { echo "faults_bench: $1: mpirun exited with $?" >&2; return 1; }
  local lost lagged
  lost=$(sed -n 's/.*died: .*; it held \([0-9]*\) items.*/\1/p' "$run"/logs/rank-1.log | head -1)
  # Updates that trained on sequences of older parameters (sync mode: none in a healthy run).
  lagged=$(grep -cE '"policy_lag": ([1-9]|0\.[0-9])' "$run/metrics.jsonl")
  # rows: time env_steps
  sed -n 's/.*"time": \([0-9.e+-]*\), "env_steps": \([0-9]*\).*/\1 \2/p' "$run/metrics.jsonl" |
    awk -v name="$1" -v tk="$t_kill" -v warm=10 -v lost="${lost:-}" -v lagged="$lagged" '
      { t[NR] = $1; s[NR] = $2 }
      END {
        # before: rows warm..last row before the kill; after: from the end of the longest gap after it.
        for (i = 1; i <= NR && t[i] <= tk; ++i) kb = i
        gap = 0; ge = kb + 1
        for (i = kb + 1; i <= NR; ++i) if (t[i] - t[i - 1] > gap) { gap = t[i] - t[i - 1]; ge = i }
        before = (s[kb] - s[warm]) / (t[kb] - t[warm])
        after = (s[NR] - s[ge]) / (t[NR] - t[ge])
        printf "{\"bench\": \"kill\", \"case\": \"%s\", \"actors\": 2, \"before_sps\": %.0f, \"stall_s\": %.2f, \"after_sps\": %.0f, \"after_over_before\": %.3f, \"lagged_updates\": %d%s}\n", name, before, gap, after, after / before, lagged, lost == "" ? "" : ", \"items_lost\": " lost
      }'
}

one_case lost 0
one_case restarted 1
one_case shard 1 shard
