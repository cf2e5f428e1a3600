"""Errors a user can cause, one tree.

Every error that bad input can cause is a :class:`CeusError`; its message says what was wrong and what to
do.  The command line prints it as one line ``ceuskit: error: …`` and exits with status 2.

::

    CeusError
     ├── InputError            bad argument or option value
     │    ├── ClipError        unreadable, truncated or foreign clip file; absurd frame timing
     │    │    └── TimingError  the file states no usable frame timing (give --fps)
     │    ├── RoiError         malformed ROI file, ROI outside the image or degenerate
     │    ├── CurveError       a curve table of unknown layout, without time column, units or roles
 │    ├── UntimedClipError a clip of an examination states no acquisition time and was given no offset
     │    └── ManifestError    bad study manifest row (names the line)
     ├── FitError              a fit that cannot even be attempted (too few samples)
     ├── AnalysisError         an analysis that cannot produce a result (e.g. no parenchyma reference)
     │    └── ProposalError    nothing at a click stands out from the liver, or a lesion cannot be found again
     ├── ReportError           a report cannot be made (no Chromium to print the PDF)
     ├── StoreError           study database problems (unknown study, schema mismatch, server down)
     │    ├── ConflictError    the request clashes with what is stored (a user or read that exists already)
     │    └── AccountError     an account cannot be used or changed (bad name, weak password, disabled)
     │         └── ForbiddenError   the user may not do this (another reader's session, an admin's page)
     └── PacsError            a PACS unreachable, refusing our credentials or association, or a transfer cut off
          └── PacsNotFoundError  the PACS has no such study, series or instance
"""

from __future__ import annotations

__all__ = [
    "AccountError",
    "AnalysisError",
    "CeusError",
    "ClipError",
    "ConflictError",
    "CurveError",
    "FitError",
    "ForbiddenError",
    "InputError",
    "ManifestError",
    "PacsError",
    "PacsNotFoundError",
    "ProposalError",
    "ReportError",
    "RoiError",
    "StoreError",
    "TimingError",
    "UntimedClipError",
]


class CeusError(Exception):
    """Base of every error a user can cause; the message is a single line meant for that user."""


class InputError(CeusError, ValueError):
    """An argument, option or input file is not acceptable."""


class ClipError(InputError):
    """A clip file cannot be read: truncated, foreign, absurd dimensions or no usable frame timing."""


class TimingError(ClipError):
    """A readable clip states no usable frame timing.

    ``--fps`` supplies it (``ceuskit info`` still describes the file).
    """


class RoiError(InputError):
    """An ROI file is malformed, or an ROI lies outside the image or encloses no pixel."""


class CurveError(InputError):
    """A table of time–intensity curves cannot be read.

    Unknown layout, no time column, intensities whose units are not stated (``--units``) or min–max
    normalised, ROIs whose roles cannot be told (``--column``).
    """


class UntimedClipError(InputError):
    """A clip of an examination states no acquisition time, and no offset was given.

    The clip (video, frame folder, array) has no acquisition time to place it by, and no explicit offset
    (``--clip-offset``) was given; ``index`` is its 0-based place in the clips given.
    """

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class ManifestError(InputError):
    """A study manifest is malformed; the message names the offending line."""


class FitError(CeusError):
    """A curve fit cannot be attempted at all (individual failed fits are results, not errors)."""


class AnalysisError(CeusError):
    """An analysis cannot produce a result from otherwise valid inputs."""


class ProposalError(AnalysisError):
    """No ROI can be proposed.

    The click is off the image, nothing there differs from the liver around it, or a lesion cannot be found
    again on a sweep.  Drawing the ROI by hand remains possible.
    """


class ReportError(CeusError):
    """A report cannot be made: no Chromium to print its PDF, or the printing failed."""


class StoreError(CeusError):
    """The study database cannot do what was asked."""


class ConflictError(StoreError):
    """What was asked clashes with what is stored: a user, a reading session or a read that exists already."""


class AccountError(StoreError):
    """An account cannot be created, used or changed: bad user name or role, weak password, unknown user."""


class ForbiddenError(AccountError):
    """The signed-in user may not do this: another reader's session, a clip outside their open sessions."""


class PacsError(CeusError):
    """A PACS cannot do what was asked: unreachable, credentials or association refused, transfer broken off.

    Messages name the server (its base URL or host:port, never credentials) but no patient, study or other
    identifier: they end up in logs and screenshots.
    """


class PacsNotFoundError(PacsError):
    """The PACS has no study, series or instance matching the UIDs asked for."""
