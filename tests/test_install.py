"""The install that docs/install.rst and the README show works: a wheel built
from the clone holds the whole package, and installed elsewhere it imports
and runs its command line."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "docs" / "install.rst"
README = ROOT / "README.md"


def _commands(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if "pip " in line]


def test_the_docs_install_from_a_clone_or_a_wheel_not_from_an_index() -> None:
    for path in (INSTALL, README):
        text = path.read_text(encoding="utf-8")
        commands = _commands(text)
        assert "not on a package index yet" in text, path.name
        assert 'pip install ".[full]"' in commands, path.name
        assert "pip wheel --no-deps --wheel-dir dist ." in commands, path.name
        assert 'pip install dist/pyg_tabular-*.whl "pyg-tabular[full]"' in commands, path.name
        # PyTorch first, the CPU build, before the package.
        torch = commands.index(
            "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
        )
        assert torch < commands.index('pip install ".[full]"'), path.name
        # No line installs the package by its name alone, from an index.
        assert not [c for c in commands if re.fullmatch(r'pip install "?pyg-tabular(\[.*\])?"?', c)]


@pytest.mark.slow
def test_a_wheel_built_as_documented_holds_the_package_and_runs(tmp_path: Path) -> None:
    (command,) = [c for c in _commands(INSTALL.read_text()) if c.startswith("pip wheel")]
    dist = tmp_path / "dist"
    # As documented, but offline: the build backend comes from this environment.
    words = shlex.split(command.replace("dist", str(dist)))
    built = subprocess.run(
        [sys.executable, "-m", *words, "--no-build-isolation"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("pyg_tabular-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        extras = set(re.findall(r"^Provides-Extra: (\S+)$", archive.read(metadata).decode(), re.M))
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "pyg_tabular").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources <= names, sorted(sources - names)
    assert {"data", "plot", "full", "frame", "peers", "docs", "test"} <= extras
    assert "pyg-tabular = pyg_tabular.cli:main" in scripts
    # Installed into a folder of its own and run from elsewhere, not from the clone.
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    code = (
        "import pyg_tabular, pyg_tabular.cli as cli; "
        "print(pyg_tabular.__file__); raise SystemExit(cli.main(['compare', '--help']))"
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0].startswith(str(target))
    assert "--time-budget" in ran.stdout
