#!/usr/bin/env bash
# Faults under a plain `mpirun -np 4 mnemo train` (1 learner, 1 replay shard, 2 actor ranks):
#   1. kill -9 of an actor (actor.restarts 0): the run goes on with the other actor to
#      total_env_steps, both the actor rank and the learner log the loss, the final checkpoint is
#      written and mpirun exits 0;
#   2. the same with actor.restarts 1: the actor rank starts its actor again, and it rejoins;
#   3. `mnemo actor RUN_DIR` joins a running job (started with one actor rank) and streams into it
#      until the learner stops it;
#   4. kill -9 of the replay shard's process (sync mode, 1 learner, 1 shard, 1 actor): the replay
#      rank starts it again on the same endpoint, reports the items it held, the learner replans
#      the update and the run trains to the end, on sequences of the current parameters only
#      (policy_lag 0 in every metrics row: the sequences the replan superseded are dropped).
# Every wait is on a condition with a deadline.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
MPIRUN=${2:-mpirun}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'pkill -9 -f "$OUT/" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
fail() {
  echo "FAILED: $*"
  for f in "$OUT"/*/logs/*.log; do [[ -f $f ]] && { echo "== $f"; tail -8 "$f"; }; done
  exit 1
}
# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds; false after SECONDS.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
updates_at_least() { [[ -f $1/metrics.jsonl ]] && (($(wc -l < "$1/metrics.jsonl") >= $2)); }
actor_pid() { pgrep -f "mnemo actor $1 --id $2 " | head -1; }

# train NAME NP EXTRA...: starts mpirun in the background; its pid in $JOB.
train() {
  local name=$1 np=$2
  shift 2
  timeout --kill-after=20 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np "$np" "$MNEMO" train \
    "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/$name" --set learner.total_env_steps=61440 \
    --set learner.batch_sequences=8 --set learner.log_every=1 --set learner.actor_timeout_ms=3000 \
    --set run.progress=false "$@" < /dev/null > "$OUT/$name.out" 2>&1 &
  JOB=$!
}
finished() {  # NAME: mpirun exited 0 and the run trained to the end
  wait "$JOB" || fail "$1: mpirun exited with $? ($(tail -3 "$OUT/$1.out"))"
  local steps
  steps=$(tail -1 "$OUT/$1/metrics.jsonl" | sed -n 's/.*"env_steps": \([0-9]*\).*/\1/p')
  ((steps >= 61440)) || fail "$1: trained on $steps env steps, not 61440"
  ls "$OUT/$1/checkpoints" | grep -q "60" || fail "$1: no final checkpoint ($(ls "$OUT/$1/checkpoints"))"
}

echo "== 1. kill -9 of an actor, not restarted"
train kill 4 --set actor.restarts=0
wait_until 120 updates_at_least "$OUT/kill" 8 || fail "kill: no updates"
pid=$(actor_pid "$OUT/kill" 1)
[[ -n $pid ]] || fail "kill: no process of actor 1"
kill -9 "$pid"
finished kill
grep -q "actor 1 (process $pid) died: killed by signal 9" "$OUT/kill/logs/rank-3.log" || fail "kill: the actor rank did not log the death"
grep -q "actor 1 is not restarted" "$OUT/kill/logs/rank-3.log" || fail "kill: no word on the restart"
grep -q "actor 1 lost: no contact for" "$OUT/kill/logs/rank-0.log" || fail "kill: the learner did not log the loss"
grep "actor 1 lost" "$OUT/kill/logs/rank-0.log"

echo "== 2. kill -9 of an actor, restarted"
train restart 4 --set actor.restarts=1
wait_until 120 updates_at_least "$OUT/restart" 8 || fail "restart: no updates"
pid=$(actor_pid "$OUT/restart" 1)
[[ -n $pid ]] || fail "restart: no process of actor 1"
kill -9 "$pid"
wait_until 60 grep -q "actor 1 runs as process .* (restart 1)" "$OUT/restart/logs/rank-3.log" || fail "restart: not restarted"
finished restart
grep -Eq "actor 1 (re)?joined" "$OUT/restart/logs/rank-0.log" || fail "restart: the restarted actor did not rejoin"
grep -E "actor 1 (lost|joined|rejoined)" "$OUT/restart/logs/rank-0.log"

echo "== 3. an actor joins a running job"
train join 3
wait_until 120 updates_at_least "$OUT/join" 4 || fail "join: no updates"
"$MNEMO" actor "$OUT/join" > "$OUT/joiner.out" 2>&1 &
joiner=$!
finished join
wait "$joiner" || fail "join: the joining actor exited with $? ($(tail -3 "$OUT/joiner.out"))"
grep -q "actor 1 joined at update" "$OUT/join/logs/rank-0.log" || fail "join: the learner did not take the actor in"
steps=$(sed -n 's/.*actor 1 stopping after \([0-9]*\) env steps.*/\1/p' "$OUT/joiner.out")
((${steps:-0} > 0)) || fail "join: the joining actor streamed nothing"
echo "joining actor streamed $steps env steps"

echo "== 4. kill -9 of a replay shard"
train shard 3
wait_until 120 updates_at_least "$OUT/shard" 8 || fail "shard: no updates"
pid=$(pgrep -f "mnemo replay-shard $OUT/shard " | head -1)
[[ -n $pid ]] || fail "shard: no process of replay shard 0"
kill -9 "$pid"
finished shard
grep -q "replay shard 0 (process $pid) died: killed by signal 9 (Killed); it held [0-9]* items" "$OUT/shard/logs/rank-1.log" ||
  fail "shard: the replay rank did not log the death"
grep -q "replay shard 0 restarted as process" "$OUT/shard/logs/rank-1.log" || fail "shard: not restarted"
grep -q "replay shard 0 restarted at update [0-9]*: the actors make the next update's share again" "$OUT/shard/logs/rank-0.log" ||
  fail "shard: the learner did not replan"
lagged=$(grep -cE '"policy_lag": ([1-9]|0\.[0-9])' "$OUT/shard/metrics.jsonl")
((lagged == 0)) || fail "shard: $lagged updates trained on sequences of older parameters after the replan"
grep -E "replay shard 0 (\(process|restarted)" "$OUT"/shard/logs/rank-{0,1}.log
echo "PASSED"
