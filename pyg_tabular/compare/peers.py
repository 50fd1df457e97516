r"""The strongest deep tabular peers of the comparison, built by their
authors' own packages and trained with their authors' optimizer recipes:

- ``"ft-transformer"``: :class:`FTTransformerNet`, the FT-Transformer of
  Gorishniy et al., "Revisiting Deep Learning Models for Tabular Data"
  (NeurIPS 2021), from :mod:`rtdl_revisiting_models`;
- ``"tabm"``: :class:`TabMNet`, TabM of Gorishniy et al., "TabM: Advancing
  Tabular Deep Learning with Parameter-Efficient Ensembling" (ICLR 2025),
  from :mod:`tabm`.

Both packages come with the ``peers`` extra
(``pip install "pyg-tabular[peers]"``); they are imported when a peer is
built, so the rest of the comparison never needs them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from torch import Tensor, nn

from pyg_tabular.compare.embeddings import numeric_embeddings
from pyg_tabular.compare.tasks import Task

#: The package each peer is built by.
PEER_PACKAGES = {"ft-transformer": "rtdl_revisiting_models", "tabm": "tabm"}

#: How to install the peers' packages.
PEERS_INSTALL = 'pip install "pyg-tabular[peers]"'


def import_peer(name: str) -> ModuleType:
    r"""The package that builds peer :obj:`name` (a key of :data:`PEER_PACKAGES`).

    Raises:
        ImportError: The package is not installed; the message says how to
            install it.
    """
    package = PEER_PACKAGES[name]
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(
            f"model {name!r} needs the {package} package, which is not installed: {PEERS_INSTALL}"
        ) from error


class FTTransformerNet(nn.Module):
    r"""The FT-Transformer of Gorishniy et al. (NeurIPS 2021) on the task
    matrix ``[n, F]`` (numerics, then category codes).

    The model is ``rtdl_revisiting_models.FTTransformer`` in its authors'
    default configuration (``FTTransformer.get_default_kwargs()``: three
    blocks of 192 channels, 8 heads, ReGLU feed-forward). Numerics enter
    through its own per-feature linear embeddings, whatever numeric embedding
    the comparison gives the other models; each categorical column has its own
    embedding, the code ``0`` (unknown) an ordinary category.

    The optimizer recipe is the authors' (``make_default_optimizer``): AdamW
    with :obj:`optimizer_options` ``lr=1e-4, weight_decay=1e-5`` and no
    weight decay on the embeddings, normalisations and biases
    (:meth:`optimizer_groups`).

    Args:
        num_numeric (int): Number of numeric columns, first in the row.
        cardinalities (list of int): Number of codes of each categorical
            column, the reserved ``0`` included.
        num_outputs (int): Outputs per row.
    """

    def __init__(self, num_numeric: int, cardinalities: list[int], num_outputs: int) -> None:
        super().__init__()
        package = import_peer("ft-transformer")
        transformer = package.FTTransformer
        self.num_numeric = num_numeric
        self.model = transformer(
            n_cont_features=num_numeric,
            cat_cardinalities=list(cardinalities),
            d_out=num_outputs,
            **transformer.get_default_kwargs(),
        )
        #: AdamW keyword arguments of the authors' recipe.
        self.optimizer_options: dict[str, Any] = {"lr": 1e-4, "weight_decay": 1e-5}

    def optimizer_groups(self) -> list[dict[str, Any]]:
        r"""Parameter groups for the optimizer: weight decay ``0`` on the
        groups FT-Transformer's ``make_parameter_groups`` exempts."""
        return self.model.make_parameter_groups()  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        numeric = x[:, : self.num_numeric] if self.num_numeric > 0 else None
        codes = x[:, self.num_numeric :].long() if x.size(1) > self.num_numeric else None
        return self.model(numeric, codes)  # type: ignore[no-any-return]


class TabMNet(nn.Module):
    r"""TabM of Gorishniy et al. (ICLR 2025) on the task matrix ``[n, F]``:
    :math:`k` MLPs sharing most of their weights, trained together.

    The model is ``tabm.TabM.make(...)`` with the package's defaults
    (:math:`k = 32` members, width 512, dropout 0.1, three blocks, or two
    with numeric embeddings). Numerics go through :obj:`numeric_embeddings`
    (shared by the members) or enter as they are; categorical columns are
    one-hot encoded inside TabM, the code ``0`` (unknown) an ordinary
    category.

    The output is one prediction per member, ``[n, k, num_outputs]``, and
    :attr:`ensemble_size` says so: :func:`~pyg_tabular.compare.train_one`
    trains on the mean of the members' losses and evaluates the mean of their
    predictions, as the authors do. The optimizer recipe is the one the
    authors suggest as a starting point: AdamW with :obj:`optimizer_options`
    ``lr=2e-3, weight_decay=3e-4``.

    Args:
        num_numeric (int): Number of numeric columns, first in the row.
        cardinalities (list of int): Number of codes of each categorical
            column, the reserved ``0`` included.
        num_outputs (int): Outputs per row and member.
        numeric_embeddings (torch.nn.Module, optional): A
            ``PeriodicEmbeddings``, ``PiecewiseLinearEmbeddings`` (version
            ``"B"``) or ``LinearReLUEmbeddings`` of :mod:`rtdl_num_embeddings`
            over the numeric columns. (default: :obj:`None`)
        **kwargs (optional): More arguments of ``TabM.make`` (``k``,
            ``d_block``, ``n_blocks``, ``dropout``, ...).
    """

    def __init__(
        self,
        num_numeric: int,
        cardinalities: list[int],
        num_outputs: int,
        numeric_embeddings: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        package = import_peer("tabm")
        self.num_numeric = num_numeric
        self.model = package.TabM.make(
            n_num_features=num_numeric,
            cat_cardinalities=list(cardinalities),
            d_out=num_outputs,
            num_embeddings=numeric_embeddings,
            **kwargs,
        )
        #: Number of members :math:`k`: the output is ``[n, k, num_outputs]``.
        self.ensemble_size = int(self.model.k)
        #: AdamW keyword arguments of the authors' recipe.
        self.optimizer_options: dict[str, Any] = {"lr": 2e-3, "weight_decay": 3e-4}

    def forward(self, x: Tensor) -> Tensor:
        numeric = x[:, : self.num_numeric] if self.num_numeric > 0 else None
        codes = x[:, self.num_numeric :].long() if x.size(1) > self.num_numeric else None
        return self.model(numeric, codes)  # type: ignore[no-any-return]  # [n, k, out]


def ft_transformer(task: Task) -> FTTransformerNet:
    r"""Builds the comparison's ``"ft-transformer"`` for :obj:`task`
    (see :class:`FTTransformerNet`)."""
    return FTTransformerNet(task.num_numeric, list(task.cardinalities), task.num_outputs)


def tabm(task: Task, numeric_embedding: str = "linear") -> TabMNet:
    r"""Builds the comparison's ``"tabm"`` for :obj:`task` (see
    :class:`TabMNet`), its numerics embedded by the comparison's
    :obj:`numeric_embedding` (see
    :func:`~pyg_tabular.compare.embeddings.numeric_embeddings`;
    ``"piecewise-linear"`` is the authors' recommended TabM\ :sup:`†`)."""
    import_peer("tabm")  # before the embeddings' bins are fitted
    return TabMNet(
        task.num_numeric,
        list(task.cardinalities),
        task.num_outputs,
        numeric_embeddings=numeric_embeddings(numeric_embedding, task),
    )


__all__ = [
    "PEER_PACKAGES",
    "PEERS_INSTALL",
    "FTTransformerNet",
    "TabMNet",
    "ft_transformer",
    "import_peer",
    "tabm",
]
