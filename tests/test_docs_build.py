"""The docs build warning-free (-W) on the docs install, whatever optional
extras it lacks: what autodoc cannot import from an absent extra is mocked."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every optional distribution of pyproject.toml's extras (and the test-only
# Keras parity stack): the docs install may have none of them.
OPTIONAL = (
    "pytorch-frame",
    "tabm",
    "rtdl_revisiting_models",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "matplotlib",
    "keras",
    "kerasfactory",
    "torch_scatter",
)
# Import names of some of them, to check that they are gone.
IMPORTS = ("torch_frame", "tabm", "rtdl_revisiting_models", "pandas", "sklearn", "matplotlib")


def _site_without_extras(folder: Path) -> Path:
    r"""A site folder that links every installed package but the optional ones."""
    hidden: set[str] = set()
    for name in OPTIONAL:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        hidden |= {file.parts[0] for file in files if file.parts and file.parts[0] != ".."}
    site = folder / "site"
    site.mkdir()
    paths = sysconfig.get_paths()
    for library in dict.fromkeys((paths["purelib"], paths["platlib"])):
        for entry in Path(library).iterdir():
            if entry.name not in hidden and not (site / entry.name).exists():
                (site / entry.name).symlink_to(entry)
    return site


def _bare_python(site: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages but the folder on PYTHONPATH.
    environment = {"PYTHONPATH": f"{ROOT}:{site}", "PYG_TABULAR_DOCS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-S", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=900,
    )


@pytest.mark.slow
def test_docs_build_with_every_optional_extra_missing(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    site = _site_without_extras(tmp_path)
    check = f"import importlib.util as u; print([m for m in {IMPORTS!r} if u.find_spec(m)])"
    found = _bare_python(site, "-c", check)
    assert found.returncode == 0 and found.stdout.strip() == "[]", found.stderr
    out = tmp_path / "html"
    build = _bare_python(
        site, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)
    )
    assert build.returncode == 0, build.stderr[-4000:]
    api = (out / "api.html").read_text(encoding="utf-8")
    # Documented under its own module, from a mocked pytorch-frame.
    assert 'id="pyg_tabular.frame.FeatureGraphTableConv"' in api
