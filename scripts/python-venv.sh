#!/usr/bin/env bash
# Makes the Python virtualenv of the interop tests and peer comparisons (build/venv) with pinned
# versions from PyPI. Only `make test-interop` and the benches that compare with Python tools use
# it: the product, `make demo` and `make test` need Debian's packages alone.
#   scripts/python-venv.sh [VENV]             (default build/venv; idempotent)
#   scripts/python-venv.sh --reverb [VENV]    (default build/peers-reverb: Reverb, TensorFlow 2.15)
set -euo pipefail
PY=${PYTHON:-python3}
# Reverb (bench/peers/replay_reverb.py) needs TensorFlow 2.15, numpy 1.x and Python <= 3.11: a
# venv of its own, made only by `make peers`.
REVERB_PINS=(dm-reverb==0.14.0 tensorflow-cpu==2.15.0 numpy==1.26.4)
if [[ "${1:-}" == "--reverb" ]]; then
  VENV=${2:-build/peers-reverb}
  stamp="$VENV/.mnemo-pins"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${REVERB_PINS[*]}" ]]; then
    exit 0
  fi
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${REVERB_PINS[@]}"
  echo "${REVERB_PINS[*]}" > "$stamp"
  echo "python-venv: $VENV ready ($("$VENV/bin/python" --version)) for Reverb"
  exit 0
fi
VENV=${1:-build/venv}
PINS=(
  gymnasium==1.2.2 numpy==2.2.6 pyzmq==27.1.0 crc32c==2.9.post0  # the env bridge's servers and gymnasium
  popgym==1.0.7 minigrid==3.2.0                                  # memory tasks served through the bridge
  tensorboard==2.21.0 safetensors==0.8.0                         # readers of mnemo's event files and exports
  "minari[create,hdf5]==0.5.3" h5py==3.16.0                      # offline datasets: Minari and D4RL (h5py)
  torch==2.15.0 transformers==5.23.0                             # a Hugging Face GPT-2 for the DT backbone; LibTorch 2.x
  envpool==1.2.5                                                 # the env-stepping peer (bench/peers)
  torchrl==0.14.1 tensordict==0.14.3                             # TorchRL's Decision Transformer (bench/peers)
)
# The PPO peers (bench/peers/ppo_cartpole.py) pin gymnasium 0.29 and numpy 1.x: they go into an
# overlay next to the venv (put first on PYTHONPATH for the peers only), which reuses its torch.
PPO_PINS=(
  gymnasium==0.29.1 numpy==1.26.4 tyro==0.9.35 typeguard==4.4.4 docstring-parser==0.17.0 shtab==1.7.2  # CleanRL
  sample-factory==2.1.1 faster-fifo==1.5.2 signal-slot-mp==1.0.5 tensorboardx==2.6.4 colorlog==6.10.1
  threadpoolctl==3.6.0 psutil==7.1.3                                                                    # Sample Factory
)
OVERLAY=$(dirname "$VENV")/peers-ppo
stamp="$VENV/.mnemo-pins"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${PINS[*]} ${PPO_PINS[*]}" ]]; then
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
rm -rf "$OVERLAY"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$OVERLAY" "${PPO_PINS[@]}"
echo "${PINS[*]} ${PPO_PINS[*]}" > "$stamp"
echo "python-venv: $VENV ready ($("$VENV/bin/python" --version)), PPO peers' overlay $OVERLAY"
