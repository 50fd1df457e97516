#!/usr/bin/env bash
# The full-data experiments behind docs/experiments.md: every model on the
# whole table, three seeds, the same wall-clock budget per model and seed.
# Each dataset writes its own folder under docs/results/experiments/, which
# scripts/render_docs.py turns into the page's tables.
#
#   bash scripts/experiments.sh                    # all four tables, one after another
#   bash scripts/experiments.sh california adult   # some of them
#
# Pass --resume through EXTRA to continue an interrupted run:
#   EXTRA=--resume bash scripts/experiments.sh adult
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYG_TABULAR_VENV:-.venv}/bin
MODELS=feature-gat,feature-diff-split,gatconv,gatv2conv,transformerconv,ft-transformer,tabm,mlp,hgb
BUDGET=${BUDGET:-90}
SEEDS=${SEEDS:-3}
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(california adult acs_employment diamonds)

for dataset in "${datasets[@]}"; do
    "$PY/pyg-tabular" compare --dataset "$dataset" --models "$MODELS" \
        --seeds "$SEEDS" --epochs 500 --time-budget "$BUDGET" --batch-size 256 \
        --numeric-embedding piecewise-linear --threads 1 \
        --out "docs/results/experiments/$dataset" ${EXTRA:-}
done
