#!/usr/bin/env bash
# Makes the Python virtualenv of the interop tests and peer comparisons (build/venv) with pinned
# versions from PyPI. Only `make test-interop` and the benches that compare with Python tools use
# it: the product, `make demo` and `make test` need Debian's packages alone.
#   scripts/python-venv.sh [VENV]     (default build/venv; idempotent)
set -euo pipefail
VENV=${1:-build/venv}
PINS=(
  gymnasium==1.2.2 numpy==2.2.6 pyzmq==27.1.0 crc32c==2.9.post0  # the env bridge's servers and gymnasium
  popgym==1.0.7 minigrid==3.2.0                                  # memory tasks served through the bridge
  tensorboard==2.21.0 safetensors==0.8.0                         # readers of mnemo's event files and exports
  "minari[create,hdf5]==0.5.3" h5py==3.16.0                      # offline datasets: Minari and D4RL (h5py)
  torch==2.15.0 transformers==5.23.0                             # a Hugging Face GPT-2 for the DT backbone; LibTorch 2.x
  envpool==1.2.5                                                 # the env-stepping peer (bench/peers)
)
stamp="$VENV/.mnemo-pins"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${PINS[*]}" ]]; then
  exit 0
fi
PY=${PYTHON:-python3}
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
echo "${PINS[*]}" > "$stamp"
echo "python-venv: $VENV ready ($("$VENV/bin/python" --version))"
