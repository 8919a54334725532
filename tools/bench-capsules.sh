#!/usr/bin/env bash
# Capsule benchmarks, release build: (1) routing forward + backward against primary and output
# capsules, self-attention and dynamic routing interleaved in every round (capsules-bench routing);
# (2) the whole training step against the same model in PyTorch 1.13 (tools/capsules_bench.py),
# the two alternating for ROUNDS rounds on the same TENSOR_THREADS, with the medians' ratio.
# Usage: tools/bench-capsules.sh   (TENSOR_THREADS default 1; ROUNDS default 3; STEPS per round default 3)
# Needs Debian's python3-torch (make bench-capsules installs it). OPENBLAS_CORETYPE as bench-encoders.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export TENSOR_THREADS=${TENSOR_THREADS:-1}
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
rounds=${ROUNDS:-3} steps=${STEPS:-3}
swift build -c release --product capsules-bench >&2
bench=.build/release/capsules-bench
value() { sed "s/.* $1=\([0-9.]*\).*/\1/"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "threads: $TENSOR_THREADS, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}, $(date -u '+%Y-%m-%d %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" routing "${ROUTING_ROUNDS:-5}"
for routing in self_attention dynamic; do
  ours=() theirs=()
  for _ in $(seq "$rounds"); do
    line=$("$bench" step "$steps" | grep "routing=$routing")
    torch_line=$(/usr/bin/python3 tools/capsules_bench.py "$routing" "$steps")
    echo "engine: $line | pytorch: $torch_line"
    ours+=("$(value ms <<<"$line")")
    theirs+=("$(value ms <<<"$torch_line")")
  done
  m_ours=$(median "${ours[@]}") m_theirs=$(median "${theirs[@]}")
  echo "step $routing median: engine ${m_ours} ms, pytorch ${m_theirs} ms, pytorch/engine = $(awk "BEGIN {printf \"%.2f\", $m_theirs / $m_ours}")x"
done
