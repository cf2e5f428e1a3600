"""Damaged input: a deid-data ultrasound file with its header bytes overwritten or cut short.

Property: ``deidentify_file`` either writes a de-identified file (readable, Patient Identity Removed YES, no
private tags) or raises ``ClipError``/``InputError`` with one line naming no header value, and leaves no output
or temporary file behind.  Deterministic (derandomized) so every run checks the same cases.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import warnings
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceuskit.errors import ClipError, InputError
from ceuskit.io.deid import DeidOptions, deidentify_file

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import discover_us_files, materialise  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ENTRY = next(f for f in discover_us_files() if f.label == "ultrasounds/GREYSCALE_IMAGE.dcm")
CASES = 300
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=CASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Original(tuple):  # type: ignore[type-arg]
    """(bytes, pixel data offset, identifying values) with a short repr for hypothesis' reports."""

    def __repr__(self) -> str:
        return f"<{ENTRY.label}: {len(self[0])} bytes>"


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, set[str]]:
    """The file's bytes, where its pixel data element starts, and its identifying values (4+ characters)."""
    path = materialise(ENTRY, tmp_path_factory.mktemp("orig"))
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    values = {str(e.value) for e in ds.iterall() if e.VR in ("PN", "DA", "UI", "LO", "SH") and e.value}
    return Original((data, data.find(b"\xe0\x7f\x10\x00"), {v for v in values if len(v) >= 4}))


def _check(data: bytes, folder: Path, identifiers: set[str]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    source, target = folder / "in.dcm", folder / "out" / "o.dcm"
    source.write_bytes(data)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    error: Exception | None = None
    try:
        deidentify_file(source, target, DeidOptions(key=b"hostile-key-0123456789"))
    except (ClipError, InputError) as exc:
        error = exc
    finally:
        logging.getLogger().removeHandler(handler)
    assert records == []  # nothing logged (pydicom's records quote the damaged values)
    if error is not None:
        message = str(error)
        assert "\n" not in message.strip() and not any(v in message for v in identifiers)
        assert not target.exists()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = pydicom.dcmread(target, stop_before_pixels=True)
        assert result.PatientIdentityRemoved == "YES"
        assert not any(e.tag.is_private for e in result.iterall())
    out = folder / "out"
    assert not out.exists() or not list(out.glob(".*"))  # no temporary file left


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), min_size=1,
                      max_size=6))
def test_overwritten_header_bytes(original: tuple[bytes, int, set[str]], tmp_path: Path,
                                  edits: list[tuple[int, bytes]]) -> None:
    data, header_end, identifiers = original
    damaged = bytearray(data)
    for where, patch in edits:
        at = 128 + where % (header_end + 12 - 128)  # anywhere from the DICM prefix to the pixel element header
        damaged[at:at + len(patch)] = patch
    _check(bytes(damaged), tmp_path / "case", identifiers)


@FUZZ
@given(cut=st.integers(0, 10**7))
def test_truncated_file(original: tuple[bytes, int, set[str]], tmp_path: Path, cut: int) -> None:
    data, _, identifiers = original
    _check(data[:cut % len(data)], tmp_path / "case", identifiers)


def test_cli_with_logging_on_prints_no_identifier(original: tuple[bytes, int, set[str]], tmp_path: Path) -> None:
    """A real process with logging at DEBUG on stderr: values pydicom would quote (an invalid UID, an
    invalid patient id) and a truncated file go through ``ceuskit deidentify``; no identifier comes out."""
    data, _, identifiers = original
    tree = tmp_path / "archive"
    tree.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(BytesIO(data))
        ds.PatientID = "SECRETPATIENT\x01"
        ds.StudyInstanceUID = "1.2.840.99999.SECRETUID"
        previous = pydicom.config.settings.writing_validation_mode
        pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
        try:
            ds.save_as(tree / "odd.dcm")
        finally:
            pydicom.config.settings.writing_validation_mode = previous
    (tree / "cut.dcm").write_bytes(data[:5000])
    script = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); from ceuskit.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, "deidentify", str(tree), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-500:]
    printed = done.stdout + done.stderr
    assert "1 file(s)" in done.stdout and "cut.dcm" in done.stderr
    for value in identifiers | {"SECRET"}:
        assert value not in printed, "an identifier was printed"
