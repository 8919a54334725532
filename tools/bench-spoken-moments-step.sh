#!/usr/bin/env bash
# One Spoken Moments training update, release build, side by side with the same model in PyTorch
# 1.13 in one run: the two alternate for ROUNDS rounds on the same TENSOR_THREADS and the medians'
# ratio is printed. Usage: tools/bench-spoken-moments-step.sh (TENSOR_THREADS default 2, ROUNDS 3, RUNS 5).
# Needs Debian's python3-torch (make bench-spoken-moments-step installs it). OPENBLAS_CORETYPE as in
# tools/bench-encoders.sh (Debian's OpenBLAS 0.3.21 does not recognise AVX-512 CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
export TENSOR_THREADS=${TENSOR_THREADS:-2}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
swift build -c release --product spoken-moments-bench >&2
value() { sed -n "s/.*spoken_moments_step_ms=\([0-9.]*\).*/\1/p"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "threads: $TENSOR_THREADS, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}, $(date -u '+%Y-%m-%d %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg)"
ours=() theirs=()
for _ in $(seq "${ROUNDS:-3}"); do
  ours+=("$(.build/release/spoken-moments-bench | value)")
  theirs+=("$(/usr/bin/python3 tools/spoken_moments_bench.py | value)")
  echo "engine ${ours[-1]} ms | pytorch ${theirs[-1]} ms"
done
m_ours=$(median "${ours[@]}") m_theirs=$(median "${theirs[@]}")
echo "spoken-moments step median: engine ${m_ours} ms, pytorch ${m_theirs} ms, pytorch/engine = $(awk "BEGIN {printf \"%.2f\", $m_theirs / $m_ours}")x"
