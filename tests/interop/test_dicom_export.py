"""DICOM SR (TID 1500) and SEG export read back by pydicom and highdicom; ROI NIfTI round trip.

Expected values: the analysis.json written by the real pipeline (ceuskit.pipeline.analyze on a phantom),
the clip's own header (UIDs, SOP class), DESIGN's units (s, dB, dimensionless power ratios), DICOM codes
from pydicom's code dictionary, and the ROI file's masks (ceuskit.roi rasterisation, itself checked
against skimage in tests/test_roi.py).
"""

from __future__ import annotations

import json
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from ceuskit.cli import main
from ceuskit.export.dicom import CEUS_CODES, PRIVATE_SCHEME, read_source, write_seg
from ceuskit.export.nifti import roi_labels
from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.pipeline import analyze
from ceuskit.roi import parse_rois
from ceuskit.simulate import Phantom, simulate_clip

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import discover_us_files, materialise  # noqa: E402

# What each analysis.json number is in the SR: its unit (UCUM, from DESIGN's definitions: times in s, dB
# values, linear power is a dimensionless ratio so its slopes are per second and its areas seconds) and, where
# DICOM defines one, its standard code (pydicom's code dictionary).
PARAMETERS = {"arrival_time_s": "s", "time_to_peak_s": "s", "rise_time_s": "s", "peak_enhancement": "1",
              "peak_enhancement_db": "dB", "mean_transit_time_s": "s", "mean_transit_time_t0_s": "s",
              "wash_in_rate": "/s", "wash_out_rate": "/s", "wash_in_auc": "s", "wash_out_auc": "s", "wash_in_wash_out_auc": "s", "wash_in_perfusion_index": "1",
              "fall_time_s": "s"}
PHASE_NUMBERS = {("arterial_phase", "onset_s"): ("onset_s", "s"),
                 ("arterial_phase", "relative_peak_db"): ("relative_peak_db", "dB"),
                 ("portal_venous_phase", "washout_onset_s"): ("washout_onset_s", "s"),
                 ("late_phase", "relative_db"): ("late_relative_db", "dB")}
STANDARD = {"arrival_time_s": codes.DCM.BolusArrivalTime, "time_to_peak_s": codes.DCM.TimeToPeak,
            "mean_transit_time_s": codes.DCM.MeanTransitTime, "wash_in_rate": codes.DCM.MaximumSlope}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A phantom clip (two lesions sharing the liver reference), analysed by the real pipeline."""
    folder = tmp_path_factory.mktemp("export")
    clip = simulate_clip(folder, Phantom(pattern="hyper-early-hypo", seed=5, duration_s=150.0, fps=3.0),
                         name="clip")
    roi_doc = json.loads(clip.roi.read_text())
    lesion = next(r for r in roi_doc["rois"] if r["role"] == "lesion")
    second = dict(lesion, name="lesion2", radii=[4, 4])
    second["center"] = [lesion["center"][0] - lesion["radii"][0] - 8, lesion["center"][1]]
    roi_doc["rois"].append(second)
    roi_path = folder / "two.roi.json"
    roi_path.write_text(json.dumps(roi_doc))
    analyze(clip.dicom, roi_path, out_dir=folder / "res", size_mm=25.0, at_risk=True)  # LI-RADS applies
    document = json.loads((folder / "res" / "analysis.json").read_text())
    out = folder / "pacs"
    assert main(["export-dicom", str(folder / "res"), "--clip", str(clip.dicom), "--roi", str(roi_path),
                 "--out", str(out)]) == 0
    return {"folder": folder, "clip": clip.dicom, "roi": roi_path, "document": document, "sr": out / "sr.dcm",
            "seg": out / "seg.dcm"}


def _expected_numbers(document: dict[str, Any], lesion: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """ceuskit name → (value, UCUM unit) of every finite number the SR must carry for ``lesion``."""
    parameters = document["rois"][lesion["roi"]]["parameters"]
    out = {k: (parameters[k], unit) for k, unit in PARAMETERS.items() if parameters.get(k) is not None}
    for (phase, key), (name, unit) in PHASE_NUMBERS.items():
        if lesion[phase].get(key) is not None:
            out[name] = (lesion[phase][key], unit)
    return out


def _expected_code(name: str) -> tuple[str, str]:
    if name in STANDARD:
        return STANDARD[name].scheme_designator, STANDARD[name].value
    return PRIVATE_SCHEME, CEUS_CODES[name][0]


def _expected_labels(lesion: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(scheme, code) of each evaluation → (scheme, code) of its value, from the analysis' words."""
    pv = lesion["portal_venous_phase"]
    private = {"arterial_enhancement": lesion["arterial_phase"]["enhancement"],
               "washout_timing": pv["washout_timing"], "washout_degree": pv["washout_degree"],
               "late_enhancement": lesion["late_phase"]["enhancement"], "lirads": lesion["lirads"]["category"]}
    out = {(PRIVATE_SCHEME, CEUS_CODES[k][0]): (PRIVATE_SCHEME, CEUS_CODES[v][0]) for k, v in private.items() if v}
    yes_no = codes.SCT.Yes if pv["washout"] else codes.SCT.No
    out[(PRIVATE_SCHEME, CEUS_CODES["washout"][0])] = (yes_no.scheme_designator, yes_no.value)
    return out


def test_phantom_reading_is_complete(analysed: dict[str, Any]) -> None:
    """The fixture exercises every kind of item: wash-out onset, late phase and an LI-RADS category."""
    lesion = analysed["document"]["lesions"][0]
    assert lesion["portal_venous_phase"]["washout"] is True
    assert lesion["late_phase"]["relative_db"] is not None and lesion["lirads"]["category"] == "LR-M"


def test_sr_read_by_highdicom_equals_the_analysis(analysed: dict[str, Any]) -> None:
    document, source = analysed["document"], pydicom.dcmread(analysed["clip"], stop_before_pixels=True)
    sr = hd.sr.srread(analysed["sr"])
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.PatientID == source.PatientID
    assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert sr.ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImagingMeasurementReport.value
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [lesion["roi"] for lesion in document["lesions"]]
    assert len({g.tracking_uid for g in groups}) == len(groups)
    for group, lesion in zip(groups, document["lesions"], strict=True):
        expected = _expected_numbers(document, lesion)
        found = {(m.name.scheme_designator, m.name.value): m for m in group.get_measurements()}
        assert set(found) == {_expected_code(name) for name in expected}
        for name, (value, unit) in expected.items():
            measurement = found[_expected_code(name)]
            assert math.isclose(measurement.value, value, rel_tol=1e-9, abs_tol=1e-12), name
            assert (measurement.unit.scheme_designator, measurement.unit.value) == ("UCUM", unit), name
        labels = {(q.name.scheme_designator, q.name.value): (q.value.scheme_designator, q.value.value)
                  for q in group.get_qualitative_evaluations()}
        assert labels == _expected_labels(lesion)
        assert group.finding_type.value == codes.SCT.Neoplasm.value
        assert [s.value.value for s in group.finding_sites] == [codes.SCT.Liver.value]


def _items(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    out = []
    for item in ds.get("ContentSequence", []):
        out.append(item)
        out.extend(_items(item))
    return out


def _name(item: pydicom.Dataset) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return code.CodingSchemeDesignator, code.CodeValue


def test_sr_read_by_pydicom_alone_equals_the_analysis(analysed: dict[str, Any]) -> None:
    document = analysed["document"]
    ds = pydicom.dcmread(analysed["sr"])
    groups = [i for i in _items(ds) if i.ValueType == "CONTAINER"
              and _name(i) == ("DCM", codes.DCM.MeasurementGroup.value)]
    assert len(groups) == len(document["lesions"])
    for group, lesion in zip(groups, document["lesions"], strict=True):
        children = group.ContentSequence
        tracking = [c.TextValue for c in children if _name(c) == ("DCM", codes.DCM.TrackingIdentifier.value)]
        assert tracking == [lesion["roi"]]
        numbers = {_name(c): c.MeasuredValueSequence[0] for c in children if c.ValueType == "NUM"}
        expected = _expected_numbers(document, lesion)
        assert set(numbers) == {_expected_code(name) for name in expected}
        for name, (value, unit) in expected.items():
            measured = numbers[_expected_code(name)]
            assert math.isclose(float(measured.NumericValue), value, rel_tol=1e-9, abs_tol=1e-12), name
            assert measured.MeasurementUnitsCodeSequence[0].CodeValue == unit
        coded = {_name(c): (c.ConceptCodeSequence[0].CodingSchemeDesignator, c.ConceptCodeSequence[0].CodeValue)
                 for c in children if c.ValueType == "CODE" and (_name(c)[0] == PRIVATE_SCHEME)}
        assert coded == _expected_labels(lesion)


def test_sr_regions_reference_the_clip_frame(analysed: dict[str, Any]) -> None:
    source = pydicom.dcmread(analysed["clip"], stop_before_pixels=True)
    rois = load_rois(analysed["roi"])
    ds = pydicom.dcmread(analysed["sr"])
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == source.StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPClassUID == source.SOPClassUID
    regions = [i for i in _items(ds) if i.ValueType == "SCOORD"]
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


def _check_seg(seg_path: Path, clip: Path, rois: Any) -> None:
    """SEG read by highdicom and by pydicom alone equals the ROI masks and references the clip's frame."""
    source = pydicom.dcmread(clip, stop_before_pixels=True)
    masks = rois.masks(source.Rows, source.Columns)
    frame = rois.reference_frame + 1
    seg = hd.seg.segread(seg_path)
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
    described = [seg.get_segment_description(i + 1) for i in range(seg.number_of_segments)]
    assert [d.segment_label for d in described] == [r.name for r in rois.rois]
    assert [d.segmented_property_type.value for d in described] == \
        [(codes.SCT.Neoplasm if r.role == "lesion" else codes.SCT.Liver).value for r in rois.rois]
    pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, source_frame_numbers=[frame],
                                           segment_numbers=list(range(1, len(rois.rois) + 1)))
    for i, roi in enumerate(rois.rois):
        assert np.array_equal(pixels[0, :, :, i].astype(bool), masks[roi.name])
    ds = pydicom.dcmread(seg_path)
    assert ds.SegmentationType == "BINARY"
    for ref in [ds.SourceImageSequence[0], ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]]:
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert ref.ReferencedSOPClassUID == source.SOPClassUID
    for k, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        number = group.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        assert np.array_equal(ds.pixel_array[k].astype(bool), masks[rois.rois[number - 1].name])
        ref = group.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPClassUID == source.SOPClassUID
        assert int(ref.ReferencedFrameNumber) == frame


def test_seg_of_the_phantom_equals_the_rois(analysed: dict[str, Any]) -> None:
    _check_seg(analysed["seg"], analysed["clip"], load_rois(analysed["roi"]))


@pytest.mark.parametrize(("label", "overlap"), [("ultrasounds/GREYSCALE_CINE.dcm", False),
                                               ("ultrasounds/RGB_CINE.dcm", True)])
def test_seg_of_a_real_scanner_cine(tmp_path: Path, label: str, overlap: bool) -> None:
    entry = next((f for f in discover_us_files() if f.label == label), None)
    if entry is None:
        pytest.skip(f"{label} is not installed (pydicom-data)")
    clip = materialise(entry, tmp_path)
    header = read_source(clip)
    rows, columns = int(header.Rows), int(header.Columns)
    assert int(header.NumberOfFrames) > 10 and header.SOPClassUID == pydicom.uid.UltrasoundMultiFrameImageStorage
    rois = parse_rois({"reference_frame": 10, "rois": [
        {"name": "lesion", "role": "lesion", "shape": "ellipse",
         "center": [columns * (0.3 if overlap else 0.6), rows * 0.45], "radii": [30, 20]},
        {"name": "liver", "role": "parenchyma", "shape": "polygon",
         "points": [[columns * 0.2, rows * 0.3], [columns * 0.4, rows * 0.3], [columns * 0.42, rows * 0.6],
                    [columns * 0.18, rows * 0.55]]}]})
    masks = rois.masks(rows, columns)
    assert (masks["lesion"] & masks["liver"]).any() == overlap  # the liver region may enclose the lesion
    write_seg(tmp_path / "seg.dcm", clip, rois)
    _check_seg(tmp_path / "seg.dcm", clip, rois)
    assert pydicom.dcmread(tmp_path / "seg.dcm").SegmentsOverlap == ("YES" if overlap else "NO")
    assert pydicom.dcmread(clip, stop_before_pixels=True).SOPClassUID == header.SOPClassUID  # clip unchanged


def test_roi_nifti_round_trip(analysed: dict[str, Any], tmp_path: Path) -> None:
    import nibabel

    rois = load_rois(analysed["roi"])
    with open_clip(analysed["clip"]) as clip:
        rows, columns, spacing = clip.rows, clip.columns, clip.pixel_spacing_mm
    out = tmp_path / "rois.nii.gz"
    assert main(["roi-export", str(analysed["roi"]), "--clip", str(analysed["clip"]), "--out", str(out)]) == 0
    back = load_rois(out)
    assert [(r.name, r.role) for r in back.rois] == [("lesion", "lesion"), ("liver", "parenchyma"),
                                                     ("lesion2", "lesion")]  # labels 1, 2, 3, names kept
    assert back.reference_frame == rois.reference_frame
    original = rois.masks(rows, columns)
    returned = back.masks(rows, columns)
    assert np.array_equal(returned["lesion"], original["lesion"])
    assert np.array_equal(returned["liver"], original["liver"])
    assert np.array_equal(returned["lesion2"], original["lesion2"])
    image = nibabel.load(str(out))
    assert np.allclose(image.header.get_zooms()[:2], spacing)
    labels = np.asarray(image.dataobj)[..., 0].T
    assert np.array_equal(labels == 1, original["lesion"]) and np.array_equal(labels == 2, original["liver"])
    assert np.array_equal(labels, roi_labels(rois, rows, columns))
    again = tmp_path / "again.nii.gz"  # NIfTI → NIfTI is exact too
    assert main(["roi-export", str(out), "--clip", str(analysed["clip"]), "--out", str(again)]) == 0
    assert np.array_equal(np.asarray(nibabel.load(str(again)).dataobj), np.asarray(image.dataobj))


def test_lesions_table_formats_are_covered_elsewhere() -> None:
    """CSV, Parquet and Excel export round trips live in tests/study/test_export.py (test_export_round_trip)."""
    text = (Path(__file__).parents[1] / "study" / "test_export.py").read_text()
    assert "def test_export_round_trip" in text and all(s in text for s in (".csv", ".parquet", ".xlsx"))


def _video(path: Path) -> Path:
    """A real 8-frame MPEG-4 video (PyAV), which SR and SEG cannot reference."""
    import av

    with av.open(str(path), "w") as output:
        stream = output.add_stream("mpeg4", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * k, dtype=np.uint8), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("case", ["no_analysis", "other_clip", "video", "bad_json", "not_an_analysis", "nothing"])
def test_export_errors_are_one_line(analysed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    case: str) -> None:
    analysis, clip, extra = analysed["folder"] / "res", analysed["clip"], []
    if case == "no_analysis":
        analysis = tmp_path
    elif case == "other_clip":  # a valid DICOM clip whose sha256 is not analysis.json's clip.sha256
        clip = simulate_clip(tmp_path, Phantom(pattern="iso-none-iso", seed=9, duration_s=20.0), name="other").dicom
    elif case == "video":
        clip = _video(tmp_path / "clip.mp4")
    elif case == "bad_json":
        analysis = tmp_path / "analysis.json"
        analysis.write_text("{not json")
    elif case == "not_an_analysis":  # valid JSON, but its lesion's ROI has no results
        analysis = tmp_path / "analysis.json"
        analysis.write_text(json.dumps({"rois": {}, "lesions": [{"roi": "lesion"}]}))
    else:
        extra = ["--no-sr", "--no-seg"]
    out = tmp_path / "out"
    code = main(["export-dicom", str(analysis), "--clip", str(clip), "--roi", str(analysed["roi"]),
                 "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ceuskit: error: ") and len(err.strip().splitlines()) == 1, err
    expected = {"no_analysis": "no analysis.json", "other_clip": "SHA-256", "video": "not one",
                "bad_json": "not a valid analysis.json", "not_an_analysis": "not an analysis.json",
                "nothing": "nothing to write"}[case]
    assert expected in err
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("case", ["two_livers", "suffix", "video_dims", "frame_beyond"])
def test_roi_export_errors_are_one_line(analysed: dict[str, Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str], case: str) -> None:
    roi_doc = json.loads(analysed["roi"].read_text())
    out = tmp_path / ("rois.jpg" if case == "suffix" else "rois.nii.gz")
    clip = analysed["clip"]
    if case == "two_livers":  # label 2 holds one parenchyma ROI
        liver = next(r for r in roi_doc["rois"] if r["role"] == "parenchyma")
        roi_doc["rois"].append(dict(liver, name="liver2", points=[[x, y + 30] for x, y in liver["points"]]))
    elif case == "video_dims":  # the ROIs do not fit a 64×48 video
        clip, roi_doc["reference_frame"] = _video(tmp_path / "clip.mp4"), 0
    elif case == "frame_beyond":
        roi_doc["reference_frame"] = 10_000
    roi_path = tmp_path / "rois.json"
    roi_path.write_text(json.dumps(roi_doc))
    code = main(["roi-export", str(roi_path), "--clip", str(clip), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ceuskit: error: ") and len(err.strip().splitlines()) == 1, err
    assert {"two_livers": "one parenchyma ROI", "suffix": "write ROIs to .nii.gz, .nii, .png, .tif, .tiff, .dcm",
            "video_dims": "outside the image", "frame_beyond": "reference_frame 10000 does not exist"}[case] in err
    assert not out.exists()
