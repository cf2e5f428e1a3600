"""A lesion's examination (administrators): its clips on one time axis, adding a sweep, taking one out.

A lesion holds the clips of one examination — a continuous loop, then short late-phase sweeps — each with
its own ROI set (``PUT /api/lesions/{id}/rois?clip=K``).  :func:`timeline` places them by their acquisition
times (:func:`ceuskit.io.examination.place_clips`); adding a clip checks first that it belongs to the same
patient and study and does not overlap the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ceuskit import store as st
from ceuskit.errors import CeusError, UntimedClipError
from ceuskit.io.examination import place_clips
from ceuskit.store.audit import record_event
from ceuskit.study.files import clip_from_file
from ceuskit.web.context import Context, context
from ceuskit.web.files import inside
from ceuskit.web.security import Admin, client_address

__all__ = ["router", "timeline"]

router = APIRouter(tags=["lesions"])
Ctx = Annotated[Context, Depends(context)]


class NewClip(BaseModel):
    """A clip of the data folder to add to a lesion's examination."""

    clip: str = Field(min_length=1, max_length=1024, description="Path relative to the data folder.")
    offset_s: float | None = Field(default=None, ge=-3600, le=24 * 3600,
                                   description="Start, s after the examination's first frame, for a clip whose "
                                               "file states no acquisition time (None: by acquisition time).")


def timeline(ctx: Context, clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Return where each of a lesion's clips lies.

    ``starts_s`` (s after the earliest clip's first frame),
    ``durations_s``, ``n_frames`` (per clip, in the lesion's order) and ``error`` — why they could not be
    placed by their times (then they are shown one after the other), or None.
    """
    try:
        opened = [ctx.clips.get(ctx.clip_path(clip["path"])) for clip in clips]
    except HTTPException as exc:
        return {"starts_s": None, "durations_s": None, "n_frames": None, "error": str(exc.detail)}
    except CeusError as exc:
        return {"starts_s": None, "durations_s": None, "n_frames": None, "error": str(exc).splitlines()[0]}
    durations = [clip.duration_s for clip in opened]
    error = None
    try:
        starts = place_clips(opened, [clip["offset_s"] for clip in clips])
    except CeusError as exc:
        error = str(exc).splitlines()[0]
        starts, end = [], 0.0
        for duration in durations:
            starts.append(end)
            end += duration + 1.0
    return {"starts_s": [round(s, 4) for s in starts], "durations_s": [round(d, 4) for d in durations],
            "n_frames": [clip.n_frames for clip in opened], "error": error}


@router.post("/api/lesions/{lesion_id}/clips", status_code=201)
def add_clip(lesion_id: int, body: NewClip, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Add a clip of the data folder (a late-phase sweep) to the lesion's examination.

    Its ROIs are drawn afterwards.  Refused (400) when it belongs to another patient or study, overlaps the other
    clips, or states no acquisition time and no ``offset_s`` is given.
    """
    found = st.get_lesion(ctx.db, lesion_id)
    path = inside(ctx.data_dir, body.clip)
    if not path.is_file():
        raise HTTPException(404, "no such clip in the data folder")
    if any(Path(clip["path"]).resolve() == path for clip in found["clips"]):
        raise HTTPException(409, "this clip is part of the lesion's examination already")
    opened = [ctx.clips.get(ctx.clip_path(clip["path"])) for clip in found["clips"]]
    try:
        place_clips([*opened, ctx.clips.get(path)], [*(clip["offset_s"] for clip in found["clips"]), body.offset_s])
    except UntimedClipError as exc:
        which = "this clip" if exc.index == len(opened) else f"clip {exc.index + 1} of the lesion"
        raise HTTPException(400, f"{which} states no acquisition time (a video, frame folder or array has none): "
                                 "give its start in seconds after the first clip's first frame") from None
    updated = st.add_lesion_clip(ctx.db, lesion_id, clip_from_file(path, offset_s=body.offset_s))
    record_event(ctx.db, principal.username, "clip_add", target=f"lesion:{lesion_id}",
                 detail={"position": len(updated["clips"]) - 1, "clip": updated["clips"][-1]["id"]},
                 address=client_address(request))
    return {"id": lesion_id, "position": len(updated["clips"]) - 1, "n_clips": len(updated["clips"])}


@router.delete("/api/lesions/{lesion_id}/clips/{position}")
def remove_clip(lesion_id: int, position: int, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Take a further clip (position ≥ 1) and its ROIs out of the lesion's examination (the file stays)."""
    updated = st.remove_lesion_clip(ctx.db, lesion_id, position)
    record_event(ctx.db, principal.username, "clip_remove", target=f"lesion:{lesion_id}",
                 detail={"position": position}, address=client_address(request))
    return {"id": lesion_id, "n_clips": len(updated["clips"])}
