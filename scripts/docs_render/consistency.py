"""The benchmark figures checked against each other, across every results file.

Each timed subject of a group is keyed by what it is (its ``what`` in the
table's subjects), the group's sizes and the threads (``benchmarks/_results.py``
builds them). Over all the files under ``docs/results/benchmarks/``:

* **the same configuration agrees**: wherever one key appears in two tables,
  the two ranges (min–max over the rounds) of its time overlap, widened as
  below; so do the two
  ranges of every ratio shown in one table whose two sides both appear, under
  the same keys, in the other. The times of two tables are taken minutes
  apart, and between them a machine drifts further than the rounds within
  one table show: on a quiet machine, the same configuration in two tables
  of one run differed by up to 1.08x beyond the ranges (28% between the
  medians: AdvancedGraphFeatureLayer at B=64, F=32 in ``scaling.json``'s F
  and B tables), so each range of a time is widened by :data:`BETWEEN_TABLES`
  before the two are compared. Ratios, taken within a round, are held to
  their ranges as they are;
* **time does not fall as B or F grows**: for each size a subject declares in
  ``grows_with``, a configuration larger in that size alone is not faster in
  every round than the smaller one (its whole range below the other's);
* **a ratio matches its times**: every ratio a group records is the per-round
  ratio of the times it records.

A results file in an older layout (no spread) is withheld from the pages and
not checked here.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from .bench_common import BENCHMARKS, SCHEMA, Spread
from .pages import Problem
from .text import ms as fmt_ms
from .text import ratio as fmt_ratio

KIND = "consistency"
#: How far the time of one configuration may move between two tables, beyond
#: the ranges each measured: a factor on either side.
BETWEEN_TABLES = 1.25


@dataclass
class Occurrence:
    """One subject's time in one group of one table."""

    file: str
    table: str
    name: str
    what: dict[str, Any]
    sizes: dict[str, Any]
    threads: int
    grows_with: tuple[str, ...]
    group: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file} table {self.table}"

    @property
    def ms(self) -> Spread:
        return self.group["ms"][self.name]

    def key(self, without: str | None = None) -> str:
        sizes = {k: v for k, v in self.sizes.items() if k != without}
        return json.dumps([self.what, sizes, self.threads], sort_keys=True)

    def shape(self, without: str | None = None) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items() if k != without)
        return f"{sizes}, {self.threads} threads"

    def describe(self, without: str | None = None) -> str:
        what = ", ".join(str(v) for v in self.what.values())
        return f"{what} ({self.shape(without)})"


def _files(results: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((results / BENCHMARKS).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") == SCHEMA:
            yield f"{BENCHMARKS}/{path.name}", data


def occurrences(results: Path) -> list[Occurrence]:
    found = []
    for file, data in _files(results):
        for table, record in data["tables"].items():
            subjects = record["subjects"]
            for group in record["groups"]:
                for name in group.get("ms", {}):
                    found.append(
                        Occurrence(
                            file=file,
                            table=table,
                            name=name,
                            what=subjects[name]["what"],
                            sizes=group["sizes"],
                            threads=record["threads"],
                            grows_with=tuple(subjects[name]["grows_with"]),
                            group=group,
                        )
                    )
    return found


def _apart(a: Spread, b: Spread, slack: float = 1.0) -> bool:
    return a["max"] * slack < b["min"] or b["max"] * slack < a["min"]


def _range(s: Spread, fmt: Any) -> str:
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def _ratio_of(group: dict[str, Any], a: str, b: str) -> Spread | None:
    """The per-round ratio of two subjects' times in :obj:`group`."""
    values_a, values_b = group["ms"][a]["values"], group["ms"][b]["values"]
    if len(values_a) != len(values_b):
        return None
    values = sorted(x / y for x, y in zip(values_a, values_b))
    n = len(values)
    middle = (values[(n - 1) // 2] + values[n // 2]) / 2
    return {"median": middle, "min": values[0], "max": values[-1], "n": n, "values": values}


def _problem(file: str, check: str, message: str) -> Problem:
    return Problem(f"docs/results/{file}", check, message, kind=KIND)


def _same_configuration(found: list[Occurrence]) -> list[Problem]:
    problems = []
    by_key: dict[str, list[Occurrence]] = defaultdict(list)
    for occ in found:
        by_key[occ.key()].append(occ)
    for same in by_key.values():
        for a, b in combinations(same, 2):
            if (a.file, a.table) != (b.file, b.table) and _apart(a.ms, b.ms, BETWEEN_TABLES):
                problems.append(
                    _problem(
                        a.file,
                        "same configuration",
                        f"{a.describe()} takes {_range(a.ms, fmt_ms)} ms in {a.where} but "
                        f"{_range(b.ms, fmt_ms)} ms in {b.where}: the ranges do not "
                        f"overlap, even widened by {BETWEEN_TABLES:g}x",
                    )
                )
    # Ratios: a ratio shown in one group, recomputed in any other group of
    # another table that holds both of its sides under the same keys.
    groups: dict[int, tuple[Occurrence, dict[str, str]]] = {}
    for occ in found:
        entry = groups.setdefault(id(occ.group), (occ, {}))
        entry[1][occ.key()] = occ.name
    seen = set()
    for first, names in groups.values():
        for label, shown in first.group.get("ratios", {}).items():
            a, _, b = label.partition("/")
            key_a = next((k for k, n in names.items() if n == a), None)
            key_b = next((k for k, n in names.items() if n == b), None)
            if key_a is None or key_b is None:
                continue
            for other, other_names in groups.values():
                if (other.file, other.table) == (first.file, first.table):
                    continue
                if key_a not in other_names or key_b not in other_names:
                    continue
                pair = frozenset([(id(first.group), key_a, key_b), (id(other.group), key_a, key_b)])
                if pair in seen:
                    continue
                seen.add(pair)
                there = _ratio_of(other.group, other_names[key_a], other_names[key_b])
                if there is not None and _apart(shown, there):
                    problems.append(
                        _problem(
                            first.file,
                            "same configuration",
                            f"{a} / {b} at {first.shape()} is {_range(shown, fmt_ratio)} in "
                            f"{first.where} but {_range(there, fmt_ratio)} in {other.where}: "
                            "the ranges do not overlap",
                        )
                    )
    return problems


def _growth(found: list[Occurrence]) -> list[Problem]:
    problems = []
    for dim in ("B", "F"):
        buckets: dict[str, list[Occurrence]] = defaultdict(list)
        for occ in found:
            if dim in occ.grows_with and dim in occ.sizes:
                buckets[occ.key(without=dim)].append(occ)
        for line in buckets.values():
            for small, large in combinations(sorted(line, key=lambda o: o.sizes[dim]), 2):
                if small.sizes[dim] < large.sizes[dim] and large.ms["max"] < small.ms["min"]:
                    problems.append(
                        _problem(
                            large.file,
                            "growth",
                            f"time falls as {dim} grows: {small.describe(without=dim)} takes "
                            f"{_range(small.ms, fmt_ms)} ms at {dim}={small.sizes[dim]} "
                            f"({small.where}) but {_range(large.ms, fmt_ms)} ms at "
                            f"{dim}={large.sizes[dim]} ({large.where})",
                        )
                    )
    return problems


def _recorded_ratios(found: list[Occurrence]) -> list[Problem]:
    problems = []
    checked = set()
    for occ in found:
        group = occ.group
        if id(group) in checked:
            continue
        checked.add(id(group))
        for label, shown in group.get("ratios", {}).items():
            a, _, b = label.partition("/")
            if a not in group["ms"] or b not in group["ms"]:
                problems.append(
                    _problem(occ.file, "recorded ratio", f"{occ.where}: ratio {label} has no times")
                )
                continue
            again = _ratio_of(group, a, b)
            if again is None or not all(
                math.isclose(shown[k], again[k], rel_tol=1e-9) for k in ("median", "min", "max")
            ):
                problems.append(
                    _problem(
                        occ.file,
                        "recorded ratio",
                        f"{occ.where}: ratio {label} at {occ.shape()} is recorded as "
                        f"{_range(shown, fmt_ratio)}, but its times give "
                        + (_range(again, fmt_ratio) if again else "no paired rounds"),
                    )
                )
    return problems


def contradictions(results: Path) -> list[Problem]:
    """Every way the benchmark results files under :obj:`results` contradict
    each other (empty when they agree)."""
    found = occurrences(results)
    return _recorded_ratios(found) + _same_configuration(found) + _growth(found)
