"""Clips: the data folder's clip files, uploads, a clip's facts and its frames as PNG.

Frames are served to administrators, and to a reader for the clips of their open reading sessions only.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ceuskit.store import json_safe
from ceuskit.store.audit import record_event
from ceuskit.web.context import Context, context
from ceuskit.web.files import (
    CLIP_SUFFIXES,
    CURVE_SUFFIXES,
    PathRefused,
    inside,
    safe_name,
    unique_path,
    upload_kind,
)
from ceuskit.web.security import Admin, FrameViewer, client_address

__all__ = ["frame_png", "router"]

router = APIRouter(tags=["clips"])
Ctx = Annotated[Context, Depends(context)]


@router.get("/api/files")
def files(_: Admin, ctx: Ctx) -> list[dict[str, Any]]:
    """List the clip files and curve tables of the data folder.

    Paths relative to it; links out of it are not offered; ``kind`` "clip" or "curves".
    """
    out = []
    data_dir = ctx.data_dir
    for path in sorted(data_dir.rglob("*")):
        suffix = path.suffix.lower()
        if suffix not in CLIP_SUFFIXES + CURVE_SUFFIXES or ctx.work in path.parents or not path.is_file():
            continue
        try:
            inside(data_dir, path)  # a symbolic link out of the folder is not offered
        except PathRefused:
            continue
        out.append({"path": str(path.relative_to(data_dir)), "size_bytes": path.stat().st_size,
                    "kind": "curves" if suffix in CURVE_SUFFIXES else "clip"})
    return out[:5000]


@router.post("/api/uploads", status_code=201)
def upload(file: Annotated[UploadFile, File()], principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Upload a clip (DICOM or video) or a table of curves into the data folder's ``uploads/``.

    Tables of curves: CSV, TSV, XLSX, QLAB text.  The size is checked before the body.
    """
    limit = ctx.settings.max_upload_bytes
    ctx.uploads.mkdir(parents=True, exist_ok=True)
    head = file.file.read(132)
    kind = upload_kind(head, file.filename or "")
    if kind is None:
        raise HTTPException(415, "not a clip: upload a DICOM (Part 10) file or a video (MP4, MOV, AVI, MKV), or a "
                            "table of curves (.csv, .tsv, .txt, .xlsx)")
    default = {"dicom": "upload.dcm", "video": "upload.mp4"}.get(kind, "curves.csv")
    target = unique_path(ctx.uploads, safe_name(file.filename or default))
    partial_path = target.with_name("." + target.name + ".part")
    size = len(head)
    try:
        with open(partial_path, "wb") as out:
            out.write(head)
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the upload is larger than the limit of {limit} bytes")
                out.write(chunk)
        partial_path.replace(target)
    finally:
        partial_path.unlink(missing_ok=True)
    relative = str(target.relative_to(ctx.data_dir))
    record_event(ctx.db, principal.username, "upload", detail={"kind": kind, "size_bytes": size},
                 address=client_address(request))
    return {"path": relative, "kind": kind, "size_bytes": size}


@router.get("/api/clips/{clip_id}")
def clip_info(clip_id: int, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """Return a clip's facts (``ceuskit info --json``) and its path in the data folder."""
    from ceuskit import store as st
    from ceuskit.feed import display_maps

    stored = st.get_clip(ctx.db, clip_id)
    opened = ctx.clips.get(ctx.clip_path(stored["path"]))
    summary = json_safe(opened.summary(display_maps(opened, bmode=False).ceus.to_json()))
    summary.pop("source", None)
    summary["id"] = clip_id
    public = ctx.public_clip(stored)
    summary["path"] = None if public is None else public["path"]
    return dict(summary)


def frame_png(path: Path, index: int, ctx: Context) -> bytes:
    """Frame ``index`` of the clip at ``path`` as an 8-bit PNG (404 outside the clip)."""
    from PIL import Image

    opened = ctx.clips.get(path)
    if not 0 <= index < opened.n_frames:
        raise HTTPException(404, f"frame {index} is outside the clip's {opened.n_frames} frames")
    pixels = opened.raw(index)
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels.astype(np.float32) * (255.0 / max(1, opened.max_value)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _clip_file(ctx: Context, clip_id: int) -> Path:
    """Return the file of a stored clip, in the data folder (404 unknown or missing, 403 outside)."""
    from ceuskit import store as st

    found = ctx.clip_files.get(clip_id)
    return found if found is not None else ctx.clip_files.put(clip_id, ctx.clip_path(st.get_clip(ctx.db, clip_id)["path"]))


@router.get("/api/clips/{clip_id}/frames/{index}")
async def clip_frame(clip_id: int, index: int, principal: FrameViewer, ctx: Ctx) -> Response:
    """Frame ``index`` (0-based) as PNG: any clip for an administrator, a reader's session clips for a reader.

    Served from the cache of encoded frames (:mod:`ceuskit.web.frames`); the database is asked only every few
    seconds per credential, clip and reader, and a frame is encoded once, off the event loop.
    """
    if not principal.is_admin:
        allowed = None if principal.id is None else ctx.reader_clips.known(principal.id)
        if allowed is None and principal.id is not None:
            allowed = await run_in_threadpool(ctx.reader_clips.allowed, ctx.db, principal.id)
        if allowed is None or clip_id not in allowed:
            raise HTTPException(403, "this clip is not in one of your open reading sessions")
    path = ctx.clip_files.get(clip_id)
    if path is None:
        path = await run_in_threadpool(_clip_file, ctx, clip_id)
    png = await ctx.frames.get(str(path), index, partial(frame_png, path, index, ctx))
    # a reader's frames are blinded material: never kept by the browser; an administrator's player may cache
    cache = "private, max-age=3600" if principal.is_admin else "no-store"
    return Response(png, media_type="image/png", headers={"Cache-Control": cache})
