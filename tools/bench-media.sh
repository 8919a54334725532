#!/usr/bin/env bash
# Media benchmarks side by side with the peer tools, in one run, release build.
# Inputs are generated in /tmp (never committed). Prints a markdown table for BENCHMARKS.md.
#   tools/bench-media.sh [SECTION]  (needs: ffmpeg, espeak-ng, sox; librosa in $VENV, default /tmp/venv-media)
# SECTION runs one part only: decode, uniform, workers, mel, memory or leak.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work=/tmp/sluice-media-bench
venv="${VENV:-/tmp/venv-media}"
only="${1:-all}"
want() { [ "$only" = all ] || [ "$only" = "$1" ]; }
mkdir -p "$work"
cd "$root"
swift build -c release --product media-bench >&2
bench="$root/.build/release/media-bench"

make_video() {  # name seconds size rate extra-x264-args...
  local out="$work/$1"; shift
  local seconds=$1 size=$2 rate=$3; shift 3
  [ -s "$out" ] || ffmpeg -v error -nostdin -f lavfi -i "testsrc2=size=$size:rate=$rate:duration=$seconds" \
    -c:v libx264 -pix_fmt yuv420p "$@" -y "$out"
}
echo "generating inputs in $work ..." >&2
make_video 720p-20s.mp4 20 1280x720 30 -preset fast -crf 23
make_video 360p-60s.mp4 60 640x360 30 -preset fast -crf 23
make_video 720p-10min.mp4 600 1280x720 25 -preset ultrafast -crf 30
if [ ! -s "$work/speech-10s.wav" ]; then
  espeak-ng -v en-us -s 150 -w "$work/raw.wav" "a red circle moves to the left while a blue square moves up \
    and a yellow triangle slides down past a green circle that turns to the right"
  sox "$work/raw.wav" -r 16000 -c 1 -b 16 "$work/speech-10s.wav" pad 0 10 trim 0 10
fi

# Whole-process best-of-3 for both sides: wall seconds and CPU (user + sys) seconds. CPU time is
# what to read on a loaded machine; wall time is what a user waits for.
best_of_3() {
  local wall=999999 cpu=999999
  for _ in 1 2 3; do
    /usr/bin/time -o "$work/time.txt" -f "%e %U %S" "$@" >/dev/null 2>&1
    read -r w u s < "$work/time.txt"
    local c; c=$(echo "$u + $s" | bc -l)
    (( $(echo "$w < $wall" | bc -l) )) && wall=$w
    (( $(echo "$c < $cpu" | bc -l) )) && cpu=$c
  done
  echo "$wall $cpu"
}
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

if want decode; then
echo "1. decode + scale 224x224 rgb24, 1 thread, 720p 20 s (600 frames)" >&2
clip="$work/720p-20s.mp4"
read -r ours_wall ours_cpu <<<"$(best_of_3 "$bench" decode "$clip")"
read -r ours2_wall ours2_cpu <<<"$(best_of_3 "$bench" decode "$clip" 2)"
read -r ff_wall ff_cpu <<<"$(best_of_3 ffmpeg -threads 1 -i "$clip" -vf scale=224:224 -pix_fmt rgb24 -f rawvideo -y /dev/null)"
read -r ff1_wall ff1_cpu <<<"$(best_of_3 ffmpeg -threads 1 -filter_threads 1 -i "$clip" -vf scale=224:224 -pix_fmt rgb24 -f rawvideo -y /dev/null)"
printf '| decode + scale 224x224, 720p H.264, 600 frames: wall | %.2f s | ffmpeg -threads 1: %.2f s; with -filter_threads 1: %.2f s | %.2fx; %.2fx |\n' \
  "$ours_wall" "$ff_wall" "$ff1_wall" "$(echo "$ff_wall / $ours_wall" | bc -l)" "$(echo "$ff1_wall / $ours_wall" | bc -l)"
printf '| same, CPU time (user + sys) | %.2f s | %.2f s; %.2f s | %.2fx; %.2fx |\n' \
  "$ours_cpu" "$ff_cpu" "$ff1_cpu" "$(echo "$ff_cpu / $ours_cpu" | bc -l)" "$(echo "$ff1_cpu / $ours_cpu" | bc -l)"
printf '| same with 2 scaler slice threads (as the ffmpeg command scales): wall; CPU | %.2f s; %.2f s | %.2f s; %.2f s | %.2fx; %.2fx |\n' \
  "$ours2_wall" "$ours2_cpu" "$ff_wall" "$ff_cpu" "$(echo "$ff_wall / $ours2_wall" | bc -l)" "$(echo "$ff_cpu / $ours2_cpu" | bc -l)"
fi

if want uniform; then
echo "2. 8 uniform frames vs all frames, 360p 60 s (1800 frames, keyframe every 250)" >&2
u=$("$bench" uniform "$work/360p-60s.mp4")
printf '| 8 uniform frames of a 60 s clip vs every frame | %.3f s | all frames %.3f s | %.1fx |\n' \
  "$(json "$u" uniform8Seconds)" "$(json "$u" allSeconds)" "$(json "$u" speedup)"
fi

if want workers; then
echo "3. many files on 2 workers vs 1, 3 rounds alternating the two, best of each" >&2
files=()
for i in $(seq 1 8); do files+=("$work/720p-20s.mp4"); done
w=$("$bench" workers 2 3 "${files[@]}")
printf '| 8 files (720p, 600 frames each, 224x224) on 2 workers vs 1, best of 3 alternating rounds | %.3f s (CPU %.2f s) | 1 worker %.3f s (CPU %.2f s) | %.2fx |\n' \
  "$(json "$w" manyWorkersSeconds)" "$(json "$w" manyWorkersCPUSeconds)" "$(json "$w" oneWorkerSeconds)" \
  "$(json "$w" oneWorkerCPUSeconds)" "$(json "$w" speedup)"
fi

if want mel; then
echo "4. log-mel of 10 s of speech vs librosa, two option sets, best and median of many runs" >&2
librosa_mel() {  # preset -> "best median" seconds
  "$venv/bin/python" - "$work/speech-10s.wav" "$1" <<'PY'
import sys, time, numpy as np, soundfile, librosa
y, sr = soundfile.read(sys.argv[1], dtype="float32")
if sys.argv[2] == "speech":  # the spoken-caption defaults
    options = dict(n_fft=512, win_length=400, window="hamming", n_mels=40, fmin=20)
    prepare = lambda y: librosa.effects.preemphasis(y, coef=0.97)
else:  # whisper-like: n_fft 400, Hann, 80 mels, no pre-emphasis
    options = dict(n_fft=400, win_length=400, window="hann", n_mels=80, fmin=0)
    prepare = lambda y: y
def run():
    s = librosa.feature.melspectrogram(y=prepare(y), sr=sr, hop_length=160, **options)
    return librosa.power_to_db(s, ref=np.max, top_db=80)
run()
times = []
for _ in range(200):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
times.sort()
print(times[0], times[len(times) // 2])
PY
}
for preset in speech whisper; do
  read -r lib_best lib_median <<<"$(librosa_mel $preset)"
  for threads in 1 2; do
    m=$("$bench" mel "$work/speech-10s.wav" 1000 $threads $preset)
    best=$(json "$m" bestSeconds) median=$(json "$m" medianSeconds)
    printf '| log-mel %s, 10 s at 16 kHz, %s thread(s): best; median | %.3f; %.3f ms | librosa %.2f; %.2f ms | %.1fx; %.1fx |\n' \
      "$preset" "$threads" "$(echo "$best * 1000" | bc -l)" "$(echo "$median * 1000" | bc -l)" \
      "$(echo "$lib_best * 1000" | bc -l)" "$(echo "$lib_median * 1000" | bc -l)" \
      "$(echo "$lib_best / $best" | bc -l)" "$(echo "$lib_median / $median" | bc -l)"
  done
done
fi

if want memory; then
echo "5. peak memory decoding a 10-minute 720p video (every frame, native size)" >&2
p=$("$bench" memory "$work/720p-10min.mp4")
printf '| peak RSS decoding 10 min 720p (%s frames) | %.0f MB | target < 200 MB | %.1f s |\n' \
  "$(json "$p" frames)" "$(json "$p" peakMB)" "$(json "$p" seconds)"
fi

if want leak; then
echo "6. 1,000 open/decode/close rounds over the sample clips and the broken inputs" >&2
l=$("$bench" leak 1000 "$root"/samples/shapes/video/*.* "$root"/samples/broken/*.mp4)
printf '| 1,000 open+decode+close rounds (%s expected errors) | RSS %.1f MB after 100 | %.1f MB after 500 | %.1f MB after 1000 |\n' \
  "$(json "$l" errors)" "$(json "$l" rssMBAfter100)" "$(json "$l" rssMBAfter500)" "$(json "$l" rssMBAfter1000)"
fi
