#!/usr/bin/env bash
# Installs the Debian 12 packages mnemo builds and runs with. Idempotent: it asks apt only for
# what is missing, and prints nothing when everything is already present.
#   scripts/install-deps.sh            the build and the tests
#   scripts/install-deps.sh --slurm    also slurm-wlm and munge, for the real-Slurm tests (make test-slurm)
set -euo pipefail

PACKAGES=(
  build-essential cmake make ccache pkg-config git
  libtorch-dev            # LibTorch 1.13 (CPU); CUDA builds use a LibTorch on CMAKE_PREFIX_PATH
  libopenblas0-pthread    # Debian's LibTorch calls the system BLAS; the reference one is ~18x slower
  libopenmpi-dev openmpi-bin
  libzmq3-dev cppzmq-dev  # data plane (libzmq is built with libsodium: CURVE available)
  libcereal-dev           # wire-format header and checkpoint state
  liblz4-dev libzstd-dev  # replay field compression
  zlib1g-dev              # PNG writer (deflate, CRC-32)
  libyaml-cpp-dev         # configuration files
  libhdf5-dev             # offline datasets (D4RL and Minari HDF5 files)
  libboost-program-options-dev  # the `mnemo` command line (Boost.Program_options)
  libgtest-dev libgmock-dev googletest
  python3-numpy python3-zmq python3-crc32c  # the Gymnasium bridge's env servers (envs/python)
)
[[ "${1:-}" == "--slurm" ]] && PACKAGES+=(slurm-wlm munge)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "install-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or with passwordless sudo): sudo $0" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
