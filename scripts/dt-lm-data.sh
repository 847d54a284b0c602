#!/usr/bin/env bash
# The Pendulum datasets of the language-pretraining comparison (docs/results.md, "Language
# pretraining for the DT"; launch/configs/sweeps/dt_lm_pendulum.yaml):
#   data/pendulum_medium.h5         200 episodes of the medium PPO policy (about -540), sampled
#   data/pendulum_medium_replay.h5  50 episodes each of a random policy and of the PPO run's three
#                                   checkpoints (about -1050, -790, -540), merged: a medium-replay
#                                   style mixture of a learner's stages
# The parts stay in DATA_DIR/pendulum_medium_replay.parts (the merged file's metadata names them).
# It trains the behaviour policy first (launch/configs/pendulum_ppo_medium.yaml, about a minute)
# unless runs/pendulum_ppo_medium exists.
#   scripts/dt-lm-data.sh [MNEMO] [DATA_DIR]     (defaults: build/mnemo, data)
set -euo pipefail
mnemo=${1:-build/mnemo}
data=${2:-data}
config=launch/configs/pendulum_ppo_medium.yaml
run=runs/pendulum_ppo_medium
mkdir -p "$data"
[[ -d $run/checkpoints ]] || "$mnemo" train "$config"
mapfile -t checkpoints < <(ls -d "$run"/checkpoints/[0-9]* | sort)
if (( ${#checkpoints[@]} != 3 )); then
  echo "dt-lm-data: expected the 3 checkpoints of $run, found ${#checkpoints[@]}" >&2
  exit 1
fi
"$mnemo" collect "$config" --policy "$run" --episodes 200 --stochastic --seed 1 --out "$data/pendulum_medium.h5"
parts_dir=$data/pendulum_medium_replay.parts
mkdir -p "$parts_dir"
"$mnemo" collect "$config" --policy random --episodes 50 --seed 2 --out "$parts_dir/random.h5"
parts=("$parts_dir/random.h5")
seed=3
for c in "${checkpoints[@]}"; do
  "$mnemo" collect "$config" --policy "$c" --episodes 50 --stochastic --seed $seed --out "$parts_dir/$(basename "$c").h5"
  parts+=("$parts_dir/$(basename "$c").h5")
  seed=$((seed + 1))
done
"$mnemo" dataset merge "${parts[@]}" --out "$data/pendulum_medium_replay.h5"
