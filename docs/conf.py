"""Sphinx configuration for pyg_tabular's docs (built with ``-W`` in CI)."""

import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sphinx.pycode import ModuleAnalyzer

import pyg_tabular

project = "pyg_tabular"
author = "pyg_tabular developers"
copyright = "2026, pyg_tabular developers"
release = pyg_tabular.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# Results files (and the results.md that compare writes beside them) are data for
# scripts/render_docs.py, not pages.
exclude_patterns = ["_build", "results"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": False,
    # scikit-learn's metadata-routing setters are generated per estimator and
    # their docstrings do not render under -W.
    "exclude-members": "set_score_request,set_fit_request",
}
autodoc_typehints = "none"


def _absent(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


# autodoc mocks the optional dependencies that a documented module imports
# when they are not installed, so that the docs build with -W on the docs
# install whatever extras it lacks (tests/test_docs_build.py). The others
# (pandas, scikit-learn, matplotlib, the peers) are imported lazily and need
# no mock; pytorch-frame is imported by pyg_tabular.frame itself.
autodoc_mock_imports = [name for name in ("torch_frame",) if _absent(name)]
napoleon_google_docstring = True
# The estimators' inherited methods (score, get_params, ...) carry
# scikit-learn's NumPy-style docstrings.
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# Links to the libraries whose classes the docs name. Each inventory is
# probed first: with -W an unreachable one would fail an offline build, so
# it is left out and its references render as plain text.
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "torch_geometric": "https://pytorch-geometric.readthedocs.io/en/latest/",
    "sklearn": "https://scikit-learn.org/stable/",
}
intersphinx_timeout = 10


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "objects.inv", timeout=3) as response:
            return bool(response.status == 200)
    except Exception:
        return False


def _intersphinx_mapping() -> dict[str, tuple[str, None]]:
    # PYG_TABULAR_DOCS_OFFLINE=1 skips the probe (no link is attempted).
    if os.environ.get("PYG_TABULAR_DOCS_OFFLINE") == "1":
        return {}
    names = list(_INVENTORIES)
    with ThreadPoolExecutor(len(names)) as pool:
        found = pool.map(lambda name: _reachable(_INVENTORIES[name]), names)
    return {name: (_INVENTORIES[name], None) for name, ok in zip(names, found) if ok}


intersphinx_mapping = _intersphinx_mapping()


def _source_comment(package: str, name: str, obj: Any) -> list[str]:
    """The ``#:`` comment above :obj:`name` in the submodule of :obj:`package` that defines it."""
    module = importlib.import_module(package)
    paths = getattr(module, "__path__", None)
    candidates = [package]
    if paths is not None:
        candidates += [info.name for info in pkgutil.iter_modules(paths, package + ".")]
    # A constant defined in a private module (pyg_tabular._choices) and
    # re-exported by the package.
    candidates += [name for name in sorted(sys.modules) if name.startswith("pyg_tabular.")]
    for candidate in candidates:
        try:
            source = importlib.import_module(candidate)
        except ImportError:
            continue
        if getattr(source, name, None) is not obj:
            continue
        comment = ModuleAnalyzer.for_module(candidate).find_attr_docs().get(("", name))
        if comment:
            return list(comment)
    return []


def _data_docstring(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    # A constant re-exported by a package has no doc comment where it is
    # documented, and autodoc then shows the docstring of its type (dict,
    # tuple, ...); show the comment written where it is defined instead.
    if what != "data" or type(obj).__doc__ is None:
        return
    if " ".join(lines).split() != type(obj).__doc__.split():
        return
    package, _, attr = name.rpartition(".")
    lines[:] = _source_comment(package, attr, obj)


_REF = re.compile(r":ref:`([^`<]*?)\s*(?:<([^`>]*)>)?`")


def _inherited_docstring(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    # Methods the estimators inherit from scikit-learn point into its user
    # guide with :ref: labels that exist only in scikit-learn's own docs.
    if not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    lines[:] = [_REF.sub(lambda m: m.group(1) or m.group(2), line) for line in lines]


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", _data_docstring)
    app.connect("autodoc-process-docstring", _inherited_docstring)


html_theme = "alabaster"
html_static_path: list[str] = []
