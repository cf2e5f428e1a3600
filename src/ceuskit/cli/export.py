"""``ceuskit export-dicom`` (SR + SEG for PACS) and ``ceuskit roi-export`` (label mask or DICOM SEG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ceuskit.cli.command import app
from ceuskit.errors import InputError


def _analysis(path: Path) -> tuple[Path, dict[str, Any]]:
    document_path = path / "analysis.json" if path.is_dir() else path
    if not document_path.is_file():
        raise InputError(f"{path}: no analysis.json there; run `ceuskit analyze CLIP --roi ROI --out DIR` first")
    try:
        return document_path, json.loads(document_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{document_path}: not a valid analysis.json ({exc.__class__.__name__})") from None


@app.command("export-dicom")
def export_dicom(analysis: Annotated[Path, typer.Argument(help="An analysis folder or its analysis.json.")],
                 clip: Annotated[Path, typer.Option("--clip", help="The DICOM clip that was analysed.")],
                 roi: Annotated[Path, typer.Option("--roi", help="The ROI file the analysis used.")],
                 out: Annotated[Path, typer.Option("--out", help="Folder for sr.dcm and seg.dcm.")],
                 sr: Annotated[bool, typer.Option("--sr/--no-sr", help="Write the structured report.")] = True,
                 seg: Annotated[bool, typer.Option("--seg/--no-seg", help="Write the segmentation.")] = True,
                 push: Annotated[str | None, typer.Option("--push", help="Then store them in this PACS (a DICOMweb "
                                                          "URL or a PACS config entry name): they join the clip's "
                                                          "study.")] = None,
                 config: Annotated[Path | None, typer.Option("--config", help="PACS config file (for --push).")] = None,
                 ca_bundle: Annotated[Path | None, typer.Option("--ca-bundle", help="Site CA bundle (for --push).")
                                      ] = None,
                 ) -> None:
    """Export an analysis as a DICOM SR (TID 1500 measurement report) and its ROIs as DICOM SEG, for PACS."""
    from ceuskit.export.dicom import build_seg, build_sr, read_source, save
    from ceuskit.io.clip import source_sha256
    from ceuskit.io.rois import load_rois

    if not (sr or seg):
        raise InputError("nothing to write: drop --no-sr or --no-seg")
    target = None
    if push is not None:  # checked before anything is read or written
        from ceuskit.pacs.config import resolve_destination

        target = resolve_destination(push, config=config, ca_bundle=ca_bundle)
    elif config is not None or ca_bundle is not None:
        raise InputError("--config and --ca-bundle are for --push")
    document_path, document = _analysis(analysis)
    source = read_source(clip)
    expected = (document.get("clip") or {}).get("sha256")
    if expected and expected != source_sha256(clip):
        raise InputError(f"{clip.name} is not the clip {document_path} was computed from (SHA-256 differs); "
                         "give the analysed clip")
    spacing = (document.get("clip") or {}).get("pixel_spacing_mm")
    rois = load_rois(roi, pixel_spacing_mm=tuple(spacing) if spacing else None)
    datasets = {}  # both built before either is written: a failure leaves neither
    if sr:
        datasets["sr.dcm"] = build_sr(document, source, rois)
    if seg:
        datasets["seg.dcm"] = build_seg(clip, rois)
    written = [save(dataset, out / name) for name, dataset in datasets.items()]
    typer.echo("wrote " + " and ".join(str(p) for p in written))
    if target is not None:
        from ceuskit.pacs import connect
        from ceuskit.pacs import push as run_push

        with connect(target) as pacs:
            result = run_push(pacs, written)
        typer.echo(f"stored {result.stored} object(s) in the PACS at {target.label}, in the clip's study")


@app.command("roi-export")
def roi_export(roi: Annotated[Path, typer.Argument(help="ROI file (JSON, a label mask or a DICOM SEG).")],
               clip: Annotated[Path, typer.Option("--clip", help="The clip the ROIs belong to (size, spacing).")],
               out: Annotated[Path, typer.Option("--out", help="rois.nii.gz (or .nii), rois.png, rois.tif or "
                                                 "rois.dcm (DICOM SEG of a DICOM clip).")],
               fps: Annotated[float | None, typer.Option("--fps", help="Frame rate when the clip has no timing.")] = None,
               ) -> None:
    """ROIs as a NIfTI/PNG/TIFF label mask (1 lesion, 2 liver, 3… further lesions) or a DICOM SEG.

    Every format keeps the ROIs' names, roles and reference frame, so `analyze` reads the same ROIs back.
    """
    from ceuskit.export.rois import write_roi_file
    from ceuskit.io import open_clip
    from ceuskit.io.rois import load_rois
    from ceuskit.roi import check_reference_frame

    with open_clip(clip, fps=fps) as opened:
        rois = load_rois(roi, pixel_spacing_mm=opened.pixel_spacing_mm)
        check_reference_frame(rois, opened.n_frames)
        path = write_roi_file(out, rois, clip_path=clip, rows=opened.rows, columns=opened.columns,
                              spacing_mm=opened.pixel_spacing_mm)
    typer.echo(f"wrote {path}")
