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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

# (our parameter or buffer, Keras sublayer, Keras leaf, how Keras lays it out)
_Entry = tuple[str, str, str, str]

# Keras Dense kernels are (in, out), torch Linear weights (out, in): "T".
# Keras keeps attention vectors as (n, 1) kernels, ours are flat: "flat".
_LAYOUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "same": lambda t: t,
    "T": lambda t: t.T,
    "flat": lambda t: t.reshape(-1),
}


def _dense(ours: str, keras: str) -> list[_Entry]:
    return [(f"{ours}.weight", keras, "kernel", "T"), (f"{ours}.bias", keras, "bias", "same")]


def _entries(module: torch.nn.Module) -> list[_Entry]:
    from pyg_tabular.nn.tabular import (
        AdvancedGraphFeatureLayer,
        GatedFeatureFusion,
        GraphFeatureAggregation,
        RowAttention,
    )

    if isinstance(module, GraphFeatureAggregation):
        return [
            ("attention", "", "attention_a", "flat"),
            ("attention_bias", "", "attention_bias", "flat"),
            *_dense("projection", "projection"),
            *_dense("out_proj", "out_proj"),
        ]
    if isinstance(module, AdvancedGraphFeatureLayer):
        hierarchical = [("grouping_matrix", "", "grouping_matrix", "same")]
        return [
            *(hierarchical if module.hierarchical else []),
            *_dense("projection", "projection"),
            ("edge_attention", "edge_attention_dense", "kernel", "flat"),
            *_dense("out_proj", "out_proj"),
            *(_dense("group_expander", "group_expander") if module.hierarchical else []),
            ("layer_norm.weight", "layer_norm", "gamma", "same"),
            ("layer_norm.bias", "layer_norm", "beta", "same"),
        ]
    if isinstance(module, GatedFeatureFusion):
        return _dense("fusion_gate", "fusion_gate")
    if isinstance(module, RowAttention):
        norm = "batch_normalization"
        return [
            *_dense("attention_net.0", "dense"),
            ("attention_net.2.weight", norm, "gamma", "same"),
            ("attention_net.2.bias", norm, "beta", "same"),
            ("attention_net.2.running_mean", norm, "moving_mean", "same"),
            ("attention_net.2.running_var", norm, "moving_variance", "same"),
            *_dense("attention_net.3", "dense"),
        ]
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
    entries = _entries(module)
    state = module.state_dict()
    pending: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        pending.setdefault((entry[1], entry[2]), []).append(entry)
    ported: dict[str, Tensor] = {}
    for path, value in _keras_items(weights):
        queue = pending.get(_key(path))
        if not queue:
            raise ValueError(
                f"weights holds {path!r} {value.shape}, which has no place in "
                f"{type(module).__name__} (check hierarchical / the layer type)"
            )
        name, _, _, layout = queue.pop(0)
        target = state[name]
        if isinstance(target, torch.nn.parameter.UninitializedParameter):
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


__all__ = ["keras_state_dict", "load_keras_weights"]
