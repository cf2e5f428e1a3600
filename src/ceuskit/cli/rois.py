"""``ceuskit rois propose|carry``: a lesion outline and liver reference from one click; ROIs found on sweeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ceuskit.cli.clips import FpsOption, LayoutOption
from ceuskit.cli.command import app

rois_app = typer.Typer(help="ROI proposals: a lesion outline and its liver reference from one click, and ROIs of a "
                            "loop found again on its late-phase sweeps. Proposed ROIs are marked \"source\": "
                            "\"proposed\" with a \"confidence\"; edit them like any ROI.", no_args_is_help=True)
app.add_typer(rois_app, name="rois")


def _write(path: Path, document: dict[str, Any]) -> None:
    from ceuskit._atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def _summary(document: dict[str, Any]) -> str:
    return ", ".join(f"{roi['name']} ({roi['role']}, confidence {roi.get('confidence', 0):.2f})"
                     for roi in document["rois"])


@rois_app.command("propose")
def propose(clip: Annotated[Path, typer.Argument(help="The CEUS clip.")],
            click: Annotated[str, typer.Option("--click", help="X,Y: a point inside the lesion, pixels of the stored "
                                               "frame (X,Y@FRAME also gives the frame).")],
            out: Annotated[Path, typer.Option("--out", help="The ROI file to write (JSON).")],
            frame: Annotated[int | None, typer.Option("--frame", help="The frame the click was made on (default: "
                                                      "where the lesion shows best).")] = None,
            dynamic_range: Annotated[float, typer.Option("--dynamic-range", help="Display dynamic range (dB).")] = 60.0,
            injection_time: Annotated[float, typer.Option("--injection-time", help="Injection, s after the first "
                                                          "frame.")] = 0.0,
            no_motion: Annotated[bool, typer.Option("--no-motion", help="Do not follow the tissue.")] = False,
            keep_overlays: Annotated[bool, typer.Option("--keep-overlays", help="Do not look for burned-in "
                                                        "overlays.")] = False,
            as_json: Annotated[bool, typer.Option("--json", help="Print the ROI document to stdout.")] = False,
            fps: FpsOption = None, layout: LayoutOption = "auto") -> None:
    """Propose a lesion's outline and its liver reference from one click inside the lesion."""
    from ceuskit.errors import InputError
    from ceuskit.io import open_clip
    from ceuskit.propose import parse_click, propose_rois

    x, y, at = parse_click(click)
    if at is not None and frame is not None and at != frame:
        raise InputError(f"the click names frame {at} but --frame is {frame}; give one")
    with open_clip(clip, fps=fps, layout=layout) as opened:
        proposal = propose_rois(opened, (x, y), frame=frame if frame is not None else at,
                                dynamic_range_db=dynamic_range, injection_time_s=injection_time,
                                overlays=not keep_overlays, motion=not no_motion)
    _write(out, proposal.document)
    if as_json:
        typer.echo(json.dumps(proposal.document, indent=1))
    else:
        typer.echo(f"wrote {out}: {_summary(proposal.document)} on frame {proposal.frame}")
        for note in proposal.notes:
            typer.echo(f"note: {note}")


@rois_app.command("carry")
def carry(loop: Annotated[Path, typer.Argument(help="The examination's loop.")],
          sweeps: Annotated[list[Path], typer.Argument(help="Its late-phase sweeps.")],
          roi: Annotated[Path, typer.Option("--roi", help="The loop's ROI file (drawn or proposed).")],
          out: Annotated[Path, typer.Option("--out", help="Folder for one SWEEP.roi.json per sweep.")],
          dynamic_range: Annotated[float, typer.Option("--dynamic-range", help="Display dynamic range (dB).")] = 60.0,
          keep_overlays: Annotated[bool, typer.Option("--keep-overlays", help="Do not look for burned-in "
                                                      "overlays.")] = False,
          fps: FpsOption = None, layout: LayoutOption = "auto") -> None:
    """Find the loop's ROIs again on each sweep, where the moved probe shows the lesion."""
    from ceuskit.io import open_clip
    from ceuskit.io.rois import load_rois
    from ceuskit.propose import carry_rois, loop_template

    with open_clip(loop, fps=fps, layout=layout) as opened:
        rois = load_rois(roi, pixel_spacing_mm=opened.pixel_spacing_mm)
        template = loop_template(opened, rois, dynamic_range_db=dynamic_range, overlays=not keep_overlays)
    carried = []
    for sweep in sweeps:
        with open_clip(sweep, fps=fps, layout=layout) as opened:
            carried.append((sweep, carry_rois(template, opened, dynamic_range_db=dynamic_range,
                                              overlays=not keep_overlays)))
    for sweep, result in carried:  # all found before any is written
        target = out / f"{sweep.stem}.roi.json"
        _write(target, result.document)
        typer.echo(f"wrote {target}: moved by {result.offset_px[0]:+.1f},{result.offset_px[1]:+.1f} px, frame "
                   f"{result.frame}, confidence {result.confidence:.2f}")
