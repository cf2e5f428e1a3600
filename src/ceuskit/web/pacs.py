"""Workstation routes for the hospital PACS (``ceuskit serve --pacs URL|NAME``).

An administrator searches the PACS by patient and date, picks a series (or one clip of it) and makes a
lesion from it: the server fetches the clip into the data folder (``pacs/STUDY/SERIES/INSTANCE.dcm``) and
records where it came from in the clip's header summary (``pacs``: server, ``dicomweb:`` reference, time).
A finished analysis goes back with one action: its SR and SEG are built on the server and stored in the
clip's study.  Long work runs as jobs; messages carry no identifier.

Access: the routes take the dependencies they are given (today the workstation's token; an admin role
when accounts arrive: one dependency to swap in ``create_app``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ceuskit import store as st
from ceuskit.errors import CeusError, PacsError, PacsNotFoundError
from ceuskit.io import open_clip
from ceuskit.io.clip import source_sha256
from ceuskit.roi import parse_rois
from ceuskit.store.audit import record_event
from ceuskit.study.files import clip_from_file
from ceuskit.study.lesions import add_lesion, check_new_lesion, lesion_input
from ceuskit.timeseries import MAX_INJECTION_LEAD_S
from ceuskit.web.security import Admin, client_address

if TYPE_CHECKING:
    from ceuskit.pacs import PacsTarget
    from ceuskit.store import Store
    from ceuskit.web.jobs import JobRunner

__all__ = ["PacsLesion", "pacs_router"]

log = logging.getLogger("ceuskit.web")
T = TypeVar("T")


class PacsLesion(BaseModel):
    """A lesion to make from a PACS series (or one instance of it) in a workstation study."""

    study_id: int = Field(ge=1, description="The ceuskit study the lesion joins.")
    study_uid: str = Field(min_length=1, max_length=64)
    series_uid: str = Field(min_length=1, max_length=64)
    instance_uid: str | None = Field(default=None, max_length=64, description="Needed when the series holds "
                                                                              "several clips.")
    patient: str = Field(min_length=1, max_length=64, description="Pseudonym in the study (not the PACS id).")
    lesion: str = Field(min_length=1, max_length=64)
    ki67_percent: float | None = Field(default=None, ge=0, le=100)
    injection_time_s: float = Field(default=0.0, ge=-MAX_INJECTION_LEAD_S)
    primary_site: str | None = Field(default=None, max_length=64)


def pacs_router(*, pacs: str | None, db: Store, jobs: JobRunner, data_dir: Path,
                dependencies: Sequence[Any] = ()) -> APIRouter:
    """Make the ``/api/pacs…`` routes and ``POST /api/lesions/{id}/push`` for the PACS named by ``pacs``.

    Raises
    ------
    InputError
        ``pacs`` names no usable server (checked once, when the app is made).
    """
    from ceuskit.pacs.config import resolve_destination

    target = None if pacs is None else resolve_destination(pacs)
    router = APIRouter(prefix="/api", dependencies=list(dependencies), tags=["pacs"])
    root = data_dir.resolve()

    def configured() -> PacsTarget:
        if target is None:
            raise HTTPException(503, "no PACS configured: start the server with `ceuskit serve --pacs URL|NAME`")
        return target

    def answered(call: Callable[[], T]) -> T:
        try:
            return call()
        except PacsNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except PacsError as exc:
            raise HTTPException(502, str(exc)) from None

    @router.get("/pacs")
    def pacs_info() -> dict[str, Any]:
        """Whether a PACS is configured, its protocol and how messages name it."""
        return {"configured": target is not None, "kind": None if target is None else target.kind,
                "label": None if target is None else target.label}

    @router.get("/pacs/studies")
    def pacs_studies(patient_id: str | None = None, study_date: str | None = None, modality: str | None = "US",
                     limit: int = 50) -> dict[str, Any]:
        """Studies of the PACS matching the search, with their series and instances."""
        from ceuskit.pacs import Query, connect, parse_date_range

        query = Query(patient_id=patient_id or None, modality=(modality or "").upper() or None, limit=limit,
                      study_date=parse_date_range(study_date) if study_date else None)

        def search() -> tuple[list[Any], bool]:
            with connect(configured()) as client:
                return client.find(query)

        studies, more = answered(search)
        return {"studies": [s.as_dict() for s in studies], "more": more}

    @router.post("/pacs/lesions", status_code=202)
    def pacs_lesion(body: PacsLesion, principal: Admin, request: Request) -> dict[str, Any]:
        """Fetch the clip on the server and make a lesion of it (a job; its result is ``lesion_id``)."""
        from ceuskit.pacs.records import check_uid

        server = configured()
        study_uid, series_uid = check_uid(body.study_uid, "study_uid"), check_uid(body.series_uid, "series_uid")
        instance_uid = None if body.instance_uid is None else check_uid(body.instance_uid, "instance_uid")
        check_new_lesion(db, body.study_id, body.patient, body.lesion)  # before fetching anything

        def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
            from ceuskit.pacs import ObjectRef, connect, pull
            from ceuskit.pacs.cache import clip_instances

            with connect(server) as client:
                clips = clip_instances(client.instances(study_uid, series_uid, instance_uid))
                if len(clips) != 1:
                    raise CeusError("this series holds no clip" if not clips else
                                    f"this series holds {len(clips)} clips: pick one of its instances")
                chosen = clips[0]
                result = pull(client, chosen.study_uid, chosen.series_uid, chosen.sop_uid, out=root / "pacs",
                              progress=lambda done, total, _size: progress(done, total))
            reference = ObjectRef(chosen.study_uid, chosen.series_uid, chosen.sop_uid)
            lesion_id = _make_lesion(db, body, result.files[0], server.label, str(reference))
            log.info("pacs: lesion %d made from a PACS clip", lesion_id)
            record_event(db, principal.username, "pacs_fetch", target=f"lesion:{lesion_id}",
                         detail={"server": server.label, "files": len(result.files)}, address=address)
            return {"lesion_id": lesion_id, "study_id": body.study_id}

        address = client_address(request)
        return jobs.submit("pacs-lesion", work).view()

    @router.post("/lesions/{lesion_id}/push", status_code=202)
    def push_results(lesion_id: int, principal: Admin, request: Request) -> dict[str, Any]:
        """Store the lesion's newest analysis in the PACS as SR and SEG, in its clip's study (a job)."""
        server = configured()
        found = st.get_lesion(db, lesion_id)
        analysis = found.get("analysis") or {}
        if analysis.get("status") != "ok" or not analysis.get("document"):
            raise HTTPException(409, "this lesion has no finished analysis yet: analyse it first")
        clip = found.get("clip") or {}
        if (clip.get("header") or {}).get("format") != "dicom":
            raise HTTPException(409, "only the results of a DICOM clip can go to the PACS (SR and SEG reference it)")
        path = Path(clip["path"]).resolve()
        if root not in path.parents or not path.is_file():
            raise HTTPException(404, "the clip file is missing from the data folder")

        def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
            from ceuskit.pacs import connect, push

            written = _export(found, analysis["document"], path, root / ".ceuskit" / "exports" / f"lesion-{lesion_id}")
            with connect(server) as client:
                stored = push(client, written, progress=progress)
            log.info("pacs: results of lesion %d stored in the PACS", lesion_id)
            record_event(db, principal.username, "pacs_push", target=f"lesion:{lesion_id}",
                         detail={"server": server.label, "stored": stored.stored,
                                 "analysis": analysis.get("id")}, address=address)
            return {"stored": stored.stored, "server": server.label}

        address = client_address(request)
        return jobs.submit("pacs-push", work).view()

    return router


def _make_lesion(db: Store, body: PacsLesion, path: Path, server: str, reference: str) -> int:
    """Store a lesion whose clip is ``path``, with where it came from in the clip's header summary."""
    with open_clip(path):  # a readable clip, or a one-line ClipError
        pass
    provenance = {"server": server, "reference": reference,
                  "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    row = lesion_input(body.patient, body.lesion, [clip_from_file(path, provenance=provenance)],
                       ki67_percent=body.ki67_percent, primary_site=body.primary_site,
                       injection_time_s=body.injection_time_s)
    return add_lesion(db, row, study=body.study_id)


def _export(lesion: dict[str, Any], document: dict[str, Any], clip: Path, folder: Path) -> list[Path]:
    """SR and SEG of ``document`` for ``clip`` (checked to be the analysed, original clip) in ``folder``."""
    from ceuskit.export.dicom import build_seg, build_sr, read_source, save

    if (document.get("clip") or {}).get("sha256") not in (None, source_sha256(clip)):
        raise CeusError("the clip changed since it was analysed: analyse it again before sending results")
    source = read_source(clip)
    if str(source.get("PatientIdentityRemoved", "")).upper() == "YES":
        raise CeusError("this clip was de-identified: its results cannot go back to the patient's study")
    spacing = (document.get("clip") or {}).get("pixel_spacing_mm")
    rois = parse_rois(lesion.get("rois") or {}, pixel_spacing_mm=tuple(spacing) if spacing else None, source="ROIs")
    datasets = {"sr.dcm": build_sr(document, source, rois), "seg.dcm": build_seg(clip, rois)}
    return [save(dataset, folder / name) for name, dataset in datasets.items()]
