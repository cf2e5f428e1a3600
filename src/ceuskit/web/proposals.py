"""One-click ROI proposals in the workstation (administrators): propose on a click, carry to the sweeps.

``POST /api/lesions/{id}/propose`` proposes a lesion outline and liver reference from one click on one of the
lesion's clips, in the background (poll ``/api/jobs/{id}``); the result is the ROI document, not yet saved:
the reader accepts it (the page saves it with ``"source": "accepted"``) or edits it (``PUT …/rois`` marks a
proposed ROI that moved ``"edited"``).  ``POST /api/lesions/{id}/carry`` finds the first clip's ROIs again on
every other clip of the examination and saves them there, marked ``"proposed"`` until accepted.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ceuskit.store.audit import record_event
from ceuskit.web.context import Context, context
from ceuskit.web.security import Admin, client_address

__all__ = ["router"]

router = APIRouter(tags=["lesions"])
Ctx = Annotated[Context, Depends(context)]


class Click(BaseModel):
    """A click inside a lesion on one frame of one of its clips (stored-frame pixels)."""

    x: float = Field(ge=0, le=65535)
    y: float = Field(ge=0, le=65535)
    frame: int = Field(ge=0, le=10_000_000, description="The frame the click was made on.")
    clip: int = Field(default=0, ge=0, le=999, description="Position of the clip in the lesion's examination.")


@router.post("/api/lesions/{lesion_id}/propose", status_code=202)
def propose(lesion_id: int, click: Click, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Propose the lesion's outline and liver reference from one click, in the background.

    The job's result is ``{"document": ROI document, "confidence", "notes"}`` (nothing is saved).
    """
    from ceuskit import store as st

    found = st.get_lesion(ctx.db, lesion_id)
    target = next((item for item in found["clips"] if item["position"] == click.clip), None)
    if target is None:
        raise HTTPException(404, f"the lesion has no clip at position {click.clip}")
    path = ctx.clip_path(target["path"])
    address = client_address(request)

    def work(_progress: Any) -> dict[str, Any]:
        from ceuskit.io import open_clip
        from ceuskit.propose import propose_rois

        with open_clip(path) as clip:
            proposal = propose_rois(clip, (click.x, click.y), frame=click.frame,
                                    dynamic_range_db=found["dynamic_range_db"],
                                    injection_time_s=found["injection_time_s"])
        record_event(ctx.db, principal.username, "rois_propose", target=f"lesion:{lesion_id}",
                     detail={"clip": click.clip, "frame": click.frame, "confidence": proposal.confidence},
                     address=address)
        return {"document": proposal.document, "confidence": proposal.confidence, "notes": list(proposal.notes)}

    return ctx.jobs.submit("propose", work).view()


@router.post("/api/lesions/{lesion_id}/carry", status_code=202)
def carry(lesion_id: int, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Find the first clip's ROIs on every other clip of the lesion's examination and save them there.

    They are marked proposed; the job's result lists each clip's ``offset_px`` and ``confidence``.
    """
    from ceuskit import store as st

    found = st.get_lesion(ctx.db, lesion_id)
    clips = sorted(found["clips"], key=lambda item: item["position"])
    if len(clips) < 2:
        raise HTTPException(409, "the lesion has one clip: add its sweeps first")
    if not clips[0]["rois"] or not clips[0]["rois"].get("rois"):
        raise HTTPException(409, "the first clip has no ROIs to carry: draw or propose them there first")
    paths = [ctx.clip_path(item["path"]) for item in clips]
    address = client_address(request)

    def work(progress: Any) -> dict[str, Any]:
        from ceuskit.io import open_clip
        from ceuskit.propose import carry_rois, loop_template

        with open_clip(paths[0]) as loop:
            template = loop_template(loop, clips[0]["rois"], dynamic_range_db=found["dynamic_range_db"])
        carried = []
        for k, (item, path) in enumerate(zip(clips[1:], paths[1:], strict=True), start=1):
            with open_clip(path) as sweep:
                result = carry_rois(template, sweep, dynamic_range_db=found["dynamic_range_db"])
            st.set_lesion_rois(ctx.db, lesion_id, result.document, roi_name=found.get("roi_name"),
                               position=item["position"])
            carried.append({"clip": item["position"], "offset_px": list(result.offset_px),
                            "confidence": result.confidence, "frame": result.frame})
            progress(k, len(clips) - 1)
        record_event(ctx.db, principal.username, "rois_carry", target=f"lesion:{lesion_id}",
                     detail={"clips": [c["clip"] for c in carried]}, address=address)
        return {"carried": carried}

    return ctx.jobs.submit("carry", work).view()
