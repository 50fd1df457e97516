"""Mini-batches of feature graphs, built a whole batch at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_tabular.data import rows_to_graph
from pyg_tabular.data.edge_index import check_template
from pyg_tabular.datasets._columns import MISSING_MODES, SEED_MIX
from pyg_tabular.datasets.tabular_dataset import TabularDataset
from pyg_tabular.distributed import check_replicas, shard_indices


class TabularLoader:
    r"""Iterates over one split of a :class:`TabularDataset` in mini-batches of
    feature graphs.

    Each batch is one call of :func:`~pyg_tabular.data.rows_to_graph` on a
    slice of rows, so no per-row :class:`~torch_geometric.data.Data` object is
    ever built. With :obj:`static` set it yields the static form instead:
    ``(x [B, F, 1], y)``, to be used with one shared template (see
    :func:`~pyg_tabular.data.to_static_graph`), without building any edge index.

    Every row of the split appears exactly once per epoch (with
    :obj:`drop_last`, at most once). With :obj:`shuffle`, the order of epoch
    :math:`e` is a permutation drawn from a :class:`torch.Generator` seeded by
    :obj:`seed` and :math:`e`: two loaders with the same seed yield the same
    batches, and each new iteration (epoch) reshuffles. Call
    :meth:`set_epoch` to choose the epoch, e.g. when resuming.

    For data-parallel training (see :mod:`pyg_tabular.distributed`), give each
    process its :obj:`rank` among :obj:`num_replicas`: every rank draws the
    same global batches and keeps its own contiguous, disjoint slice of each
    (:func:`~pyg_tabular.distributed.shard_indices`), so all ranks take
    :obj:`len(loader)` steps per epoch. The shuffle must then be drawn from
    the same :obj:`seed` on every rank. Slices differ in size by at most one
    row (a global batch smaller than :obj:`num_replicas` leaves some ranks
    empty); with a :obj:`batch_size` divisible by :obj:`num_replicas` and
    :obj:`drop_last`, DDP's average of the ranks' mean losses is the mean loss
    of the global batch.

    Category codes enter the graphs as node values (as floats, after the
    numeric columns); nodes with ``feature_id >= dataset.num_numeric`` are
    categorical and their ``x`` holds the integer code.

    Args:
        dataset (TabularDataset): The dataset.
        split (str, optional, keyword-only): ``"train"``, ``"val"``, ``"test"`` or
            :obj:`None` for every row. (default: :obj:`"train"`)
        batch_size (int, optional, keyword-only): Rows per batch. (default: :obj:`256`)
        shuffle (bool, optional, keyword-only): Reshuffle the rows every epoch.
            (default: :obj:`False`)
        seed (int, optional, keyword-only): Seed of the shuffles; drawn from PyTorch's
            global generator when :obj:`None`. (default: :obj:`None`)
        drop_last (bool, optional, keyword-only): Drop the last, incomplete batch.
            (default: :obj:`False`)
        missing (str, optional, keyword-only): ``"error"`` or ``"drop"``, passed to
            :func:`~pyg_tabular.data.rows_to_graph`; checked eagerly against
            the split's rows. (default: :obj:`"error"`)
        edge_index (torch.Tensor, optional, keyword-only): Feature adjacency template
            ``[2, E]``, e.g. :attr:`FeatureKNNGraph.edge_index
            <pyg_tabular.transforms.FeatureKNNGraph.edge_index>`.
            (default: the complete graph)
        self_loops (bool, optional, keyword-only): Self-loops in the default complete
            template. (default: :obj:`True`)
        static (bool, optional, keyword-only): Yield ``(x [B, F, 1], y)`` instead of
            :class:`~torch_geometric.data.Batch` objects. (default: :obj:`False`)
        num_replicas (int, optional, keyword-only): Number of processes that share each
            batch. (default: :obj:`1`)
        rank (int, optional, keyword-only): This process's rank in ``[0, num_replicas)``,
            e.g. :func:`torch.distributed.get_rank`. (default: :obj:`0`)

    Example:
        >>> import torch
        >>> x = torch.arange(10.0).view(5, 2)
        >>> ds = TabularDataset(x, torch.arange(5.0), split=(1.0, 0.0, 0.0))
        >>> loader = TabularLoader(ds, batch_size=2)
        >>> len(loader), [batch.num_graphs for batch in loader]
        (3, [2, 2, 1])
        >>> xs, y = next(iter(TabularLoader(ds, batch_size=4, static=True)))
        >>> tuple(xs.shape), tuple(y.shape)
        ((4, 2, 1), (4,))
        >>> ranks = [TabularLoader(ds, batch_size=4, num_replicas=2, rank=r) for r in (0, 1)]
        >>> [[batch.y.tolist() for batch in loader] for loader in ranks]
        [[[0.0, 1.0], [4.0]], [[2.0, 3.0], []]]
    """

    def __init__(
        self,
        dataset: TabularDataset,
        *,
        split: str | None = "train",
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        missing: str = "error",
        edge_index: Any = None,
        self_loops: bool = True,
        static: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not isinstance(dataset, TabularDataset):
            raise ValueError(f"dataset must be a TabularDataset (got {type(dataset).__name__})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int (got {batch_size!r})")
        if missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {MISSING_MODES} (got {missing!r})")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None (got {seed!r})")
        check_replicas(num_replicas, rank)
        if num_replicas > 1 and shuffle and seed is None:
            raise ValueError(
                f"seed is required with shuffle=True and num_replicas={num_replicas}: every "
                "rank must draw the same order"
            )
        self.dataset = dataset
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.missing = missing
        self.self_loops = self_loops
        self.static = static
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = int(torch.randint(0, 2**62, ())) if seed is None else seed
        self.epoch = 0

        self.index = dataset.index(split)
        self._x = dataset.x[self.index]  # [n, F]
        self._y = None if dataset.target is None else dataset.target[self.index]
        num_features = self._x.size(1)
        self.edge_index = None if edge_index is None else check_template(edge_index, num_features)
        if static and self.edge_index is not None:
            raise ValueError(
                "edge_index is not used with static=True (the static form yields no edges); "
                "pair the yielded x with your template yourself"
            )
        missing_cells = torch.isnan(self._x)
        if (static or missing == "error") and bool(missing_cells.any()):
            row, column = (int(i) for i in missing_cells.nonzero()[0])
            name = dataset.feature_names[column]
            fix = "missing='drop'" if not static else "static=False with missing='drop'"
            raise ValueError(
                f"split {split!r} has missing numeric cells (first: column {name!r}, row "
                f"{int(self.index[row])}); pass {fix}, or build the dataset with impute='mean'"
            )

    def set_epoch(self, epoch: int) -> None:
        r"""Sets the epoch whose order the next iteration yields."""
        self.epoch = int(epoch)

    def _order(self) -> Tensor:
        num_rows = self._x.size(0)
        if not self.shuffle:
            return torch.arange(num_rows)
        epoch_seed = (self.seed * SEED_MIX + self.epoch) % (2**63)
        generator = torch.Generator().manual_seed(epoch_seed)
        return torch.randperm(num_rows, generator=generator)

    def __iter__(self) -> Iterator[Batch | tuple[Tensor, Tensor | None]]:
        order = self._order()
        self.epoch += 1
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, order.numel()), self.batch_size):
            rows = order[start : start + self.batch_size]
            if self.num_replicas > 1:
                rows = shard_indices(rows, num_replicas=self.num_replicas, rank=self.rank)
            x = self._x[rows]
            y = None if self._y is None else self._y[rows]
            if self.static:
                yield x.unsqueeze(-1), y
            else:
                yield rows_to_graph(
                    x,
                    y,
                    edge_index=self.edge_index,
                    self_loops=self.self_loops,
                    missing=self.missing,
                    feature_names=self.dataset.feature_names,
                )

    def __len__(self) -> int:
        num_rows = self._x.size(0)
        if self.drop_last:
            return num_rows // self.batch_size
        return -(-num_rows // self.batch_size)

    def __repr__(self) -> str:
        shard = ""
        if self.num_replicas > 1:
            shard = f", num_replicas={self.num_replicas}, rank={self.rank}"
        return (
            f"{self.__class__.__name__}(split={self.split!r}, rows={self._x.size(0)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}{shard})"
        )


__all__ = ["TabularLoader"]
