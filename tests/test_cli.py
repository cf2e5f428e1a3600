"""The command line: happy paths and every kind of broken input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from ceuskit.cli import main
from ceuskit.simulate import Phantom, simulate_clip


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return simulate_clip(tmp_path_factory.mktemp("cli"), Phantom(duration_s=60.0, fps=2.0, seed=4))


def _fails_cleanly(capsys, args, out_dir, message, names=None):
    assert message, "an empty expected message checks nothing"
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ceuskit: error: "), err
    assert message in lines[0]
    assert names is None or names in lines[0]  # which file was wrong
    assert "Traceback" not in err
    assert not (out_dir / "analysis.json").exists()


def test_info_json_matches_the_header(capsys, phantom):
    assert main(["info", str(phantom.dicom), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    ds = pydicom.dcmread(phantom.dicom, stop_before_pixels=True)
    assert info["n_frames"] == int(ds.NumberOfFrames)
    assert info["rows"] == ds.Rows and info["columns"] == ds.Columns
    assert info["pixel_spacing_mm"] == pytest.approx([float(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX) * 10] * 2)
    assert info["frame_times_s"] == pytest.approx(phantom.truth_data["frame_times_s"])
    assert info["layout"] == "single"


def test_analyze_prints_a_summary_and_writes_outputs(capsys, phantom, tmp_path):
    assert main(["analyze", str(phantom.dicom), "--roi", str(phantom.roi), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lesion vs liver: arterial: hyper" in out
    assert (tmp_path / "analysis.json").exists() and (tmp_path / "tic.csv").exists()
    assert main(["analyze", str(phantom.dicom), "--roi", str(phantom.roi), "--json", "--model", "gamma"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rois"]["lesion"]["fit"]["model"] == "gamma"


def _derived(phantom, tmp_path, name, change):
    ds = pydicom.dcmread(phantom.dicom)
    change(ds)
    path = tmp_path / name
    ds.save_as(path)
    return path


def _no_timing(ds):
    del ds.FrameTimeVector
    del ds.FrameTime
    del ds.FrameIncrementPointer


def _zero_timing(ds):
    del ds.FrameTimeVector
    ds.FrameTime = "0"
    ds.FrameIncrementPointer = 0x00181063


def _too_many_frames(ds):
    ds.NumberOfFrames = int(ds.NumberOfFrames) + 50


@pytest.mark.parametrize(
    ("kind", "message"),
    [("truncated", "truncated"),
     ("text", "not a clip ceuskit can read; accepted: DICOM"),
     ("png", "a single image is not a clip; put the frames in a folder and give --fps"),
     ("missing", "no such file"),
     ("no_timing", "--fps"),
     ("zero_timing", "Frame Time (0018,1063) is 0 ms, not a usable frame interval; give the frame rate with --fps"),
     # the counts come from the phantom's own header: {n} frames stored, 50 more declared
     ("too_many_frames", "Number of Frames is {declared} but the pixel data holds only {n} frame(s)"),
     ("too_many_frames", "export the clip again from the scanner or PACS")],
)
def test_broken_clips(capsys, phantom, tmp_path, kind, message):
    if kind == "truncated":
        clip = tmp_path / "cut.dcm"
        data = phantom.dicom.read_bytes()
        clip.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        clip = tmp_path / "notes.dcm"
        clip.write_text("this is not a clip\n")
    elif kind == "png":
        from PIL import Image

        clip = tmp_path / "picture.dcm"
        Image.new("L", (8, 8)).save(clip, format="PNG")
    elif kind == "missing":
        clip = tmp_path / "nowhere.dcm"
    else:
        change = {"no_timing": _no_timing, "zero_timing": _zero_timing, "too_many_frames": _too_many_frames}[kind]
        clip = _derived(phantom, tmp_path, f"{kind}.dcm", change)
    out = tmp_path / "out"
    n = int(pydicom.dcmread(phantom.dicom, stop_before_pixels=True).NumberOfFrames)
    message = message.format(n=n, declared=n + 50)
    _fails_cleanly(capsys, ["analyze", str(clip), "--roi", str(phantom.roi), "--out", str(out)], out, message,
                   names=str(clip))


@pytest.mark.parametrize("n_frames", [1, 3])
def test_a_clip_of_a_few_frames_is_too_short_whatever_the_injection_time(capsys, phantom, tmp_path, n_frames):
    # a single frame lasts 0 s, so no injection time fits inside it: the message must name the real problem
    clip = tmp_path / "few.npy"
    np.save(clip, pydicom.dcmread(phantom.dicom).pixel_array[:n_frames])
    out = tmp_path / "out"
    _fails_cleanly(capsys, ["analyze", str(clip), "--fps", "2", "--roi", str(phantom.roi), "--out", str(out)], out,
                   f"{n_frames} frame(s) is too few for a time–intensity analysis")


@pytest.mark.parametrize(
    ("roi_text", "message"),
    [
        ("{broken", "not valid ROI JSON"),
        (json.dumps({"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [5000, 40],
                               "radii": [10, 10]}, {"name": "liver", "role": "parenchyma", "shape": "rectangle",
                                                    "box": [20, 30, 40, 60]}]}), "outside the image"),
        (json.dumps({"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [50, 40],
                               "radii": [0, 10]}]}), "degenerate"),
        (json.dumps({"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [60, 70],
                               "radii": [10, 10]}]}), "no parenchyma ROI"),
        (None, "no such ROI file"),
    ],
)
def test_broken_rois(capsys, phantom, tmp_path, roi_text, message):
    roi = tmp_path / "roi.json"
    if roi_text is not None:
        roi.write_text(roi_text)
    out = tmp_path / "out"
    _fails_cleanly(capsys, ["analyze", str(phantom.dicom), "--roi", str(roi), "--out", str(out)], out, message)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--injection-time", "-7200", "injection time"), ("--injection-time", "999", "injection time"),
     ("--dynamic-range", "0", "dynamic range"), ("--model", "spline", "model 'spline'")],
)
def test_nonsense_options(capsys, phantom, tmp_path, option, value, message):
    out = tmp_path / "out"
    _fails_cleanly(capsys, ["analyze", str(phantom.dicom), "--roi", str(phantom.roi), "--out", str(out), option, value],
                   out, message)


def test_usage_errors_are_one_line(capsys):
    assert main(["analyze"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ceuskit: error: ")
