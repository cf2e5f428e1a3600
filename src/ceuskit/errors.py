"""Errors a user can cause, one tree.

Every error that bad input can cause is a :class:`CeusError`; its message says what was wrong and what to
do.  The command line prints it as one line ``ceuskit: error: …`` and exits with status 2.

::

    CeusError
     ├── InputError            bad argument or option value
     │    ├── ClipError        unreadable, truncated or foreign clip file; absurd frame timing
     │    │    └── TimingError  the file states no usable frame timing (give --fps)
     │    ├── RoiError         malformed ROI file, ROI outside the image or degenerate
     │    └── ManifestError    bad study manifest row (names the line)
     ├── FitError              a fit that cannot even be attempted (too few samples)
     ├── AnalysisError         an analysis that cannot produce a result (e.g. no parenchyma reference)
     ├── StoreError           study database problems (unknown study, schema mismatch, server down)
     └── PacsError            a PACS unreachable, refusing our credentials or association, or a transfer cut off
          └── PacsNotFoundError  the PACS has no such study, series or instance
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "CeusError",
    "ClipError",
    "FitError",
    "InputError",
    "ManifestError",
    "PacsError",
    "PacsNotFoundError",
    "RoiError",
    "StoreError",
    "TimingError",
]


class CeusError(Exception):
    """Base of every error a user can cause; the message is a single line meant for that user."""


class InputError(CeusError, ValueError):
    """An argument, option or input file is not acceptable."""


class ClipError(InputError):
    """A clip file cannot be read: truncated, foreign, absurd dimensions or no usable frame timing."""


class TimingError(ClipError):
    """A readable clip states no usable frame timing; ``--fps`` supplies it (``ceuskit info`` still describes
    the file)."""


class RoiError(InputError):
    """An ROI file is malformed, or an ROI lies outside the image or encloses no pixel."""


class ManifestError(InputError):
    """A study manifest is malformed; the message names the offending line."""


class FitError(CeusError):
    """A curve fit cannot be attempted at all (individual failed fits are results, not errors)."""


class AnalysisError(CeusError):
    """An analysis cannot produce a result from otherwise valid inputs."""


class StoreError(CeusError):
    """The study database cannot do what was asked."""


class PacsError(CeusError):
    """A PACS cannot do what was asked: unreachable, credentials or association refused, transfer broken off.

    Messages name the server (its base URL or host:port, never credentials) but no patient, study or other
    identifier: they end up in logs and screenshots.
    """


class PacsNotFoundError(PacsError):
    """The PACS has no study, series or instance matching the UIDs asked for."""
