"""Examinations: several clips per lesion (lesion_clips) and one ROI set per clip (rois.position).

Every lesion of an older database keeps its clip, as the first (position 0) of its ``lesion_clips``, and its
ROI set, at position 0; ``lesions.clip_id`` stays the first clip.  Nothing is deleted on the way up.  On the
way down, the clips and ROI sets beyond the first are dropped (a 0002 database holds one of each per lesion).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # names SQLite's unnamed constraints in batch mode


def _unique_on(table: str, columns: list[str]) -> str:
    """Return the name of the unique constraint on exactly ``columns``.

    SQLite's unnamed one is named as batch mode names it.
    """
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == columns:
            return constraint["name"] or f"uq_{table}_{columns[0]}"
    raise RuntimeError(f"no unique constraint on {table}({', '.join(columns)})")


def upgrade() -> None:
    """Add ``lesion_clips`` and ``rois.position``, keeping every lesion's clip and ROI set at position 0."""
    op.create_table(
        "lesion_clips",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("lesion_id", sa.Integer, sa.ForeignKey("lesions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("clip_id", sa.Integer, sa.ForeignKey("clips.id"), nullable=False, index=True),
        sa.Column("offset_s", sa.Float, nullable=True),
        sa.UniqueConstraint("lesion_id", "position", name="uq_lesion_clips_lesion_position"),
    )
    op.execute("INSERT INTO lesion_clips (lesion_id, position, clip_id, offset_s) "
               "SELECT id, 0, clip_id, NULL FROM lesions WHERE clip_id IS NOT NULL")
    old_unique = _unique_on("rois", ["lesion_id"])
    with op.batch_alter_table("rois", naming_convention=_SQLITE_NAMES) as batch:
        batch.add_column(sa.Column("position", sa.Integer, nullable=False, server_default="0"))
        batch.drop_constraint(old_unique, type_="unique")
        batch.create_unique_constraint("uq_rois_lesion_position", ["lesion_id", "position"])


def downgrade() -> None:
    """Drop the clips and ROI sets beyond the first of each lesion, then the 0003 table and column."""
    op.execute("DELETE FROM rois WHERE position <> 0")
    with op.batch_alter_table("rois", naming_convention=_SQLITE_NAMES) as batch:
        batch.drop_constraint("uq_rois_lesion_position", type_="unique")
        batch.drop_column("position")
        batch.create_unique_constraint("rois_lesion_id_key", ["lesion_id"])
    op.drop_table("lesion_clips")
