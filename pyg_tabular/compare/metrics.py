r"""Test metrics of the comparison: RMSE in target units, accuracy, binary AUC."""

from __future__ import annotations

import resource

import torch
from torch import Tensor, nn

from pyg_tabular.compare.tasks import Split
from pyg_tabular.utils.scatter import scatter


def monitor_of(kind: str) -> tuple[str, str]:
    r"""The metric early stopping follows for a task :obj:`kind`, and whether
    lower (``"min"``) or higher (``"max"``) is better."""
    return ("rmse", "min") if kind == "regression" else ("accuracy", "max")


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
    return metrics_of(out, split, kind, target_scale)


def metrics_of(
    prediction: Tensor, split: Split, kind: str, target_scale: float
) -> dict[str, float]:
    r"""Metrics of :obj:`prediction`: regression values, the positive-class
    probability ``[n]`` or ``[n, 2]`` (binary), or class scores ``[n, K]``."""
    prediction = prediction.float()
    if kind == "regression":
        rmse = float(((prediction.reshape(-1) - split.y) ** 2).mean().sqrt())
        return {"rmse": rmse * target_scale}
    if kind == "binary":
        score = prediction[:, 1] if prediction.dim() == 2 else prediction
        label = split.y.long()
        metrics = {"accuracy": float(((score > 0.5).long() == label).float().mean())}
        metrics["auc"] = binary_auc(score, label)
        return metrics
    return {"accuracy": float((prediction.argmax(-1) == split.y.long()).float().mean())}


def binary_auc(score: Tensor, label: Tensor) -> float:
    r"""ROC AUC of :obj:`score` for 0/1 :obj:`label` (Mann-Whitney U, ties
    at their average rank); ``nan`` when one class is absent."""
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


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


__all__ = ["evaluate", "metrics_of", "binary_auc", "monitor_of", "peak_rss_mb"]
