"""DICOM SR (TID 1500) and SEG export read back by pydicom and highdicom; ROI NIfTI round trip.

Expected values: the analysis.json written by the real pipeline, the clip's own header (UIDs), and the
ROI file's masks (ceuskit.roi rasterisation, checked against skimage in tests/test_roi.py).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from ceuskit.cli import main
from ceuskit.export.dicom import CEUS_CODES, PARAMETER_UNITS, PRIVATE_SCHEME, read_source, write_seg
from ceuskit.export.nifti import roi_labels
from ceuskit.io import open_clip
from ceuskit.pipeline import analyze
from ceuskit.roi import load_rois, parse_rois
from ceuskit.simulate import Phantom, simulate_clip

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import discover_us_files, materialise  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The value length:UserWarning")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A phantom clip (two lesions sharing the liver reference), analysed by the real pipeline."""
    folder = tmp_path_factory.mktemp("export")
    clip = simulate_clip(folder, Phantom(pattern="hyper-early-hypo", seed=5, duration_s=150.0, fps=3.0),
                         name="clip")
    roi_doc = json.loads(clip.roi.read_text())
    lesion = next(r for r in roi_doc["rois"] if r["role"] == "lesion")
    second = dict(lesion, name="lesion2", center=[lesion["center"][0], lesion["center"][1]], radii=[4, 4])
    second["center"] = [lesion["center"][0] - lesion["radii"][0] - 8, lesion["center"][1]]
    roi_doc["rois"].append(second)
    roi_path = folder / "two.roi.json"
    roi_path.write_text(json.dumps(roi_doc))
    analyze(clip.dicom, roi_path, out_dir=folder / "res")
    document = json.loads((folder / "res" / "analysis.json").read_text())
    out = folder / "pacs"
    assert main(["export-dicom", str(folder / "res"), "--clip", str(clip.dicom), "--roi", str(roi_path),
                 "--out", str(out)]) == 0
    return {"folder": folder, "clip": clip.dicom, "roi": roi_path, "document": document, "sr": out / "sr.dcm",
            "seg": out / "seg.dcm"}


def _content_items(ds: pydicom.Dataset):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _content_items(item)


def test_sr_measurements_equal_the_analysis(analysed: dict) -> None:
    document, source = analysed["document"], pydicom.dcmread(analysed["clip"], stop_before_pixels=True)
    sr = hd.sr.srread(analysed["sr"])
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.PatientID == source.PatientID
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [lesion["roi"] for lesion in document["lesions"]]
    for group, lesion in zip(groups, document["lesions"], strict=True):
        parameters = document["rois"][lesion["roi"]]["parameters"]
        expected = {CEUS_CODES[k]: parameters[k] for k in ("arrival_time_s", "time_to_peak_s", "rise_time_s",
                                                          "peak_enhancement_db", "mean_transit_time_s",
                                                          "wash_in_rate", "wash_out_rate", "wash_in_auc",
                                                          "fall_time_s") if parameters.get(k) is not None}
        expected[CEUS_CODES["onset_s"]] = lesion["arterial_phase"]["onset_s"]
        expected[CEUS_CODES["relative_peak_db"]] = lesion["arterial_phase"]["relative_peak_db"]
        expected[CEUS_CODES["late_relative_db"]] = lesion["late_phase"]["relative_db"]
        if lesion["portal_venous_phase"]["washout_onset_s"] is not None:
            expected[CEUS_CODES["washout_onset_s"]] = lesion["portal_venous_phase"]["washout_onset_s"]
        found = {m.name.meaning: m for m in group.get_measurements()}
        assert set(found) == set(expected)
        meaning_to_key = {v: k for k, v in CEUS_CODES.items()}
        for meaning, value in expected.items():
            measurement = found[meaning]
            assert math.isclose(measurement.value, value, rel_tol=1e-9, abs_tol=1e-12)
            assert measurement.name.scheme_designator == PRIVATE_SCHEME
            assert measurement.unit.value == PARAMETER_UNITS[meaning_to_key[meaning]][0]
            assert measurement.unit.scheme_designator == "UCUM"
        labels = {q.name.value: q.value.value for q in group.get_qualitative_evaluations()}
        assert labels["arterial_enhancement"] == lesion["arterial_phase"]["enhancement"]
        assert labels["late_enhancement"] == lesion["late_phase"]["enhancement"]
        assert labels["washout"] == ("yes" if lesion["portal_venous_phase"]["washout"] else "no")
        assert labels["washout_timing"] == lesion["portal_venous_phase"]["washout_timing"]


def test_sr_regions_reference_the_clip_frame(analysed: dict) -> None:
    source = pydicom.dcmread(analysed["clip"], stop_before_pixels=True)
    rois = load_rois(analysed["roi"])
    ds = pydicom.dcmread(analysed["sr"])
    assert ds.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    regions = [i for i in _content_items(ds) if i.ValueType == "SCOORD"]
    assert len(regions) == len(rois.lesions)
    for region, roi in zip(regions, rois.lesions, strict=True):
        ref = region.ContentSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert ref.ReferencedSOPClassUID == source.SOPClassUID
        assert int(ref.ReferencedFrameNumber) == rois.reference_frame + 1
        assert region.GraphicType == "ELLIPSE"
        (cx, cy), (rx, ry) = roi.geometry["center"], roi.geometry["radii"]
        points = np.asarray(region.GraphicData, dtype=float).reshape(-1, 2) - 0.5  # SCOORD: pixel centres at .5
        assert np.allclose(points.mean(axis=0), [cx, cy], atol=1e-4)
        spans = sorted([np.ptp(points[:2], axis=0).max(), np.ptp(points[2:], axis=0).max()])
        assert np.allclose(spans, sorted([2 * rx, 2 * ry]), atol=1e-4)


def test_seg_masks_equal_the_rois(analysed: dict) -> None:
    source = pydicom.dcmread(analysed["clip"], stop_before_pixels=True)
    rois = load_rois(analysed["roi"])
    masks = rois.masks(source.Rows, source.Columns)
    seg = hd.seg.segread(analysed["seg"])
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert [seg.get_segment_description(i + 1).segment_label for i in range(seg.number_of_segments)] == \
        [r.name for r in rois.rois]
    types = [seg.get_segment_description(i + 1).segmented_property_type.meaning for i in range(len(rois.rois))]
    assert types == ["Neoplasm" if r.role == "lesion" else "Liver" for r in rois.rois]
    pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, source_frame_numbers=[rois.reference_frame + 1],
                                           segment_numbers=list(range(1, len(rois.rois) + 1)))
    for i, roi in enumerate(rois.rois):
        assert np.array_equal(pixels[0, :, :, i].astype(bool), masks[roi.name])
    # pydicom alone: the stored frames and their segment numbers
    ds = pydicom.dcmread(analysed["seg"])
    for k, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        number = group.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        assert np.array_equal(ds.pixel_array[k].astype(bool), masks[rois.rois[number - 1].name])
        source_ref = group.DerivationImageSequence[0].SourceImageSequence[0]
        assert int(source_ref.ReferencedFrameNumber) == rois.reference_frame + 1


def test_seg_of_a_real_scanner_cine(tmp_path: Path) -> None:
    entry = next(f for f in discover_us_files() if f.label == "ultrasounds/GREYSCALE_CINE.dcm")
    clip = materialise(entry, tmp_path)
    rois = parse_rois({"reference_frame": 10, "rois": [
        {"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [400, 300], "radii": [30, 20]},
        {"name": "liver", "role": "parenchyma", "shape": "polygon",
         "points": [[200, 150], [300, 150], [320, 260], [190, 250]]}]})
    write_seg(tmp_path / "seg.dcm", clip, rois)
    source = read_source(clip)
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, source_frame_numbers=[11], segment_numbers=[1, 2])
    masks = rois.masks(source.Rows, source.Columns)
    assert np.array_equal(pixels[0, ..., 0].astype(bool), masks["lesion"])
    assert np.array_equal(pixels[0, ..., 1].astype(bool), masks["liver"])


def test_roi_nifti_round_trip(analysed: dict, tmp_path: Path) -> None:
    rois = load_rois(analysed["roi"])
    with open_clip(analysed["clip"]) as clip:
        rows, columns, spacing = clip.rows, clip.columns, clip.pixel_spacing_mm
    out = tmp_path / "rois.nii.gz"
    assert main(["roi-export", str(analysed["roi"]), "--clip", str(analysed["clip"]), "--out", str(out)]) == 0
    back = load_rois(out)
    assert [r.role for r in back.rois] == ["lesion", "parenchyma", "lesion"]  # labels 1, 2, 3
    original = rois.masks(rows, columns)
    returned = back.masks(rows, columns)
    assert np.array_equal(returned["lesion"], original["lesion"])
    assert np.array_equal(returned["liver"], original["liver"])
    assert np.array_equal(returned["lesion3"], original["lesion2"])
    import nibabel

    image = nibabel.load(str(out))
    assert np.allclose(image.header.get_zooms()[:2], spacing)
    assert np.array_equal(np.asarray(image.dataobj)[..., 0].T, roi_labels(rois, rows, columns))


def test_lesions_table_formats_are_covered_elsewhere() -> None:
    """CSV, Parquet and Excel export round trips live in tests/test_study.py (test_export_round_trip)."""
    text = (Path(__file__).parents[1] / "test_study.py").read_text()
    assert "def test_export_round_trip" in text and all(s in text for s in (".csv", ".parquet", ".xlsx"))


@pytest.mark.parametrize("case", ["no_analysis", "other_clip", "video", "bad_json"])
def test_export_errors_are_one_line(analysed: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    case: str) -> None:
    analysis, clip = analysed["folder"] / "res", analysed["clip"]
    if case == "no_analysis":
        analysis = tmp_path
    elif case == "other_clip":
        other = simulate_clip(tmp_path, Phantom(pattern="iso-none-iso", seed=9, duration_s=20.0), name="other")
        clip = other.dicom
    elif case == "video":
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    else:
        analysis = tmp_path / "analysis.json"
        analysis.write_text("{not json")
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["export-dicom", str(analysis), "--clip", str(clip), "--roi", str(analysed["roi"]),
                     "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ceuskit: error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists() or not list(out.iterdir())
