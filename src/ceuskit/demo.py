"""``ceuskit demo``: phantom clips read by ceuskit and compared with their ground truth.

Phantom clips → analyses → a table of truth vs ceuskit, on embedded defaults; then one
whole examination read from its loop alone and with its late-phase sweeps; then one destruction–replenishment
clip whose refills are fitted against their known A and β; then the seed-like demo cohort (:func:`run_demo`):
simulated, imported, analysed and compared with the seed study.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from ceuskit.pipeline import analyze, analyze_examination
from ceuskit.report.cohort import seed_comparison, write_report
from ceuskit.report.tic_plot import write_analysis
from ceuskit.report.words import label_words
from ceuskit.simulate import Phantom, simulate_clip, simulate_cohort
from ceuskit.simulate.cases import REPLENISHMENT
from ceuskit.simulate.examination import simulate_examination
from ceuskit.store import Store
from ceuskit.study.manifest import import_manifest, import_reads
from ceuskit.study.runner import run_study
from ceuskit.study.statistics import cohort_stats
from ceuskit.study.tables import cohort_frame

__all__ = ["DEMO_EXAMINATION", "DEMO_PHANTOMS", "DEMO_REPLENISHMENT", "run_clip_demo", "run_examination_demo",
           "run_demo",
           "run_replenishment_demo"]

DEMO_PHANTOMS = (
    Phantom(pattern="hyper-early-hypo", seed=1, breathing_amplitude_px=(2, 6), jitter=0.2, lead_in_s=3.0),
    Phantom(pattern="hyper-late-hypo", seed=2, dual=True, breathing_amplitude_px=(2, 6), out_of_plane_fraction=0.01),
    Phantom(pattern="hyper-none-iso", seed=3, jitter=0.2),
    Phantom(pattern="iso-none-iso", seed=4, lead_in_s=5.0),
    Phantom(pattern="hypo-none-hypo", seed=5, breathing_amplitude_px=(1, 4)),
    Phantom(pattern="hyper-early-marked", seed=6, dual=True, ceus_side="right"),
    Phantom(pattern="hyper-none-hyper", seed=7),
    Phantom(pattern="iso-late-hypo", seed=8, jitter=0.2),
)


def _labels(arterial: str | None, washout_timing: str | None, late: str | None) -> str:
    """``arterial/wash-out timing/late`` in words ("hyper/early/not assessed"; no wash-out is "none")."""
    return "/".join(label_words(code) for code in (arterial, washout_timing, late))


def run_clip_demo(out_dir: str | Path, *, n_clips: int = 6, echo: Callable[[str], None] = print) -> Path:
    """Simulate ``n_clips`` phantoms, analyse each, print a table and write ``summary.csv``; return its path."""
    out = Path(out_dir)
    rows = []
    header = f"{'clip':10s} {'truth (arterial/wash-out/late)':32s} {'ceuskit':32s} {'onset truth':>11s} {'ceuskit':>8s}"
    echo(header)
    echo("-" * len(header))
    for i, phantom in enumerate(DEMO_PHANTOMS[:max(1, n_clips)]):
        name = f"clip{i + 1:02d}"
        sim = simulate_clip(out / "clips", phantom, name=name, patient_id=f"DEMO{i + 1:02d}")
        truth = sim.truth_data
        result = analyze(sim.dicom, sim.roi, injection_time_s=phantom.lead_in_s)
        write_analysis(result, out / "analyses" / name)
        lesion = result.document["lesions"][0]
        art, pv, late = lesion["arterial_phase"], lesion["portal_venous_phase"], lesion["late_phase"]
        t_pat = truth["pattern"]
        truth_text = _labels(t_pat['arterial'], t_pat['washout_timing'], t_pat['late'])
        ours = _labels(art['enhancement'], pv['washout_timing'], late['enhancement'])
        onset = art["onset_s"]
        echo(f"{name:10s} {truth_text:32s} {ours:32s} {truth['onset_s']:11.1f} "
             f"{'n/a' if onset is None else format(onset, '8.1f')}" + ("" if truth_text == ours else "  ← differs"))
        rows.append({"clip": name, "layout": "dual" if phantom.dual else "single", "truth": truth_text,
                     "ceuskit": ours, "onset_truth_s": round(truth["onset_s"], 2),
                     "onset_ceuskit_s": onset, "motion_applied": result.document["motion"]["applied"],
                     "analysis": str(out / "analyses" / name / "analysis.json")})
    summary = out / "summary.csv"
    with open(summary, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    agree = sum(r["truth"] == r["ceuskit"] for r in rows)
    echo(f"{agree}/{len(rows)} clips read as simulated; summary: {summary.resolve()}")
    return summary.resolve()


DEMO_EXAMINATION = Phantom(pattern="hyper-late-hypo", seed=12, lead_in_s=3.0, breathing_amplitude_px=(1, 3))
"""A metastasis whose wash-out begins after the 70 s loop: only the sweeps at 2, 3 and 4 min show it."""


def _reading(document: dict[str, object]) -> tuple[str, str]:
    """``arterial/wash-out timing/late`` and the wash-out onset as text, from an analysis document."""
    lesion = document["lesions"][0]  # type: ignore[index]
    art, pv, late = lesion["arterial_phase"], lesion["portal_venous_phase"], lesion["late_phase"]
    interval = pv.get("washout_onset_interval_s")
    onset = ("—" if not pv["washout"] else f"{pv['washout_onset_s']:.1f} s" if pv["washout_onset_s"] is not None
             else f"{interval[0]:.0f}–{interval[1]:.0f} s (between clips)" if interval else "—")
    return _labels(art['enhancement'], pv['washout_timing'], late['enhancement']), onset


def run_examination_demo(out_dir: str | Path, *, echo: Callable[[str], None] = print) -> Path:
    """Simulate one examination, read it as a loop alone and whole, and print both against the truth.

    One examination (a 70 s loop, sweeps at 2, 3 and 4 min): read the loop alone and then the whole
    examination (clips in shuffled order, injection from the DICOM Contrast/Bolus Start Time), print both
    readings against the truth; return the whole examination's analysis.json.
    """
    out = Path(out_dir)
    exam = simulate_examination(out / "clips", DEMO_EXAMINATION, name="exam", patient_id="DEMOEXAM")
    truth = exam.truth_data
    loop_only = analyze(exam.dicoms[0], exam.rois[0], injection_time_s=DEMO_EXAMINATION.lead_in_s)
    write_analysis(loop_only, out / "loop-only")
    whole = analyze_examination(list(exam.dicoms[::-1]), list(exam.rois[::-1]), injection_time_s="auto")
    write_analysis(whole, out / "examination")
    pattern = truth["pattern"]
    bracket = truth["washout_bracket_s"]
    echo(f"truth: {_labels(pattern['arterial'], pattern['washout_timing'], pattern['late'])}, wash-out from "
         f"{truth['washout_onset_s']:.1f} s" + (f" (between the clips, {bracket[0]:.0f}–{bracket[1]:.0f} s)" if bracket
                                                else ""))
    for label, result in (("loop alone (70 s)", loop_only), (f"loop + {len(exam.dicoms) - 1} sweeps", whole)):
        reading, onset = _reading(result.document)
        echo(f"  {label:20s} {reading:28s} wash-out onset {onset}")
    echo(f"  read it yourself: {exam.command(shuffle=True)}")
    return out / "examination" / "analysis.json"


DEMO_REPLENISHMENT = "replenishment-8hz-2-cycles-10-frame"
"""The replenishment demo's case (:data:`ceuskit.simulate.cases.REPLENISHMENT`): an infusion, two destructions."""


def run_replenishment_demo(out_dir: str | Path, *, echo: Callable[[str], None] = print) -> Path:
    """Simulate one destruction–replenishment clip, read it, and print each refill against the truth.

    The clip is read with replenishment kinetics; each refill's A, β, A·β and 90 % refill time per ROI against the
    truth; return its analysis.json.
    """
    phantom = REPLENISHMENT[DEMO_REPLENISHMENT]
    sim = simulate_clip(Path(out_dir) / "clips", phantom, name="replenishment", patient_id="DEMOREPL")
    result = analyze(sim.dicom, sim.roi, injection_time_s=phantom.lead_in_s, motion=False,
                     dynamic_range_db=phantom.dynamic_range_db, kinetics="replenishment")
    write_analysis(result, Path(out_dir) / "analysis")
    echo(f"{'ROI':8s} {'destruction':>11s} {'A truth':>9s} {'A':>9s} {'β truth':>8s} {'β /s':>7s} {'A·β /s':>9s} "
         f"{'90 % refill':>11s} {'R²':>5s}")
    for roi, cycles in sim.truth_data["refills"].items():
        for true, got in zip(cycles, result.document["replenishment"].get(roi, []), strict=False):
            if not got["success"]:
                echo(f"{roi:8s} {got['destruction_s']:10.1f}s  no fit ({got['message']})")
                continue
            echo(f"{roi:8s} {got['destruction_s']:10.1f}s {true['blood_volume']:9.4f} {got['blood_volume']:9.4f} "
                 f"{true['beta_per_s']:8.2f} {got['beta_per_s']:7.2f} {got['flow']:9.4f} {got['refill_90_s']:10.1f}s "
                 f"{got['r2']:5.2f}")
    for ratio in result.document["lesions"][0].get("replenishment", []):
        echo(f"lesion/liver after {ratio['destruction_s']:.1f} s: blood volume ×{ratio['blood_volume_ratio']}, "
             f"β ×{ratio['beta_ratio']}, flow ×{ratio['flow_ratio']}")
    return Path(out_dir) / "analysis" / "analysis.json"


def run_demo(out_dir: str | Path, *, n_patients: int = 18, seed: int = 0, workers: int | None = None,
             echo: Callable[[str], None] = print) -> Path:
    """Simulate the seed-like cohort, import it, analyse it, compute statistics, write the report.

    Prints (through ``echo``) the seed-vs-ceuskit table and returns the path of ``report.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = simulate_cohort(out / "cohort", n_patients=n_patients, seed=seed)
    db_path = out / "demo.db"
    for stale in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    with Store(f"sqlite:///{db_path}") as store:
        import_manifest(store, manifest)
        reads_path = manifest.with_name("reads.csv")
        if reads_path.is_file():
            import_reads(store, reads_path)
        summary = run_study(store, workers=workers)
        echo(summary.line())
        frame = cohort_frame(store)
        result = cohort_stats(frame)
        for line in seed_comparison(result):
            echo(line)
        report = write_report(store, out / "report", frame=frame, result=result)
    echo(f"report: {report}")
    return report
