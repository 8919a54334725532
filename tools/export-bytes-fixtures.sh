#!/usr/bin/env bash
# Builds the fixtures the Media tests read media from bytes with, using the ffmpeg CLI.
# An MP4 whose index (moov) comes after its data, as the CLI writes without +faststart (the sample
# clips have it first), so reading it from bytes must seek to the end and back: the first sample
# clip's video stream copied, so Fixtures/video's frames of that clip are its frames too.
# Still images (ImageReader, image_decode), from a frame of the first sample clip at 33x21 (odd
# sides: chroma rounding and row padding):
# a JPEG (4:2:0), PNGs in every colour type that needs converting (RGB, RGBA with varying alpha,
# grey, grey with alpha, palette, 16-bit RGB and grey with low bytes that matter) and a lossy and
# a lossless WebP. For each it exports what `ffmpeg -i IMAGE -pix_fmt rgb24 -f rawvideo` gives, and
# for the JPEG that picture scaled to 16x12 (bicubic, as the CLI's scale filter).
# Writes Tests/MediaTests/Fixtures/bytes/ and images/. Needs: ffmpeg (bash tools/install-deps.sh ffmpeg), python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source="$root/samples/shapes/video/shapes-00000.mp4"
ff() { ffmpeg -v error -nostdin -threads 1 -y "$@"; }

mkdir -p "$root/Tests/MediaTests/Fixtures/bytes"
cd "$root/Tests/MediaTests/Fixtures/bytes"
ff -i "$source" -an -c:v copy moov-at-end.mp4
python3 - moov-at-end.mp4 <<'EOF'
import struct, sys
data, offset, boxes = open(sys.argv[1], "rb").read(), 0, []
while offset + 8 <= len(data):
    size, kind = struct.unpack(">I4s", data[offset:offset + 8])
    boxes.append(kind.decode())
    offset += size
assert boxes.index("moov") > boxes.index("mdat"), boxes
EOF

out="$root/Tests/MediaTests/Fixtures/images"
mkdir -p "$out"
cd "$out"
frame() { ff -ss 0.5 -i "$source" -frames:v 1 -vf "scale=33:21,$1" "${@:2}"; }

frame null -q:v 3 photo.jpg
frame format=rgb24 rgb.png
frame "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='X*7+Y*3'" rgba.png
frame format=gray gray.png
frame "format=ya8,geq=lum='lum(X,Y)':a='255-X*5'" -pix_fmt ya8 graya.png
frame "split[a][b];[a]palettegen=max_colors=16[p];[b][p]paletteuse=dither=none" palette.png
# 16-bit samples (scaled in 16 bits, then offset) whose low bytes are not copies of the high ones.
frame "format=rgb48be,geq=r='r(X,Y)+X*7':g='g(X,Y)+Y*11':b='b(X,Y)+X*Y'" -pix_fmt rgb48be rgb48.png
frame "format=gray16be,geq=lum='lum(X,Y)+X*Y*3'" -pix_fmt gray16be gray16.png
frame null -c:v libwebp -quality 80 lossy.webp
frame format=rgba -c:v libwebp -lossless 1 lossless.webp

images=(photo.jpg rgb.png rgba.png gray.png graya.png palette.png rgb48.png gray16.png lossy.webp lossless.webp)
for image in "${images[@]}"; do
  ff -i "$image" -pix_fmt rgb24 -f rawvideo "$image.rgb"
done
ff -i photo.jpg -vf scale=16:12 -pix_fmt rgb24 -f rawvideo photo.jpg-16x12.rgb
{
  echo "{\"ffmpeg\": \"$(ffmpeg -version | head -1 | cut -d' ' -f3)\", \"width\": 33, \"height\": 21, \"images\": ["
  for image in "${images[@]}"; do
    echo "  {\"image\": \"$image\", \"pixelFormat\": \"$(ffprobe -v error -show_entries stream=pix_fmt -of csv=p=0 "$image")\"},"
  done | sed '$s/,$//'
  echo "]}"
} > images.json
echo "export-bytes-fixtures: wrote Tests/MediaTests/Fixtures/bytes and images"
