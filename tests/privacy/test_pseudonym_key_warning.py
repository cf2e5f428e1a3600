"""``study import --deidentify`` without ``CEUSKIT_PSEUDONYM_KEY`` says once, on stderr, that the pseudonyms can
be recomputed and how to set the key — and it is true: the stored pseudonym is HMAC-SHA256 keyed by the study's
name (computed here with the standard library's hmac), which anyone can repeat."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest

from ceuskit.cli import main
from ceuskit.simulate import Phantom, simulate_clip

PATIENT = "NET-0042"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("key")
    clip = simulate_clip(folder, Phantom(seed=8, duration_s=10.0, fps=2.0), name="clip", patient_id=PATIENT)
    path = folder / "manifest.csv"
    path.write_text(f"patient_id,lesion_id,clip,roi,ki67\n{PATIENT},L1,{clip.dicom.name},{clip.roi.name},4.5\n")
    return path


def _import(tmp_path: Path, manifest: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["study", "import", str(manifest), "--db", url, "--deid-dir", str(tmp_path / "clean"), *extra]) == 0
    captured = capsys.readouterr()
    return url, captured.err


def _stored_patients(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return [row[0] for row in connection.execute("SELECT pseudonym FROM patients")]


def test_without_a_key_the_warning_comes_once(manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CEUSKIT_PSEUDONYM_KEY", raising=False)
    url, err = _import(tmp_path, manifest, capsys, "--deidentify")
    (line,) = [line for line in err.splitlines() if "warning" in line]
    assert line.startswith("ceuskit: warning: CEUSKIT_PSEUDONYM_KEY is not set")
    assert "anyone with the patient ids can recompute them" in line
    assert "export CEUSKIT_PSEUDONYM_KEY=" in line
    assert PATIENT not in err
    recomputed = "P-" + hmac.new(b"ceuskit:default", PATIENT.encode(), hashlib.sha256).hexdigest()[:12]
    assert _stored_patients(url) == [recomputed]  # what the warning says anyone can do


@pytest.mark.parametrize("key", ["", "a-site-secret-0123456789"])
def test_with_a_key_or_without_deidentify_no_warning(manifest: Path, tmp_path: Path, key: str,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if key:
        monkeypatch.setenv("CEUSKIT_PSEUDONYM_KEY", key)
        url, err = _import(tmp_path, manifest, capsys, "--deidentify")
        assert _stored_patients(url) == ["P-" + hmac.new(key.encode(), PATIENT.encode(), hashlib.sha256).hexdigest()[:12]]
    else:
        monkeypatch.delenv("CEUSKIT_PSEUDONYM_KEY", raising=False)
        url, err = _import(tmp_path, manifest, capsys)  # no pseudonyms made: nothing to warn about
        assert _stored_patients(url) == [PATIENT]
    assert "warning" not in err


def test_an_empty_key_is_no_key(manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CEUSKIT_PSEUDONYM_KEY", "")
    _, err = _import(tmp_path, manifest, capsys, "--deidentify")
    assert err.count("ceuskit: warning: CEUSKIT_PSEUDONYM_KEY is not set") == 1
