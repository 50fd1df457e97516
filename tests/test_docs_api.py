"""The API reference documents every public name, and the estimators' inherited methods."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import types
from pathlib import Path

import pytest

import pyg_tabular

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api.rst"
# Set to a finished HTML build of docs/ to check the rendered page itself.
BUILD_ENV = "PYG_TABULAR_DOCS_BUILD"
ESTIMATOR_METHODS = (
    "fit",
    "predict",
    "score",
    "feature_attention",
    "save",
    "load",
    "get_params",
    "set_params",
)
ESTIMATORS = {
    "FeatureGraphClassifier": ESTIMATOR_METHODS + ("predict_proba",),
    "FeatureGraphRegressor": ESTIMATOR_METHODS,
}
_DIRECTIVE = re.compile(r"^\.\. (auto\w+|currentmodule|module)::\s*(\S+)\s*$")


def public_namespaces() -> list[str]:
    """Every package of pyg_tabular, and every top-level module or module a
    package's ``__all__`` exports that declares an ``__all__`` (the console
    script's module declares none); the other modules are the files behind a
    package, whose public names the package re-exports."""
    found = ["pyg_tabular"]
    for info in pkgutil.walk_packages(pyg_tabular.__path__, "pyg_tabular."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue
        parent = importlib.import_module(".".join(parts[:-1]))
        # utils exports a function named after its module; that is no module export.
        exported = parts[-1] in getattr(parent, "__all__", ()) and isinstance(
            getattr(parent, parts[-1], None), types.ModuleType
        )
        if info.ispkg:
            found.append(info.name)
        elif (len(parts) == 2 or exported) and hasattr(
            importlib.import_module(info.name), "__all__"
        ):
            found.append(info.name)
    return found


def documented() -> tuple[set[str], set[str]]:
    """The modules (``automodule``) and the objects (``autoclass`` and the
    other object directives) that api.rst documents, by full name."""
    modules: set[str] = set()
    objects: set[str] = set()
    current = ""
    for line in API.read_text(encoding="utf-8").splitlines():
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            continue
        kind, target = match.groups()
        if kind in ("automodule", "currentmodule", "module"):
            current = target
            if kind == "automodule":
                modules.add(target)
        elif target.startswith("pyg_tabular."):
            objects.add(target)
        else:
            objects.add(f"{current}.{target}")
    return modules, objects


def resolve(path: str) -> object:
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def test_namespaces_are_discovered() -> None:
    namespaces = public_namespaces()
    # A walk that silently found nothing would make the check below vacuous.
    for expected in ("pyg_tabular.nn.conv", "pyg_tabular.estimators", "pyg_tabular.nn.functional"):
        assert expected in namespaces
    assert "pyg_tabular.training" in namespaces
    assert "pyg_tabular.nn.conv.feature_gat_conv" not in namespaces


@pytest.mark.parametrize("namespace", public_namespaces())
def test_every_public_name_is_documented(namespace: str) -> None:
    module = importlib.import_module(namespace)
    assert hasattr(module, "__all__"), f"{namespace} has no __all__"
    modules, objects = documented()
    assert namespace in modules, f"api.rst has no automodule for {namespace}"
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            if obj.__name__ not in modules:
                missing.append(name)
            continue
        # Re-exported objects count where they are documented (the
        # top-level estimators under pyg_tabular.estimators), but only under
        # their own name: small ints and strings are shared objects.
        if not any(path.rpartition(".")[2] == name and resolve(path) is obj for path in objects):
            missing.append(name)
    assert not missing, f"api.rst does not document {namespace}: {missing}"


def test_every_documented_name_exists() -> None:
    modules, objects = documented()
    for module in modules:
        importlib.import_module(module)
    stale = []
    for path in sorted(objects):
        try:
            resolve(path)
        except (AttributeError, ImportError):
            stale.append(path)
    assert not stale, f"api.rst documents names that do not exist: {stale}"


def autodoc_options(directive: str) -> dict[str, str]:
    """The options under the first ``.. <directive>`` line of api.rst."""
    lines = API.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == directive)
    options: dict[str, str] = {}
    for line in lines[start + 1 :]:
        match = re.match(r"^\s+:([\w-]+):\s*(.*)$", line)
        if match is None:
            break
        options[match.group(1)] = match.group(2).strip()
    return options


def default_excluded_members() -> set[str]:
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "autodoc_default_options" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return {m.strip() for m in value.get("exclude-members", "").split(",") if m.strip()}
    return set()


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_estimators_render_their_inherited_methods(estimator: str) -> None:
    from pyg_tabular import estimators

    methods = ESTIMATORS[estimator]
    cls = getattr(estimators, estimator)
    for method in methods:
        assert callable(getattr(cls, method, None)), f"{estimator} has no {method}"
    # fit, save and load live on a private base class: without inherited
    # members autodoc would leave them out.
    assert any(m not in vars(cls) for m in methods)

    build = os.environ.get(BUILD_ENV)
    if build:
        html = (Path(build) / "api.html").read_text(encoding="utf-8")
        missing = [m for m in methods if f'id="pyg_tabular.estimators.{estimator}.{m}"' not in html]
        assert not missing, f"the built api.html lacks {estimator}.{missing}"
        return

    options = autodoc_options(f".. autoclass:: {estimator}")
    assert "inherited-members" in options, f"{estimator} needs :inherited-members:"
    assert not options["inherited-members"], "a base class there would cut inherited methods"
    listed = options.get("members", "")
    if listed:
        names = {m.strip() for m in listed.split(",")}
        assert set(methods) <= names, f"{estimator} :members: omits {set(methods) - names}"
    excluded = default_excluded_members() | {
        m.strip() for m in options.get("exclude-members", "").split(",") if m.strip()
    }
    assert not excluded & set(methods), f"{estimator} excludes {excluded & set(methods)}"


def _keyword_only_callables() -> list[tuple[str, object, str]]:
    import pyg_tabular.datasets
    from pyg_tabular.compare import load_table_task

    found: list[tuple[str, object, str]] = [
        ("load_table_task", load_table_task, load_table_task.__doc__ or "")
    ]
    for name in pyg_tabular.datasets.__all__:
        obj = getattr(pyg_tabular.datasets, name)
        if isinstance(obj, type):
            found.append((name, obj.__init__, obj.__doc__ or ""))
            for method, function in vars(obj).items():
                if inspect.isfunction(function) and not method.startswith("_"):
                    found.append((f"{name}.{method}", function, function.__doc__ or ""))
        elif callable(obj):
            found.append((name, obj, obj.__doc__ or ""))
    return found


@pytest.mark.parametrize(("name", "function", "doc"), _keyword_only_callables())
def test_keyword_only_arguments_are_documented_as_such(name, function, doc) -> None:
    # The datasets' docstrings list keyword-only arguments with
    # "keyword-only" in their type, so that no reader calls them by position.
    entries = dict(re.findall(r"^\s+(\w+) \(([^)]*)\):", doc, re.M))
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name not in entries:
            continue
        keyword_only = parameter.kind is inspect.Parameter.KEYWORD_ONLY
        documented = "keyword-only" in entries[parameter.name]
        assert documented == keyword_only, (
            f"{name}: {parameter.name} is {'' if keyword_only else 'not '}keyword-only"
        )


def test_the_keyword_only_check_reads_the_docstrings() -> None:
    # Guards the check above against a pattern that matches no entry.
    loader = {n: f for n, f, _ in _keyword_only_callables()}["TabularLoader"]
    doc = {n: d for n, _, d in _keyword_only_callables()}["TabularLoader"]
    entries = dict(re.findall(r"^\s+(\w+) \(([^)]*)\):", doc, re.M))
    assert entries["split"].endswith("keyword-only") and "dataset" in entries
    assert inspect.signature(loader).parameters["split"].kind is inspect.Parameter.KEYWORD_ONLY
