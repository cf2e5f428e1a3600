"""``ceuskit map``: per-pixel parametric maps of a clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ceuskit.cli.clips import _seconds_or_auto
from ceuskit.cli.command import app
from ceuskit.cli.progress import progress_bar


@app.command("map")
def map_command(clip: Annotated[Path, typer.Argument(help="The CEUS clip.")],
                roi: Annotated[Path, typer.Option("--roi", help="ROI file (anchors motion tracking and overlays).")],
                out: Annotated[Path, typer.Option("--out", help="Folder for maps.npz, NIfTI maps and PNG overlays.")],
                block: Annotated[int, typer.Option("--block", help="Average K×K pixel blocks (1 = every pixel).")] = 1,
                injection_time: Annotated[str, typer.Option(
                    "--injection-time", help="Injection, s after the first frame, negative when before it; or "
                    "'auto': the DICOM Contrast/Bolus Start Time. Map times count from it, as analyze's do.")] = "0",
                dynamic_range: Annotated[float, typer.Option("--dynamic-range", help="Display dynamic range (dB).")] = 60.0,
                time_bin: Annotated[float, typer.Option("--time-bin", help="Average frames into bins of S seconds (0: off).")] = 1.0,
                no_motion: Annotated[bool, typer.Option("--no-motion", help="Switch motion compensation off.")] = False,
                fps: Annotated[float | None, typer.Option("--fps", help="Frame rate when the file has no timing.")] = None
                ) -> None:
    """Per-pixel maps: arrival time, time to peak, peak enhancement, mean transit time, wash-in rate and area, R²."""
    from ceuskit.feed import clip_frames
    from ceuskit.io import open_clip
    from ceuskit.io.examination import injection_from_header
    from ceuskit.io.rois import load_rois
    from ceuskit.maps import parametric_maps
    from ceuskit.report.maps import write_maps

    given = _seconds_or_auto(injection_time, "injection time")
    with open_clip(clip, fps=fps) as opened:
        rois = load_rois(roi, pixel_spacing_mm=opened.pixel_spacing_mm)
        injection_s = injection_from_header([opened])[0] if given == "auto" else float(given)
        with progress_bar("mapping") as progress:
            maps = parametric_maps(clip_frames(opened), rois, block_px=block, dynamic_range_db=dynamic_range,
                                   injection_time_s=injection_s, motion=not no_motion, time_bin_s=time_bin,
                                   progress=progress)
        path = write_maps(maps, opened, rois, out)
    typer.echo(f"wrote {path}, maps.json, {len(maps)} NIfTI maps and PNG overlays in {out}; times in s after the "
               f"injection at {injection_s:g} s")
    typer.echo("pixels without a value (seen too briefly, fit failed, or not supported by their data): "
               + ", ".join(f"{name} {100 * share:.1f} %" for name, share in maps.no_value_share.items()))
