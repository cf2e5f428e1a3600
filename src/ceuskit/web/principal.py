"""Who is signed in: the :class:`Principal` every request acts for.

:mod:`ceuskit.web.security` makes it; :mod:`ceuskit.web.context` keeps it for viewers of shared links.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """The signed-in party: a user (``id``), or the bootstrap administrator (``id`` None).

    ``via`` is "session" (browser cookie), "token" (a user's API token) or "bootstrap" (CEUSKIT_TOKEN).
    """

    id: int | None
    username: str
    role: str
    via: str
    session_id: int | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the principal may do everything."""
        return self.role == "admin"
