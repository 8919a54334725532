#!/bin/bash
# The plain PyTorch baseline of the clip-trainer tables of BENCHMARKS.md (tools/clip_baseline.py:
# what it trains, how it decodes and how it ranks are in its docstring), in a venv of pinned versions:
#   tools/clip_baseline.sh --manifest M --seconds-budget 330 --threads 2 [--text] [--out FILE.jsonl]
#   tools/clip_baseline.sh --self-test
# Makes /tmp/venv-clip-baseline when it is missing (CPU torch 2.13.0+cpu, the wheel this machine
# kind keeps in pip's find-links /opt/wheels; librosa, numpy and the packages whose numbers they
# depend on, from PyPI) and installs the ffmpeg CLI (Debian) when it is missing; then passes every
# argument to the tool.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=/tmp/venv-clip-baseline
pins=(torch==2.13.0+cpu librosa==0.11.0 numpy==2.4.6 scipy==1.17.1 numba==0.68.1 llvmlite==0.50.0
      soundfile==0.14.0 soxr==1.1.0 scikit-learn==1.9.1)
if ! "$venv/bin/python" -c 'import torch, librosa, numpy, soundfile' 2>/dev/null \
   || [ "$("$venv/bin/python" -c 'import torch, librosa, numpy; print(torch.__version__, librosa.__version__, numpy.__version__)')" \
        != "2.13.0+cpu 0.11.0 2.4.6" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pins[@]}"
fi
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || bash tools/install-deps.sh ffmpeg
exec "$venv/bin/python" tools/clip_baseline.py "$@"
