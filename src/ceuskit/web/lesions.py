"""Lesions (administrators): detail, ROI edits, analysis and map jobs, map images, job status, analyses.

A lesion's examination may hold several clips (:mod:`~ceuskit.web.examination`); its ROIs are edited per clip,
its analysis reads them all, and its parametric maps are those of its first clip.
"""

from __future__ import annotations

import io
import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from ceuskit._atomic import atomic_path
from ceuskit.errors import CeusError
from ceuskit.store import canonical_sha256, json_safe
from ceuskit.store.audit import record_event
from ceuskit.web.context import Context, context
from ceuskit.web.examination import timeline
from ceuskit.web.security import Admin, client_address

__all__ = ["colour_png", "router"]

router = APIRouter(tags=["lesions"])
Ctx = Annotated[Context, Depends(context)]


def _map_file(ctx: Context, lesion_id: int, rois_sha256: str | None) -> Any:
    return ctx.work / "maps" / f"lesion-{lesion_id}-{(rois_sha256 or 'none')[:16]}.npz"


@router.get("/api/lesions/{lesion_id}")
def lesion(lesion_id: int, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """Return a lesion with its first clip, ROI document, newest analysis and every clip.

    Every clip of its examination (``clips``: ``id``, ``path``, ``position``, ``offset_s``, ``rois``) and where they
    lie (``timeline``).
    """
    from ceuskit import store as st

    found = st.get_lesion(ctx.db, lesion_id)
    curves = (found.get("rois") or {}).get("curves") is not None  # a table of curves: no frames to place
    found["timeline"] = None if curves else timeline(ctx, found["clips"])
    found["clip"] = ctx.public_clip(found.get("clip"))
    found["clips"] = [{**(ctx.public_clip(clip) or {}), "position": clip["position"], "offset_s": clip["offset_s"],
                       "rois": clip["rois"]} for clip in found["clips"]]
    found.pop("extra", None)
    return dict(json_safe(found))


@router.put("/api/lesions/{lesion_id}/rois")
def put_rois(lesion_id: int, document: dict[str, Any], principal: Admin, request: Request,
             ctx: Ctx, clip: Annotated[int, Query(ge=0, le=999, description="Position of the clip in the "
                                                   "lesion's examination (0: the first).")] = 0) -> dict[str, Any]:
    """Replace the ROIs drawn on one of the lesion's clips (DESIGN's ROI JSON), checked against that clip."""
    from ceuskit import store as st
    from ceuskit.roi import check_reference_frame, parse_rois

    found = st.get_lesion(ctx.db, lesion_id)
    target = next((item for item in found["clips"] if item["position"] == clip), None)
    if target is None:
        raise HTTPException(404, f"the lesion has no clip at position {clip}")
    opened = ctx.clips.get(ctx.clip_path(target["path"]))
    rois = parse_rois(document, pixel_spacing_mm=opened.pixel_spacing_mm, source="ROIs")
    rois.masks(opened.rows, opened.columns)  # inside the image, not degenerate
    check_reference_frame(rois, opened.n_frames)
    from ceuskit.propose.marks import mark_edited  # a proposed ROI the reader moved is "edited"

    document = mark_edited(target["rois"], document)
    st.set_lesion_rois(ctx.db, lesion_id, document, roi_name=found.get("roi_name"), position=clip)
    record_event(ctx.db, principal.username, "rois_edit", target=f"lesion:{lesion_id}",
                 detail={"rois_sha256": canonical_sha256(document), "n_rois": len(rois.rois), "clip": clip},
                 address=client_address(request))
    return {"ok": True, "n_rois": len(rois.rois)}


@router.post("/api/lesions/{lesion_id}/analyze", status_code=202)
def analyse(lesion_id: int, principal: Admin, request: Request, ctx: Ctx,
            kinetics: Annotated[str, Query(pattern="^(auto|bolus|replenishment)$")] = "auto") -> dict[str, Any]:
    """Analyse the lesion in the background; poll ``GET /api/jobs/{id}``.

    ``kinetics``: bolus, replenishment or
    auto (:mod:`ceuskit.kinetics`).
    """
    from ceuskit import store as st
    from ceuskit.study import RunOptions, analyse_lesion

    found = st.get_lesion(ctx.db, lesion_id)
    for clip in found["clips"]:
        ctx.clip_path(clip["path"])
    address = client_address(request)

    def work(progress: Any) -> dict[str, Any]:
        record = analyse_lesion(ctx.db, lesion_id, options=RunOptions(kinetics=kinetics), progress=progress)
        record_event(ctx.db, principal.username, "analysis", target=f"lesion:{lesion_id}",
                     detail={"analysis": record["id"], "status": record["status"]}, address=address)
        if record["status"] != "ok":
            raise CeusError(record["error"] or "the analysis failed")
        return {"analysis_id": record["id"]}

    return ctx.jobs.submit("analysis", work).view()


@router.post("/api/lesions/{lesion_id}/map", status_code=202)
def make_map(lesion_id: int, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Compute the lesion's parametric maps in the background (cached per ROI set)."""
    from ceuskit import store as st
    from ceuskit.feed import clip_frames
    from ceuskit.maps import parametric_maps
    from ceuskit.roi import parse_rois

    found = st.get_lesion(ctx.db, lesion_id)
    if (found.get("rois") or {}).get("curves") is not None:
        raise HTTPException(409, "a table of curves has no images to map")
    path = ctx.clip_path(found["clip"]["path"])
    target = _map_file(ctx, lesion_id, found["rois_sha256"])
    record_event(ctx.db, principal.username, "map", target=f"lesion:{lesion_id}", address=client_address(request))

    def run(progress: Any) -> dict[str, Any]:
        if not target.exists():
            from ceuskit.io import open_clip

            with open_clip(path) as opened:
                rois = parse_rois(found["rois"], pixel_spacing_mm=opened.pixel_spacing_mm)  # the cached ROIs
                maps = parametric_maps(clip_frames(opened), rois, block_px=ctx.settings.map_block_px,
                                       injection_time_s=found["injection_time_s"],
                                       dynamic_range_db=found["dynamic_range_db"], progress=progress)
            with atomic_path(target) as staged, open(staged, "wb") as fh:
                np.savez_compressed(fh, **maps)  # type: ignore[arg-type]
        return {"maps": sorted(np.load(target).files)}

    return ctx.jobs.submit("map", run).view()


@router.get("/api/lesions/{lesion_id}/map/{name}")
def map_image(lesion_id: int, name: str, _: Admin, ctx: Ctx) -> Response:
    """One parametric map as an RGBA PNG (viridis; transparent where undefined); range and unit in headers."""
    from ceuskit import store as st
    from ceuskit.maps import MAP_NAMES, MAP_UNITS

    if name not in MAP_NAMES:
        raise HTTPException(404, f"no map {name!r}; maps: {', '.join(MAP_NAMES)}")
    found = st.get_lesion(ctx.db, lesion_id)
    target = _map_file(ctx, lesion_id, found["rois_sha256"])
    if not target.exists():
        raise HTTPException(404, "no map yet for these ROIs: POST /api/lesions/{id}/map first")
    with np.load(target) as archive:
        values = archive[name]
    png, low, high = colour_png(values)
    return Response(png, media_type="image/png",
                    headers={"X-Map-Min": f"{low:.6g}", "X-Map-Max": f"{high:.6g}", "X-Map-Unit": MAP_UNITS[name]})


@router.get("/api/jobs/{job_id}")
def job(job_id: str, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """Return a background job's status and progress (jobs are kept while the server runs)."""
    found = ctx.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, "no such job (jobs are kept while the server runs)")
    return found.view()


@router.get("/api/analyses/{analysis_id}")
def analysis(analysis_id: int, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """One stored analysis with its full document (analysis.json)."""
    from ceuskit import store as st

    return dict(json_safe(st.get_analysis(ctx.db, analysis_id)))


def colour_png(values: np.ndarray) -> tuple[bytes, float, float]:
    """Return a map as an RGBA PNG (viridis between its 2nd and 98th percentiles, transparent where NaN)."""
    from matplotlib import colormaps
    from PIL import Image

    finite = values[np.isfinite(values)]
    low, high = (float(np.percentile(finite, 2)), float(np.percentile(finite, 98))) if finite.size else (0.0, 1.0)
    if not math.isfinite(high - low) or high <= low:
        high = low + 1.0
    scaled = np.clip((np.nan_to_num(values, nan=low) - low) / (high - low), 0, 1)
    rgba = (colormaps["viridis"](scaled) * 255).astype(np.uint8)
    rgba[..., 3] = np.where(np.isfinite(values), 255, 0)
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), low, high
