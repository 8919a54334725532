#!/usr/bin/env bash
# Encoder benchmarks, release build, side by side with PyTorch 1.13 in one run: for every model,
# this engine and PyTorch alternate for ROUNDS rounds on the same TENSOR_THREADS, and the medians'
# ratio is printed, with the engine's share of raw sgemm peak (measured in the same rounds).
# Usage: tools/bench-encoders.sh   (TENSOR_THREADS default 2; ROUNDS default 3; RUNS per round default 3;
#                                    MODELS default "resdavenet resnet18 framecnn")
# Needs Debian's python3-torch and python3-torchvision (make bench-encoders installs them).
#
# OpenBLAS 0.3.21 (Debian 12) does not know this machine's AVX-512 CPU and falls back to its
# Prescott (SSE3) kernels, a third of the sgemm rate; PyTorch's convolutions use oneDNN and are
# unaffected. The script therefore forces OPENBLAS_CORETYPE=SkylakeX on AVX-512 machines (set
# OPENBLAS_CORETYPE yourself to override, e.g. OPENBLAS_CORETYPE=Prescott for the default).
set -euo pipefail
cd "$(dirname "$0")/.."
export TENSOR_THREADS=${TENSOR_THREADS:-2}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
rounds=${ROUNDS:-3}
swift build -c release --product encoders-bench >&2
bench=.build/release/encoders-bench
value() { sed "s/.*$1=\([0-9.]*\).*/\1/"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "threads: $TENSOR_THREADS, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}, $(date -u '+%Y-%m-%d %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for model in ${MODELS:-resdavenet resnet18 framecnn}; do
  ours=() theirs=() shares=()
  for _ in $(seq "$rounds"); do
    peak=$("$bench" peak | value gflops)
    line=$("$bench" "$model" | grep _ms=)
    torch_line=$(/usr/bin/python3 tools/encoders_bench.py "$model" | grep _ms=)
    echo "engine: $line (sgemm peak $peak GFLOP/s) | pytorch: $torch_line"
    ours+=("$(value ms <<<"${line/*_ms=/ms=}")")
    theirs+=("$(value ms <<<"${torch_line/*_ms=/ms=}")")
    shares+=("$(awk "BEGIN {printf \"%.2f\", $(value gflops <<<"$line") / $peak}")")
  done
  m_ours=$(median "${ours[@]}") m_theirs=$(median "${theirs[@]}")
  echo "$model median: engine ${m_ours} ms, pytorch ${m_theirs} ms, pytorch/engine = $(awk "BEGIN {printf \"%.2f\", $m_theirs / $m_ours}")x, engine share of sgemm peak $(median "${shares[@]}")"
done
