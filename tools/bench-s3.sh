#!/usr/bin/env bash
# Object-storage benchmarks, side by side in one run against one SeaweedFS bucket on 127.0.0.1:
# cold-cache shuffled reads against mosaicml-streaming's StreamingDataset(remote=...), uploads
# against `aws s3 cp`, and the cache's hit rate and read-ahead depth under a consumer that works
# on each sample (a training step's share). Rounds alternate the tools, so a busy neighbour on
# the shared machine slows both alike.
#
# usage: tools/bench-s3.sh    (release build of s3-bench, BUILD=0 to take it as built;
#                              SAMPLES, PAYLOAD, ROUNDS, UPLOAD_MB override the sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${SAMPLES:-32768}
PAYLOAD=${PAYLOAD:-4096}
ROUNDS=${ROUNDS:-2}
UPLOAD_MB=${UPLOAD_MB:-256}
[ "${BUILD:-1}" = 0 ] || swift build -c release --product s3-bench >&2
BENCH=.build/release/s3-bench
WORK=$(mktemp -d /tmp/sluice-s3-bench.XXXXXX)
# shellcheck source=tools/s3-bench-server.sh
source tools/s3-bench-server.sh

echo "machine: $(nproc) cores, $(uname -sr); date: $(date -u +%F); server: $("${SLUICE_WEED_VENV:-$HOME/.cache/sluice/seaweedfs}/bin/weed" version | head -1) (weed mini, 127.0.0.1)"
echo "dataset: $SAMPLES samples of $PAYLOAD bytes (+ id, text), 8 MiB shards, xxh64, written by sluice"
"$BENCH" write "$bucket/bench" "$SAMPLES" "$PAYLOAD" $((8 << 20)) | head -1
for round in $(seq 1 "$ROUNDS"); do
  echo "== shuffled read, cold cache, round $round"
  echo "sluice $("$BENCH" shuffled "$bucket/bench" "$WORK/cache-sluice" 7 | tr '\n' ' ')"
  echo "python $("$PY" tools/s3_interop.py shuffled "$bucket/bench" "$WORK/cache-python" 7 2>/dev/null)"
done
echo "== training-like consumer (200 us of work per sample), cold cache"
echo "sluice $("$BENCH" shuffled "$bucket/bench" "$WORK/cache-sluice" 7 200 | tr '\n' ' ')"

head -c $((UPLOAD_MB << 20)) /dev/urandom > "$WORK/upload.bin"
for round in $(seq 1 "$ROUNDS"); do
  echo "== upload of one ${UPLOAD_MB} MiB file, round $round"
  echo "sluice $("$BENCH" upload "$WORK/upload.bin" "$bucket/upload/sluice.bin")"
  start=$(date +%s.%N)
  aws s3 cp --only-show-errors --endpoint-url "$S3_ENDPOINT_URL" "$WORK/upload.bin" "$bucket/upload/aws.bin"
  end=$(date +%s.%N)
  echo "aws-cli $(echo "$start $end $UPLOAD_MB" | awk '{ t = $2 - $1; printf "aws-s3-cp %.3f s %.1f MB/s", t, $3 * 1048576 / t / 1e6 }')"
done
