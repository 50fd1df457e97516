"""PyG's GATConv against our FeatureGATConv: same function, then the speed.

``FeatureGATConv(att_bias=False)`` with GATConv's weights computes exactly
GATConv's function (the score bias is our one extra parameter). The script
copies the weights, checks outputs and attention agree on a batch of row
feature graphs, then times a forward + backward step of each on the same
batch, side by side, and prints the ratio.

    python examples/gatconv_vs_ours.py          # B=512 rows, F=32 features
    python examples/gatconv_vs_ours.py --tiny   # CI size
"""

from __future__ import annotations

import argparse
import time

import torch
from torch_geometric.nn import GATConv

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureGATConv


def step_seconds(conv: torch.nn.Module, x: torch.Tensor, edge_index: torch.Tensor) -> float:
    # Median of several forward + backward steps after a warm-up step.
    times = []
    for _ in range(6):
        start = time.perf_counter()
        conv(x, edge_index).square().mean().backward()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, for CI")
    args = parser.parse_args()
    rows, features, channels, heads = (16, 6, 4, 2) if args.tiny else (512, 32, 16, 4)
    torch.manual_seed(0)

    # Every row a complete graph over its features; nodes carry `channels` values.
    batch = rows_to_graph(torch.randn(rows, features, channels))
    peer = GATConv(channels, 16, heads=heads)
    ours = FeatureGATConv(channels, 16, heads=heads, att_bias=False)
    ours.load_state_dict(peer.state_dict())

    with torch.no_grad():
        out, (_, alpha) = ours(batch.x, batch.edge_index, return_attention_weights=True)
        expected, (_, expected_alpha) = peer(
            batch.x, batch.edge_index, return_attention_weights=True
        )
    diff = float((out - expected).abs().max())
    alpha_diff = float((alpha - expected_alpha).abs().max())
    print(f"{batch.num_edges:,} edges; max |output diff| {diff:.1e}, |alpha diff| {alpha_diff:.1e}")
    if diff > 1e-5 or alpha_diff > 1e-5:
        raise SystemExit("FeatureGATConv does not reproduce GATConv")

    theirs = step_seconds(peer, batch.x, batch.edge_index)
    mine = step_seconds(ours, batch.x, batch.edge_index)
    print(f"forward+backward: GATConv {1e3 * theirs:.2f} ms, FeatureGATConv {1e3 * mine:.2f} ms")
    print(f"FeatureGATConv is {theirs / mine:.1f}x GATConv's speed on row feature graphs")


if __name__ == "__main__":
    main()
