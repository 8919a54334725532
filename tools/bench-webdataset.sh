#!/usr/bin/env bash
# WebDataset read throughput, side by side in one run: Sluice's reader (libarchive, one thread)
# against the webdataset package's `WebDataset(urls)` iteration, on the same shards, bytes
# untouched. Rounds alternate the two; each round's ratio and the median are printed.
#
# usage: tools/bench-webdataset.sh [ROUNDS] [WORKDIR]
# needs: swift build -c release --product webdataset-bench (done here); the package comes from
#        tools/install-webdataset.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
WORK=${2:-/tmp/sluice-webdataset-bench}
PY=$(bash tools/install-webdataset.sh)
swift build -c release --product webdataset-bench >&2
BENCH=.build/release/webdataset-bench

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(uname -sr); date: $(date -u +%F)"
echo "webdataset $("$PY" -c 'import webdataset; print(webdataset.__version__)'), Python $("$PY" -c 'import platform; print(platform.python_version())')"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { sed -E 's/.* ([0-9]+) samples\/s$/\1/' <<<"$1"; }
for set in "images 10 1000" "clips 10 100"; do
  read -r kind shards per <<<"$set"
  dir="$WORK/$kind"
  [ -f "$dir/shard-$(printf %06d $((shards - 1))).tar" ] || "$PY" tools/webdataset_bench.py make "$dir" "$kind" "$shards" "$per"
  files=("$dir"/shard-*.tar)
  cat "${files[@]}" >/dev/null  # both read from the page cache
  echo "== $kind: ${#files[@]} shards, $(du -sh "$dir" | cut -f1)"
  ratios=()
  for round in $(seq "$ROUNDS"); do
    theirs=$("$PY" tools/webdataset_bench.py read "${files[@]}")
    ours=$("$BENCH" read "${files[@]}")
    ratio=$(awk -v s="$(rate "$ours")" -v w="$(rate "$theirs")" 'BEGIN { printf "%.2f", s / w }')
    ratios+=("$ratio")
    echo "round $round: $theirs | $ours | ${ratio}x"
  done
  echo "$kind: sluice / webdataset samples/s, median of $ROUNDS rounds: $(median "${ratios[@]}")x"
done
