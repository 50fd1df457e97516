"""What every script in ``benchmarks/`` shares: paired timing and the results file.

Timing
------
:func:`interleaved` times several callables side by side in one process with
``torch.utils.benchmark.Timer.blocked_autorange`` (the timer picks how many
calls make one measurement and keeps their median; its thread control sets
``torch`` threads for the measurement). It runs in rounds: every round
measures each callable once, alternating direction (``A B``, then ``B A``) so
that a drift in the machine's speed favours neither. A ratio is taken within
each round, so one round is one A/B pair, and the load a shared machine puts on
that round hits both sides alike. ::

    timings = interleaved({"ours": ours_step, "peer": peer_step}, pairs=7, threads=2)
    timings.ms("ours")              # Spread of the per-round medians, in ms
    timings.ratio("peer", "ours")   # Spread of the per-round peer / ours ratios

:func:`paired_ratio` is the two-callable form, returning plain dicts.

A :data:`Spread` is the median over the pairs with its quartiles, min, max and
the per-pair values themselves, so that any other ratio of the same rounds can
be recomputed from the results file.

Results file (``--results PATH``)
---------------------------------
A :class:`Recorder` holds the tables of one run. Each table is measured inside
``with recorder.table(name, subjects=...) as table:``, which records the load
average before and after it (:func:`load_state`) and marks it ``noisy`` when
the load that other processes put on the machine exceeded half its cores: a
noisy table gives figures but no verdict. The file's ``load`` summarises them:
the highest load of other processes over the run and the noisy tables. (A raw
load average read at the end would count the benchmark's own threads.)
``table.add_timed(sizes, timings,
ratios=[(a, b), ...])`` adds one configuration (a "group"): the times of every
subject, the ratios asked for, the timer's warnings. Each subject is described
by what identifies it across tables (``{"module": ..., "backend": ...}``);
together with a group's sizes and the threads, that description is the key
under which ``scripts/render_docs.py --check`` compares the same configuration
wherever it appears, and checks that a subject's time does not fall as one of
its ``grows_with`` sizes grows.

Peak memory
-----------
:func:`peaks_mb` runs each case in a fresh interpreter (the script again, with
``--worker NAME --shape ...``, the arguments of :func:`add_memory_arguments`),
where :func:`memory_worker` builds it, resets the peak RSS and prints how far
two steps raise it: the imports, the inputs and the other cases of the parent
do not count. ::

    add_memory_arguments(parser, shape_size=2)
    ...
    if args.worker:  # in main(), before anything else
        memory_worker(lambda: CASES[args.worker](*args.shape), args.threads)
        return
    ...
    if args.memory:  # where a configuration is measured
        peaks = peaks_mb(__file__, names, shape, args.threads, where=f"F={features}")
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch.utils.benchmark import Timer

#: Version of the results-file layout; ``scripts/render_docs.py`` reads this one.
SCHEMA = 2
#: The fewest A/B pairs a ratio may rest on.
MIN_PAIRS = 7
#: Seconds per measurement (``blocked_autorange``), full size and ``--small``.
MIN_RUN_TIME = 0.2
SMALL_MIN_RUN_TIME = 0.02
#: At most this long, before each table of a full-size run, the recorder waits
#: for other processes' load to fall (``--settle``).
SETTLE_SECONDS = 90.0
#: The share of the cores that other processes' load must fall to before a
#: table starts: half the margin that marks a table noisy, so that a table
#: starts well clear of the line rather than on it.
SETTLE_TO = 0.25
#: Above this share of the cores, other processes' load marks a table noisy.
NOISY_ABOVE = 0.5
#: The step the module and layer benchmarks time, named in each subject.
STEP = "forward + backward of out.sum()"


class Spread(TypedDict):
    """The median of per-pair values, their quartiles and range, and the values."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int
    values: list[float]


def spread(values: Iterable[float]) -> Spread:
    """The :data:`Spread` of :obj:`values` (at least one)."""
    data = [float(v) for v in values]
    if not data:
        raise ValueError("spread needs at least one value (got none)")
    if len(data) == 1:
        q1 = q3 = data[0]
    else:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    return Spread(
        median=statistics.median(data),
        q1=q1,
        q3=q3,
        min=min(data),
        max=max(data),
        n=len(data),
        values=data,
    )


class Timings:
    """Per-round medians (seconds) of callables timed by :func:`interleaved`."""

    def __init__(self, seconds: dict[str, list[float]], warnings: dict[str, int]) -> None:
        self.seconds = seconds
        self.warnings = warnings

    def __contains__(self, name: str) -> bool:
        return name in self.seconds

    def ms(self, name: str) -> Spread:
        return spread(1e3 * s for s in self.seconds[name])

    def ratio(self, numerator: str, denominator: str) -> Spread:
        """Per-round time of :obj:`numerator` over time of :obj:`denominator`:
        above 1, the denominator is faster."""
        pairs = zip(self.seconds[numerator], self.seconds[denominator], strict=True)
        return spread(a / b for a, b in pairs)


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    *,
    pairs: int = MIN_PAIRS,
    threads: int = 2,
    min_run_time: float = MIN_RUN_TIME,
) -> Timings:
    """Times :obj:`fns` side by side: :obj:`pairs` rounds, each measuring every
    callable once with ``Timer.blocked_autorange(min_run_time)`` on
    :obj:`threads` threads, in alternating direction.

    Each callable runs once first (lazy builds, caches). Returns the per-round
    medians and, per callable, how many rounds the timer flagged for a high
    interquartile range within the measurement.
    """
    if pairs < MIN_PAIRS:
        raise ValueError(f"pairs must be at least {MIN_PAIRS} (got {pairs})")
    if threads < 1:
        raise ValueError(f"threads must be positive (got {threads})")
    torch.set_num_threads(threads)
    for fn in fns.values():
        fn()
    timers = {
        name: Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, sub_label=name)
        for name, fn in fns.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    warnings = dict.fromkeys(fns, 0)
    names = list(fns)
    for round_ in range(pairs):
        for name in names if round_ % 2 == 0 else reversed(names):
            measurement = timers[name].blocked_autorange(min_run_time=min_run_time)
            seconds[name].append(measurement.median)
            warnings[name] += bool(measurement.has_warnings)
    return Timings(seconds, warnings)


def paired_ratio(
    a_fn: Callable[[], object],
    b_fn: Callable[[], object],
    *,
    pairs: int = MIN_PAIRS,
    threads: int = 2,
    min_run_time: float = MIN_RUN_TIME,
) -> dict[str, Any]:
    """Times :obj:`a_fn` against :obj:`b_fn` in :obj:`pairs` interleaved pairs.

    Returns ``{"a_ms": Spread, "b_ms": Spread, "b_over_a": Spread, "pairs",
    "threads", "timer_warnings"}``; ``b_over_a`` above 1 means ``a`` is faster.
    """
    timings = interleaved(
        {"a": a_fn, "b": b_fn}, pairs=pairs, threads=threads, min_run_time=min_run_time
    )
    return {
        "a_ms": timings.ms("a"),
        "b_ms": timings.ms("b"),
        "b_over_a": timings.ratio("b", "a"),
        "pairs": pairs,
        "threads": threads,
        "timer_warnings": timings.warnings,
    }


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--results``, ``--threads``, ``--pairs``, ``--min-run-time`` and ``--settle``."""
    parser.add_argument(
        "--results",
        metavar="PATH",
        help="also write every printed figure, the configuration and the environment to this JSON",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument(
        "--pairs",
        type=int,
        default=MIN_PAIRS,
        help=f"interleaved rounds; each ratio is a median over them (at least {MIN_PAIRS})",
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        help=f"seconds per measurement, Timer.blocked_autorange (default: {MIN_RUN_TIME}, "
        f"{SMALL_MIN_RUN_TIME} with --small)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="before each table, wait at most this long for other processes' load to fall to "
        f"{SETTLE_TO:g} of the cores (default: {SETTLE_SECONDS:g}, 0 with --small)",
    )


def add_memory_arguments(parser: argparse.ArgumentParser, shape_size: int) -> None:
    """``--memory``/``--no-memory`` (default: on, off with ``--small``), and the
    hidden ``--worker NAME --shape N...`` (:obj:`shape_size` integers) by which
    :func:`peaks_mb` runs one case in a fresh process."""
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure peak memory in a subprocess per case (default: on, off with --small)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=shape_size, help=argparse.SUPPRESS)


def timing_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`interleaved` that the command line set
    (checked: a bad value exits with the parser's error). Also settles
    ``--memory`` where the script has it and ``--settle``, when not given."""
    if args.pairs < MIN_PAIRS:
        parser.error(f"--pairs must be at least {MIN_PAIRS} (got {args.pairs})")
    if args.threads < 1:
        parser.error(f"--threads must be positive (got {args.threads})")
    if args.min_run_time is None:
        args.min_run_time = SMALL_MIN_RUN_TIME if getattr(args, "small", False) else MIN_RUN_TIME
    if not args.min_run_time > 0:
        parser.error(f"--min-run-time must be positive (got {args.min_run_time})")
    if getattr(args, "memory", False) is None:
        args.memory = not getattr(args, "small", False)
    if args.settle is None:
        args.settle = 0.0 if getattr(args, "small", False) else SETTLE_SECONDS
    if not args.settle >= 0:
        parser.error(f"--settle must be zero or positive (got {args.settle})")
    return {"pairs": args.pairs, "threads": args.threads, "min_run_time": args.min_run_time}


# --------------------------------------------------------------------------- #
# Environment and load
# --------------------------------------------------------------------------- #


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


def cores() -> int:
    """The CPUs this process may run on (the machine's, where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        "cpu_count": cores(),
    }


def _cpu_seconds() -> float:
    # This process's threads and its finished children (the memory subprocesses).
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _OwnUse:
    """This process's own CPU use, for subtracting it from the load average.

    The 1-minute load average counts this benchmark's own threads; the load
    that other processes put on the machine is estimated as the load average
    minus the CPUs this process used on average over about the last minute.
    Threads that wait for a CPU count in the load but not in the CPU time, so
    under contention the estimate errs towards "noisy".
    """

    def __init__(self) -> None:
        self.marks = [(time.monotonic(), _cpu_seconds())]

    def now(self) -> float:
        wall, cpu = time.monotonic(), _cpu_seconds()
        self.marks.append((wall, cpu))
        # The oldest mark within the last minute or, if none is that old, the first.
        since = next((m for m in reversed(self.marks[:-1]) if wall - m[0] >= 60.0), self.marks[0])
        return (cpu - since[1]) / max(wall - since[0], 1e-9)


def wait_for_quiet(own: _OwnUse, limit: float, poll: float = 5.0) -> float:
    """Waits until the load of other processes is at most :data:`SETTLE_TO` of
    the cores, for at most :obj:`limit` seconds; returns the seconds waited.

    The 1-minute load average decays over about a minute, so a benchmark
    started right after another (or after a build, or a test run) reads the
    finished process's load: without the wait, its first table would be
    marked noisy for a load that is already gone. A machine that stays loaded
    past the limit still gets its tables marked noisy.
    """
    start = time.monotonic()
    while True:
        others = load_state(own)["others"]
        waited = time.monotonic() - start
        if others is None or others <= cores() * SETTLE_TO or waited >= limit:
            return waited
        time.sleep(min(poll, limit - waited))


def load_state(own: _OwnUse) -> dict[str, Any]:
    """The load averages (1, 5, 15 min), this process's own CPU use, and the
    estimated 1-minute load of everything else."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    used = own.now()
    return {
        "load_average": load,
        "own_cpu": used,
        "others": max(0.0, load[0] - used) if load is not None else None,
    }


# --------------------------------------------------------------------------- #
# Peak memory, in a fresh process per case
# --------------------------------------------------------------------------- #


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def memory_worker(build: Callable[[], Callable[[], object]], threads: int, steps: int = 2) -> None:
    """The worker side of :func:`peak_memory_mb`: builds one case's step (seed
    0, :obj:`threads` threads), runs it :obj:`steps` times and prints, as the
    last line of JSON, by how many MB the peak RSS rose over the RSS before
    the first step (Linux: ``VmHWM``)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step = build()
    before = _status_kb("VmRSS")
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS,
    # so importing torch and building the inputs do not count as the step's peak.
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    for _ in range(steps):
        step()
    print(json.dumps({"peak_mb": (_status_kb("VmHWM") - before) / 1024}))


def peak_memory_mb(script: str, worker: Sequence[str], threads: int, label: str) -> float:
    """Peak RSS growth of one case's steps, in MB, measured by
    ``python SCRIPT --worker WORKER... --threads THREADS`` in a fresh process
    (the script hands ``--worker`` to :func:`memory_worker`).

    A busy machine can fail one run: it is retried once. NaN (with the last
    line of its error, naming :obj:`label`, on stderr) if both fail.
    """
    command = [sys.executable, script, "--worker", *worker, "--threads", str(threads)]
    for _ in range(2):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"])
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    print(f"memory run of {label} failed: {last}", file=sys.stderr)
    return float("nan")


def peaks_mb(
    script: str, names: Iterable[str], shape: Sequence[int], threads: int, where: str
) -> dict[str, float | None]:
    """:func:`peak_memory_mb` of each case :obj:`names` at one :obj:`shape`
    (``--worker NAME --shape ...``), as JSON holds it (a failed run is null);
    :obj:`where` names the shape in a failure's message."""
    return {
        name: clean(
            peak_memory_mb(
                script, [name, "--shape", *map(str, shape)], threads, f"{name} at {where}"
            )
        )
        for name in names
    }


# --------------------------------------------------------------------------- #
# Recording
# --------------------------------------------------------------------------- #


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


def clean(value: float | None) -> float | None:
    """A float as JSON can hold it: NaN (a failed measurement) becomes null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


class Table:
    """One table of a results file: its subjects, its groups and its load."""

    def __init__(
        self,
        subjects: Mapping[str, Mapping[str, Any]],
        grows_with: Mapping[str, Sequence[str]],
        threads: int,
    ) -> None:
        self.record: dict[str, Any] = {
            "threads": threads,
            "subjects": {
                name: {"what": dict(what), "grows_with": list(grows_with.get(name, ()))}
                for name, what in subjects.items()
            },
            "groups": [],
        }

    @property
    def groups(self) -> list[dict[str, Any]]:
        return self.record["groups"]

    def add(self, sizes: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        """Adds a group with no timings (a skipped configuration, a note)."""
        group = {"sizes": dict(sizes), **fields}
        self.groups.append(group)
        return group

    def add_timed(
        self,
        sizes: Mapping[str, Any],
        timings: Timings,
        ratios: Iterable[tuple[str, str]] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """Adds a timed group: every subject's ms, and each ``(a, b)`` ratio as
        ``"a/b"`` (time of a over time of b, per pair)."""
        unknown = [name for name in timings.seconds if name not in self.record["subjects"]]
        if unknown:
            raise ValueError(f"subjects not declared for this table: {unknown}")
        ms = {name: timings.ms(name) for name in timings.seconds}
        return self.add(
            sizes,
            ms=ms,
            ratios={f"{a}/{b}": timings.ratio(a, b) for a, b in ratios if a in ms and b in ms},
            timer_warnings={name: timings.warnings[name] for name in ms},
            **fields,
        )


class Recorder:
    """The tables of one benchmark run, written as JSON by :meth:`write`."""

    def __init__(
        self,
        script: str,
        config: dict[str, Any],
        timing: Mapping[str, Any],
        settle: float = 0.0,
    ) -> None:
        self.script = script
        self.settle = settle
        self.config = config
        self.timing = dict(timing)
        self.tables: dict[str, dict[str, Any]] = {}
        self.start = time.perf_counter()
        self.own = _OwnUse()
        self._open: tuple[str, dict[str, Any], float] | None = None

    @contextmanager
    def table(
        self,
        name: str,
        subjects: Mapping[str, Mapping[str, Any]],
        grows_with: Mapping[str, Sequence[str]] | None = None,
        **fields: Any,
    ) -> Iterator[Table]:
        """Measures one table: the load before, the groups added, the load after.

        A table is ``noisy`` when other processes' load (:func:`load_state`)
        exceeded half the cores before or after it. Before it, the recorder
        waits up to its ``settle`` seconds for that load to fall
        (:func:`wait_for_quiet`).
        """
        waited = wait_for_quiet(self.own, self.settle) if self.settle > 0 else 0.0
        if waited >= 1:
            print(f"[{name}: waited {waited:.0f} s for the load of other processes to fall]")
        table = Table(subjects, grows_with or {}, self.timing.get("threads", 1))
        table.record.update(fields)
        self.tables[name] = table.record
        table.record.update(
            cpu_count=cores(), settle_seconds=round(waited, 1), load_before=load_state(self.own)
        )
        self._open = (name, table.record, time.perf_counter())
        try:
            yield table
        finally:
            self._close()

    def _close(self) -> None:
        """Records the load after the open table (also when a run is cut short)."""
        if self._open is None:
            return
        name, record, started = self._open
        self._open = None
        after = load_state(self.own)
        others = [s["others"] for s in (record["load_before"], after) if s["others"] is not None]
        record.update(
            load_after=after,
            seconds=round(time.perf_counter() - started, 1),
            noisy=bool(others) and max(others) > record["cpu_count"] * NOISY_ABOVE,
        )
        print_load(name, record)

    def keep_on_terminate(self, path: str | None) -> None:
        """On SIGTERM (``timeout``, a scheduler), writes the tables finished so far."""
        if not path:
            return

        def handler(signum: int, frame: Any) -> None:
            self.write(path, interrupted=True)
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, handler)

    def _load_summary(self) -> dict[str, Any]:
        """The run's load in one place, so that a reader need not open every table.

        A raw load average read as the run ends counts this benchmark's own
        threads (2 on a 2-core machine reads as "busy"), so the summary gives
        the load of other processes, before and after every table, and the raw
        averages only next to this process's own share of them.
        """
        records = list(self.tables.values())
        others = [
            r[when]["others"]
            for r in records
            for when in ("load_before", "load_after")
            if r.get(when, {}).get("others") is not None
        ]
        return {
            "others_max": round(max(others), 2) if others else None,
            "noisy_above": NOISY_ABOVE,
            "noisy_tables": [name for name, r in self.tables.items() if r.get("noisy")],
            "at_first_table": records[0]["load_before"] if records else None,
            "at_end": load_state(self.own),
        }

    def write(self, path: str | None, interrupted: bool = False) -> None:
        self._close()
        if not path:
            return
        payload = {
            "schema": SCHEMA,
            "benchmark": Path(self.script).stem,
            "command": _command(self.script),
            "config": self.config,
            "timing": {
                "method": "torch.utils.benchmark.Timer.blocked_autorange, interleaved rounds",
                **self.timing,
            },
            "environment": environment(),
            "load": self._load_summary(),
            "wall_seconds": round(time.perf_counter() - self.start, 1),
            "interrupted": interrupted,
            "tables": self.tables,
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
        target.write_text(text, encoding="utf-8")
        print(f"\nresults written to {target}")


# --------------------------------------------------------------------------- #
# Printing
# --------------------------------------------------------------------------- #


def fmt_ms(s: Spread) -> str:
    return f"{s['median']:.3g} ({s['min']:.3g}-{s['max']:.3g})"


def fmt_ratio(s: Spread | None) -> str:
    if s is None:
        return "-"
    return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    rows = [[*row, *[""] * (len(header) - len(row))] for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)), flush=True)


def print_load(name: str, record: Mapping[str, Any]) -> None:
    before, after = record["load_before"], record["load_after"]
    if before["others"] is None:
        return
    state = "NOISY" if record["noisy"] else "quiet"
    print(
        f"[{name}: {state}; other processes' load {before['others']:.1f} before, "
        f"{after['others']:.1f} after, on {record['cpu_count']} cores]"
    )
