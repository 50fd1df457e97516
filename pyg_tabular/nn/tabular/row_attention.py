r"""Attention over the rows of a batch: one learned weight per sample."""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential, Sigmoid
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn.tabular._common import keras_config
from pyg_tabular.utils.validation import (
    check_choice,
    check_finite,
    check_finite_output,
    check_positive_int,
    check_rank,
    to_tensor,
)

# kerasfactory multiplies the scores by 5 before the batch softmax: scores lie
# in (0, 1), and without the factor the weights would stay within e^1 of each
# other whatever the network learned.
SCORE_SCALE = 5.0
# Keras' BatchNormalization defaults, in PyTorch terms (Keras momentum 0.99 is
# the weight of the old running value; PyTorch's momentum is that of the new).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

_NORMALIZE_MODES = ("batch", "sigmoid")


class RowAttention(torch.nn.Module):
    r"""Weights each row of a batch by a learned, data-dependent score,
    mirroring ``RowAttention`` of the Keras library ``kerasfactory``.

    A small network scores every row; the row is then scaled by its weight:

    .. math::
        s_b &= \sigma\left(\mathbf{w}_2^{\top}\,
        \mathrm{BN}\left(\mathrm{ReLU}(\mathbf{W}_1 \mathbf{x}_b + \mathbf{b}_1)\right)
        + b_2\right) \in (0, 1)

        a_b &= \begin{cases}
        \dfrac{\exp(5 s_b)}{\sum_{b'=1}^{B} \exp(5 s_{b'})} &
        \text{normalize="batch"} \\[1ex]
        s_b & \text{normalize="sigmoid"}
        \end{cases}

        \mathbf{y}_b &= a_b \, \mathbf{x}_b

    :math:`\mathrm{BN}` is batch normalisation over the hidden units
    (:math:`\epsilon = 10^{-3}`, PyTorch momentum :math:`0.01`, i.e. Keras'
    momentum :math:`0.99`).

    ``normalize="batch"`` (the default) is the Keras layer's computation: a
    softmax over the **batch**, so each output row depends on every other row
    of the batch and the weights sum to one over it. Outputs therefore change
    with the batch size and composition (a row's output shrinks roughly like
    :math:`1/B`; with :math:`B = 1` the row passes through unchanged), and a
    model's predictions for a row depend on which rows it is batched with.
    ``normalize="sigmoid"`` uses the score itself as the weight, so every row
    is processed independently of the others (in evaluation mode) and
    predicting row by row equals predicting in one batch.

    In training mode batch normalisation uses the statistics of the current
    batch, as in Keras' ``fit``. PyTorch cannot form them from a single row,
    so a training batch of one row is normalised with its own statistics as
    Keras does (the row minus its mean is zero, so :math:`\mathrm{BN}` returns
    its shift) and leaves the running statistics untouched; an empty batch is
    normalised with the running statistics and returns an empty
    :math:`(0, F)` tensor.

    **Distributed training.** Under
    :class:`~torch.nn.parallel.DistributedDataParallel` each process sees
    only its slice of the global batch, so ``normalize="batch"`` takes its
    softmax over the local slice: the weights sum to one per process, and the
    outputs differ from those of one process holding the global batch. Use
    ``normalize="sigmoid"`` when the results must not depend on how a batch
    is split. Batch normalisation in training mode likewise uses each
    slice's statistics; :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm`
    (GPU only) makes it use those of the global batch, and in evaluation mode
    it uses the running statistics, which DDP copies from rank 0.

    Porting from Keras: with the same weights and the moving statistics copied,
    both compute the same function in evaluation mode (Keras' inference, or a
    bare call) and in training mode (Keras ``training=True``). The running
    variance is updated from the unbiased batch variance here and from the
    biased one in Keras, so the statistics drift apart by a factor
    :math:`B / (B - 1)` in their per-batch update.

    :func:`~pyg_tabular.interop.load_keras_weights` copies the weights and
    moving statistics over, following
    :data:`~pyg_tabular.interop.keras.KERAS_WEIGHT_TABLE` (Keras'
    ``attention_net`` ``Dense`` → ``BatchNormalization`` → ``Dense`` are
    ``attention_net.0``, ``.2`` and ``.3`` here; ``num_batches_tracked`` has
    no Keras counterpart).

    Parameters are initialised as in Keras (Glorot-uniform weights, zero
    biases, unit scale and zero shift for the normalisation).

    **Deviations from kerasfactory.** Keras reads ``hidden_dim=0`` as the
    default and does not check ``feature_dim``; both must be positive
    integers here. In a training batch of one row Keras updates its moving
    statistics (mean to that row, variance to zero); this module leaves them
    untouched, and for an empty training batch (where Keras writes NaN into
    them) too. ``normalize="sigmoid"`` and ``return_attention_weights`` have
    no Keras counterpart.

    Args:
        feature_dim (int): Number of features :math:`F` of each row.
        hidden_dim (int, optional): Hidden size :math:`H` of the scoring
            network. (default: :obj:`max(feature_dim // 2, 1)`)
        normalize (str, optional): ``"batch"`` for the Keras layer's softmax
            over the batch of :math:`5 s_b`, or ``"sigmoid"`` for the
            batch-independent weight :math:`s_b`. (default: :obj:`"batch"`)

    Shapes:
        - **input:** :math:`\mathbf{x}` of shape :math:`(B, F)`
        - **output:** :math:`(B, F)`, and with ``return_attention_weights=True``
          also the row weights :math:`\mathbf{a}` of shape :math:`(B,)`

    Example:
        >>> import torch
        >>> from pyg_tabular.nn.tabular.row_attention import RowAttention
        >>> attention = RowAttention(8)
        >>> attention
        RowAttention(8, hidden_dim=4)
        >>> x = torch.randn(32, 8)
        >>> out, weights = attention(x, return_attention_weights=True)
        >>> out.shape, weights.shape
        (torch.Size([32, 8]), torch.Size([32]))
        >>> bool(torch.isclose(weights.sum(), torch.tensor(1.0)))
        True
    """

    def __init__(
        self,
        feature_dim: int,
        hidden_dim: int | None = None,
        *,
        normalize: str = "batch",
    ) -> None:
        super().__init__()
        feature_dim = check_positive_int(feature_dim, "feature_dim")
        if hidden_dim is None:
            hidden_dim = max(feature_dim // 2, 1)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        check_choice(normalize, "normalize", _NORMALIZE_MODES)
        self.feature_dim = feature_dim
        self.hidden_dim = hidden_dim
        self.normalize = normalize
        self.attention_net = Sequential(
            Linear(feature_dim, hidden_dim),
            ReLU(),
            BatchNorm1d(hidden_dim, eps=BN_EPS, momentum=BN_MOMENTUM),
            Linear(hidden_dim, 1),
            Sigmoid(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets every parameter and running statistic to Keras' initialisation."""
        first, _, norm, last, _ = self.attention_net
        for linear in (first, last):
            glorot(linear.weight)
            zeros(linear.bias)
        cast(BatchNorm1d, norm).reset_parameters()

    def _batch_norm(self, hidden: Tensor) -> Tensor:
        norm = cast(BatchNorm1d, self.attention_net[2])
        num_rows = hidden.size(0)
        if self.training and num_rows >= 2 and not torch.compiler.is_compiling():
            # The batch variance (and the running one it feeds) is a mean of
            # squares: past sqrt(max) it overflows and the scores go wrong.
            largest = float(hidden.detach().abs().amax())
            if largest > math.sqrt(torch.finfo(hidden.dtype).max) / 16:
                raise ValueError(
                    f"values of x are too large in magnitude for the batch statistics of "
                    f"training mode (hidden units up to {largest:.3g}); rescale x, e.g. "
                    f"with StandardizeFeatures, or call eval()"
                )
        if not self.training or num_rows >= 2:
            return norm(hidden)
        if num_rows == 0:
            # No statistics to take from an empty batch: the running ones keep
            # the output well defined (and empty) without touching them.
            return F.batch_norm(
                hidden,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                training=False,
                eps=norm.eps,
            )
        # One row: PyTorch refuses batch statistics, Keras uses them. The row
        # minus its own mean is zero, so this returns the shift β, with the
        # same gradients as Keras (none reach the first linear layer).
        mean = hidden.mean(dim=0, keepdim=True)
        var = hidden.var(dim=0, unbiased=False, keepdim=True)
        return (hidden - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias

    def row_scores(self, x: Tensor) -> Tensor:
        r"""Returns the scores :math:`s_b \in (0, 1)` of the rows of :obj:`x`,
        shape :math:`(B,)`, before any normalisation over the batch."""
        first, relu, _, last, sigmoid = self.attention_net
        hidden = relu(first(x))  # [batch_size, hidden_dim]
        return sigmoid(last(self._batch_norm(hidden))).squeeze(-1)  # [batch_size]

    def forward(
        self, x: Tensor, return_attention_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Weights the rows of :obj:`x` (shape :math:`(B, F)`).

        With :obj:`return_attention_weights`, also returns the row weights
        :math:`\mathbf{a}` (shape :math:`(B,)`).
        """
        x = to_tensor(x, "x")
        check_rank(x, "x", (2,), "[batch_size, feature_dim]")
        if x.size(1) != self.feature_dim:
            raise ValueError(
                f"x must have feature_dim={self.feature_dim} columns (got shape {tuple(x.shape)})"
            )
        check_finite(x, "x")
        scores = self.row_scores(x)
        if self.normalize == "batch":
            weights = torch.softmax(SCORE_SCALE * scores, dim=0)
        else:
            weights = scores
        out = x * weights.unsqueeze(-1)
        check_finite_output(out, "x", x)
        if return_attention_weights:
            return out, weights
        return out

    def get_config(self) -> dict[str, Any]:
        r"""Returns the constructor arguments, so that
        ``RowAttention.from_config(layer.get_config())`` rebuilds the layer
        (with fresh parameters)."""
        return {
            "feature_dim": self.feature_dim,
            "hidden_dim": self.hidden_dim,
            "normalize": self.normalize,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RowAttention:
        r"""Builds a layer from the output of :meth:`get_config`.

        The config of the Keras layer works too: its bookkeeping entries
        (``name``, ``trainable``, ``dtype``) are ignored.
        """
        return cls(**keras_config(config))

    def __repr__(self) -> str:
        extra = "" if self.normalize == "batch" else f", normalize={self.normalize!r}"
        return f"{self.__class__.__name__}({self.feature_dim}, hidden_dim={self.hidden_dim}{extra})"


__all__ = ["RowAttention"]
