"""De-identification of DICOM ultrasound files (DICOM PS3.15 Annex E).

The Basic Application Level Confidentiality Profile, with the Clean Pixel Data and Retain Longitudinal
Temporal Information with Modified Dates options.

What happens to a file:

* header: every attribute of :data:`BASIC_PROFILE` gets its action (X remove, Z empty, D dummy value), and
  beyond that table, by value representation, everywhere in the dataset (sequences included): person names
  (PN) are emptied, dates (DA, DT) are shifted by a per-patient number of days or emptied, times (TM) are kept
  with shifted dates or emptied, UIDs (UI) are replaced by ``2.25.`` UIDs derived from a secret key (so the
  same original UID maps to the same new one within a run and across runs with the same key), except the
  well-known ones (SOP classes, transfer syntaxes, coding schemes).  Private tags, overlays and curves go.
  Patient Name and ID become a keyed pseudonym; Patient Identity Removed = YES; De-identification Method
  and its code sequence (CID 7050) say what was done.
* pixels: everything outside the union of the Sequence of Ultrasound Regions (0018,6011) is set to 0 in
  every frame (burned-in names and dates live there); pixels inside are untouched.  Compressed files are
  decoded (YBR to RGB) and written uncompressed, Explicit VR Little Endian, frame by frame.

Nothing here prints or logs; callers report counts and paths only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.utils import iter_pixels
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from ceuskit._atomic import atomic_path
from ceuskit.errors import CeusError, ClipError, InputError
from ceuskit.io.clip import Box
from ceuskit.io.dicom.encoding import pixel_format, transfer_syntax_of
from ceuskit.io.dicom.header import read_dataset, ultrasound_regions

__all__ = ["BASIC_PROFILE", "DeidOptions", "DeidSummary", "deidentify_dataset", "deidentify_file",
           "deidentify_tree", "keyed_uid", "pseudonym"]

# PS3.15 Table E.1-1, the Basic Profile's actions for identifying attributes (by keyword). Dates, times,
# person names and UIDs not listed here are handled by value representation (see the module docstring).
_REMOVE = """
AccessionNumber:Z AcquisitionComments AcquisitionContextSequence AcquisitionDeviceProcessingDescription
ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDiagnosesCodeSequence
AdmittingDiagnosesDescription Allergies Arbitrary AuthorObserverSequence BranchOfService
CommentsOnThePerformedProcedureStep ConsultingPhysicianName ContentCreatorName:Z ContentSequence
ContributionDescription CountryOfResidence CurrentPatientLocation CustodialOrganizationSequence
DerivationDescription DetectorID DeviceSerialNumber DigitalSignaturesSequence DischargeDiagnosisDescription
EthnicGroup FillerOrderNumberImagingServiceRequest FrameComments GantryID GraphicAnnotationSequence
IconImageSequence IdentifyingComments ImageComments ImagePresentationComments ImagingServiceRequestComments
InstitutionAddress InstitutionCodeSequence InstitutionName InstitutionalDepartmentName
InsurancePlanIdentification IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence
InterpretationAuthor InterpretationRecorder InterpretationTranscriber IssuerOfAdmissionID IssuerOfPatientID
IssuerOfPatientIDQualifiersSequence MedicalAlerts MedicalRecordLocator MilitaryRank
ModifiedAttributesSequence ModifiedImageDescription ModifyingDeviceID NameOfPhysiciansReadingStudy
NamesOfIntendedRecipientsOfResults Occupation OperatorIdentificationSequence OperatorsName
OrderCallbackPhoneNumber OrderEnteredBy OrderEntererLocation OriginalAttributesSequence OtherPatientIDs
OtherPatientIDsSequence OtherPatientNames ParticipantSequence PatientAddress PatientAge PatientBirthDate:Z
PatientBirthName PatientBirthTime PatientComments PatientInsurancePlanCodeSequence PatientMotherBirthName
PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence PatientReligiousPreference
PatientSex:Z PatientSexNeutered PatientSize PatientState PatientTelephoneNumbers PatientTransportArrangements
PatientWeight PerformedLocation PerformedProcedureStepDescription PerformedProcedureStepID
PerformedProtocolCodeSequence PerformingPhysicianIdentificationSequence PerformingPhysicianName PersonAddress
PersonTelephoneNumbers
PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
PlacerOrderNumberImagingServiceRequest PregnancyStatus ProcedureCodeSequence ProtocolName ReasonForStudy
ReasonForRequestedProcedureCodeSequence RequestedProcedureCodeSequence
ReasonForTheImagingServiceRequest ReferencedPatientAliasSequence ReferencedPatientSequence
ReferencedStudySequence ReferringPhysicianAddress ReferringPhysicianIdentificationSequence
ReferringPhysicianName:Z ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence
RequestedProcedureComments RequestedProcedureDescription RequestedProcedureID RequestingPhysician
RequestingService ResponsibleOrganization ResponsiblePerson ResultsComments ScheduledPerformingPhysicianName
ScheduledProcedureStepDescription SeriesDescription ServiceEpisodeDescription ServiceEpisodeID SmokingStatus
SoftwareVersions SpecialNeeds StationName StudyComments StudyDescription StudyID:Z TextComments TextString
TopicAuthor TopicKeywords TopicSubject TopicTitle VerifyingObserverIdentificationCodeSequence
VerifyingObserverName:D VerifyingObserverSequence VerifyingOrganization VisitComments
AcquisitionProtocolDescription DataSetTrailingPadding DeviceDescription DeviceLabel EncryptedAttributesSequence
EthnicGroupCodeSequence FillerOrderNumberProcedure HumanPerformerOrganization InstitutionalDepartmentTypeCodeSequence
IssuerOfServiceEpisodeIDSequence LabelText LongDeviceDescription MACParametersSequence
OrderCallbackTelecomInformation PatientAlternativeCalendar PatientBirthDateInAlternativeCalendar
PatientDeathDateInAlternativeCalendar PatientInstitutionResidence PatientTelecomInformation
PerformedStationAETitle PerformedStationGeographicLocationCodeSequence PerformedStationName
PerformedStationNameCodeSequence PersonIdentificationCodeSequence PersonTelecomInformation
PlacerOrderNumberProcedure PreMedication ReferencedDigitalSignatureSequence ReferencedPatientPhotoSequence
ReferencedPerformedProcedureStepSequence ReferencedSOPInstanceMACSequence RequestingPhysicianIdentificationSequence
ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence ScheduledProcedureStepID
ScheduledProcedureStepLocation ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence
ScheduledStationName ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
SourceSerialNumber StorageMediaFileSetID StudyIDIssuer TimezoneOffsetFromUTC
"""
BASIC_PROFILE: dict[str, str] = {
    entry.split(":")[0]: (entry.split(":")[1] if ":" in entry else "X") for entry in _REMOVE.split()
}
"""Keyword → action: X remove, Z replace by an empty value, D replace by a dummy value."""

_KEEP_UIDS = {"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ReferencedSOPClassUID",
              "ImplementationClassUID", "CodingSchemeUID", "ContextGroupExtensionCreatorUID",
              "ReferencedTransferSyntaxUIDInFile", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID",
              "SOPClassesInStudy", "ReferencedSOPClassUIDInFile", "PrivateInformationCreatorUID"}
"""UI attributes that name a standard thing (a class, a syntax, a scheme), not an instance: kept."""

_CLEANED_PIXELS = "113101"
_METHOD_CODES = {"113100": "Basic Application Confidentiality Profile",
                 _CLEANED_PIXELS: "Clean Pixel Data Option",
                 "113107": "Retain Longitudinal Temporal Information Modified Dates Option"}
_MAX_SHIFT_DAYS = 3650
_DUMMY_NAME = "ANONYMOUS"


def pseudonym(patient_id: str, key: bytes) -> str:
    """``P-`` and 12 hex digits of HMAC-SHA256(key, patient id): stable for a key, not reversible without it."""
    return "P-" + hmac.new(key, patient_id.encode(), hashlib.sha256).hexdigest()[:12]


def _new_uid(uid: str, key: bytes) -> str:
    """Return a ``2.25.`` UID (PS3.5 B.2) from HMAC(key, uid): one original always gives the same new UID."""
    digest = hmac.new(key, b"uid:" + uid.encode(), hashlib.sha256).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def keyed_uid(uid: str, key: bytes) -> str:
    """Return the UID that de-identification with ``key`` gives ``uid``.

    Use it to name a de-identified file beforehand.
    """
    return _new_uid(uid, key)


def _shift_days(patient_id: str, key: bytes) -> int:
    """Days (1 … 3650) by which this patient's dates move back in time."""
    digest = hmac.new(key, b"days:" + patient_id.encode(), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:4], "big") % _MAX_SHIFT_DAYS


@dataclass(frozen=True)
class DeidOptions:
    """How to de-identify.

    Attributes
    ----------
    key : bytes
        Secret for pseudonyms, UIDs and date shifts (same key, same results; keep it private).
    remove_dates : bool
        Empty every date and time instead of shifting dates by a per-patient offset.
    clean_pixels : bool
        Blank the pixels outside the ultrasound regions (False keeps pixels; Burned In Annotation is then
        left as the source states it).
    region : (x0, y0, x1, y1), optional
        The image area to keep (x1/y1 exclusive), for files without ultrasound regions.
    """

    key: bytes
    remove_dates: bool = False
    clean_pixels: bool = True
    region: Box | None = None


@dataclass
class DeidSummary:
    """What a folder run did: counts, the files that failed (relative path, message) and the pseudonyms."""

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    pseudonyms: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- header
def _shift_date(text: str, days: int) -> str:
    """Return a DA value (YYYYMMDD) moved back by ``days``; an unreadable value becomes empty."""
    try:
        day = dt.datetime.strptime(text.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (day - dt.timedelta(days=days)).strftime("%Y%m%d")


def _shift_datetime(text: str, days: int) -> str:
    """Return a DT value: its date part moved back, the time (and offset) kept.

    A date-less value becomes empty.
    """
    text = text.strip()
    date = _shift_date(text[:8], days) if len(text) >= 8 else ""
    return date + text[8:] if date else ""


def _element_values(element: DataElement) -> list[str]:
    value = element.value
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [str(value)]


def _join(values: list[str], element: DataElement) -> Any:
    values = [v for v in values if v]
    if not values:
        return None if element.VR in ("UI",) else ""
    return values if element.VM != 1 and len(values) > 1 else values[0]


def _clean_dataset(ds: Dataset, *, key: bytes, days: int | None) -> None:
    """Apply the profile to ``ds`` and, recursively, to its sequence items (in place)."""
    ds.remove_private_tags()
    for element in list(ds):
        tag = element.tag
        if tag.group & 0xFF00 in (0x5000, 0x6000) or tag.group in (0x0000, 0x0002) or tag.element == 0:
            del ds[tag]  # curves, overlays (the image's own too); command or meta elements, group lengths
            continue
        keyword = element.keyword
        if element.VR == "UN":  # unknown content may hold anything: it goes
            del ds[tag]
            continue
        action = BASIC_PROFILE.get(keyword)
        if action == "X":
            del ds[tag]
            continue
        if action == "Z":
            element.value = ""
            continue
        if action == "D":
            element.value = _DUMMY_NAME if element.VR == "PN" else "0"
            continue
        if element.VR == "SQ":
            for item in element.value:
                _clean_dataset(item, key=key, days=days)
        elif element.VR == "PN" and keyword not in ("PatientName",):
            element.value = ""
        elif element.VR == "DA":
            element.value = "" if days is None else _join(
                [_shift_date(v, days) for v in _element_values(element)], element)
        elif element.VR == "DT":
            element.value = "" if days is None else _join(
                [_shift_datetime(v, days) for v in _element_values(element)], element)
        elif element.VR == "TM" and days is None:
            element.value = ""
        elif element.VR == "UI" and keyword not in _KEEP_UIDS:
            element.value = _join([v if v in UID_dictionary else _new_uid(v, key)
                                   for v in _element_values(element)], element)


def _method_codes(ds: Dataset, codes: list[str]) -> None:
    items = []
    for value in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", _METHOD_CODES[value]
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)


def deidentify_dataset(ds: Dataset, options: DeidOptions, *, pixels_cleaned: bool,
                       patient_alias: str | None = None) -> str:
    """De-identify the header of ``ds`` in place (pixels are the caller's); return the patient's pseudonym."""
    original_id = str(ds.get("PatientID", "") or "") or str(ds.get("PatientName", "") or "")
    alias = patient_alias or pseudonym(original_id, options.key)
    days = None if options.remove_dates else _shift_days(original_id, options.key)
    _clean_dataset(ds, key=options.key, days=days)
    ds.PatientName = alias
    ds.PatientID = alias
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED" if days is None else "MODIFIED"
    codes = ["113100"] + ([_CLEANED_PIXELS] if pixels_cleaned else []) + ([] if days is None else ["113107"])
    ds.DeidentificationMethod = [_METHOD_CODES[c] for c in codes] + ["ceuskit"]  # LO: one value per method
    _method_codes(ds, codes)
    if pixels_cleaned:
        ds.BurnedInAnnotation = "NO"
    if hasattr(ds, "file_meta"):
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for name in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                     "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID", "PrivateInformation"):
            if name in ds.file_meta:
                delattr(ds.file_meta, name)
    return alias


# ----------------------------------------------------------------------------------------------- pixels
def _keep_mask(ds: Dataset, options: DeidOptions, source: str) -> np.ndarray:
    """Return True where pixels are kept: inside the ultrasound regions (or the given region)."""
    rows, columns = int(ds.Rows), int(ds.Columns)
    if options.region is not None:
        boxes = [options.region]
    else:
        boxes = [r.box for r in ultrasound_regions(ds, rows, columns)]
    if not boxes:
        raise ClipError(f"{source}: no ultrasound regions (0018,6011) say where the image is; give the image "
                        "area with --region x0,y0,x1,y1, or keep the pixels with --keep-pixels")
    keep = np.zeros((rows, columns), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(columns, x1), min(rows, y1)
        if x1 <= x0 or y1 <= y0:
            raise ClipError(f"{source}: region {(x0, y0, x1, y1)} lies outside the {columns}×{rows} image")
        keep[y0:y1, x0:x1] = True
    return keep


def _cleaned_frames(path: Path, keep: np.ndarray) -> Iterator[np.ndarray]:
    for frame in iter_pixels(path):  # colour comes out as RGB, interleaved
        frame = np.array(frame, copy=True)
        frame[~keep] = 0
        yield frame


def _pixel_element_header(length: int, *, vr: bytes) -> bytes:
    """(7FE0,0010) OB/OW in Explicit VR Little Endian with a defined length."""
    return struct.pack("<HH2sHI", 0x7FE0, 0x0010, vr, 0, length)


# -------------------------------------------------------------------------------------------------- files
def _read(path: Path, *, pixels: bool = False) -> Dataset:
    """Read the dataset of ``path``, every value converted (a damaged one fails here).

    Reads are bounded by the file.

    Errors name the exception's type only: pydicom's messages may quote the (identifying) values.
    """
    try:
        with _quiet(), open(path, "rb") as fh:
            ds = read_dataset(fh, pixels=pixels)
    except Exception as exc:  # pydicom raises many kinds for malformed input
        raise ClipError(f"{path.name}: not a readable DICOM file ({type(exc).__name__})") from None
    if "SOPInstanceUID" not in ds:
        raise ClipError(f"{path.name}: not a DICOM image (no SOP Instance UID)")
    return ds


def deidentify_file(src: str | Path, dst: str | Path, options: DeidOptions, *, patient_alias: str | None = None
                    ) -> str:
    """Write a de-identified copy of the DICOM file ``src`` to ``dst`` (atomically); return the pseudonym.

    ``patient_alias`` replaces the keyed pseudonym as Patient Name and ID (e.g. a study's own pseudonym).

    Raises
    ------
    ClipError
        Not DICOM, pixels that cannot be decoded, or pixel cleaning asked for without a known image area.
    InputError
        ``dst`` is ``src``.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise InputError(f"{dst}: the output would overwrite the input; choose another output")
    with _quiet():
        try:
            return _deidentify_file(src, dst, options, patient_alias)
        except CeusError:
            raise
        except Exception as exc:  # pydicom refusing a damaged value while writing; its message may quote it
            raise ClipError(f"{src.name}: a damaged header value could not be written ({type(exc).__name__}); "
                            "it was not de-identified") from None


@contextmanager
def _quiet() -> Iterator[None]:
    """No pydicom warning or log record while a file is handled: they would quote the source's values."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _deidentify_file(src: Path, dst: Path, options: DeidOptions, patient_alias: str | None) -> str:
    if not options.clean_pixels:  # pixels kept as they are, in their own encoding
        full = _read(src, pixels=True)
        alias = deidentify_dataset(full, options, pixels_cleaned=False, patient_alias=patient_alias)
        with atomic_path(dst) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full.save_as(tmp, enforce_file_format=True)
        return alias
    ds = _read(src)
    keep = None
    if "Rows" in ds and "Columns" in ds:
        _check_size(ds, src.name)
        keep = _keep_mask(ds, options, src.name)
    alias = deidentify_dataset(ds, options, pixels_cleaned=keep is not None, patient_alias=patient_alias)
    with atomic_path(dst) as tmp:
        if keep is None:  # no image (e.g. a structured report): the header is all there is
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.save_as(tmp, enforce_file_format=True)
        else:
            _write_cleaned(src, ds, keep, tmp)
    return alias


def _check_size(ds: Dataset, source: str) -> None:
    """Enforce the reader's limits (frame size, frame count, decoded bytes, sample format).

    Absurd headers are refused.
    """
    pixel_format(ds, transfer_syntax_of(ds), "OB", source)


def _write_cleaned(src: Path, ds: Dataset, keep: np.ndarray, tmp: Path) -> None:
    """Header of ``ds`` + the cleaned frames, uncompressed, streamed frame by frame."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    big_endian = not ds.original_encoding[1]
    frames = _cleaned_frames(src, keep)
    try:
        first = next(frames)
    except Exception as exc:  # a decoder's own error: the file's pixel data cannot be read
        raise ClipError(f"{src.name}: its pixel data is truncated or cannot be decoded ({type(exc).__name__}); "
                        "it was not de-identified") from None
    if first.ndim == 3:  # YBR_* and RGB planar sources: the decoded frames are interleaved RGB
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = first.itemsize * 8
    if big_endian:  # OW values (palette tables, LUTs) are raw bytes in the source's byte order
        _swap_ow(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for tag in (0x7FE00010, 0xFFFCFFFC):
        if tag in ds:
            del ds[tag]
    frame_bytes = first.nbytes
    length = frame_bytes * n_frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = Dataset()  # no original encoding to hold on to: written as its transfer syntax says
        fresh.file_meta = ds.file_meta
        for element in ds:
            fresh.add(element)
        fresh.save_as(tmp, enforce_file_format=True)
    with open(tmp, "ab") as fh:
        fh.write(_pixel_element_header(length + (length & 1), vr=b"OB" if first.itemsize == 1 else b"OW"))
        written = 0
        try:
            for frame in _chain(first, frames):
                data = np.ascontiguousarray(frame, dtype=frame.dtype.newbyteorder("<")).tobytes()
                fh.write(data)
                written += len(data)
        except Exception as exc:
            raise ClipError(f"{src.name}: frame {written // max(frame_bytes, 1)} cannot be decoded "
                            f"({type(exc).__name__}); it was not de-identified") from None
        if written != length:
            raise ClipError(f"{src.name}: {written // max(frame_bytes, 1)} frames decoded where the header "
                            f"says {n_frames}; it was not de-identified")
        if length & 1:
            fh.write(b"\0")


def _swap_ow(ds: Dataset) -> None:
    """Byte-swap every OW value of ``ds`` and its sequences (big → little endian)."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _swap_ow(item)
        elif element.VR == "OW" and isinstance(element.value, bytes) and len(element.value) % 2 == 0:
            element.value = np.frombuffer(element.value, ">u2").astype("<u2").tobytes()


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def deidentify_tree(src: str | Path, dst: str | Path, options: DeidOptions, *,
                    progress: Callable[[int, int], None] | None = None) -> DeidSummary:
    """De-identify a file, or every DICOM file (Part 10, ``DICM`` preamble) of a folder tree into ``dst``.

    The tree's structure is mirrored; other files and symbolic links are skipped and counted; a bad file is
    recorded in ``failed`` and the others go on.  ``dst`` must not be inside ``src`` (nor the reverse).
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(2, "no such file", str(src))
    summary = DeidSummary()
    if src.is_file():
        if dst.is_dir():
            dst = dst / src.name
        original = str(_read(src).get("PatientID", "") or "")
        summary.pseudonyms[original] = deidentify_file(src, dst, options)
        summary.written = 1
        return summary
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents or dst_r in src_r.parents:
        raise InputError(f"{dst}: the output folder must lie outside the input folder (and not contain it)")
    files = sorted(p for p in src.rglob("*") if p.is_symlink() or p.is_file())
    for done, path in enumerate(files, 1):
        relative = path.relative_to(src)
        if path.is_symlink() or not _is_dicom(path):  # links are not followed (they may lead anywhere)
            summary.skipped += 1
        else:
            try:
                original = str(_read(path).get("PatientID", "") or "")
                summary.pseudonyms[original] = deidentify_file(path, dst / relative, options)
                summary.written += 1
            except (ClipError, InputError) as exc:
                summary.failed.append((str(relative), str(exc).splitlines()[0]))
        if progress is not None:
            progress(done, len(files))
    return summary


def load_or_create_key(path: str | Path | None) -> bytes:
    """Return the secret in ``path`` (created with 32 random bytes, mode 0600, when missing).

    Random when None.
    """
    if path is None:
        return os.urandom(32)
    path = Path(path)
    if path.exists():
        key = path.read_bytes()
        if len(key) < 16:
            raise InputError(f"{path}: a key file must hold at least 16 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32))
    return path.read_bytes()
