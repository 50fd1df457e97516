import subprocess
import sys
import textwrap

import pyg_tabular


def test_version_is_exposed():
    major, minor, patch = pyg_tabular.__version__.split(".")
    assert all(part.isdigit() for part in (major, minor, patch))


def test_works_without_optional_dependencies():
    # None in sys.modules makes an import fail as if the package were absent.
    # tqdm is not on the list: torch_geometric itself requires it.
    code = textwrap.dedent(
        """
        import sys
        for name in ["pandas", "pyarrow", "sklearn", "matplotlib", "torch_scatter"]:
            sys.modules[name] = None
        import torch
        import pyg_tabular
        import pyg_tabular.data, pyg_tabular.nn, pyg_tabular.transforms, pyg_tabular.datasets
        from pyg_tabular.data import graph_to_rows, rows_to_graph
        assert not pyg_tabular.typing.WITH_PANDAS
        assert not pyg_tabular.typing.WITH_TORCH_SCATTER
        x = torch.randn(3, 4)
        x[0, 0] = float("nan")
        batch = rows_to_graph(x, missing="drop")
        back = graph_to_rows(batch.x.view(-1), batch, fill_value=float("nan"))
        assert torch.equal(back.isnan(), x.isnan())
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
