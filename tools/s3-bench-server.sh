# Sourced by tools/bench-s3.sh and tools/s3-interop.sh: installs what they need, starts SeaweedFS
# through `s3-bench serve` and exports its endpoint and credentials (the AWS CLI, boto3,
# mosaicml-streaming and sluice all read them). Needs BENCH (the s3-bench binary) and WORK.
bash tools/install-s3-server.sh
PY=${PY:-$(bash tools/install-mds.sh)}
"$BENCH" serve "$WORK/env" & server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$WORK" "${SLUICE_S3_DIR:-}"' EXIT
for _ in $(seq 1 600); do [ -f "$WORK/env" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$WORK/env"
bucket="s3://$SLUICE_S3_BUCKET"
