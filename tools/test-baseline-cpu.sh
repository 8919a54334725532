#!/usr/bin/env bash
# Runs the log-mel tests again on an emulated x86-64 CPU without AVX2 (qemu-user, -cpu Westmere),
# so the baseline builds of CMelKernels' loops, which this machine's loader never picks, are
# checked against the same librosa fixtures as the AVX2 ones. `make test` runs it after the suite.
# Needs: qemu-user (tools/install-deps.sh qemu-user) and the debug test build (swift build --build-tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "$(uname -m)" != x86_64 ]; then
  echo "test-baseline-cpu: not an x86-64 machine, nothing to check" >&2
  exit 0
fi
tests="$(swift build --show-bin-path)/SluicePackageTests.xctest"
echo "test-baseline-cpu: LogMelTests on qemu-x86_64 -cpu Westmere (SSE4.2, no AVX)" >&2
qemu-x86_64 -cpu Westmere "$tests" --testing-library swift-testing --filter LogMelTests
