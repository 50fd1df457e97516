import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_at_tiny_size(script):
    result = subprocess.run(
        [sys.executable, str(script), "--tiny"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "an example must print what it found"


def test_there_are_examples():
    assert any(path.name == "quickstart.py" for path in EXAMPLES)
