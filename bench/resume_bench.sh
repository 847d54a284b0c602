#!/usr/bin/env bash
# What exact resume costs: env steps/s of the demo job (CartPole PPO, sync mode, embedded) with
# actor.exact_resume on (the actor leaves its state at every update) against off, alternating
# REPEATS times each in one run; the ratio compares the medians. Also the size of the actor state a
# checkpoint holds, and for an LSTM policy on masked CartPole with previous inputs the same ratio.
#   bench/resume_bench.sh [MNEMO] [REPEATS]
set -uo pipefail
MNEMO=$(realpath "${1:-build/mnemo}")
REPEATS=${2:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
UPDATES=100

sps() {  # RUN_DIR: the session's env steps/s from the last metrics row
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["sps"])' "$1/metrics.jsonl"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

one_case() {  # NAME ARGS...
  local name=$1
  shift
  : > "$OUT/$name.on"
  : > "$OUT/$name.off"
  for r in $(seq "$REPEATS"); do
    for mode in on off; do
      local run=$OUT/$name-$mode-$r flag=true
      [[ $mode == off ]] && flag=false
      "$MNEMO" train "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$run" \
        --set learner.total_env_steps=$((UPDATES * 512)) --set run.progress=false --set run.log_level=warn \
        --set actor.exact_resume=$flag "$@" > /dev/null 2>&1 || { echo "resume_bench: $name $mode failed" >&2; return 1; }
      sps "$run" >> "$OUT/$name.$mode"
    done
  done
  local on off bytes
  on=$(median < "$OUT/$name.on")
  off=$(median < "$OUT/$name.off")
  bytes=$(stat -c %s "$OUT/$name-on-1"/checkpoints/*/actors/0.state | tail -1)
  printf '{"bench": "resume_exact", "case": "%s", "updates": %d, "repeats": %d, "sps_exact": %.0f, "sps_plain": %.0f, "ratio": %.3f, "actor_state_bytes": %d}\n' \
    "$name" "$UPDATES" "$REPEATS" "$on" "$off" "$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')" "$bytes"
}

one_case mlp_cartpole
one_case lstm_masked_cartpole --set model.type=lstm --set model.layers=1 --set model.d_model=64 \
  --set 'model.encoder_hidden=[64]' --set model.prev_action=true --set model.prev_reward=true --set env.name=masked_cartpole
