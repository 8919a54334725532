#!/usr/bin/env bash
# Shards benchmarks, side by side in one run: write and sequential read against dd, shuffled read
# against Python's mosaicml-streaming on the same shards, and resume time deep into an epoch.
#
# usage: tools/bench-shards.sh [WORKDIR]
#        tools/bench-shards.sh --writes ROUNDS [WORKDIR]   writes only: dd conv=fsync and sluice in
#                                 alternating rounds over the same bytes, each round's ratio and the median;
#                                 BASELINE=path/to/another/shards-bench adds that build's writer to each round
# needs: swift build -c release --product shards-bench; a Python with mosaicml-streaming
#        (python3 -m venv /tmp/mdsvenv && /tmp/mdsvenv/bin/pip install mosaicml-streaming), PY=... to override.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=.build/release/shards-bench
PY=${PY:-/tmp/mdsvenv/bin/python}
ROUNDS=0
if [ "${1:-}" = "--writes" ]; then ROUNDS=$2; shift 2; fi
WORK=${1:-/tmp/sluice-shards-bench}
MB=${MB:-1024}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

dd_rate() { # prints dd's MB/s figure from its last stderr line
  "$@" 2>&1 | tail -1 | sed -E 's/.*, ([0-9.]+) ([kMG]B)\/s/\1 \2\/s/'
}

echo "machine: $(nproc) cores, $(uname -sr); date: $(date -u +%F); load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$ROUNDS" -gt 0 ]; then
  # One dd and one sluice write per round, alternating, so both see the same disk and load; the
  # sluice figure counts payload bytes, dd writes the same number of bytes.
  echo "writes: ${MB} MB per run; shards of 64 MiB, xxh64 hashes, no compression; fsync per shard (sluice), at the end (dd)"
  for size in 4096 614400; do
    ratios=() baseline_ratios=()
    for round in $(seq "$ROUNDS"); do
      rm -rf "$WORK/ds" "$WORK/dd.bin"
      dd_line=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$MB" conv=fsync 2>&1 | tail -1)
      dd_seconds=$(sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$dd_line")
      rm -f "$WORK/dd.bin"
      sluice_line=$($BENCH write "$WORK/ds" "$MB" "$size")
      sluice_seconds=$(awk '{print $2}' <<<"$sluice_line")
      rm -rf "$WORK/ds"
      ratio=$(awk -v d="$dd_seconds" -v s="$sluice_seconds" 'BEGIN { printf "%.2f", d / s }')
      ratios+=("$ratio")
      echo "${size}-byte samples, round $round: dd ${dd_seconds} s | sluice $sluice_line | sluice/dd ${ratio}x"
      if [ -n "${BASELINE:-}" ]; then
        baseline_line=$("$BASELINE" write "$WORK/ds" "$MB" "$size")
        rm -rf "$WORK/ds"
        baseline_ratios+=("$(awk -v d="$dd_seconds" -v s="$(awk '{print $2}' <<<"$baseline_line")" 'BEGIN { printf "%.2f", d / s }')")
        echo "${size}-byte samples, round $round: baseline $baseline_line | baseline/dd ${baseline_ratios[-1]}x"
      fi
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    echo "${size}-byte samples: median sluice/dd $(median "${ratios[@]}")x over $ROUNDS rounds${BASELINE:+; baseline/dd $(median "${baseline_ratios[@]}")x}"
  done
  exit 0
fi
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
