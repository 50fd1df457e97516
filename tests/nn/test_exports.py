"""pyg_tabular.nn exports its layers by name, as torch_geometric.nn does."""

import subprocess
import sys

import pytest

import pyg_tabular.nn as nn

LAYER_PACKAGES = ("conv", "dense", "pool", "tabular")


def test_every_layer_of_the_layer_packages_is_exported():
    for package in LAYER_PACKAGES:
        module = getattr(nn, package)
        for name in module.__all__:
            assert name in nn.__all__, f"pyg_tabular.nn does not export {package}.{name}"
            assert getattr(nn, name) is getattr(module, name)


def test_models_and_subpackages_stay_reachable():
    for name in ("FeatureGraphNet", "FeatureGAT", "swap_gat_convs"):
        assert getattr(nn, name) is getattr(nn.models, name)
    for package in (*LAYER_PACKAGES, "functional", "models"):
        assert getattr(nn, package).__name__ == f"pyg_tabular.nn.{package}"
    assert all(hasattr(nn, name) for name in nn.__all__)


def test_pyg_import_habits():
    # As `from torch_geometric.nn import GATConv, DenseGATConv, MessagePassing`.
    from torch_geometric.nn import MessagePassing

    from pyg_tabular.nn import DenseFeatureGATConv, FeatureDiffGATConv, FeatureGATConv

    assert issubclass(FeatureGATConv, MessagePassing)
    assert issubclass(FeatureDiffGATConv, MessagePassing)
    assert DenseFeatureGATConv is nn.dense.DenseFeatureGATConv


@pytest.mark.parametrize(
    "first",
    [
        "pyg_tabular.nn.models.feature_gat",
        "pyg_tabular.nn.conv",
        "pyg_tabular.nn.dense",
        "pyg_tabular.nn.tabular",
        "pyg_tabular.nn.models",
    ],
)
def test_no_import_cycle_whatever_is_imported_first(first):
    # Each entry point in a fresh interpreter: a cycle shows up only there.
    code = f"import {first}\nfrom pyg_tabular.nn import FeatureGATConv, FeatureGAT\nprint('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
