"""Fixtures for the store tests: each test runs on a fresh SQLite file and, when
`TRUCELINE_TEST_POSTGRES_URL` is set (e.g. `postgresql+psycopg://postgres@localhost/truceline_test`),
again on PostgreSQL, in a schema of its own that is dropped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from truceline.store import Store, open_store

POSTGRES_ENV = "TRUCELINE_TEST_POSTGRES_URL"

BACKENDS = ["sqlite"]
if os.environ.get(POSTGRES_ENV):
    BACKENDS.append("postgresql")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'truceline.db'}"
        return
    base = sa.make_url(os.environ[POSTGRES_ENV])
    schema = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store on an empty database, migrated to the newest schema."""
    with open_store(store_url, batch_size=100) as opened:
        yield opened
