#!/usr/bin/env bash
# From a fresh clone to the main job in one command: set up a venv and run the
# GATConv comparison on a dataset that ships with the install. Arguments are
# passed on to `pyg-tabular compare` (see `pyg-tabular compare --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PYG_TABULAR_VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || python3 -m venv "$VENV"
# torch first, so the CPU wheel satisfies the package's torch range.
"$PY" -m pip install -q --disable-pip-version-check torch==2.13.0
"$PY" -m pip install -q --disable-pip-version-check -e ".[full]"
exec "$VENV/bin/pyg-tabular" compare "$@"
