"""Data-parallel training of FeatureGraphNet with torch.distributed (DDP).

Launch one process per device with torchrun. Every process builds the same
model, wraps it in DistributedDataParallel (gloo on CPU, nccl on GPU) and
trains on its own slice of every mini-batch of scikit-learn's breast-cancer
table (bundled, no download); DDP averages the gradients, so all processes
keep the same weights. Rank 0 prints the losses and the test accuracy.

    torchrun --nproc_per_node=2 examples/ddp_train.py             # ~20 s on 2 CPU cores
    torchrun --nproc_per_node=2 examples/ddp_train.py --epochs 1  # ~15 s, mostly start-up
    python examples/ddp_train.py                                  # one process, same numbers
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from pyg_tabular.datasets import TabularLoader, load_dataset
from pyg_tabular.distributed import (
    cleanup_distributed,
    get_rank,
    get_world_size,
    is_distributed,
    setup_distributed,
)
from pyg_tabular.nn.models import FeatureGraphNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the train split")
    parser.add_argument("--batch-size", type=int, default=64, help="rows per global batch")
    args = parser.parse_args()

    # Joins the process group torchrun describes (a no-op under plain python).
    device = setup_distributed()
    rank, world_size = get_rank(), get_world_size()
    torch.manual_seed(0)  # the same initial weights on every rank

    # Every rank loads the same table with the same split and draws the same
    # shuffled global batches (same seed); each keeps its own slice of them.
    dataset = load_dataset("breast_cancer", seed=0)
    num_numeric = dataset.num_numeric
    loader = TabularLoader(
        dataset,
        split="train",
        batch_size=args.batch_size,
        shuffle=True,
        seed=0,
        drop_last=True,  # equal slices: DDP's mean of mean losses = the global mean
        static=True,
        num_replicas=world_size,
        rank=rank,
    )
    model = FeatureGraphNet(
        num_numeric, dataset.cardinalities, 1, channels=8, heads=2, head_channels=32
    ).to(device)
    network: torch.nn.Module = model
    if is_distributed():
        device_ids = [device.index] if device.type == "cuda" else None
        network = DistributedDataParallel(model, device_ids=device_ids)
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)

    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        network.train()
        totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, rows
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            numeric, categorical = x[:, :num_numeric, 0], x[:, num_numeric:, 0].long()
            logits = network(numeric, categorical).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
            optimizer.zero_grad()
            loss.backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
            totals += torch.stack(
                [loss.detach().double() * y.numel(), totals.new_tensor(y.numel())]
            )
        if is_distributed():
            dist.all_reduce(totals)
        if rank == 0:
            print(f"epoch {epoch:>2}: train loss {float(totals[0] / totals[1]):.4f}")

    if rank == 0:
        # The ranks hold the same weights: one of them evaluates.
        model.eval()
        test = dataset.index("test")
        x = dataset.x[test].to(device)
        with torch.no_grad():
            logits = model(x[:, :num_numeric], x[:, num_numeric:].long()).squeeze(-1)
        accuracy = float(((logits > 0).long().cpu() == dataset.y[test]).float().mean())
        print(f"test accuracy: {accuracy:.3f} on {len(test)} rows, {world_size} process(es)")
    if is_distributed():
        # Rank 0 evaluates alone: the others wait for it, so that no rank
        # tears the group down while another is still in it.
        dist.barrier()
    cleanup_distributed()


if __name__ == "__main__":
    main()
