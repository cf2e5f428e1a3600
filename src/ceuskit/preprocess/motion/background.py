"""The anchoring pass on a second thread while the clip is still being read.

The anchoring pass matches each frame against the plain mean of its neighbours in time; its windows depend
only on the frame times and the first tracked frame, so once that frame is known the pass can follow the
reading a chunk of frames behind it. It computes exactly what :func:`~.tracker.track` would compute in its
first pass (the same function, the same order of work), handed to ``track`` as ``anchor``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ceuskit.preprocess.motion.tracker import TrackingOptions, anchor_matches

__all__ = ["AnchorWhileReading", "BackgroundAnchor"]


class _Cancelled(Exception):
    """The reading stopped (an error, or the first tracked frame turned out otherwise)."""


class BackgroundAnchor:
    """Runs :func:`~.tracker.anchor_matches` on a thread, following the frames as they are read.

    Parameters
    ----------
    features : (n, H, W) the features array the reader fills in frame order.
    validity : returns the validity array as it is at the time (it may be allocated late).
    times_s, radius, start_index, options : as for :func:`~.tracker.anchor_matches`.

    Call :meth:`advance` after each frame is stored, then :meth:`result` once all are (or :meth:`cancel`).
    """

    def __init__(self, features: np.ndarray, validity: Callable[[], np.ndarray], times_s: np.ndarray, *,
                 radius: int, start_index: int, options: TrackingOptions | None = None) -> None:
        self.start_index = start_index
        self._condition = threading.Condition()
        self._done = 0
        self._stopped = False
        self._matches: tuple[np.ndarray, np.ndarray] | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._matches = anchor_matches(features, validity, times_s, radius=radius,
                                               start_index=start_index, options=options, ready=self._wait)
            except _Cancelled:
                pass
            except BaseException as exc:  # raised in the reader's thread by result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="ceuskit-anchor", daemon=True)
        self._thread.start()

    def _wait(self, frames: int) -> None:
        with self._condition:
            while self._done < frames and not self._stopped:
                self._condition.wait()
            if self._stopped:
                raise _Cancelled

    def advance(self, frames: int) -> None:
        """Frames 0 … ``frames`` − 1 are stored."""
        with self._condition:
            self._done = frames
            self._condition.notify_all()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the anchoring pass's (ncc, template_pixels), once every frame has been stored (waits for it).

        Raises
        ------
        Exception
            Whatever the pass raised.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._matches is None:
            raise RuntimeError("the anchoring pass was cancelled")
        return self._matches

    def cancel(self) -> None:
        """Stop the pass and wait for its thread."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._thread.join()


class AnchorWhileReading:
    """The anchoring pass run while a clip is read, started once the first tracked frame is known.

    Parameters
    ----------
    features : (n, H, W) the features array the reader fills in frame order.
    validity : returns the validity array as it is at the time.
    times_s, radius, options : as for :func:`~.tracker.anchor_matches`.
    start_of : from the template area's mean level of the frames stored so far, the first tracked frame, or
        None while they cannot tell it yet; None: tracking starts at the first frame (started at once).

    Its matches are used only where the start it ran from is the one the caller finally tracks from.
    """

    def __init__(self, features: np.ndarray, validity: Callable[[], np.ndarray], times_s: np.ndarray, *,
                 radius: int, options: TrackingOptions | None,
                 start_of: Callable[[np.ndarray], int | None] | None) -> None:
        self.features, self.validity, self.times_s = features, validity, times_s
        self.radius, self.options, self.start_of = radius, options, start_of
        self.levels = np.zeros(times_s.size, dtype=np.float32)
        self.running: BackgroundAnchor | None = None if start_of is not None else self._start(0)

    def _start(self, start_index: int) -> BackgroundAnchor:
        return BackgroundAnchor(self.features, self.validity, self.times_s, radius=self.radius,
                                start_index=start_index, options=self.options)

    def stored(self, k: int) -> None:
        """Frame k's features are stored."""
        if self.running is None and self.start_of is not None:
            r = self.radius
            values = self.features[k]
            self.levels[k] = values[r:values.shape[0] - r, r:values.shape[1] - r].mean(dtype=np.float32)
            start = self.start_of(self.levels[:k + 1])
            if start is not None:
                self.running = self._start(start)
        if self.running is not None:
            self.running.advance(k + 1)

    def matches(self, start_index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Return the anchoring pass's matches from ``start_index`` on, when that is where it ran (else None).

        Raises
        ------
        Exception
            Whatever the pass raised.
        """
        if self.running is None or self.running.start_index != start_index:
            return None
        return self.running.result()

    def close(self) -> None:
        """Stop the pass if it still runs (an error while reading, or its matches not used)."""
        if self.running is not None:
            self.running.cancel()
