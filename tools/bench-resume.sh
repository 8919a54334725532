#!/bin/bash
# How long a killed clip-training run takes to continue (BENCHMARKS.md, "Resuming by seeking"):
# for each sluice binary given (default: the release build), trains 300 updates of the default
# Spoken Moments model on a 100,000-row manifest (the sample clips over and over), then times the
# same command with --steps 310 --resume, and prints the seconds and the loss at update 310.
#   tools/bench-resume.sh [SLUICE...]      e.g. an older build beside the current one
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { swift build -c release --product sluice >/dev/null; set -- .build/release/sluice; }
work=$(mktemp -d /tmp/bench-resume.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/big.jsonl" <<'PY'
import json, os, sys
rows = [json.loads(line) for line in open("samples/shapes/manifest.jsonl")]
with open(sys.argv[1], "w") as out:
    for n in range(100_000):
        row = dict(rows[n % len(rows)], id=f"clip-{n}")
        for key in ("video", "audio"):
            row[key] = os.path.abspath(os.path.join("samples/shapes", row[key]))
        if n >= len(rows) and row["split"] == "test":
            row["split"] = "train"
        out.write(json.dumps(row) + "\n")
PY
for binary in "$@"; do
  run="$work/run-$(basename "$binary")-$RANDOM"
  common=(spoken-moments train --manifest "$work/big.jsonl" --out "$run" --checkpoint-every 300 --eval-every 100000 --threads 2)
  "$binary" "${common[@]}" --steps 300 --log-every 100 >/dev/null 2>&1
  start=$(date +%s.%N)
  line=$("$binary" "${common[@]}" --steps 310 --log-every 10 --resume 2>/dev/null | grep "step 310/")
  echo "$binary: resume 300 -> 310 in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s; ${line%%lr *}"
done
