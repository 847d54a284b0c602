#!/usr/bin/env bash
# Runs every benchmark of a build directory and collects their JSON lines in bench/results.jsonl.
set -uo pipefail
BUILD=${1:-build}
OUT=bench/results.jsonl
: > "$OUT"
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# The Gymnasium bridge bench compares with gymnasium itself, from a PyPI virtualenv.
bash scripts/python-venv.sh "$BUILD/venv" || echo "no $BUILD/venv: bench_envs_gym_bridge will report that it cannot run"
for b in "$BUILD"/bench/bench_*; do
  [[ -x "$b" ]] || continue
  name=$(basename "$b")
  echo "== $name"
  if [[ "$name" == bench_envs_gym_bridge ]]; then
    "$b" --python "$BUILD/venv/bin/python" | tee /dev/stderr | grep '^{' >> "$OUT"
  elif [[ "$name" == *allreduce* || "$name" == *learner_ranks* ]]; then
    mpirun --allow-run-as-root --oversubscribe -np 2 "$b" | tee /dev/stderr | grep '^{' >> "$OUT"
  else
    "$b" | tee /dev/stderr | grep '^{' >> "$OUT"
  fi
done 2>&1
echo "== faults_bench.sh"
bash bench/faults_bench.sh "$BUILD/mnemo" 2>&1 | tee /dev/stderr | grep '^{' >> "$OUT"
echo "== resume_bench.sh"
bash bench/resume_bench.sh "$BUILD/mnemo" 2>&1 | tee /dev/stderr | grep '^{' >> "$OUT"
echo "results in $OUT"
