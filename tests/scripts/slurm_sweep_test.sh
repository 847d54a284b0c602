#!/usr/bin/env bash
# `mnemo sweep --submit` against a real Slurm (label `slurm`; make test-slurm): a throwaway
# single-node cluster (tests/scripts/slurm_cluster.sh) runs
#   1. a 2 x 2 grid as job arrays (split in two by slurm.max_array_size 3): every trial finishes;
#   2. a trial requeued with `scontrol requeue` while it runs (the preemption path: SIGTERM,
#      checkpoint, requeue, run again): it resumes from its checkpoint and finishes all its updates;
#   3. multi-rank trials: learner, replay and two actor ranks under srun --mpi=pmix, one actor
#      killed (kill -9) while it runs, finishes with the other; a 3-rank trial under mpirun
#      inside the allocation (slurm.launcher: mpirun) finishes;
#   4. a 1000-trial random search: submitted (split at the cluster's MaxArraySize of 401, throttled),
#      cancelled while it runs, reported by --status and resumed (the unfinished trials submitted
#      again).
# Skipped (exit 77, with the reason) where Slurm is not installed or cannot start.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/scripts/slurm_cluster.sh"
slurm_start
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# The mpirun launcher runs as the test's user, root in containers.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$SL/work
mkdir -p "$W"
cd "$W" || exit 1
fail() { echo "FAILED: $*"; for f in "$W"/runs/*/slurm/*.out; do [[ -f $f ]] && { echo "== $f"; tail -15 "$f"; }; done; exit 1; }

spec() {  # name, trials' extra `set:` lines, extra `slurm:` lines, grid lines
  cat > "$W/$1.yaml" <<SPEC
name: $1
config: $SRC/launch/configs/cartpole_ppo.yaml
dir: $W/runs
seeds: [1]
grid:
$4
set:
  run.progress: false
  run.log_level: info
$2
slurm:
  time: "00:10:00"
  cpus_per_task: 1
$3
SPEC
}
submitted_job() { sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$1" | tail -1; }
all_done() { "$MNEMO" sweep --status "$1" | grep -q "^$2 done"; }

# 1. A grid as an array: every trial finishes.
spec grid "  learner.total_env_steps: 2048" "  max_parallel: 2
  max_array_size: 3" "  learner.ppo.lr: [1e-3, 2.5e-4]
  learner.ppo.ent_coef: [0.0, 0.01]"
"$MNEMO" sweep "$W/grid.yaml" --submit > "$W/grid.out" 2>&1 || fail "sweep --submit: $(cat "$W/grid.out")"
# max_array_size 3: trials 0-2 in one array, trial 3 in another (task id 0 + offset 3).
grep -q -- "--array=0-2%2" "$W/runs/grid/sweep-0.sbatch" || fail "array 0: $(grep -h array "$W"/runs/grid/*.sbatch)"
grep -q -- "--array=0%2" "$W/runs/grid/sweep-1.sbatch" || fail "array 1: $(grep -h array "$W"/runs/grid/*.sbatch)"
wait_for 300 "the grid's 4 trials" all_done "$W/runs/grid" 4 || fail "grid"
echo "ok: a 2 x 2 grid, split into two throttled arrays, finished every trial on Slurm"

# 2. Preemption: requeue a running trial once it has a checkpoint.
spec requeue "  learner.total_env_steps: 61440
  learner.checkpoint_every: 4" "" "  learner.ppo.lr: [2.5e-4]"
"$MNEMO" sweep "$W/requeue.yaml" --submit > "$W/requeue.out" 2>&1 || fail "sweep --submit: $(cat "$W/requeue.out")"
job=$(submitted_job "$W/requeue.out")
trial=$W/runs/requeue/lr=2.5e-4-seed1
has_checkpoint() { compgen -G "$trial/checkpoints/0*" > /dev/null; }
wait_for 300 "a checkpoint of the trial" has_checkpoint || fail "requeue: no checkpoint"
scontrol requeue "$job" || fail "scontrol requeue $job"
echo "requeued job $job"
wait_for 600 "the requeued trial" all_done "$W/runs/requeue" 1 || fail "requeue"
grep -q "resumed from" "$trial"/logs/rank-0.log || fail "the requeued trial did not resume from its checkpoint: $(grep -h 'run directory\|resumed' "$trial"/logs/rank-0.log)"
grep -q "\"updates\": 120" "$W/runs/requeue/done/lr=2.5e-4-seed1.json" ||
  fail "the requeued trial did not finish all 120 updates: $(cat "$W/runs/requeue/done/lr=2.5e-4-seed1.json")"
echo "ok: a requeued trial resumed from its checkpoint and finished all its updates"

# 3. Multi-rank trials. Under srun --mpi=pmix: learner, replay shard and two actor ranks, and an
#    actor killed (kill -9) while it runs: the trial finishes with the other. Under mpirun inside
#    the allocation (slurm.launcher: mpirun): learner, replay shard and actor.
spec ranks "  learner.total_env_steps: 40960
  learner.batch_sequences: 8
  learner.log_every: 1
  learner.actor_timeout_ms: 3000
  actor.restarts: 0" "  ntasks_per_node: 4" "  learner.ppo.lr: [2.5e-4]"
"$MNEMO" sweep "$W/ranks.yaml" --submit > "$W/ranks.out" 2>&1 || fail "sweep --submit: $(cat "$W/ranks.out")"
R3=$W/runs/ranks/lr=2.5e-4-seed1
has_updates() { [[ -f $R3/metrics.jsonl ]] && (($(wc -l < "$R3/metrics.jsonl") >= 5)); }
wait_for 300 "updates of the 4-rank trial" has_updates || fail "ranks: no updates"
victim=$(pgrep -f "mnemo actor $R3 --id 1 " | head -1)
[[ -n $victim ]] || fail "ranks: no process of actor 1"
kill -9 "$victim"
wait_for 300 "the 4-rank trial" all_done "$W/runs/ranks" 1 || fail "ranks"
for r in 0 1 2 3; do [[ -f "$R3/logs/rank-$r.log" ]] || fail "no log of rank $r"; done
grep -q "actor 1 lost" "$R3/logs/rank-0.log" || fail "ranks: the learner did not log the lost actor"
grep -q "\"updates\": 40" "$W/runs/ranks/done/lr=2.5e-4-seed1.json" || fail "ranks: $(cat "$W/runs/ranks/done/lr=2.5e-4-seed1.json")"
echo "ok: a 4-rank trial under srun --mpi=pmix lost an actor to kill -9 and finished with the other"

spec ranks_mpirun "  learner.total_env_steps: 4096" "  ntasks_per_node: 3
  launcher: mpirun" "  learner.ppo.lr: [2.5e-4]"
"$MNEMO" sweep "$W/ranks_mpirun.yaml" --submit > "$W/ranks_mpirun.out" 2>&1 || fail "sweep --submit: $(cat "$W/ranks_mpirun.out")"
grep -q "^mpirun" "$W/runs/ranks_mpirun/sweep.sbatch" || fail "ranks_mpirun: $(grep -v '^#' "$W/runs/ranks_mpirun/sweep.sbatch" | tail -3)"
wait_for 300 "the 3-rank trial under mpirun" all_done "$W/runs/ranks_mpirun" 1 || fail "ranks_mpirun"
for r in 0 1 2; do [[ -f "$W/runs/ranks_mpirun/lr=2.5e-4-seed1/logs/rank-$r.log" ]] || fail "no log of rank $r (mpirun)"; done
echo "ok: a 3-rank trial finished under mpirun inside the allocation"

# 4. A large sweep: 1000 trials of a random search. The cluster's MaxArraySize (401, read from
#    scontrol) splits it into three throttled arrays; it is cancelled after a few trials, reported
#    and resumed.
cat > "$W/big.yaml" <<SPEC
name: big
config: $SRC/launch/configs/cartpole_ppo.yaml
dir: $W/runs
seeds: [1]
search:
  samples: 1000
  seed: 3
  space:
    learner.ppo.lr: {log_uniform: [1.0e-4, 1.0e-2]}
set:
  learner.total_env_steps: 512
  run.progress: false
slurm:
  time: "00:10:00"
  cpus_per_task: 1
  max_parallel: 2
SPEC
"$MNEMO" sweep "$W/big.yaml" --submit > "$W/big.out" 2>&1 || fail "big sweep --submit: $(tail -5 "$W/big.out")"
B=$W/runs/big
for k in 0 1 2; do [[ -f $B/sweep-$k.sbatch ]] || fail "big: no sweep-$k.sbatch ($(ls "$B"))"; done
[[ ! -f $B/sweep-3.sbatch ]] || fail "big: more than three arrays"
grep -q -- "--array=0-400%2" "$B/sweep-0.sbatch" || fail "big: array 0 is $(grep -h -- --array "$B/sweep-0.sbatch")"
grep -q -- "--array=0-197%2" "$B/sweep-2.sbatch" || fail "big: array 2 is $(grep -h -- --array "$B/sweep-2.sbatch")"
jobs=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$W/big.out")
(($(wc -w <<< "$jobs") == 3)) || fail "big: $(wc -w <<< "$jobs") jobs submitted, not 3"
for j in $jobs; do
  scontrol show job "$j" | grep -q "ArrayTaskThrottle=2" || fail "big: job $j is not throttled: $(scontrol show job "$j" | head -3)"
done
# The summary line counts trials per state: "3 done  997 pending  (1000 trials)".
summary() { grep "(1000 trials)" "$@"; }
some_done() { "$MNEMO" sweep --status "$B" | summary | grep -Eq "(^| )([2-9]|[1-9][0-9]+) done"; }
wait_for 300 "two trials of the big sweep" some_done || fail "big: no trial finished"
# shellcheck disable=SC2086
scancel $jobs || fail "scancel $jobs"
none_left() { ! squeue -h -o %A | grep -q .; }
wait_for 120 "the cancelled arrays to leave the queue" none_left || fail "big: jobs left after scancel"
start=$SECONDS
"$MNEMO" sweep --status "$B" > "$W/big-status.out" || fail "big --status: $(tail -3 "$W/big-status.out")"
echo "--status of 1000 trials took $((SECONDS - start)) s: $(summary "$W/big-status.out")"
summary -q "$W/big-status.out" || fail "big --status: $(head -3 "$W/big-status.out")"
done_n=$(summary "$W/big-status.out" | sed -n 's/\(^\|.* \)\([0-9][0-9]*\) done.*/\2/p')
((done_n >= 2 && done_n < 1000)) || fail "big --status: $done_n trials done ($(summary "$W/big-status.out"))"
"$MNEMO" sweep --resume "$B" --submit > "$W/big-resume.out" 2>&1 || fail "big --resume --submit: $(tail -5 "$W/big-resume.out")"
again=$(sed -n 's/^wrote .*: \([0-9]*\) of 1000 trials as a Slurm array.*/\1/p' "$W/big-resume.out" | awk "{ s += \$1 } END { print s + 0 }")
((again == 1000 - done_n)) || fail "big: resume submitted $again trials, not the $((1000 - done_n)) unfinished ones"
# shellcheck disable=SC2046
scancel $(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$W/big-resume.out")
echo "ok: a 1000-trial sweep was submitted as three throttled arrays, cancelled after $done_n trials, reported and resumed ($again trials submitted again)"
