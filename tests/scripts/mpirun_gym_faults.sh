#!/usr/bin/env bash
# An env server that dies under `mpirun -np 3 mnemo train` (learner, replay shard, actor) with a
# gym env: the actor fails with the bridge's error naming the env, the endpoint and the exit
# status, its rank starts it again (actor.restarts 1) with fresh servers, and the run trains to
# total_env_steps and exits 0. The env (mnemo_envs.examples:cartpole) dies once, at its 300th step.
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
MPIRUN=${2:-mpirun}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'pkill -9 -f "$OUT/" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$OUT"' EXIT
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
fail() {
  echo "FAILED: $*"
  for f in "$OUT"/run/logs/*.log; do [[ -f $f ]] && { echo "== $f"; tail -8 "$f"; }; done
  exit 1
}
/usr/bin/python3 -c 'import numpy, zmq' 2>/dev/null || python3 -c 'import numpy, zmq' 2>/dev/null ||
  { echo "SKIPPED: no python3 with numpy and pyzmq (Debian: python3-numpy python3-zmq)"; exit 77; }
timeout --kill-after=20 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$MNEMO" train \
  "$SRC/launch/configs/gym_cartpole_ppo.yaml" --run-dir "$OUT/run" --set learner.total_env_steps=20480 \
  --set actor.restarts=1 --set learner.actor_timeout_ms=3000 --set run.progress=false \
  --set "env.kwargs={die_at: 300, die_once: $OUT/died}" < /dev/null > "$OUT/out.txt" 2>&1 ||
  fail "mpirun exited with $? ($(tail -3 "$OUT/out.txt"))"
[[ -f $OUT/died ]] || fail "the env server never died"
steps=$(tail -1 "$OUT/run/metrics.jsonl" | sed -n 's/.*"env_steps": \([0-9]*\).*/\1/p')
((steps >= 20480)) || fail "trained on $steps env steps, not 20480"
grep -rhq "gym env 'mnemo_envs.examples:cartpole' at unix://.* exited before it replied (exit code 3" "$OUT/run/logs" ||
  fail "no log line names the env, the endpoint and the exit status"
grep -q "actor 0 runs as process .* (restart 1)" "$OUT/run/logs/rank-2.log" || fail "the actor was not restarted"
grep -rh "exited before it replied" "$OUT/run/logs" | head -1
echo "PASSED: the actor was restarted after its env server died and the run trained to $steps env steps"
