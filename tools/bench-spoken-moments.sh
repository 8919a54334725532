#!/usr/bin/env bash
# Spoken Moments data path, release build, side by side in interleaved rounds (the machine is shared):
#  1. preprocessing clips/s: pipelines/spoken-moments-prepare.yaml against tools/spoken_moments_prepare.py
#     (ffmpeg CLI frames + librosa log-mel + mosaicml-streaming's MDSWriter, 2 worker processes) on
#     the train clips among the first CLIPS rows of the 3,000-clip set, then a check that both
#     datasets hold the same clips, frames and log-mel;
#  2. the trainer's data-wait share (metrics.jsonl) training from those shards
#     (pipelines/spoken-moments-train.yaml), decoding on the fly (spoken-moments-onthefly.yaml),
#     and decoding on the fly with augmentation (`sluice spoken-moments train --augment`: jittered
#     frames, crops, speeds, gains, noise, SpecAugment masks and random caption windows).
#   make shapes-3000 && tools/bench-spoken-moments.sh [CLIPS] [ROUNDS] [STEPS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
clips="${1:-400}" rounds="${2:-3}" steps="${3:-60}"
set_dir="${SHAPES:-data/shapes-3000}"
[ -f "$set_dir/manifest.jsonl" ] || { echo "bench-spoken-moments: no $set_dir/manifest.jsonl (make shapes-3000)" >&2; exit 1; }
python="$(bash tools/install-mds.sh)"
"$python" -c "import librosa" 2>/dev/null ||
  "$(dirname "$python")/pip" install --quiet --disable-pip-version-check "librosa==0.10.2.post1" "numpy<2" >&2
swift build -c release --product sluice >&2
sluice="$root/.build/release/sluice"

work="out/bench-spoken-moments"
rm -rf "$work" && mkdir -p "$work"
set_abs="$(cd "$set_dir" && pwd)"
head -n "$clips" "$set_dir/manifest.jsonl" | sed "s#\"video\": \"#\"video\": \"$set_abs/#; s#\"audio\": \"#\"audio\": \"$set_abs/#" \
  > "$work/manifest.jsonl"
train=$(grep -c '"split": "train"' "$work/manifest.jsonl")
echo "$train train clips of the first $clips rows of $set_dir; $(nproc) cores; $(date -u +%F)"

now() { date +%s.%N; }
for round in $(seq "$rounds"); do
  rm -rf "$work/ours" "$work/theirs"
  t0=$(now)
  "$sluice" run pipelines/spoken-moments-prepare.yaml --set "source.path=$work/manifest.jsonl" --set "output=$work/ours" >/dev/null 2>&1
  t1=$(now)
  "$python" tools/spoken_moments_prepare.py "$work/manifest.jsonl" "$work/theirs" --workers 2 >/dev/null
  t2=$(now)
  echo "round $round prepare: sluice $(echo "$train / ($t1 - $t0)" | bc -l | xargs printf %.1f) clips/s," \
       "python $(echo "$train / ($t2 - $t1)" | bc -l | xargs printf %.1f) clips/s," \
       "ratio $(echo "($t2 - $t1) / ($t1 - $t0)" | bc -l | xargs printf %.2f)x"
done
"$python" tools/spoken_moments_prepare.py --compare "$work/ours/train" "$work/theirs"

# Mean data-wait share over the logged windows after the first (which holds the pipeline's start-up).
wait_share() {
  "$python" - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"train"' in l]
later = rows[1:] or rows
share = sum(r["data_wait_share"] for r in later) / len(later)
on = {r["waiting_on"] for r in later}
print(f"data wait {100 * share:.2f}% (first window {100 * rows[0]['data_wait_share']:.1f}%), "
      f"{sum(r['examples_per_second'] for r in later) / len(later):.1f} examples/s, waiting on {', '.join(sorted(on))}")
PY
}
epochs=$(( steps * 16 / train + 2 ))
common=(--set stages.0.size=16 --set "sink.steps=$steps" --set sink.log_every=10 --set sink.checkpoint_every=1000)
for round in $(seq "$rounds"); do
  rm -rf "$work/from-shards" "$work/onthefly"
  "$sluice" run pipelines/spoken-moments-train.yaml --set "source.paths=$work/ours/train" --set "source.epochs=$epochs" \
    --set "output=$work/from-shards" "${common[@]}" >/dev/null 2>&1
  echo "round $round from shards: $(wait_share "$work/from-shards/trainer/metrics.jsonl")"
  "$sluice" run pipelines/spoken-moments-onthefly.yaml --set "source.path=$work/manifest.jsonl" --set "source.epochs=$epochs" \
    --set "output=$work/onthefly" --set stages.4.size=16 --set "sink.steps=$steps" --set sink.log_every=10 \
    --set sink.checkpoint_every=1000 >/dev/null 2>&1
  echo "round $round on the fly:   $(wait_share "$work/onthefly/metrics.jsonl")"
  rm -rf "$work/augmented"
  "$sluice" spoken-moments train --manifest "$work/manifest.jsonl" --out "$work/augmented" --augment --batch-size 16 \
    --steps "$steps" --log-every 10 --checkpoint-every 1000 >/dev/null 2>&1
  echo "round $round augmented:   $(wait_share "$work/augmented/metrics.jsonl")"
done
