#!/usr/bin/env bash
# WebDataset end to end, against the webdataset package: 1,000 clips (mp4 + flac + txt + json per
# key, 10 shards) written by the package are streamed by `sluice run` from local disk, from a
# bucket (SeaweedFS on 127.0.0.1) and over HTTP (Python's http.server on 127.0.0.1); frames and
# log-mel are decoded from the members' bytes; the result is written as WebDataset, which the
# package reads back (the same keys and mp4/flac/txt/json bytes; frames.npy and mel.npy load in
# numpy with their shapes), and as MDS (every clip, every hash checked).
#
# usage: tools/webdataset-e2e.sh [WORKDIR]     prints one line per check; exits 1 if any fails
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/sluice-wds-e2e.XXXXXX)}
mkdir -p "$WORK"
PY=$(bash tools/install-webdataset.sh)
bash tools/install-s3-server.sh
swift build --product sluice >&2
swift build --product s3-bench >&2
BIN=$(swift build --show-bin-path)

[ -f "$WORK/in/shapes-000009.tar" ] || "$PY" tools/webdataset_interop.py clips "$WORK/in" 1000 100
expected=$("$PY" tools/webdataset_interop.py digest mp4,flac,txt,json "$WORK"/in/shapes-*.tar | tail -1)

# The servers: SeaweedFS through s3-bench (it writes the variables the AWS tools read), and a
# static HTTP server over the input directory, on a port the kernel picks.
rm -f "$WORK/s3.env"  # written anew once this run's server listens
"$BIN/s3-bench" serve "$WORK/s3.env" & s3=$!
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/in" "$port" >/dev/null 2>&1 & web=$!
trap 'kill $s3 $web 2>/dev/null; wait $s3 $web 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -f "$WORK/s3.env" ] && curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$WORK/s3.env"
bucket="s3://$SLUICE_S3_BUCKET/webdataset-e2e"
for shard in "$WORK"/in/shapes-*.tar; do "$BIN/s3-bench" upload "$shard" "$bucket/$(basename "$shard")" >/dev/null; done

status=0
check() { # what expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; status=1; fi
}
echo "input: $("$PY" -c 'import webdataset; print("webdataset", webdataset.__version__)') wrote 1000 clips in 10 shards ($expected)"
for origin in local s3 http; do
  case $origin in
    local) paths="$WORK/in/shapes-{000000..000009}.tar" ;;
    s3) paths="$bucket/" ;;
    http) paths="http://127.0.0.1:$port/shapes-{000000..000009}.tar" ;;
  esac
  out="$WORK/out-$origin"
  rm -rf "$out"
  start=$(date +%s.%N)
  "$BIN/sluice" run pipelines/webdataset-clips.yaml --quiet --set "output=$out/wds" --set "source.paths=$paths"
  "$BIN/sluice" run pipelines/webdataset-to-mds.yaml --quiet --set "output=$out/mds" --set "source.paths=$paths"
  seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  check "$origin: the package reads Sluice's shards with the same keys and bytes" "$expected" \
    "$("$PY" tools/webdataset_interop.py digest mp4,flac,txt,json "$out"/wds/shards/*.tar | tail -1)"
  check "$origin: frames.npy loads in numpy" "arrays 1000 frames.npy 8x112x112x3" \
    "$("$PY" tools/webdataset_interop.py arrays frames.npy 8x112x112x3 "$out"/wds/shards/*.tar)"
  check "$origin: mel.npy loads in numpy" "arrays 1000 mel.npy 301x40" \
    "$("$PY" tools/webdataset_interop.py arrays mel.npy 301x40 "$out"/wds/shards/*.tar)"
  check "$origin: the MDS dataset holds every clip and verifies" "1000" \
    "$("$BIN/sluice" shards verify "$out/mds/dataset" | sed -nE 's/.* ([0-9]+) samples.*/\1/p' | head -1)"
  check "$origin: nothing quarantined" "0" "$(cat "$out"/*/quarantine.jsonl 2>/dev/null | wc -l)"
  echo "     $origin: both pipelines in ${seconds} s"
done
exit $status
