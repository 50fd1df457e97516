import subprocess
import sys
from pathlib import Path

import pytest

ALL_EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
# Scripts that need several processes say "torchrun" in their docstring;
# tests/test_distributed.py launches those.
EXAMPLES = [path for path in ALL_EXAMPLES if "torchrun" not in path.read_text().split('"""')[1]]


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_at_tiny_size(script):
    result = subprocess.run(
        [sys.executable, str(script), "--tiny"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "an example must print what it found"


def test_there_is_one_example_per_use():
    names = {path.name for path in EXAMPLES}
    expected = {
        "quickstart.py",
        "port_keras_weights.py",
        "gatconv_vs_ours.py",
        "plot_attention.py",
        "custom_feature_graph.py",
    }
    assert expected <= names, expected - names
    # The DDP example needs torchrun; tests/test_distributed.py runs it in 2 processes.
    assert "ddp_train.py" in {path.name for path in ALL_EXAMPLES}
