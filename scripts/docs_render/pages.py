r"""Finding the regions of the pages, rendering them, and the ``--check`` run."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .registry import MissingResults, renderer_of

ROOT = Path(__file__).resolve().parents[2]

REGION = re.compile(
    r"<!-- BEGIN generated:(?P<name>[^\s>]+) -->\n(?P<body>.*?)<!-- END generated:(?P=name) -->",
    re.DOTALL,
)
MARKER = re.compile(r"<!-- (?P<kind>BEGIN|END) generated:(?P<name>[^\s>]+) -->")
#: What a region that merely differs from its results reports.
STALE = "differs from its results"


@dataclass
class Problem:
    """What is wrong, and where: a page and its region, or a results file and
    the check that failed."""

    page: str
    region: str
    message: str
    #: ``generated`` for a region of a page; ``consistency`` for a check of
    #: the results files against each other (the region then names the check).
    kind: str = "generated"

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}:{self.region}: {self.message}"


def pages(root: Path) -> list[Path]:
    found = sorted((root / "docs").glob("*.md")) + sorted((root / "docs" / "guides").glob("*.md"))
    readme = root / "README.md"
    return found + ([readme] if readme.is_file() else [])


def block(name: str, content: str) -> str:
    return f"<!-- BEGIN generated:{name} -->\n\n{content.strip()}\n\n<!-- END generated:{name} -->"


def render_text(text: str, results: Path, page: str) -> tuple[str, list[Problem]]:
    """:obj:`text` with every region rendered, and what could not be rendered
    or differed from what was there (as :class:`Problem`\\ s)."""
    problems: list[Problem] = []
    spans = {m.start() for m in REGION.finditer(text)}
    for marker in MARKER.finditer(text):
        if marker["kind"] == "BEGIN" and marker.start() not in spans:
            problems.append(Problem(page, marker["name"], "BEGIN marker without its END"))

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        render = renderer_of(name)
        if render is None:
            problems.append(Problem(page, name, "unknown region name"))
            return match[0]
        try:
            new = block(name, render(results))
        except MissingResults as error:
            problems.append(Problem(page, name, str(error)))
            return match[0]
        if new != match[0]:
            problems.append(Problem(page, name, STALE))
        return new

    return REGION.sub(replace, text), problems


def check(root: Path = ROOT, write: bool = False) -> list[Problem]:
    """Renders every page under :obj:`root` and checks the benchmark figures
    against each other (:mod:`.consistency`); with :obj:`write`, saves the
    pages that changed. Returns the problems found."""
    from .consistency import contradictions

    results = root / "docs" / "results"
    problems = []
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new, found = render_text(text, results, str(path.relative_to(root)))
        problems += found
        if write and new != text:
            path.write_text(new, encoding="utf-8")
    return problems + contradictions(results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Renders the generated regions of the docs from the results files."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if any region is stale or the figures contradict each other",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    problems = check(args.root, write=not args.check)
    failures = [p for p in problems if args.check or p.message != STALE]
    for problem in problems:
        if problem in failures:
            print(problem, file=sys.stderr)
        else:
            print(f"{problem.page}: {problem.kind}:{problem.region}: rewritten")
    return 1 if failures else 0
