"""The public surface is exactly what ceuskit.__all__ lists, and each name resolves."""

from __future__ import annotations

import types

import ceuskit


def test_all_is_the_public_surface():
    names = {n for n in dir(ceuskit) if not n.startswith("_")} | set(ceuskit._LAZY)
    # submodules appear as attributes once imported; they are not part of the flat API
    public = {n for n in names if not isinstance(getattr(ceuskit, n, None), types.ModuleType)}
    assert set(ceuskit.__all__) == (public - {"annotations", "TYPE_CHECKING", "Any"}) | {"__version__"}


def test_every_public_name_resolves():
    for name in ceuskit.__all__:
        assert getattr(ceuskit, name) is not None
