#!/usr/bin/env bash
# Fuzzes one parser of untrusted files with libFuzzer (the Swift toolchain's):
#   tools/fuzz.sh TARGET SECONDS     # e.g. tools/fuzz.sh index 600
#   tools/fuzz.sh --smoke SECONDS    # every target for SECONDS each (make fuzz-smoke)
#   tools/fuzz.sh --replay           # the kept inputs through a plain debug build (make test)
#   tools/fuzz.sh --container-seeds  # remakes Fuzz/seeds/container/ with the ffmpeg CLI
# Targets: pipeline, index, shard, safetensors, npy, vocab, tokenizerjson, json, container (media
# files through the probe, frame and audio decoders), mediabytes (the same and the image decoder,
# from bytes in memory), tar (WebDataset shards, plain or compressed), csv (CSV manifests). The fuzzing
# build (AddressSanitizer + coverage, release) goes to .build-fuzz; a crashing input is written
# to Fuzz/crashes/TARGET/ and should be fixed, then moved to Fuzz/regressions/TARGET/ where
# --replay runs it on every `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(pipeline index shard safetensors npy vocab tokenizerjson json container mediabytes tar csv)
# The targets link MPI (through Pipelines), whose UCX patches mmap at load time in a way that
# jumps into AddressSanitizer's interceptor and dies before main; its mmap hooks are not needed here.
export UCX_MEM_MMAP_HOOK_MODE=none

if [ "${1:-}" = "--container-seeds" ]; then
  # Tiny real files (16x16, 4 frames, a tone), one per container class the probe must handle;
  # under libFuzzer's -max_len so mutations reach their ends.
  out=Fuzz/seeds/container
  mkdir -p "$out"
  video=(-f lavfi -i testsrc=size=16x16:rate=4:duration=1 -f lavfi -i sine=frequency=440:sample_rate=8000:duration=1)
  ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
  ff "${video[@]}" -c:v libx264 -preset ultrafast -g 2 -c:a aac -b:a 16k -shortest "$out/clip.mp4"
  ff "${video[@]}" -c:v libvpx -b:v 20k -c:a libvorbis -shortest "$out/clip.mkv"
  ff "${video[@]}" -c:v mpeg4 -q:v 10 -c:a pcm_u8 -shortest "$out/clip.avi"
  ff "${video[@]}" -c:v mpeg2video -bf 2 -q:v 10 -c:a mp2 -b:a 32k -shortest -f vob "$out/clip.mpg"
  ff -f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.5 -c:a pcm_s16le "$out/tone.wav"
  ls -l "$out" >&2
  exit 0
fi

if [ "${1:-}" = "--replay" ]; then
  swift build --product sluice-fuzz >/dev/null
  for t in "${targets[@]}"; do
    inputs=(Fuzz/regressions/"$t"/* Fuzz/seeds/"$t"/*)
    existing=()
    for f in "${inputs[@]}"; do [ -f "$f" ] && existing+=("$f"); done
    [ ${#existing[@]} -eq 0 ] && continue
    SWIFT_BACKTRACE=enable=no .build/debug/sluice-fuzz "$t" "${existing[@]}"
  done
  exit 0
fi

fuzzer_lib="$(dirname "$(dirname "$(command -v swiftc)")")/lib/clang"
fuzzer_lib="$(ls "$fuzzer_lib"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)"
swift build -c release --product sluice-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,pc-table,inline-8bit-counters,trace-cmp \
  -Xswiftc -DFUZZING -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ >&2
binary=.build-fuzz/release/sluice-fuzz

run() {  # TARGET SECONDS
  local target=$1 seconds=$2
  mkdir -p "Fuzz/corpus/$target" "Fuzz/crashes/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$binary" "$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="Fuzz/crashes/$target/" "Fuzz/corpus/$target" "Fuzz/seeds/$target" 2>&1 |
    grep -E "^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" >&2
}

if [ "${1:-}" = "--smoke" ]; then
  for t in "${targets[@]}"; do run "$t" "${2:-5}"; done
else
  [ $# -eq 2 ] || { echo "usage: tools/fuzz.sh TARGET SECONDS | --smoke SECONDS | --replay" >&2; exit 2; }
  run "$1" "$2"
fi
