#!/usr/bin/env bash
# The full-data experiments behind docs/experiments.md: every model on the
# whole table, three seeds, the same splits for every model. Each dataset
# writes its own folder under docs/results/, which scripts/render_docs.py
# turns into the page's tables.
#
#   bash scripts/experiments.sh                    # equal budget: all four tables
#   bash scripts/experiments.sh california adult   # some of them
#   MODE=converged bash scripts/experiments.sh california
#
# MODE=budget (the default): BUDGET seconds of training per model and seed
# (90), patience 10, into docs/results/experiments/<dataset>.
# MODE=converged: every run goes on until its patience (16 epochs) stops it,
# capped at CAP seconds (1800, the cap of the committed California table, where
# FT-Transformer and TabM reach it on two seeds of three; raise it to let them
# finish), into docs/results/converged/<dataset>.
# Both run JOBS runs side by side (2), one thread each.
#
# Pass --resume through EXTRA to continue an interrupted run:
#   EXTRA=--resume bash scripts/experiments.sh adult
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYG_TABULAR_VENV:-.venv}/bin
MODELS=feature-gat,feature-diff-split,gatconv,gatv2conv,transformerconv,ft-transformer,tabm,mlp,hgb
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-2}
MODE=${MODE:-budget}
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(california adult acs_employment diamonds)

case "$MODE" in
    budget) folder=experiments; limits=(--epochs 500 --time-budget "${BUDGET:-90}" --patience 10) ;;
    converged) folder=converged; limits=(--epochs 3000 --time-budget "${CAP:-1800}" --patience 16) ;;
    *) echo "MODE must be budget or converged (got $MODE)" >&2; exit 2 ;;
esac

for dataset in "${datasets[@]}"; do
    "$PY/pyg-tabular" compare --dataset "$dataset" --models "$MODELS" \
        --seeds "$SEEDS" "${limits[@]}" --batch-size 256 \
        --numeric-embedding piecewise-linear --threads 1 --jobs "$JOBS" \
        --out "docs/results/$folder/$dataset" ${EXTRA:-}
done
