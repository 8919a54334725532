#!/usr/bin/env bash
# `make test` after the installs: builds the tests, then runs every step even when one fails, and
# ends with one line naming the steps that failed (exit 1) or saying all passed.
#   1. the whole suite, in the environment as it is (OPENBLAS_CORETYPE included);
#   2. the kernel-dependent tests once per OpenBLAS kernel set this CPU can execute
#      (tools/test-kernel-sets.sh);
#   3. the log-mel tests on an emulated CPU without AVX2 (tools/test-baseline-cpu.sh);
#   4. the fuzzers' kept inputs (tools/fuzz.sh --replay), and with FUZZ_SECONDS=N a short fuzzing run;
#   5. the README's examples, run as written (tools/readme-check.sh).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! swift build --build-tests; then
  echo "make test: the test build failed; no test ran" >&2
  exit 1
fi

passed=() failed=()
step() {
  local name="$1"; shift
  echo "== make test: $name" >&2
  if "$@"; then passed+=("$name"); else failed+=("$name"); fi
}

step "suite" swift test --skip-build
for set_name in $(tools/test-kernel-sets.sh --list); do
  step "kernels $set_name" tools/test-kernel-sets.sh "$set_name"
done
step "baseline CPU" tools/test-baseline-cpu.sh
step "fuzz replay" tools/fuzz.sh --replay
if [ -n "${FUZZ_SECONDS:-}" ]; then step "fuzz smoke" tools/fuzz.sh --smoke "$FUZZ_SECONDS"; fi
step "README examples" tools/readme-check.sh

join() { local list; list="$(printf '%s, ' "$@")"; echo "${list%, }"; }
total=$(( ${#passed[@]} + ${#failed[@]} ))
if [ ${#failed[@]} -eq 0 ]; then
  echo "make test: all $total steps passed: $(join "${passed[@]}")"
  exit 0
fi
echo "make test: ${#failed[@]} of $total steps failed: $(join "${failed[@]}")"
exit 1
