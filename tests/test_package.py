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


def _private_imports_from_public_modules() -> list[str]:
    import ast
    from pathlib import Path

    root = Path(pyg_tabular.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            if not node.module.startswith("pyg_tabular"):
                continue
            if any(part.startswith("_") for part in node.module.split(".")):
                continue  # a private module is where shared pieces belong
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(root)}: {node.module}.{alias.name}")
    return found


def test_no_module_imports_a_private_name_of_a_public_module():
    # What two public files share lives in a named private module; reaching
    # into another public file's private names hides that structure.
    assert _private_imports_from_public_modules() == []


def _package_files_touched(call) -> set[str]:
    from pathlib import Path

    root = str(Path(pyg_tabular.__file__).parent)
    touched: set[str] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(root):
            touched.add(frame.f_code.co_filename[len(root) + 1 :])

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return touched


def test_one_advanced_graph_feature_layer_call_stays_in_four_files():
    # The forward of the layer reads top-down: its own file, its family's
    # shared module, the fused kernel and the one validation module.
    import torch

    from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

    layer = AdvancedGraphFeatureLayer(6, embed_dim=8, num_heads=2)
    x = torch.randn(4, 6)
    layer(x)  # materialise lazy pieces outside the trace
    touched = _package_files_touched(lambda: layer(x))
    assert "nn/tabular/advanced_graph_feature_layer.py" in touched
    assert len(touched) <= 4, sorted(touched)
