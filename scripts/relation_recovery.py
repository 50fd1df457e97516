"""Does a feature graph find the pairs of features that interact?

On tables from :func:`pyg_tabular.datasets.make_interactions` (planted
pairwise interactions, main-effect features, correlated decoy groups), every
method ranks the unordered pairs of features, and a method's recall is the
share of the planted pairs among its top ``m`` pairs, ``m`` being the number
of planted pairs. Methods:

* ``learned``: the relation graph of ``FeatureGraphNet(graph="learned")``
  (free pair scores), ranked by ``relation_graph().pair_scores()``;
* ``learned-t2g``: the same network with T2G-Former's embedding scores
  (``LearnedFeatureGraph(embed_dim=⌈2 log2 F⌉)``);
* ``complete-attention``: the attention of ``FeatureGraphNet(graph="complete")``
  averaged over the test rows, heads and layers (the larger direction of
  each pair);
* ``knn``: the absolute Pearson correlation on the training rows, what
  ``graph="knn"`` links;
* ``pair-permutation``: Friedman-style interaction strength from permutation
  importance, ``ΔL(i) + ΔL(j) − ΔL(i, j)`` (each column permuted on its own;
  zero for additive effects), of the complete-graph network on the test rows;
* ``pair-permutation-hgb``: the same of scikit-learn's
  HistGradientBoostingRegressor.

The networks share one design, a probe in which interactions can only travel
along edges: per-feature linear embeddings, two pre-norm transformer blocks
(attention, then a per-node feed-forward), a mean readout and a linear head,
so the prediction is a sum over nodes. Same epochs, optimizer and early
stopping for all.

    python scripts/relation_recovery.py --out docs/results/relation_graph
    python scripts/relation_recovery.py --out docs/results/relation_graph --resume

Writes ``recovery.json`` after every finished (method, seed) run (``--resume``
skips the runs it holds) and ``learned_graph.png``, the strongest pairs of the
first seed's learned relation graph (twice as many as were planted), the
planted pairs highlighted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

METHODS = (
    "learned",
    "learned-t2g",
    "complete-attention",
    "knn",
    "pair-permutation",
    "pair-permutation-hgb",
)
#: The probe network every neural method trains (FeatureGraphNet options).
PROBE: dict[str, Any] = {
    "layer": "feature-gat",
    "channels": 16,
    "num_layers": 2,
    "heads": 4,
    "block": "transformer",
    "readout": "mean",
    "head_channels": 0,
    "numeric_embedding": "linear",
}
FIGURE = "learned_graph.png"
RESULTS = "recovery.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--features", type=int, default=24)
    parser.add_argument("--noise", type=float, default=0.1, help="noise-to-signal ratio")
    parser.add_argument("--k", type=int, default=2, help="sources per feature of the learned graph")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--repeats", type=int, default=3, help="permutations per importance")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    return parser


# Data ########################################################################


def make_table(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from pyg_tabular.datasets import make_interactions

    table = make_interactions(args.rows, args.features, noise=args.noise, random_state=seed)
    order = np.random.default_rng(seed).permutation(args.rows)
    cut1, cut2 = int(0.7 * args.rows), int(0.85 * args.rows)
    split = {"train": order[:cut1], "val": order[cut1:cut2], "test": order[cut2:]}
    x, y = table.X.astype(np.float64), table.y.astype(np.float64)
    train = split["train"]
    # Statistics of the training rows only.
    x = (x - x[train].mean(0)) / x[train].std(0)
    y = (y - y[train].mean()) / y[train].std()
    tensors = {
        name: (torch.tensor(x[rows]).float(), torch.tensor(y[rows]).float())
        for name, rows in split.items()
    }
    return {"table": table, "split": tensors}


def recall(pair_scores: np.ndarray, planted: list[tuple[int, int]]) -> dict[str, Any]:
    """Share of the planted pairs among the top len(planted) unordered pairs."""
    size = pair_scores.shape[0]
    rows, cols = np.triu_indices(size, 1)
    values = pair_scores[rows, cols]
    order = np.argsort(-values, kind="stable")
    top = [(int(rows[o]), int(cols[o])) for o in order[: len(planted)]]
    found = sorted(set(top) & set(planted))
    # Where each planted pair ranks among all pairs (1 = first).
    rank = {(int(rows[o]), int(cols[o])): r + 1 for r, o in enumerate(order)}
    return {
        "recall": len(found) / len(planted),
        "found": len(found),
        "planted": len(planted),
        "ranks": [rank[pair] for pair in planted],
        "top_pairs": top,
    }


# Networks ####################################################################


def _register_t2g_graph() -> None:
    # T2G-Former's column-embedding scores, with its embedding size ⌈2 log2 F⌉.
    from pyg_tabular.nn.graph import LearnedFeatureGraph
    from pyg_tabular.nn.models import register_graph

    def build(num_features: int, k: int) -> torch.nn.Module:
        size = max(4, math.ceil(2 * math.log2(num_features)))
        return LearnedFeatureGraph(num_features, k, embed_dim=size)

    register_graph("learned-t2g", build, overwrite=True)


def train_probe(args: argparse.Namespace, data: dict[str, Any], graph: str, seed: int) -> Any:
    from pyg_tabular.nn.models import FeatureGraphNet
    from pyg_tabular.training import train

    (x_train, y_train), (x_val, y_val) = data["split"]["train"], data["split"]["val"]
    torch.manual_seed(seed)
    model = FeatureGraphNet(x_train.size(1), graph=graph, graph_k=args.k, **PROBE)
    model.fit_graph(x_train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)

    def batches(epoch: int) -> Any:
        return torch.randperm(x_train.size(0), generator=generator).split(args.batch_size)

    def loss_fn(rows: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(model(x_train[rows]).squeeze(-1), y_train[rows])

    def validate() -> dict[str, float]:
        return {"val_loss": float(F.mse_loss(model(x_val).squeeze(-1), y_val))}

    result = train(
        model,
        batches,
        loss_fn,
        optimizer=optimizer,
        epochs=args.epochs,
        validate=validate,
        patience=args.patience,
    )
    model.eval()
    return model, result


def _test_mse(predict: Callable[[torch.Tensor], torch.Tensor], data: dict[str, Any]) -> float:
    x_test, y_test = data["split"]["test"]
    with torch.no_grad():
        return float(F.mse_loss(predict(x_test), y_test))


def _net_predict(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: model(x).squeeze(-1)


def pair_permutation(
    predict: Callable[[torch.Tensor], torch.Tensor],
    data: dict[str, Any],
    repeats: int,
    seed: int,
) -> np.ndarray:
    """[F, F] interaction strength ΔL(i) + ΔL(j) − ΔL(i, j) on the test rows."""
    x, y = data["split"]["test"]
    size = x.size(1)
    generator = torch.Generator().manual_seed(seed)

    def loss_with(columns: tuple[int, ...]) -> float:
        total = 0.0
        for _ in range(repeats):
            shuffled = x.clone()
            for column in columns:  # each column its own permutation
                shuffled[:, column] = x[torch.randperm(x.size(0), generator=generator), column]
            with torch.no_grad():
                total += float(F.mse_loss(predict(shuffled), y))
        return total / repeats

    with torch.no_grad():
        base = float(F.mse_loss(predict(x), y))
    single = [loss_with((i,)) - base for i in range(size)]
    strength = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            both = loss_with((i, j)) - base
            strength[i, j] = strength[j, i] = single[i] + single[j] - both
    return strength


def mean_attention(model: Any, data: dict[str, Any]) -> np.ndarray:
    x_test, _ = data["split"]["test"]
    with torch.no_grad():
        _, attention = model(x_test, return_attention_weights=True)
    mean = torch.stack([a.mean(dim=(0, 1)) for a in attention]).mean(0).numpy()  # [F, F]
    np.fill_diagonal(mean, 0.0)
    return np.maximum(mean, mean.T)


# Methods #####################################################################


def run_method(method: str, args: argparse.Namespace, seed: int, cache: dict) -> dict[str, Any]:
    data = cache["data"]
    planted = data["table"].pairs
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if method in ("learned", "learned-t2g"):
        model, result = train_probe(args, data, method, seed)
        scores = model.relation_graph().pair_scores().numpy()
        extra = {"test_mse": _test_mse(_net_predict(model), data), "epochs": len(result.history)}
        if method == "learned":
            cache["learned_graph"] = model.relation_graph()
    elif method in ("complete-attention", "pair-permutation"):
        if "complete" not in cache:
            cache["complete"] = train_probe(args, data, "complete", seed)
        model, result = cache["complete"]
        extra = {"test_mse": _test_mse(_net_predict(model), data), "epochs": len(result.history)}
        if method == "complete-attention":
            scores = mean_attention(model, data)
        else:
            scores = pair_permutation(_net_predict(model), data, args.repeats, seed)
    elif method == "knn":
        from pyg_tabular.nn.graph import KNNFeatureGraph

        x_train, _ = data["split"]["train"]
        knn = KNNFeatureGraph(x_train.size(1), min(args.k, x_train.size(1) - 1)).fit(x_train)
        scores = knn.relation_graph().pair_scores().numpy()
    elif method == "pair-permutation-hgb":
        from sklearn.ensemble import HistGradientBoostingRegressor

        (x_train, y_train), (x_val, y_val) = data["split"]["train"], data["split"]["val"]
        hgb = HistGradientBoostingRegressor(random_state=seed, early_stopping=True)
        hgb.fit(torch.cat([x_train, x_val]).numpy(), torch.cat([y_train, y_val]).numpy())

        def predict(x: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(hgb.predict(x.numpy()), dtype=torch.float32)

        extra = {"test_mse": _test_mse(predict, data)}
        scores = pair_permutation(predict, data, args.repeats, seed)
    else:
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")
    return {**recall(scores, planted), **extra, "seconds": round(time.perf_counter() - started, 1)}


# Records #####################################################################


def summarize(runs: dict[str, dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """One row per method: pairs found over all seeds, and the mean test MSE."""
    rows = []
    for method in methods:
        done = [runs[method][seed] for seed in sorted(runs.get(method, {}), key=int)]
        if not done:
            continue
        found = sum(r["found"] for r in done)
        planted = sum(r["planted"] for r in done)
        mses = [r["test_mse"] for r in done if "test_mse" in r]
        rows.append(
            {
                "method": method,
                "seeds": len(done),
                "found": found,
                "planted": planted,
                "recall": found / planted,
                "recall_per_seed": [r["recall"] for r in done],
                "test_mse": sum(mses) / len(mses) if mses else None,
            }
        )
    return rows


def _environment() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def _write(path: Path, payload: dict[str, Any]) -> None:
    # Atomic: an interrupted run never leaves a half-written file.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    _register_t2g_graph()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"unknown methods {unknown}; known: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    config = {
        key: getattr(args, key)
        for key in ("rows", "features", "noise", "k", "epochs", "patience", "batch_size", "lr")
    }
    config.update(repeats=args.repeats, probe=PROBE)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / RESULTS
    runs: dict[str, dict[str, Any]] = {}
    if path.exists():
        if not args.resume:
            print(f"{path} exists; pass --resume to continue it", file=sys.stderr)
            return 2
        earlier = json.loads(path.read_text(encoding="utf-8"))
        if earlier["config"] != json.loads(json.dumps(config)):
            print(f"--resume needs the configuration of {path}", file=sys.stderr)
            return 2
        runs = earlier["runs"]
    started = time.perf_counter()
    for seed in range(args.seeds):
        cache: dict[str, Any] = {}
        todo = [m for m in methods if str(seed) not in runs.get(m, {})]
        if seed == 0 and not (args.out / FIGURE).exists() and "learned" not in todo:
            todo.insert(0, "learned")  # the figure needs the graph itself
        if not todo:
            continue
        cache["data"] = make_table(args, seed)
        for method in todo:
            result = run_method(method, args, seed, cache)
            runs.setdefault(method, {})[str(seed)] = result
            mse = f", test MSE {result['test_mse']:.3f}" if "test_mse" in result else ""
            print(
                f"seed {seed} {method:>22}: {result['found']}/{result['planted']} planted pairs "
                f"in the top {result['planted']}{mse} ({result['seconds']} s)",
                flush=True,
            )
            payload = {
                "command": "python scripts/relation_recovery.py "
                + " ".join(a for a in (argv if argv is not None else sys.argv[1:])),
                "config": config,
                "environment": _environment(),
                "runs": runs,
                "summary": summarize(runs, list(METHODS)),
            }
            _write(path, payload)
        if "learned_graph" in cache and not (args.out / FIGURE).exists():
            from pyg_tabular.plotting import plot_relation_graph

            table = cache["data"]["table"]
            top = 2 * len(table.pairs)
            plot_relation_graph(
                cache["learned_graph"],
                table.feature_names,
                title=f"The {top} strongest pairs of the learned graph (seed {seed}, k = {args.k})"
                "\nred: planted pairs",
                path=args.out / FIGURE,
                highlight=table.pairs,
                top=top,
            )
    print(f"\n{'method':>22}  pairs found  recall  test MSE")
    for row in summarize(runs, list(METHODS)):
        mse = "–" if row["test_mse"] is None else f"{row['test_mse']:.3f}"
        print(
            f"{row['method']:>22}  {row['found']:>5}/{row['planted']:<5}  "
            f"{row['recall']:.0%}  {mse}"
        )
    print(f"\n{time.perf_counter() - started:.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
