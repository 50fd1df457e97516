"""PyG's GATConv against our FeatureGATConv: same function, then the speed.

``FeatureGATConv(att_bias=False)`` with GATConv's weights computes exactly
GATConv's function (the score bias is our one extra parameter). The script
copies the weights, checks outputs and attention agree on a batch of row
feature graphs, then times a forward + backward step of each on the same
batch, side by side, and prints what it measured: the shapes, the threads,
and GATConv's time over ours as the median of interleaved pairs with its range.

    python examples/gatconv_vs_ours.py          # B=512 rows, F=32, 16 -> 4x16 channels
    python examples/gatconv_vs_ours.py --tiny   # CI size

The ratio depends on the shapes (it grows with the input channels, since the
fast path aggregates before projecting) and on the machine; the benchmarks page
(``docs/benchmarks.md``) gives the measured figures at its own shapes.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.benchmark import Timer
from torch_geometric.nn import GATConv

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureGATConv


def paired_ratio(steps: dict[str, Timer], pairs: int) -> list[float]:
    """GATConv's time over ours in each of :obj:`pairs` interleaved rounds
    (alternating which runs first), each time a ``blocked_autorange`` median."""
    ratios = []
    for round_ in range(pairs):
        order = ["GATConv", "ours"] if round_ % 2 == 0 else ["ours", "GATConv"]
        seconds = {name: steps[name].blocked_autorange(min_run_time=0.1).median for name in order}
        ratios.append(seconds["GATConv"] / seconds["ours"])
    return ratios


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

    threads = torch.get_num_threads()
    steps = {
        name: Timer(
            "conv(x, edge_index).square().mean().backward()",
            globals={"conv": conv, "x": batch.x, "edge_index": batch.edge_index},
            num_threads=threads,
        )
        for name, conv in (("GATConv", peer), ("ours", ours))
    }
    ratios = paired_ratio(steps, pairs=7)
    print(
        f"forward + backward, B={rows} rows, F={features} features, {channels} -> "
        f"{heads} heads x 16 channels, {threads} threads: GATConv's time over "
        f"FeatureGATConv's is {statistics.median(ratios):.1f}x (range "
        f"{min(ratios):.1f}-{max(ratios):.1f} over {len(ratios)} interleaved pairs)"
    )


if __name__ == "__main__":
    main()
