r"""Port trained weights from the Keras layers of ``kerasfactory``.

Our four ``(batch, features)`` modules compute the same function as their
Keras namesakes for the same weights (tested against Keras itself in
``tests/nn/tabular/keras_parity``). :func:`load_keras_weights` copies the
weights of a Keras layer, or of a ``{variable path: array}`` mapping saved
from one, into the matching module, after checking that every weight has a
place and the right shape. Keras itself is not needed for the mapping form.

Keras names a layer's variables ``<layer>/<sublayer>/<leaf>`` (for instance
``graph_feature_aggregation/out_proj/kernel``); Keras numbers repeated
sublayer names (``dense``, ``dense_1``), so a weight is matched by its
sublayer name without that number, its leaf name and its order.

:data:`KERAS_WEIGHT_TABLE` is the one record of that mapping: for each module,
every Keras weight with our parameter name and the layout change between the
two (a Keras ``Dense`` kernel ``(in, out)`` is a torch ``Linear`` weight
``(out, in)``; a Keras ``(n, 1)`` attention kernel is a flat ``(n,)`` vector).
:func:`keras_weight_table` gives the rows that apply to one module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor


class KerasWeight(NamedTuple):
    r"""One row of the Keras weight table: our parameter or buffer ``ours`` (as
    named in ``module.state_dict()``); the Keras ``sublayer`` that holds the
    weight (``""`` for the layer itself; without the ``_1``, ``_2`` numbers
    Keras appends to repeated names) and the variable name ``leaf`` inside it;
    the ``layout`` change, ``"same"``, ``"T"`` (a Keras ``Dense`` kernel is
    ``(in, out)``, a torch ``Linear`` weight ``(out, in)``) or ``"flat"``
    (Keras keeps attention vectors as ``(n, 1)`` kernels); and ``only_if``,
    the module attribute that must be true for the weight to exist."""

    ours: str
    sublayer: str
    leaf: str
    layout: str
    only_if: str = ""


_LAYOUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "same": lambda t: t,
    "T": lambda t: t.T,
    "flat": lambda t: t.reshape(-1),
}


def _dense(ours: str, keras: str, only_if: str = "") -> tuple[KerasWeight, ...]:
    return (
        KerasWeight(f"{ours}.weight", keras, "kernel", "T", only_if),
        KerasWeight(f"{ours}.bias", keras, "bias", "same", only_if),
    )


_NORM = "batch_normalization"

#: The one record of how each Keras layer's weights map onto our modules, by
#: module class name, in the order Keras lists the weights.
KERAS_WEIGHT_TABLE: dict[str, tuple[KerasWeight, ...]] = {
    "GraphFeatureAggregation": (
        KerasWeight("attention", "", "attention_a", "flat"),
        KerasWeight("attention_bias", "", "attention_bias", "same"),
        *_dense("projection", "projection"),
        *_dense("out_proj", "out_proj"),
    ),
    "AdvancedGraphFeatureLayer": (
        KerasWeight("group_pool.assignment_logits", "", "grouping_matrix", "same", "hierarchical"),
        *_dense("projection", "projection"),
        KerasWeight("edge_attention", "edge_attention_dense", "kernel", "flat"),
        *_dense("out_proj", "out_proj"),
        *_dense("group_expander", "group_expander", "hierarchical"),
        KerasWeight("layer_norm.weight", "layer_norm", "gamma", "same"),
        KerasWeight("layer_norm.bias", "layer_norm", "beta", "same"),
    ),
    "GatedFeatureFusion": _dense("fusion_gate", "fusion_gate"),
    "RowAttention": (
        *_dense("attention_net.0", "dense"),
        KerasWeight("attention_net.2.weight", _NORM, "gamma", "same"),
        KerasWeight("attention_net.2.bias", _NORM, "beta", "same"),
        KerasWeight("attention_net.2.running_mean", _NORM, "moving_mean", "same"),
        KerasWeight("attention_net.2.running_var", _NORM, "moving_variance", "same"),
        *_dense("attention_net.3", "dense"),
    ),
}


def keras_weight_table(module: torch.nn.Module) -> list[KerasWeight]:
    r"""The rows of :data:`KERAS_WEIGHT_TABLE` that apply to :obj:`module`
    (the group weights only when it is hierarchical).

    Raises:
        TypeError: :obj:`module` is not one of the four modules.
    """
    from pyg_tabular.nn import tabular

    for name, rows in KERAS_WEIGHT_TABLE.items():
        if isinstance(module, getattr(tabular, name)):
            return [row for row in rows if not row.only_if or getattr(module, row.only_if)]
    raise TypeError(
        "module must be a GraphFeatureAggregation, AdvancedGraphFeatureLayer, "
        f"GatedFeatureFusion or RowAttention (got {type(module).__name__})"
    )


def _keras_items(source: Any) -> list[tuple[str, np.ndarray]]:
    # A Keras layer (variables carry .path), or a mapping in Keras' order.
    if isinstance(source, Mapping):
        items: Iterable[tuple[str, Any]] = source.items()
    elif hasattr(source, "weights"):
        items = ((variable.path, np.asarray(variable)) for variable in source.weights)
    else:
        raise TypeError(
            "weights must be a Keras layer or a mapping {variable path: array} "
            f"(got {type(source).__name__})"
        )
    return [(str(path), np.asarray(value)) for path, value in items]


def _key(path: str) -> tuple[str, str]:
    # "row_attention/sequential/dense_1/kernel" -> ("dense", "kernel");
    # "graph_feature_aggregation/attention_a" -> ("", "attention_a").
    parts = path.split("/")
    sublayer = re.sub(r"_\d+$", "", parts[-2]) if len(parts) > 2 else ""
    return sublayer, parts[-1]


def keras_state_dict(module: torch.nn.Module, weights: Any) -> dict[str, Tensor]:
    r"""The state dict entries of :obj:`module` that :obj:`weights` define.

    Args:
        module (torch.nn.Module): One of the four ``(batch, features)``
            modules, built with the Keras layer's hyperparameters and with
            every lazy parameter materialised (run one forward pass first).
        weights: The Keras layer, or ``{variable path: array}`` in the order
            of ``layer.weights`` (e.g. ``{v.path: v.numpy() for v in
            layer.weights}``, or an ``np.load``-ed ``.npz`` of it).

    Raises:
        ValueError: A Keras weight has no place in :obj:`module`, a
            parameter of :obj:`module` has no Keras weight, or the shapes
            disagree; the message names the weight and both shapes.
    """
    entries = keras_weight_table(module)
    state = module.state_dict()
    pending: dict[tuple[str, str], list[KerasWeight]] = {}
    for entry in entries:
        pending.setdefault((entry.sublayer, entry.leaf), []).append(entry)
    ported: dict[str, Tensor] = {}
    for path, value in _keras_items(weights):
        queue = pending.get(_key(path))
        if not queue:
            raise ValueError(
                f"weights holds {path!r} {value.shape}, which has no place in "
                f"{type(module).__name__} (check hierarchical / the layer type)"
            )
        entry = queue.pop(0)
        name, layout = entry.ours, entry.layout
        target = state.get(name)
        if target is None or isinstance(target, torch.nn.parameter.UninitializedParameter):
            raise ValueError(
                f"{type(module).__name__}.{name} is not materialised yet: run one forward "
                "pass (e.g. module(torch.zeros(1, num_features))) before porting"
            )
        tensor = _LAYOUTS[layout](torch.as_tensor(value))
        if tuple(tensor.shape) != tuple(target.shape):
            raise ValueError(
                f"weights[{path!r}] has shape {value.shape}, which does not fit "
                f"{name} {tuple(target.shape)} (built with other hyperparameters?)"
            )
        ported[name] = tensor.to(dtype=target.dtype)
    missing = [entry[0] for queue in pending.values() for entry in queue]
    if missing:
        raise ValueError(f"weights has no value for {missing} of {type(module).__name__}")
    return ported


def to_keras_weights(module: torch.nn.Module, layer_name: str) -> dict[str, np.ndarray]:
    r"""The weights of :obj:`module` as ``{variable path: array}`` in Keras'
    naming and layout (the form :func:`load_keras_weights` reads), for a Keras
    layer named :obj:`layer_name`.

    Example:
        >>> from pyg_tabular.nn.tabular import GatedFeatureFusion
        >>> saved = to_keras_weights(GatedFeatureFusion(3), "gated_feature_fusion")
        >>> for path, array in saved.items():
        ...     print(path, array.shape)
        gated_feature_fusion/fusion_gate/kernel (6, 3)
        gated_feature_fusion/fusion_gate/bias (3,)
    """
    state = module.state_dict()
    seen: dict[tuple[str, str], int] = {}
    saved: dict[str, np.ndarray] = {}
    for row in keras_weight_table(module):
        value = state.get(row.ours)
        if value is None or isinstance(value, torch.nn.parameter.UninitializedParameter):
            raise ValueError(
                f"{type(module).__name__}.{row.ours} is not materialised yet: run one forward "
                "pass first"
            )
        array = value.detach().cpu().numpy()
        if row.layout == "T":
            array = array.T
        elif row.layout == "flat":
            array = array.reshape(-1, 1)
        # Keras numbers the second and later sublayers of one name: dense, dense_1.
        count = seen.get((row.sublayer, row.leaf), 0)
        seen[(row.sublayer, row.leaf)] = count + 1
        sublayer = f"{row.sublayer}_{count}" if count else row.sublayer
        path = "/".join(part for part in (layer_name, sublayer, row.leaf) if part)
        saved[path] = np.ascontiguousarray(array)
    return saved


def load_keras_weights(module: torch.nn.Module, weights: Any) -> torch.nn.Module:
    r"""Copies a Keras layer's weights into :obj:`module` in place and returns it;
    see :func:`keras_state_dict` for the arguments and the checks.

    Example:
        >>> import numpy as np, torch
        >>> from pyg_tabular.nn.tabular import GatedFeatureFusion
        >>> fusion = GatedFeatureFusion(3)
        >>> saved = {  # what {v.path: v.numpy() for v in layer.weights} holds
        ...     "gated_feature_fusion/fusion_gate/kernel": np.ones((6, 3), "float32"),
        ...     "gated_feature_fusion/fusion_gate/bias": np.zeros(3, "float32"),
        ... }
        >>> load_keras_weights(fusion, saved).fusion_gate.weight.shape
        torch.Size([3, 6])
    """
    ported = keras_state_dict(module, weights)
    # state_dict() tensors share storage with the parameters and buffers.
    state = module.state_dict()
    with torch.no_grad():
        for name, tensor in ported.items():
            state[name].copy_(tensor)
    return module


__all__ = [
    "KERAS_WEIGHT_TABLE",
    "KerasWeight",
    "keras_state_dict",
    "keras_weight_table",
    "load_keras_weights",
    "to_keras_weights",
]
