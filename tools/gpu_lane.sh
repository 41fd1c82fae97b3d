#!/usr/bin/env bash
# The GPU lane on a lent device (training/gpu_lane.py says what it does). Run through the device
# tool with the wheels and the data pack made here by `python -m training.gpu_lane --pack`:
#   run(command="tools/gpu_lane.sh", carry=[".whl", ".lane"], timeout_s=600)
# The device reaches no registry: the carried wheels go to /tmp/site, and the repository itself is
# imported from here (no install step that would look for a network).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " == *" --dry-run "* ]]; then  # the wheels are for the device's Python 3.12
    echo "[lane] dry run: carried wheels (if any) are not installed here"
    export PYTHONPATH="$PWD"
elif ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1
exec python3 -m training.gpu_lane --out "${OUT:-/tmp/lane}" "$@"
