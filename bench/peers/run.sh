#!/usr/bin/env bash
# The comparisons with the real peers (issue "Side by side with the real peers"): makes the PyPI
# virtualenv (scripts/python-venv.sh, pinned versions), runs each comparison with mnemo's side of it
# in the same run, appends JSON lines to bench/peers/results.jsonl and prints one table each.
#   bench/peers/run.sh [BUILD_DIR]        (make peers)
set -uo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$SRC/bench/peers/results.jsonl
: > "$OUT"
bash "$SRC/scripts/python-venv.sh" "$BUILD/venv" || { echo "peers: no virtualenv, nothing compared"; exit 1; }
PY=$BUILD/venv/bin/python
echo "== env stepping: mnemo EnvPool vs envpool and gymnasium's vector envs"
"$PY" "$SRC/bench/peers/env_stepping.py" "$BUILD" "$OUT" || echo "peers: env stepping failed (exit $?)"
echo "== Decision Transformer training: mnemo vs a plain PyTorch 2.x DT and TorchRL's DT"
"$PY" "$SRC/bench/peers/dt_train.py" "$BUILD" "$OUT" || echo "peers: DT training failed (exit $?)"
echo "== recurrent inference: mnemo's GTrXL, AGaLiTe, GaLiTe and LSTM vs the same models in PyTorch 2.x"
"$PY" "$SRC/bench/peers/recurrent_inference.py" "$BUILD" "$OUT" || echo "peers: recurrent inference failed (exit $?)"
echo "== PPO on CartPole: mnemo's demo vs CleanRL, Sample Factory and PufferLib"
"$PY" "$SRC/bench/peers/ppo_cartpole.py" "$BUILD" "$OUT" || echo "peers: PPO failed (exit $?)"
echo "== replay over tcp loopback: mnemo's replay service vs Reverb"
if bash "$SRC/scripts/python-venv.sh" --reverb "$BUILD/peers-reverb"; then
  "$BUILD/peers-reverb/bin/python" "$SRC/bench/peers/replay_reverb.py" "$BUILD" "$OUT" || echo "peers: replay failed (exit $?)"
else
  echo "peers: Reverb's virtualenv could not be made (above), replay not compared"
  echo '{"bench": "peers_replay", "peer": "reverb", "error": "its virtualenv could not be made (scripts/python-venv.sh --reverb)"}' >> "$OUT"
fi
echo "== env bridge: mnemo's gym envs vs gymnasium's SyncVectorEnv"
# Printed, then its JSON lines kept (not `tee /dev/stderr`: with stderr redirected to a file, that
# reopens and truncates the file, erasing the log of everything above).
bridge=$("$BUILD/bench/bench_envs_gym_bridge" --python "$PY") || echo "peers: env bridge failed (exit $?)"
echo "$bridge"
grep '^{' <<<"$bridge" >> "$OUT" || true
echo "results in $OUT"
