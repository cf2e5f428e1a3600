"""Initial study schema: studies, patients, clips, lesions, rois, analyses, reader_reads.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables of the first schema: studies, patients, clips, lesions, rois, analyses and reads."""
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("pseudonym", sa.String(100), nullable=False),
        sa.UniqueConstraint("study_id", "pseudonym"),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("mtime_ns", sa.BigInteger, nullable=True),
        sa.Column("header", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "lesions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("primary_site", sa.String(100), nullable=True),
        sa.Column("ki67_percent", sa.Float, nullable=True),
        sa.Column("who_grade", sa.String(8), nullable=True),
        sa.Column("who_grade_source", sa.String(16), nullable=True),
        sa.Column("size_mm", sa.Float, nullable=True),
        sa.Column("injection_time_s", sa.Float, nullable=False),
        sa.Column("dynamic_range_db", sa.Float, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("clip_id", sa.Integer, sa.ForeignKey("clips.id"), nullable=True, index=True),
        sa.UniqueConstraint("patient_id", "label"),
    )
    op.create_table(
        "rois",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lesion_id", sa.Integer, sa.ForeignKey("lesions.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("roi_name", sa.String(100), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lesion_id", sa.Integer, sa.ForeignKey("lesions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("software_version", sa.String(40), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("parameter_hash", sa.String(64), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False, index=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=False),
    )
    op.create_table(
        "reader_reads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lesion_id", sa.Integer, sa.ForeignKey("lesions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("reader", sa.String(100), nullable=False),
        sa.Column("arterial", sa.String(16), nullable=True),
        sa.Column("washout", sa.String(16), nullable=True),
        sa.Column("late", sa.String(16), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("lesion_id", "reader"),
    )


def downgrade() -> None:
    """Drop every table of the first schema (all data goes with them)."""
    for table in ("reader_reads", "analyses", "rois", "lesions", "clips", "patients", "studies"):
        op.drop_table(table)
