#!/bin/bash
# What the clip trainers learn on clips of a world, beside the plain PyTorch baseline at the same
# wall-clock and threads (BENCHMARKS.md, "What the clip trainers learn"), release build:
#   tools/clip_learning.sh MANIFEST OUT TRAINER NAME [SETTINGS...]
# TRAINER: spoken-moments or capsules. Trains `sluice TRAINER train --manifest MANIFEST
# --out OUT/NAME --threads 2 SETTINGS` (give --steps), times it, then trains
# tools/clip_baseline.py on the same manifest, split and threads for that many seconds (its decode
# excluded: the baseline decodes once before its clock starts, Sluice decodes while it trains), and
# prints both runs' last held-out figures on one line each. NAME=baseline-only skips Sluice and
# takes BUDGET seconds (default 300). BASELINE=no skips the baseline. SEED=N seeds both (default 0).
#   tools/clip_learning.sh T/manifest.jsonl out/clip-learning spoken-moments default --steps 300
# (T: a world from tools/make-samples.py or tools/clip_worlds.py)
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$1 out=$2 trainer=$3 name=$4
shift 4
mkdir -p "$out"
sluice=${SLUICE:-.build/release/sluice}
[ -n "${SLUICE:-}" ] || swift build -c release --product sluice >/dev/null
# last FILE KEYS...: the last eval record of a metrics.jsonl (or the baseline's JSONL), KEY=value.
last() {
  python3 - "$@" <<'EOF'
import json, sys
path, keys = sys.argv[1], sys.argv[2:]
records = [json.loads(l) for l in open(path) if l.strip()]
evals = [r for r in records if r.get("kind", "eval") == "eval"]
r = evals[-1] if evals else {}
figures = r.get("figures", r)
print("  ".join(f"{k} {figures[k]:.4g}" if isinstance(figures.get(k), (int, float)) else f"{k} -" for k in keys))
EOF
}
if [ "$trainer" = capsules ]; then
  keys="step text_to_video_r10 text_to_video_median_rank video_to_text_r10 video_to_text_median_rank audio_to_video_r10 audio_to_video_median_rank"
  text=--text
else
  keys="step video_to_caption_r10 video_to_caption_median_rank caption_to_video_r10 caption_to_video_median_rank"
  text=
fi
budget=${BUDGET:-300}
seed=${SEED:-0}
if [ "$name" != baseline-only ]; then
  start=$(date +%s.%N)
  "$sluice" "$trainer" train --manifest "$manifest" --out "$out/$name" --threads 2 --overwrite --seed "$seed" "$@" \
    >"$out/$name.log" 2>&1
  budget=$(python3 -c "print(round($(date +%s.%N) - $start))")
  echo "$trainer $name ($budget s): $(last "$out/$name/metrics.jsonl" $keys chance_r10)"
fi
if [ "${BASELINE:-yes}" != no ]; then
  tools/clip_baseline.sh --manifest "$manifest" --seconds-budget "$budget" --threads 2 --seed "$seed" $text --out "$out/$name.baseline.jsonl" \
    >"$out/$name.baseline.log" 2>&1
  echo "pytorch baseline ($budget s): $(last "$out/$name.baseline.jsonl" $keys chance_r10)"
fi
