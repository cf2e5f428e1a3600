"""ROI files of every kind give the reading of the ROIs they were made from.

A breathing phantom (motion compensation applies, so the reference frame matters) is read with its ROI JSON;
the ROIs are then exported to NIfTI, PNG, TIFF and DICOM SEG with ``ceuskit roi-export`` and from each of
those to each again, and every file is read by ``analyze``: the same labels and the same numbers, to the last
digit (the reading depends on the clip and the ROI masks, names and reference frame alone).  Independent
witnesses: the phantom's own ROI file and truth, nibabel, Pillow and pydicom reading the files' headers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import pydicom
import pytest
from PIL import Image

from ceuskit import analyze
from ceuskit.cli import main
from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.simulate import Phantom, simulate_clip

FORMATS = ("nii.gz", "nii", "png", "tif", "dcm")


def _reading(document: dict[str, Any]) -> dict[str, Any]:
    """What an analysis says about the lesions (everything but provenance, file names and ROI shapes)."""
    roi_set = document["roi_set"]
    return {"motion": document["motion"], "rois": document["rois"], "lesions": document["lesions"],
            "quality": document["quality"], "replenishment": document.get("replenishment"),
            "reference_frame": roi_set["reference_frame"],
            "roi_names": [(r["name"], r["role"], r.get("reference")) for r in roi_set["rois"]]}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A breathing phantom with a second lesion and ROI names of our own; its reading from the JSON."""
    folder = tmp_path_factory.mktemp("roi-files")
    clip = simulate_clip(folder, Phantom(pattern="hyper-early-hypo", seed=3, duration_s=150.0, fps=2.0,
                                         breathing_amplitude_px=(2.0, 8.0)), name="clip")
    document = json.loads(clip.roi.read_text())
    lesion = next(r for r in document["rois"] if r["role"] == "lesion")
    liver = next(r for r in document["rois"] if r["role"] == "parenchyma")
    lesion["name"], liver["name"], lesion["reference"] = "segment IV", "right lobe", "right lobe"
    small = dict(lesion, name="satellite", radii=[4.0, 4.0], reference="right lobe")
    small["center"] = [lesion["center"][0] - lesion["radii"][0] - 9, lesion["center"][1]]
    document["rois"].append(small)
    assert document["reference_frame"] > 0  # the simulator draws on the lesion's best frame, not frame 0
    roi = folder / "rois.json"
    roi.write_text(json.dumps(document))
    with open_clip(clip.dicom) as opened:
        shape = (opened.rows, opened.columns)
    original = analyze(clip.dicom, roi, injection_time_s=0.0).document
    assert original["motion"]["applied"] and original["motion"]["max_shift_px"] > 4
    truth = json.loads(clip.truth.read_text())
    assert original["lesions"][0]["arterial_phase"]["enhancement"] == truth["pattern"]["arterial"]
    return {"folder": folder, "clip": clip.dicom, "roi": roi, "document": document, "shape": shape,
            "reading": _reading(original)}


def _video(path: Path) -> Path:
    """A real 4-frame MPEG-4 video (PyAV)."""
    import av

    with av.open(str(path), "w") as output:
        stream = output.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(4):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k, np.uint8), format="rgb24")))
        output.mux(stream.encode(None))
    return path


def _export(source: Path, clip: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["roi-export", str(source), "--clip", str(clip), "--out", str(out)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"wrote {out}\n"
    return out


def _same_rois(path: Path, phantom: dict[str, Any]) -> None:
    """``path`` holds the phantom's ROIs: names, roles, references, reference frame and every mask pixel."""
    back, original = load_rois(path), load_rois(phantom["roi"])
    assert back.reference_frame == phantom["document"]["reference_frame"]
    assert [(r.name, r.role, r.reference) for r in back.rois] == \
        [(r["name"], r["role"], r.get("reference")) for r in phantom["document"]["rois"]]
    for name, mask in original.masks(*phantom["shape"]).items():
        assert np.array_equal(back.masks(*phantom["shape"])[name], mask), name


@pytest.mark.parametrize("target", FORMATS)
def test_an_exported_roi_file_gives_the_json_reading(phantom: dict[str, Any], target: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = _export(phantom["roi"], phantom["clip"], tmp_path / f"rois.{target}", capsys)
    _same_rois(out, phantom)
    assert _reading(analyze(phantom["clip"], out, injection_time_s=0.0).document) == phantom["reading"]


@pytest.mark.slow
@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
def test_every_export_import_pair_gives_the_json_reading(phantom: dict[str, Any], source: str, target: str,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _export(phantom["roi"], phantom["clip"], tmp_path / f"first.{source}", capsys)
    second = _export(first, phantom["clip"], tmp_path / f"second.{target}", capsys)
    _same_rois(second, phantom)
    assert _reading(analyze(phantom["clip"], second, injection_time_s=0.0).document) == phantom["reading"]


def test_each_format_keeps_the_reference_frame_where_its_readers_see_it(phantom: dict[str, Any], tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    frame = phantom["document"]["reference_frame"]
    paths = {fmt: _export(phantom["roi"], phantom["clip"], tmp_path / f"r.{fmt}", capsys) for fmt in FORMATS}
    header = nibabel.load(str(paths["nii.gz"])).header
    assert header["descrip"].item().decode() == f"ceuskit ROIs, reference_frame={frame}"
    (extension,) = header.extensions
    assert extension.get_code() == 6 and json.loads(extension.get_content())["reference_frame"] == frame
    with Image.open(paths["png"]) as png:
        assert json.loads(png.text["ceuskit-rois"])["reference_frame"] == frame
    with Image.open(paths["tif"]) as tif:
        assert json.loads(tif.tag_v2[270])["labels"]["1"]["name"] == "segment IV"
    seg = pydicom.dcmread(paths["dcm"])
    source = pydicom.dcmread(phantom["clip"], stop_before_pixels=True)
    for group in seg.PerFrameFunctionalGroupsSequence:  # DICOM numbers frames from 1
        (item,) = group.DerivationImageSequence[0].SourceImageSequence
        assert item.ReferencedSOPInstanceUID == source.SOPInstanceUID and int(item.ReferencedFrameNumber) == frame + 1
    assert [s.get("SegmentDescription") for s in seg.SegmentSequence] == \
        ["reference: right lobe", None, "reference: right lobe"]


def test_masks_of_other_tools_follow_the_label_convention(phantom: dict[str, Any], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """No description: 1 lesion, 2 liver, 3… lesions on frame 0; a NIfTI that lost its extension keeps descrip."""
    nifti = _export(phantom["roi"], phantom["clip"], tmp_path / "r.nii", capsys)
    image = nibabel.load(str(nifti))
    labels = np.asarray(image.dataobj)
    stripped = nibabel.Nifti1Image(labels, image.affine, image.header.copy())
    stripped.header.extensions.clear()
    nibabel.save(stripped, str(tmp_path / "stripped.nii"))
    back = load_rois(tmp_path / "stripped.nii")
    assert [(r.name, r.role) for r in back.rois] == [("lesion", "lesion"), ("liver", "parenchyma"),
                                                     ("lesion3", "lesion")]
    assert back.reference_frame == phantom["document"]["reference_frame"]
    Image.fromarray(labels[..., 0].T).save(tmp_path / "plain.png")
    plain = load_rois(tmp_path / "plain.png")
    assert plain.reference_frame == 0 and [r.name for r in plain.rois] == ["lesion", "liver", "lesion3"]
    assert load_rois(tmp_path / "plain.png", reference_frame=7).reference_frame == 7


def test_rois_drawn_on_the_bmode_half_survive_a_mask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dual display: ROIs drawn on the B-mode half read the CEUS half, from JSON and from a mask alike."""
    clip = simulate_clip(tmp_path, Phantom(pattern="hyper-early-hypo", seed=4, duration_s=150.0, fps=2.0,
                                           dual=True, breathing_amplitude_px=(1.0, 5.0)), name="dual")
    document = json.loads(clip.roi.read_text())
    with open_clip(clip.dicom) as opened:
        dx = opened.bmode_region.box[0] - opened.ceus_region.box[0]
    for roi in document["rois"]:
        if "center" in roi:
            roi["center"][0] += dx
        else:
            roi["points"] = [[x + dx, y] for x, y in roi["points"]]
    on_bmode = tmp_path / "bmode.json"
    on_bmode.write_text(json.dumps(document))
    mask = _export(on_bmode, clip.dicom, tmp_path / "bmode.png", capsys)
    from_json = _reading(analyze(clip.dicom, on_bmode).document)
    assert _reading(analyze(clip.dicom, mask).document) == from_json
    truth = json.loads(clip.truth.read_text())
    assert from_json["lesions"][0]["arterial_phase"]["enhancement"] == truth["pattern"]["arterial"]


@pytest.mark.parametrize("case", ["clip", "video", "text", "truth", "bad_description", "other_dicom_seg_type",
                                  "damaged_nifti"])
def test_a_file_that_is_no_roi_file_says_what_it_should_have_been(phantom: dict[str, Any], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  case: str) -> None:
    roi, expected = tmp_path / "x", ""
    if case == "clip":
        roi = phantom["clip"]
        kind = pydicom.dcmread(roi, stop_before_pixels=True).SOPClassUID.name
        expected = f"not an ROI file (it is a DICOM {kind}); give the ROI JSON"
    elif case == "video":
        roi = _video(tmp_path / "clip.mp4")
        expected = "not an ROI file (a video); give the ROI JSON (see the README), a label mask (PNG, TIFF, NIfTI) or a DICOM SEG"
    elif case == "text":
        roi.write_text("lesion at 120, 95\n")
        expected = "not an ROI file (text, not JSON)"
    elif case == "truth":  # JSON, but not an ROI document
        roi.write_text(json.dumps({"labels": {"arterial": "hyper"}}))
        expected = "'rois' must be a non-empty list of ROIs"
    elif case == "bad_description":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("ceuskit-rois", json.dumps({"format": "ceuskit-rois", "reference_frame": -1, "labels": {}}))
        Image.fromarray(np.ones((8, 8), np.uint8)).save(roi.with_suffix(".png"), pnginfo=info)
        roi = roi.with_suffix(".png")
        expected = "its ceuskit ROI description is malformed (reference_frame -1)"
    elif case == "damaged_nifti":  # named NIfTI, cut short: said to be a NIfTI that cannot be read
        nifti = _export(phantom["roi"], phantom["clip"], tmp_path / "r.nii.gz", capsys)
        roi = tmp_path / "cut.nii.gz"
        roi.write_bytes(nifti.read_bytes()[:40])
        expected = "not a readable NIfTI label mask"
    else:
        seg = _export(phantom["roi"], phantom["clip"], tmp_path / "r.dcm", capsys)
        ds = pydicom.dcmread(seg)
        ds.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue = "39607008"  # SCT Lung
        ds.save_as(roi)
        expected = "segment 'right lobe' is neither a lesion"
    code = main(["analyze", str(phantom["clip"]), "--roi", str(roi), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ceuskit: error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()
