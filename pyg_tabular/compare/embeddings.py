r"""The numeric embeddings the comparison gives every model that has one.

This module sits below :mod:`~pyg_tabular.compare.models` and
:mod:`~pyg_tabular.compare.peers`, which both build embeddings, so that
neither imports the other for them.
"""

from __future__ import annotations

import warnings

from torch import Tensor, nn

from pyg_tabular._choices import NUMERIC_EMBEDDINGS
from pyg_tabular.compare.tasks import Task
from pyg_tabular.utils.validation import check_choice


def fit_task_bins(task: Task) -> list[Tensor]:
    r"""Piecewise-linear bins of :obj:`task`'s numeric columns, fitted on its
    train split only (:func:`pyg_tabular.nn.models.fit_bins`)."""
    from pyg_tabular.nn.models import fit_bins

    return fit_bins(task.train.x[:, : task.num_numeric])


def numeric_embeddings(kind: str, task: Task) -> nn.Module | None:
    r"""The :mod:`rtdl_num_embeddings` module that embeds :obj:`task`'s
    numerics ``[B, F_{num}]`` as ``[B, F_{num}, d]`` for a model whose first
    layer is a :class:`~torch.nn.Linear` over the flattened row (the MLP, TabM).

    * ``"linear"``: :obj:`None`, the numerics as they are (a per-feature
      affine embedding followed by a linear layer is one linear map);
    * ``"periodic"``: ``PeriodicEmbeddings(F_num, lite=False)`` with the
      package's defaults (24 channels from 48 frequencies, ReLU): the "PLR"
      embedding of MLP-PLR;
    * ``"piecewise-linear"``: ``PiecewiseLinearEmbeddings(bins,
      d_embedding=16, activation=False, version="B")`` over
      :func:`fit_task_bins`, the embedding the TabM authors recommend.

    A task without numerics gets :obj:`None` whatever the kind.
    """
    check_choice(kind, "numeric_embedding", NUMERIC_EMBEDDINGS)
    if kind == "linear" or task.num_numeric == 0:
        return None
    import rtdl_num_embeddings

    if kind == "periodic":
        return rtdl_num_embeddings.PeriodicEmbeddings(task.num_numeric, lite=False)
    bins = fit_task_bins(task)
    with warnings.catch_warnings():
        # A binary or constant column gets one bin, which rtdl warns is a
        # min-max scaling: what such a column should get.
        warnings.filterwarnings("ignore", message=".*only one bin", category=UserWarning)
        return rtdl_num_embeddings.PiecewiseLinearEmbeddings(
            bins, d_embedding=16, activation=False, version="B"
        )


__all__ = ["NUMERIC_EMBEDDINGS", "fit_task_bins", "numeric_embeddings"]
