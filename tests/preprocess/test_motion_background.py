"""The anchoring pass run on a second thread while frames arrive gives exactly the batch pass's matches."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ceuskit.preprocess.motion.background import AnchorWhileReading, BackgroundAnchor
from ceuskit.preprocess.motion.tracker import anchor_matches, track


def _clip(n: int = 150, radius: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speckle texture moved by a breathing sinusoid; late frames sparse; a patch invalid from frame 90."""
    rng = np.random.default_rng(seed)
    texture = rng.random((40 + 2 * radius + 12, 40 + 2 * radius + 12)).astype(np.float32)
    times = np.concatenate([np.arange(120) / 10.0, 12.0 + 2.0 * np.arange(1, n - 119)])
    shift = np.rint(3 * np.sin(2 * np.pi * times / 4.0)).astype(int)
    size = 40 + 2 * radius
    features = np.stack([texture[6 + s:6 + s + size, 6:6 + size] for s in shift]).astype(np.float16)
    valid = np.ones(features.shape, dtype=bool)
    valid[90:, :5, :5] = False
    return features, valid, times


@pytest.mark.parametrize("start", [0, 17])
def test_matches_computed_while_frames_arrive_equal_the_batch_pass(start: int) -> None:
    features, valid, times = _clip()
    batch = anchor_matches(features, valid, times, radius=4, start_index=start)
    filling = np.zeros_like(features)
    state: dict[str, np.ndarray | None] = {"valid": None}  # allocated late, as the reader does
    pass_ = BackgroundAnchor(filling, lambda: state["valid"] if state["valid"] is not None
                             else np.broadcast_to(np.True_, filling.shape), times, radius=4, start_index=start)
    for k in range(features.shape[0]):
        filling[k] = features[k]
        if not valid[k].all() and state["valid"] is None:
            state["valid"] = np.ones(filling.shape, dtype=bool)
        if state["valid"] is not None:
            state["valid"][k] = valid[k]
        pass_.advance(k + 1)
    ncc, pixels = pass_.result()
    np.testing.assert_array_equal(ncc, batch[0])
    np.testing.assert_array_equal(pixels, batch[1])
    plain = track(features, valid, times, radius=4, reference_index=60, start_index=start)
    given = track(features, valid, times, radius=4, reference_index=60, start_index=start, anchor=lambda: (ncc, pixels))
    np.testing.assert_array_equal(plain.shifts_px, given.shifts_px)
    np.testing.assert_array_equal(plain.rejected, given.rejected)


def test_a_start_found_early_that_differs_from_the_final_one_is_not_used() -> None:
    features, valid, times = _clip()
    reading = AnchorWhileReading(features, lambda: valid, times, radius=4, options=None,
                                 start_of=lambda levels: 5 if levels.size >= 10 else None)
    for k in range(features.shape[0]):
        reading.stored(k)
    assert reading.matches(6) is None
    ncc, _ = reading.matches(5) or (None, None)
    np.testing.assert_array_equal(ncc, anchor_matches(features, valid, times, radius=4, start_index=5)[0])
    reading.close()


def test_cancelling_stops_the_thread_while_it_waits_for_frames() -> None:
    features, valid, times = _clip()
    pass_ = BackgroundAnchor(features, lambda: valid, times, radius=4, start_index=0)
    pass_.advance(10)
    pass_.cancel()
    assert not any(t.name == "ceuskit-anchor" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="cancelled"):
        pass_.result()
