"""A sparsified feature graph: each feature talks to its k most correlated.

The complete graph over F features costs F² edges per row. Here a
``FeatureKNNGraph`` fitted on the training rows keeps, for every feature, the
k features it correlates with most (plus itself); the loader batches rows on
that template and a small FeatureGATConv network trains on it. The same
network on the complete graph is trained beside it, and the script prints
edges per row and test accuracy of both.

    python examples/custom_feature_graph.py          # breast_cancer, k=5
    python examples/custom_feature_graph.py --tiny   # CI size
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from pyg_tabular.data import graph_to_rows
from pyg_tabular.datasets import TabularLoader, load_dataset
from pyg_tabular.nn.conv import FeatureGATConv
from pyg_tabular.transforms import FeatureKNNGraph


class FeatureGraphNetwork(nn.Module):
    """Per-feature embedding → FeatureGATConv over the batch's graph → linear head."""

    def __init__(self, num_features: int, channels: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_features, channels) / channels**0.5)
        self.bias = nn.Parameter(torch.zeros(num_features, channels))
        self.conv = FeatureGATConv(channels, channels, heads=2, concat=False)
        self.head = nn.Linear(num_features * channels, 1)

    def forward(self, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
        rows = graph_to_rows(batch.x.view(-1), batch)  # [B, F]
        nodes = (rows.unsqueeze(-1) * self.weight + self.bias).flatten(0, 1)  # [B·F, C]
        hidden = torch.relu(self.conv(nodes, batch.edge_index))
        return self.head(hidden.view(rows.size(0), -1)).squeeze(-1)


def train_and_score(dataset, edge_index, epochs: int) -> float:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = FeatureGraphNetwork(dataset.num_features)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    train = TabularLoader(dataset, split="train", batch_size=64, shuffle=True, seed=0,
                          edge_index=edge_index)  # fmt: skip
    for _ in range(epochs):
        model.train()
        for batch in train:
            loss = nn.functional.binary_cross_entropy_with_logits(model(batch), batch.y.float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in TabularLoader(dataset, split="test", batch_size=256, edge_index=edge_index):
            correct += int(((model(batch) > 0).long() == batch.y.long()).sum())
            total += batch.num_graphs
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="two epochs, for CI")
    parser.add_argument("-k", type=int, default=5, help="neighbours per feature")
    args = parser.parse_args()
    dataset = load_dataset("breast_cancer", seed=0)
    features = dataset.num_features

    # Correlations from the training rows only: the graph must not see test data.
    knn = FeatureKNNGraph(k=args.k).fit(dataset.x[dataset.index("train")])
    in_degree = torch.bincount(knn.edge_index[1], minlength=features)
    if not bool((in_degree == args.k + 1).all()):
        raise SystemExit(f"every feature should receive k+1={args.k + 1} edges")
    print(f"kNN graph: {knn.edge_index.size(1)} edges per row vs {features**2} complete")

    epochs = 2 if args.tiny else 40
    sparse = train_and_score(dataset, knn.edge_index, epochs)
    complete = train_and_score(dataset, None, epochs)
    print(f"test accuracy: kNN graph (k={args.k}) {sparse:.3f}, complete graph {complete:.3f}")


if __name__ == "__main__":
    main()
