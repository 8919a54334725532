#!/usr/bin/env bash
# Builds the real-world container fixtures the Media tests read, with the ffmpeg CLI, from the
# first sample clip: an MPEG program stream (MPEG-2 video with B-frames; only some packets carry a
# presentation time, so decoding times collide), an AVI whose headers claim twice the frames it
# holds, an AVI of MPEG-4 with B-frames (most packets carry no presentation time), raw MPEG-1 and
# H.264 elementary streams (no timestamps at all), and an SWF (cannot seek).
# For each it exports the frames `select=eq(n\,k)` gives for k = 0, 1 and the last, as raw RGB24,
# and ffprobe's decoded frame count.
# Writes Tests/MediaTests/Fixtures/containers/. Needs: apt-get install -y ffmpeg python3
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/Tests/MediaTests/Fixtures/containers"
source="$root/samples/shapes/video/shapes-00000.mp4"
mkdir -p "$out"
cd "$out"
ff() { ffmpeg -v error -nostdin -threads 1 -y "$@"; }

ff -i "$source" -an -c:v mpeg2video -bf 2 -q:v 6 -f mpeg clip.mpg
ff -i "$source" -an -c:v mpeg4 -q:v 8 clip-overdeclared.avi
# avih dwTotalFrames (byte 48) and the video strh dwLength: 90 where 45 frames follow.
python3 - clip-overdeclared.avi <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
assert data[0:4] == b"RIFF" and data[24:28] == b"avih"
data[48:52] = struct.pack("<I", 90)
strh = data.find(b"strh")
assert data[strh + 8:strh + 12] == b"vids"
data[strh + 8 + 32:strh + 8 + 36] = struct.pack("<I", 90)
open(sys.argv[1], "wb").write(data)
EOF
ff -i "$source" -an -c:v mpeg4 -bf 2 -q:v 8 clip-bframes.avi
ff -i "$source" -an -c:v mpeg1video -r 25 -q:v 8 clip.m1v
ff -i "$source" -an -c:v copy -bsf:v h264_mp4toannexb clip.264
ff -i "$source" -an -c:v flv1 -q:v 8 clip.swf

entries=()
for clip in clip.mpg clip-overdeclared.avi clip-bframes.avi clip.m1v clip.264 clip.swf; do
  count=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
  count=${count%,}
  last=$((count - 1))
  ff -i "$clip" -vf "select='eq(n\,0)+eq(n\,1)+eq(n\,$last)'" -fps_mode passthrough -pix_fmt rgb24 -f rawvideo "$clip.rgb"
  entries+=("{\"video\": \"$clip\", \"frames\": [0, 1, $last], \"frameCount\": $count}")
done
{
  echo "{\"ffmpeg\": \"$(ffmpeg -version | head -1 | cut -d' ' -f3)\", \"clips\": ["
  (IFS=$'\n'; echo "${entries[*]}") | sed '$!s/$/,/'
  echo "]}"
} > containers.json
echo "export-container-fixtures: wrote $out"
