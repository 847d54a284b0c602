#!/usr/bin/env bash
# `mnemo sweep --submit` against a real Slurm (label `slurm`; make test-slurm): a throwaway
# single-node cluster (tests/scripts/slurm_cluster.sh) runs
#   1. a 2 x 2 grid as job arrays (split in two by the cluster's MaxArraySize of 3): every trial
#      finishes;
#   2. a trial requeued with `scontrol requeue` while it runs (the preemption path: SIGTERM,
#      checkpoint, requeue, run again): it resumes from its checkpoint and finishes all its updates;
#   3. a multi-rank trial (learner, replay and actor ranks under srun --mpi=pmix): it finishes.
# Skipped (exit 77, with the reason) where Slurm is not installed or cannot start.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/scripts/slurm_cluster.sh"
slurm_start
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
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
spec grid "  learner.total_env_steps: 2048" "  max_parallel: 2" "  learner.ppo.lr: [1e-3, 2.5e-4]
  learner.ppo.ent_coef: [0.0, 0.01]"
"$MNEMO" sweep "$W/grid.yaml" --submit > "$W/grid.out" 2>&1 || fail "sweep --submit: $(cat "$W/grid.out")"
# MaxArraySize is 3 here: trials 0-2 in one array, trial 3 in another (task id 0 + offset 3).
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

# 3. A multi-rank trial: learner, replay shard and actor as three ranks under srun --mpi=pmix.
spec ranks "  learner.total_env_steps: 4096" "  ntasks_per_node: 3" "  learner.ppo.lr: [2.5e-4]"
"$MNEMO" sweep "$W/ranks.yaml" --submit > "$W/ranks.out" 2>&1 || fail "sweep --submit: $(cat "$W/ranks.out")"
wait_for 300 "the 3-rank trial" all_done "$W/runs/ranks" 1 || fail "ranks"
for r in 0 1 2; do [[ -f "$W/runs/ranks/lr=2.5e-4-seed1/logs/rank-$r.log" ]] || fail "no log of rank $r"; done
echo "ok: a 3-rank trial finished under srun --mpi=pmix"
