#!/usr/bin/env bash
# Exports the reference frames the Media tests compare against, with the ffmpeg CLI:
# for one clip per container, frames 3, 22 and 44 (ffmpeg's own numbering, select=eq(n,k)) as
# raw RGB24 at the native size and scaled to 80x80 (bicubic), ffprobe's counted frame total, the
# clip resampled with the fps filter to 4 and 10 fps, and the frame `-ss T` seeks to for a few
# times T, some between frames (both scaled to 16x16 to stay small); and the same frames of the
# rotated samples, turned upright as the CLI does.
# Writes Tests/MediaTests/Fixtures/video/. Needs: apt-get install -y ffmpeg
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/Tests/MediaTests/Fixtures/video"
mkdir -p "$out"
indices=(3 22 44)
rates=(4 10)
times=(0 0.2 0.5 1.01 1.05 2.9)
select="select='$(printf 'eq(n\\,%s)+' "${indices[@]}" | sed 's/+$//')'"

entries=()
for clip in shapes-00000.mp4 shapes-00001.mkv shapes-00002.webm shapes-00003.avi; do
  file="$root/samples/shapes/video/$clip"
  name="${clip%.*}-${clip##*.}"
  ffmpeg -v error -nostdin -threads 1 -i "$file" -vf "$select" -fps_mode passthrough \
    -pix_fmt rgb24 -f rawvideo -y "$out/$name-native.rgb"
  ffmpeg -v error -nostdin -threads 1 -i "$file" -vf "$select,scale=80:80:flags=bicubic" \
    -fps_mode passthrough -pix_fmt rgb24 -f rawvideo -y "$out/$name-80x80.rgb"
  for rate in "${rates[@]}"; do
    ffmpeg -v error -nostdin -threads 1 -i "$file" -vf "fps=$rate,scale=16:16:flags=bicubic" \
      -pix_fmt rgb24 -f rawvideo -y "$out/$name-fps$rate-16x16.rgb"
  done
  for time in "${times[@]}"; do
    ffmpeg -v error -nostdin -threads 1 -ss "$time" -i "$file" -frames:v 1 -vf scale=16:16:flags=bicubic \
      -pix_fmt rgb24 -f rawvideo -y -
  done > "$out/$name-ss-16x16.rgb"
  count=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$file")
  entries+=("{\"video\": \"samples/shapes/video/$clip\", \"fixture\": \"$name\", \"frameCount\": $count}")
done
# The rotated samples, as the CLI turns them upright by default: at the native size and at 32x56.
rotated=()
for name in rotated-90 rotated-180 rotated-270 rotated-90-yuv422p; do
  file="$root/samples/shapes/$name.mp4"
  ffmpeg -v error -nostdin -threads 1 -i "$file" -vf "$select" -fps_mode passthrough \
    -pix_fmt rgb24 -f rawvideo -y "$out/$name-native.rgb"
  ffmpeg -v error -nostdin -threads 1 -i "$file" -vf "$select,scale=32:56:flags=bicubic" -fps_mode passthrough \
    -pix_fmt rgb24 -f rawvideo -y "$out/$name-32x56.rgb"
  # The upright size, from the first frame's dimensions as the CLI's showinfo filter reports them.
  size=$(ffmpeg -nostdin -i "$file" -frames:v 1 -vf showinfo -f null - 2>&1 | grep -o ' s:[0-9]*x[0-9]*' | head -1)
  width=${size#* s:}; width=${width%x*}; height=${size##*x}
  rotated+=("{\"video\": \"samples/shapes/$name.mp4\", \"fixture\": \"$name\", \"width\": $width, \"height\": $height}")
done
{
  echo "{\"indices\": [$(IFS=,; echo "${indices[*]}")], \"rates\": [$(IFS=,; echo "${rates[*]}")], \"times\": [$(IFS=,; echo "${times[*]}")], \"ffmpeg\": \"$(ffmpeg -version | head -1 | cut -d' ' -f3)\","
  echo " \"clips\": ["
  (IFS=$'\n'; echo "${entries[*]}") | sed '$!s/$/,/'
  echo "], \"rotated\": ["
  (IFS=$'\n'; echo "${rotated[*]}") | sed '$!s/$/,/'
  echo "]}"
} > "$out/frames.json"
echo "export-video-fixtures: wrote $out"
