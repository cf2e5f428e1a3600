"""The study database schema (SQLAlchemy 2 declarative models).

One database may hold several studies.  Patients carry pseudonymous ids only.  A lesion has one clip
and one ROI set; each ``ceuskit study run`` appends an :class:`AnalysisRecord` per lesion it analyses,
and the newest record of a lesion is its current result.  The Alembic migrations in
``store/migrations`` create exactly these tables; change both together.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["AnalysisRecord", "Base", "Clip", "Lesion", "Patient", "ReaderRead", "RoiSetRecord", "Study", "utcnow"]


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    patients: Mapped[list[Patient]] = relationship(back_populates="study", order_by="Patient.id")


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("study_id", "pseudonym"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(100))
    study: Mapped[Study] = relationship(back_populates="patients")
    lesions: Mapped[list[Lesion]] = relationship(back_populates="patient", order_by="Lesion.id")


class Clip(Base):
    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    header: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lesion(Base):
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
    roi_set: Mapped[RoiSetRecord | None] = relationship(back_populates="lesion", uselist=False)


class RoiSetRecord(Base):
    __tablename__ = "rois"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    roi_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lesion: Mapped[Lesion] = relationship(back_populates="roi_set")


class AnalysisRecord(Base):
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
    __tablename__ = "reader_reads"
    __table_args__ = (UniqueConstraint("lesion_id", "reader"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)
    reader: Mapped[str] = mapped_column(String(100))
    arterial: Mapped[str | None] = mapped_column(String(16), nullable=True)
    washout: Mapped[str | None] = mapped_column(String(16), nullable=True)
    late: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
