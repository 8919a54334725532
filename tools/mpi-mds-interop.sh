#!/usr/bin/env bash
# The merged dataset of a partitioned run (`mpiexec -n N sluice run`) opens in Python's
# mosaicml-streaming (`StreamingDataset(local=...)`) and yields the samples of a one-process run:
# both datasets are read by StreamingDataset and the merged one also by `sluice shards cat`; all
# three print a count and an order-independent digest, which must agree. Exits 1 if not.
#
# usage: tools/mpi-mds-interop.sh     (BIN=path/to/sluice; builds the debug one otherwise;
#                                      installs mosaicml-streaming if missing; RANKS="2 3")
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then swift build --product sluice >&2; BIN="$(swift build --show-bin-path)/sluice"; fi
PY=${PY:-$(bash tools/install-mds.sh)}
WORK=$(mktemp -d /tmp/sluice-mpi-mds.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/inputs"
for i in $(seq 0 40); do head -c $((i * 97 + 1)) /dev/urandom > "$WORK/inputs/f$i.bin"; done
cat > "$WORK/pipeline.yaml" <<YAML
name: mpi-mds
output: $WORK/out
source: {type: files, paths: $WORK/inputs}
stages: [{type: checksum, algorithm: sha256, workers: 2}]
sink: {type: shard_writer, path: dataset, columns: ["path:str", "bytes:int", "sha256:str"], size_limit: 512, compression: zstd}
YAML
status=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected '$2', got '$3'"; status=1; fi
}
"$BIN" run "$WORK/pipeline.yaml" --quiet --set output="$WORK/one" >/dev/null 2>&1
expected=$("$PY" tools/mds_local_digest.py "$WORK/one/dataset" 2>/dev/null)
case "$expected" in "samples 41 digest "*) ;; *) echo "FAIL StreamingDataset could not read the one-process run: '$expected'"; exit 1;; esac
for ranks in ${RANKS:-2 3}; do
  mpiexec -n "$ranks" "$BIN" run "$WORK/pipeline.yaml" --quiet --set output="$WORK/many-$ranks" >/dev/null 2>&1
  grep -q "\"part-$((ranks - 1))/shard\." "$WORK/many-$ranks/dataset/index.json" || { echo "FAIL $ranks ranks: the index lists no part-$((ranks - 1)) shard"; status=1; }
  check "$ranks ranks merged, read by StreamingDataset(local=...)" "$expected" \
    "$("$PY" tools/mds_local_digest.py "$WORK/many-$ranks/dataset" 2>/dev/null)"
  check "$ranks ranks merged, read by sluice shards cat" "$expected" \
    "$("$BIN" shards cat "$WORK/many-$ranks/dataset" | "$PY" tools/mds_local_digest.py -)"
done
exit $status
