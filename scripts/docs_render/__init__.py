"""The docs' generated regions, rendered from the results files under ``docs/results/``.

A page marks a region it does not own with::

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

Everything between the markers is written by the renderer registered under
``NAME`` (:data:`RENDERERS`, or :data:`FAMILIES` for names ``PREFIX:<arg>``).
The renderers live by page section:

* :mod:`.bench_converter`, :mod:`.bench_convs`, :mod:`.bench_modules`,
  :mod:`.bench_scaling`: the benchmarks page, the swap guide's cost table and
  the limits page's widest run, from ``benchmarks/*.json`` (read through
  :mod:`.bench_common`);
* :mod:`.experiments`: the experiments page, the README's main-job table and
  the guides' figures, from the folders ``pyg-tabular compare`` writes;
* :mod:`.relation_graph`: the relation-graph page, from the planted-pair
  recovery, its benchmark and the graph-choice comparison.

:mod:`.consistency` checks the benchmark figures against each other;
:mod:`.pages` walks the pages and runs ``--check``. Adding a region: write a
function ``(results_dir) -> str`` in the module of its page section and
register it with ``@region("NAME")`` (``@bench_region("NAME", "benchmark")``
for a benchmark file), or a family with ``@family("PREFIX")`` taking
``(results_dir, arg)``.
"""

from . import (  # noqa: F401  (importing a section registers its regions)
    bench_common,
    bench_converter,
    bench_convs,
    bench_modules,
    bench_scaling,
    experiments,
    relation_graph,
)
from .consistency import contradictions, occurrences
from .experiments import NO_EXPERIMENTS
from .pages import MARKER, REGION, ROOT, STALE, Problem, block, check, main, pages, render_text
from .registry import FAMILIES, RENDERERS, MissingResults, family, region, renderer_of

__all__ = [
    "FAMILIES",
    "MARKER",
    "NO_EXPERIMENTS",
    "REGION",
    "RENDERERS",
    "ROOT",
    "STALE",
    "MissingResults",
    "Problem",
    "block",
    "check",
    "contradictions",
    "family",
    "main",
    "occurrences",
    "pages",
    "region",
    "render_text",
    "renderer_of",
]
