"""Sphinx configuration for pyg_tabular's docs (built with ``-W`` in CI)."""

import pyg_tabular

project = "pyg_tabular"
author = "pyg_tabular developers"
copyright = "2026, pyg_tabular developers"
release = pyg_tabular.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
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
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "alabaster"
html_static_path: list[str] = []
