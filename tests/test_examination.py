"""Whole examinations: a loop and late-phase sweeps read on one time axis (ceuskit.pipeline.analyze_examination).

Expected values come from the simulator's truth (ceuskit.simulate.examination: pattern labels by
construction, the clips' windows, the closed-form arrival and wash-out onset, the injection moment written
as Contrast/Bolus Start Time), from DICOM headers, and — for the reading across gaps — from curves built here.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pydicom
import pytest

from ceuskit.cli import main
from ceuskit.phases import characterise, lirads_category
from ceuskit.pipeline import analyze, analyze_examination
from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination


@pytest.fixture(scope="module")
def examinations(tmp_path_factory):
    root = tmp_path_factory.mktemp("examinations")
    out = {}
    for pattern in ("hyper-early-hypo", "hyper-late-hypo"):
        phantom = Phantom(pattern=pattern, fps=4.0, lead_in_s=3.0, breathing_amplitude_px=(2, 5), seed=5)
        out[pattern] = simulate_examination(root, phantom, name=pattern)
    return out


@pytest.mark.parametrize("pattern", ["hyper-early-hypo", "hyper-late-hypo"])
def test_loop_and_sweeps_read_as_the_truth(examinations, pattern):
    sim = examinations[pattern]
    truth = sim.truth_data
    shuffled = list(range(len(sim.dicoms)))[::-1]  # any order on the command line
    analysis = analyze_examination([sim.dicoms[k] for k in shuffled], [sim.rois[k] for k in shuffled],
                                   injection_time_s="auto")
    document = analysis.document
    lesion = document["lesions"][0]
    assert lesion["arterial_phase"]["enhancement"] == truth["pattern"]["arterial"]
    assert lesion["late_phase"]["enhancement"] == truth["pattern"]["late"]  # read on the sweeps
    assert lesion["portal_venous_phase"]["washout_timing"] == truth["pattern"]["washout_timing"]
    assert abs(lesion["arterial_phase"]["onset_s"] - truth["onset_s"]) <= 1.0
    if truth["washout_bracket_s"] is not None:  # the wash-out began between the loop and the first sweep
        assert lesion["portal_venous_phase"]["washout_onset_s"] is None
        assert lesion["portal_venous_phase"]["washout_onset_interval_s"] == pytest.approx(truth["washout_bracket_s"],
                                                                                          abs=0.6)
    else:
        assert abs(lesion["portal_venous_phase"]["washout_onset_s"] - truth["washout_onset_s"]) <= 2.0
    # the injection from Contrast/Bolus Start Time, the clips on one axis from their acquisition times
    assert document["clip"]["injection_time_s"] == pytest.approx(truth["injection_time_s"], abs=1e-3)
    loop = pydicom.dcmread(sim.dicoms[0], stop_before_pixels=True)
    assert document["clip"]["contrast_agent"] == loop.ContrastBolusAgent
    starts = [window[0] + truth["injection_time_s"] for window in truth["clip_windows_s"]]  # s after the loop's start
    assert [clip["offset_s"] for clip in document["clips"]] == pytest.approx(starts, abs=1e-3)
    assert [clip["source"] for clip in document["clips"]] == [str(path) for path in sim.dicoms]
    assert [clip["n_frames"] for clip in document["clips"]] == [int(pydicom.dcmread(p, stop_before_pixels=True)
                                                                   .NumberOfFrames) for p in sim.dicoms]


def test_the_loop_alone_leaves_the_late_phase_unread(examinations):
    sim = examinations["hyper-early-hypo"]
    alone = analyze(sim.dicoms[0], sim.rois[0], injection_time_s="auto").document
    assert alone["lesions"][0]["late_phase"]["enhancement"] == "not_assessed"
    assert "late_phase_missing" in {flag["code"] for flag in alone["quality"]}
    assert alone["clips"][0]["offset_s"] == 0.0 and len(alone["clips"]) == 1


def test_the_command_line_reads_an_examination_and_writes_its_clips(examinations, tmp_path, capsys):
    sim = examinations["hyper-late-hypo"]
    args = ["analyze", *map(str, sim.dicoms), *[a for roi in sim.rois for a in ("--roi", str(roi))],
            "--injection-time", "auto", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "clip 4 at" in printed and "begun between" in printed
    document = json.loads((tmp_path / "out" / "analysis.json").read_text())
    with open(tmp_path / "out" / "tic.csv") as fh:
        rows = list(csv.DictReader(fh))
    per_clip = np.bincount([int(row["clip"]) for row in rows])
    assert per_clip.tolist() == [clip["n_frames"] for clip in document["clips"]]
    times = np.array([float(row["time_s"]) for row in rows])
    assert np.all(np.diff(times) > 0)  # one axis, in time order, gaps kept (no sample between clips)
    assert not ((times > 70.0 - 3.0) & (times < 120.0)).any()


def test_one_roi_per_clip_is_required(examinations, capsys):
    sim = examinations["hyper-early-hypo"]
    assert main(["analyze", str(sim.dicoms[0]), str(sim.dicoms[1]), "--roi", str(sim.rois[0])]) == 2
    assert "one --roi per clip" in capsys.readouterr().err


def _gapped(lesion_db, liver_db=-20.0, loop_end_s=70.0):
    """A loop sampled at 4 Hz to ``loop_end_s`` and one sweep from 125 to 133 s; R(t) = lesion − liver dB."""
    t = np.concatenate([np.arange(0.0, loop_end_s, 0.25), np.arange(125.0, 133.0, 0.25)])
    segments = (t > 100).astype(int)
    liver = np.full(t.size, 10 ** (liver_db / 10))
    lesion = 10 ** ((liver_db + lesion_db(t)) / 10)
    return t, lesion, liver, segments


def test_a_dip_at_the_end_of_a_loop_plus_a_sweep_is_late_not_early():
    # the case: hyper in the arterial phase, a 0.7 s dip at the end of a loop whose last frame is 60 s
    # after injection, hypo on a sweep at 125 s
    def r_db(t):
        return np.where(t < 30, 4.0, 0.0) + np.where((t > 59.3) & (t < 100), -4.0, 0.0) + np.where(t > 100, -4.0, 0.0)

    t, lesion, liver, segments = _gapped(r_db, loop_end_s=60.25)
    reading = characterise(t, lesion, liver, onset_s=10.0, segments=segments)
    pv = reading["portal_venous_phase"]
    assert pv["washout"] is True and pv["washout_onset_s"] is None
    assert pv["washout_onset_interval_s"] == pytest.approx([60.0, 125.0])  # the loop's last frame, the sweep's first
    assert pv["washout_timing"] == "late"  # never 65 s of early wash-out bridged across the gap
    assert lirads_category(reading, size_mm=25.0, at_risk=True)["category"] == "LR-5"  # not LR-M
    # read as if the gap were not there, the same samples would have given early wash-out, LR-M
    bridged = characterise(t, lesion, liver, onset_s=10.0)
    assert bridged["portal_venous_phase"]["washout_timing"] == "early"


def test_a_wash_out_that_began_in_a_gap_across_60_s_is_indeterminate():
    def r_db(t):
        return np.where(t < 30, 4.0, 0.0) + np.where(t > 100, -4.0, 0.0)

    t, lesion, liver, segments = _gapped(r_db)
    t = np.where(t < 70, t * 0.8, t)  # the loop ends at 56 s: the onset lies somewhere in (56, 125]
    reading = characterise(t, lesion, liver, onset_s=8.0, segments=segments)
    pv = reading["portal_venous_phase"]
    assert pv["washout_timing"] == "indeterminate"
    assert pv["washout_onset_interval_s"][0] < 60.0 < pv["washout_onset_interval_s"][1]
    lirads = lirads_category(reading, size_mm=25.0, at_risk=True)
    assert lirads["category"] is None and "between two clips" in lirads["reason"]


def test_a_short_sweep_alone_does_not_make_a_late_phase():
    def r_db(t):
        return np.where(t < 30, 4.0, 0.0)

    t, lesion, liver, segments = _gapped(r_db)
    keep = (t < 70) | (t < 127)  # a 2 s sweep: less than the 3 s the late phase needs
    reading = characterise(t[keep], lesion[keep], liver[keep], onset_s=8.0, segments=segments[keep])
    assert reading["late_phase"]["enhancement"] == "not_assessed"


def test_no_li_rads_category_without_an_arterial_phase():
    t = np.arange(50.0, 150.0, 0.5)  # a recording that starts after the arterial phase
    liver = np.full(t.size, 1e-2)
    reading = characterise(t, liver * 0.5, liver, onset_s=None)
    assert reading["arterial_phase"]["enhancement"] == "not_assessed"
    lirads = lirads_category(reading, size_mm=25.0, at_risk=True)
    assert lirads["category"] is None and "arterial phase" in lirads["reason"]


def test_clips_may_list_their_rois_in_any_order(examinations, tmp_path):
    sim = examinations["hyper-early-hypo"]
    document = json.loads(sim.rois[1].read_text())
    document["rois"] = document["rois"][::-1]  # liver first in the sweep's file
    swapped = tmp_path / "sweep.roi.json"
    swapped.write_text(json.dumps(document))
    rois = [sim.rois[0], swapped, *sim.rois[2:]]
    reading = analyze_examination(sim.dicoms, rois, injection_time_s="auto").document
    assert reading["lesions"][0]["late_phase"]["enhancement"] == sim.truth_data["pattern"]["late"]
