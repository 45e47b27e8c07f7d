"""The store fixtures (SQLite, and PostgreSQL when TRUCELINE_TEST_POSTGRES_URL is set)."""

from tests.store.conftest import store, store_url

__all__ = ["store", "store_url"]
