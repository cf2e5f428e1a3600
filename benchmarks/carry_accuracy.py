"""ROIs carried from an examination's loop to its sweeps, against the simulator's truth (issue 24), alone.

``python -m benchmarks.carry_accuracy [--all] [--cache DIR] [--out FILE] [--only SUBSTRING]``

The sweep part of :mod:`benchmarks.propose_accuracy` without its outlines: each examination (its twelve, or with
``--all`` one per proposal case) has sweeps at 120, 180 and 240 s with the probe moved by up to a lesion's
diameter; the loop's ROIs (true, and proposed from the centroid click) are carried to each sweep.  Per sweep:
the distance of the carried lesion's centre from the true one on the chosen frame (``error_px``, issue 24's
figure: within 3 px median, 6 px worst), the carry's own part of it (``offset_error_px``: the found move
against the true one), the ROI's own distance from the true centre on the loop (``loop_error_px``: the
proposed outline's, which the carry moves along), the probe's move and the confidence.  Sweeps on which
nothing shows the lesion (:func:`sweep_shows_lesion`) are summarised apart: their confidence should say so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.propose_accuracy import EXAMINATION_CASES, carry_figures


def sweep_shows_lesion(ph: Any) -> bool:
    """Whether anything on a late sweep tells the lesion from the liver (by the phantom, as the truth has it).

    Not when it is iso late, homogeneous, without a rim, on a CEUS-only screen: nothing there can be matched (a
    vessel beside it fixes only the offset across the vessel).
    """
    late = ph.pattern.split("-")[-1]
    return not (late == "iso" and not ph.dual and not ph.lesion_heterogeneity and not ph.lesion_rim_px)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst of each error, per ROI source; sweeps that show no lesion apart (their confidence)."""
    from ceuskit.simulate.cases import PROPOSAL_CASES

    out: dict[str, Any] = {}
    hidden = [r for r in rows if "error_px" in r and not sweep_shows_lesion(PROPOSAL_CASES[r["case"]])]
    if hidden:
        out["lesion_not_shown_n"] = len(hidden)
        out["lesion_not_shown_confidence_max"] = max(r["confidence"] for r in hidden)
    rows = [r for r in rows if r not in hidden]
    for source in ("true", "proposed"):
        mine = [r for r in rows if r.get("source") == source and "error_px" in r]
        if not mine:
            continue
        for key in ("error_px", "offset_error_px"):
            values = [r[key] for r in mine]
            out[f"{source}_{key}_median"] = round(float(np.median(values)), 2)
            out[f"{source}_{key}_worst"] = round(float(np.max(values)), 2)
        out[f"{source}_n"] = len(mine)
        out[f"{source}_over_6px"] = int(sum(r["error_px"] > 6 for r in mine))
        out[f"{source}_confidence_min"] = min(r["confidence"] for r in mine)
    out["refused"] = [r["case"] for r in rows if "refused" in r]
    return out


def main(argv: list[str] | None = None) -> int:
    from ceuskit.simulate.cases import PROPOSAL_CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="an examination per proposal case, not only twelve")
    parser.add_argument("--cache", type=Path, default=None, help="keep the simulated examinations here")
    parser.add_argument("--out", type=Path, default=Path("carry-accuracy.json"))
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    names = [n for n in (PROPOSAL_CASES if args.all else EXAMINATION_CASES) if args.only in n]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cache or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name in names:
            start = time.perf_counter()
            found = carry_figures(name, PROPOSAL_CASES[name], root)
            rows += found
            for r in found:
                if "error_px" in r:
                    print(f"{name:34s} sweep {r['sweep']} {r['source']:8s} move {r['move_px'][0]:+4.0f},"
                          f"{r['move_px'][1]:+4.0f}  error {r['error_px']:5.2f}  offset {r['offset_error_px']:5.2f}  "
                          f"loop {r['loop_error_px']:5.2f}  confidence {r['confidence']:.2f}", flush=True)
                else:
                    print(f"{name:34s} {r['source']} refused: {r['refused']}", flush=True)
            print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    result = {"summary": summary(rows), "sweeps": rows}
    args.out.write_text(json.dumps(result, indent=1))
    for key, value in result["summary"].items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
