#!/usr/bin/env bash
# Complete vs correlation kNN vs learned feature graph, the same layer and
# budget: the four full tables and the widest named one (digits, 64 pixels),
# three seeds each, JOBS runs side by side (2), one thread each. Each dataset
# writes its own folder under docs/results/graph_choice/, which
# scripts/render_docs.py turns into the table of docs/relation_graph.md
# (differences paired by seed).
#
#   bash scripts/graph_choice.sh                    # every table, one after another
#   bash scripts/graph_choice.sh california digits  # some of them
#
# Pass --resume through EXTRA to continue an interrupted run; a smoke run:
#   BUDGET=5 SEEDS=1 EXTRA="--max-rows 300 --epochs 2" OUT=runs/graph_choice-smoke \
#       bash scripts/graph_choice.sh digits
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYG_TABULAR_VENV:-.venv}/bin
MODELS=${MODELS:-feature-gat}
BUDGET=${BUDGET:-90}
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-2}
OUT=${OUT:-docs/results/graph_choice}
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(california adult acs_employment diamonds digits)

for dataset in "${datasets[@]}"; do
    # shellcheck disable=SC2086  # EXTRA holds several options
    "$PY/pyg-tabular" compare --dataset "$dataset" --models "$MODELS" \
        --graphs complete,knn,learned \
        --seeds "$SEEDS" --epochs 500 --time-budget "$BUDGET" --batch-size 256 \
        --numeric-embedding piecewise-linear --threads 1 --jobs "$JOBS" \
        --out "$OUT/$dataset" ${EXTRA:-}
done
