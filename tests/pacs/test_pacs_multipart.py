"""multipart/related streamed both ways, checked against Python's own MIME parser (``email``)."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

import numpy as np
import pytest

from ceuskit.pacs.http import TransferBroken
from ceuskit.pacs.multipart import MultipartBody, boundary_of, iter_parts


@pytest.fixture()
def files(tmp_path: Path) -> list[Path]:
    """Three payloads, one of them full of CRLF and dashes (what a boundary search could trip on)."""
    rng = np.random.default_rng(3)
    payloads = [rng.bytes(5000), b"\r\n--\r\n--" * 300 + b"\r\n-", b""]
    paths = []
    for number, payload in enumerate(payloads):
        path = tmp_path / f"part{number}.dcm"
        path.write_bytes(payload)
        paths.append(path)
    return paths


def read_all(body: MultipartBody, size: int) -> bytes:
    out = bytearray()
    while chunk := body.read(size):
        out += chunk
    return bytes(out)


def test_body_is_what_the_email_parser_reads(files: list[Path]) -> None:
    sent: list[int] = []
    body = MultipartBody(files, progress=sent.append)
    data = read_all(body, 777)
    assert len(data) == len(body) and sent[-1] == len(body)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data)
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["application/dicom"] * 3
    assert [p.get_payload(decode=True) for p in parts] == [f.read_bytes() for f in files]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000, 1 << 20])
def test_parts_come_back_whatever_the_chunking(files: list[Path], chunk: int) -> None:
    body = MultipartBody(files)
    data = read_all(body, 4096)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    parts = [(headers, b"".join(payload)) for headers, payload in iter_parts(chunks, body.boundary.encode())]
    assert [p for _, p in parts] == [f.read_bytes() for f in files]
    assert [h["content-length"] for h, _ in parts] == [str(f.stat().st_size) for f in files]


def test_a_stream_cut_anywhere_is_a_broken_transfer(files: list[Path]) -> None:
    body = MultipartBody(files[:2])
    data = read_all(body, 4096)
    closing = data.rindex(b"--" + body.boundary.encode() + b"--")
    after_delimiter = closing + 2 + len(body.boundary)  # "--BOUNDARY" read, its closing "--" not
    for cut in list(range(0, closing + 2, 97)) + [closing, closing + 1, after_delimiter, after_delimiter + 1]:
        with pytest.raises(TransferBroken):
            for _, payload in iter_parts([data[:cut]], body.boundary.encode()):
                for _ in payload:
                    pass


def test_unread_parts_are_skipped_and_preamble_ignored(files: list[Path]) -> None:
    body = MultipartBody(files)
    data = b"preamble text\r\n" + read_all(body, 4096)
    sizes = [int(headers["content-length"]) for headers, _ in iter_parts([data], body.boundary.encode())]
    assert sizes == [f.stat().st_size for f in files]


def test_boundary_of() -> None:
    assert boundary_of('multipart/related; type="application/dicom"; boundary="abc"') == b"abc"
    assert boundary_of("Multipart/Related; Boundary=xyz") == b"xyz"
    assert boundary_of("application/dicom") is None
    with pytest.raises(ValueError, match="without a boundary"):
        boundary_of("multipart/related; type=application/dicom")
