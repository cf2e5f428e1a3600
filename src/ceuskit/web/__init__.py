"""The browser workstation: ``ceuskit serve`` (FastAPI app, static UI shipped in the package)."""

from __future__ import annotations

from ceuskit.web.app import Settings, create_app, load_or_create_token

__all__ = ["Settings", "create_app", "load_or_create_token"]
