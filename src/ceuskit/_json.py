"""The JSON forms of ceuskit's documents: numpy values as Python numbers, strict JSON, canonical hashes.

Analyses, ROI sets and study records are dicts that may hold numpy scalars and arrays. One set of rules turns
them into JSON everywhere: :func:`numpy_default` for ``json.dumps(default=…)`` where NaN is an error
(analysis.json), :func:`json_safe` where NaN and infinity become ``null`` (the study database, the web API),
and :func:`canonical_sha256` for the hash of a document's content.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

__all__ = ["canonical_sha256", "json_safe", "numpy_default"]


def numpy_default(value: Any) -> Any:
    """Return a numpy scalar or array as the Python number or list ``json.dumps`` can write.

    Parameters
    ----------
    value : Any
        What ``json.dumps`` could not serialise itself.

    Returns
    -------
    Any
        ``value.item()`` for a numpy scalar, ``value.tolist()`` for an array.

    Raises
    ------
    TypeError
        Any other type (as ``json.dumps`` expects from its ``default``).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_safe(value: Any) -> Any:
    """Return the same document with NaN/inf as None and numpy scalars/arrays as Python numbers/lists.

    The form in which the study runner stores analysis documents and the web API returns them (strict JSON
    has no NaN).

    Parameters
    ----------
    value : Any
        A document of dicts, lists, tuples, numbers, numpy arrays and scalars.

    Returns
    -------
    Any
        The document as strict JSON can hold it (dict keys as str, tuples as lists).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        value = numpy_default(value)
        if isinstance(value, list):
            return json_safe(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical_sha256(document: Any) -> str:
    """Return the SHA-256 of a JSON document in canonical form (sorted keys, no whitespace).

    Parameters
    ----------
    document : Any
        A JSON-ready value (NaN allowed).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()
