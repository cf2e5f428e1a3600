"""The public surface is exactly what ceuskit.__all__ lists, and each name resolves."""

from __future__ import annotations

import ceuskit


def test_all_is_the_public_surface():
    public = {name for name in dir(ceuskit) if not name.startswith("_")} | set(ceuskit._LAZY)
    assert set(ceuskit.__all__) == (public - {"annotations", "TYPE_CHECKING", "Any"}) | {"__version__"}


def test_every_public_name_resolves():
    for name in ceuskit.__all__:
        assert getattr(ceuskit, name) is not None
