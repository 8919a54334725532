#!/bin/bash
# RetroMAE training step, BERT-small shape (4 layers, hidden 256, 4 heads, FFN 1024, vocabulary
# 30522, batch 32 x 128 tokens): sluice (release) and PyTorch in one run, then the ratio.
#   tools/bench-retromae.sh [threads] [steps]     (needs /tmp/venv-retromae, see tools/retromae_fixtures.py)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; steps=${2:-3}
swift build -c release --product retromae-bench >/dev/null
ours=$(.build/release/retromae-bench samples/text/bert-base-uncased-vocab.txt --threads "$threads" --steps "$steps")
monarch=$(.build/release/retromae-bench samples/text/bert-base-uncased-vocab.txt --threads "$threads" --steps "$steps" --ffn monarch)
theirs=$(/tmp/venv-retromae/bin/python tools/retromae_bench.py "$threads" "$steps")
echo "$ours"; echo "monarch FFN: $monarch"; echo "$theirs"
ms() { sed 's/.*step: \([0-9.]*\) ms.*/\1/' <<<"$1"; }
echo "PyTorch ms / sluice ms = $(python3 -c "print(round($(ms "$theirs") / $(ms "$ours"), 2))")"
