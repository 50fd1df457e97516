r"""Data-parallel training with PyTorch's own engine, :mod:`torch.distributed`.

Every model and module of :mod:`pyg_tabular.nn` is an ordinary
:class:`torch.nn.Module` and trains wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` (DDP): one process per
device (``gloo`` on CPU, ``nccl`` on GPU), each with a replica of the model,
gradients averaged across processes after every backward pass.

The helpers here cover the rest:

* :func:`setup_distributed` joins the process group that ``torchrun``
  describes in environment variables (a no-op in a plain ``python`` run) and
  returns the device of this process;
* :func:`shard_indices` gives each rank its disjoint slice of a global batch;
  :class:`~pyg_tabular.datasets.TabularLoader` does this itself with
  ``num_replicas`` and ``rank``, so that all ranks draw the same global batches
  (seed and epoch) and take the same number of steps, as DDP requires.

With mean losses, DDP's gradient average equals the gradient of the mean loss
over the global batch when every rank holds the same number of rows: choose a
:obj:`batch_size` divisible by the number of processes and
:obj:`drop_last=True`. Otherwise, weight rank :math:`r`'s mean loss by
:math:`n_r R / N` (:math:`n_r` rows of the global batch :math:`N` on rank
:math:`r`, :math:`R` ranks), as the estimators do.

Layers whose output for a row depends on the other rows of the batch see only
the local shard: :class:`~pyg_tabular.nn.tabular.RowAttention` with
``normalize="batch"`` (softmax over the batch) and batch normalisation in
training mode (use :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm` on
GPU). Everything else in :mod:`pyg_tabular.nn` works row by row. Modules
with lazy sizes (``num_features=None``) must be materialised before wrapping,
by passing :obj:`num_features` or by one forward pass: DDP refuses
uninitialised parameters.

Example:
    >>> import torch
    >>> from pyg_tabular.distributed import shard_indices
    >>> batch = torch.arange(10)
    >>> [shard_indices(batch, num_replicas=3, rank=r).tolist() for r in range(3)]
    [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor

from pyg_tabular.utils.validation import check_positive_int, is_int


def is_distributed() -> bool:
    r"""Whether :mod:`torch.distributed` is available and a default process
    group is initialized."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    r"""The rank of this process in the default process group, ``0`` outside
    distributed runs."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    r"""The number of processes in the default process group, ``1`` outside
    distributed runs."""
    return dist.get_world_size() if is_distributed() else 1


def setup_distributed(backend: str | None = None) -> torch.device:
    r"""Joins the default process group described by the environment variables
    that ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) and returns the device this process
    should use.

    Without ``RANK`` and ``WORLD_SIZE`` in the environment (a plain ``python``
    run) nothing is initialized and the device is the CPU, so one script runs
    both ways. When the group is already initialized, only the device is
    returned.

    Args:
        backend (str, optional): Backend of the process group. (default:
            ``"nccl"`` with CUDA, ``"gloo"`` otherwise)

    Returns:
        ``cuda:LOCAL_RANK`` with the ``"nccl"`` backend (made the current CUDA
        device), the CPU otherwise.
    """
    if backend is not None and not isinstance(backend, str):
        raise ValueError(f"backend must be a str or None (got {backend!r})")
    if not dist.is_available():
        if "WORLD_SIZE" in os.environ:
            raise RuntimeError("torch.distributed is not available in this PyTorch build")
        return torch.device("cpu")
    if is_distributed():
        backend = dist.get_backend()
    elif "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return torch.device("cpu")
    elif backend is None:
        use_nccl = torch.cuda.is_available() and dist.is_nccl_available()
        backend = "nccl" if use_nccl else "gloo"
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not is_distributed():
        dist.init_process_group(backend=backend, init_method="env://")
    return device


def cleanup_distributed() -> None:
    r"""Leaves the default process group, if one is initialized."""
    if is_distributed():
        dist.destroy_process_group()


def check_replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    r"""Returns ``(num_replicas, rank)`` checked, each defaulting to the
    default process group's (``1`` and ``0`` without one).

    Raises:
        ValueError: Unless :obj:`num_replicas` is a positive int and
            :obj:`rank` an int in ``[0, num_replicas)``.
    """
    if num_replicas is None:
        num_replicas = get_world_size()
    if rank is None:
        rank = get_rank()
    num_replicas = check_positive_int(num_replicas, "num_replicas")
    if not is_int(rank) or not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be an int in [0, {num_replicas}) (got {rank!r})")
    return num_replicas, int(rank)


def shard_indices(
    index: Tensor, *, num_replicas: int | None = None, rank: int | None = None
) -> Tensor:
    r"""Returns the slice of a global batch that belongs to one rank.

    The batch is cut into :obj:`num_replicas` contiguous, disjoint pieces
    whose sizes differ by at most one (the first ranks get the larger
    pieces); together they hold every entry exactly once. A global batch
    smaller than :obj:`num_replicas` leaves some ranks an empty piece.

    Args:
        index (torch.Tensor): The global batch, e.g. row indices ``[N]``;
            sliced along its first dimension.
        num_replicas (int, optional): Number of ranks. (default: the size of
            the default process group, ``1`` without one)
        rank (int, optional): The rank whose piece to return. (default: the
            rank of this process, ``0`` without a process group)
    """
    if not isinstance(index, Tensor) or index.dim() == 0:
        found = tuple(index.shape) if isinstance(index, Tensor) else type(index).__name__
        raise ValueError(f"index must be a tensor with at least one dimension (got {found})")
    num_replicas, rank = check_replicas(num_replicas, rank)
    if num_replicas == 1:
        return index
    return index.tensor_split(num_replicas)[rank]


__all__ = [
    "is_distributed",
    "get_rank",
    "get_world_size",
    "setup_distributed",
    "cleanup_distributed",
    "shard_indices",
    "check_replicas",
]
