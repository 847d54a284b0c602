#!/usr/bin/env bash
# `make test-stress`: the unit and integration tests repeated while every core is kept busy, so a
# test that depends on timing or scheduling fails here before it fails a landing at random.
#   scripts/test-stress.sh BUILD_DIR [REPEATS] [extra ctest flags...]
# Each test runs up to REPEATS times (ctest --repeat until-fail:REPEATS), two at a time, next to
# one busy process per core. Not part of `make test`.
set -euo pipefail
build=${1:?usage: test-stress.sh BUILD_DIR [REPEATS] [ctest flags...]}
repeats=${2:-3}
shift $(($# >= 2 ? 2 : 1))
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "test-stress: REPEATS must be a positive integer, got '$repeats'" >&2; exit 2; }

busy=()
stop_busy() { ((${#busy[@]})) && kill "${busy[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_busy EXIT
for ((i = 0; i < $(nproc); ++i)); do
  (while :; do :; done) &
  busy+=($!)
done
echo "test-stress: ${#busy[@]} busy processes; unit and integration tests, up to $repeats runs each"
cd "$build"
start=$SECONDS
ctest --output-on-failure -j 2 -L 'unit|integration' --repeat "until-fail:$repeats" "$@"
echo "test-stress: every test passed $repeats times under load ($((SECONDS - start)) s)"
