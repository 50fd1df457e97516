"""Mini-batches of feature graphs streamed from a table that need not fit in memory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_tabular.data import rows_to_graph
from pyg_tabular.data.edge_index import check_template
from pyg_tabular.datasets._columns import (
    IMPUTE_MODES,
    MISSING_MODES,
    SEED_MIX,
    TASKS,
    ColumnSchema,
    Table,
    as_int64_tensor,
    class_task,
    column_name,
    encode,
    is_missing,
    sorted_values,
    unique_labels,
)
from pyg_tabular.datasets._inference import infer_task
from pyg_tabular.datasets.table_encoder import TableEncoder
from pyg_tabular.datasets.tabular_dataset import TabularDataset
from pyg_tabular.utils.validation import check_int, check_positive_int, is_dataframe

# One encoded piece of the stream: features [n, F] and targets [n] (or None).
_Piece = tuple[Tensor, Tensor | None]


class StreamingTabularLoader(ColumnSchema):
    r"""Streams a table that need not fit in memory as mini-batches of feature
    graphs, encoded exactly as :class:`TabularDataset` encodes an in-memory
    table.

    The source is read in chunks: pandas DataFrames from an iterable (or from a
    callable returning a fresh iterable each time it is called), or record
    batches of a parquet file (read with
    :meth:`pyarrow.parquet.ParquetFile.iter_batches`). At construction, **one
    pass** over the source fits the statistics that :class:`TabularDataset`
    fits on its training rows, here on every row:

    * the NaN-aware mean and population standard deviation of each numeric
      column, merged chunk by chunk in float64 with the parallel update of
      Chan, Golub and LeVeque ("Updating formulae and a pairwise algorithm
      for computing sample variances", 1982):

      .. math::
          n = n_a + n_b, \quad
          \delta = \mu_b - \mu_a, \quad
          \mu = \mu_a + \delta \frac{n_b}{n}, \quad
          M_2 = M_{2,a} + M_{2,b} + \delta^2 \frac{n_a n_b}{n},

      with :math:`\sigma = \sqrt{M_2 / n}`; a constant (or never observed)
      column gets :math:`\sigma = 1` and is only centred (on its exact value,
      so its cells become exactly ``0``);
    * the sorted vocabulary of each categorical column (code ``1 +
      position``; ``0`` for missing values);
    * the sorted classes of a classification target.

    Memory is bounded by the size of a chunk (for a parquet file, of a row
    group too) plus :obj:`shuffle_buffer` rows, not by the length of the
    table. Each epoch then reads the source again and yields batches like
    :class:`TabularLoader`: one
    :func:`~pyg_tabular.data.rows_to_graph` call per batch, or with
    :obj:`static` the form ``(x [B, F, 1], y)``. Batches run across chunk
    boundaries; only the last batch of an epoch may be smaller. With
    :obj:`shuffle=False` the rows come in the order of the source, so the
    batches equal those of ``TabularLoader(TabularDataset(table, ...,
    split=(1.0, 0.0, 0.0)), split=None)`` on the concatenated table (numeric
    cells up to the last bits of float64 rounding of the merged statistics).

    The source must yield the same rows every epoch: a category or class that
    was not seen in the fitting pass, or a different number of rows, raises a
    :class:`ValueError` naming the column and the value. To encode *other*
    rows (validation, test, new data) with the statistics of a training
    loader, pass it as :obj:`statistics`; then, as in
    :meth:`TabularDataset.transform`, unseen categories get code ``0`` and
    unseen classes raise.

    With :obj:`shuffle`, epoch :math:`e` mixes the rows with a
    :class:`torch.Generator` seeded by :obj:`seed` and :math:`e` (see
    :meth:`set_epoch`): each arriving chunk joins a buffer of up to
    :obj:`shuffle_buffer` rows, and a uniformly drawn subset of buffer and
    chunk leaves, so that at most :obj:`shuffle_buffer` rows stay behind. The
    row groups of a parquet file are also read in a seeded random order. Rows
    move by at most about :obj:`shuffle_buffer` plus one chunk towards the
    front, so a table sorted by its target needs a buffer comparable to its
    length (or a shuffled file).

    Args:
        source (str or os.PathLike or iterable or callable): A parquet file's
            path, an iterable of :class:`pandas.DataFrame` chunks that can be
            iterated more than once (e.g. a list), or a callable returning a
            fresh iterable of chunks on each call. Every chunk has the same
            columns.
        target (str, optional): The target column. Required unless
            :obj:`statistics` is given; then it defaults to the target column
            of :obj:`statistics` when the source holds it, and no target
            (``y`` is :obj:`None`) otherwise. (default: :obj:`None`)
        categorical (list, optional, keyword-only): Columns to encode as categories; every
            other column must be numeric. (default: :obj:`None`)
        task (str, optional, keyword-only): ``"regression"``, ``"binary"`` or
            ``"multiclass"``; inferred as in :class:`TabularDataset` when
            :obj:`None`. (default: :obj:`None`)
        batch_size (int, optional, keyword-only): Rows per batch. (default: :obj:`256`)
        shuffle (bool, optional, keyword-only): Mix the rows every epoch. (default: :obj:`False`)
        shuffle_buffer (int, optional, keyword-only): Rows the shuffle may hold back.
            (default: :obj:`65536`)
        seed (int, optional, keyword-only): Seed of the shuffles; drawn from PyTorch's
            global generator when :obj:`None`. (default: :obj:`None`)
        drop_last (bool, optional, keyword-only): Drop the last, incomplete batch.
            (default: :obj:`False`)
        missing (str, optional, keyword-only): ``"error"`` or ``"drop"``, as in
            :class:`TabularLoader`; checked during the fitting pass.
            (default: :obj:`"error"`)
        impute (str, optional, keyword-only): :obj:`None` keeps missing numeric cells as
            NaN; ``"mean"`` fills them with the mean (``0`` after
            standardization). (default: :obj:`None`)
        edge_index (torch.Tensor, optional, keyword-only): Feature adjacency template
            ``[2, E]``. (default: the complete graph)
        self_loops (bool, optional, keyword-only): Self-loops in the default complete
            template. (default: :obj:`True`)
        static (bool, optional, keyword-only): Yield ``(x [B, F, 1], y)`` instead of
            :class:`~torch_geometric.data.Batch` objects. (default: :obj:`False`)
        chunk_size (int, optional, keyword-only): Rows per record batch read from a parquet
            file. (default: :obj:`65536`)
        statistics (TabularDataset or StreamingTabularLoader, optional, keyword-only): Use
            the columns, statistics, vocabularies, classes and :obj:`impute`
            of an already fitted dataset or loader instead of fitting; the
            construction pass then only counts and checks the rows.
            :obj:`categorical`, :obj:`task` and :obj:`impute` must be left
            unset. (default: :obj:`None`)
        dtype (torch.dtype, optional, keyword-only): Floating dtype of ``x`` and of a
            regression target. (default: the dtype of :obj:`statistics`, or
            :func:`torch.get_default_dtype`)

    After construction the loader holds the same metadata as
    :class:`TabularDataset`: :attr:`feature_names` (numeric columns first),
    :attr:`numeric_names`, :attr:`categorical_names`, :attr:`mean` and
    :attr:`std` (float64), :attr:`vocabularies`, :attr:`cardinalities`,
    :attr:`task`, :attr:`classes`, :attr:`num_classes`, plus
    :attr:`num_rows`; the statistics live in :attr:`encoder`, a
    :class:`~pyg_tabular.datasets.TableEncoder` fitted chunk by chunk.

    Example:
        >>> import pandas as pd
        >>> chunks = [
        ...     pd.DataFrame({"a": [1.0, 2.0], "c": ["x", "y"], "y": [0, 1]}),
        ...     pd.DataFrame({"a": [3.0, 4.0, 5.0], "c": ["y", "z", None], "y": [1, 0, 1]}),
        ... ]
        >>> loader = StreamingTabularLoader(chunks, "y", categorical=["c"], batch_size=4)
        >>> loader
        StreamingTabularLoader(rows=5, features=2, batch_size=4, shuffle=False)
        >>> loader.mean.tolist(), loader.vocabularies, loader.task
        ([3.0], {'c': ['x', 'y', 'z']}, 'binary')
        >>> [batch.num_graphs for batch in loader]
        [4, 1]
        >>> x, y = next(iter(StreamingTabularLoader(chunks, "y", categorical=["c"],
        ...                                        batch_size=5, static=True)))
        >>> x[:, 1, 0].tolist(), y.tolist()  # codes of column c (0: missing)
        ([1.0, 2.0, 2.0, 3.0, 0.0], [0, 1, 1, 0, 1])
    """

    encoder: TableEncoder
    classes: list[Any] | None
    task: str
    target_name: str | None
    impute: str | None
    dtype: torch.dtype
    num_rows: int

    def __init__(
        self,
        source: Any,
        target: Any = None,
        *,
        categorical: Sequence[Any] | None = None,
        task: str | None = None,
        batch_size: int = 256,
        shuffle: bool = False,
        shuffle_buffer: int = 65536,
        seed: int | None = None,
        drop_last: bool = False,
        missing: str = "error",
        impute: str | None = None,
        edge_index: Any = None,
        self_loops: bool = True,
        static: bool = False,
        chunk_size: int = 65536,
        statistics: TabularDataset | StreamingTabularLoader | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_positive_int(batch_size, "batch_size")
        check_positive_int(shuffle_buffer, "shuffle_buffer")
        check_positive_int(chunk_size, "chunk_size")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool (got {shuffle!r})")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None (got {seed!r})")
        if missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {MISSING_MODES} (got {missing!r})")
        if task is not None and task not in TASKS:
            raise ValueError(f"task must be one of {TASKS} or None (got {task!r})")
        if impute not in IMPUTE_MODES:
            raise ValueError(f"impute must be one of {IMPUTE_MODES} (got {impute!r})")
        if statistics is not None:
            if not isinstance(statistics, (TabularDataset, StreamingTabularLoader)):
                raise TypeError(
                    "statistics must be a TabularDataset or a StreamingTabularLoader "
                    f"(got {type(statistics).__name__})"
                )
            given = {"categorical": categorical, "task": task, "impute": impute}
            clashing = {k: v for k, v in given.items() if v is not None}
            if clashing:
                raise ValueError(
                    f"{sorted(clashing)} come from statistics and must not be given with it "
                    f"(got {clashing})"
                )
        elif target is None:
            raise ValueError("target is required: name the target column of the source")
        if dtype is None:
            dtype = torch.get_default_dtype() if statistics is None else statistics.dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype (got {dtype!r})")

        self._kind, self._source = _check_source(source)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.shuffle_buffer = shuffle_buffer
        self.drop_last = drop_last
        self.missing = missing
        self.self_loops = self_loops
        self.static = static
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.seed = int(torch.randint(0, 2**62, ())) if seed is None else seed
        self.epoch = 0
        # Columns read from a parquet file once known (None: all of them).
        self._columns: list[str] | None = None
        # First missing numeric cell (column, row), seen while reading.
        self._first_missing: tuple[str, int] | None = None
        # Whether the target column is floating-point (fixed by the first chunk).
        self._target_is_float: bool | None = None
        # Unseen categories are an error when the statistics were fitted on this source.
        self._fitted_here = statistics is None

        if statistics is None:
            self.impute = impute
            self._fit(target, categorical, task)
        else:
            self.impute = statistics.impute
            self._adopt(statistics, target)

        num_features = self.num_features
        self.edge_index = None if edge_index is None else check_template(edge_index, num_features)
        if static and self.edge_index is not None:
            raise ValueError(
                "edge_index is not used with static=True (the static form yields no edges); "
                "pair the yielded x with your template yourself"
            )
        first_missing = self._first_missing
        if (static or missing == "error") and self.impute is None and first_missing is not None:
            column, row = first_missing
            fix = "missing='drop'" if not static else "static=False with missing='drop'"
            if self._fitted_here:
                fix += ", or impute='mean'"
            raise ValueError(
                f"the source has missing numeric cells (first: row {row}, column {column!r}); "
                f"pass {fix}"
            )

    # ------------------------------------------------------------------ reading
    def _chunks(self, generator: torch.Generator | None = None) -> Iterator[Table]:
        r"""The source's non-empty chunks as tables, checked for consistent columns."""
        first: set[str] | None = None
        for position, chunk in enumerate(self._raw_chunks(generator)):
            if not is_dataframe(chunk):
                raise TypeError(
                    f"source chunk {position} must be a pandas.DataFrame "
                    f"(got {type(chunk).__name__})"
                )
            table = Table(chunk, name=f"source chunk {position}")
            names = set(table.names)
            if first is None:
                first = names
            elif names != first:
                raise ValueError(
                    f"source chunk {position} has other columns than the first chunk "
                    f"(missing {sorted(first - names)}, extra {sorted(names - first)})"
                )
            absent = [n for n in self._columns or [] if n not in names]
            if absent:
                raise ValueError(f"source chunk {position} is missing the columns {absent}")
            if table.num_rows > 0:
                yield table

    def _raw_chunks(self, generator: torch.Generator | None) -> Iterator[Any]:
        if self._kind == "parquet":
            import pyarrow.parquet as pq

            # pre_buffer=True (pyarrow's default) caches every column chunk read so
            # far, so the reader's memory grows to the size of the file.
            with pq.ParquetFile(self._source, pre_buffer=False) as file:
                groups = list(range(file.num_row_groups))
                if generator is not None and len(groups) > 1:
                    groups = torch.randperm(len(groups), generator=generator).tolist()
                for group in groups:
                    for batch in file.iter_batches(
                        batch_size=self.chunk_size, row_groups=[group], columns=self._columns
                    ):
                        yield batch.to_pandas(split_blocks=True)
            return
        chunks = self._source() if self._kind == "callable" else self._source
        if is_dataframe(chunks) or not isinstance(chunks, Iterable):
            raise TypeError(
                "source() must return an iterable of pandas.DataFrame chunks "
                f"(got {type(chunks).__name__})"
            )
        yield from chunks

    def _resolve_target(self, table: Table, target: Any) -> None:
        column = column_name(table, target) if target is not None else None
        if target is not None and column is None:
            raise ValueError(
                f"target {target!r} is not a column of source (columns: {table.names})"
            )
        self.target_name = column

    def _note_missing(self, numeric: np.ndarray | Tensor, offset: int) -> None:
        r"""Remembers the first missing numeric cell of :obj:`numeric` ``[n, F_num]``."""
        nan = np.isnan(np.asarray(numeric))
        if not nan.any():
            return
        row, position = (int(i) for i in np.argwhere(nan)[0])
        if self._first_missing is None or offset + row < self._first_missing[1]:
            self._first_missing = (self.numeric_names[position], offset + row)

    def _read_target(self, table: Table, offset: int) -> tuple[np.ndarray, bool]:
        assert self.target_name is not None
        name = self.target_name
        is_float = table.is_float(name)
        if self._target_is_float is None:
            self._target_is_float = is_float
        elif is_float != self._target_is_float:
            first = "floating-point" if self._target_is_float else "not floating-point"
            raise ValueError(
                f"target {name!r} is {first} in the first chunk but has dtype "
                f"{table.column(name).dtype} at row {offset}; give every chunk the same dtype"
            )
        values = table.numeric(name, "target") if is_float else table.objects(name)
        if values.dtype.kind == "c":
            raise ValueError(f"target {name!r} must be real-valued (got dtype {values.dtype})")
        if values.dtype.kind == "f" and np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0])
            raise ValueError(
                f"target {name!r} must be finite; found {values[row]} at row {offset + row}"
            )
        absent = is_missing(values)
        if absent.any():
            rows = (offset + np.flatnonzero(absent)[:5]).tolist()
            raise ValueError(
                f"target {name!r} has missing values (first rows {rows}); drop those rows first"
            )
        return values, is_float

    # ------------------------------------------------------------------ fitting
    def _fit(self, target: Any, categorical: Any, task: str | None) -> None:
        self.encoder = TableEncoder(categorical, impute=self.impute, dtype=self.dtype)
        labels: dict[Any, None] = {}
        offset = 0
        for table in self._chunks():
            if offset == 0:
                self._resolve_target(table, target)
            assert self.target_name is not None
            self.encoder.partial_fit(
                table, exclude=[self.target_name], offset=offset, name="source"
            )
            values, is_float = self._read_target(table, offset)
            if task == "regression" or (task is None and is_float):
                _regression_values(values, self.target_name)
            else:
                labels.update(dict.fromkeys(unique_labels(values)))
            offset += table.num_rows
        if offset == 0:
            raise ValueError(f"source yielded no rows (got {_describe(self._source)})")
        self.num_rows = offset
        assert self.target_name is not None
        self._columns = [*self.numeric_names, *self.categorical_names, self.target_name]
        self._first_missing = self.encoder.first_missing

        classes = sorted_values(labels)
        if task is None:
            task = infer_task(
                np.asarray(classes, dtype=object),
                bool(self._target_is_float),
                label=repr(self.target_name),
                hint="task='{task}'",
                num_rows=offset,
            )
        self.classes = None
        if task != "regression":
            task = class_task(task, classes, repr(self.target_name))
            self.classes = classes
        self.task = task

    def _adopt(self, statistics: TabularDataset | StreamingTabularLoader, target: Any) -> None:
        self.encoder = TableEncoder(dtype=self.dtype).load_state_dict(
            statistics.encoder.state_dict()
        )
        self.classes = None if statistics.classes is None else list(statistics.classes)
        self.task = statistics.task
        features = self.numeric_names + self.categorical_names
        offset = 0
        for table in self._chunks():
            if offset == 0:
                absent = [n for n in features if n not in table.names]
                if absent:
                    raise ValueError(f"source is missing the feature columns {absent}")
                name = target if target is not None else statistics.target_name
                column = None if name is None else column_name(table, name)
                if target is not None and column is None:
                    raise ValueError(
                        f"target {target!r} is not a column of source (columns: {table.names})"
                    )
                self.target_name = column
                self._columns = features + ([column] if column is not None else [])
            # Encoding checks every cell now, so that a bad one fails here, not mid-epoch.
            numeric, _ = self.encoder.transform(table, offset=offset, name="source")
            if self.impute is None:
                self._note_missing(numeric, offset)
            if self.target_name is not None:
                self._encode_target(self._read_target(table, offset)[0])
            offset += table.num_rows
        if offset == 0:
            raise ValueError(f"source yielded no rows (got {_describe(self._source)})")
        self.num_rows = offset

    # ----------------------------------------------------------------- encoding
    def _encode(self, table: Table, offset: int) -> _Piece:
        numeric, categorical = self.encoder.transform(table, offset=offset, name="source")
        if self._fitted_here:
            for position, name in enumerate(self.categorical_names):
                values = table.objects(name)
                unknown = (categorical[:, position].numpy() == 0) & ~is_missing(values)
                if unknown.any():
                    row = int(np.flatnonzero(unknown)[0])
                    raise ValueError(
                        f"categorical column {name!r} holds {values[row]!r} at row "
                        f"{offset + row}, which the fitting pass did not see; the source must "
                        "yield the same rows every epoch (encode other rows with "
                        "statistics=<this loader>)"
                    )
        x = torch.cat([numeric, categorical.to(self.dtype)], dim=1)  # [n, F]
        y = None
        if self.target_name is not None:
            y = self._encode_target(self._read_target(table, offset)[0])
        return x, y

    def _encode_target(self, values: np.ndarray) -> Tensor:
        name = self.target_name
        if self.classes is None:
            return torch.from_numpy(_regression_values(values, name)).to(self.dtype)
        codes = encode(values, self.classes) - 1
        if (codes < 0).any():
            bad = values[codes < 0][:5].tolist()
            raise ValueError(
                f"target {name!r} holds values outside the known classes {self.classes[:10]}: {bad}"
            )
        return as_int64_tensor(codes)

    def _pieces(self, generator: torch.Generator | None) -> Iterator[_Piece]:
        offset = 0
        for table in self._chunks(generator):
            yield self._encode(table, offset)
            offset += table.num_rows
        if offset != self.num_rows:
            raise ValueError(
                f"source yielded {offset} rows this epoch but {self.num_rows} at construction; "
                "it must yield the same rows every epoch"
            )

    def _shuffled(self, pieces: Iterator[_Piece], generator: torch.Generator) -> Iterator[_Piece]:
        buffer: _Piece | None = None
        for piece in pieces:
            pool = piece if buffer is None else _cat([buffer, piece])
            size = pool[0].size(0)
            order = torch.randperm(size, generator=generator)
            leaving = max(size - self.shuffle_buffer, 0)
            if leaving > 0:
                yield _take(pool, order[:leaving])
            buffer = _take(pool, order[leaving:])
        if buffer is not None:
            yield buffer

    def fit_bins(self, n_bins: int = 48, max_rows: int = 1_000_000) -> list[Tensor]:
        r"""Quantile bin edges of each standardized numeric column, for a
        piecewise-linear numeric embedding
        (:func:`~pyg_tabular.nn.models.fit_bins`), from one pass over the
        source. Tables longer than :obj:`max_rows` are binned on a uniform
        random sample of that many rows (seeded by :attr:`seed`), so memory
        stays bounded. Stream only the training rows through this loader.

        Example:
            >>> import pandas as pd
            >>> chunks = [pd.DataFrame({"a": range(10), "y": [0.0] * 10})]
            >>> len(StreamingTabularLoader(chunks, "y").fit_bins(n_bins=4)[0])
            5
        """
        max_rows = check_int(max_rows, "max_rows", 3)
        generator = torch.Generator().manual_seed(self.seed % (2**63))
        keys = torch.empty(0)
        sample = torch.empty(0, self.num_numeric, dtype=self.dtype)
        for x, _ in self._pieces(None):
            # Reservoir sampling by random keys: the max_rows smallest keys
            # seen so far are a uniform sample of the rows seen so far.
            keys = torch.cat([keys, torch.rand(x.size(0), generator=generator)])
            sample = torch.cat([sample, x[:, : self.num_numeric]])
            if keys.numel() > max_rows:
                keys, keep = keys.topk(max_rows, largest=False)
                sample = sample[keep]
        from pyg_tabular.nn.models import fit_bins

        return fit_bins(sample, n_bins)

    # ---------------------------------------------------------------- iterating
    def set_epoch(self, epoch: int) -> None:
        r"""Sets the epoch whose order the next iteration yields."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[Batch | tuple[Tensor, Tensor | None]]:
        generator = None
        if self.shuffle:
            epoch_seed = (self.seed * SEED_MIX + self.epoch) % (2**63)
            generator = torch.Generator().manual_seed(epoch_seed)
        self.epoch += 1
        pieces = self._pieces(generator)
        if generator is not None:
            pieces = self._shuffled(pieces, generator)
        pending: list[_Piece] = []
        num_pending = 0
        for piece in pieces:
            pending.append(piece)
            num_pending += piece[0].size(0)
            if num_pending < self.batch_size:
                continue
            x, y = _cat(pending)
            full = num_pending - num_pending % self.batch_size
            for start in range(0, full, self.batch_size):
                stop = start + self.batch_size
                yield self._batch(x[start:stop], None if y is None else y[start:stop])
            pending = [(x[full:], None if y is None else y[full:])]
            num_pending -= full
        if num_pending > 0 and not self.drop_last:
            yield self._batch(*_cat(pending))

    def _batch(self, x: Tensor, y: Tensor | None) -> Batch | tuple[Tensor, Tensor | None]:
        if self.static:
            return x.unsqueeze(-1).clone(), None if y is None else y.clone()
        return rows_to_graph(
            x,
            y,
            edge_index=self.edge_index,
            self_loops=self.self_loops,
            missing=self.missing,
            feature_names=self.feature_names,
        )

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_rows // self.batch_size
        return -(-self.num_rows // self.batch_size)

    # ------------------------------------------------------------------- access
    @property
    def num_classes(self) -> int | None:
        r"""Number of classes (:obj:`None` for regression)."""
        return None if self.classes is None else len(self.classes)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(rows={self.num_rows}, features={self.num_features}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle})"
        )


def _check_source(source: Any) -> tuple[str, Any]:
    r"""Classifies :obj:`source` as ``"parquet"``, ``"callable"`` or ``"iterable"``."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"source {path!r} is not a file; pass the path of a parquet file")
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is installed with the data extra
            raise ImportError(
                "reading a parquet source needs pyarrow: pip install 'pyg-tabular[data]'"
            ) from None
        try:
            with pq.ParquetFile(path):
                pass
        except Exception as error:
            raise ValueError(f"source {path!r} is not a readable parquet file ({error})") from None
        return "parquet", path
    if is_dataframe(source):
        raise TypeError(
            "source must be an iterable of DataFrame chunks, a callable returning one, or a "
            "parquet path (got a single DataFrame; wrap it in a list, or use TabularDataset "
            "with TabularLoader for a table that fits in memory)"
        )
    if callable(source):
        return "callable", source
    if isinstance(source, Iterable) and not isinstance(source, (bytes, Tensor, np.ndarray)):
        if iter(source) is source:
            raise TypeError(
                f"source is a one-shot iterator ({type(source).__name__}) but is read once per "
                "epoch; pass a list of chunks or a callable returning a fresh iterator"
            )
        return "iterable", source
    raise TypeError(
        "source must be a parquet path, an iterable of pandas.DataFrame chunks or a callable "
        f"returning one (got {type(source).__name__})"
    )


def _describe(source: Any) -> str:
    return repr(source) if isinstance(source, str) else type(source).__name__


def _regression_values(values: np.ndarray, name: str | None) -> np.ndarray:
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"target {name!r} must be numeric for task='regression' (got dtype {values.dtype})"
        ) from None


def _cat(pieces: Sequence[_Piece]) -> _Piece:
    if len(pieces) == 1:
        return pieces[0]
    x = torch.cat([p[0] for p in pieces])
    ys = [p[1] for p in pieces]
    y = None if ys[0] is None else torch.cat([t for t in ys if t is not None])
    return x, y


def _take(piece: _Piece, index: Tensor) -> _Piece:
    x, y = piece
    return x[index], None if y is None else y[index]


__all__ = ["StreamingTabularLoader"]
