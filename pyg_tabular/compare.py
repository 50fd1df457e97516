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

import torch
from torch import Tensor, nn

from pyg_tabular.data import fully_connected_edge_index, repeat_template
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
    # Regression targets are trained standardised; RMSE is reported in the
    # target's own units by multiplying back by this train-split std.
    target_scale: float = 1.0


def load_task(name: str, *, seed: int, max_rows: int | None = None) -> Task:
    """Loads a named dataset with a seeded 70/15/15 split, fitted on the train rows.

    Missing numerics are imputed with the train mean here (every model gets the
    same input); categorical codes enter as numbers, which the comparison's
    models embed per feature.
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
    if dataset.num_categorical > 0:
        # Category codes are integers: scale them with train statistics like the numerics.
        codes = slice(dataset.num_numeric, None)
        mean = splits["train"].x[:, codes].mean(0)
        std = splits["train"].x[:, codes].std(0).clamp_min(1e-6)
        for split in splits.values():
            split.x[:, codes] = (split.x[:, codes] - mean) / std
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
        target_scale=scale,
    )


class PerFeatureEncoder(nn.Module):
    """Embeds each scalar feature with its own affine map: ``[B, F] → [B, F, C]``."""

    def __init__(self, num_features: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_features, channels))
        self.bias = nn.Parameter(torch.zeros(num_features, channels))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


class MLP(nn.Module):
    """The plain baseline: two hidden ReLU layers over the raw row."""

    def __init__(self, num_features: int, num_outputs: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class GATConvFeatureNet(nn.Module):
    """PyG's ``GATConv`` run over each row's complete feature graph.

    Per-feature encoder, one ``GATConv`` over the batched graph built by
    :func:`~pyg_tabular.data.rows_to_graph`, then a linear readout of the
    flattened ``[B, F, C]`` node states.
    """

    def __init__(self, num_features: int, num_outputs: int, channels: int = 16, heads: int = 2):
        super().__init__()
        from torch_geometric.nn import GATConv

        self.encoder = PerFeatureEncoder(num_features, channels)
        self.conv = GATConv(channels, channels, heads=heads, concat=False)
        self.head = nn.Linear(num_features * channels, num_outputs)
        self.num_features = num_features
        self.template: Tensor
        self.register_buffer("template", fully_connected_edge_index(num_features), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        nodes = self.encoder(x)  # [B, F, C]
        edge_index = repeat_template(self.template, x.size(0), self.num_features)
        out = self.conv(nodes.reshape(-1, nodes.size(-1)), edge_index)
        out = torch.relu(out).view(x.size(0), -1)  # [B, F*C]
        return self.head(out)


class FeatureGATNet(GATConvFeatureNet):
    """The same network as :class:`GATConvFeatureNet` with our ``FeatureGATConv``.

    Same encoder, heads, channels and readout: only the conv differs, and it
    runs on the static form (``[B, F, C]`` plus one shared template).
    """

    def __init__(self, num_features: int, num_outputs: int, channels: int = 16, heads: int = 2):
        super().__init__(num_features, num_outputs, channels, heads)
        from pyg_tabular.nn.conv import FeatureGATConv

        self.conv = FeatureGATConv(channels, channels, heads=heads, concat=False)

    def forward(self, x: Tensor) -> Tensor:
        nodes = self.encoder(x)  # [B, F, C]
        out = torch.relu(self.conv(nodes, self.template))  # [B, F, C]
        return self.head(out.reshape(x.size(0), -1))


class ModuleNet(nn.Module):
    """A ``(batch, features)`` module between two dense layers, as in the Keras docs.

    ``module → Linear(F, hidden) → ReLU → Linear(hidden, out)``.
    """

    def __init__(self, module: nn.Module, num_features: int, num_outputs: int, hidden: int = 64):
        super().__init__()
        self.module = module
        self.head = nn.Sequential(
            nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.module(x))


def _gfa(num_features: int, num_outputs: int) -> nn.Module:
    from pyg_tabular.nn.tabular import GraphFeatureAggregation

    return ModuleNet(GraphFeatureAggregation(embed_dim=16), num_features, num_outputs)


def _advanced(num_features: int, num_outputs: int, hierarchical: bool = False) -> nn.Module:
    from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

    groups = max(2, num_features // 4) if hierarchical else None
    layer = AdvancedGraphFeatureLayer(
        num_features, embed_dim=16, num_heads=4, hierarchical=hierarchical, num_groups=groups
    )
    return ModuleNet(layer, num_features, num_outputs)


def _graph_net(layer: str) -> Callable[[int, int], nn.Module]:
    def build(num_features: int, num_outputs: int) -> nn.Module:
        from pyg_tabular.nn.models import FeatureGraphNet

        return FeatureGraphNet(num_features, (), num_outputs, layer=layer)

    return build


ModelFactory = Callable[[int, int], nn.Module]

MODELS: dict[str, ModelFactory] = {
    "mlp": lambda f, o: MLP(f, o),
    "gatconv": lambda f, o: GATConvFeatureNet(f, o),
    "feature-gat": lambda f, o: FeatureGATNet(f, o),
    "gfa": _gfa,
    "advanced": _advanced,
    "advanced-hier": lambda f, o: _advanced(f, o, hierarchical=True),
    # FeatureGraphNet with our dense GAT layers, and the same network with PyG's GATConv.
    "fgn-gat": _graph_net("gat"),
    "fgn-gatconv": _graph_net("gatconv"),
}


def register_model(name: str, factory: ModelFactory) -> None:
    """Adds a model to the comparison under :obj:`name`."""
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
    if kind == "regression":
        rmse = float(((out.squeeze(-1) - split.y) ** 2).mean().sqrt())
        return {"rmse": rmse * target_scale}
    if kind == "binary":
        score = out.squeeze(-1)
        metrics = {"accuracy": float(((score > 0).long() == split.y.long()).float().mean())}
        metrics["auc"] = _binary_auc(score, split.y.long())
        return metrics
    return {"accuracy": float((out.argmax(-1) == split.y.long()).float().mean())}


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
    model: str
    seed: int
    metrics: dict[str, float]
    params: int
    seconds_per_epoch: float
    rows_per_second: float
    epochs_run: int


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
    """Trains one model on one seed with early stopping on the validation split."""
    torch.manual_seed(seed)
    model = MODELS[name](task.train.x.size(1), task.num_outputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    loss_fn = _loss_fn(task.kind)
    monitor = "rmse" if task.kind == "regression" else "accuracy"
    sign = -1.0 if task.kind == "regression" else 1.0
    best_score, best_state, stale = -math.inf, None, 0
    generator = torch.Generator().manual_seed(seed)
    epoch_times = []
    epochs_run = 0
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
        epochs_run += 1
        score = sign * evaluate(model, task.val, task.kind)[monitor]
        if score > best_score:
            best_score, stale = score, 0
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
    return RunResult(
        model=name,
        seed=seed,
        metrics=metrics,
        params=sum(p.numel() for p in model.parameters()),
        seconds_per_epoch=statistics.median(epoch_times),
        rows_per_second=rows_per_second,
        epochs_run=epochs_run,
    )


def summarize(results: Sequence[RunResult]) -> list[dict[str, object]]:
    """One row per model: metric mean ± std over seeds, size and speed."""
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
        rows.append(row)
    return rows


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
]
