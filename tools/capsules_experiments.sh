#!/usr/bin/env bash
# The capsule routing comparison of BENCHMARKS.md: self-attention, dynamic and no-capsule routing
# at equal updates on a clip manifest, seeds 1-3, clean and with NOISE of the training captions
# mismatched; one run at a time at nice 10, one math thread each; then the table.
# Usage: tools/capsules_experiments.sh MANIFEST OUT [extra train settings...]
#   (SEEDS default "1 2 3", NOISES default "0 0.2", ROUTINGS default "self_attention dynamic none")
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$1 out=$2
shift 2
sluice=${SLUICE:-.build/release/sluice}
mkdir -p "$out"
for noise in ${NOISES:-0 0.2}; do
  for seed in ${SEEDS:-1 2 3}; do
    for routing in ${ROUTINGS:-self_attention dynamic none}; do
      dir="$out/$routing-noise$noise-seed$seed"
      # a run that already reached its last evaluation is kept
      if grep -q '"kind":"eval".*"step":'"${STEPS:-200}"',' "$dir/metrics.jsonl" 2>/dev/null; then continue; fi
      rm -rf "$dir"
      echo "$(date -u +%H:%M:%S) $dir" >&2
      nice -n 10 "$sluice" capsules train --manifest "$manifest" --out "$dir" --threads 1 --routing "$routing" --seed "$seed" \
        --noise "$noise" --steps "${STEPS:-200}" --eval-every 100000 --log-every 50 "$@" > "$dir.log" 2>&1
    done
  done
done
/usr/bin/python3 tools/capsules_table.py "$out"
