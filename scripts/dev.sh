#!/usr/bin/env bash
# Installs vitalstream and runs the whole pipeline on embedded defaults with a simulated fleet.
# Arguments go to `vitalstream dev` (default: --devices 50). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
[ $# -gt 0 ] || set -- --devices 50
exec .venv/bin/vitalstream dev "$@"
