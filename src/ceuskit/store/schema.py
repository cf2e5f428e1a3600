"""The study database schema (SQLAlchemy 2 declarative models).

One database may hold several studies.  Patients carry pseudonymous ids only.  A lesion has the clips of
one examination (:class:`LesionClip`, a continuous loop and late-phase sweeps; usually just one) and one ROI
set per clip (:class:`RoiSetRecord` by position); ``lesions.clip_id`` is its first clip, kept by the
repository for the readers of a single clip.  Each ``ceuskit study run`` appends an :class:`AnalysisRecord`
per lesion it analyses, and the newest record of a lesion is its current result.  Accounts (users, API tokens, browser sessions),
the audit log and blinded reading sessions live beside the study tables; secrets are stored only as hashes
(Argon2 for passwords, SHA-256 for random 256-bit tokens).  The Alembic migrations in
``store/migrations`` create exactly these tables; change both together.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["AnalysisRecord", "ApiToken", "AuditEvent", "Base", "Clip", "Lesion", "LesionClip", "Patient", "ReaderRead",
           "ReadingAssignment", "ReadingItem", "ReadingRead", "ReadingSession", "RoiSetRecord", "Study", "User",
           "WebSession", "as_utc", "utcnow"]


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Return a stored time as an aware UTC datetime.

    SQLite gives naive UTC, PostgreSQL the session's zone.
    """
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Study(Base):
    """A named study (cohort): its patients."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    patients: Mapped[list[Patient]] = relationship(back_populates="study", order_by="Patient.id")


class Patient(Base):
    """A patient of a study, known only by a pseudonym unique within the study."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("study_id", "pseudonym"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(100))
    study: Mapped[Study] = relationship(back_populates="patients")
    lesions: Mapped[list[Lesion]] = relationship(back_populates="patient", order_by="Lesion.id")


class Clip(Base):
    """A clip file: its path, SHA-256, size (bytes), modification time (ns) and header summary."""

    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    header: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lesion(Base):
    """A lesion of a patient: its label, clinical facts, injection time (s), dynamic range (dB) and clips."""

    __tablename__ = "lesions"
    __table_args__ = (UniqueConstraint("patient_id", "label"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    primary_site: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ki67_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    who_grade: Mapped[str | None] = mapped_column(String(8), nullable=True)
    who_grade_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    size_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    injection_time_s: Mapped[float] = mapped_column(Float, default=0.0)
    dynamic_range_db: Mapped[float] = mapped_column(Float, default=60.0)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clip_id: Mapped[int | None] = mapped_column(ForeignKey("clips.id"), nullable=True, index=True)
    patient: Mapped[Patient] = relationship(back_populates="lesions")
    clip: Mapped[Clip | None] = relationship()
    exam_clips: Mapped[list[LesionClip]] = relationship(order_by="LesionClip.position",
                                                        cascade="all, delete-orphan", passive_deletes=True)
    roi_sets: Mapped[list[RoiSetRecord]] = relationship(back_populates="lesion", order_by="RoiSetRecord.position",
                                                        cascade="all, delete-orphan", passive_deletes=True)

    @property
    def roi_set(self) -> RoiSetRecord | None:
        """The first clip's ROI set (position 0), or None."""
        return next((r for r in self.roi_sets if r.position == 0), None)


class LesionClip(Base):
    """One clip of a lesion's examination; ``position`` is its place in the manifest's list (0 = first).

    ``offset_s`` is an explicit start, seconds after the examination's first frame, for a clip whose file
    states no acquisition time (None: placed by its acquisition time).
    """

    __tablename__ = "lesion_clips"
    __table_args__ = (UniqueConstraint("lesion_id", "position", name="uq_lesion_clips_lesion_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"), index=True)
    offset_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    clip: Mapped[Clip] = relationship()


class RoiSetRecord(Base):
    """The ROI document drawn on one clip of a lesion (``position`` as in :class:`LesionClip`)."""

    __tablename__ = "rois"
    __table_args__ = (UniqueConstraint("lesion_id", "position", name="uq_rois_lesion_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    roi_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lesion: Mapped[Lesion] = relationship(back_populates="roi_sets")


class AnalysisRecord(Base):
    """One analysis of a lesion: status, analysis.json document or error, version, parameters and hashes."""

    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    software_version: Mapped[str] = mapped_column(String(40))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parameter_hash: Mapped[str] = mapped_column(String(64))
    input_hash: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReaderRead(Base):
    """A reader's read of a lesion: arterial and wash-out labels, one row per lesion and reader."""

    __tablename__ = "reader_reads"
    __table_args__ = (UniqueConstraint("lesion_id", "reader"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)
    reader: Mapped[str] = mapped_column(String(100))
    arterial: Mapped[str | None] = mapped_column(String(16), nullable=True)
    washout: Mapped[str | None] = mapped_column(String(16), nullable=True)
    late: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person who signs in: ``role`` admin or reader; only the Argon2 hash of the password is kept."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A user's API token for scripts (``Authorization: Bearer``); only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSession(Base):
    """A browser sign-in: the cookie's SHA-256, its CSRF tokens' SHA-256s, when it was last used and ended."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_sha256: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEvent(Base):
    """Who did what, when: sign-ins, user changes, ROI edits, analyses, reads, exports, reports."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReadingSession(Base):
    """A blinded reading session of a study: its lesions, read by its readers in their own random order."""

    __tablename__ = "reading_sessions"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReadingItem(Base):
    """One lesion to read in a reading session."""

    __tablename__ = "reading_items"
    __table_args__ = (UniqueConstraint("session_id", "lesion_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reading_sessions.id", ondelete="CASCADE"), index=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)


class ReadingAssignment(Base):
    """Where an item comes in a reader's own random order, and when it was first shown to them."""

    __tablename__ = "reading_assignments"
    __table_args__ = (UniqueConstraint("session_id", "user_id", "item_id"),
                      UniqueConstraint("session_id", "user_id", "position"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reading_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("reading_items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    shown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReadingRead(Base):
    """A reader's final read of an item: labels, the onset they marked (s after injection), when."""

    __tablename__ = "reading_reads"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("reading_items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    arterial: Mapped[str | None] = mapped_column(String(16), nullable=True)
    washout: Mapped[str | None] = mapped_column(String(16), nullable=True)
    washout_timing: Mapped[str | None] = mapped_column(String(16), nullable=True)
    late: Mapped[str | None] = mapped_column(String(16), nullable=True)
    onset_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    reading_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
