"""A lesion's reading in words, for people: printed lines, figure titles and tables.

analysis.json keeps its codes (``not_assessed``, ``hyper``, ``early``); what a reader sees says them in words
(``late: not assessed``), from these functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["label_words", "reading_words", "washout_words"]

_WORDS = {"not_assessed": "not assessed", None: "none"}


def label_words(code: str | None) -> str:
    """Return a label code in words: ``not_assessed`` → "not assessed", None → "none", others as they are.

    Parameters
    ----------
    code : str or None
        A label of analysis.json (enhancement, wash-out timing or degree, LI-RADS category).

    Returns
    -------
    str
    """
    if code in _WORDS:
        return _WORDS[code]
    return str(code).replace("_", " ")


def washout_words(portal_venous: Mapping[str, Any]) -> str:
    """Return the wash-out in words.

    "early, mild", "late, marked" or "none" (degree unknown: the timing alone).

    Parameters
    ----------
    portal_venous : Mapping
        The lesion's ``portal_venous_phase`` of analysis.json.

    Returns
    -------
    str
    """
    if not portal_venous.get("washout"):
        return "none"
    parts = [label_words(portal_venous.get(k)) for k in ("washout_timing", "washout_degree") if portal_venous.get(k)]
    return ", ".join(parts) or "present"


def reading_words(lesion: Mapping[str, Any]) -> str:
    """Return a lesion's three phases in words.

    "arterial: hyper · wash-out: early, mild · late: not assessed".

    Parameters
    ----------
    lesion : Mapping
        One entry of analysis.json's ``lesions``.

    Returns
    -------
    str
    """
    return (f"arterial: {label_words(lesion['arterial_phase']['enhancement'])} · "
            f"wash-out: {washout_words(lesion['portal_venous_phase'])} · "
            f"late: {label_words(lesion['late_phase']['enhancement'])}")
