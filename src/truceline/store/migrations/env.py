"""Alembic environment for truceline's store.

`Store.upgrade()` passes an open connection in `config.attributes["connection"]`; Alembic's command
line (`python -m truceline.store.migrate`) passes a URL (`-x url=URL` overrides it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from truceline.store.schema import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url if "://" in url else f"sqlite:///{url}"
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x url=URL or set $TRUCELINE_DB")
    return url


def _configure(**kwargs: object) -> None:
    # Batch operations let ALTER TABLE work on SQLite (by copying the table) and are plain ALTERs
    # on PostgreSQL, so one migration script serves both.
    context.configure(target_metadata=metadata, render_as_batch=True, compare_type=True, **kwargs)


def run_offline() -> None:
    """Write the SQL of the migrations instead of running them (`--sql`)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
