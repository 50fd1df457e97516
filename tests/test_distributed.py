"""Data-parallel training on torch.distributed: two gloo processes on loopback.

One spawn of two processes (``_worker``) runs every scenario and saves what
each rank ends with; the tests compare the ranks with each other and with the
same scenario run by one process on the whole global batches, without DDP.

Every spawn runs under a watchdog (:func:`_spawn`): a worker that has not
finished within its timeout dumps the stacks of its threads and exits, and the
test fails with those stacks instead of hanging the suite.
"""

import contextlib
import faulthandler
import importlib
import io
import os
import runpy
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException
from torch.nn.parallel import DistributedDataParallel

from pyg_tabular import distributed
from pyg_tabular.datasets import TabularDataset, TabularLoader
from pyg_tabular.estimators import FeatureGraphClassifier
from pyg_tabular.nn.models import FeatureGraphNet
from pyg_tabular.nn.models.feature_graph_net import LAYERS
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(),
    reason="needs torch.distributed with the gloo backend",
)

WORLD_SIZE = 2
ROOT = Path(__file__).resolve().parents[1]
# A worker still running after this many seconds is taken as hung; the whole
# scenario list needs a few minutes on two CPU cores.
WORKER_TIMEOUT_S = 600
# Extra time the parent allows for starting the processes (imports) and for
# the watchdog's report, before it kills the workers itself.
STARTUP_GRACE_S = 120


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wrap(module, ddp):
    return DistributedDataParallel(module) if ddp else module


# ---------------------------------------------------------------- scenarios
# Each takes (num_replicas, rank, ddp); (1, 0, False) is the single process.


def _table(num_rows=48):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(num_rows, 4, generator=generator, dtype=torch.float64)
    x[:, 3] = torch.randint(0, 3, (num_rows,), generator=generator).double()
    y = x[:, 0] - 2 * x[:, 1] * x[:, 2] + (x[:, 3] == 1).double()
    return TabularDataset(x, y, categorical=[3], split=(1.0, 0.0, 0.0), dtype=torch.float64)


def _train_feature_graph_net(num_replicas, rank, ddp):
    dataset = _table()
    loader = TabularLoader(
        dataset,
        batch_size=8,
        shuffle=True,
        seed=3,
        drop_last=True,
        static=True,
        num_replicas=num_replicas,
        rank=rank,
    )
    torch.manual_seed(0)
    model = FeatureGraphNet(
        dataset.num_numeric, dataset.cardinalities, channels=4, heads=2, head_channels=8
    ).double()
    network = _wrap(model, ddp)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    num = dataset.num_numeric
    seen = []
    for _ in range(2):
        for x, y in loader:
            numeric, categorical = x[:, :num, 0], x[:, num:, 0].long()
            loss = torch.nn.functional.mse_loss(network(numeric, categorical).squeeze(-1), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen.append(y.clone())
    return {"state": model.state_dict(), "targets": seen}


def _row_attention_forward(num_replicas, rank, ddp):
    outs = {}
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    local = distributed.shard_indices(x, num_replicas=num_replicas, rank=rank)
    for normalize in ("batch", "sigmoid"):
        torch.manual_seed(0)
        module = RowAttention(6, normalize=normalize).double().eval()
        with torch.no_grad():
            outs[normalize] = _wrap(module, ddp)(local)
    return outs


def _train_row_attention(num_replicas, rank, ddp, normalize, norm, device="cpu"):
    r"""RowAttention → Linear, trained on shards; :obj:`norm` is ``"batch"``
    (per-shard statistics), ``"frozen"`` (running statistics) or ``"sync"``
    (SyncBatchNorm)."""
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(4, 8, 5, generator=generator, dtype=torch.float64)  # 4 batches of 8 rows
    y = torch.randn(4, 8, generator=generator, dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(RowAttention(5, normalize=normalize), torch.nn.Linear(5, 1))
    model = model.double().to(device)
    if norm == "sync" and ddp:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    network = _wrap(model, ddp)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    network.train()
    if norm == "frozen":
        model[0].attention_net[2].eval()
    for rows, target in zip(x, y):
        rows, target = (
            distributed.shard_indices(t, num_replicas=num_replicas, rank=rank).to(device)
            for t in (rows, target)
        )
        loss = torch.nn.functional.mse_loss(network(rows).squeeze(-1), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.cpu() for k, v in model.state_dict().items()}


def _every_model_steps(num_replicas, rank, ddp):
    r"""Two optimizer steps of every FeatureGraphNet layer kind and of the four
    tabular modules (DDP fails on the second step if a parameter got no
    gradient in the first)."""
    generator = torch.Generator().manual_seed(4)
    numeric = torch.randn(8, 5, generator=generator)
    numeric[0, 1] = float("nan")
    categorical = torch.randint(0, 3, (8, 1), generator=generator)
    numeric, categorical, rows = (
        distributed.shard_indices(t, num_replicas=num_replicas, rank=rank)
        for t in (numeric, categorical, numeric.nan_to_num())
    )
    models = {}
    for layer in LAYERS:
        torch.manual_seed(0)
        model = FeatureGraphNet(5, [3], 2, layer=layer, channels=4, heads=2, head_channels=4)
        models[layer] = (model, (numeric, categorical))
    modules = {
        "GraphFeatureAggregation": GraphFeatureAggregation(4, num_features=5),
        "AdvancedGraphFeatureLayer": AdvancedGraphFeatureLayer(
            5, 4, 2, hierarchical=True, num_groups=2
        ),
        "RowAttention": RowAttention(5, normalize="sigmoid"),
    }
    for name, module in modules.items():
        models[name] = (module, (rows,))
    models["GatedFeatureFusion"] = (GatedFeatureFusion(5), (rows, rows.flip(-1)))
    states = {}
    for name, (model, inputs) in models.items():
        network = _wrap(model, ddp)
        optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
        for _ in range(2):
            optimizer.zero_grad()
            network(*inputs).square().mean().backward()
            optimizer.step()
        states[name] = model.state_dict()
    return states


#: The regularisation levers, all on: an ensemble's member losses, the
#: schedule's steps and the weight average must stay in step across ranks.
LEVERS = {"ensemble_size": 2, "lr_schedule": "cosine", "ema_decay": 0.9, "label_smoothing": 0.1}


def _fit_estimator(global_seed, **params):
    generator = torch.Generator().manual_seed(5)
    X = torch.randn(60, 3, generator=generator)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).long()
    # With validation_fraction 0.15, 51 training rows: global batches of
    # 25, 25 and 1 rows, so uneven slices and an empty one.
    # random_state=None: the seed is drawn from the global generator (rank 0's).
    torch.manual_seed(global_seed)
    clf = FeatureGraphClassifier(
        channels=4, heads=2, head_channels=8, epochs=3, batch_size=25, **params
    )
    progress = io.StringIO()
    with contextlib.redirect_stderr(progress):
        clf.fit(X.numpy(), y.numpy())
    return {
        "state": clf.model_.state_dict(),
        "history": clf.history_,
        "stderr": progress.getvalue(),
    }


def _run_example():
    r"""Runs examples/ddp_train.py in this process, as torchrun would: the
    process group comes from the same environment variables. Returns what it
    printed."""
    script = ROOT / "examples" / "ddp_train.py"
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
        patch.setattr(sys, "argv", [str(script), "--epochs", "1"])
        runpy.run_path(str(script), run_name="__main__")
    return output.getvalue()


def _worker(rank, port, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
    )
    torch.set_num_threads(1)
    assert distributed.setup_distributed("gloo") == torch.device("cpu")
    try:
        assert distributed.is_distributed()
        assert (distributed.get_rank(), distributed.get_world_size()) == (rank, WORLD_SIZE)
        args = (WORLD_SIZE, rank, True)
        results = {
            "net": _train_feature_graph_net(*args),
            "row_forward": _row_attention_forward(*args),
            "every_model": _every_model_steps(*args),
            "estimator": _fit_estimator(global_seed=100 + rank),
            "levers": _fit_estimator(global_seed=100 + rank, **LEVERS),
        }
        for normalize, norm in [("sigmoid", "frozen"), ("sigmoid", "batch"), ("batch", "frozen")]:
            results[normalize, norm] = _train_row_attention(*args, normalize, norm)
        results["example"] = _run_example()  # last: it leaves the process group
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        distributed.cleanup_distributed()


class WorkerFailure(AssertionError):
    r"""A spawned worker raised, crashed or hung; the message holds its traceback."""

    def __init__(self, message, pids):
        super().__init__(message)
        self.pids = pids


def _stacks_file(out_dir, rank):
    return Path(out_dir) / f"rank{rank}.stacks"


def _watched(rank, worker_name, port, out_dir, timeout):
    r"""Entry point of each spawned process: runs the named worker under a
    watchdog that, after :obj:`timeout` seconds, writes every thread's stack
    to ``rank{r}.stacks`` and exits the process."""
    with open(_stacks_file(out_dir, rank), "w") as stacks:
        # A C thread: it fires even while the worker waits on a lock or in a
        # collective that will never complete.
        faulthandler.dump_traceback_later(timeout, exit=True, file=stacks)
        faulthandler.enable(file=stacks)  # crashes (segfaults) leave their stacks too
        try:
            globals()[worker_name](rank, port, out_dir)
        finally:
            faulthandler.cancel_dump_traceback_later()
            faulthandler.disable()


def _reported_stacks(out_dir):
    reports = []
    for rank in range(WORLD_SIZE):
        path = _stacks_file(out_dir, rank)
        text = path.read_text().strip() if path.exists() else ""
        if text:
            reports.append(
                f"--- rank {rank}, stacks written by its watchdog or crash handler:\n{text}"
            )
    return "\n".join(reports)


def _spawn(worker, tmp_path, timeout=WORKER_TIMEOUT_S, grace=STARTUP_GRACE_S):
    r"""Runs :obj:`worker` on :data:`WORLD_SIZE` spawned processes and returns
    what each saved; raises :class:`WorkerFailure` with the worker's traceback
    when one raises, crashes or runs past :obj:`timeout`. No worker outlives
    the call."""
    # The spawned processes unpickle the worker by module name, and pytest's
    # name for this file ("tests.test_distributed") may be taken by another
    # "tests" package: hand them this file as the top-level "test_distributed".
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).parent))
        module = importlib.import_module(Path(__file__).stem)
        context = mp.start_processes(
            module._watched,
            args=(worker.__name__, _free_port(), str(tmp_path), timeout),
            nprocs=WORLD_SIZE,
            join=False,
            start_method="spawn",
        )
    pids = [process.pid for process in context.processes]
    deadline = time.monotonic() + timeout + grace
    try:
        # join() returns True once all exited cleanly; on the first failure it
        # stops the other workers and raises with the failed one's traceback.
        while not context.join(timeout=1.0, grace_period=5.0):
            if time.monotonic() > deadline:
                raise WorkerFailure(
                    f"{worker.__name__} still running {timeout + grace} s after the spawn, "
                    f"its watchdog silent; killed its processes {pids}\n"
                    + _reported_stacks(tmp_path),
                    pids,
                )
    except ProcessException as error:
        raise WorkerFailure(
            f"{worker.__name__} failed on rank {error.error_index}: {error}\n"
            + _reported_stacks(tmp_path),
            pids,
        ) from error
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=30)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD_SIZE)]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    return _spawn(_worker, tmp_path_factory.mktemp("ddp"))


def _assert_states(states, other, equal):
    assert states.keys() == other.keys()
    for key in states:
        if equal == "exact" and "running_" in key:
            # DDP copies rank 0's buffers at the start of each forward; after
            # the last step each rank holds its own update of the statistics.
            continue
        if equal == "exact":
            assert torch.equal(states[key], other[key]), key
        else:
            assert torch.allclose(states[key], other[key], rtol=1e-10, atol=1e-10), key


def _differ(states, other):
    return any(
        not torch.allclose(states[k], other[k], rtol=1e-6, atol=1e-8)
        for k in states
        if states[k].is_floating_point()
    )


# ---------------------------------------------------------------- tests


@pytest.mark.slow
def test_ddp_feature_graph_net_equals_one_process_on_the_global_batches(ranks):
    first, second = (result["net"] for result in ranks)
    _assert_states(first["state"], second["state"], "exact")
    reference = _train_feature_graph_net(1, 0, False)
    _assert_states(first["state"], reference["state"], "close")
    # The two ranks hold disjoint halves of each global batch, in order.
    assert len(first["targets"]) == len(reference["targets"]) == 12
    for a, b, whole in zip(first["targets"], second["targets"], reference["targets"]):
        assert a.numel() == b.numel() == 4
        assert torch.equal(torch.cat([a, b]), whole)


@pytest.mark.slow
def test_every_model_and_tabular_module_trains_under_ddp(ranks):
    first, second = (result["every_model"] for result in ranks)
    assert set(first) == {
        *LAYERS,
        "GraphFeatureAggregation",
        "AdvancedGraphFeatureLayer",
        "RowAttention",
        "GatedFeatureFusion",
    }
    for name in first:
        _assert_states(first[name], second[name], "exact")


@pytest.mark.slow
def test_row_attention_sigmoid_is_batch_independent_but_batch_softmax_is_not(ranks):
    # Forward (evaluation mode): the ranks' outputs, put together, against
    # one process on the global batch.
    reference = _row_attention_forward(1, 0, False)
    for normalize in ("batch", "sigmoid"):
        joined = torch.cat([result["row_forward"][normalize] for result in ranks])
        close = torch.allclose(joined, reference[normalize], rtol=1e-12, atol=1e-12)
        # The documented limitation: the softmax runs over each rank's slice.
        assert close == (normalize == "sigmoid"), normalize

    # Training: with batch normalisation on running statistics, "sigmoid"
    # trains as one process does; "batch" does not, and neither does
    # batch normalisation on each slice's statistics.
    for normalize, norm in [("sigmoid", "frozen"), ("sigmoid", "batch"), ("batch", "frozen")]:
        first, second = (result[normalize, norm] for result in ranks)
        _assert_states(first, second, "exact")
        single = _train_row_attention(1, 0, False, normalize, norm)
        if (normalize, norm) == ("sigmoid", "frozen"):
            _assert_states(first, single, "close")
        else:
            assert _differ(first, single), (normalize, norm)


@pytest.mark.slow
@pytest.mark.parametrize("fit", ["estimator", "levers"])
def test_estimator_fit_under_ddp_matches_one_process(ranks, fit):
    first, second = (result[fit] for result in ranks)
    _assert_states(first["state"], second["state"], "exact")
    assert first["history"] == second["history"]
    assert "FeatureGraphClassifier" in first["stderr"]  # the progress bar: rank 0 only
    assert "FeatureGraphClassifier" not in second["stderr"]
    reference = _fit_estimator(global_seed=100, **(LEVERS if fit == "levers" else {}))
    assert len(first["history"]) == len(reference["history"]) == 3
    for key, value in reference["state"].items():
        assert torch.allclose(first["state"][key], value, rtol=1e-5, atol=1e-6), key
    for record, expected in zip(first["history"], reference["history"]):
        assert record.keys() == expected.keys()
        assert np.allclose(list(record.values()), list(expected.values()), rtol=1e-6)


def _sync_worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = torch.device("cuda", rank)
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", rank=rank, world_size=WORLD_SIZE)
    try:
        state = _train_row_attention(WORLD_SIZE, rank, True, "sigmoid", "sync", device)
        torch.save(state, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.skipif(
    torch.cuda.device_count() < WORLD_SIZE or not dist.is_nccl_available(),
    reason="torch's SyncBatchNorm runs on GPUs only (here: one per rank, nccl)",
)
def test_sync_batchnorm_restores_equality(tmp_path):
    first, second = _spawn(_sync_worker, tmp_path)
    _assert_states(first, second, "exact")
    single = _train_row_attention(1, 0, False, "sigmoid", "batch")
    _assert_states(first, single, "close")


@pytest.mark.slow
def test_ddp_example_trains_on_two_processes(ranks):
    # tests/test_examples.py leaves scripts that need torchrun to this file.
    first, second = (result["example"] for result in ranks)
    assert "epoch  0: train loss" in first
    assert "test accuracy" in first and "2 process(es)" in first
    assert second == ""  # only rank 0 prints


def test_shard_indices_cuts_a_batch_into_disjoint_slices():
    batch = torch.arange(11)
    pieces = [distributed.shard_indices(batch, num_replicas=4, rank=r) for r in range(4)]
    assert [p.numel() for p in pieces] == [3, 3, 3, 2]
    assert torch.equal(torch.cat(pieces), batch)
    assert distributed.shard_indices(torch.arange(1), num_replicas=2, rank=1).numel() == 0
    # Without a process group: one replica, everything.
    assert not distributed.is_distributed()
    assert (distributed.get_rank(), distributed.get_world_size()) == (0, 1)
    assert distributed.shard_indices(batch) is batch
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        distributed.shard_indices(batch, num_replicas=0, rank=0)
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 2\) \(got 2\)"):
        distributed.shard_indices(batch, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="index must be a tensor"):
        distributed.shard_indices(torch.tensor(3), num_replicas=2, rank=0)


def test_setup_distributed_is_a_no_op_outside_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.setup_distributed() == torch.device("cpu")
    assert not distributed.is_distributed()
    distributed.cleanup_distributed()  # nothing to leave
    with pytest.raises(ValueError, match="backend must be a str"):
        distributed.setup_distributed(backend=1)


def test_sharded_loader_yields_each_rank_its_slice_of_the_same_batches():
    dataset = _table(num_rows=21)
    kwargs = {"batch_size": 6, "shuffle": True, "seed": 5, "static": True}
    whole = [y for _, y in TabularLoader(dataset, **kwargs)]
    shards = [
        [y for _, y in TabularLoader(dataset, num_replicas=2, rank=r, **kwargs)] for r in (0, 1)
    ]
    assert len(whole) == len(shards[0]) == len(shards[1]) == 4
    for y, first, second in zip(whole, *shards):
        assert torch.equal(torch.cat([first, second]), y)
    loader = TabularLoader(dataset, num_replicas=2, rank=1, batch_size=6)
    assert len(loader) == 4
    assert repr(loader).endswith("shuffle=False, num_replicas=2, rank=1)")
    with pytest.raises(ValueError, match="seed is required"):
        TabularLoader(dataset, shuffle=True, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="rank must be an int"):
        TabularLoader(dataset, num_replicas=2, rank=-1)


# ---------------------------------------------------------------- the watchdog


def _wait_for_peer(lock):
    lock.acquire()  # never released: the peer that would release it is gone


def _hung_worker(rank, port, out_dir):
    # Rank 0 finishes at once; rank 1 then waits for it forever, as a worker
    # blocked in a collective whose peer has exited.
    if rank == 1:
        lock = threading.Lock()
        lock.acquire()
        _wait_for_peer(lock)


def _unwatched_hung_worker(rank, port, out_dir):
    faulthandler.cancel_dump_traceback_later()  # only the parent's deadline is left
    _hung_worker(rank, port, out_dir)


def _failing_worker(rank, port, out_dir):
    if rank == 1:
        raise RuntimeError("worker 1 broke")
    time.sleep(600)  # its peer's failure must stop it


def _assert_workers_gone(pids):
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow  # two spawned interpreters importing torch
def test_a_hung_worker_fails_the_test_with_its_stack(tmp_path):
    with pytest.raises(WorkerFailure) as info:
        _spawn(_hung_worker, tmp_path, timeout=3)
    message = str(info.value)
    assert "_hung_worker failed on rank 1" in message and "exit code 1" in message
    stacks = message.split("--- rank 1, stacks written by its watchdog or crash handler:")[1]
    assert "_wait_for_peer" in stacks and "_hung_worker" in stacks
    _assert_workers_gone(info.value.pids)


@pytest.mark.slow  # two spawned interpreters importing torch
def test_a_failing_worker_stops_its_peer_and_reports_its_traceback(tmp_path):
    with pytest.raises(WorkerFailure, match="(?s)failed on rank 1.*RuntimeError: worker 1 broke"):
        _spawn(_failing_worker, tmp_path, timeout=600)
    # The peer, asleep for 600 s, was stopped rather than waited for.


@pytest.mark.slow
def test_the_parent_kills_workers_whose_watchdog_is_silent(tmp_path):
    with pytest.raises(WorkerFailure, match="still running 21 s after the spawn") as info:
        _spawn(_unwatched_hung_worker, tmp_path, timeout=1, grace=20)
    _assert_workers_gone(info.value.pids)
