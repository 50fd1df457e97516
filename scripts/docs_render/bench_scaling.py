"""Regions of ``benchmarks/scaling.py``: every path as F and B grow."""

from __future__ import annotations

from typing import Any

from .bench_common import Bench, BenchTable, bench_region, medians, ms_spread, ratio_spread
from .text import NOT_RUN, markdown_table, mib, span, verdict

#: The memory bound of the wide-table target (PERF.md), in MiB.
BOUND_MIB = 4096
MODULES = ("gfa", "agfl")


def _memory(group: dict[str, Any], path: str) -> dict[str, Any]:
    return group.get("memory", {}).get(path, {})


def _memory_text(group: dict[str, Any], path: str) -> str:
    memory = _memory(group, path)
    if "failed" in memory:
        return "failed: " + memory["failed"]
    if "peak_mib" not in memory:
        return "–"
    return f"{mib(memory['peak_mib'])} (+{mib(memory['added_mib'])})"


def _rows(table: BenchTable, module: str) -> list[list[str]]:
    body = []
    for g in table.groups:
        sizes = g["sizes"]
        for path in table.record["subjects"]:
            head = [module, f"{sizes['F']:,}", f"{sizes['B']:,}", path, g["plans"][path]]
            skipped = g.get("skipped", {}).get(path)
            if skipped:
                gib = skipped["estimated_gib"]
                body.append([*head, f"skipped: ~{gib:.0f} GiB estimated", "", ""])
                continue
            over = "1 (the reference)" if path == "dense-whole" else None
            body.append(
                [
                    *head,
                    ms_spread(g["ms"][path]),
                    over or ratio_spread(g["ratios"][f"{path}/dense-whole"]),
                    _memory_text(g, path),
                ]
            )
    return body


@bench_region("bench-scaling", "scaling")
def scaling(bench: Bench) -> str:
    parts = [bench.provenance()]
    header = ["module", "F", "B", "path", "plan", "ms", "time × whole", "peak MiB (+MiB)"]
    for suffix, title in (
        ("f", f"F grows, B = {bench.config['fixed_rows']}"),
        ("b", f"B grows, F = {bench.config['fixed_features']}"),
    ):
        body, loads = [], []
        for module in MODULES:
            table = bench.table(f"{module}_{suffix}")
            if table is None:
                continue
            body += _rows(table, module)
            loads.append(f"{module.upper()}: {table.load_text()}")
            for g in table.groups:
                if "measured_in" in g:
                    sizes = g["sizes"]
                    loads.append(
                        f"{module.upper()} at F = {sizes['F']:,}, B = {sizes['B']:,}: the "
                        f"measurement of the table above ({g['measured_in']}), not timed twice."
                    )
        if body:
            parts += [f"{title}:", markdown_table(header, body), "\n\n".join(loads)]
    return "\n\n".join(parts)


def _widest(bench: Bench, module: str) -> dict[str, Any] | None:
    table = bench.table(f"{module}_f")
    if table is None or not table.groups:
        return None
    return max(table.groups, key=lambda g: g["sizes"]["F"])


@bench_region("bench-scaling-summary", "scaling", first=False)
def scaling_summary(bench: Bench) -> str:
    widest = {m: _widest(bench, m) for m in MODULES}
    found = {m: g for m, g in widest.items() if g is not None}
    if not found:
        return NOT_RUN
    lines = []
    peaks = {m: _memory(g, "auto") for m, g in found.items()}
    measured = {m: p["peak_mib"] for m, p in peaks.items() if "peak_mib" in p}
    f_max = max(g["sizes"]["F"] for g in found.values())
    if measured:
        noisy = any(bench.table(f"{m}_f").noisy for m in measured)  # type: ignore[union-attr]
        judgement = "not judged (noisy)" if noisy else verdict(max(measured.values()) < BOUND_MIB)
        lines.append(
            f"- Target: F = {f_max} trains (forward + backward, B = {bench.config['fixed_rows']}) "
            f"in < 4 GB: {judgement} (`auto`: "
            + ", ".join(f"{m.upper()} {mib(v)} MiB" for m, v in measured.items())
            + " peak)."
        )
    for module, g in found.items():
        auto, whole = _memory(g, "auto"), _memory(g, "dense-whole")
        if g["plans"]["auto"] != "dense" and "peak_mib" in auto and "peak_mib" in whole:
            over = g["ratios"]["auto/dense-whole"]
            cost = " (each chunk's attention is rebuilt in backward)" if over["median"] > 1 else ""
            lines.append(
                f"- At F = {g['sizes']['F']}, {module.upper()}'s `auto` plan is "
                f"`{g['plans']['auto']}`: {mib(auto['peak_mib'])} MiB peak against "
                f"{mib(whole['peak_mib'])} for the whole dense path, at {ratio_spread(over)} "
                f"its time{cost}."
            )
    sparse = [
        g["ratios"]["sparse/dense-whole"]
        for m in MODULES
        for suffix in ("f", "b")
        if (t := bench.table(f"{m}_{suffix}")) is not None
        for g in t.timed()
        if "sparse/dense-whole" in g["ratios"]
    ]
    if sparse:
        lines.append(
            f"- The sparse path on the complete graph takes {span(medians(sparse))} the dense "
            "path's time (medians): on a complete graph, use the dense path (which `auto` does)."
        )
    k16 = [(m, g) for m, g in found.items() if "sparse-k16/dense-whole" in g["ratios"]]
    if k16:
        lines.append(
            f"- A sparsified graph ({bench.config['neighbours']} neighbours per feature) grows "
            f"as F·k instead of F²: at F = {f_max} it takes "
            + " and ".join(
                f"{ratio_spread(g['ratios']['sparse-k16/dense-whole'])} the whole dense path's "
                f"time ({m.upper()}"
                + (
                    f", {mib(_memory(g, 'sparse-k16')['peak_mib'])} MiB peak)"
                    if "peak_mib" in _memory(g, "sparse-k16")
                    else ")"
                )
                for m, g in k16
            )
            + "."
        )
    return "\n".join(lines)


@bench_region("bench-scaling-limits", "scaling")
def scaling_limits(bench: Bench) -> str:
    """The widest configuration's peaks, for the limits page."""
    found = {m: g for m in MODULES if (g := _widest(bench, m)) is not None}
    if not found:
        return NOT_RUN
    peaks, skipped = [], []
    for module, g in found.items():
        for path, plan in (("auto", g["plans"]["auto"]), ("dense-whole", "dense, unchunked")):
            memory = _memory(g, path)
            if "peak_mib" in memory:
                peaks.append(f"{module.upper()} {mib(memory['peak_mib'])} MiB ({path}: {plan})")
        sparse = g.get("skipped", {}).get("sparse")
        if sparse:
            skipped.append(f"{module.upper()}'s (estimated ~{sparse['estimated_gib']:.0f} GiB)")
    sizes = next(iter(found.values()))["sizes"]
    text = (
        f"At F = {sizes['F']:,}, B = {sizes['B']} (forward + backward, `{bench.data['command']}`): "
    )
    text += (
        "peak RSS " + ", ".join(peaks) + f", against a bound of {BOUND_MIB // 1024} GiB."
        if peaks
        else "no peak memory recorded in this run."
    )
    if skipped:
        text += (
            " The sparse path on the complete graph was skipped for "
            + " and ".join(skipped)
            + ": over the benchmark's memory budget."
        )
    return text
