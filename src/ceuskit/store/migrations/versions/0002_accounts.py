"""Accounts, audit log and blinded reading sessions.

Users, api_tokens, web_sessions, audit_events, reading_sessions, reading_items, reading_assignments,
reading_reads.

Only adds tables: every study, lesion, analysis and manifest read of a 0001 database stays as it was.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE")


def upgrade() -> None:
    """Add the accounts, audit and reading-session tables listed in the module docstring."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("password_changed_at", _TS, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, _fk("users"), nullable=False, index=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, _fk("users"), nullable=False, index=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_sha256", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _TS, nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=False, index=True),
        sa.Column("action", sa.String(40), nullable=False, index=True),
        sa.Column("target", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
    )
    op.create_table(
        "reading_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, _fk("studies"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.UniqueConstraint("study_id", "name"),
    )
    op.create_table(
        "reading_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, _fk("reading_sessions"), nullable=False, index=True),
        sa.Column("lesion_id", sa.Integer, _fk("lesions"), nullable=False, index=True),
        sa.UniqueConstraint("session_id", "lesion_id"),
    )
    op.create_table(
        "reading_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, _fk("reading_sessions"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, _fk("users"), nullable=False, index=True),
        sa.Column("item_id", sa.Integer, _fk("reading_items"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("shown_at", _TS, nullable=True),
        sa.UniqueConstraint("session_id", "user_id", "item_id"),
        sa.UniqueConstraint("session_id", "user_id", "position"),
    )
    op.create_table(
        "reading_reads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, _fk("reading_items"), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, _fk("users"), nullable=False, index=True),
        sa.Column("arterial", sa.String(16), nullable=True),
        sa.Column("washout", sa.String(16), nullable=True),
        sa.Column("washout_timing", sa.String(16), nullable=True),
        sa.Column("late", sa.String(16), nullable=True),
        sa.Column("onset_s", sa.Float, nullable=True),
        sa.Column("reading_time_s", sa.Float, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("item_id", "user_id"),
    )


def downgrade() -> None:
    """Drop the tables :func:`upgrade` added (the 0001 tables stay as they were)."""
    for table in ("reading_reads", "reading_assignments", "reading_items", "reading_sessions", "audit_events",
                  "web_sessions", "api_tokens", "users"):
        op.drop_table(table)
