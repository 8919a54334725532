#!/bin/bash
# RetroMAE training step, BERT-small shape (4 layers, hidden 256, 4 heads, FFN 1024, vocabulary
# 30522, batch 32 x 128 tokens): sluice (release) and PyTorch in one run, then the ratio.
#   tools/bench-retromae.sh [threads] [steps]     (makes /tmp/venv-retromae with transformers 4.30.2 if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; steps=${2:-3}
venv=/tmp/venv-retromae
if ! "$venv/bin/python" -c 'import transformers' 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q transformers==4.30.2 tokenizers==0.13.3
fi
# Both sides on the same OpenBLAS kernels (see BENCHMARKS.md, Encoders).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
swift build -c release --product retromae-bench >/dev/null
ours=$(.build/release/retromae-bench samples/text/bert-base-uncased-vocab.txt --threads "$threads" --steps "$steps")
monarch=$(.build/release/retromae-bench samples/text/bert-base-uncased-vocab.txt --threads "$threads" --steps "$steps" --ffn monarch)
theirs=$("$venv/bin/python" tools/retromae_bench.py "$threads" "$steps")
echo "$ours"; echo "monarch FFN: $monarch"; echo "$theirs"
ms() { sed 's/.*step: \([0-9.]*\) ms.*/\1/' <<<"$1"; }
echo "PyTorch ms / sluice ms = $(python3 -c "print(round($(ms "$theirs") / $(ms "$ours"), 2))")"
