#!/usr/bin/env bash
# Runs the tests whose results hang on OpenBLAS's kernels once under a kernel set of OpenBLAS's,
# so a developer on one CPU sees what a user on another sees: a machine's environment may set
# OPENBLAS_CORETYPE, OpenBLAS may pick other kernels on another CPU, and Tensor promises the same
# bits on any thread count under all of them. `make test` runs it once per set after the suite.
#   tools/test-kernel-sets.sh --list    # the kernel sets this CPU can execute, one a line
#   tools/test-kernel-sets.sh SET       # the tests with OPENBLAS_CORETYPE=SET, for this run alone
# The tests: Tensor's (thread-count equality among them), the models against their PyTorch
# fixtures, the training loop's recorded and resumed losses, the trainer commands and stages, and
# the data-parallel rank-count equality. Needs the debug test build (swift build --build-tests).
set -euo pipefail
trap 'echo "test-kernel-sets: line $LINENO failed: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

# A kernel set and the /proc/cpuinfo flags its kernels use. Zen runs Haswell's kernels with its
# own blocking; Cooperlake adds bf16 kernels to SkylakeX's.
sets=(
  "Prescott pni"
  "Nehalem ssse3 sse4_1 sse4_2"
  "Sandybridge avx"
  "Haswell avx avx2 fma"
  "Zen avx avx2 fma"
  "SkylakeX avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl"
  "Cooperlake avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16"
)
filter='TensorTests\.|ModelsTests\.|TrainingTests\.|DataParallelTrainingTests|RetroMAE|SpokenMoments|Capsule|FeatureStages'

if [ "$(uname -m)" != x86_64 ]; then
  [ "${1:-}" = --list ] || echo "test-kernel-sets: OpenBLAS's x86-64 kernel sets; this is $(uname -m)" >&2
  exit 0
fi

if [ "${1:-}" = --list ]; then
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  for entry in "${sets[@]}"; do
    read -r name needed <<<"$entry"
    runnable=1
    for flag in $needed; do [[ "$flags" == *" $flag "* ]] || runnable=0; done
    [ "$runnable" = 1 ] && echo "$name"
  done
  exit 0
fi

set_name="${1:?usage: tools/test-kernel-sets.sh --list | SET}"
tests="$(swift build --show-bin-path)/SluicePackageTests.xctest"
# The OpenBLAS the tests load, asked which kernels it runs under this OPENBLAS_CORETYPE: an
# OpenBLAS without the set falls back to another without a word, and the run would check nothing new.
# (awk reads all of ldd's output: leaving early can end ldd by SIGPIPE, which pipefail counts.)
library="$(ldd "$tests" | awk '/libopenblas/ && !found { print $3; found = 1 }')"
loaded="$(OPENBLAS_CORETYPE="$set_name" python3 -c '
import ctypes, sys
blas = ctypes.CDLL(sys.argv[1])
blas.openblas_get_corename.restype = ctypes.c_char_p
print(blas.openblas_get_corename().decode())' "$library")"
if [ "${loaded,,}" != "${set_name,,}" ]; then
  echo "test-kernel-sets: $library runs $loaded kernels when asked for $set_name; this OpenBLAS lacks them" >&2
  exit 1
fi
echo "test-kernel-sets: OPENBLAS_CORETYPE=$set_name ($library)" >&2
OPENBLAS_CORETYPE="$set_name" swift test --skip-build --filter "$filter"
