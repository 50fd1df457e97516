"""PyG dataset transforms for feature graphs."""

__all__: list[str] = []
