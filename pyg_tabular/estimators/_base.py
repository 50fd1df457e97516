"""Shared machinery of the scikit-learn estimators (private).

The estimators are scikit-learn estimators (scikit-learn is needed to build
one, not to import them): they inherit
:class:`~sklearn.base.BaseEstimator` and check their input with scikit-learn's
own ``validate_data``, ``check_is_fitted`` and ``type_of_target``. Columns are
encoded by one :class:`~pyg_tabular.datasets.TableEncoder` and the network is
trained by :func:`pyg_tabular.training.train`. skorch was considered for the
training glue and not used: it would replace only the loop, which
:func:`~pyg_tabular.training.train` already shares with ``compare``, while the
table encoding, categorical columns, feature attention and data-parallel
training would still need code of their own.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import pickle
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyg_tabular import distributed as _distributed
from pyg_tabular.datasets import SCALINGS, TableEncoder, TabularDataset
from pyg_tabular.datasets._columns import Table
from pyg_tabular.datasets._inference import infer_columns
from pyg_tabular.estimators._sklearn import (
    BaseEstimator,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from pyg_tabular.nn.models import FeatureGraphNet
from pyg_tabular.training import (
    LR_SCHEDULES,
    ensemble_mean,
    exponential_moving_average,
    make_lr_scheduler,
    member_loss,
    train,
)
from pyg_tabular.utils.validation import (
    check_choice,
    check_fraction,
    check_positive_int,
    check_positive_number,
    is_dataframe,
)

_FORMAT_VERSION = 2
_PREDICT_BATCH = 4096
# Rows used to summarise the learned attention at the end of fit.
_ATTENTION_ROWS = 1024
_STATE_KEYS = ("params", "encoder", "target", "model", "feature_attention", "history")

# What a checkpoint that predates a parameter was trained with.
_PARAMS_BEFORE_THEY_EXISTED: dict[str, Any] = {
    "block": "residual",
    "ensemble_size": 1,
    "label_smoothing": 0.0,
    "lr_schedule": None,
    "lr_warmup": 0.05,
    "ema_decay": None,
    "scaling": "standard",
    "binning": "quantile",
}

#: How :class:`FeatureGraphClassifier` and :class:`FeatureGraphRegressor`
#: place the bins of a piecewise-linear numeric embedding: on quantiles of
#: the training rows, or on the split points of a decision tree on the
#: training target (see :func:`~pyg_tabular.nn.models.fit_bins`).
BINNINGS = ("quantile", "tree")


def _check_number(value: object, name: str, low: float, low_open: bool) -> float:
    ok = (
        not isinstance(value, (bool, np.bool_))
        and isinstance(value, (int, float, np.floating, np.integer))
        and math.isfinite(float(value))
        and (float(value) > low if low_open else float(value) >= low)
    )
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low}, inf) (got {value!r})")
    return float(value)  # type: ignore[arg-type]


def _is_sparse(X: Any) -> bool:
    try:
        import scipy.sparse
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        return False
    return bool(scipy.sparse.issparse(X))


class _FeatureGraphEstimator(BaseEstimator):
    r"""Base of :class:`FeatureGraphClassifier` and :class:`FeatureGraphRegressor`."""

    _task_kind = ""  # "classifier" or "regressor"
    # What label_smoothing=None means: the task's default.
    _default_label_smoothing = 0.0

    def __init__(
        self,
        *,
        layer: str = "feature-gat",
        channels: int = 32,
        num_layers: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
        numeric_embedding: str = "piecewise-linear",
        block: str = "residual",
        readout: str = "flatten",
        head_channels: int = 64,
        num_groups: int | None = None,
        ensemble_size: int = 32,
        graph: str = "complete",
        graph_k: int = 8,
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        lr_schedule: str | None = "cosine",
        lr_warmup: float = 0.05,
        ema_decay: float | None = 0.999,
        label_smoothing: float | None = None,
        scaling: str = "standard",
        binning: str = "tree",
        validation_fraction: float = 0.15,
        patience: int = 10,
        time_budget: float | None = None,
        categorical_features: Sequence[Any] | None = None,
        random_state: int | None = None,
        progress: bool = True,
    ) -> None:
        # Stored unchanged (no validation, no copies): sklearn.base.clone relies on it.
        self.layer = layer
        self.channels = channels
        self.num_layers = num_layers
        self.heads = heads
        self.dropout = dropout
        self.numeric_embedding = numeric_embedding
        self.block = block
        self.readout = readout
        self.head_channels = head_channels
        self.num_groups = num_groups
        self.ensemble_size = ensemble_size
        self.graph = graph
        self.graph_k = graph_k
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.lr_warmup = lr_warmup
        self.ema_decay = ema_decay
        self.label_smoothing = label_smoothing
        self.scaling = scaling
        self.binning = binning
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.time_budget = time_budget
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.progress = progress

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags

    def _check_params(self) -> None:
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.patience, "patience")
        _check_number(self.lr, "lr", 0.0, low_open=True)
        _check_number(self.weight_decay, "weight_decay", 0.0, low_open=False)
        check_positive_int(self.ensemble_size, "ensemble_size")
        if self.lr_schedule is not None:
            check_choice(self.lr_schedule, "lr_schedule", tuple(LR_SCHEDULES))
        check_fraction(self.lr_warmup, "lr_warmup")
        if self.ema_decay is not None:
            decay = check_fraction(self.ema_decay, "ema_decay")
            if decay == 0.0:
                raise ValueError(f"ema_decay must be in (0, 1) or None (got {self.ema_decay!r})")
        if self.label_smoothing is not None:
            check_fraction(self.label_smoothing, "label_smoothing")
        if self._task_kind == "regressor" and self.label_smoothing not in (None, 0.0):
            raise ValueError(
                f"label_smoothing applies to classification; {type(self).__name__} needs 0 "
                f"(got {self.label_smoothing!r})"
            )
        check_choice(self.scaling, "scaling", SCALINGS)
        check_choice(self.binning, "binning", BINNINGS)
        check_fraction(self.validation_fraction, "validation_fraction")
        if self.time_budget is not None:
            # train() keeps processes in step itself (rank 0's clock, between epochs).
            check_positive_number(self.time_budget, "time_budget")
        if self.random_state is not None and (
            isinstance(self.random_state, (bool, np.bool_))
            or not isinstance(self.random_state, (int, np.integer))
        ):
            raise ValueError(f"random_state must be an int or None (got {self.random_state!r})")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be a bool (got {self.progress!r})")

    # ------------------------------------------------------------ input checks
    def _check_X(self, X: Any, *, reset: bool) -> Any:
        r"""X as a DataFrame or a 2-D ndarray, checked by scikit-learn (feature
        count and names against the fit when :obj:`reset` is false)."""
        if _is_sparse(X):
            raise TypeError(
                f"{type(self).__name__} does not accept sparse input X; pass a dense array "
                "or DataFrame (e.g. X.toarray())"
            )
        if isinstance(X, Tensor):
            X = X.detach().cpu().numpy()
        if is_dataframe(X):
            import pandas as pd

            if isinstance(X, pd.Series):
                raise ValueError(
                    "X must be 2-D [n_samples, n_features]; got a pandas Series (use "
                    "series.to_frame() for one feature)"
                )
            names = [str(c) for c in X.columns]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"X has duplicated column names {repeated}")
            fitted = getattr(self, "feature_names_in_", None)
            if not reset and fitted is not None and names != list(fitted):
                if sorted(names) == sorted(fitted):
                    # The same columns in another order: match them by name.
                    label = dict(zip(names, X.columns))
                    X = X[[label[n] for n in fitted]]
            validate_data(self, X, skip_check_array=True, reset=reset)
            if X.shape[0] < 1 or X.shape[1] < 1:
                raise ValueError(
                    f"X has shape {X.shape}; at least 1 sample and 1 feature are required"
                )
            return X
        return validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)

    # ------------------------------------------------------------ task hooks
    def _check_y(self, y: Any) -> tuple[np.ndarray, str]:  # pragma: no cover - abstract
        """Returns y checked as a 1-D array and the TabularDataset task for it."""
        raise NotImplementedError

    def _fit_target(self, target: Tensor) -> None:  # pragma: no cover - abstract
        """Fits target statistics on the encoded training targets."""
        raise NotImplementedError

    def _num_outputs(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kind(self) -> str:  # pragma: no cover - abstract
        """The task kind the network trains on (a key of TASK_LOSSES)."""
        raise NotImplementedError

    def _loss_target(self, target: Tensor) -> Tensor:
        """The encoded targets in the form the network learns them."""
        return target

    def _training_loss(self, out: Tensor, target: Tensor) -> Tensor:
        r"""The loss of a training step: the mean of the members' losses for
        an ensemble, with label smoothing."""
        return member_loss(
            out,
            self._loss_target(target),
            self._kind(),
            self._ensemble(),
            label_smoothing=self._label_smoothing(),
        )

    def _validation_loss(self, out: Tensor, target: Tensor) -> Tensor:
        r"""The loss of the prediction itself (the members' mean), unsmoothed."""
        return member_loss(self._prediction(out), self._loss_target(target), self._kind())

    def _label_smoothing(self) -> float:
        if self.label_smoothing is not None:
            return float(self.label_smoothing)
        return self._default_label_smoothing

    def _ensemble(self) -> int | None:
        return None if int(self.ensemble_size) == 1 else int(self.ensemble_size)

    def _prediction(self, out: Tensor) -> Tensor:
        r"""The network's output ``[n, out]`` (logits, or the log of the
        members' mean probabilities), from one model or the members' mean."""
        return out if self._ensemble() is None else ensemble_mean(out, self._kind())

    def _target_state(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_target_state(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any) -> Any:
        r"""Fits the column encoding (on the training part only) and the network.

        A fit is all or nothing: if it raises or is interrupted (for example
        by :class:`KeyboardInterrupt`), the estimator keeps the fitted state
        it had before the call (or stays unfitted). Training that diverges
        restores the weights of the best finite epoch with a
        :class:`RuntimeWarning`, or raises :class:`FloatingPointError` when
        no epoch was finite; the estimator never holds non-finite weights.

        Data-parallel training: when a :mod:`torch.distributed` process group
        of two or more processes is initialized (e.g. under ``torchrun``, see
        :func:`~pyg_tabular.distributed.setup_distributed`), every process
        calls :meth:`fit` with the same data; the network trains on the CPU
        wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, each
        process taking its slice of every mini-batch, and all processes end
        with the same weights. The backend must handle CPU tensors
        (``"gloo"``). The seed of ``random_state=None`` is rank 0's; the
        losses in :attr:`history_` are those of the whole training split and
        rank 0's validation loss decides early stopping; only rank 0 shows a
        progress bar.

        Args:
            X (pandas.DataFrame or array-like): ``[n_samples, n_features]``;
                object, category, string, bool and date columns are
                categorical unless :obj:`categorical_features` says
                otherwise, and of those, IDs (more than 90% of 20 or more
                values distinct) and dates are left out with a
                :class:`UserWarning` that names them; NaN (or ``None``)
                marks missing values. Sparse matrices are refused.
            y (array-like): ``[n_samples]`` targets.

        Returns:
            The fitted estimator.
        """
        previous = dict(self.__dict__)
        try:
            return self._fit(X, y)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise

    def _fit(self, X: Any, y: Any) -> Any:
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        X = self._check_X(X, reset=True)
        y, task = self._check_y(y)
        check_consistent_length(X, y)
        if self.random_state is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
            if _distributed.get_world_size() > 1:
                seed = int(_broadcast(torch.tensor(seed, dtype=torch.int64)))
        else:
            seed = int(self.random_state)
        dropped: list[str] = []
        if self.categorical_features is None:
            categorical, dropped = infer_columns(
                Table(X), exclude=(), hint="categorical_features=[...]", stacklevel=4
            )
        else:
            categorical = list(self.categorical_features)
        fraction = float(self.validation_fraction)
        dataset = TabularDataset(
            X,
            y,
            categorical=categorical,
            drop=dropped,
            task=task,
            split=(1.0 - fraction, fraction, 0.0),
            rare_classes="train",
            seed=seed,
            dtype=torch.float32,
            scaling=self.scaling,
        )
        self.encoder_ = dataset.encoder
        if dataset.classes is not None:
            self.classes_ = np.asarray(dataset.classes)
        assert dataset.target is not None
        train_rows, val_rows = dataset.index("train"), dataset.index("val")
        self._fit_target(dataset.target[train_rows])

        bins = None
        if self.numeric_embedding == "piecewise-linear" and dataset.num_numeric > 0:
            # The training rows only, as the scaler.
            bins = dataset.fit_bins(split="train", target_aware=self.binning == "tree")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build_model(dataset.num_numeric, dataset.cardinalities, bins)
            # A "knn" graph is fitted on the training rows, as the scaler is.
            model.fit_graph(dataset.numeric[train_rows], dataset.categorical[train_rows])
            result = self._train(model, dataset, train_rows, val_rows, seed)
        self.model_ = model
        # Wall times differ from run to run; the history of a seeded fit does not.
        self.history_ = [
            {k: v for k, v in record.items() if k not in ("seconds", "elapsed")}
            for record in result.history
        ]
        self.n_epochs_ = len(result.history)
        self.best_epoch_ = result.best_epoch
        self.stop_reason_ = result.stop_reason
        rows = train_rows[:_ATTENTION_ROWS]
        self.feature_attention_ = (
            self._attention(dataset.numeric[rows], dataset.categorical[rows])
            if self.num_layers > 0
            else None
        )
        return self

    def _build_model(
        self,
        num_numeric: int,
        cardinalities: Sequence[int],
        bins: Sequence[Tensor] | None = None,
    ) -> FeatureGraphNet:
        return FeatureGraphNet(
            num_numeric,
            list(cardinalities),
            self._num_outputs(),
            channels=self.channels,
            num_layers=self.num_layers,
            layer=self.layer,
            heads=self.heads,
            dropout=self.dropout,
            numeric_embedding=self.numeric_embedding,
            bins=bins,
            block=self.block,
            readout=self.readout,
            head_channels=self.head_channels,
            num_groups=self.num_groups,
            ensemble_size=self._ensemble(),
            graph=self.graph,
            graph_k=self.graph_k,
        )

    def _train(
        self,
        model: FeatureGraphNet,
        dataset: TabularDataset,
        train_rows: Tensor,
        val_rows: Tensor,
        seed: int,
    ) -> Any:
        assert dataset.target is not None
        numeric, categorical, target = dataset.numeric, dataset.categorical, dataset.target
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
        )
        scheduler = None
        if self.lr_schedule is not None:
            steps_per_epoch = -(-train_rows.numel() // int(self.batch_size))
            scheduler = make_lr_scheduler(
                optimizer,
                self.lr_schedule,
                total_steps=int(self.epochs) * steps_per_epoch,
                warmup=float(self.lr_warmup),
            )
        averaged = None
        if self.ema_decay is not None:
            averaged = exponential_moving_average(model, float(self.ema_decay))
        generator = torch.Generator().manual_seed(seed)
        world_size = _distributed.get_world_size()
        network: torch.nn.Module = model
        if world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            # The model has no running statistics: its buffers never change and
            # need no copy from rank 0 at every step. Newer PyTorch renamed the
            # flag and warns about the old name.
            parameters = inspect.signature(DistributedDataParallel).parameters
            flag = "forward_sync_buffers" if "forward_sync_buffers" in parameters else None
            options: dict[str, Any] = {flag or "broadcast_buffers": False}
            network = DistributedDataParallel(model, **options)

        def batches(epoch: int) -> Any:
            order = train_rows[torch.randperm(train_rows.numel(), generator=generator)]
            return order.split(int(self.batch_size))

        def loss_fn(chunk: Tensor) -> Tensor:
            with _overflow_is_divergence():
                if world_size > 1:
                    return self._sharded_loss(network, chunk, numeric, categorical, target)
                return self._training_loss(model(numeric[chunk], categorical[chunk]), target[chunk])

        def validate() -> dict[str, float]:
            try:
                with _overflow_is_divergence():
                    out = model(numeric[val_rows], categorical[val_rows])
                loss = float(self._validation_loss(out, target[val_rows]))
            except FloatingPointError:
                loss = math.nan
            if world_size > 1:
                # Rank 0 decides, so that all ranks stop at the same epoch.
                loss = float(_broadcast(torch.tensor(loss, dtype=torch.float64)))
            return {"val_loss": loss}

        return train(
            model,
            batches,
            loss_fn,
            optimizer=optimizer,
            epochs=int(self.epochs),
            validate=validate if val_rows.numel() > 0 else None,
            patience=int(self.patience),
            time_budget=None if self.time_budget is None else float(self.time_budget),
            progress=self.progress and _distributed.get_rank() == 0,
            progress_desc=type(self).__name__,
            scheduler=scheduler,
            averaged=averaged,
        )

    def _sharded_loss(
        self,
        network: torch.nn.Module,
        chunk: Tensor,
        numeric: Tensor,
        categorical: Tensor,
        target: Tensor,
    ) -> Tensor:
        r"""This rank's share of the loss of the global batch :obj:`chunk`.

        The slice's mean loss is weighted by ``n_local * world_size / n_global``,
        so that DDP's average of the gradients over ranks (and the training
        loop's average of the losses) is that of the global batch, even when
        the slices differ in size.
        """
        world_size = _distributed.get_world_size()
        local = _distributed.shard_indices(chunk)
        # A global batch smaller than the world leaves some ranks no rows; DDP
        # still needs their forward and backward pass, so they run one row
        # of the batch with weight zero.
        rows = local if local.numel() > 0 else chunk[:1]
        loss = self._training_loss(network(numeric[rows], categorical[rows]), target[rows])
        return loss * (local.numel() * world_size / chunk.numel())

    # ------------------------------------------------------------ inference
    def _encode(self, X: Any) -> tuple[Tensor, Tensor]:
        r"""Encodes new rows with the encoder fitted at :meth:`fit`."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return self.encoder_.transform(X, name="X")

    def _forward(self, X: Any) -> Tensor:
        numeric, categorical = self._encode(X)
        self.model_.eval()
        try:
            with torch.no_grad(), _overflow_is_divergence():
                outs = [
                    self.model_(n, c)
                    for n, c in zip(
                        numeric.split(_PREDICT_BATCH), categorical.split(_PREDICT_BATCH)
                    )
                ]
            out = torch.cat(outs) if outs else self.model_(numeric[:0], categorical[:0])
            out = self._prediction(out)
            if not bool(torch.isfinite(out).all()):
                raise FloatingPointError("non-finite network output")
        except FloatingPointError as error:
            raise ValueError(self._overflow_message(numeric)) from error
        return out

    def _overflow_message(self, numeric: Tensor) -> str:
        r"""Names the cell of X farthest from the training data."""
        size = numeric.abs().nan_to_num(0.0)
        if size.numel() == 0:
            return "the network's activations overflowed on X"
        row, column = divmod(int(size.argmax()), size.size(1))
        return (
            f"the network's activations overflowed on X: column "
            f"{self.encoder_.numeric_names[column]!r} at row {row} lies "
            f"{float(size[row, column]):.3g} standard deviations from the training mean, far "
            "outside the data the network was fitted on"
        )

    def _attention(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        self.model_.eval()
        attention = self.model_.feature_attention(numeric, categorical)
        # The model orders numerics first; report in the order of X's columns.
        names = self.encoder_.feature_names
        order = [names.index(c) for c in self.encoder_.columns]
        return attention[order][:, order]

    def feature_attention(self, X: Any = None) -> Any:
        r"""The learned feature-to-feature attention of the last layer, averaged
        over rows and heads, as a pandas DataFrame: entry ``[i, j]`` is how much
        feature ``i`` attends to feature ``j``; rows sum to one.

        Args:
            X (pandas.DataFrame or array-like, optional): Rows to average over
                (default: up to 1024 training rows, summarised at :meth:`fit`).
        """
        check_is_fitted(self)
        if self.num_layers == 0 or self.feature_attention_ is None:
            raise ValueError("feature_attention needs num_layers >= 1 (got num_layers=0)")
        if X is None:
            attention = self.feature_attention_
        else:
            attention = self._attention(*self._encode(X))
        import pandas as pd

        columns = self.encoder_.columns
        return pd.DataFrame(attention.numpy(), index=columns, columns=columns)

    def relation_graph(self) -> Any:
        r"""The feature graph the network runs on, read back with the column
        names of X, in X's order (a
        :class:`~pyg_tabular.nn.graph.RelationGraph`): for
        ``graph="learned"``, which features each feature learned to listen
        to; for ``graph="knn"``, the correlation prior."""
        check_is_fitted(self)
        from pyg_tabular.nn.graph import RelationGraph

        graph = self.model_.relation_graph()
        names = self.encoder_.feature_names
        order = [names.index(c) for c in self.encoder_.columns]
        return RelationGraph(
            graph.adjacency[order][:, order],
            graph.scores[order][:, order],
            [str(c) for c in self.encoder_.columns],
        )

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        r"""Saves parameters, the fitted encoder and the weights with
        :func:`torch.save`; everything is a tensor, list, dict or plain scalar,
        so :meth:`load` works with ``weights_only=True``."""
        check_is_fitted(self)
        state = {
            "format_version": _FORMAT_VERSION,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "encoder": self.encoder_.state_dict(),
            "target": self._target_state(),
            "model": {k: v.detach().clone() for k, v in self.model_.state_dict().items()},
            "bins": self.model_.bins,
            "feature_attention": self.feature_attention_,
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "stop_reason": self.stop_reason_,
            "feature_names_in": (
                None
                if getattr(self, "feature_names_in_", None) is None
                else [str(n) for n in self.feature_names_in_]
            ),
        }
        torch.save(state, path)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        r"""Loads an estimator written by :meth:`save`, with ``weights_only=True``.

        Raises:
            ValueError: When :obj:`path` is not a checkpoint of this class
                (truncated, corrupt, another format or another estimator).
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no checkpoint at {os.fspath(path)!r}")
        name = os.fspath(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (
            EOFError,
            OSError,
            RuntimeError,
            ValueError,
            pickle.UnpicklingError,
            zipfile.BadZipFile,
            KeyError,
            TypeError,
            AttributeError,
        ) as error:
            detail = f"{type(error).__name__}: {error}".rstrip(": ")
            raise ValueError(
                f"{name!r} is not a readable {cls.__name__} checkpoint (truncated, corrupt "
                f"or not written by save(); {detail})"
            ) from error
        if not isinstance(state, dict) or state.get("estimator") != cls.__name__:
            found = state.get("estimator") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{name!r} holds a {found!r}, not a saved {cls.__name__}")
        if state.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{name!r} has format_version {state.get('format_version')!r}; this version "
                f"reads {_FORMAT_VERSION}"
            )
        absent = [k for k in _STATE_KEYS if k not in state]
        if absent:
            raise ValueError(f"{name!r} is not a complete checkpoint: it lacks {absent}")
        try:
            # Parameters added since a checkpoint was written take the value
            # that reproduces the network it was trained with, not today's default.
            estimator = cls(**{**_PARAMS_BEFORE_THEY_EXISTED, **state["params"]})
            estimator.encoder_ = TableEncoder(dtype=torch.float32).load_state_dict(state["encoder"])
            estimator._load_target_state(state["target"])
            encoder = estimator.encoder_
            estimator.n_features_in_ = len(encoder.input_columns)
            if state.get("feature_names_in") is not None:
                estimator.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
            estimator.model_ = estimator._build_model(
                len(encoder.numeric_names), encoder.cardinalities, state.get("bins")
            )
            estimator.model_.load_state_dict(state["model"])
        except (TypeError, ValueError, KeyError, RuntimeError) as error:
            raise ValueError(
                f"{name!r} is not a valid {cls.__name__} checkpoint ({error})"
            ) from error
        estimator.model_.eval()
        estimator.feature_attention_ = state["feature_attention"]
        estimator.history_ = state["history"]
        estimator.n_epochs_ = len(estimator.history_)
        estimator.best_epoch_ = int(state.get("best_epoch", estimator.n_epochs_))
        # Checkpoints from before the record said why training stopped.
        estimator.stop_reason_ = str(state.get("stop_reason", "unknown"))
        return estimator


@contextlib.contextmanager
def _overflow_is_divergence() -> Iterator[None]:
    r"""Turns the network's own non-finite check into :class:`FloatingPointError`.

    The encoded input is finite or NaN (a missing cell), so a non-finite
    activation inside the network comes from its weights: the training
    diverged.
    """
    try:
        yield
    except ValueError as error:
        if "must be finite" not in str(error):
            raise
        raise FloatingPointError(f"the network's activations overflowed ({error})") from error


def _broadcast(value: Tensor) -> Tensor:
    r"""Rank 0's :obj:`value` on every rank."""
    torch.distributed.broadcast(value, src=0)
    return value
