"""``multipart/related`` (RFC 2387) as DICOMweb uses it, streamed both ways.

:func:`iter_parts` reads a WADO-RS answer part by part without holding a part in memory; a stream that ends
before the closing boundary raises :class:`~ceuskit.pacs.http.TransferBroken`.  :class:`MultipartBody` is a
STOW-RS request body read from the files as it is sent, with a known length (so a ``Content-Length``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ceuskit.pacs.http import TransferBroken

__all__ = ["MultipartBody", "boundary_of", "iter_parts"]

_MAX_HEADER_BYTES = 16 * 1024


def boundary_of(content_type: str) -> bytes | None:
    """Return the boundary of a ``multipart/related`` Content-Type, None for any other type.

    Raises
    ------
    ValueError
        A multipart type without a boundary.
    """
    media, *params = [p.strip() for p in content_type.split(";")]
    if media.lower() != "multipart/related":
        return None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if value:
                return value.encode("latin-1")
    raise ValueError("multipart answer without a boundary")


class _Stream:
    """A byte buffer refilled from an iterator of chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.buffer = bytearray()
        self.ended = False

    def fill(self) -> bool:
        """Append the next non-empty chunk; False at the end of the stream."""
        for chunk in self._chunks:
            if chunk:
                self.buffer += chunk
                return True
        self.ended = True
        return False

    def find(self, needle: bytes, start: int = 0) -> int:
        """Position of ``needle`` at or after ``start``, reading more as needed; -1 at the end of the stream."""
        while True:
            found = self.buffer.find(needle, start)
            if found >= 0:
                return found
            start = max(start, len(self.buffer) - len(needle) + 1)
            if not self.fill():
                return -1


def _headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def iter_parts(chunks: Iterable[bytes], boundary: bytes) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
    """Parts of a multipart body as (headers with lower-case names, iterator of body chunks).

    Each body iterator must be consumed before the next part is asked for (what is left is skipped).

    Raises
    ------
    TransferBroken
        The stream ended inside a part or before the closing boundary.
    ValueError
        Part headers larger than 16 KiB, or garbage after a boundary.
    """
    stream = _Stream(chunks)
    stream.buffer += b"\r\n"  # so that a boundary at the very start matches CRLF--boundary too
    delimiter = b"\r\n--" + boundary
    start = stream.find(delimiter)
    if start < 0:
        raise TransferBroken("no multipart boundary")
    del stream.buffer[:start + len(delimiter)]
    while True:
        while len(stream.buffer) < 2 and stream.fill():
            pass
        if stream.buffer[:2] == b"--":
            return
        end_of_line = stream.find(b"\r\n")
        if end_of_line < 0:
            raise TransferBroken("stream ended after a boundary")
        if stream.buffer[:end_of_line].strip(b" \t"):
            raise ValueError("garbage after a multipart boundary")
        del stream.buffer[:end_of_line + 2]
        header_end = stream.find(b"\r\n\r\n") if not stream.buffer.startswith(b"\r\n") else -2
        if header_end == -1:
            raise TransferBroken("stream ended inside part headers")
        if header_end > _MAX_HEADER_BYTES:
            raise ValueError("multipart part headers too large")
        if header_end == -2:  # no headers at all
            headers, skip = {}, 2
        else:
            headers, skip = _headers(bytes(stream.buffer[:header_end])), header_end + 4
        del stream.buffer[:skip]
        body = _body(stream, delimiter)
        yield headers, body
        for _ in body:  # whatever the caller left unread
            pass


def _body(stream: _Stream, delimiter: bytes) -> Iterator[bytes]:
    keep = len(delimiter) - 1
    while True:
        found = stream.buffer.find(delimiter)
        if found >= 0:
            if found:
                yield bytes(stream.buffer[:found])
            del stream.buffer[:found + len(delimiter)]
            return
        if len(stream.buffer) > keep:
            cut = len(stream.buffer) - keep
            yield bytes(stream.buffer[:cut])
            del stream.buffer[:cut]
        if not stream.fill():
            raise TransferBroken("stream ended inside a part")


class MultipartBody:
    """A ``multipart/related; type="application/dicom"`` body of whole DICOM files, read as it is sent.

    ``len()`` is the exact body size (requests sends it as Content-Length); ``progress(bytes_sent)`` is
    called as the body is read.
    """

    def __init__(self, paths: Iterable[Path], *, progress: Callable[[int], None] | None = None) -> None:
        self.boundary = uuid.uuid4().hex
        self._segments: list[bytes | Path] = []
        for path in paths:
            size = os.path.getsize(path)
            self._segments.append(f"--{self.boundary}\r\nContent-Type: application/dicom\r\n"
                                  f"Content-Length: {size}\r\n\r\n".encode("ascii"))
            self._segments.append(Path(path))
            self._segments.append(b"\r\n")
        self._segments.append(f"--{self.boundary}--\r\n".encode("ascii"))
        self._length = sum(len(s) if isinstance(s, bytes) else os.path.getsize(s) for s in self._segments)
        self._progress = progress
        self._index = 0
        self._offset = 0
        self._sent = 0
        self._handle: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        """The request's Content-Type header."""
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (all that is left when ``size`` < 0); b"" at the end."""
        size = self._length if size is None or size < 0 else size
        out = bytearray()
        while len(out) < size and self._index < len(self._segments):
            segment = self._segments[self._index]
            if isinstance(segment, bytes):
                piece = segment[self._offset:self._offset + size - len(out)]
            else:
                if self._handle is None:
                    self._handle = open(segment, "rb")  # noqa: SIM115 - closed when the segment is done
                piece = self._handle.read(size - len(out))
            if not piece:
                self.close()
                self._index, self._offset = self._index + 1, 0
                continue
            out += piece
            self._offset += len(piece)
        self._sent += len(out)
        if self._progress is not None and out:
            self._progress(self._sent)
        return bytes(out)

    def close(self) -> None:
        """Close the file being read, if any."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
