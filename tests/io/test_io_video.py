"""Videos written here with PyAV at known presentation timestamps (including uneven intervals)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ceuskit.io import open_clip

PTS_MS = [0, 40, 100, 130, 200, 210, 300, 333, 400, 480, 520, 600]  # uneven frame intervals


def _image(k: int) -> np.ndarray:
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[..., 0] = 10 * k
    image[8:40, 8 + k:20 + k, 1] = 200
    image[..., 2] = (np.arange(64) * 3)[None, :]
    return image


def _write(path: Path, container: str, codec: str, pix_fmt: str, pts: list[int], time_base: Fraction,
           options: dict[str, str] | None = None) -> None:
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=int(1 / time_base))
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.time_base = stream.codec_context.time_base = time_base
        if options:
            stream.options = options
        for k, stamp in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(_image(k), format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


@pytest.mark.parametrize(("suffix", "container", "codec", "pix_fmt", "options", "atol"), [
    ("mkv", "matroska", "ffv1", "bgr0", None, 0),          # lossless
    ("mov", "mov", "png", "rgb24", None, 0),               # lossless
    ("mp4", "mp4", "libx264", "yuv444p", {"qp": "0"}, 3),  # lossless in YUV; RGB↔YUV rounding only
])
def test_variable_frame_intervals(tmp_path: Path, suffix: str, container: str, codec: str, pix_fmt: str,
                                  options: dict[str, str] | None, atol: int) -> None:
    path = tmp_path / f"clip.{suffix}"
    _write(path, container, codec, pix_fmt, PTS_MS, Fraction(1, 1000), options)
    with open_clip(path) as clip:
        np.testing.assert_allclose(clip.times, np.array(PTS_MS) / 1000.0, atol=1e-9)  # the pts written
        assert (clip.rows, clip.columns) == (48, 64)
        for k in (5, 1, 11, 6, 7, 0):  # random access, backwards and forwards
            np.testing.assert_allclose(clip.raw(k).astype(int), _image(k).astype(int), atol=atol)
        streamed = [clip.raw(k) for k in range(clip.n_frames)]
        for k, (index, grey) in enumerate(clip.iter_frames()):
            assert index == k
            np.testing.assert_allclose(grey, streamed[k].astype(np.float32) @ np.float32([0.299, 0.587, 0.114]),
                                       atol=1e-3)


def test_avi_constant_rate(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write(path, "avi", "ffv1", "bgr0", list(range(10)), Fraction(1, 25))
    with open_clip(path, fps=99) as clip:  # a video's own timestamps win over fps
        np.testing.assert_allclose(clip.times, np.arange(10) / 25.0, atol=1e-9)
        np.testing.assert_array_equal(clip.raw(9), _image(9))
        np.testing.assert_array_equal(clip.raw(3), _image(3))
