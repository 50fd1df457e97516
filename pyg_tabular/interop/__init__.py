"""Bridges to other libraries: weights from Keras ``kerasfactory`` layers."""

from pyg_tabular.interop.keras import (
    KERAS_WEIGHT_TABLE,
    KerasWeight,
    keras_state_dict,
    keras_weight_table,
    load_keras_weights,
    to_keras_weights,
)

__all__ = [
    "KERAS_WEIGHT_TABLE",
    "KerasWeight",
    "keras_state_dict",
    "keras_weight_table",
    "load_keras_weights",
    "to_keras_weights",
]
