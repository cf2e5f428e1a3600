"""The workstation's server: a FastAPI app with the REST API of DESIGN and the browser UI (no CDN).

Access: every ``/api/…`` route but ``/api/health`` needs ``Authorization: Bearer TOKEN``; the UI asks for
the token once on its login page and keeps it in the browser.  Files: only inside the data folder (clips
imported from elsewhere are refused), uploads checked for size and type.  Logs: method, route template,
status and duration only — never a query, a body, a path or a pseudonym.
"""

from __future__ import annotations

import io
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ceuskit import __version__
from ceuskit.errors import CeusError, StoreError
from ceuskit.store import json_safe  # NaN/inf → None, numpy → Python: the store's JSON rules
from ceuskit.web.files import CLIP_SUFFIXES, ClipCache, PathRefused, clip_kind, inside, safe_name, unique_path
from ceuskit.web.jobs import JobRunner

__all__ = ["Settings", "create_app"]

log = logging.getLogger("ceuskit.web")
STATIC = Path(__file__).parent / "static"
BEARER = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Settings:
    """Server settings: database URL, data folder, access token, upload limit (bytes)."""

    db_url: str
    data_dir: Path
    token: str
    max_upload_bytes: int = 2 << 30
    map_block_px: int = 4
    pacs: str | None = None  # DICOMweb URL or PACS config entry name (ceuskit.web.pacs)


class LoginBody(BaseModel):
    token: str = Field(max_length=512)


class NewStudy(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 ._-]+$")


class NewLesion(BaseModel):
    """A lesion to read from a clip of the data folder (its ROIs are drawn afterwards)."""

    patient: str = Field(min_length=1, max_length=64)
    lesion: str = Field(min_length=1, max_length=64)
    clip: str = Field(min_length=1, max_length=1024, description="Path relative to the data folder.")
    ki67_percent: float | None = Field(default=None, ge=0, le=100)
    injection_time_s: float = Field(default=0.0, ge=0)
    primary_site: str | None = Field(default=None, max_length=64)


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings`` (``ceuskit serve`` runs it with uvicorn; tests use it directly)."""
    from ceuskit import store as st

    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    uploads = data_dir / "uploads"
    work = data_dir / ".ceuskit"
    db = st.Store(settings.db_url)
    clips = ClipCache()
    jobs = JobRunner()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()
        clips.close()
        db.close()

    app = FastAPI(title="ceuskit workstation", version=__version__, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=lifespan)
    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        given = "" if credentials is None else credentials.credentials
        if not secrets.compare_digest(given.encode(), settings.token.encode()):
            raise HTTPException(401, "a valid access token is needed (Authorization: Bearer …)",
                                headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorised)]

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response = upload_gate(request) or await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "(unmatched)")  # the template, e.g. /api/lesions/{lesion_id}
        log.info("%s %s %d %.0f ms", request.method, template, response.status_code,
                 1000 * (time.perf_counter() - start))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    def upload_gate(request: Request) -> Response | None:
        """Refuse an upload before its body is read: no token (401), no or too large Content-Length (411/413)."""
        if request.method != "POST" or request.url.path != "/api/uploads":
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), settings.token.encode()):
            return JSONResponse({"detail": "a valid access token is needed (Authorization: Bearer …)"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            return JSONResponse({"detail": "an upload needs a Content-Length header"}, status_code=411)
        if int(declared) > settings.max_upload_bytes + 64 * 1024:  # the multipart envelope is a few hundred bytes
            return JSONResponse({"detail": f"the upload is larger than the limit of {settings.max_upload_bytes} bytes"},
                                status_code=413)
        return None

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the offending input, which fails on undecodable bytes (a 500) and
        # would repeat whatever the client sent; where and what is wrong is enough.
        errors = [{"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
                   "type": str(error.get("type", ""))} for error in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(CeusError)
    async def ceus_error(request: Request, exc: CeusError) -> JSONResponse:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, PathRefused):
            return JSONResponse({"detail": message}, status_code=403)
        if isinstance(exc, StoreError) and message.startswith("no "):
            return JSONResponse({"detail": message}, status_code=404)
        return JSONResponse({"detail": message}, status_code=400)

    # ------------------------------------------------------------------------------------------- helpers
    def lesion_or_404(lesion_id: int) -> dict[str, Any]:
        return st.get_lesion(db, lesion_id)

    def clip_path(path: str) -> Path:
        """A stored clip's path, if it lies in the data folder."""
        resolved = inside(data_dir, path)
        if not resolved.exists():
            raise HTTPException(404, "the clip file is missing from the data folder")
        return resolved

    def public_clip(clip: dict[str, Any] | None) -> dict[str, Any] | None:
        if clip is None:
            return None
        try:
            relative = str(Path(clip["path"]).resolve().relative_to(data_dir))
        except ValueError:
            relative = None  # outside the data folder: not served
        return {"id": clip["id"], "path": relative, "sha256": clip["sha256"], "size_bytes": clip["size_bytes"]}

    # ---------------------------------------------------------------------------------------------- open
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.post("/api/login")
    def login(body: LoginBody) -> dict[str, Any]:
        if not secrets.compare_digest(body.token.encode(), settings.token.encode()):
            raise HTTPException(401, "wrong access token")
        return {"ok": True}

    # ------------------------------------------------------------------------------------------- studies
    @app.get("/api/studies", dependencies=auth)
    def studies() -> list[dict[str, Any]]:
        return st.list_studies(db)

    @app.post("/api/studies", dependencies=auth, status_code=201)
    def new_study(body: NewStudy) -> dict[str, Any]:
        if any(item["name"] == body.name for item in st.list_studies(db)):
            raise HTTPException(409, f"a study named {body.name!r} exists already; choose another name")
        return {"id": st.import_lesions(db, [], study=body.name)["study_id"], "name": body.name}

    @app.get("/api/studies/{study_id}", dependencies=auth)
    def study(study_id: int) -> dict[str, Any]:
        found = st.get_study(db, study_id)
        for patient in found["patients"]:
            for lesion in patient["lesions"]:
                lesion.pop("extra", None)
        return found

    @app.get("/api/studies/{study_id}/stats", dependencies=auth)
    def study_stats(study_id: int) -> dict[str, Any]:
        from ceuskit.study import study_stats as stats

        st.get_study(db, study_id)
        return json_safe(stats(db, study_id))

    @app.get("/api/studies/{study_id}/table", dependencies=auth)
    def study_table(study_id: int) -> list[dict[str, Any]]:
        from ceuskit.study import cohort_frame

        st.get_study(db, study_id)
        frame = cohort_frame(db, study_id)
        return json_safe(frame.to_dict(orient="records"))  # NaN → None there

    @app.get("/api/studies/{study_id}/export.csv", dependencies=auth)
    def study_csv(study_id: int) -> Response:
        from ceuskit.study import cohort_frame

        st.get_study(db, study_id)
        text = cohort_frame(db, study_id).to_csv(index=False)
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="study-{study_id}-lesions.csv"'})

    @app.get("/api/studies/{study_id}/report", dependencies=auth)
    def study_report(study_id: int, format: str = "html") -> FileResponse:
        from ceuskit.report import write_report

        if format not in ("html", "pdf"):
            raise HTTPException(400, "format must be html or pdf")
        st.get_study(db, study_id)
        folder = work / "reports" / f"study-{study_id}"
        html = write_report(db, folder, study=study_id)
        path = html if format == "html" else html.with_suffix(".pdf")
        return FileResponse(path, media_type="text/html" if format == "html" else "application/pdf",
                            filename=f"study-{study_id}-report.{format}")

    @app.post("/api/studies/{study_id}/lesions", dependencies=auth, status_code=201)
    def new_lesion(study_id: int, body: NewLesion) -> dict[str, Any]:
        from ceuskit.io.clip import source_sha256
        from ceuskit.stats import who_grade
        from ceuskit.study import clip_header_summary

        found = st.get_study(db, study_id)
        path = inside(data_dir, body.clip)
        if not path.is_file():
            raise HTTPException(404, "no such clip in the data folder")
        if any(p["patient"] == body.patient and any(le["lesion"] == body.lesion for le in p["lesions"])
               for p in found["patients"]):
            raise HTTPException(409, "this patient already has a lesion with that name; choose another name")
        clips.get(path)  # readable, or a one-line ClipError
        stat = path.stat()
        grade = who_grade(body.ki67_percent)
        row = st.LesionInput(patient=body.patient, lesion=body.lesion, clip_path=str(path),
                             clip_sha256=source_sha256(path), rois={"reference_frame": 0, "units": "px", "rois": []},
                             clip_size_bytes=stat.st_size, clip_mtime_ns=stat.st_mtime_ns,
                             clip_header=clip_header_summary(path), ki67_percent=body.ki67_percent,
                             who_grade=grade, who_grade_source=None if grade is None else "ki67",
                             primary_site=body.primary_site, injection_time_s=body.injection_time_s)
        st.import_lesions(db, [row], study=found["name"])
        created = next(lesion for p in st.get_study(db, study_id)["patients"] if p["patient"] == body.patient
                       for lesion in p["lesions"] if lesion["lesion"] == body.lesion)
        return {"id": created["id"]}

    # ------------------------------------------------------------------------------------- files, uploads
    @app.get("/api/files", dependencies=auth)
    def files() -> list[dict[str, Any]]:
        out = []
        for path in sorted(data_dir.rglob("*")):
            if path.suffix.lower() not in CLIP_SUFFIXES or work in path.parents or not path.is_file():
                continue
            try:
                inside(data_dir, path)  # a symbolic link out of the folder is not offered
            except PathRefused:
                continue
            out.append({"path": str(path.relative_to(data_dir)), "size_bytes": path.stat().st_size})
        return out[:5000]

    @app.post("/api/uploads", dependencies=auth, status_code=201)
    def upload(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        uploads.mkdir(parents=True, exist_ok=True)
        head = file.file.read(132)
        kind = clip_kind(head)
        if kind is None:
            raise HTTPException(415, "not a clip: upload a DICOM (Part 10) file or a video (MP4, MOV, AVI, MKV)")
        target = unique_path(uploads, safe_name(file.filename or f"upload.{'dcm' if kind == 'dicom' else 'mp4'}"))
        partial_path = target.with_name("." + target.name + ".part")
        size = len(head)
        try:
            with open(partial_path, "wb") as out:
                out.write(head)
                while chunk := file.file.read(1 << 20):
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        raise HTTPException(413, "the upload is larger than the limit of "
                                                 f"{settings.max_upload_bytes} bytes")
                    out.write(chunk)
            partial_path.replace(target)
        finally:
            partial_path.unlink(missing_ok=True)
        return {"path": str(target.relative_to(data_dir)), "kind": kind, "size_bytes": size}

    # -------------------------------------------------------------------------------------------- clips
    @app.get("/api/clips/{clip_id}", dependencies=auth)
    def clip_info(clip_id: int) -> dict[str, Any]:
        stored = st.get_clip(db, clip_id)
        opened = clips.get(clip_path(stored["path"]))
        summary = json_safe(opened.summary())
        summary.pop("source", None)
        summary["id"] = clip_id
        summary["path"] = public_clip(stored)["path"]  # type: ignore[index]
        return summary

    @app.get("/api/clips/{clip_id}/frames/{index}", dependencies=auth)
    def clip_frame(clip_id: int, index: int) -> Response:
        from PIL import Image

        stored = st.get_clip(db, clip_id)
        opened = clips.get(clip_path(stored["path"]))
        if not 0 <= index < opened.n_frames:
            raise HTTPException(404, f"frame {index} is outside the clip's {opened.n_frames} frames")
        pixels = opened.raw(index)
        if pixels.dtype != np.uint8:
            pixels = np.clip(pixels.astype(np.float32) * (255.0 / max(1, opened.max_value)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    # ------------------------------------------------------------------------------------------ lesions
    @app.get("/api/lesions/{lesion_id}", dependencies=auth)
    def lesion(lesion_id: int) -> dict[str, Any]:
        found = lesion_or_404(lesion_id)
        found["clip"] = public_clip(found.get("clip"))
        found.pop("extra", None)
        return json_safe(found)

    @app.put("/api/lesions/{lesion_id}/rois", dependencies=auth)
    def put_rois(lesion_id: int, document: dict[str, Any]) -> dict[str, Any]:
        from ceuskit.roi import check_reference_frame, parse_rois

        found = lesion_or_404(lesion_id)
        opened = clips.get(clip_path(found["clip"]["path"]))
        rois = parse_rois(document, pixel_spacing_mm=opened.pixel_spacing_mm, source="ROIs")
        rois.masks(opened.rows, opened.columns)  # inside the image, not degenerate
        check_reference_frame(rois, opened.n_frames)
        st.set_lesion_rois(db, lesion_id, document, roi_name=found.get("roi_name"))
        return {"ok": True, "n_rois": len(rois.rois)}

    @app.post("/api/lesions/{lesion_id}/analyze", dependencies=auth, status_code=202)
    def analyse(lesion_id: int) -> dict[str, Any]:
        from ceuskit.pipeline import analyze
        from ceuskit.study import analyse_lesion

        found = lesion_or_404(lesion_id)
        clip_path(found["clip"]["path"])

        def work(progress: Any) -> dict[str, Any]:
            record = analyse_lesion(db, lesion_id, analyze=partial(analyze, progress=progress))
            if record["status"] != "ok":
                raise CeusError(record["error"] or "the analysis failed")
            return {"analysis_id": record["id"]}

        return jobs.submit("analysis", work).view()

    @app.post("/api/lesions/{lesion_id}/map", dependencies=auth, status_code=202)
    def make_map(lesion_id: int) -> dict[str, Any]:
        from ceuskit.maps import parametric_maps
        from ceuskit.roi import parse_rois

        found = lesion_or_404(lesion_id)
        path = clip_path(found["clip"]["path"])
        target = work / "maps" / f"lesion-{lesion_id}-{(found['rois_sha256'] or 'none')[:16]}.npz"

        def run(progress: Any) -> dict[str, Any]:
            if not target.exists():
                from ceuskit.io import open_clip

                with open_clip(path) as opened:
                    rois = parse_rois(found["rois"], pixel_spacing_mm=opened.pixel_spacing_mm)  # the cached ROIs
                    maps = parametric_maps(opened, rois, block_px=settings.map_block_px,
                                           injection_time_s=found["injection_time_s"],
                                           dynamic_range_db=found["dynamic_range_db"], progress=progress)
                target.parent.mkdir(parents=True, exist_ok=True)
                staged = target.with_name("." + target.name)
                with open(staged, "wb") as fh:
                    np.savez_compressed(fh, **maps)  # type: ignore[arg-type]
                staged.replace(target)
            return {"maps": sorted(np.load(target).files)}

        return jobs.submit("map", run).view()

    @app.get("/api/lesions/{lesion_id}/map/{name}", dependencies=auth)
    def map_image(lesion_id: int, name: str) -> Response:
        from ceuskit.maps import MAP_NAMES, MAP_UNITS

        if name not in MAP_NAMES:
            raise HTTPException(404, f"no map {name!r}; maps: {', '.join(MAP_NAMES)}")
        found = lesion_or_404(lesion_id)
        target = work / "maps" / f"lesion-{lesion_id}-{(found['rois_sha256'] or 'none')[:16]}.npz"
        if not target.exists():
            raise HTTPException(404, "no map yet for these ROIs: POST /api/lesions/{id}/map first")
        with np.load(target) as archive:
            values = archive[name]
        png, low, high = _colour_png(values)
        return Response(png, media_type="image/png",
                        headers={"X-Map-Min": f"{low:.6g}", "X-Map-Max": f"{high:.6g}", "X-Map-Unit": MAP_UNITS[name]})

    @app.get("/api/jobs/{job_id}", dependencies=auth)
    def job(job_id: str) -> dict[str, Any]:
        found = jobs.get(job_id)
        if found is None:
            raise HTTPException(404, "no such job (jobs are kept while the server runs)")
        return found.view()

    @app.get("/api/analyses/{analysis_id}", dependencies=auth)
    def analysis(analysis_id: int) -> dict[str, Any]:
        return json_safe(st.get_analysis(db, analysis_id))

    # ----------------------------------------------------------------------------------------------- UI
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/index.html", include_in_schema=False)
    def index_alias() -> RedirectResponse:
        return RedirectResponse("/")

    from ceuskit.web.pacs import pacs_router

    app.include_router(pacs_router(pacs=settings.pacs, db=db, jobs=jobs, data_dir=data_dir, dependencies=auth))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.store, app.state.jobs, app.state.clips = db, jobs, clips
    return app


def _colour_png(values: np.ndarray) -> tuple[bytes, float, float]:
    """A map as an RGBA PNG (viridis between its 2nd and 98th percentiles, transparent where NaN)."""
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




def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """``CEUSKIT_TOKEN``, else the token stored in the data folder, else a new one stored there (0600).

    Returns the token and whether it was created now (the caller prints it once).
    """
    import os

    if os.environ.get("CEUSKIT_TOKEN"):
        return os.environ["CEUSKIT_TOKEN"], False
    path = data_dir / ".ceuskit" / "token"
    if path.is_file():
        return path.read_text(encoding="ascii").strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, True

