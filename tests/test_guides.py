"""The guides' code runs as written, at a tiny size."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = DOCS / "guides"
# Each guide runs unchanged but for these sizes; every one must occur exactly
# once, so a guide that changes its code fails here until this table follows.
TINY = {
    # Runs as written: its point is that both models learn, and alike.
    "swap_gatconv.md": [],
    "estimator_on_your_dataframe.md": [("epochs=40", "epochs=2")],
    "compare_on_your_csv.md": [],
    "dataframe_as_feature_graphs.md": [("range(20)", "range(2)")],
}
# Appended to each `pyg-tabular compare` line; argparse keeps the last value.
TINY_COMPARE = ["--epochs", "1", "--seeds", "1", "--models", "mlp,feature-gat", "--in-process"]
_BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)
_REGION = re.compile(
    r"<!-- BEGIN generated:([\w-]+) -->\n(.*?)<!-- END generated:([\w-]+) -->", re.S
)


def blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


def compare_commands(code: str) -> list[list[str]]:
    commands = []
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["pyg-tabular", "compare"]:
            commands.append(words[1:])
    return commands


def test_every_guide_is_listed_and_tested() -> None:
    guides = {p.name for p in GUIDES.glob("*.md")} - {"index.md"}
    assert guides == set(TINY)
    index = (GUIDES / "index.md").read_text(encoding="utf-8")
    for guide in guides:
        assert f"\n{guide.removesuffix('.md')}\n" in index, f"{guide} is not in the guides toctree"
    assert "guides/index" in (DOCS / "index.rst").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("guide", "region"),
    [
        ("swap_gatconv.md", "guide-swap-cost"),
        ("estimator_on_your_dataframe.md", "guide-estimator-numbers"),
        ("compare_on_your_csv.md", "guide-compare-numbers"),
    ],
)
def test_each_guide_has_its_generated_numbers_region(guide: str, region: str) -> None:
    text = (GUIDES / guide).read_text(encoding="utf-8")
    found = [(begin, end) for begin, _, end in _REGION.findall(text)]
    assert (region, region) in found, f"{guide} lacks the generated region {region}"


@pytest.mark.slow
@pytest.mark.parametrize("guide", sorted(TINY))
def test_guide_runs(guide: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    from pyg_tabular.cli import main

    # The guides write files (my.csv, compare-results/) where they run.
    monkeypatch.chdir(tmp_path)
    path = GUIDES / guide
    found = blocks(path)
    assert any(kind == "python" for kind, _ in found), f"{guide} has no python code"
    source = "\n".join(code for kind, code in found if kind == "python")
    for old, _ in TINY[guide]:
        assert source.count(old) == 1, f"{guide} no longer holds {old!r} once"
    namespace: dict[str, object] = {"__name__": "__guide__"}
    ran_compare = False
    for kind, code in found:
        if kind == "python":
            for old, new in TINY[guide]:
                code = code.replace(old, new)
            exec(compile(code, str(path), "exec"), namespace)
            continue
        for command in compare_commands(code):
            assert main(command + TINY_COMPARE) == 0, f"{guide}: {shlex.join(command)} failed"
            ran_compare = True
    if guide == "compare_on_your_csv.md":
        assert ran_compare, "the CSV guide lost its pyg-tabular compare line"
        assert (tmp_path / "compare-results" / "runs.csv").is_file()


def test_forms_and_paths_code_runs() -> None:
    path = DOCS / "forms_and_paths.md"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for kind, code in blocks(path):
        if kind == "python":
            exec(compile(code, str(path), "exec"), namespace)


def test_pyg_gatconv_still_refuses_the_static_form() -> None:
    # forms_and_paths.md and the guides say so; a PyG release that accepts
    # it would make those pages wrong.
    import torch
    from torch_geometric.nn import GATConv

    from pyg_tabular.data import to_static_graph

    nodes, template = to_static_graph(torch.randn(4, 3))
    with pytest.raises(AssertionError, match="Static graphs not supported"):
        GATConv(1, 4)(nodes, template)
