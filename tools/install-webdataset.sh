#!/usr/bin/env bash
# Installs Python's webdataset package (the WebDataset peer) with numpy into its own virtualenv,
# and prints the venv's python. Safe to run again.
#   SLUICE_WDS_VENV  where the virtualenv goes (default ~/.cache/sluice/wds-venv)
set -euo pipefail
venv="${SLUICE_WDS_VENV:-$HOME/.cache/sluice/wds-venv}"
if ! "$venv/bin/python" -c "import webdataset, numpy" 2>/dev/null; then
  echo "install-webdataset: installing webdataset into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "webdataset==1.0.2" numpy >&2
fi
echo "$venv/bin/python"
