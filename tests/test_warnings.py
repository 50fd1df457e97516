"""A normal fit-like loop emits no warning attributed to pyg_tabular's own files."""

import warnings

import numpy as np
import torch
from torch_geometric.data import Data

from pyg_tabular.data import graph_to_rows, rows_to_graph, to_static_graph
from pyg_tabular.datasets import TabularDataset, TabularLoader
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)
from pyg_tabular.transforms import (
    DropMissingFeatures,
    FeatureKNNGraph,
    StandardizeFeatures,
    ToFeatureGraph,
)

NUM_ROWS, NUM_FEATURES = 40, 5


def _table() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(NUM_ROWS, NUM_FEATURES))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 4] = rng.integers(0, 3, NUM_ROWS)  # a categorical column, never missing
    y = (rng.random(NUM_ROWS) < 0.5).astype(np.int64)
    return x, y


def _fit_like_loop() -> None:
    torch.manual_seed(0)
    x, y = _table()
    dataset = TabularDataset(x, y, categorical=[4], seed=0)
    train_rows = dataset.x[dataset.index("train")]
    knn = FeatureKNNGraph(k=2).fit(train_rows)
    scaler = StandardizeFeatures().fit(train_rows)

    conv = FeatureGATConv(1, 4, heads=2, dropout=0.1)
    diff = FeatureDiffGATConv(4 * 2, 3, heads=1)
    pool = FeatureGroupPool(NUM_FEATURES, 2)
    gfa = GraphFeatureAggregation(embed_dim=4, dropout=0.1)
    agfl = AdvancedGraphFeatureLayer(embed_dim=4, num_heads=2, hierarchical=True, num_groups=2)
    fusion = GatedFeatureFusion(NUM_FEATURES)
    rows_attention = RowAttention(NUM_FEATURES)
    dense = DenseFeatureGATConv(1, 2, heads=2)
    dense_diff = DenseFeatureDiffGATConv(1, 2)
    head = torch.nn.Linear(2 * 3 + NUM_FEATURES, 2)
    modules = [conv, diff, pool, gfa, agfl, fusion, rows_attention, dense, dense_diff, head]
    agfl(torch.zeros(2, NUM_FEATURES))  # materialises the lazy sizes before the optimizer
    params = [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)

    for epoch in range(2):
        loader = TabularLoader(
            dataset, batch_size=8, shuffle=True, seed=epoch, missing="drop",
            edge_index=knn.edge_index,
        )  # fmt: skip
        for batch in loader:
            batch = DropMissingFeatures()(scaler(batch))
            h = conv(batch.x, batch.edge_index).relu()  # sparse path (kNN template)
            h = diff(h, batch.edge_index)  # [N, 3]
            groups = pool(h, feature_id=batch.feature_id, batch=batch.batch)  # [B, 2, 3]
            rows, mask = graph_to_rows(batch.x.view(-1), batch, return_mask=True)
            tabular = gfa(rows, mask=mask) + agfl(rows, mask=mask)
            tabular = fusion(tabular, rows_attention(tabular))
            static_x, _ = to_static_graph(rows)
            adj = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).float()  # [B, F, F]
            tabular = tabular + dense(static_x).sum(-1) + dense_diff(static_x, adj).sum(-1)
            logits = head(torch.cat([groups.flatten(1), tabular], dim=1))
            loss = torch.nn.functional.cross_entropy(logits, batch.y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    # Inference on new rows: converter, transforms and the static loader.
    with torch.no_grad():
        for module in modules:
            module.eval()
        test = dataset.transform(x[:6], y[:6])
        graph = rows_to_graph(test.x, missing="drop")
        graph = knn(DropMissingFeatures()(graph))
        conv(graph.x, graph.edge_index)
        ToFeatureGraph(missing="drop")(Data(x=test.x[0]))
        for xs, _ in TabularLoader(dataset.transform(np.nan_to_num(x), y), static=True):
            dense(xs)


def _ours(record: warnings.WarningMessage) -> bool:
    return "pyg_tabular" in record.filename.replace("\\", "/")


def test_fit_like_loop_emits_no_pyg_tabular_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit_like_loop()
    ours = [
        f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}" for w in caught if _ours(w)
    ]
    assert ours == []


def test_a_pyg_tabular_warning_would_be_caught():
    # The filter above must be able to fail: a warning raised from a pyg_tabular
    # frame (stacklevel pointing into the package) is attributed to its file.
    import pyg_tabular.data.feature_graph as module

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn_explicit("probe", UserWarning, module.__file__, 1)
    assert any(_ours(w) for w in caught)
