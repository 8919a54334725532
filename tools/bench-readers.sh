#!/usr/bin/env bash
# Clip sampling against the Python video readers, release build, one thread: the 30 clips of
# tools/make-reader-clips.sh (real footage in 10 codec and GOP layouts), the trainer access patterns
# (8 uniform frames, 16 consecutive frames, 1 fps) at 32, 112 and 224 px, Sluice's `media-bench
# sample` beside PyAV and decord (and torchcodec when TORCHCODEC=1), after a check of every
# reader's native-size frames against the ffmpeg CLI's. Prints markdown tables for BENCHMARKS.md.
#   tools/bench-readers.sh [REPEATS]      (REPEATS counted runs per cell, default 5; VENV, CLIPS)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
repeats="${1:-5}"
venv="${VENV:-/tmp/venv-readers}"
clips="${CLIPS:-/tmp/reader-clips}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import av, decord, numpy" 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check av==18.1.0 decord==0.6.0 numpy >&2
readers=pyav,decord
if [ "${TORCHCODEC:-0}" = 1 ]; then
  # PyPI's torch wheel pulls the CUDA libraries (some GB); the CPU index is not always reachable.
  "$venv/bin/python" -c "import torchcodec" 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchcodec==0.17.0 >&2
  readers=pyav,decord,torchcodec
fi
VENV="$venv" tools/make-reader-clips.sh "$clips" >&2
swift build -c release --product media-bench >&2
bench=(.build/release/media-bench)
echo "clip sampling, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M') UTC"
"$venv/bin/python" tools/clip_readers_bench.py --clips "$clips/clips.json" --readers "$readers" --sluice "${bench[0]}" \
  --check --out /tmp/readers-check.json
"$venv/bin/python" tools/clip_readers_bench.py --clips "$clips/clips.json" --readers "$readers" --sluice "${bench[0]}" \
  --repeats "$repeats" --approximate --per-clip --exclude-wrong /tmp/readers-check.json --out /tmp/readers-bench.json
