"""Time per one-click proposal on a 3-minute clip (target ≤ 2 s), against two baselines run in the same process.

The clip is a simulated 180-s, 8-frames/s CEUS loop (1441 frames, 160×120 image) of a lobulated, rim-enhancing
lesion with vessels beside it and breathing, from :data:`ceuskit.simulate.cases.PROPOSAL_CASES`.  Baselines:

* the motion-compensated TIC extraction of the same clip with a drawn ROI pair
  (:func:`ceuskit.tic.extract_tics`) — what every analysis of the clip pays anyway;
* decoding and linearising every frame once — the cost floor of anything that reads the whole clip.

Wall time on a shared machine says little; CPU time of this process is given beside it.  The accuracy of this
one proposal against the truth is reported too; the full acceptance figures are
``python -m benchmarks.propose_accuracy``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPEATS = 3


def _timed(work: Any) -> tuple[float, float, Any]:
    """(median wall s, median CPU s, last result) of REPEATS runs."""
    walls, cpus, result = [], [], None
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus)), result


def run() -> dict[str, object]:
    from ceuskit.feed import clip_frames, display_maps
    from ceuskit.io import open_clip
    from ceuskit.io.rois import load_rois
    from ceuskit.pixels import to_grey
    from ceuskit.preprocess.linearize import grey_to_power
    from ceuskit.propose import propose_rois
    from ceuskit.roi import parse_rois
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import PROPOSAL_CASES
    from ceuskit.simulate.score_proposals import dice, true_mask
    from ceuskit.tic import extract_tics

    ph = replace(PROPOSAL_CASES["proposal-02-hyper-late-hypo"], duration_s=180.0)
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate_clip(Path(tmp), ph, name="three-minutes")
        truth = json.loads(sim.truth.read_text())
        frame = truth["reference_frame"]
        lesion = true_mask(truth, "lesion", frame)
        rows, cols = np.nonzero(lesion)
        click = (float(cols.mean()), float(rows.mean()))
        with open_clip(sim.dicom) as clip:
            drawn = load_rois(sim.roi)
            displays = display_maps(clip)  # fitted once, as the analysis does

            def propose() -> Any:
                return propose_rois(clip, click, frame=frame, dynamic_range_db=ph.dynamic_range_db,
                                    injection_time_s=ph.lead_in_s)

            def tics() -> Any:
                return extract_tics(clip_frames(clip, displays), drawn, dynamic_range_db=ph.dynamic_range_db)

            def decode() -> None:
                for pixels in clip.frames.iterate(0, clip.n_frames):
                    grey_to_power(to_grey(pixels, max_value=clip.max_value), ph.dynamic_range_db)

            propose()  # warm-up: compiled kernels, display map
            wall, cpu, proposal = _timed(propose)
            tic_wall, tic_cpu, _ = _timed(tics)
            decode_wall, decode_cpu, _ = _timed(decode)
            masks = parse_rois(proposal.document).masks(clip.rows, clip.columns)
            n_frames = clip.n_frames
    liver = masks["liver"]
    return {
        "frames": n_frames, "clip_s": 180.0,
        "proposal_seconds": round(wall, 2), "proposal_cpu_seconds": round(cpu, 2), "target_seconds": 2.0,
        "tic_extraction_seconds": round(tic_wall, 2), "tic_extraction_cpu_seconds": round(tic_cpu, 2),
        "proposal_vs_tic_extraction_x": round(cpu / tic_cpu, 2),
        "decode_linearise_seconds": round(decode_wall, 2),
        "proposal_vs_decode_x": round(cpu / max(decode_cpu, 1e-9), 1),
        "dice": round(dice(masks["lesion"], lesion), 3), "confidence": proposal.confidence,
        "liver_in_parenchyma": round(float((liver & true_mask(truth, "parenchyma", frame)).sum() / liver.sum()), 3),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
