"""A whole simulated examination: a continuous loop and short late-phase sweeps, one DICOM file per clip.

Each clip is the phantom (:class:`~ceuskit.simulate.Phantom`) rendered by
:func:`~ceuskit.simulate.render_frames` over that clip's own time window — the loop from its start, each
sweep starting ``sweeps_s[k]`` seconds after the injection (a phantom whose recording starts that long after
it) — so the contrast curves are one continuous physiology cut into clips, and the gaps are gaps.  Between
clips the probe moves: each sweep sees the lesion and its liver reference shifted by its own
``probe_moves_px`` and has its own speckle and breathing, so each gets its own ROI file, drawn on one of its
frames.

The files are one examination of one patient: the same Patient ID and Study Instance UID, a new Series per
clip, an Acquisition DateTime per clip (the loop's first frame at ``acquired_at``), and on the loop the
Contrast/Bolus Start Time (0018,1042) and Agent (0018,0010).  The truth (``NAME.truth.json``) comes only from
the phantom: the pattern (with the late phase), the lesion's arrival and wash-out onset on the continuous
curves, each clip's offset and noiseless ROI curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit.errors import InputError
from ceuskit.simulate.anatomy import moved
from ceuskit.simulate.curves import truth_timing
from ceuskit.simulate.dicom import write_dicom, write_json
from ceuskit.simulate.phantom import LATE_PHASE_START_S, Phantom
from ceuskit.simulate.render import render_frames

__all__ = ["CONTRAST_AGENT", "PROBE_MOVES_PX", "SimulatedExamination", "probe_moves_within", "simulate_examination"]

PROBE_MOVES_PX: tuple[tuple[float, float], ...] = ((-18.0, 10.0), (16.0, -8.0), (-10.0, -12.0))
"""Where the lesion appears in each sweep relative to the loop, (dx, dy) px; cycled for more sweeps."""

def probe_moves_within(max_px: float, count: int, *, seed: int = 0, phantom: Phantom | None = None,
                       margin_px: float = 4.0) -> tuple[tuple[float, float], ...]:
    """Draw ``count`` whole-pixel (dx, dy) probe moves of random direction from ``seed``.

    Each is between a quarter of ``max_px`` and ``max_px`` long (e.g. up to a lesion's diameter); with
    ``phantom``, only moves that keep its lesion (and its breathing) ``margin_px`` inside the image, as a
    sonographer keeps it in view.

    Raises
    ------
    InputError
        ``max_px`` not positive, ``count`` below 1, or no such move keeps the lesion in view.
    """
    if not max_px > 0 or count < 1:
        raise InputError("probe moves need a positive largest move and at least one sweep")
    rng = np.random.default_rng([seed, 2424])
    out: list[tuple[float, float]] = []
    for _ in range(1000 * count):
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 1.0) * max_px
        move = (float(round(length * np.cos(angle))), float(round(length * np.sin(angle))))
        if phantom is not None:
            (cx, cy), (rx, ry) = phantom.lesion_center_px, phantom.lesion_radii_px
            bx, by = (abs(v) * (1 + phantom.breathing_irregularity) for v in phantom.breathing_amplitude_px)
            reach_x, reach_y = rx * (1 + phantom.lesion_irregularity) + bx + margin_px, \
                ry * (1 + phantom.lesion_irregularity) + by + margin_px
            x, y = cx + move[0], cy + move[1]
            if not (reach_x <= x <= phantom.columns - reach_x and reach_y <= y <= phantom.rows - reach_y):
                continue
        out.append(move)
        if len(out) == count:
            return tuple(out)
    raise InputError(f"no probe move up to {max_px:g} px keeps the lesion in view; give a smaller move")


CONTRAST_AGENT = "SonoVue (sulphur hexafluoride microbubbles)"
"""The Contrast/Bolus Agent the simulated files name."""


@dataclass(frozen=True)
class SimulatedExamination:
    """What :func:`simulate_examination` wrote: one DICOM and one ROI file per clip (loop first), the truth."""

    dicoms: tuple[Path, ...]
    rois: tuple[Path, ...]
    truth: Path
    truth_data: dict[str, Any] = field(repr=False)

    def command(self, *, shuffle: bool = False) -> str:
        """Return the ``ceuskit analyze`` command line that reads the examination.

        With ``shuffle`` the clips come last-first: the order on the command line does not matter.
        """
        pairs = list(zip(self.dicoms, self.rois, strict=True))
        if shuffle:
            pairs = pairs[::-1]
        clips = " ".join(str(d) for d, _ in pairs)
        rois = " ".join(f"--roi {r}" for _, r in pairs)
        return (f"ceuskit analyze {clips} {rois} --injection-time auto "
                f"--dynamic-range {self.truth_data['dynamic_range_db']:g}")


def _windows(ph: Phantom, loop_s: float, sweeps_s: Sequence[float], sweep_duration_s: float) -> list[float]:
    """Each clip's start in seconds after the injection (the loop's is −lead-in), checked."""
    if not loop_s > 0 or not sweep_duration_s > 0:
        raise InputError("loop_s and sweep_duration_s must be positive")
    if not -loop_s < -ph.lead_in_s:
        raise InputError("the injection must come before the loop ends (lead_in_s < loop_s)")
    starts = [-ph.lead_in_s, *(float(s) for s in sweeps_s)]
    ends = [loop_s - ph.lead_in_s, *(float(s) + sweep_duration_s for s in sweeps_s)]
    for k in range(1, len(starts)):
        if not starts[k] > ends[k - 1]:
            raise InputError(f"sweep {k} at {starts[k]:g} s starts before the previous clip ends ({ends[k - 1]:g} s "
                             "after the injection); give increasing sweep times with gaps between the clips")
    return starts


def _washout_bracket(onset_s: float | None, windows: list[tuple[float, float]]) -> list[float] | None:
    """Return the gap in which the wash-out begins, or None.

    The gap is (end of one clip, start of the next; s after injection); None when the wash-out begins inside
    a clip (or never, or after the last clip).
    """
    if onset_s is None:
        return None
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        if end < onset_s < start:
            return [end, start]
    return None


def simulate_examination(out_dir: str | Path, phantom: Phantom | None = None, *, loop_s: float = 70.0,
                         sweeps_s: Sequence[float] = (120.0, 180.0, 240.0), sweep_duration_s: float = 8.0,
                         name: str = "exam", patient_id: str = "SIM0000",
                         probe_moves_px: Sequence[tuple[float, float]] = PROBE_MOVES_PX,
                         acquired_at: datetime = datetime(2026, 1, 1, 12, 0, 0),
                         progress: Callable[[int, int], None] | None = None) -> SimulatedExamination:
    """Write one simulated examination: a loop and late-phase sweeps, with ROI files and the truth.

    Parameters
    ----------
    out_dir : folder for ``NAME_loop.dcm``, ``NAME_sweepK.dcm`` (K = 1, 2, …), their ``.roi.json`` files
        and ``NAME.truth.json``.
    phantom : the physiology, pattern and screen (default :class:`Phantom`); its ``lead_in_s`` is how long the
        loop records before the injection, its ``duration_s`` is not used.
    loop_s : length of the continuous loop, s from its first frame.
    sweeps_s : when each sweep starts, s after the injection (increasing, after the loop).
    sweep_duration_s : length of each sweep, s.
    name, patient_id : file name stem and the (fake) Patient ID every file carries.
    probe_moves_px : the lesion's (dx, dy) shift in each sweep relative to the loop, px, cycled.
    acquired_at : Acquisition DateTime of the loop's first frame (local time, no UTC offset).
    progress : called with (frames rendered, total frames).

    Returns
    -------
    SimulatedExamination
        Paths (loop first) and the truth; ``command()`` is the command line that analyses it.

    Raises
    ------
    InputError
        A setting that cannot be simulated (sweeps overlapping the loop or each other, …).
    """
    ph = phantom or Phantom()
    if not probe_moves_px:
        raise InputError("probe_moves_px needs at least one (dx, dy)")
    starts = _windows(ph, loop_s, sweeps_s, sweep_duration_s)
    moves = [(0.0, 0.0)] + [tuple(map(float, probe_moves_px[k % len(probe_moves_px)])) for k in range(len(sweeps_s))]
    phantoms = [replace(ph, duration_s=loop_s)] + [
        replace(moved(ph, moves[k + 1][0], moves[k + 1][1]), duration_s=sweep_duration_s, lead_in_s=-start,
                seed=ph.seed + 1 + k)
        for k, start in enumerate(starts[1:])]
    for clip_phantom in phantoms:
        clip_phantom.check()
    total = sum(int(p.duration_s * p.fps) + 1 for p in phantoms)
    done = 0

    def step(k: int, _n: int) -> None:
        if progress is not None:
            progress(done + k, total)

    rendered = []
    for clip_phantom in phantoms:
        rendered.append(render_frames(clip_phantom, step))
        done += len(rendered[-1]["times"])
    return _write(Path(out_dir), ph, phantoms, rendered, starts, moves, name=name, patient_id=patient_id,
                  acquired_at=acquired_at)


def _write(out: Path, ph: Phantom, phantoms: list[Phantom], rendered: list[dict[str, Any]], starts: list[float],
           moves: list[tuple[float, ...]], *, name: str, patient_id: str, acquired_at: datetime
           ) -> SimulatedExamination:
    """Write every clip, ROI file and the truth (the rendering is finished: nothing is half-simulated)."""
    from pydicom.uid import generate_uid

    out.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid()
    injected_at = acquired_at + timedelta(seconds=ph.lead_in_s)
    stems = [f"{name}_loop"] + [f"{name}_sweep{k}" for k in range(1, len(phantoms))]
    dicoms, rois, clips = [], [], []
    windows = []
    for k, (clip_phantom, result, start, stem) in enumerate(zip(phantoms, rendered, starts, stems, strict=True)):
        at = injected_at + timedelta(seconds=start)
        header: dict[str, object] = {
            "StudyInstanceUID": study_uid, "SeriesInstanceUID": generate_uid(), "SeriesNumber": k + 1,
            "InstanceNumber": 1, "SeriesDescription": "CEUS loop" if k == 0 else f"CEUS late sweep {k}",
            "StudyDate": acquired_at.strftime("%Y%m%d"), "StudyTime": acquired_at.strftime("%H%M%S"),
            "AcquisitionDateTime": at.strftime("%Y%m%d%H%M%S.%f"),
            "ContentDate": at.strftime("%Y%m%d"), "ContentTime": at.strftime("%H%M%S.%f")}
        if k == 0:
            header.update(ContrastBolusStartTime=injected_at.strftime("%H%M%S.%f"), ContrastBolusAgent=CONTRAST_AGENT)
        dicom, roi = out / f"{stem}.dcm", out / f"{stem}.roi.json"
        write_dicom(dicom, result["frames"], result["times"], clip_phantom, result["layout"], patient_id=patient_id,
                    header=header)
        write_json(roi, result["roi"])
        dicoms.append(dicom)
        rois.append(roi)
        times = result["truth"]["frame_times_s"]
        windows.append((start, start + times[-1]))
        clips.append({
            "dicom": dicom.name, "roi": roi.name, "offset_s": round(start + ph.lead_in_s, 6),
            "start_after_injection_s": round(start, 6), "duration_s": times[-1], "n_frames": len(times),
            "acquired": at.isoformat(), "probe_move_px": list(moves[k]),
            "lesion_center_px": list(clip_phantom.lesion_center_px),
            "reference_frame": result["truth"]["reference_frame"], "frame_times_s": times,
            "shifts_px": result["truth"]["shifts_px"], "out_of_plane_frames": result["truth"]["out_of_plane_frames"],
            "tic_truth": result["truth"]["tic_truth"], "masks": result["truth"]["masks"],
            "lesions": result["truth"]["lesions"]})
    truth = _truth(ph, phantoms, clips, windows, injected_at)
    path = out / f"{name}.truth.json"
    write_json(path, truth)
    return SimulatedExamination(tuple(dicoms), tuple(rois), path, truth)


def _truth(ph: Phantom, phantoms: list[Phantom], clips: list[dict[str, Any]], windows: list[tuple[float, float]],
           injected_at: datetime) -> dict[str, Any]:
    """Return the examination's truth, from the phantom only.

    Labels by construction, times from the noiseless curves over the whole examination.
    """
    spec = ph.pattern_spec()
    whole = replace(ph, duration_s=windows[-1][1] + ph.lead_in_s)  # the continuous physiology, first to last frame
    timing = truth_timing(whole)
    late_seen = any(end >= LATE_PHASE_START_S for _, end in windows)
    return {
        "generator": "ceuskit.simulate.examination",
        "phantom": asdict(phantoms[0]),
        "pattern": {"arterial": spec.arterial, "washout": spec.washout != "none", "washout_timing": spec.washout,
                    "washout_degree": spec.degree, "late": spec.late if late_seen else "not_assessed"},
        "pattern_loop_only": {"late": "not_assessed" if windows[0][1] < LATE_PHASE_START_S else spec.late},
        "onset_s": timing["onset_s"],
        "arrival_time_s": timing["arrival_time_s"],
        "lesion_peak_time_s": timing["peak_time_s"],
        "washout_onset_s": timing["washout_onset_s"],
        "washout_bracket_s": _washout_bracket(timing["washout_onset_s"], windows),
        "injection_time_s": ph.lead_in_s,
        "injected_at": injected_at.isoformat(),
        "contrast_agent": CONTRAST_AGENT,
        "dynamic_range_db": ph.dynamic_range_db,
        "clip_windows_s": [list(w) for w in windows],
        "clips": clips,
    }
