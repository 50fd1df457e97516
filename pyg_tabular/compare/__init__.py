r"""The GATConv comparison: feature-graph models against PyG's ``GATConv``,
an MLP and gradient boosting, on a named dataset or a user's own table.

Every model sees the same seeded splits, the same standardisation (fitted on
the train rows), the same numeric embedding (for the models that have one),
the same epoch or time budget and early stopping on the validation split;
each model trains with its optimizer recipe (AdamW). The test metric is taken
at the best validation epoch.

- :mod:`~pyg_tabular.compare.tasks`: datasets and tables → :class:`Task`;
- :mod:`~pyg_tabular.compare.models`: the model registry (:func:`register_model`)
  and the shared numeric embeddings;
- :mod:`~pyg_tabular.compare.peers`: FT-Transformer and TabM by their authors'
  packages (the ``peers`` extra), with their authors' optimizer recipes;
- :mod:`~pyg_tabular.compare.graphs`: the graph nets on the complete, kNN and
  learned feature graphs (``"feature-gat-knn"``, ``"feature-gat-learned"``, ...);
- :mod:`~pyg_tabular.compare.runner`: one (model, seed) run, in-process or isolated;
- :mod:`~pyg_tabular.compare.progress`: what a run shows while it trains;
- :mod:`~pyg_tabular.compare.baselines`: HistGradientBoosting;
- :mod:`~pyg_tabular.compare.metrics`: RMSE, accuracy, AUC;
- :mod:`~pyg_tabular.compare.embeddings`: the numeric embeddings of the models that have one;
- :mod:`~pyg_tabular.compare.report`: ``runs.csv``, summaries, paired
  differences and plots (the run records themselves live in
  :mod:`pyg_tabular.run_result`).
"""

from pyg_tabular.compare.baselines import train_hgb
from pyg_tabular.compare.graphs import GRAPH_BASES, GRAPH_CHOICES, expand_graphs, graph_variant
from pyg_tabular.compare.metrics import binary_auc, evaluate, peak_rss_mb
from pyg_tabular.compare.mlp import MLP
from pyg_tabular.compare.models import (
    ATTENTION_MODELS,
    EMBEDDING_MODELS,
    GRAPH_NET_OPTIONS,
    MODELS,
    NUMERIC_EMBEDDINGS,
    RENAMED_MODELS,
    SKLEARN_MODELS,
    build_model,
    fit_task_bins,
    graph_net,
    model_names,
    numeric_embeddings,
    register_model,
    resolve_model,
)
from pyg_tabular.compare.peers import FTTransformerNet, TabMNet
from pyg_tabular.compare.progress import Progress, ProgressDisplay
from pyg_tabular.compare.report import (
    AGGREGATION,
    OUTPUT_FILES,
    RunLog,
    best_model,
    format_table,
    paired_table,
    report_markdown,
    summarize,
    write_summaries,
)
from pyg_tabular.compare.runner import (
    DEFAULT_OPTIMIZER,
    EnsembleMean,
    load_source,
    make_optimizer,
    member_loss,
    run_all,
    train_isolated,
    train_one,
)
from pyg_tabular.compare.tasks import (
    MIN_SPLIT_ROWS,
    TABLE_TASKS,
    Split,
    Task,
    load_table_task,
    load_task,
    read_table,
)
from pyg_tabular.run_result import RunResult

__all__ = [
    "Task",
    "Split",
    "MLP",
    "MODELS",
    "SKLEARN_MODELS",
    "ATTENTION_MODELS",
    "EMBEDDING_MODELS",
    "RENAMED_MODELS",
    "GRAPH_NET_OPTIONS",
    "GRAPH_BASES",
    "GRAPH_CHOICES",
    "NUMERIC_EMBEDDINGS",
    "DEFAULT_OPTIMIZER",
    "FTTransformerNet",
    "TabMNet",
    "EnsembleMean",
    "MIN_SPLIT_ROWS",
    "TABLE_TASKS",
    "OUTPUT_FILES",
    "load_task",
    "load_table_task",
    "load_source",
    "read_table",
    "graph_net",
    "graph_variant",
    "expand_graphs",
    "build_model",
    "fit_task_bins",
    "numeric_embeddings",
    "make_optimizer",
    "member_loss",
    "register_model",
    "resolve_model",
    "model_names",
    "train_one",
    "run_all",
    "train_hgb",
    "train_isolated",
    "evaluate",
    "binary_auc",
    "peak_rss_mb",
    "RunResult",
    "Progress",
    "ProgressDisplay",
    "RunLog",
    "AGGREGATION",
    "summarize",
    "paired_table",
    "report_markdown",
    "best_model",
    "format_table",
    "write_summaries",
]
