#!/usr/bin/env bash
# Interop with mosaicml-streaming through a bucket: a dataset sluice writes to SeaweedFS streams in
# Python's StreamingDataset(remote='s3://...'), and one Python's MDSWriter uploads streams in
# sluice; both sides print a digest of every (id, text) pair, which must agree. Exits 1 if not.
#
# usage: tools/s3-interop.sh     (builds s3-bench; installs SeaweedFS and mosaicml-streaming if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product s3-bench >&2
BENCH="$(swift build --show-bin-path)/s3-bench"
WORK=$(mktemp -d /tmp/sluice-s3-interop.XXXXXX)
# shellcheck source=tools/s3-bench-server.sh
source tools/s3-bench-server.sh
status=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: expected $2, got $3"; status=1; fi
}

wrote=$("$BENCH" write "$bucket/from-sluice" 5000 100 65536 | grep digest)
read=$("$PY" tools/s3_interop.py digest "$bucket/from-sluice" "$WORK/py-cache" 2>/dev/null | grep digest)
check "sluice writes, mosaicml-streaming reads" "$wrote" "$read"

wrote=$("$PY" tools/s3_interop.py write "$bucket/from-python" 5000 2>/dev/null | grep digest)
read=$("$BENCH" digest "$bucket/from-python" "$WORK/sluice-cache" | grep digest)
check "mosaicml-streaming writes, sluice reads" "$wrote" "$read"
exit $status
