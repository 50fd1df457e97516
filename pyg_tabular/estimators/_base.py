"""Shared machinery of the scikit-learn style estimators (private).

scikit-learn is optional: the estimators implement ``get_params`` /
``set_params`` with its semantics (constructor arguments stored unchanged as
attributes), which is all :func:`sklearn.base.clone` needs. pandas and tqdm are
imported only by the methods that use them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import pyg_tabular.typing as _typing
from pyg_tabular import distributed as _distributed
from pyg_tabular.datasets._columns import Table, encode, is_missing, unique_labels
from pyg_tabular.datasets.tabular_dataset import TabularDataset
from pyg_tabular.nn.models import FeatureGraphNet
from pyg_tabular.transforms.standardize_features import StandardizeFeatures
from pyg_tabular.utils.validation import _is_dataframe

_FORMAT_VERSION = 1
_PREDICT_BATCH = 4096
# Rows used to summarise the learned attention at the end of fit.
_ATTENTION_ROWS = 1024


class NotFittedError(ValueError, AttributeError):
    r"""Raised when an estimator is used before :meth:`fit`; like scikit-learn's
    ``NotFittedError`` it is both a :class:`ValueError` and an
    :class:`AttributeError`."""


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_positive_int(value: object, name: str) -> None:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive int (got {value!r})")


def _check_number(value: object, name: str, low: float, high: float, low_open: bool) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.floating, np.integer))
        and math.isfinite(float(value))
        and (float(value) > low if low_open else float(value) >= low)
        and float(value) < high
    )
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}) (got {value!r})")


def _is_categorical_array_column(column: np.ndarray) -> bool:
    if column.dtype.kind == "b":
        return True
    if column.dtype.kind != "O":
        return column.dtype.kind in "USM"
    present = column[~is_missing(column)]
    return any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number))
        for v in present
    )


def _detect_categorical(X: Any) -> list[Any]:
    r"""Columns to encode as categories: object, category, string and bool dtypes."""
    if _is_dataframe(X):
        import pandas as pd

        frame = X.to_frame() if isinstance(X, pd.Series) else X
        found = []
        for label in frame.columns:
            dtype = frame[label].dtype
            if (
                isinstance(dtype, pd.CategoricalDtype)
                or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_object_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype)
            ):
                found.append(str(label))
        return found
    array = np.asarray(X)
    if array.ndim != 2:
        return []
    return [i for i in range(array.shape[1]) if _is_categorical_array_column(array[:, i])]


def _as_rows(X: Any) -> Any:
    r"""X as a DataFrame or a 2-D ndarray (lists and tensors become arrays)."""
    if _is_dataframe(X):
        return X
    if isinstance(X, Tensor):
        X = X.detach().cpu().numpy()
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(
            f"X must be 2-D [n_samples, n_features] (got an array of shape {array.shape})"
        )
    return array


def _as_target(y: Any) -> np.ndarray:
    if isinstance(y, Tensor):
        y = y.detach().cpu().numpy()
    elif _is_dataframe(y):
        y = y.to_numpy()
    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"y must be 1-D [n_samples] (got shape {values.shape})")
    return values


class _FeatureGraphEstimator:
    r"""Base of :class:`FeatureGraphClassifier` and :class:`FeatureGraphRegressor`."""

    _task_kind = ""  # "classifier" or "regressor"
    # Plain lists, dicts and tensors only, so that save/load works with weights_only=True.
    _encoding: dict[str, Any]

    def __init__(
        self,
        *,
        layer: str = "gat",
        channels: int = 32,
        num_layers: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
        numeric_embedding: str = "per_feature",
        readout: str = "flatten",
        head_channels: int = 64,
        num_groups: int | None = None,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        validation_fraction: float = 0.15,
        patience: int = 10,
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
        self.readout = readout
        self.head_channels = head_channels
        self.num_groups = num_groups
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        r"""The constructor arguments, as scikit-learn's ``get_params``.

        Args:
            deep (bool, optional): Accepted for compatibility; no parameter is
                itself an estimator. (default: :obj:`True`)
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> _FeatureGraphEstimator:
        r"""Sets constructor arguments, as scikit-learn's ``set_params``; takes
        effect at the next :meth:`fit`. Returns the estimator."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; valid parameters "
                    f"are {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (defaults[name].default is value or defaults[name].default == value)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        # scikit-learn >= 1.6 asks estimators for tags (is_classifier, cross
        # validation); imported here because scikit-learn is optional.
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._task_kind == "classifier"
        return Tags(
            estimator_type=self._task_kind,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags() if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            non_deterministic=self.random_state is None,
            input_tags=InputTags(allow_nan=True, categorical=True, string=True),
        )

    def _check_params(self) -> None:
        _check_positive_int(self.epochs, "epochs")
        _check_positive_int(self.batch_size, "batch_size")
        _check_positive_int(self.patience, "patience")
        _check_number(self.lr, "lr", 0.0, math.inf, low_open=True)
        _check_number(self.weight_decay, "weight_decay", 0.0, math.inf, low_open=False)
        _check_number(self.validation_fraction, "validation_fraction", 0.0, 1.0, False)
        if self.random_state is not None and not _is_int(self.random_state):
            raise ValueError(f"random_state must be an int or None (got {self.random_state!r})")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be a bool (got {self.progress!r})")

    # ------------------------------------------------------------ task hooks
    def _prepare_target(self, y: np.ndarray) -> str:  # pragma: no cover - abstract
        """Returns the TabularDataset task for y."""
        raise NotImplementedError

    def _fit_target(self, target: Tensor) -> None:  # pragma: no cover - abstract
        """Fits target statistics on the encoded training targets."""
        raise NotImplementedError

    def _num_outputs(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self, out: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _target_state(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_target_state(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any) -> _FeatureGraphEstimator:
        r"""Fits encodings (on the training part only) and the network.

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
                object, category, string and bool columns are categorical
                unless :obj:`categorical_features` says otherwise; NaN (or
                ``None``) marks missing values.
            y (array-like): ``[n_samples]`` targets.

        Returns:
            The fitted estimator.
        """
        self._check_params()
        X = _as_rows(X)
        y = _as_target(y)
        task = self._prepare_target(y)
        if self.random_state is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
            if _distributed.get_world_size() > 1:
                seed = int(_broadcast(torch.tensor(seed, dtype=torch.int64)))
        else:
            seed = int(self.random_state)
        is_frame = _is_dataframe(X)
        columns = [str(c) for c in X.columns] if is_frame else None
        categorical = (
            _detect_categorical(X)
            if self.categorical_features is None
            else list(self.categorical_features)
        )
        fraction = float(self.validation_fraction)
        dataset = TabularDataset(
            X,
            y,
            categorical=categorical,
            task=task,
            split=(1.0 - fraction, fraction, 0.0),
            seed=seed,
            dtype=torch.float32,
        )
        input_columns = columns if columns is not None else [f"x{i}" for i in range(X.shape[1])]
        self.n_features_in_ = len(input_columns)
        if is_frame:
            self.feature_names_in_ = np.asarray(input_columns, dtype=object)
        self._encoding = {
            "input_columns": input_columns,
            "numeric_names": list(dataset.numeric_names),
            "categorical_names": list(dataset.categorical_names),
            "mean": dataset.mean.clone() if dataset.num_numeric else torch.zeros(0),
            "std": dataset.std.clone() if dataset.num_numeric else torch.ones(0),
            "vocabularies": {k: list(v) for k, v in dataset.vocabularies.items()},
        }
        if dataset.classes is not None:
            self.classes_ = np.asarray(dataset.classes)
        assert dataset.target is not None
        train, val = dataset.index("train"), dataset.index("val")
        self._fit_target(dataset.target[train])

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model_ = self._build_model(dataset.num_numeric, dataset.cardinalities)
            self._train(dataset, train, val, seed)
        rows = train[:_ATTENTION_ROWS]
        self.feature_attention_ = (
            self._attention(dataset.numeric[rows], dataset.categorical[rows])
            if self.num_layers > 0
            else None
        )
        return self

    def _build_model(self, num_numeric: int, cardinalities: Sequence[int]) -> FeatureGraphNet:
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
            readout=self.readout,
            head_channels=self.head_channels,
            num_groups=self.num_groups,
        )

    def _train(self, dataset: TabularDataset, train: Tensor, val: Tensor, seed: int) -> None:
        model = self.model_
        assert dataset.target is not None
        numeric, categorical, target = dataset.numeric, dataset.categorical, dataset.target
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
        )
        generator = torch.Generator().manual_seed(seed)
        best_loss, best_state, stale = math.inf, None, 0
        self.history_: list[dict[str, float]] = []
        epochs = range(int(self.epochs))
        world_size = _distributed.get_world_size()
        rank = _distributed.get_rank()
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
        bar = None
        if self.progress and _typing.WITH_TQDM and rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(epochs, desc=type(self).__name__, leave=False)
        for epoch in bar if bar is not None else epochs:
            model.train()
            total, count = 0.0, 0
            for chunk in train[torch.randperm(train.numel(), generator=generator)].split(
                int(self.batch_size)
            ):
                optimizer.zero_grad()
                if world_size > 1:
                    loss, chunk = self._sharded_loss(network, chunk, numeric, categorical, target)
                else:
                    loss = self._loss(model(numeric[chunk], categorical[chunk]), target[chunk])
                    loss.backward()
                optimizer.step()
                total += float(loss.detach()) * chunk.numel()
                count += chunk.numel()
            if world_size > 1:
                sums = torch.tensor([total, count], dtype=torch.float64)
                torch.distributed.all_reduce(sums)
                total, count = float(sums[0]), int(sums[1])
            train_loss = total / max(count, 1)
            monitored = train_loss
            record = {"epoch": float(epoch), "loss": train_loss}
            if val.numel() > 0:
                model.eval()
                with torch.no_grad():
                    monitored = float(
                        self._loss(model(numeric[val], categorical[val]), target[val])
                    )
                if world_size > 1:
                    # Rank 0 decides, so that all ranks stop at the same epoch.
                    monitored = float(_broadcast(torch.tensor(monitored, dtype=torch.float64)))
                record["val_loss"] = monitored
            self.history_.append(record)
            if bar is not None:
                bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
            if monitored < best_loss:
                best_loss, stale = monitored, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                self.best_epoch_ = epoch
            else:
                stale += 1
                if stale >= int(self.patience):
                    break
        if bar is not None:
            bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        self.n_epochs_ = len(self.history_)

    def _sharded_loss(
        self,
        network: torch.nn.Module,
        chunk: Tensor,
        numeric: Tensor,
        categorical: Tensor,
        target: Tensor,
    ) -> tuple[Tensor, Tensor]:
        r"""Backward pass of this rank's slice of the global batch :obj:`chunk`.

        The slice's mean loss is weighted by ``n_local * world_size / n_global``,
        so that DDP's average over ranks is the mean loss of the global batch
        even when the slices differ in size. Returns the slice's mean loss and
        the slice.
        """
        world_size = _distributed.get_world_size()
        local = _distributed.shard_indices(chunk)
        # A global batch smaller than the world leaves some ranks no rows; DDP
        # still needs their forward and backward pass, so they run one row
        # of the batch with weight zero.
        rows = local if local.numel() > 0 else chunk[:1]
        loss = self._loss(network(numeric[rows], categorical[rows]), target[rows])
        (loss * (local.numel() * world_size / chunk.numel())).backward()
        return loss, local

    # ------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first"
            )

    def _encode(self, X: Any) -> tuple[Tensor, Tensor]:
        r"""Encodes new rows with the statistics fitted at :meth:`fit`."""
        encoding = self._encoding
        columns: list[str] = encoding["input_columns"]
        X = _as_rows(X)
        if _is_dataframe(X):
            table = Table(X, name="X")
            absent = [c for c in columns if c not in table.names]
            if absent:
                raise ValueError(f"X is missing the columns {absent} seen in fit")
        else:
            if X.shape[1] != len(columns):
                raise ValueError(
                    f"X has {X.shape[1]} columns, but {type(self).__name__} was fitted with "
                    f"n_features_in_={len(columns)}"
                )
            table = Table(X, columns, name="X")
        if len(encoding["numeric_names"]):
            raw = np.stack([table.numeric(n) for n in encoding["numeric_names"]], axis=1)
            scaler = StandardizeFeatures(encoding["mean"], encoding["std"])
            numeric = scaler(torch.from_numpy(raw)).to(torch.float32)
        else:
            numeric = torch.zeros(table.num_rows, 0)
        codes = [
            torch.from_numpy(encode(table.objects(n), encoding["vocabularies"][n]))
            for n in encoding["categorical_names"]
        ]
        categorical = (
            torch.stack(codes, dim=1) if codes else torch.zeros(table.num_rows, 0, dtype=torch.long)
        )
        return numeric, categorical

    def _forward(self, X: Any) -> Tensor:
        self._check_fitted()
        numeric, categorical = self._encode(X)
        self.model_.eval()
        with torch.no_grad():
            outs = [
                self.model_(n, c)
                for n, c in zip(numeric.split(_PREDICT_BATCH), categorical.split(_PREDICT_BATCH))
            ]
        return torch.cat(outs) if outs else torch.zeros(0, self._num_outputs())

    def _attention(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        self.model_.eval()
        attention = self.model_.feature_attention(numeric, categorical)
        # The model orders numerics first; report in the order of X's columns.
        names = self._encoding["numeric_names"] + self._encoding["categorical_names"]
        order = [names.index(c) for c in self._encoding["input_columns"]]
        return attention[order][:, order]

    def feature_attention(self, X: Any = None) -> Any:
        r"""The learned feature-to-feature attention of the last layer, averaged
        over rows and heads, as a pandas DataFrame: entry ``[i, j]`` is how much
        feature ``i`` attends to feature ``j``; rows sum to one.

        Args:
            X (pandas.DataFrame or array-like, optional): Rows to average over
                (default: up to 1024 training rows, summarised at :meth:`fit`).
        """
        self._check_fitted()
        if self.num_layers == 0 or self.feature_attention_ is None:
            raise ValueError("feature_attention needs num_layers >= 1 (got num_layers=0)")
        if X is None:
            attention = self.feature_attention_
        else:
            attention = self._attention(*self._encode(X))
        import pandas as pd

        columns = self._encoding["input_columns"]
        return pd.DataFrame(attention.numpy(), index=columns, columns=columns)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        r"""Saves parameters, fitted encodings and weights with :func:`torch.save`;
        everything is a tensor, list, dict or plain scalar, so :meth:`load`
        works with ``weights_only=True``."""
        self._check_fitted()
        state = {
            "format_version": _FORMAT_VERSION,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "encoding": self._encoding,
            "target": self._target_state(),
            "model": {k: v.detach().clone() for k, v in self.model_.state_dict().items()},
            "feature_attention": self.feature_attention_,
            "history": self.history_,
            "is_frame": hasattr(self, "feature_names_in_"),
        }
        torch.save(state, path)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        r"""Loads an estimator written by :meth:`save`, with ``weights_only=True``."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("estimator") != cls.__name__:
            found = state.get("estimator") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"path holds a {found!r}, not a saved {cls.__name__}")
        if state.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"path has format_version {state.get('format_version')!r}; this version "
                f"reads {_FORMAT_VERSION}"
            )
        estimator = cls(**state["params"])
        estimator._encoding = state["encoding"]
        estimator._load_target_state(state["target"])
        columns = estimator._encoding["input_columns"]
        estimator.n_features_in_ = len(columns)
        if state["is_frame"]:
            estimator.feature_names_in_ = np.asarray(columns, dtype=object)
        cardinalities = [
            len(estimator._encoding["vocabularies"][n]) + 1
            for n in estimator._encoding["categorical_names"]
        ]
        estimator.model_ = estimator._build_model(
            len(estimator._encoding["numeric_names"]), cardinalities
        )
        estimator.model_.load_state_dict(state["model"])
        estimator.model_.eval()
        estimator.feature_attention_ = state["feature_attention"]
        estimator.history_ = state["history"]
        estimator.n_epochs_ = len(estimator.history_)
        return estimator


def _broadcast(value: Tensor) -> Tensor:
    r"""Rank 0's :obj:`value` on every rank."""
    torch.distributed.broadcast(value, src=0)
    return value


def _classification_task(y: np.ndarray) -> str:
    return "binary" if len(unique_labels(y)) == 2 else "multiclass"


def _binary_loss(out: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(-1), target.to(out.dtype))
