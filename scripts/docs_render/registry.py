"""Region names → the functions that render them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class MissingResults(Exception):
    """A region's results file does not exist."""


Renderer = Callable[[Path], str]
FamilyRenderer = Callable[[Path, str], str]

#: Region name -> function of the results folder.
RENDERERS: dict[str, Renderer] = {}
#: Region name prefix (before ``:``) -> function of the results folder and the suffix.
FAMILIES: dict[str, FamilyRenderer] = {}


def region(name: str) -> Callable[[Renderer], Renderer]:
    """Registers the renderer of the region :obj:`name`."""

    def register(function: Renderer) -> Renderer:
        if name in RENDERERS:
            raise ValueError(f"region {name!r} is registered twice")
        RENDERERS[name] = function
        return function

    return register


def family(prefix: str) -> Callable[[FamilyRenderer], FamilyRenderer]:
    """Registers the renderer of every region named ``PREFIX:<arg>``."""

    def register(function: FamilyRenderer) -> FamilyRenderer:
        if prefix in FAMILIES:
            raise ValueError(f"region family {prefix!r} is registered twice")
        FAMILIES[prefix] = function
        return function

    return register


def renderer_of(name: str) -> Renderer | None:
    if name in RENDERERS:
        return RENDERERS[name]
    prefix, _, arg = name.partition(":")
    if arg and prefix in FAMILIES:
        render = FAMILIES[prefix]
        return lambda results: render(results, arg)
    return None
