"""Bad input to ``ceuskit pacs`` and ``export-dicom --push``: one line ``ceuskit: error: …``, exit 2, nothing
sent or written, no identifier repeated (no PACS needed: every one of these is refused before connecting)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pacs_testing import run

URL = "http://127.0.0.1:9/dicom-web"  # never contacted


@pytest.mark.parametrize(("args", "message"), [
    (["pacs", "find"], "give the PACS as --url URL (DICOMweb) or --dimse HOST:PORT (DIMSE), not both"),
    (["pacs", "find", "--url", URL, "--dimse", "h:1"], "not both"),
    (["pacs", "find", "--url", URL, "--study-date", "2026-13-01"], "--study-date must be YYYYMMDD"),
    (["pacs", "find", "--url", URL, "--patient-id", "A\\B"], "--patient-id must be 1 to 64 characters"),
    (["pacs", "find", "--url", URL, "--modality", "ultra sound"], "--modality must be a DICOM modality code"),
    (["pacs", "find", "--url", URL, "--aec", "PACS"], "--aet and --aec are for DIMSE"),
    (["pacs", "pull", "--url", URL, "--study", "1.2.840.999.12345x", "--out", "o"], "--study is not a DICOM UID"),
    (["pacs", "pull", "--url", URL, "--study", "1.2.3", "--instance", "1.2.4", "--out", "o"],
     "--instance needs --series"),
    (["pacs", "pull", "--url", URL, "--study", "1.2.3", "--key-file", "k", "--out", "o"],
     "--key-file is for --deidentify"),
    (["pacs", "pull", "--url", URL, "--study", "1.2.3", "--move-port", "11112", "--out", "o"],
     "--move-port is for DIMSE"),
    (["pacs", "pull", "--dimse", "127.0.0.1:9", "--study", "1.2.3", "--move-port", "0", "--out", "o"],
     "--move-port must be a TCP port"),
    (["pacs", "push", "--url", URL, "missing.dcm"], "missing.dcm: no such file or folder"),
    (["pacs", "echo", "--url", "pacs.example.org"], "--url must be an http:// or https:// DICOMweb base URL"),
    (["pacs", "echo", "--dimse", "pacs.example.org"], "--dimse must be HOST:PORT"),
    (["pacs", "echo", "--url", URL, "--timeout", "-1"], "--timeout must be between 0 and 3600 s"),
    (["pacs", "echo", "--url", URL, "--ca-bundle", "none.pem"], "CA bundle none.pem: no such file"),
])
def test_refused_before_connecting(args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *args)
    assert (status, out) == (2, "")
    assert err.startswith("ceuskit: error: ") and message in err and err.count("\n") == 1
    assert "1.2.840.999.12345x" not in err
    assert not (tmp_path / "o").exists()


def test_export_push_to_an_unknown_destination_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    clip, rois = tmp_path / "clip.dcm", tmp_path / "rois.json"
    clip.write_bytes(b"")
    rois.write_text("{}")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "analysis.json").write_text("{}")
    status, out, err = run(capsys, "export-dicom", tmp_path / "analysis", "--clip", clip, "--roi", rois,
                           "--out", tmp_path / "results", "--push", "hospital")
    assert (status, out) == (2, "")
    assert err.startswith("ceuskit: error: the PACS must be a DICOMweb URL (http:// or https://) or the name of an "
                          "entry of the PACS config file")
    assert not (tmp_path / "results").exists()


def test_missing_optional_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "dicomweb_client.api", None)
    monkeypatch.delitem(sys.modules, "ceuskit.pacs.dicomweb", raising=False)
    status, _, err = run(capsys, "pacs", "echo", "--url", URL)
    assert status == 2
    assert err == "ceuskit: error: PACS support needs the optional package dicomweb_client.api: pip install " \
                  "'ceuskit[pacs]'\n"


def test_pull_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "clips"
    target.write_text("a file, not a folder")
    status, out, err = run(capsys, "pacs", "pull", "--url", URL, "--study", "1.2.3", "--out", target)
    assert (status, out, err) == (2, "", f"ceuskit: error: {target} is a file; --out must be a folder\n")
