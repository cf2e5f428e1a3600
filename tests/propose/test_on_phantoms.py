"""Proposals on simulated clips, against the simulator's truth: outlines, liver references, overlays, refusal,
readings, sweeps, the command line and the study manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from ceuskit import store, study
from ceuskit.cli import main
from ceuskit.errors import ManifestError, ProposalError
from ceuskit.io import open_clip
from ceuskit.propose import carry_rois, loop_template, propose_rois
from ceuskit.roi import parse_rois, rois_from_label_mask
from ceuskit.simulate import Phantom, simulate_clip
from ceuskit.simulate.cases import PROPOSAL_CASES, REAL_WORLD
from ceuskit.simulate.examination import simulate_examination
from ceuskit.simulate.score_proposals import click_frame, dice, inner_half_clicks, true_mask, truth_rois

pytestmark = pytest.mark.slow

PHANTOMS = {
    # lobulated, rim-enhancing, patchy, with two vessels beside it
    "irregular": Phantom(duration_s=70.0, fps=5.0, seed=3, lesion_irregularity=0.25, lesion_rim_px=5.0,
                         lesion_heterogeneity=0.3, vessels=2, breathing_amplitude_px=(2.0, 5.0), lead_in_s=3.0),
    # hypo on every frame, deep in an attenuating liver, another lesion beside it, on a dual display
    "hypo-dual": Phantom(duration_s=70.0, fps=5.0, seed=5, pattern="hypo-none-hypo", dual=True, attenuation_db=8.0,
                         more_lesions=((40.0, 120.0, 12.0, 10.0, "hyper-early-hypo"),), lead_in_s=3.0,
                         breathing_amplitude_px=(2.0, 4.0)),
    # nothing tells this lesion from the liver on a CEUS-only screen
    "iso": Phantom(duration_s=40.0, fps=4.0, seed=6, pattern="iso-none-iso", lead_in_s=3.0),
    # a yellow + burned in on the lesion's centre
    "marker": replace(REAL_WORLD["burned-in-timer"], duration_s=60.0),
    # hypo on every frame, squeezed between two vessels that touch it
    "hypo-vessels": replace(PROPOSAL_CASES["proposal-19-hypo-none-hypo"], duration_s=70.0),
    # rim-enhancing, patchy: its rim enhances early along straight stretches that do not close into a ring
    "rim-open": replace(PROPOSAL_CASES["proposal-06-hyper-early-marked"], duration_s=60.0),
    # an examination's loop that ends before the lesion washes out (at 74 s): iso on every CEUS frame, hypoechoic
    # on the B-mode half, between three vessels
    "iso-loop": replace(PROPOSAL_CASES["proposal-29-iso-late-hypo"], duration_s=70.0, curve_family="lognormal"),
}


@dataclass
class Simulated:
    path: Path
    truth: dict[str, Any]
    phantom: Phantom


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Simulated]:
    root = tmp_path_factory.mktemp("phantoms")
    out = {}
    for name, ph in PHANTOMS.items():
        sim = simulate_clip(root, ph, name=name)
        out[name] = Simulated(sim.dicom, sim.truth_data, ph)
    return out


def _propose(sim: Simulated, click: tuple[float, float] | None = None) -> tuple[Any, dict[str, np.ndarray], int]:
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    click = click or inner_half_clicks(lesion, 1)[0]
    with open_clip(sim.path) as clip:
        proposal = propose_rois(clip, click, frame=frame, dynamic_range_db=sim.phantom.dynamic_range_db,
                                injection_time_s=sim.phantom.lead_in_s)
        masks = parse_rois(proposal.document).masks(clip.rows, clip.columns)
    return proposal, masks, frame


@pytest.mark.parametrize("name", ["irregular", "hypo-dual"])
def test_outline_and_liver_reference_from_clicks_in_the_inner_half(clips: dict[str, Simulated], name: str) -> None:
    sim = clips[name]
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    for click in inner_half_clicks(lesion, 2, seed=1):
        proposal, masks, _ = _propose(sim, click)
        assert dice(masks["lesion"], lesion) >= 0.85, click
        assert {roi["source"] for roi in proposal.document["rois"]} == {"proposed"}
        liver = masks["liver"]
        assert (liver & true_mask(sim.truth, "parenchyma", frame)).sum() >= 0.95 * liver.sum()
        assert not (liver & true_mask(sim.truth, "vessel", frame)).any()
        rows = np.nonzero(lesion)[0]
        assert rows.min() <= np.nonzero(liver)[0].mean() <= rows.max()  # at the lesion's depth


@pytest.mark.parametrize("name", ["irregular", "hypo-vessels"])
def test_the_outline_neither_grows_round_a_bright_lesion_nor_shrinks_inside_a_dark_one(
        clips: dict[str, Simulated], name: str) -> None:
    # the true mask's area and centre (simulator truth): a bright rim-enhancing lesion's edge is not put out in its
    # blur, a dark one's not cut back by the blur of the vessels touching it
    sim = clips[name]
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    _, masks, _ = _propose(sim)
    assert abs(int(masks["lesion"].sum()) - int(lesion.sum())) <= 0.15 * lesion.sum()
    assert np.hypot(*(np.mean(np.nonzero(masks["lesion"]), axis=1) - np.mean(np.nonzero(lesion), axis=1))) <= 2.0
    assert dice(masks["lesion"], lesion) >= 0.85


def test_a_rim_enhancing_lesion_is_outlined_whole_rim_included(clips: dict[str, Simulated]) -> None:
    # the true mask's outer band as wide as the phantom's rim (simulator truth) lies inside the proposal: no stretch
    # of the rim is taken for a vessel and cut off (before: Dice 0.77 and 0.79, half the rim left out)
    sim = clips["rim-open"]
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    rim = lesion & ~ndimage.binary_erosion(lesion, iterations=int(sim.phantom.lesion_rim_px))
    for click in inner_half_clicks(lesion, 2, seed=1):
        _, masks, _ = _propose(sim, click)
        assert dice(masks["lesion"], lesion) >= 0.85, click
        assert (masks["lesion"] & rim).sum() >= 0.75 * rim.sum(), click


def test_a_lesion_only_the_b_mode_half_shows_is_outlined_there(clips: dict[str, Simulated]) -> None:
    # the true mask (simulator truth), clicked at its centre: before, the CEUS-only outline was refused or drawn
    # between the vessels 12 px off, and ROIs carried from it to the sweeps missed the lesion
    sim = clips["iso-loop"]
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    proposal, masks, _ = _propose(sim)
    assert dice(masks["lesion"], lesion) >= 0.8
    assert np.hypot(*(np.mean(np.nonzero(masks["lesion"]), axis=1) - np.mean(np.nonzero(lesion), axis=1))) <= 3.0
    assert proposal.confidence < 0.5  # a faint B-mode difference is not a sure outline


def test_the_reading_from_the_proposal_is_the_reading_from_the_true_masks(clips: dict[str, Simulated]) -> None:
    from ceuskit.pipeline import analyze

    sim = clips["irregular"]
    proposal, _, frame = _propose(sim)
    readings = [analyze(sim.path, rois, injection_time_s=sim.phantom.lead_in_s,
                        dynamic_range_db=sim.phantom.dynamic_range_db).document["lesions"][0]
                for rois in (parse_rois(proposal.document), truth_rois(sim.truth, frame))]
    for phase, key in (("arterial_phase", "enhancement"), ("portal_venous_phase", "washout"),
                       ("portal_venous_phase", "washout_timing"), ("late_phase", "enhancement")):
        assert readings[0][phase][key] == readings[1][phase][key]
    assert abs(readings[0]["arterial_phase"]["onset_s"] - readings[1]["arterial_phase"]["onset_s"]) <= 0.3


def test_the_outline_never_covers_the_marker_burned_in_on_the_lesion(clips: dict[str, Simulated]) -> None:
    sim = clips["marker"]
    with open_clip(sim.path) as clip:
        frames = np.stack([clip.raw(k) for k in range(0, clip.n_frames, 25)])
    # the marker: pixels the same pure yellow in every frame (no echo is yellow on a grey screen)
    marker = np.all((frames[..., 0] == 255) & (frames[..., 1] == 255) & (frames[..., 2] == 0), axis=0)
    assert marker.any()
    frame = click_frame(sim.truth)
    lesion = true_mask(sim.truth, "lesion", frame)
    rows, cols = np.nonzero(lesion)
    proposal, masks, _ = _propose(sim, (float(cols.mean()) + 4, float(rows.mean()) + 3))
    for mask in masks.values():
        assert not (mask & marker).any()
    assert dice(masks["lesion"], lesion & ~marker) >= 0.8


def test_a_lesion_nothing_shows_is_refused(clips: dict[str, Simulated]) -> None:
    with pytest.raises(ProposalError, match="draw the lesion by hand"):
        _propose(clips["iso"])


def test_a_click_off_the_image_is_refused(clips: dict[str, Simulated]) -> None:
    with open_clip(clips["irregular"].path) as clip, pytest.raises(ProposalError, match="outside the ultrasound"):
        propose_rois(clip, (1.0, 1.0), frame=10)


def test_rois_carried_to_sweeps_land_on_the_lesion(tmp_path: Path) -> None:
    ph = Phantom(seed=9, lesion_irregularity=0.15, vessels=1, breathing_amplitude_px=(2.0, 4.0), lead_in_s=3.0)
    moves = ((-20.0, 9.0), (24.0, -12.0))
    exam = simulate_examination(tmp_path, ph, loop_s=45.0, sweeps_s=(90.0, 130.0), sweep_duration_s=5.0,
                                probe_moves_px=moves)
    loop_truth = exam.truth_data["clips"][0]
    frame = loop_truth["masks"]["frame"]
    lesion = true_mask(loop_truth, "lesion", frame)
    with open_clip(exam.dicoms[0]) as loop:
        template = loop_template(loop, rois_from_label_mask(lesion.astype(np.uint8), reference_frame=frame),
                                 dynamic_range_db=ph.dynamic_range_db)
    start = np.array([np.nonzero(lesion)[1].mean(), np.nonzero(lesion)[0].mean()])
    errors = []
    for path, truth in zip(exam.dicoms[1:], exam.truth_data["clips"][1:], strict=True):
        with open_clip(path) as sweep:
            carried = carry_rois(template, sweep, dynamic_range_db=ph.dynamic_range_db)
        there = true_mask(truth, "lesion", carried.frame)
        expected = np.array([np.nonzero(there)[1].mean(), np.nonzero(there)[0].mean()])
        errors.append(float(np.hypot(*(start + np.array(carried.offset_px) - expected))))
        assert {roi["source"] for roi in carried.document["rois"]} == {"proposed"}
        assert carried.document["reference_frame"] == carried.frame
    # issue 24's bounds: the true lesion centre within 3 px (median), 6 px at worst
    assert np.median(errors) <= 3.0 and max(errors) <= 6.0, errors


def test_the_command_line_writes_the_proposal_and_refuses_cleanly(clips: dict[str, Simulated], tmp_path: Path,
                                                                  capsys) -> None:
    sim = clips["irregular"]
    frame = click_frame(sim.truth)
    x, y = inner_half_clicks(true_mask(sim.truth, "lesion", frame), 1)[0]
    out = tmp_path / "rois.json"
    assert main(["rois", "propose", str(sim.path), "--click", f"{x:.1f},{y:.1f}@{frame}", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["reference_frame"] == frame
    assert [roi["role"] for roi in document["rois"]] == ["lesion", "parenchyma"]
    assert "confidence" in capsys.readouterr().out
    refused = tmp_path / "iso.json"
    assert main(["rois", "propose", str(clips["iso"].path), "--click", "96,72", "--out", str(refused)]) == 2
    assert capsys.readouterr().err.startswith("ceuskit: error: nothing at 96,72")
    assert not refused.exists()
    assert main(["rois", "propose", str(sim.path), "--click", "96;72", "--out", str(refused)]) == 2


def test_a_manifest_click_cell_stores_the_proposed_rois(clips: dict[str, Simulated], tmp_path: Path) -> None:
    from ceuskit.study.manifest import read_manifest

    sim = clips["irregular"]
    frame = click_frame(sim.truth)
    x, y = inner_half_clicks(true_mask(sim.truth, "lesion", frame), 1)[0]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient_id,lesion_id,clip,roi,ki67,dynamic_range_db\n"
                        f'P1,L1,{sim.path},"click:{x:.1f},{y:.1f}@{frame}",5,{sim.phantom.dynamic_range_db}\n')
    lesions, _ = read_manifest(manifest)
    document = lesions[0].clips[0].rois
    assert document["reference_frame"] == frame
    assert {roi["source"] for roi in document["rois"]} == {"proposed"}
    # the study's table says how the analysed ROIs came to be
    with store.Store(f"sqlite:///{tmp_path / 'study.db'}") as db:
        study.import_manifest(db, manifest)
        assert study.run_study(db, workers=0).analysed == 1
        row = study.cohort_frame(db).iloc[0]
    assert (row["analysis_status"], row["roi_source"], row["reference_source"]) == ("ok", "proposed", "proposed")
    bad = tmp_path / "bad.csv"
    bad.write_text(f'patient_id,lesion_id,clip,roi,ki67\nP1,L1,{clips["iso"].path},"click:96,72@5",5\n')
    with pytest.raises(ManifestError, match="line 2: roi click:96,72@5: nothing at 96,72"):
        read_manifest(bad)


def test_one_click_in_a_manifest_reads_a_whole_examination(tmp_path: Path) -> None:
    from ceuskit.study.manifest import read_manifest

    ph = Phantom(seed=12, breathing_amplitude_px=(1.0, 3.0), lead_in_s=3.0)
    exam = simulate_examination(tmp_path / "exam", ph, loop_s=45.0, sweeps_s=(90.0,), sweep_duration_s=5.0,
                                probe_moves_px=((15.0, -10.0),))
    loop_truth = exam.truth_data["clips"][0]
    frame = loop_truth["masks"]["frame"]
    x, y = inner_half_clicks(true_mask(loop_truth, "lesion", frame), 1)[0]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient_id,lesion_id,clip,roi,ki67,injection_time_s\n"
                        f'P1,L1,exam/{exam.dicoms[0].name};exam/{exam.dicoms[1].name},"click:{x:.1f},{y:.1f}@{frame}",'
                        "5,auto\n")
    lesion = read_manifest(manifest)[0][0]
    sweep = lesion.clips[1].rois
    assert {roi["source"] for roi in lesion.clips[0].rois["rois"]} == {"proposed"}
    assert {roi["source"] for roi in sweep["rois"]} == {"proposed"}
    carried = parse_rois(sweep).masks(*true_mask(loop_truth, "lesion", frame).shape)["lesion"]
    truth = exam.truth_data["clips"][1]
    assert dice(carried, true_mask(truth, "lesion", sweep["reference_frame"])) >= 0.8


def test_a_lesion_moved_to_the_image_s_edge_is_found_there(tmp_path: Path) -> None:
    # the probe moves the lesion by most of its diameter towards the bottom edge: the template box (lesion and
    # surroundings) no longer fits inside the frame there, yet the lesion is found where the truth has it
    ph = Phantom(seed=21, lesion_center_px=(96.0, 104.0), lesion_radii_px=(18.0, 16.0), vessels=1,
                 breathing_amplitude_px=(2.0, 5.0), lead_in_s=3.0)
    exam = simulate_examination(tmp_path, ph, loop_s=45.0, sweeps_s=(90.0,), sweep_duration_s=5.0,
                                probe_moves_px=((6.0, 30.0),))
    loop_truth, truth = exam.truth_data["clips"]
    frame = loop_truth["masks"]["frame"]
    lesion = true_mask(loop_truth, "lesion", frame)
    rois = rois_from_label_mask(lesion.astype(np.uint8), reference_frame=frame)
    with open_clip(exam.dicoms[0]) as loop:
        template = loop_template(loop, rois, dynamic_range_db=ph.dynamic_range_db)
        with pytest.raises(ProposalError, match="largest probe move must be positive"):
            loop_template(loop, rois, dynamic_range_db=ph.dynamic_range_db, max_move_px=0.0)
        assert template.box[3] + 30 > loop.ceus_region.box[3]  # moved with the lesion, the box leaves the image
    with open_clip(exam.dicoms[1]) as sweep:
        carried = carry_rois(template, sweep, dynamic_range_db=ph.dynamic_range_db)
    there = true_mask(truth, "lesion", carried.frame)
    start = np.array([np.nonzero(lesion)[1].mean(), np.nonzero(lesion)[0].mean()])
    expected = np.array([np.nonzero(there)[1].mean(), np.nonzero(there)[0].mean()])
    assert float(np.hypot(*(start + np.array(carried.offset_px) - expected))) <= 3.0
