"""pytorch-frame interoperability (``pip install 'pyg-tabular[frame]'``).

:class:`FeatureGraphTableConv` is a pytorch-frame ``TableConv``: feature-graph
attention over the ``[batch, num_cols, channels]`` column embeddings that
pytorch-frame's ``StypeWiseFeatureEncoder`` produces. :class:`FeatureGraphFrame`
is a ready model built from it, with the constructor conventions of
pytorch-frame's own models.
"""

try:
    import torch_frame  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "pyg_tabular.frame needs pytorch-frame: pip install 'pyg-tabular[frame]'"
    ) from error

from pyg_tabular.frame.feature_graph_frame import FeatureGraphFrame
from pyg_tabular.frame.feature_graph_table_conv import FeatureGraphTableConv

__all__ = ["FeatureGraphTableConv", "FeatureGraphFrame"]
