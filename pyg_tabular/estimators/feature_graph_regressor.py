"""A scikit-learn style regressor on feature-graph attention."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from pyg_tabular.estimators._base import _FeatureGraphEstimator
from pyg_tabular.estimators._sklearn import RegressorMixin, check_array, column_or_1d


class FeatureGraphRegressor(RegressorMixin, _FeatureGraphEstimator):
    r"""Regresses a target on table rows with a
    :class:`~pyg_tabular.nn.models.FeatureGraphNet`, as a scikit-learn
    regressor (:class:`~sklearn.base.BaseEstimator` and
    :class:`~sklearn.base.RegressorMixin`: ``fit``, ``predict``, ``score``,
    ``get_params``, ``set_params``).

    Encoding, validation split, early stopping, missing values and the
    arguments are those of :class:`FeatureGraphClassifier` (the split is not
    stratified). The target is standardized with the mean and standard
    deviation of the training part; the network learns it under the mean
    squared error and :meth:`predict` maps back to the target's units.

    The defaults are those of :class:`FeatureGraphClassifier` and come from
    the same sweep and ablation over four tables (two of them regression),
    on the experiments page of the docs: a moving average of the weights,
    a cosine learning-rate schedule over 50 epochs, an efficient ensemble of
    32 members and target-aware tree bins, on top of the sweep's
    architecture.

    Args:
        **params: The arguments of :class:`FeatureGraphClassifier`, with the
            same defaults; :obj:`label_smoothing` must stay :obj:`None` (or
            ``0``). An
            ensemble (:obj:`ensemble_size`) predicts the mean of its
            members' values.

    scikit-learn's ``check_estimator`` passes except
    ``check_methods_subset_invariance``, for the reason given in
    :class:`FeatureGraphClassifier`: float32 kernels may round a row's
    prediction differently (by about :math:`10^{-7}`) in a batch and in a
    subset of it.

    Fitted attributes: ``n_features_in_``, ``feature_names_in_``
    (DataFrames), ``encoder_``, ``model_``, ``history_``, ``n_epochs_``,
    ``best_epoch_``, ``stop_reason_``, as for :class:`FeatureGraphClassifier`.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(64, 3))
        >>> reg = FeatureGraphRegressor(epochs=3, random_state=0, progress=False)
        >>> reg.fit(X, 2.0 * X[:, 0] + 10.0).predict(X[:2]).shape
        (2,)
    """

    _task_kind = "regressor"

    def _check_y(self, y: Any) -> tuple[np.ndarray, str]:
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        y = column_or_1d(y, warn=True)
        y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
        y = y.astype(np.float64)
        # The network trains in float32; a target beyond it would become inf.
        beyond = np.abs(y) > float(np.finfo(np.float32).max)
        if beyond.any():
            row = int(np.flatnonzero(beyond)[0])
            raise ValueError(
                f"y holds {y[row]} at row {row}, beyond the float32 range the network "
                "trains in; rescale the target"
            )
        return y, "regression"

    def _fit_target(self, target: Tensor) -> None:
        values = target.to(dtype=target.dtype if target.is_floating_point() else None)
        self._y_mean = float(values.double().mean())
        std = float(values.double().std(unbiased=False)) if values.numel() > 1 else 0.0
        # A constant target is only centred, as TabularDataset does for constant columns.
        self._y_std = std if std > 0 else 1.0

    def _num_outputs(self) -> int:
        return 1

    def _kind(self) -> str:
        return "regression"

    def _loss_target(self, target: Tensor) -> Tensor:
        return (target - self._y_mean) / self._y_std

    def _target_state(self) -> dict[str, Any]:
        return {"y_mean": self._y_mean, "y_std": self._y_std}

    def _load_target_state(self, state: dict[str, Any]) -> None:
        self._y_mean = float(state["y_mean"])
        self._y_std = float(state["y_std"])

    def predict(self, X: Any) -> np.ndarray:
        r"""Predicted targets ``[n_samples]`` in the target's units."""
        out = self._forward(X).squeeze(-1).double()
        return (out * self._y_std + self._y_mean).numpy()


__all__ = ["FeatureGraphRegressor"]
