r"""The GATConv comparison: feature-graph models against PyG's ``GATConv`` and an MLP.

Every model sees the same seeded splits, the same standardisation (fitted on
the train rows), the same optimiser, epoch budget and early stopping on the
validation split. The test metric is taken at the best validation epoch.
"""

from __future__ import annotations

import dataclasses
import math
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pyg_tabular.utils.scatter import scatter


@dataclasses.dataclass
class Split:
    """Tensors of one split: standardised features ``x [n, F]`` and targets ``y``."""

    x: Tensor
    y: Tensor


@dataclasses.dataclass
class Task:
    """A prepared dataset: three splits and what to predict."""

    name: str
    train: Split
    val: Split
    test: Split
    kind: str  # "regression", "binary" or "multiclass"
    num_outputs: int
    feature_names: list[str]
    # Columns of x: ``num_numeric`` standardised numerics, then one integer
    # code per categorical column (0 = unknown or missing).
    num_numeric: int = 0
    cardinalities: list[int] = dataclasses.field(default_factory=list)
    # Regression targets are trained standardised; RMSE is reported in the
    # target's own units by multiplying back by this train-split std.
    target_scale: float = 1.0


def load_task(name: str, *, seed: int, max_rows: int | None = None) -> Task:
    """Loads a named dataset with a seeded 70/15/15 split, fitted on the train rows.

    Missing numerics are imputed with the train mean here (every model gets the
    same input); categorical columns stay integer codes, which the neural
    models embed and HistGradientBoosting treats as native categories.
    """
    from pyg_tabular.datasets import load_dataset

    dataset = load_dataset(name, seed=seed, impute="mean")
    x, y = dataset.x, dataset.y
    assert y is not None
    splits: dict[str, Split] = {}
    for part in ("train", "val", "test"):
        index = dataset.index(part)
        if max_rows is not None:
            index = index[: max(1, int(max_rows * len(index) / len(dataset)))]
        splits[part] = Split(x[index], y[index])
    scale = 1.0
    if dataset.task == "regression":
        center, scale = float(splits["train"].y.mean()), float(splits["train"].y.std())
        for split in splits.values():
            split.y = (split.y - center) / scale
    num_outputs = 1 if dataset.task in ("regression", "binary") else int(dataset.num_classes or 0)
    return Task(
        name=name,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        kind=dataset.task,
        num_outputs=num_outputs,
        feature_names=dataset.feature_names,
        num_numeric=dataset.num_numeric,
        cardinalities=list(dataset.cardinalities),
        target_scale=scale,
    )


class MLP(nn.Module):
    """The plain baseline: two hidden ReLU layers over the row, categoricals embedded.

    Each categorical column gets its own :class:`torch.nn.Embedding` (as in the
    feature-graph models), concatenated with the standardised numerics.
    """

    def __init__(
        self,
        num_numeric: int,
        cardinalities: Sequence[int],
        num_outputs: int,
        hidden: int = 128,
        embedding_dim: int = 8,
    ) -> None:
        super().__init__()
        self.num_numeric = num_numeric
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_dim) for n in cardinalities)
        width = num_numeric + embedding_dim * len(self.embeddings)
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        codes = x[:, self.num_numeric :].long()
        parts = [x[:, : self.num_numeric]]
        parts += [embed(codes[:, i]) for i, embed in enumerate(self.embeddings)]
        return self.net(torch.cat(parts, dim=-1))


class ColumnSplit(nn.Module):
    """Feeds a ``[n, F]`` task matrix (numerics, then category codes) to a
    model that takes ``(numeric, categorical)``, such as ``FeatureGraphNet``."""

    def __init__(self, model: nn.Module, num_numeric: int) -> None:
        super().__init__()
        self.model = model
        self.num_numeric = num_numeric

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x[:, : self.num_numeric], x[:, self.num_numeric :].long())

    def feature_attention(self, x: Tensor) -> Tensor:
        return self.model.feature_attention(  # type: ignore[operator]
            x[:, : self.num_numeric], x[:, self.num_numeric :].long()
        )


class ModuleNet(nn.Module):
    """A ``(batch, features)`` module between two dense layers, as in the Keras docs.

    ``module → Linear(F, hidden) → ReLU → Linear(hidden, out)``. Category codes
    enter as numbers here: the Keras-style modules take a plain numeric row.
    """

    def __init__(self, module: nn.Module, num_features: int, num_outputs: int, hidden: int = 64):
        super().__init__()
        self.module = module
        self.head = nn.Sequential(
            nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.module(x))


# Every network over the feature graph shares one design, so that the
# comparison measures the layer and nothing else: FeatureGraphNet's column
# encoder (per-feature numerics, embedded categoricals), two layers of 16
# channels with residual and LayerNorm, flatten readout, ReLU head.
GRAPH_NET_OPTIONS: dict[str, object] = {"channels": 16, "num_layers": 2, "heads": 4}


def _graph_net(layer: str) -> ModelFactory:
    def build(task: Task) -> nn.Module:
        from pyg_tabular.nn.models import FeatureGraphNet

        net = FeatureGraphNet(
            task.num_numeric,
            task.cardinalities,
            task.num_outputs,
            layer=layer,
            **GRAPH_NET_OPTIONS,  # type: ignore[arg-type]
        )
        return ColumnSplit(net, task.num_numeric)

    return build


def _gfa_module(task: Task) -> nn.Module:
    from pyg_tabular.nn.tabular import GraphFeatureAggregation

    features = task.num_numeric + len(task.cardinalities)
    return ModuleNet(GraphFeatureAggregation(embed_dim=16), features, task.num_outputs)


def _advanced_module(task: Task) -> nn.Module:
    from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

    features = task.num_numeric + len(task.cardinalities)
    layer = AdvancedGraphFeatureLayer(features, embed_dim=16, num_heads=4)
    return ModuleNet(layer, features, task.num_outputs)


ModelFactory = Callable[["Task"], nn.Module]

#: Name → factory building the model for a :class:`Task`; ``"hgb"`` is not a
#: torch model and is handled by :func:`train_one` directly.
MODELS: dict[str, ModelFactory] = {
    "mlp": lambda task: MLP(task.num_numeric, task.cardinalities, task.num_outputs),
    # PyG's convs on the batched feature graph: the peers.
    "gatconv": _graph_net("gatconv"),
    "gatv2": _graph_net("gatv2"),
    "transformer": _graph_net("transformer"),
    # Ours in the same network.
    "feature-gat": _graph_net("gat"),
    "feature-diff": _graph_net("diff"),
    "gfa": _graph_net("gfa"),
    "advanced": _graph_net("advanced"),
    "advanced-hier": _graph_net("advanced-hier"),
    # The Keras-style (batch, features) modules as the Keras docs stack them.
    "gfa-module": _gfa_module,
    "advanced-module": _advanced_module,
}

#: Baselines that are not torch models.
SKLEARN_MODELS = ("hgb",)

#: Models whose learned feature attention the comparison can plot.
ATTENTION_MODELS = ("feature-gat", "feature-diff", "gfa", "advanced", "advanced-hier")


def model_names() -> list[str]:
    """Every name :func:`train_one` accepts."""
    return [*MODELS, *SKLEARN_MODELS]


def register_model(name: str, factory: ModelFactory) -> None:
    """Adds a model to the comparison under :obj:`name`; the factory gets the :class:`Task`."""
    if name in SKLEARN_MODELS:
        raise ValueError(f"name {name!r} is reserved for a scikit-learn baseline")
    MODELS[name] = factory


def _loss_fn(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    if kind == "regression":
        return lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y.float())
    if kind == "binary":
        return lambda out, y: nn.functional.binary_cross_entropy_with_logits(
            out.squeeze(-1), y.float()
        )
    return lambda out, y: nn.functional.cross_entropy(out, y.long())


def evaluate(
    model: nn.Module, split: Split, kind: str, target_scale: float = 1.0
) -> dict[str, float]:
    """Returns the split's metrics: RMSE for regression, accuracy (and AUC) otherwise."""
    model.eval()
    with torch.no_grad():
        out = model(split.x)
    if kind == "binary":
        out = torch.sigmoid(out.squeeze(-1))
    elif kind == "regression":
        out = out.squeeze(-1)
    return _metrics_of(out, split, kind, target_scale)


def _metrics_of(
    prediction: Tensor, split: Split, kind: str, target_scale: float
) -> dict[str, float]:
    # prediction: regression values, the positive-class probability [n] or
    # [n, 2] (binary), or class scores [n, K].
    prediction = prediction.float()
    if kind == "regression":
        rmse = float(((prediction.reshape(-1) - split.y) ** 2).mean().sqrt())
        return {"rmse": rmse * target_scale}
    if kind == "binary":
        score = prediction[:, 1] if prediction.dim() == 2 else prediction
        label = split.y.long()
        metrics = {"accuracy": float(((score > 0.5).long() == label).float().mean())}
        metrics["auc"] = _binary_auc(score, label)
        return metrics
    return {"accuracy": float((prediction.argmax(-1) == split.y.long()).float().mean())}


def _binary_auc(score: Tensor, label: Tensor) -> float:
    # Mann-Whitney U with average ranks for ties; no scikit-learn needed.
    order = score.argsort()
    ranks = torch.empty_like(score, dtype=torch.float64)
    ranks[order] = torch.arange(1, score.numel() + 1, dtype=torch.float64)
    unique, inverse = torch.unique(score, return_inverse=True)
    mean_rank = scatter(ranks, inverse, dim_size=unique.numel(), reduce="mean")
    ranks = mean_rank[inverse]
    positives = int(label.sum())
    negatives = label.numel() - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    u = float(ranks[label == 1].sum()) - positives * (positives + 1) / 2
    return u / (positives * negatives)


@dataclasses.dataclass
class RunResult:
    """One model trained on one seed."""

    model: str
    seed: int
    #: Test metrics at the best validation epoch (RMSE in target units).
    metrics: dict[str, float]
    #: Trainable parameters; for ``hgb`` the number of tree nodes.
    params: int
    #: Median seconds per epoch; for ``hgb`` the fit time per boosting iteration.
    seconds_per_epoch: float
    #: Test rows predicted per second (one pass over the test split).
    rows_per_second: float
    #: Epochs (boosting iterations for ``hgb``) run before early stopping.
    epochs_run: int
    #: Validation metric after each epoch (or boosting iteration), in target units.
    history: list[float] = dataclasses.field(default_factory=list)
    #: Peak resident memory of the process that trained the model, MiB.
    peak_mb: float = float("nan")
    #: Peak minus the resident memory before the model was built, MiB.
    added_mb: float = float("nan")
    #: Mean ``[F, F]`` attention over the test rows, for :data:`ATTENTION_MODELS`.
    attention: list[list[float]] | None = None


def _monitor(kind: str) -> tuple[str, float]:
    # The metric early stopping follows, and the sign that makes larger better.
    return ("rmse", -1.0) if kind == "regression" else ("accuracy", 1.0)


def train_one(
    name: str,
    task: Task,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    patience: int = 10,
) -> RunResult:
    """Trains one model on one seed with early stopping on the validation split.

    Neural models: AdamW, :obj:`epochs` passes at most, stop after
    :obj:`patience` epochs without a better validation metric and keep the
    best epoch's weights. ``hgb``: see :func:`train_hgb`.
    """
    if name in SKLEARN_MODELS:
        return train_hgb(task, seed=seed, max_iter=10 * epochs)
    if name not in MODELS:
        raise ValueError(f"name must be one of {model_names()} (got {name!r})")
    before = peak_rss_mb()
    torch.manual_seed(seed)
    model = MODELS[name](task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    loss_fn = _loss_fn(task.kind)
    monitor, sign = _monitor(task.kind)
    best_score, best_state, stale = -math.inf, None, 0
    generator = torch.Generator().manual_seed(seed)
    epoch_times, history = [], []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(task.train.x.size(0), generator=generator)
        for chunk in order.split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(task.train.x[chunk]), task.train.y[chunk])
            loss.backward()
            optimizer.step()
        epoch_times.append(time.perf_counter() - start)
        value = evaluate(model, task.val, task.kind, task.target_scale)[monitor]
        history.append(value)
        if sign * value > best_score:
            best_score, stale = sign * value, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    assert best_state is not None
    model.load_state_dict(best_state)
    start = time.perf_counter()
    metrics = evaluate(model, task.test, task.kind, task.target_scale)
    rows_per_second = task.test.x.size(0) / max(time.perf_counter() - start, 1e-9)
    attention = None
    if name in ATTENTION_MODELS:
        with torch.no_grad():
            attention = model.feature_attention(task.test.x).tolist()  # type: ignore[operator]
    peak = peak_rss_mb()
    return RunResult(
        model=name,
        seed=seed,
        metrics=metrics,
        params=sum(p.numel() for p in model.parameters()),
        seconds_per_epoch=statistics.median(epoch_times),
        rows_per_second=rows_per_second,
        epochs_run=len(history),
        history=history,
        peak_mb=peak,
        added_mb=peak - before,
        attention=attention,
    )


def train_hgb(task: Task, *, seed: int, max_iter: int = 400) -> RunResult:
    """scikit-learn's HistGradientBoosting on the same splits, as a baseline.

    Categorical columns are native categories. Early stopping uses *our*
    validation split rather than scikit-learn's internal one: the model is fit
    for :obj:`max_iter` boosting iterations (:func:`train_one` gives it ten per
    epoch of the neural budget), the validation metric is read after each
    (``staged_predict``), and the test metric is taken at the best iteration.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    before = peak_rss_mb()
    categorical = [i >= task.num_numeric for i in range(task.train.x.size(1))]
    options = dict(
        max_iter=max_iter,
        early_stopping=False,
        random_state=seed,
        categorical_features=categorical if any(categorical) else None,
    )
    estimator: Any
    if task.kind == "regression":
        estimator = HistGradientBoostingRegressor(**options)
    else:
        estimator = HistGradientBoostingClassifier(**options)
    x_train, y_train = task.train.x.numpy(), task.train.y.numpy()
    start = time.perf_counter()
    estimator.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    monitor, sign = _monitor(task.kind)

    def metric(prediction: Any, split: Split) -> dict[str, float]:
        return _metrics_of(torch.as_tensor(prediction), split, task.kind, task.target_scale)

    staged = (
        estimator.staged_predict if task.kind == "regression" else estimator.staged_predict_proba
    )
    history = [metric(p, task.val)[monitor] for p in staged(task.val.x.numpy())]
    best = max(range(len(history)), key=lambda i: (sign * history[i], -i))
    start = time.perf_counter()
    test_stages = staged(task.test.x.numpy())
    for _ in range(best):
        next(test_stages)
    prediction = next(test_stages)
    rows_per_second = task.test.x.size(0) / max(time.perf_counter() - start, 1e-9)
    nodes = sum(len(tree.nodes) for stage in estimator._predictors for tree in stage)
    peak = peak_rss_mb()
    return RunResult(
        model="hgb",
        seed=seed,
        metrics=metric(prediction, task.test),
        params=nodes,
        seconds_per_epoch=seconds / max(1, estimator.n_iter_),
        rows_per_second=rows_per_second,
        epochs_run=best + 1,
        history=history,
        peak_mb=peak,
        added_mb=peak - before,
    )


def _isolated(queue: Any, name: str, dataset: str, seed: int, kwargs: dict[str, Any]) -> None:
    # Runs in a fresh "spawn" process so that its peak RSS is this model's alone.
    try:
        torch.set_num_threads(kwargs.pop("threads"))
        task = load_task(dataset, seed=seed, max_rows=kwargs.pop("max_rows"))
        queue.put(dataclasses.asdict(train_one(name, task, seed=seed, **kwargs)))
    except BaseException as error:  # report, don't hang the parent
        queue.put({"error": f"{type(error).__name__}: {error}"})


def train_isolated(
    name: str,
    dataset: str,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    max_rows: int | None = None,
    threads: int = 1,
) -> RunResult:
    """:func:`train_one` in a fresh process, so :attr:`RunResult.peak_mb` is
    the peak of that model alone (the process also holds torch and the data)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    kwargs = dict(epochs=epochs, batch_size=batch_size, max_rows=max_rows, threads=threads)
    process = context.Process(target=_isolated, args=(queue, name, dataset, seed, kwargs))
    process.start()
    outcome = queue.get()
    process.join()
    if "error" in outcome:
        raise RuntimeError(f"training {name!r} (seed {seed}) failed: {outcome['error']}")
    return RunResult(**outcome)


def summarize(results: Sequence[RunResult]) -> list[dict[str, object]]:
    """One row per model: metric mean ± std over seeds, size, speed and memory."""
    rows = []
    for name in dict.fromkeys(r.model for r in results):
        runs = [r for r in results if r.model == name]
        row: dict[str, object] = {"model": name}
        for metric in runs[0].metrics:
            values = [r.metrics[metric] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            row[metric] = f"{statistics.mean(values):.4f} ± {spread:.4f}"
        row["params"] = runs[0].params
        row["s/epoch"] = f"{statistics.median(r.seconds_per_epoch for r in runs):.3f}"
        row["infer rows/s"] = f"{statistics.median(r.rows_per_second for r in runs):,.0f}"
        row["peak MiB"] = f"{max(r.peak_mb for r in runs):.0f}"
        row["added MiB"] = f"{max(r.added_mb for r in runs):.0f}"
        rows.append(row)
    return rows


def best_model(results: Sequence[RunResult], kind: str, among: Sequence[str]) -> str | None:
    """The model of :obj:`among` with the best mean test metric, if any ran."""
    monitor, sign = _monitor(kind)
    means = {
        name: statistics.mean(r.metrics[monitor] for r in results if r.model == name)
        for name in among
        if any(r.model == name for r in results)
    }
    return max(means, key=lambda name: sign * means[name]) if means else None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Renders rows as a GitHub markdown table."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


__all__ = [
    "Task",
    "Split",
    "MODELS",
    "load_task",
    "register_model",
    "train_one",
    "evaluate",
    "summarize",
    "best_model",
    "model_names",
    "train_hgb",
    "train_isolated",
    "RunResult",
    "ATTENTION_MODELS",
]
