"""Bridges to other libraries: weights from Keras ``kerasfactory`` layers."""

from pyg_tabular.interop.keras import keras_state_dict, load_keras_weights

__all__ = ["keras_state_dict", "load_keras_weights"]
