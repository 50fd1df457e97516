"""Writes what a benchmark printed to a JSON results file (``--results PATH``).

The docs render their tables and summary figures from these files
(``scripts/render_docs.py``), so every row a script prints is recorded here
together with what produced it: the command, the configuration, the library
versions, the thread count and the CPU model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        metavar="PATH",
        help="also write every printed row, the configuration and the environment to this JSON",
    )


def _cpu_model() -> str:
    # /proc/cpuinfo names the model on Linux; platform.processor() is often empty there.
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except Exception:  # an optional peer that is absent or fails to import
        return None


def environment() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "torch_geometric": _version("torch_geometric"),
        "torch_scatter": _version("torch_scatter"),
        "python": platform.python_version(),
        # Peers that only some runs import (the Keras ones): recorded when loaded.
        **{name: _version(name) for name in ("keras", "kerasfactory") if name in sys.modules},
        "threads": torch.get_num_threads(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _command(script: str) -> str:
    # The command as a reader would type it; the results path is where this
    # copy went, not part of what was measured.
    args: list[str] = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--results":
            skip = True
            continue
        if arg.startswith("--results="):
            continue
        args.append(arg)
    return " ".join(["python", f"benchmarks/{script}", *args])


class Recorder:
    """Collects a benchmark's rows, table by table, and writes them as JSON."""

    def __init__(self, script: str, config: dict[str, Any]) -> None:
        self.script = script
        self.config = config
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.start = time.perf_counter()

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)

    def keep_on_terminate(self, path: str | None) -> None:
        """On SIGTERM (``timeout``, a scheduler), writes the rows finished so far."""
        if not path:
            return

        def handler(signum: int, frame: Any) -> None:
            self.write(path, interrupted=True)
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, handler)

    def write(self, path: str | None, interrupted: bool = False) -> None:
        if not path:
            return
        payload = {
            "benchmark": Path(self.script).stem,
            "command": _command(self.script),
            "config": self.config,
            "environment": environment(),
            "wall_seconds": round(time.perf_counter() - self.start, 1),
            "interrupted": interrupted,
            "tables": self.tables,
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
        target.write_text(text, encoding="utf-8")
        print(f"\nresults written to {target}")


def clean(value: float | None) -> float | None:
    """A float as JSON can hold it: NaN (a failed measurement) becomes null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)
