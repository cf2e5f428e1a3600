"""A seed-like synthetic cohort: one phantom clip per patient, a manifest, reader labels and the truth."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ceuskit.errors import InputError
from ceuskit.simulate.dicom import simulate_clip, write_json
from ceuskit.simulate.phantom import PATTERNS, Phantom

__all__ = ["SEED_PATTERNS", "SEED_PRIMARIES", "simulate_cohort"]


# cohort
SEED_PRIMARIES = (["ileum"] * 6 + ["stomach"] + ["rectum"] + ["pancreas"] * 7 + ["duodenum"] * 2
                  + ["occult gastrinoma"])
"""Primary sites of the seed study's 18 patients (Massironi et al. 2010)."""

SEED_PATTERNS = (["hyper-early-hypo"] * 8 + ["hyper-early-marked"] * 1 + ["hyper-late-hypo"] * 1
                 + ["hyper-early-iso"] * 3 + ["hyper-none-iso"] * 1 + ["hyper-none-hyper"] * 1
                 + ["iso-late-hypo"] * 1 + ["iso-none-iso"] * 1 + ["hypo-none-hypo"] * 1)
"""18 patterns in the seed's proportions: arterial hyper 15, wash-out 14, late hypo 12 / iso 5 / hyper 1."""


def simulate_cohort(out_dir: str | Path, *, n_patients: int = 18, seed: int = 0, fps: float = 3.0,
                    duration_s: float = 150.0, progress: Callable[[int, int], None] | None = None) -> Path:
    """Return a seed-like cohort.

    One lesion clip per patient, ``manifest.csv``, ``reads.csv`` and ``truth.json``.

    Ki-67 (%) is drawn log-normally (median ≈ 4 %, as in well-differentiated GEP-NETs); the lesion's arterial
    arrival is delayed with Ki-67 (``arterial_arrival_s = 9 + 0.35·Ki-67 + noise``), the relation the seed
    study reports.  Primaries and patterns follow the seed's 18 patients, cycled for larger cohorts.
    """
    if n_patients < 1:
        raise InputError("n_patients must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, truths, reads = [], {}, []
    order = rng.permutation(len(SEED_PATTERNS))
    for i in range(n_patients):
        pid = f"P{i + 1:03d}"
        ki67 = float(np.clip(np.round(np.exp(rng.normal(np.log(4.0), 0.9)), 1), 0.5, 60.0))
        pattern = SEED_PATTERNS[order[i % len(SEED_PATTERNS)]]
        liver = float(rng.uniform(14.0, 18.0))
        arterial = float(np.clip(9.0 + 0.35 * ki67 + rng.normal(0, 1.5), 6.0, liver + 6.0))
        if PATTERNS[pattern].arterial_gain == 0:
            arterial = liver
        else:
            arterial = min(arterial, liver - 1.0)
        ph = Phantom(pattern=pattern, seed=seed * 1000 + i, fps=fps, duration_s=duration_s, jitter=0.2,
                     liver_arrival_s=liver, arterial_arrival_s=arterial,
                     lead_in_s=float(np.round(rng.uniform(0, 6), 1)),
                     breathing_amplitude_px=(2.0, float(rng.uniform(3, 7))))
        clip = simulate_clip(out / "clips", ph, name=f"{pid}_L1", patient_id=pid)
        size_mm = round(2 * ph.lesion_radii_px[0] * ph.spacing_mm, 1)
        rows.append({"patient_id": pid, "lesion_id": "L1", "clip": f"clips/{clip.dicom.name}",
                     "roi": f"clips/{clip.roi.name}", "ki67": ki67, "primary_site": SEED_PRIMARIES[i % 18],
                     "injection_time_s": ph.lead_in_s, "dynamic_range_db": ph.dynamic_range_db, "size_mm": size_mm})
        truths[f"{pid}/L1"] = {**{k: clip.truth_data[k] for k in ("pattern", "onset_s", "washout_onset_s")},
                               "ki67": ki67}
        for reader, flip in (("reader1", 0.05), ("reader2", 0.12)):
            labels = dict(arterial=PATTERNS[pattern].arterial, washout=PATTERNS[pattern].washout,
                          late=PATTERNS[pattern].late)
            if rng.random() < flip:
                labels["late"] = "iso" if labels["late"] != "iso" else "hypo"
            reads.append({"patient_id": pid, "lesion_id": "L1", "reader": reader, **labels})
        if progress is not None:
            progress(i + 1, n_patients)
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "reads.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(reads[0]))
        writer.writeheader()
        writer.writerows(reads)
    write_json(out / "truth.json", truths)
    return out / "manifest.csv"
