#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs vitalstream into it, with test extras if asked.
# torch is pinned to the CPU build in pyproject.toml; pip takes it from the local wheel cache.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "vitalstream needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if [ -n "$extras" ]; then spec=".[$extras]"; else spec="."; fi
.venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -vE "^WARNING: Location|^\s*$" || true
.venv/bin/python -c "import vitalstream, torch, faust; print('installed vitalstream with torch', torch.__version__)"
