r"""What FeatureGraphNet's efficient ensemble costs per training step.

``FeatureGraphNet(ensemble_size=k)`` shares the encoder, the attention layers,
the readout and the head's hidden layer among its :math:`k` members; each
member adds a channel scaling and an output layer (TabM-mini on the head).
This script times one training step of the ensemble against the same network
without one, on the same rows, for :math:`k = 8` and :math:`k = 32`, and
prints the step-time multipliers; the design's budget is 4x at :math:`k = 32`.

The network is the estimators' (32 channels, 2 ``"feature-gat"`` layers of 4
heads, piecewise-linear numeric embeddings on bins of the batch, a
``"flatten"`` readout and a 64-wide head). One step is the forward pass, the
training loss (:func:`~pyg_tabular.training.member_loss`: the mean of the
members' losses) and its backward pass. Workloads:

* ``w1``: the W1 shape of the module benchmarks, 1,024 rows of 32 numeric
  features (binary target);
* ``adult``: one batch of the estimators on Adult: 256 rows of 6 numeric and
  8 categorical columns with Adult's cardinalities.

Timing is ``benchmarks/_results.py``'s: the single network and the ensembles
are timed in interleaved rounds of ``torch.utils.benchmark.Timer``, each ratio
taken within a round and reported as its median and range over the rounds.

Run::

    python benchmarks/ensemble.py            # full size
    python benchmarks/ensemble.py --small    # CI size

``--results PATH`` also writes every printed figure to a JSON file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from _results import Recorder, add_arguments, fmt_ms, fmt_ratio, interleaved, print_table, timing_of

from pyg_tabular.nn.models import FeatureGraphNet, fit_bins
from pyg_tabular.training import member_loss

#: Members of the ensembles timed against the single network.
ENSEMBLE_SIZES = (8, 32)
#: Adult's categorical columns (workclass ... native-country), with the code 0 of unknowns.
ADULT_CARDINALITIES = (10, 17, 8, 16, 7, 6, 3, 43)
#: The estimators' network.
NETWORK: dict[str, Any] = {
    "channels": 32,
    "num_layers": 2,
    "heads": 4,
    "head_channels": 64,
    "numeric_embedding": "piecewise-linear",
}
STEP = "forward, member_loss and backward"


def _workloads(small: bool) -> dict[str, dict[str, Any]]:
    if small:
        return {
            "w1": {"rows": 64, "numeric": 8, "cardinalities": ()},
            "adult": {"rows": 32, "numeric": 6, "cardinalities": ADULT_CARDINALITIES},
        }
    return {
        "w1": {"rows": 1024, "numeric": 32, "cardinalities": ()},
        "adult": {"rows": 256, "numeric": 6, "cardinalities": ADULT_CARDINALITIES},
    }


def _step(workload: dict[str, Any], ensemble_size: int | None) -> Callable[[], None]:
    generator = torch.Generator().manual_seed(0)
    rows, cardinalities = workload["rows"], list(workload["cardinalities"])
    numeric = torch.randn(rows, workload["numeric"], generator=generator)
    categorical = (
        torch.stack(
            [torch.randint(0, c, (rows,), generator=generator) for c in cardinalities], dim=1
        )
        if cardinalities
        else torch.zeros(rows, 0, dtype=torch.long)
    )
    target = torch.randint(0, 2, (rows,), generator=generator)
    torch.manual_seed(0)
    model = FeatureGraphNet(
        workload["numeric"],
        cardinalities,
        1,
        bins=fit_bins(numeric),
        ensemble_size=ensemble_size,
        **NETWORK,
    ).train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(numeric, categorical)
        member_loss(out, target, "binary", ensemble_size).backward()

    return step


def _subjects() -> dict[str, dict[str, Any]]:
    names = {"single": None, **{f"k={k}": k for k in ENSEMBLE_SIZES}}
    return {
        name: {"model": "FeatureGraphNet", "ensemble_size": k, "step": STEP, **NETWORK}
        for name, k in names.items()
    }


def run(workload_name: str, workload: dict[str, Any], args: argparse.Namespace) -> None:
    steps = {"single": _step(workload, None)}
    steps.update({f"k={k}": _step(workload, k) for k in ENSEMBLE_SIZES})
    ratios = [(f"k={k}", "single") for k in ENSEMBLE_SIZES]
    sizes = {
        "B": workload["rows"],
        "F_num": workload["numeric"],
        "F_cat": len(workload["cardinalities"]),
    }
    with args.recorder.table(workload_name, _subjects()) as table:
        group = table.add_timed(sizes, interleaved(steps, **args.timing), ratios)
    rows = [
        [name, fmt_ms(group["ms"][name]), fmt_ratio(group["ratios"].get(f"{name}/single"))]
        for name in steps
    ]
    title = (
        f"{workload_name}: B={sizes['B']}, {sizes['F_num']} numeric + {sizes['F_cat']} "
        "categorical features"
    )
    print_table(title, ["network", "ms / step (range)", "vs single (range)"], rows)
    worst = group["ratios"][f"k={max(ENSEMBLE_SIZES)}/single"]["median"]
    print(f"k={max(ENSEMBLE_SIZES)} costs {worst:.2f}x one network's step (budget: 4x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    add_arguments(parser)
    args = parser.parse_args()
    args.timing = timing_of(parser, args)
    workloads = _workloads(args.small)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.pairs} interleaved pairs")
    args.recorder = Recorder(
        "ensemble.py",
        {
            "small": args.small,
            "ensemble_sizes": list(ENSEMBLE_SIZES),
            "network": NETWORK,
            "workloads": {
                k: {**w, "cardinalities": list(w["cardinalities"])} for k, w in workloads.items()
            },
        },
        args.timing,
        settle=args.settle,
    )
    args.recorder.keep_on_terminate(args.results)
    for name, workload in workloads.items():
        run(name, workload, args)
    args.recorder.write(args.results)


if __name__ == "__main__":
    main()
