"""Reading the benchmark results files and writing their figures.

A results file (``docs/results/benchmarks/NAME.json``) is what
``benchmarks/NAME.py --results`` writes (``benchmarks/_results.py``, schema 2):
tables of groups, each group one configuration timed in interleaved pairs,
every time and ratio a spread over the pairs. A file in the older layout (one
median per figure, no spread) is not rendered: its regions say so and give the
command that replaces it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .registry import MissingResults, region
from .text import mib, ratio

SCHEMA = 2
BENCHMARKS = "benchmarks"

#: The full-size command of each benchmark, as the docs print it.
COMMANDS = {
    "converter": "python benchmarks/converter.py",
    "convs": "python benchmarks/convs.py",
    "modules": "KERAS_BACKEND=torch python benchmarks/modules.py",
    "scaling": "python benchmarks/scaling.py",
    "ensemble": "python benchmarks/ensemble.py",
    "relation_graph": "python benchmarks/relation_graph.py",
}


def rerun_command(name: str) -> str:
    return f"{COMMANDS[name]} --results docs/results/{BENCHMARKS}/{name}.json"


class Withheld(Exception):
    """A results file in a layout this renderer does not draw figures from."""


Spread = dict[str, Any]


class BenchTable:
    """One table of a results file: its load, subjects and groups."""

    def __init__(self, name: str, record: dict[str, Any]) -> None:
        self.name = name
        self.record = record
        self.groups: list[dict[str, Any]] = record["groups"]
        self.noisy: bool = record["noisy"]
        self.threads: int = record["threads"]

    def group(self, **sizes: Any) -> dict[str, Any] | None:
        """The first group whose sizes include :obj:`sizes`."""
        return next(
            (g for g in self.groups if all(g["sizes"].get(k) == v for k, v in sizes.items())),
            None,
        )

    def timed(self) -> list[dict[str, Any]]:
        return [g for g in self.groups if "ms" in g]

    def load_text(self) -> str:
        """How loaded the machine was while this table was measured."""
        before, after = self.record["load_before"], self.record["load_after"]
        cores = self.record["cpu_count"]
        if before["others"] is None:
            return "Load average not available on this system."
        others = max(before["others"], after["others"])
        seen = (
            f"the load from other processes reached {others:.1f} on {cores} cores (1-minute "
            f"load average {before['load_average'][0]:.1f} before, "
            f"{after['load_average'][0]:.1f} after, this process's own use taken out)"
        )
        if self.noisy:
            text = (
                f"**Noisy**: measured while {seen}, above half the cores. Figures only: no "
                "verdict is drawn from this table."
            )
        else:
            text = f"Quiet: {seen}."
        flagged = sum(sum(g.get("timer_warnings", {}).values()) for g in self.groups)
        if flagged:
            total = sum(s["n"] for g in self.timed() for s in g["ms"].values())
            text += (
                f" `Timer` flagged {flagged} of its {total} measurements for an interquartile "
                "range above 10% of their median."
            )
        return text


class Bench:
    """A results file of ``benchmarks/NAME.py``."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data
        self.config: dict[str, Any] = data["config"]

    def table(self, name: str) -> BenchTable | None:
        record = self.data["tables"].get(name)
        return BenchTable(name, record) if record is not None else None

    def provenance(self) -> str:
        """The command, the machine and the timing a results file came from."""
        env, timing = self.data["environment"], self.data["timing"]
        versions = [f"torch {env['torch']}"]
        if env.get("torch_geometric"):
            versions.append(f"torch_geometric {env['torch_geometric']}")
        for extra in ("torch_scatter", "keras", "kerasfactory"):
            if env.get(extra):
                versions.append(f"{extra} {env[extra]}")
        seconds = self.data["wall_seconds"]
        took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
        threads = timing["threads"]
        text = (
            f"Command: `{self.data['command']}` ({took} on {env['cpu_count']} cores of "
            f"{env['cpu_model']}; {', '.join(versions)}; {threads} "
            f"thread{'s' if threads != 1 else ''}). Each figure is the median over "
            f"{timing['pairs']} interleaved rounds (`torch.utils.benchmark.Timer."
            f"blocked_autorange`, ≥ {timing['min_run_time']:g} s per measurement), with its "
            "range (min–max) over the rounds; a ratio is taken within each round."
        )
        if self.config.get("small"):
            text += " **CI size** (`--small`): not the sizes the targets are stated at."
        if self.data.get("interrupted"):
            text += (
                f" **Partial run**: stopped after {took}; only the configurations it "
                "finished are shown."
            )
        return text


def load_bench(results: Path, name: str) -> Bench:
    relative = f"{BENCHMARKS}/{name}.json"
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA:
        load = (data.get("environment") or {}).get("load_average")
        cores = (data.get("environment") or {}).get("cpu_count")
        when = (
            f"; its run ended at a load average of {load[0]:.1f} on {cores} cores"
            if load and cores
            else ""
        )
        raise Withheld(
            f"**Withheld**: `{relative}` was written before the benchmarks timed interleaved "
            f"pairs (one median per figure, no spread{when}), so its figures are not shown. "
            f"Rerun `{rerun_command(name)}` on a quiet machine, then "
            "`python scripts/render_docs.py`."
        )
    return Bench(name, data)


def not_measured(name: str) -> str:
    """What a region says of a benchmark that has not been run yet."""
    return f"Not measured yet: run `{rerun_command(name)}` on a quiet machine."


def bench_region(
    name: str, benchmark: str, *, first: bool = True, optional: bool = False
) -> Callable[[Callable[[Bench], str]], Callable[[Path], str]]:
    """Registers a region drawn from ``benchmarks/<benchmark>.json``; a file in
    an older layout renders as the notice that withholds it (in full in the
    :obj:`first` region of its page section, in a line in the others). A
    missing file fails the check, unless the benchmark is :obj:`optional`:
    its region then gives the command that measures it."""

    def register(function: Callable[[Bench], str]) -> Callable[[Path], str]:
        @functools.wraps(function)
        def render(results: Path) -> str:
            try:
                bench = load_bench(results, benchmark)
            except MissingResults:
                if optional:
                    return not_measured(benchmark)
                raise
            except Withheld as notice:
                if first:
                    return str(notice)
                return f"Withheld with the figures above (`{BENCHMARKS}/{benchmark}.json`)."
            return function(bench)

        return region(name)(render)

    return register


# --------------------------------------------------------------------------- #
# Figures with their spread
# --------------------------------------------------------------------------- #


def _short(value: float, fmt: Callable[[float | None], str]) -> str:
    return fmt(value).removesuffix("×")


def ms_spread(s: Spread | None) -> str:
    """``"5.68 (5.61–5.80)"``: the median ms and its range over the rounds."""
    from .text import ms

    if s is None:
        return "–"
    return f"{ms(s['median'])} ({_short(s['min'], ms)}–{_short(s['max'], ms)})"


def ratio_spread(s: Spread | None) -> str:
    """``"38.5× (36.1–40.2)"``: the median ratio and its range over the rounds."""
    if s is None:
        return "–"
    return f"{ratio(s['median'])} ({_short(s['min'], ratio)}–{_short(s['max'], ratio)})"


def mb_pair(peak: float | None, added: float | None = None) -> str:
    if peak is None:
        return "–"
    return mib(peak) + (f" (+{mib(added)})" if added is not None else "")


def judged(
    table: BenchTable,
    spreads: Sequence[Spread | None] | Spread | None,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> str:
    """The verdict on a ratio target (``≥ at_least`` or ``≤ at_most``) over one
    or several configurations' spreads.

    **met** when every round of every configuration meets it, **missed** when
    some configuration misses it in every round, **unsettled** otherwise; a
    noisy table is not judged.
    """
    if table.noisy:
        return "not judged (noisy)"
    items = [spreads] if isinstance(spreads, dict) or spreads is None else list(spreads)
    if not items or any(s is None for s in items):
        return "not measured"
    if at_least is not None:
        met = all(s["min"] >= at_least for s in items)  # type: ignore[index]
        missed = any(s["max"] < at_least for s in items)  # type: ignore[index]
    else:
        assert at_most is not None
        met = all(s["max"] <= at_most for s in items)  # type: ignore[index]
        missed = any(s["min"] > at_most for s in items)  # type: ignore[index]
    if met:
        return "**met**"
    if missed:
        return "**missed**"
    return "**unsettled** (the range straddles the target)"


def medians(spreads: Iterable[Spread]) -> list[float]:
    return [s["median"] for s in spreads]


@region("bench-commands")
def bench_commands(results: Path) -> str:
    """The full-size command of every benchmark, then the render."""
    lines = [rerun_command(name) for name in COMMANDS]
    return "```bash\n" + "\n".join([*lines, "python scripts/render_docs.py"]) + "\n```"
