"""The browser workstation: ``ceuskit serve`` (FastAPI app, static UI shipped in the package)."""

from __future__ import annotations

from ceuskit.web.app import create_app, load_or_create_token
from ceuskit.web.context import Settings

__all__ = ["Settings", "create_app", "load_or_create_token"]
