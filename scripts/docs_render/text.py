"""How figures are written on the pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:,.1f}"


def ratio(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 0.1:
        return f"{value:.2g}×"
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def mib(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def span(values: Iterable[float], fmt: Callable[[float], str] = ratio) -> str:
    """``"a–b×"`` over :obj:`values` (one figure when they round alike)."""
    values = list(values)
    low, high = fmt(min(values)), fmt(max(values))
    if low == high:
        return low
    unit = "×" if low.endswith("×") and high.endswith("×") else ""
    return f"{low.removesuffix(unit)}–{high}"


NOT_RUN = "Not measured in this run."


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
