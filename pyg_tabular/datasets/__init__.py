"""Tabular datasets, loaders and named real datasets."""

__all__: list[str] = []
