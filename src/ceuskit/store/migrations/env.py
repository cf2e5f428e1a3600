"""Alembic environment: runs on the connection that :func:`ceuskit.store.migrate.upgrade` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ceuskit.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand with sqlalchemy.url set
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite:///ceuskit.db")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
