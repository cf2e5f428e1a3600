"""Single-clip commands: info, analyze, simulate, demo."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ceuskit.cli.command import app
from ceuskit.cli.progress import progress_bar
from ceuskit.errors import InputError
from ceuskit.report.words import label_words, washout_words

FpsOption = Annotated[float | None, typer.Option("--fps", help="Frame rate (frames/s) when the file has no timing.")]
LayoutOption = Annotated[str, typer.Option("--layout", help="auto, single, dual-left-ceus or dual-right-ceus.")]


@app.command()
def info(clip: Annotated[Path, typer.Argument(help="DICOM, video, frame folder or .npy/.npz clip.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
         fps: FpsOption = None, layout: LayoutOption = "auto") -> None:
    """Show a clip's frames, true frame times, pixel spacing and display layout."""
    from ceuskit.feed import clip_summary

    summary = clip_summary(clip, fps=fps, layout=layout)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    spacing = summary["pixel_spacing_mm"]
    timing = ("timing unknown (give --fps)" if summary["frame_times_s"] is None else
              f"{summary['duration_s']:.2f} s at {summary['frame_rate_hz']:.2f} frames/s (mean)")
    typer.echo(f"{clip}: {summary['n_frames']} frames, {summary['columns']}×{summary['rows']} px, {timing}, layout "
               f"{summary['layout']}, spacing " + ("unknown" if spacing is None else f"{spacing[0]:.3f}×{spacing[1]:.3f} mm"))
    for region in summary["regions"]:
        typer.echo(f"  region {region['role'] or region['kind']}: box {region['box']}")
    display = summary["display"]
    typer.echo(f"  display: {display['kind']}" + ("" if display["kind"] == "grey" else f" map (from {display['source']})")
               + (f"; {display['note']}" if display["note"] else ""))


def _summary_lines(document: Mapping[str, Any]) -> list[str]:
    lines = []
    curves = document.get("curves")
    if curves:
        roles = ", ".join(f"{name} = {role}" for name, role in curves["roles"].items())
        how = {"order": "by their order (the first is the lesion; --column says otherwise)",
               "names": "by their names", "columns": "as given"}[curves["roles_from"]]
        lines.append(f"curves: {curves['format']} in {curves['units']}; roles {roles}, {how}")
    clips = document["clips"]
    for k, clip in enumerate([] if curves else clips):  # curves come without images to track
        motion = clip["motion"]
        where = f"clip {k + 1} at {clip['offset_s']:.1f} s, " if len(clips) > 1 else ""
        lines.append(f"{where}motion: {'applied' if motion['applied'] else 'not applied'}, {motion['rejected_frames']} "
                     f"frame(s) rejected, max shift {motion['max_shift_px']} px")
    for lesion in document["lesions"]:
        art, pv, late = lesion["arterial_phase"], lesion["portal_venous_phase"], lesion["late_phase"]
        onset = "n/a" if art["onset_s"] is None else f"{art['onset_s']:.1f} s"
        rel = "n/a" if art["relative_peak_db"] is None else f"{art['relative_peak_db']:+.1f} dB"
        washout = f"wash-out: {washout_words(pv)}"
        if pv["washout"] and pv["washout_onset_s"] is not None:
            washout += f", from {pv['washout_onset_s']:.1f} s"
        elif pv["washout"] and pv.get("washout_onset_interval_s"):
            low, high = pv["washout_onset_interval_s"]
            washout += f", begun between {low:.1f} and {high:.1f} s (between clips)"
        late_db = "" if late["relative_db"] is None else f" ({late['relative_db']:+.1f} dB)"
        lines.append(f"{lesion['roi']} vs {lesion['reference']}: arterial: {label_words(art['enhancement'])} ({rel}), "
                     f"onset {onset}; {washout}; late: {label_words(late['enhancement'])}{late_db}")
        if lesion["lirads"]["category"]:
            lines.append(f"  CEUS LI-RADS (decision support): {lesion['lirads']['category']}")
    for roi, cycles in (document.get("replenishment") or {}).items():
        for cycle in cycles:
            lines.append(f"replenishment {roi} after {cycle['destruction_s']:.1f} s: " + (
                f"A {cycle['blood_volume']:.4g}, β {cycle['beta_per_s']:.3g} /s, flow A·β {cycle['flow']:.4g} /s, "
                f"90 % refill {cycle['refill_90_s']:.1f} s, R² {cycle['r2']:.2f}" if cycle["success"]
                else f"no fit ({cycle['message']})"))
    for flag in document.get("quality", []):
        where = f" ({flag['roi']})" if flag["roi"] else ""
        lines.append(f"quality {flag['severity']}: {flag['code']}{where}: {flag['message']}")
    return lines


def _seconds_or_auto(text: str, what: str) -> float | str:
    """Parse a command-line time: a number of seconds (negative allowed) or "auto" (from the DICOM header)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is neither a number of seconds nor 'auto'") from None


@app.command()
def analyze(clips: Annotated[list[Path], typer.Argument(help="The CEUS clip, or an examination's clips (a loop and "
                                                          "late-phase sweeps, in any order); or a table of curves "
                                                          "(CSV/TSV/XLSX, QLAB, Blood-Flow-Analyzer, QuantUS) or a "
                                                          "folder of one curve file per ROI.")],
            roi: Annotated[list[Path] | None, typer.Option("--roi", help="ROI file (JSON, or PNG/NIfTI label mask); "
                                                           "one per clip, in the clips' order.")] = None,
            out: Annotated[Path | None, typer.Option("--out", help="Write analysis.json, tic.csv, tic.png here.")] = None,
            injection_time: Annotated[str, typer.Option(
                "--injection-time", help="Injection, s after the (earliest) clip's first frame, negative when before "
                "it; or 'auto': the DICOM Contrast/Bolus Start Time.")] = "0",
            clip_offset: Annotated[list[str] | None, typer.Option(
                "--clip-offset", help="Per clip, in the clips' order: its start in s after the earliest clip's first "
                "frame, or 'auto' (its DICOM acquisition time).")] = None,
            dynamic_range: Annotated[float, typer.Option("--dynamic-range", help="Display dynamic range (dB).")] = 60.0,
            model: Annotated[str, typer.Option("--model", help="auto, lognormal, gamma, ldrw or fpt.")] = "auto",
            kinetics: Annotated[str, typer.Option(
                "--kinetics", help="bolus, replenishment or auto: replenishment fits of the refill after each "
                "high-MI destruction (auto: where the curves refill).")] = "auto",
            no_motion: Annotated[bool, typer.Option("--no-motion", help="Switch motion compensation off.")] = False,
            keep_overlays: Annotated[bool, typer.Option("--keep-overlays", help="Do not look for burned-in overlays "
                                                        "(timer, markers) to leave out of the ROIs.")] = False,
            size_mm: Annotated[float | None, typer.Option("--size-mm", help="Lesion size, for CEUS LI-RADS.")] = None,
            at_risk: Annotated[bool | None, typer.Option("--at-risk/--not-at-risk", help="HCC risk, for CEUS LI-RADS.")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print analysis.json to stdout.")] = False,
            fps: FpsOption = None, layout: LayoutOption = "auto",
            units: Annotated[str | None, typer.Option("--units", help="Curve tables: grey (display 0–255, with "
                                                      "--dynamic-range), power (linear) or db.")] = None,
            time_column: Annotated[str | None, typer.Option("--time-column", help="Curve tables: the time "
                                                            "column (default: recognised by name).")] = None,
            column: Annotated[list[str] | None, typer.Option("--column", help="Curve tables: ROLE=NAME, a curve and "
                                                             "its role (lesion or parenchyma); repeat.")] = None) -> None:
    """Analyse one clip, or the clips of one examination on one time axis, or a table of curves.

    Writes TICs, bolus fits, parameters and each lesion's phase characterisation.
    """
    from ceuskit.io.curves import is_curve_file
    from ceuskit.pipeline import AnalysisOptions, analyze_examination
    from ceuskit.report import write_analysis

    roi = roi or []
    options = AnalysisOptions(injection_time_s=_seconds_or_auto(injection_time, "injection time"),
                              dynamic_range_db=dynamic_range, model=model, motion=not no_motion,
                              overlays=not keep_overlays, kinetics=kinetics, fps=fps, layout=layout, size_mm=size_mm,
                              at_risk=at_risk)
    curve_options = units is not None or time_column is not None or bool(column)
    if len(clips) == 1 and not roi and is_curve_file(clips[0]):
        from ceuskit.curve_analysis import analyze_curves

        pairs = [_role_and_name(text) for text in column or []]
        result = analyze_curves(clips[0], options, units=units, time_column=time_column, columns=pairs or None)
        _finish(result, out, as_json, write_analysis)
        return
    if curve_options:
        raise InputError("--units, --time-column and --column are for tables of curves (one .csv/.tsv/.txt/.xlsx "
                         "file or a folder of them), not for clips")
    if not roi:
        raise InputError("give the clip's ROIs with --roi ROI.json (a curve table needs none: .csv, .tsv, .txt, "
                         ".xlsx or a folder of them)")
    if len(roi) != len(clips):
        raise InputError(f"give one --roi per clip, in the same order ({len(clips)} clip(s), {len(roi)} --roi)")
    offsets = None
    if clip_offset:
        if len(clip_offset) != len(clips):
            raise InputError(f"give one --clip-offset per clip ({len(clips)} clip(s), {len(clip_offset)} offset(s)); "
                             "'auto' places a clip by its acquisition time")
        offsets = [None if v == "auto" else float(v) for v in
                   (_seconds_or_auto(text, "clip offset") for text in clip_offset)]
    with progress_bar("analysing frames") as progress:
        result = analyze_examination(clips, roi, options, clip_offsets_s=offsets, progress=progress)
    _finish(result, out, as_json, write_analysis)


def _role_and_name(text: str) -> tuple[str, str]:
    """``--column ROLE=NAME`` as (role, name)."""
    role, sep, name = text.partition("=")
    if not sep or not name.strip() or role.strip() not in ("lesion", "parenchyma"):
        raise InputError(f"--column {text!r}: give ROLE=NAME, ROLE lesion or parenchyma (e.g. --column "
                         "lesion='ROI 1' --column parenchyma='ROI 2')")
    return role.strip(), name.strip()


def _finish(result: Any, out: Path | None, as_json: bool, write_analysis: Any) -> None:
    """Write the outputs and print the reading (or its JSON)."""
    if out is not None:
        write_analysis(result, out)
    if as_json:
        typer.echo(result.to_json())
        return
    for line in _summary_lines(result.document):
        typer.echo(line)
    if out is not None:
        typer.echo(f"wrote {out / 'analysis.json'}")


def _earlier_outputs(out_dir: Path, *, cohort: bool, examination: bool, name: str,
                     curves: bool = False) -> list[Path]:
    """Return the files of an earlier simulation that this one would overwrite.

    Their names are the outputs' interface: ``NAME.dcm`` with ``NAME.roi.json`` and ``NAME.truth.json``; an
    examination's ``NAME_loop``, ``NAME_sweepK`` and ``NAME.truth.json``; a cohort's ``manifest.csv``,
    ``reads.csv``, ``truth.json`` and ``clips/``; a curve case's tables, ``truth.json`` and its ``tics/`` and
    ``quantus/`` files.
    """
    if curves:
        found = [out_dir / f for f in ("curves.csv", "curves.xlsx", "qlab_export.txt", "truth.json")]
        found += sorted((out_dir / "tics").glob("*.csv")) + sorted((out_dir / "quantus").glob("*.csv"))
    elif cohort:
        found = [out_dir / f for f in ("manifest.csv", "reads.csv", "truth.json")]
        found += sorted((out_dir / "clips").glob("P*_L1.*"))
    elif examination:
        found = [out_dir / f"{name}.truth.json", *sorted(out_dir.glob(f"{name}_loop.*")),
                 *sorted(out_dir.glob(f"{name}_sweep*.*"))]
    else:
        found = [out_dir / f"{name}{suffix}" for suffix in (".dcm", ".roi.json", ".truth.json")]
    return [p for p in found if p.is_file()]


def _refuse_to_overwrite(out_dir: Path, earlier: list[Path], *, named: bool = True) -> None:
    if earlier:
        shown = ", ".join(p.name for p in earlier[:3]) + (f" and {len(earlier) - 3} more" if len(earlier) > 3 else "")
        raise InputError(f"{out_dir} already holds an earlier simulation ({shown}); give --force to overwrite it, or "
                         "another folder" + (" or --name" if named else ""))


@app.command()
def simulate(out_dir: Annotated[Path | None, typer.Argument(help="Folder for the phantom's files.")] = None,
             pattern: Annotated[str, typer.Option("--pattern", help="Enhancement pattern (see --list-patterns).")] = "hyper-early-hypo",
             seed: Annotated[int, typer.Option("--seed")] = 0,
             dual: Annotated[bool, typer.Option("--dual", help="B-mode | CEUS side by side.")] = False,
             duration: Annotated[float, typer.Option("--duration", help="Clip length (s).")] = 150.0,
             fps: Annotated[float, typer.Option("--fps", help="Mean frame rate.")] = 4.0,
             jitter: Annotated[float, typer.Option("--jitter", help="Relative frame-interval jitter, 0 to < 1.")] = 0.0,
             lead_in: Annotated[float, typer.Option("--lead-in", help="Seconds recorded before the injection "
                                                    "(negative: the recording starts that long after it).")] = 0.0,
             breathing: Annotated[float, typer.Option("--breathing", help="Breathing amplitude (px, vertical).")] = 0.0,
             out_of_plane: Annotated[float, typer.Option("--out-of-plane", help="Fraction of out-of-plane frames.")] = 0.0,
             cohort: Annotated[int, typer.Option("--cohort", help="Simulate a seed-like cohort of N patients instead.")] = 0,
             list_patterns: Annotated[bool, typer.Option("--list-patterns", help="List the patterns and exit.")] = False,
             case: Annotated[str | None, typer.Option("--case", help="A real-world case (see --list-cases): "
                                                      "its phantom replaces the settings above.")] = None,
             list_cases: Annotated[bool, typer.Option("--list-cases", help="List the real-world cases and exit.")] = False,
             curves: Annotated[str | None, typer.Option("--curves", help="Write a simulated curve case (see "
                                                        "--list-cases) as curve tables in every layout instead.")] = None,
             name: Annotated[str, typer.Option("--name", help="File name stem.")] = "phantom",
             examination: Annotated[bool, typer.Option("--examination", help="Write a whole examination instead: "
                                                       "a continuous loop (--loop s) and late-phase sweeps "
                                                       "(--sweeps), one DICOM file and ROI file per clip.")] = False,
             loop: Annotated[float, typer.Option("--loop", help="With --examination: loop length (s).")] = 70.0,
             sweeps: Annotated[str, typer.Option("--sweeps", help="With --examination: sweep starts, s after the "
                                                 "injection, comma-separated.")] = "120,180,240",
             sweep_duration: Annotated[float, typer.Option("--sweep-duration", help="With --examination: sweep "
                                                           "length (s).")] = 8.0,
             force: Annotated[bool, typer.Option("--force", help="Overwrite the files of an earlier simulation in "
                                                 "OUT_DIR (refused otherwise).")] = False) -> None:
    """Write phantom clips (DICOM US multi-frame) with an ROI file and ground truth."""
    from ceuskit.simulate import PATTERNS, Phantom, simulate_clip, simulate_cohort
    from ceuskit.simulate.cases import (
        KINETIC_CASES,
        PROPOSAL_CASES,
        REAL_WORLD,
        SLOW_RISES,
        describe_kinetics,
        real_world_case,
    )
    from ceuskit.simulate.curve_cases import CURVE_CASES, curve_case
    from ceuskit.simulate.examination import simulate_examination

    if list_cases:
        for key, ph in {**REAL_WORLD, **SLOW_RISES, **PROPOSAL_CASES}.items():
            typer.echo(f"{key:32s} {ph.pattern}, breathing {max(ph.breathing_amplitude_px):g} px"
                       + (", dual" if ph.dual else "") + (f", {ph.colour_map} map" if ph.colour_map else "")
                       + (f", overlays {'+'.join(ph.overlays)}" if ph.overlays else "")
                       + (f", starts {-ph.lead_in_s:g} s after injection" if ph.lead_in_s < 0 else "")
                       + (f", gain +{ph.gain_db:g} dB" if ph.gain_db else "")
                       + (f", arterial bolus {ph.arterial_time_scale:g}× slower" if ph.arterial_time_scale != 1 else ""))
        for key, ph in KINETIC_CASES.items():
            typer.echo(f"{key:32s} {describe_kinetics(ph)}")
        for key in CURVE_CASES:
            typer.echo(f"{key:32s} curves without a clip (--curves {key})")
        return
    if list_patterns:
        for key, spec in PATTERNS.items():
            typer.echo(f"{key:20s} arterial {spec.arterial}, wash-out {spec.washout} ({spec.degree}), late {spec.late}")
        return
    if out_dir is None:
        raise InputError("give the folder to write the phantom to: ceuskit simulate OUT_DIR …")
    if not force:
        _refuse_to_overwrite(out_dir, _earlier_outputs(out_dir, cohort=cohort > 0, examination=examination,
                                                       curves=curves is not None,
                                                       name=("exam" if name == "phantom" else name) if examination
                                                       else name), named=curves is None)
    if curves is not None:
        from ceuskit.simulate.exports import write_curve_case

        for path in write_curve_case(out_dir, curve_case(curves, seed=seed)):
            typer.echo(f"wrote {path}")
        return
    if cohort:
        with progress_bar("simulating patients") as progress:
            manifest = simulate_cohort(out_dir, n_patients=cohort, seed=seed, progress=progress)
        typer.echo(f"wrote {manifest}")
        return
    if case is not None:
        phantom = real_world_case(case)
    else:
        phantom = Phantom(pattern=pattern, seed=seed, dual=dual, duration_s=duration, fps=fps, jitter=jitter,
                          lead_in_s=lead_in, breathing_amplitude_px=(breathing / 3, breathing),
                          out_of_plane_fraction=out_of_plane)
    if examination:
        try:
            starts = [float(value) for value in sweeps.split(",") if value.strip()]
        except ValueError:
            raise InputError(f"--sweeps {sweeps!r} is not a comma-separated list of seconds") from None
        with progress_bar("rendering frames") as progress:
            exam = simulate_examination(out_dir, phantom, loop_s=loop, sweeps_s=starts, sweep_duration_s=sweep_duration,
                                        name="exam" if name == "phantom" else name, progress=progress)
        typer.echo(f"wrote {len(exam.dicoms)} clips of one examination ({', '.join(p.name for p in exam.dicoms)}), "
                   f"their ROI files and {exam.truth.name}; analyse it with:")
        typer.echo(exam.command())
        return
    with progress_bar("rendering frames") as progress:
        written = simulate_clip(out_dir, phantom, name=name, progress=progress)
    typer.echo(f"wrote {written.dicom} ({written.roi.name}, {written.truth.name}); injection at "
               f"{phantom.lead_in_s:g} s (analyse with --injection-time {phantom.lead_in_s:g} "
               f"--dynamic-range {phantom.dynamic_range_db:g})")


@app.command()
def demo(out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")] = Path("ceuskit-demo"),
         clips: Annotated[int, typer.Option("--clips", help="How many single phantom clips to show first.")] = 6,
         patients: Annotated[int, typer.Option("--patients", help="Patients in the simulated cohort.")] = 18,
         workers: Annotated[int | None, typer.Option("--workers", help="Dask workers for the cohort.")] = None) -> None:
    """Run the demo: phantom clips, an examination, a refill clip and a cohort study, read against their truth.

    Phantom clips read against their truth, one examination read with and without its late-phase sweeps, one
    destruction–replenishment clip, then a seed-like cohort study with its report.

    Everything runs on embedded defaults (simulated data, SQLite in the output folder); the last line printed
    is the path of the cohort report.
    """
    from ceuskit.demo import run_clip_demo, run_demo, run_examination_demo, run_replenishment_demo

    if clips > 0:
        typer.echo("== single clips: phantom truth vs ceuskit")
        run_clip_demo(out / "clips", n_clips=clips, echo=typer.echo)
    typer.echo("== one examination: the loop alone, then with its late-phase sweeps (arterial/wash-out/late)")
    run_examination_demo(out / "examination", echo=typer.echo)
    typer.echo("== destruction–replenishment: refills after two high-MI destructions, truth vs ceuskit")
    run_replenishment_demo(out / "replenishment", echo=typer.echo)
    typer.echo(f"== cohort: {patients} simulated patients, seed study vs ceuskit")
    report = run_demo(out / "cohort", n_patients=patients, workers=workers, echo=typer.echo)
    typer.echo(str(report.resolve()))
