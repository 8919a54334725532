#!/usr/bin/env bash
# Shards benchmarks, side by side in one run: write and sequential read against dd, shuffled read
# against Python's mosaicml-streaming on the same shards, and resume time deep into an epoch.
#
# usage: tools/bench-shards.sh [WORKDIR]
#        tools/bench-shards.sh --writes ROUNDS [WORKDIR]   writes only: dd conv=fsync (of sluice's own
#                                 bytes, and of zeros) and sluice in alternating rounds, each round's ratio and the median;
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
  # Per round, alternating so all see the same disk and load: dd of the very bytes sluice writes
  # (its shards from an untimed first run, joined into one file that stays in the page cache, as
  # sluice's samples are in memory), dd of as many zeros (the figure of earlier runs: /dev/zero
  # costs dd no copy, and a virtual disk may treat zeros apart), then sluice. Every output is a
  # new file on the same file system; nothing drops the page cache, for any of them. Ratios are
  # dd's seconds over sluice's.
  echo "writes: ${MB} MB per run; shards of 64 MiB, xxh64 hashes, no compression; fsync per shard (sluice), at the end (dd)"
  seconds_of() { sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$1"; }
  ratio_of() { awk -v d="$1" -v s="$2" 'BEGIN { printf "%.2f", d / s }'; }
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  # Removes a run's output and lets the file system finish with it (ext4 here discards freed
  # blocks at its next commit), so no writer pays for the one before.
  settle() { rm -rf "$1"; sync -f "$WORK"; }
  for size in 4096 614400; do
    rm -rf "$WORK/ds"
    $BENCH write "$WORK/ds" "$MB" "$size" >/dev/null
    cat "$WORK"/ds/shard.*.mds >"$WORK/same.bin"
    # On disk before any timing: its writeback would otherwise run during the first rounds and
    # slow whichever writer was fsyncing then (dd took 2.4-3.7 s for 1 GiB instead of 1.4 s).
    sync "$WORK/same.bin"
    settle "$WORK/ds"
    ratios=() zero_ratios=() baseline_ratios=()
    for round in $(seq "$ROUNDS"); do
      same_line=$(dd if="$WORK/same.bin" of="$WORK/dd.bin" bs=1M conv=fsync 2>&1 | tail -1)
      settle "$WORK/dd.bin"
      zero_line=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$MB" conv=fsync 2>&1 | tail -1)
      settle "$WORK/dd.bin"
      same_seconds=$(seconds_of "$same_line") zero_seconds=$(seconds_of "$zero_line")
      sluice_line=$($BENCH write "$WORK/ds" "$MB" "$size")
      settle "$WORK/ds"
      sluice_seconds=$(awk '{print $2}' <<<"$sluice_line")
      ratios+=("$(ratio_of "$same_seconds" "$sluice_seconds")")
      zero_ratios+=("$(ratio_of "$zero_seconds" "$sluice_seconds")")
      echo "${size}-byte samples, round $round: dd same bytes ${same_seconds} s, zeros ${zero_seconds} s | sluice $sluice_line | sluice/dd ${ratios[-1]}x (zeros ${zero_ratios[-1]}x)"
      if [ -n "${BASELINE:-}" ]; then
        baseline_line=$("$BASELINE" write "$WORK/ds" "$MB" "$size")
        settle "$WORK/ds"
        baseline_ratios+=("$(ratio_of "$same_seconds" "$(awk '{print $2}' <<<"$baseline_line")")")
        echo "${size}-byte samples, round $round: baseline $baseline_line | baseline/dd ${baseline_ratios[-1]}x"
      fi
    done
    rm -f "$WORK/same.bin"
    echo "${size}-byte samples: median sluice/dd $(median "${ratios[@]}")x (zeros $(median "${zero_ratios[@]}")x) over $ROUNDS rounds${BASELINE:+; baseline/dd $(median "${baseline_ratios[@]}")x}"
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
