"""Video files (AVI, MP4, MOV, MKV…) → :class:`~ceuskit.io.clip.Clip` through PyAV, with real timestamps.

Opening a video demuxes its packets once, without decoding, to learn every frame's presentation
timestamp (pts × time base) and which frames are keyframes; frame times are seconds from the first
frame.  Frames are decoded as RGB uint8 on demand: sequential reads continue the running decoder, a
jump backwards or past the next keyframe seeks to the nearest keyframe at or before the wanted frame
and decodes forward.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ceuskit.errors import ClipError
from ceuskit.io.clip import Box, Clip, crop_box
from ceuskit.io.layout import resolve_layout

__all__ = ["VideoFrames", "is_video", "read_video"]

_NOT_VIDEO_FORMATS = ("image2", "tty", "lavfi")
"""FFmpeg demuxers that open still images or text, which are not clips."""


def is_video(path: str | Path) -> bool:
    """Return True when FFmpeg opens ``path`` as a container with a video stream (still images excluded)."""
    try:
        with av.open(str(path)) as container:
            name = container.format.name
            has_video = bool(container.streams.video)
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False
    return has_video and not name.endswith("_pipe") and name not in _NOT_VIDEO_FORMATS


MAX_FRAME_PIXELS = 8192 * 8192
"""Largest frame a video may declare (an ultrasound display is at most a few megapixels)."""


def _demux(path: str) -> tuple[list[int], list[bool], Fraction, dict[str, Any]]:
    """Presentation timestamps (stream time base units) and keyframe flags of every video packet."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as exc:
        raise ClipError(f"{path}: the video cannot be opened ({exc})") from exc
    with container:
        if not container.streams.video:
            raise ClipError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        time_base = stream.time_base
        if stream.codec_context is None:
            raise ClipError(f"{path}: the video stream's codec is unknown or damaged; convert the file to MP4")
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width * height > MAX_FRAME_PIXELS:
            raise ClipError(f"{path}: the video claims {width}×{height}-pixel frames, beyond any ultrasound "
                            "display; the file is damaged")
        facts = {"container": container.format.name, "codec": stream.codec_context.name,
                 "container_frame_count": int(stream.frames or 0)}
        stamps: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    raise ClipError(f"{path}: the video's packets carry no timestamps; convert it to MP4 or MKV")
                stamps.append((int(stamp), bool(packet.is_keyframe)))
        except (av.FFmpegError, OSError) as exc:
            raise ClipError(f"{path}: the video is truncated or corrupt ({exc})") from exc
    if time_base is None or not stamps:
        raise ClipError(f"{path}: the video has no frames")
    stamps.sort()
    pts = [p for p, _ in stamps]
    if len(set(pts)) != len(pts):
        raise ClipError(f"{path}: several video frames share one timestamp; the file's timing is broken")
    return pts, [k for _, k in stamps], Fraction(time_base), facts


class VideoFrames:
    """Decodes frames of one video on demand (a :class:`~ceuskit.io.clip.FrameSource`).

    Parameters
    ----------
    path : the video file.
    pts : presentation timestamps of the frames in display order (stream time base units).
    keyframes : per frame, whether a decoder can start there.

    One running decoder: one thread at a time reads frames.
    """

    concurrent = False

    def __init__(self, path: str, pts: list[int], keyframes: list[bool]) -> None:
        self._path = path
        self._pts = pts
        self._index = {p: i for i, p in enumerate(pts)}
        self._keyframes = [i for i, k in enumerate(keyframes) if k] or [0]
        self._container: Any = None
        self._decoder: Iterator[Any] | None = None
        self._position: int | None = None  # index of the next frame the running decoder yields
        self._last: tuple[int, np.ndarray] | None = None

    def _restart(self, index: int) -> None:
        if self._container is None:
            self._container = av.open(self._path)
        stream = self._container.streams.video[0]
        keyframe = self._keyframes[max(0, bisect.bisect_right(self._keyframes, index) - 1)]
        if keyframe == 0:
            self._container.seek(0, stream=stream, backward=True, any_frame=False)
        else:
            self._container.seek(self._pts[keyframe], stream=stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(stream)
        self._position = None

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (rows, columns, 3) RGB uint8."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        next_keyframe = bisect.bisect_right(self._keyframes, index) - 1
        try:
            if (self._decoder is None or self._position is None or self._position > index
                    or (next_keyframe >= 0 and self._position < self._keyframes[next_keyframe])):
                self._restart(index)
            assert self._decoder is not None
            for frame in self._decoder:
                found = self._index.get(frame.pts) if frame.pts is not None else self._position
                if found is None:
                    continue
                self._position = found + 1
                if found == index:
                    pixels: np.ndarray = frame.to_ndarray(format="rgb24")
                    self._last = (index, pixels)
                    return pixels
                if found > index:
                    break
        except (av.FFmpegError, OSError) as exc:  # PyAV maps some FFmpeg errors to OSError subclasses
            self._decoder, self._position = None, None
            raise ClipError(f"{self._path}: frame {index} cannot be decoded ({exc})") from exc
        self._decoder, self._position = None, None
        raise ClipError(f"{self._path}: frame {index} cannot be decoded (the decoder skipped it); "
                        "the video is corrupt")

    def iterate(self, start: int, stop: int, box: Box | None = None) -> Iterator[np.ndarray]:
        """Frames ``start … stop-1`` in order (one running decoder), cut to ``box`` when given."""
        for index in range(start, stop):
            yield crop_box(self.read(index), box)

    def close(self) -> None:
        """Close the container and forget the decoder; the next :meth:`read` reopens the file."""
        if self._container is not None:
            self._container.close()
        self._container, self._decoder, self._position, self._last = None, None, None, None


def read_video(path: str | Path, *, layout: str = "auto") -> Clip:
    """Open a video file as a :class:`Clip` with its presentation timestamps.

    Parameters
    ----------
    path : AVI, MP4, MOV, MKV or any container FFmpeg reads.
    layout : "auto", "single", "dual-left-ceus" or "dual-right-ceus".

    Raises
    ------
    ClipError
        No video stream, no frames, missing or duplicate timestamps, undecodable first frame.
    """
    source = str(path)
    pts, keyframes, time_base, facts = _demux(source)
    times = (np.asarray(pts, dtype=np.float64) - pts[0]) * float(time_base)
    frames = VideoFrames(source, pts, keyframes)
    try:
        first = frames.read(0)
        notes = []
        if facts["container_frame_count"] and facts["container_frame_count"] != len(pts):
            notes.append(f"the container states {facts['container_frame_count']} frames, its packets hold {len(pts)}")
        info: dict[str, object] = {"format": "video", **facts, "time_base": str(time_base),
                                   "timing_source": "presentation_timestamps"}
        if notes:
            info["warnings"] = notes
        clip = Clip(source=source, times=times, rows=int(first.shape[0]), columns=int(first.shape[1]),
                    frames=frames, info=info)
        return resolve_layout(clip, (), layout)
    except BaseException:
        frames.close()
        raise
