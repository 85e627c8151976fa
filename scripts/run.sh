#!/usr/bin/env bash
# Run the raftviz web app.
# Usage: bash scripts/run.sh [--host HOST] [--port PORT] [--async-mode eventlet|threading]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Pinned versions already present make this a quick no-op that needs no network.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

exec .venv/bin/python app.py "$@"
