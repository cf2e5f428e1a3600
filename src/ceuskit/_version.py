"""The version of ceuskit.

It has a module of its own so that any module can record it without importing the package root (whose public
names load lazily); pyproject.toml reads it too.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
"""The version of ceuskit, as ``ceuskit --version`` prints it and every ``analysis.json`` records it."""
