"""Alembic migrations of the study database, run programmatically by :func:`ceuskit.store.upgrade`."""
