#!/usr/bin/env bash
# Clip sampling against the Python video readers, release build, one thread: the 30 clips of
# tools/make-reader-clips.sh (real footage in 10 codec and GOP layouts), the trainer access patterns
# (8 uniform frames, 16 consecutive frames, 1 fps) at 32, 112 and 224 px, Sluice's `media-bench
# sample` beside PyAV and decord (and torchcodec when TORCHCODEC=1), after a check of every
# reader's native-size frames against the ffmpeg CLI's. Prints markdown tables for BENCHMARKS.md.
# Then whole clips, every frame to 224x224, against the ffmpeg CLI.
#   tools/bench-readers.sh [REPEATS] [SECTION]   (REPEATS counted runs per cell, default 5; SECTION
#   `sample` or `whole` runs one part only; VENV, CLIPS)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
repeats="${1:-5}" only="${2:-all}"
want() { [ "$only" = all ] || [ "$only" = "$1" ]; }
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
if want sample; then
echo "clip sampling, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M') UTC"
"$venv/bin/python" tools/clip_readers_bench.py --clips "$clips/clips.json" --readers "$readers" --sluice "${bench[0]}" \
  --check --out /tmp/readers-check.json
"$venv/bin/python" tools/clip_readers_bench.py --clips "$clips/clips.json" --readers "$readers" --sluice "${bench[0]}" \
  --repeats "$repeats" --approximate --per-clip --exclude-wrong /tmp/readers-check.json --out /tmp/readers-bench.json
fi

# Whole clips: every frame decoded and scaled to 224x224 RGB on one thread, Sluice against the
# ffmpeg CLI, both as processes writing to /dev/null (`sluice frames` its .npy, the CLI raw RGB),
# and the library in-process (`media-bench decode`, nothing written) against the same CLI runs.
# Best of 3 each, the median over clips of the CLI's time / ours.
want whole || exit 0
swift build -c release --product sluice >&2
python3 - "$clips/clips.json" "$root/.build/release" <<'PY'
import json, statistics, subprocess, sys, time
clips, build = json.load(open(sys.argv[1])), sys.argv[2]
def best(command):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)
def library(path):
    out = subprocess.run([f"{build}/media-bench", "decode", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["seconds"]
cli = ["ffmpeg", "-v", "error", "-nostdin", "-threads", "1", "-filter_threads", "1", "-i"]
rows = []
for clip in clips:
    path = clip["path"]
    ours = best([f"{build}/sluice", "frames", path, "--size", "224x224", "--out", "/dev/null"])
    theirs = best(cli + [path, "-vf", "scale=224:224", "-pix_fmt", "rgb24", "-f", "rawvideo", "-y", "/dev/null"])
    in_process = min(library(path) for _ in range(3))
    rows.append((clip["name"], ours, theirs, in_process))
    print(f"  {clip['name']:32s} sluice frames {ours * 1000:7.1f} ms  ffmpeg {theirs * 1000:7.1f} ms  library {in_process * 1000:7.1f} ms",
          file=sys.stderr)
print("| whole clip, 224x224, 1 thread | median over clips | CLI / ours, median (range) |")
print("| --- | --- | --- |")
print(f"| `sluice frames` vs the ffmpeg CLI, both to /dev/null | {statistics.median(r[1] for r in rows) * 1000:.0f} ms vs "
      f"{statistics.median(r[2] for r in rows) * 1000:.0f} ms | {statistics.median(r[2] / r[1] for r in rows):.2f}x "
      f"({min(r[2] / r[1] for r in rows):.2f}-{max(r[2] / r[1] for r in rows):.2f}) |")
print(f"| library in-process vs the same CLI runs | {statistics.median(r[3] for r in rows) * 1000:.0f} ms vs "
      f"{statistics.median(r[2] for r in rows) * 1000:.0f} ms | {statistics.median(r[2] / r[3] for r in rows):.2f}x "
      f"({min(r[2] / r[3] for r in rows):.2f}-{max(r[2] / r[3] for r in rows):.2f}) |")
PY
