#!/usr/bin/env bash
# Installs the Debian packages Sluice builds against, only those that are missing.
# Called by `make demo`, `make test` and `make bench`; safe to run again.
set -euo pipefail

packages=(
  pkg-config
  libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev
  libsndfile1-dev libfftw3-dev
  libopenblas-dev
  libzstd-dev zlib1g-dev libxxhash-dev
  libcurl4-openssl-dev libarchive-dev
  libmpich-dev mpich
)
# Extra packages a target needs (e.g. `make bench` adds the ffmpeg CLI) come as arguments.
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
