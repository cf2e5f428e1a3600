"""The one header summary: what ``ceuskit info`` prints and what a study stores with a clip, for every real
ultrasound file of the test-data packages and for files written here with identifiers in them.

Expected values come from the file's header read here with pydicom (PS3.3 keywords), and the identifiers a
summary must never carry are the ones this test writes into the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import UsFile, discover_us_files, materialise, write_us

from ceuskit.cli import main
from ceuskit.feed import clip_summary
from ceuskit.io.dicom import SUMMARY_KEYWORDS
from ceuskit.study import clip_header_summary

US_FILES = discover_us_files()
FILE_FACTS = {"name", "format", "size_bytes"}
IDENTIFIERS = {"PatientName": "Doe^Jane", "PatientID": "PID-83621", "PatientBirthDate": "19610412",
               "AccessionNumber": "ACC-5521", "InstitutionName": "St Elsewhere Hospital",
               "ReferringPhysicianName": "Kildare^James", "DeviceSerialNumber": "SN-99812",
               "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.11111", "StudyID": "ST-774"}


def _header(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def _stated(ds: pydicom.Dataset, keyword: str) -> object:
    """The element as the file states it (Transfer Syntax UID from the File Meta Information)."""
    source = ds.file_meta if keyword == "TransferSyntaxUID" else ds
    value = source.get(keyword)
    return None if value is None or value == "" else value


@pytest.mark.parametrize("entry", US_FILES, ids=[f.label for f in US_FILES])
def test_stored_summary_states_the_header(entry: UsFile, extracted: Path) -> None:
    path = materialise(entry, extracted)
    ds = _header(path)
    summary = clip_header_summary(path)
    assert summary["name"] == path.name and summary["size_bytes"] == path.stat().st_size
    assert summary["format"] == "dicom"
    assert set(summary) <= FILE_FACTS | set(SUMMARY_KEYWORDS)
    for keyword in SUMMARY_KEYWORDS:
        stated = _stated(ds, keyword)
        if stated is None:
            assert keyword not in summary
        elif isinstance(stated, int | float):
            assert summary[keyword] == stated
        else:
            assert summary[keyword] == str(stated)
    assert json.loads(json.dumps(summary)) == summary  # stored as JSON as it is


def test_info_and_stored_summary_are_one_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = np.arange(3 * 16 * 24, dtype=np.uint8).reshape(3, 16, 24)
    path = write_us(tmp_path / "clip.dcm", frames, FrameTime=40.0, Manufacturer="Acme Medical",
                    ManufacturerModelName="Sono 9", regions=[((0, 0, 24, 16), 0.01, 1)], **IDENTIFIERS)
    stored = clip_header_summary(path)
    assert main(["info", str(path), "--json"]) == 0
    printed = capsys.readouterr().out
    info = json.loads(printed)
    ds = _header(path)
    assert (info["modality"], stored["Modality"]) == (ds.Modality, ds.Modality)
    assert (info["manufacturer"], stored["Manufacturer"]) == (ds.Manufacturer, ds.Manufacturer)
    assert (info["model_name"], stored["ManufacturerModelName"]) == (ds.ManufacturerModelName,) * 2
    assert stored["SOPClassUID"] == ds.SOPClassUID == pydicom.uid.UltrasoundMultiFrameImageStorage
    assert info["sop_class"] == "US Multi-frame Image"  # ceuskit's short name of that class (PS3.4 B.5)
    assert info["number_of_frames"] == stored["NumberOfFrames"] == int(ds.NumberOfFrames) == 3
    assert stored["FrameTime"] == float(ds.FrameTime) and info["timing_source"] == "frame_time"
    described = json.dumps(clip_summary(path))
    for value in IDENTIFIERS.values():
        assert value not in printed and value not in json.dumps(stored) and value not in described


def test_not_dicom_keeps_the_file_facts(tmp_path: Path) -> None:
    other = tmp_path / "notes.MP4"
    other.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(40))
    assert clip_header_summary(other) == {"name": "notes.MP4", "format": "mp4", "size_bytes": 52}
    folder = tmp_path / "frames"
    folder.mkdir()
    assert clip_header_summary(folder) == {"name": "frames", "format": "folder"}
    text = tmp_path / "clip.dcm"
    text.write_text("not a DICOM file\n")  # no preamble, no File Meta Information
    assert clip_header_summary(text) == {"name": "clip.dcm", "format": "dcm", "size_bytes": 17}
