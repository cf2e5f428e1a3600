"""ceuskit's JSON forms, checked against the standard library's json module and hashlib."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from ceuskit._json import canonical_sha256, json_safe, numpy_default


def test_numpy_values_become_python_numbers_and_lists():
    document = {"a": np.float32(1.5), "b": np.arange(3, dtype=np.int16), "c": [np.bool_(True)]}
    assert json.loads(json.dumps(document, default=numpy_default)) == {"a": 1.5, "b": [0, 1, 2], "c": [True]}
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps({"x": object()}, default=numpy_default)


def test_json_safe_gives_strict_json():
    document = {1: (np.float64("nan"), math.inf, -np.inf), "m": np.array([[1.0, np.nan]]), "s": "text"}
    safe = json_safe(document)
    assert safe == {"1": [None, None, None], "m": [[1.0, None]], "s": "text"}
    json.dumps(safe, allow_nan=False)  # raises if anything non-strict were left


def test_canonical_hash_ignores_key_order_and_whitespace():
    one, two = {"b": 1, "a": [1, 2]}, {"a": [1, 2], "b": 1}
    expected = hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert canonical_sha256(one) == canonical_sha256(two) == expected
