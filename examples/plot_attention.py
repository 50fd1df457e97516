"""Plot which features attend to which, from a trained FeatureGraphClassifier.

Trains the scikit-learn style estimator on scikit-learn's bundled wine table,
reads the learned ``(F, F)`` attention as a DataFrame labelled with the
column names, saves it as a heatmap PNG and prints the strongest pairs.

    python examples/plot_attention.py --out outputs      # ~1 min on 2 cores
    python examples/plot_attention.py --tiny --out /tmp  # CI size
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from pyg_tabular import FeatureGraphClassifier
from pyg_tabular.plotting import plot_attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few epochs, for CI")
    parser.add_argument("--out", type=Path, default=None, help="folder for attention.png")
    args = parser.parse_args()
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    table = load_wine(as_frame=True)
    train_x, test_x, train_y, test_y = train_test_split(
        table.data, table.target, test_size=0.25, random_state=0, stratify=table.target
    )
    model = FeatureGraphClassifier(epochs=3 if args.tiny else 100, random_state=0, progress=False)
    model.fit(train_x, train_y)
    print(f"test accuracy {model.score(test_x, test_y):.3f}")

    attention = model.feature_attention(test_x)  # DataFrame, rows sum to one
    if list(attention.columns) != list(table.data.columns):
        raise SystemExit("attention is not labelled with the table's columns")
    if not np.allclose(attention.sum(axis=1), 1.0, atol=1e-5):
        raise SystemExit("each feature's attention should sum to one")

    pairs = attention.stack()
    pairs = pairs[[i != j for i, j in pairs.index]].sort_values(ascending=False)
    print("strongest attention (feature i <- feature j):")
    for (i, j), value in pairs.head(5).items():
        print(f"  {i:>30} <- {j:<30} {value:.3f}")

    out = args.out or Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    path = out / "attention.png"
    plot_attention(attention.to_numpy(), list(attention.columns), "wine: feature attention", path)
    if path.stat().st_size == 0:
        raise SystemExit(f"{path} was not written")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
