#!/usr/bin/env bash
# Installs Python's mosaicml-streaming (the MDS peer) into its own virtualenv over Debian's
# python3 with Debian's torch and torchvision, and prints the venv's python. Safe to run again.
#   SLUICE_MDS_VENV  where the virtualenv goes (default ~/.cache/sluice/mds-venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SLUICE_MDS_VENV:-$HOME/.cache/sluice/mds-venv}"
if ! "$venv/bin/python" -c "import streaming" 2>/dev/null; then
  bash "$root/tools/install-deps.sh" python3-venv python3-torch python3-torchvision >&2
  echo "install-mds: installing mosaicml-streaming into $venv" >&2
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  # transformers 4.30.2 and numpy 1.x are what Debian's torch 1.13 imports with.
  "$venv/bin/pip" install --quiet --disable-pip-version-check mosaicml-streaming "transformers==4.30.2" "numpy<2" >&2
fi
echo "$venv/bin/python"
