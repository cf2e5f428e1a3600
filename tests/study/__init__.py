"""Tests of ceuskit.study (a package, so its conftest does not replace the ``conftest`` module tests/store imports)."""
