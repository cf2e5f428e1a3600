"""Studies (administrators): list, create, detail, statistics, cohort table, CSV export, report, new lesions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from ceuskit.io.curves import is_curve_file, read_curves
from ceuskit.store import json_safe, study_id_of  # json_safe: NaN/inf → None, numpy → Python
from ceuskit.store.audit import record_event
from ceuskit.study.files import clip_from_file, curve_document
from ceuskit.study.lesions import add_lesion, check_new_lesion, lesion_input
from ceuskit.timeseries import MAX_INJECTION_LEAD_S
from ceuskit.web.context import Context, context
from ceuskit.web.files import inside
from ceuskit.web.security import REPORT_CONTENT_SECURITY_POLICY, Admin, client_address

__all__ = ["router"]

router = APIRouter(tags=["studies"])
Ctx = Annotated[Context, Depends(context)]


class NewStudy(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 ._-]+$")


class NewLesion(BaseModel):
    """A lesion to read from a clip of the data folder (its ROIs are drawn afterwards)."""

    patient: str = Field(min_length=1, max_length=64)
    lesion: str = Field(min_length=1, max_length=64)
    clip: str = Field(min_length=1, max_length=1024, description="Path relative to the data folder.")
    ki67_percent: float | None = Field(default=None, ge=0, le=100)
    injection_time_s: float = Field(default=0.0, ge=-MAX_INJECTION_LEAD_S)
    primary_site: str | None = Field(default=None, max_length=64)
    units: str | None = Field(default=None, pattern=r"^(grey|power|db)$",
                              description="A curve table's intensities (grey, power or db; default: as it says).")


@router.get("/api/studies")
def studies(_: Admin, ctx: Ctx) -> list[dict[str, Any]]:
    """Every study with its patient and lesion counts."""
    from ceuskit import store as st

    return st.list_studies(ctx.db)


@router.post("/api/studies", status_code=201)
def new_study(body: NewStudy, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Create an empty study."""
    from ceuskit import store as st

    if any(item["name"] == body.name for item in st.list_studies(ctx.db)):
        raise HTTPException(409, f"a study named {body.name!r} exists already; choose another name")
    study_id = st.import_lesions(ctx.db, [], study=body.name)["study_id"]
    record_event(ctx.db, principal.username, "study_add", target=f"study:{study_id}", address=client_address(request))
    return {"id": study_id, "name": body.name}


@router.get("/api/studies/{study_id}")
def study(study_id: int, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """Return a study with its patients and lesions (each with its newest analysis's status)."""
    from ceuskit import store as st

    found = st.get_study(ctx.db, study_id)
    for patient in found["patients"]:
        for lesion in patient["lesions"]:
            lesion.pop("extra", None)
    return found


@router.get("/api/studies/{study_id}/stats")
def study_stats(study_id: int, _: Admin, ctx: Ctx) -> dict[str, Any]:
    """Return the cohort statistics of ``ceuskit study stats --json`` (with reader agreement)."""
    from ceuskit import store as st
    from ceuskit.study import study_stats as stats

    st.get_study(ctx.db, study_id)
    document: dict[str, Any] = json_safe(stats(ctx.db, study_id))
    return document


@router.get("/api/studies/{study_id}/table")
def study_table(study_id: int, principal: Admin, request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    """One row per lesion (the export's columns), as JSON."""
    from ceuskit import store as st
    from ceuskit.study import cohort_frame

    st.get_study(ctx.db, study_id)
    frame = cohort_frame(ctx.db, study_id)
    record_event(ctx.db, principal.username, "export", target=f"study:{study_id}", detail={"format": "json"},
                 address=client_address(request))
    rows: list[dict[str, Any]] = json_safe(frame.to_dict(orient="records"))  # NaN → None there
    return rows


@router.get("/api/studies/{study_id}/export.csv")
def study_csv(study_id: int, principal: Admin, request: Request, ctx: Ctx) -> Response:
    """One row per lesion, as CSV."""
    from ceuskit import store as st
    from ceuskit.study import cohort_frame

    st.get_study(ctx.db, study_id)
    text = cohort_frame(ctx.db, study_id).to_csv(index=False)
    record_event(ctx.db, principal.username, "export", target=f"study:{study_id}", detail={"format": "csv"},
                 address=client_address(request))
    return Response(text, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="study-{study_id}-lesions.csv"'})


@router.get("/api/studies/{study_id}/report")
def study_report(study_id: int, principal: Admin, request: Request, ctx: Ctx, format: str = "html") -> FileResponse:
    """Return the cohort report, HTML (self-contained) or PDF (typeset from the same HTML by Chromium)."""
    from ceuskit import store as st
    from ceuskit.report import write_report
    from ceuskit.study import cohort_frame, cohort_stats

    if format not in ("html", "pdf"):
        raise HTTPException(400, "format must be html or pdf")
    st.get_study(ctx.db, study_id)
    folder = ctx.work / "reports" / f"study-{study_id}"
    frame = cohort_frame(ctx.db, study_id)
    html = write_report(ctx.db, folder, frame=frame, result=cohort_stats(frame), study=study_id, pdf=format == "pdf")
    record_event(ctx.db, principal.username, "report", target=f"study:{study_id}", detail={"format": format},
                 address=client_address(request))
    path = html if format == "html" else html.with_suffix(".pdf")
    headers = {"Content-Security-Policy": REPORT_CONTENT_SECURITY_POLICY} if format == "html" else {}
    return FileResponse(path, media_type="text/html" if format == "html" else "application/pdf",
                        filename=f"study-{study_id}-report.{format}", headers=headers)


@router.post("/api/studies/{study_id}/lesions", status_code=201)
def new_lesion(study_id: int, body: NewLesion, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Add a lesion from a clip of the data folder or from a table of curves.

    From a clip, its ROIs are drawn afterwards; from a table of curves (its curves are its ROIs; ``units`` says what
    its intensities are when the file does not).
    """
    study_id_of(ctx.db, study_id)  # a study of that id, or 404
    path = inside(ctx.data_dir, body.clip)
    if not path.is_file():
        raise HTTPException(404, "no such clip in the data folder")
    check_new_lesion(ctx.db, study_id, body.patient, body.lesion)
    rois = None  # a clip: its ROIs are drawn afterwards
    if is_curve_file(path):  # a table of curves: its curves are the ROIs, read without a viewer
        rois = curve_document(read_curves(path, units=body.units), units=body.units, time_column=None, columns=None)
    else:
        ctx.clips.get(path)  # readable, or a one-line ClipError
    row = lesion_input(body.patient, body.lesion, [clip_from_file(path, rois=rois)], ki67_percent=body.ki67_percent,
                       primary_site=body.primary_site, injection_time_s=body.injection_time_s)
    created = add_lesion(ctx.db, row, study=study_id)
    record_event(ctx.db, principal.username, "lesion_add", target=f"lesion:{created}",
                 detail={"study": study_id}, address=client_address(request))
    return {"id": created}
