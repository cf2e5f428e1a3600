"""The simulated examination (a loop and late-phase sweeps) checked against its own parameters and headers.

Expected values come from the phantom's parameters (times, probe moves, lead-in), from the DICOM headers
read here with pydicom, and from the single-clip simulator rendering the same phantom.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.valuerep import DT, TM

from ceuskit.cli import main
from ceuskit.errors import InputError
from ceuskit.io import open_clip
from ceuskit.io.examination import injection_from_header, place_clips
from ceuskit.roi import parse_rois
from ceuskit.simulate import Phantom, simulate_clip
from ceuskit.simulate.examination import PROBE_MOVES_PX, simulate_examination

PHANTOM = Phantom(pattern="hyper-late-hypo", seed=21, lead_in_s=4.5, fps=3.0)
START = datetime(2026, 5, 4, 9, 30, 0)


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory):
    return simulate_examination(tmp_path_factory.mktemp("exam"), PHANTOM, loop_s=60.0, sweeps_s=(120.0, 185.0),
                                sweep_duration_s=6.0, acquired_at=START, patient_id="SIM-EXAM-1")


def _headers(exam) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in exam.dicoms]


def test_one_patient_one_study_a_series_per_clip(exam) -> None:
    headers = _headers(exam)
    assert len(headers) == 3
    assert {h.PatientID for h in headers} == {"SIM-EXAM-1"}
    assert len({h.StudyInstanceUID for h in headers}) == 1
    assert len({h.SeriesInstanceUID for h in headers}) == 3
    assert [int(h.SeriesNumber) for h in headers] == [1, 2, 3]


def test_acquisition_times_and_contrast_follow_the_phantom(exam) -> None:
    headers = _headers(exam)
    starts_after_injection = [-PHANTOM.lead_in_s, 120.0, 185.0]
    injected = START + timedelta(seconds=PHANTOM.lead_in_s)
    for header, start in zip(headers, starts_after_injection, strict=True):
        assert DT(header.AcquisitionDateTime) == injected + timedelta(seconds=start)
    loop = headers[0]
    assert TM(loop.ContrastBolusStartTime) == injected.time()
    assert "SonoVue" in loop.ContrastBolusAgent
    assert all("ContrastBolusStartTime" not in h for h in headers[1:])
    durations = [(int(h.NumberOfFrames) - 1) / 3.0 for h in headers]  # 3 frames/s, no jitter
    assert durations == pytest.approx([60.0, 6.0, 6.0])


def test_the_files_place_themselves_as_the_truth_says(exam) -> None:
    clips = [open_clip(p) for p in exam.dicoms[::-1]]
    try:
        placed = place_clips(clips)
        injection, agent = injection_from_header(clips)
    finally:
        for clip in clips:
            clip.close()
    assert placed == pytest.approx([185.0 + 4.5, 120.0 + 4.5, 0.0], abs=1e-6)
    assert placed == pytest.approx([c["offset_s"] for c in exam.truth_data["clips"][::-1]], abs=1e-6)
    assert injection == pytest.approx(PHANTOM.lead_in_s, abs=1e-6)
    assert agent == exam.truth_data["contrast_agent"]


def test_the_loop_is_the_single_clip_simulator_s_clip(exam, tmp_path: Path) -> None:
    single = simulate_clip(tmp_path, replace(PHANTOM, duration_s=60.0), name="loop")
    assert np.array_equal(pydicom.dcmread(single.dicom).pixel_array, pydicom.dcmread(exam.dicoms[0]).pixel_array)
    assert single.truth_data["onset_s"] == exam.truth_data["onset_s"]
    assert single.truth_data["tic_truth"] == exam.truth_data["clips"][0]["tic_truth"]


def test_each_sweep_sees_the_lesion_where_the_probe_moved_it(exam) -> None:
    truth = exam.truth_data
    loop_roi = parse_rois(json.loads(exam.rois[0].read_text()))
    loop_center = np.asarray(next(r for r in loop_roi.to_json()["rois"] if r["role"] == "lesion")["center"], float)
    for k, (dicom, roi_path) in enumerate(zip(exam.dicoms[1:], exam.rois[1:], strict=True)):
        clip_truth = truth["clips"][k + 1]
        move = np.asarray(PROBE_MOVES_PX[k], float)
        assert clip_truth["probe_move_px"] == list(move)
        document = json.loads(roi_path.read_text())
        lesion = next(r for r in document["rois"] if r["role"] == "lesion")
        shift = np.asarray(clip_truth["shifts_px"][document["reference_frame"]], float)
        loop_shift = np.asarray(truth["clips"][0]["shifts_px"][truth["clips"][0]["reference_frame"]], float)
        assert np.asarray(lesion["center"]) - shift == pytest.approx(loop_center - loop_shift + move)
        # late phase, hypo lesion: darker inside the sweep's own lesion ROI than in its liver ROI, frame by frame
        rois = parse_rois(document)
        pixels = pydicom.dcmread(dicom).pixel_array.astype(float)
        masks = {r.name: r.mask(pixels.shape[1], pixels.shape[2]) for r in rois.rois}
        reference = pixels[document["reference_frame"]]
        assert reference[masks["lesion"]].mean() < reference[masks["liver"]].mean() - 3
        lesion_truth, liver_truth = clip_truth["tic_truth"]["lesion"], clip_truth["tic_truth"]["liver"]
        assert all(a < b for a, b in zip(lesion_truth, liver_truth, strict=True))


def test_truth_of_the_whole_examination(exam) -> None:
    truth = exam.truth_data
    assert truth["pattern"] == {"arterial": "hyper", "washout": True, "washout_timing": "late",
                                "washout_degree": "mild", "late": "hypo"}
    assert truth["pattern_loop_only"] == {"late": "not_assessed"}  # the loop ends 55.5 s after injection
    lengths = [sum(float(v) for v in h.FrameTimeVector) / 1000.0 for h in _headers(exam)]  # whole ms per frame
    expected = [[start, start + length] for start, length in zip((-4.5, 120.0, 185.0), lengths, strict=True)]
    assert np.allclose(truth["clip_windows_s"], expected, atol=1e-9, rtol=0)
    # hyper-late-hypo steps to wash-out at 80 s after injection: in the gap between the loop and sweep 1
    assert 75.0 < truth["washout_onset_s"] < 90.0
    assert truth["washout_bracket_s"] == pytest.approx([expected[0][1], 120.0])
    assert truth["injection_time_s"] == PHANTOM.lead_in_s
    assert [len(c["tic_truth"]["lesion"]) for c in truth["clips"]] == [c["n_frames"] for c in truth["clips"]]


def test_overlapping_sweeps_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sweep 1 at 60 s starts before the previous clip ends"):
        simulate_examination(tmp_path, PHANTOM, loop_s=70.0, sweeps_s=(60.0,))
    with pytest.raises(InputError, match="sweep 2 at 125 s starts before"):
        simulate_examination(tmp_path, PHANTOM, sweeps_s=(120.0, 125.0))
    assert not any(tmp_path.iterdir())


def test_cli_writes_an_examination_and_says_how_to_read_it(tmp_path: Path, capsys) -> None:
    assert main(["simulate", str(tmp_path), "--examination", "--loop", "30", "--sweeps", "120", "--fps", "2",
                 "--sweep-duration", "5", "--pattern", "hyper-early-hypo"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("wrote 2 clips of one examination (exam_loop.dcm, exam_sweep1.dcm)")
    assert out[1] == (f"ceuskit analyze {tmp_path / 'exam_loop.dcm'} {tmp_path / 'exam_sweep1.dcm'} "
                      f"--roi {tmp_path / 'exam_loop.roi.json'} --roi {tmp_path / 'exam_sweep1.roi.json'} "
                      "--injection-time auto --dynamic-range 60")
    assert main(["simulate", str(tmp_path / "bad"), "--examination", "--sweeps", "120,abc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ceuskit: error: --sweeps '120,abc' is not a comma-separated list of seconds"]
