"""The store: truceline's records in SQLite (the default) or PostgreSQL, behind one `Store`.

>>> from truceline.store import open_store
>>> with open_store("sqlite://") as store:   # in memory; usually a file path
...     store.schema_version() == store.head_version()
True
"""

from truceline.store.repository import DEFAULT_BATCH_SIZE, AddResult, Store, open_store

__all__ = ["DEFAULT_BATCH_SIZE", "AddResult", "Store", "open_store"]
