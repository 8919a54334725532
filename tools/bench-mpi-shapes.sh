#!/usr/bin/env bash
# Partitioned preprocessing: pipelines/shapes.yaml over a generated shapes set at 1 rank (the file's
# 2 workers per stage) against 2 ranks (1 worker per stage each), release build, alternating runs;
# wall time of the whole job, merge included.
#   tools/make-samples.py --count 3000 --out /tmp/shapes-3k
#   SET=/tmp/shapes-3k tools/bench-mpi-shapes.sh      (BIN=path/to/release/sluice to override)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/sluice}
SET=${SET:-/tmp/shapes-3k}
source=(--set "source.path=$SET/manifest.jsonl")
one_worker=(--set stages.0.workers=1 --set stages.1.workers=1 --set stages.2.workers=1)
seconds() { local start=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $start" | bc; }
for round in 1 2; do
  rm -rf /tmp/bench-shapes-1 /tmp/bench-shapes-2
  one=$(seconds "$BIN" run pipelines/shapes.yaml --quiet "${source[@]}" --set output=/tmp/bench-shapes-1)
  two=$(seconds mpiexec -n 2 "$BIN" run pipelines/shapes.yaml --quiet "${source[@]}" "${one_worker[@]}" --set output=/tmp/bench-shapes-2)
  clips=$(wc -l < "$SET/manifest.jsonl")
  [ "$(sort /tmp/bench-shapes-1/index.jsonl | md5sum)" = "$(sort /tmp/bench-shapes-2/index.jsonl | md5sum)" ] || { echo "outputs differ"; exit 1; }
  printf "round %d, %d clips: 1 rank x 2 workers %.2f s, 2 ranks x 1 worker %.2f s, speed-up %.3f\n" \
    "$round" "$clips" "$one" "$two" "$(echo "$one / $two" | bc -l)"
done
