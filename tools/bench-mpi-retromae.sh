#!/usr/bin/env bash
# A RetroMAE step on the BERT-small shape of BENCHMARKS.md "RetroMAE" (4 x 256, vocab 30522,
# global batch 32 blocks of up to 128 tokens), 1 rank x 2 threads against 2 ranks x 1 thread x 16
# blocks, release build, alternating runs. Prints the median over updates 2..N of the global
# batch's tokens per second as rank 0 logs them (metrics.jsonl), and the ratio.
#   tools/bench-mpi-retromae.sh [STEPS]   (needs a release sluice; BIN=path/to/sluice to override)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/sluice}
steps=${1:-4}
common=(retromae train --in samples/retromae/corpus.txt.gz --format paragraphs --vocab samples/text/bert-base-uncased-vocab.txt
        --hidden 256 --layers 4 --heads 4 --intermediate 1024 --max-positions 128 --max-length 128 --eval-blocks 32
        --steps "$steps" --log-every 1 --eval-every 100000 --checkpoint-every 100000)
for round in 1 2; do
  rm -rf /tmp/bench-mpi-1x2 /tmp/bench-mpi-2x1
  "$BIN" "${common[@]}" --threads 2 --batch-size 32 --out /tmp/bench-mpi-1x2 >/dev/null 2>&1
  mpiexec -n 2 "$BIN" "${common[@]}" --threads 1 --batch-size 16 --out /tmp/bench-mpi-2x1 >/dev/null 2>&1
  python3 - /tmp/bench-mpi-1x2 /tmp/bench-mpi-2x1 <<'PY'
import json, statistics, sys
def run(directory):
    rows = [json.loads(line) for line in open(directory + "/metrics.jsonl")]
    rows = [r for r in rows if r.get("kind") == "train"][1:]
    return statistics.median(r["tokens_per_second"] for r in rows), [round(r["loss"], 4) for r in rows]
(one, loss1), (two, loss2) = run(sys.argv[1]), run(sys.argv[2])
print(f"1 rank x 2 threads: {one:8.0f} tokens/s  losses {loss1}")
print(f"2 ranks x 1 thread: {two:8.0f} tokens/s  losses {loss2}")
print(f"ratio 2x1 / 1x2: {two / one:.3f}")
PY
done
