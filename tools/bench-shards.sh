#!/usr/bin/env bash
# Shards benchmarks, side by side in one run: write and sequential read against dd, shuffled read
# against Python's mosaicml-streaming on the same shards, and resume time deep into an epoch.
#
# usage: tools/bench-shards.sh [WORKDIR]
# needs: swift build -c release --product shards-bench; a Python with mosaicml-streaming
#        (python3 -m venv /tmp/mdsvenv && /tmp/mdsvenv/bin/pip install mosaicml-streaming), PY=... to override.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=.build/release/shards-bench
PY=${PY:-/tmp/mdsvenv/bin/python}
WORK=${1:-/tmp/sluice-shards-bench}
MB=${MB:-1024}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

dd_rate() { # prints dd's MB/s figure from its last stderr line
  "$@" 2>&1 | tail -1 | sed -E 's/.*, ([0-9.]+) ([kMG]B)\/s/\1 \2\/s/'
}

echo "machine: $(nproc) cores, $(uname -sr); date: $(date -u +%F)"
echo "dataset: ${MB} MB per sample size; shards of 64 MiB, xxh64 hashes, no compression; page cache warm"
for size in 4096 614400; do
  ds="$WORK/ds-$size"
  rm -rf "$ds" "$WORK/dd.bin"
  echo "== ${size}-byte samples"
  echo "dd write (conv=fsync):   $(dd_rate dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$MB" conv=fsync)"
  echo "sluice $($BENCH write "$ds" "$MB" "$size")"
  sync
  echo "dd read:                 $(dd_rate dd if="$WORK/dd.bin" of=/dev/null bs=1M)"
  rm -f "$WORK/dd.bin"
  echo "sluice $($BENCH read "$ds")"
  echo "sluice $($BENCH read-raw "$ds")"
  echo "sluice $($BENCH shuffled "$ds" 1)"
  echo "sluice $($BENCH shuffled "$ds" 1 no-verify)"
  echo "python $("$PY" tools/shards-bench-mds.py "$ds" shuffled 1 2>/dev/null)"
  echo "python $("$PY" tools/shards-bench-mds.py "$ds" read 1 2>/dev/null)"
  rm -rf "$ds"
done
echo "== resume"
echo "sluice $($BENCH resume 10000000)"
