"""Choices that the command line shows and checks before anything heavy is
imported (private): ``pyg-tabular --help`` and its argument errors answer
without torch. Each is re-exported where it belongs
(:mod:`pyg_tabular.compare`, :mod:`pyg_tabular.datasets`)."""

#: Tasks a table may declare; :obj:`None` infers it from the target.
TABLE_TASKS = ("regression", "binary", "multiclass")

#: Fewest rows any of the train, validation and test splits may hold.
MIN_SPLIT_ROWS = 10

#: File suffixes :func:`~pyg_tabular.compare.read_table` reads.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")

#: The numeric embeddings the comparison can give every model that has one:
#: ``"linear"`` (one affine map per feature; for the MLP and TabM, whose first
#: layer is linear already, the numerics as they are), ``"periodic"`` and
#: ``"piecewise-linear"`` (Gorishniy et al., "On Embeddings for Numerical
#: Features in Tabular Deep Learning", 2022).
NUMERIC_EMBEDDINGS = ("linear", "periodic", "piecewise-linear")

#: Most distinct integers a target may hold to be read as classes when the
#: task is not given. Integer-coded classes rarely number more; quantities
#: (counts, ages, prices in whole units) usually do.
MAX_INFERRED_CLASSES = 20

#: The feature graphs ``pyg-tabular compare --graphs`` runs a model on.
GRAPH_CHOICES = ("complete", "knn", "learned")
