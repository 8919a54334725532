#!/usr/bin/env bash
# Tensor engine benchmarks, release build, side by side with PyTorch in one run:
#   1. engine matmul against raw cblas_sgemm, n = 256..2048;
#   2. MonarchLinear against Linear, forward + backward;
#   3. one small-BERT training step, this engine and PyTorch alternating for ROUNDS rounds, at
#      each thread count in BERT_THREADS; each side with the MLM head on the masked positions
#      only and on all positions (transformers' BertForMaskedLM computes every position's logits).
# Usage: tools/bench-tensor.sh   (TENSOR_THREADS for 1-2, default 2; BERT_THREADS, default "2 1";
#                                 ROUNDS, default 3)
# Needs Debian's python3 with python3-torch (apt-get install -y python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
export TENSOR_THREADS=${TENSOR_THREADS:-2}
# Both sides on the same OpenBLAS kernels: Debian's 0.3.21 falls back to SSE3 ones on this CPU
# (BENCHMARKS.md, Encoders); sluice itself re-executes with these, the benchmark binaries do not.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
echo "threads: $TENSOR_THREADS, $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}, $(date -u '+%Y-%m-%d %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg)"
rounds=${ROUNDS:-3}
swift build -c release --product tensor-bench >&2
bench=.build/release/tensor-bench

echo "### matmul: engine against raw cblas_sgemm (square n x n, best ms)"
"$bench" matmul
echo
echo "### MonarchLinear against Linear (forward + backward, best ms)"
"$bench" monarch
echo
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
step_ms() { sed 's/.*bert_step_ms=\([0-9.]*\).*/\1/'; }
for threads in ${BERT_THREADS:-2 1}; do
  echo "### Small BERT training step, $threads thread(s) (4 layers, hidden 256, 4 heads, seq 128, batch 32, AdamW)"
  declare -A times=()
  for _ in $(seq "$rounds"); do
    for head in masked all; do
      line=$(TENSOR_THREADS=$threads "$bench" bert 2 "$head" | grep bert_step_ms)
      echo "engine  $head: $line"
      times[engine-$head]+=" $(step_ms <<<"$line")"
      line=$(TENSOR_THREADS=$threads /usr/bin/python3 tools/tensor_bench.py 2 "$head" | grep bert_step_ms)
      echo "pytorch $head: $line"
      times[pytorch-$head]+=" $(step_ms <<<"$line")"
    done
  done
  for head in masked all; do
    # shellcheck disable=SC2086
    m_engine=$(median ${times[engine-$head]}) m_pytorch=$(median ${times[pytorch-$head]})
    echo "median step, $threads thread(s), head on $head positions: engine ${m_engine} ms, pytorch ${m_pytorch} ms, pytorch/engine = $(awk "BEGIN {printf \"%.2f\", $m_pytorch / $m_engine}")x"
  done
  # shellcheck disable=SC2086
  echo "pytorch with the head on all positions / engine on the masked ones = $(awk "BEGIN {printf \"%.2f\", $(median ${times[pytorch-all]}) / $(median ${times[engine-masked]})}")x"
  unset times
  echo
done
