"""Tabular datasets, loaders and named real datasets.

pandas, pyarrow and scikit-learn are needed only by the functions that read
DataFrames or named datasets, and are imported there.
"""

from pyg_tabular.datasets.make_interactions import (
    INTERACTIONS,
    InteractionTable,
    make_interactions,
)
from pyg_tabular.datasets.named_datasets import (
    DATASET_NAMES,
    load_acs_employment,
    load_adult,
    load_breast_cancer,
    load_california,
    load_dataset,
    load_diabetes,
    load_diamonds,
    load_digits,
    load_wine,
)
from pyg_tabular.datasets.streaming_tabular_loader import StreamingTabularLoader
from pyg_tabular.datasets.table_encoder import SCALINGS, TableEncoder
from pyg_tabular.datasets.tabular_dataset import TabularDataset
from pyg_tabular.datasets.tabular_loader import TabularLoader

__all__ = [
    "TableEncoder",
    "SCALINGS",
    "TabularDataset",
    "TabularLoader",
    "StreamingTabularLoader",
    "load_dataset",
    "load_breast_cancer",
    "load_digits",
    "load_wine",
    "load_diabetes",
    "load_california",
    "load_adult",
    "load_acs_employment",
    "load_diamonds",
    "DATASET_NAMES",
    "make_interactions",
    "InteractionTable",
    "INTERACTIONS",
]
