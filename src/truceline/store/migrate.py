"""Schema migrations: Alembic, run from Python on the scripts shipped inside this package.

No `alembic.ini` is needed: `Store.upgrade()` migrates a database to the newest schema, and
`python -m truceline.store` is Alembic's command line for developers (see docs/store.md).
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory


def migrations_dir() -> Path:
    """The directory of the migration scripts (`env.py`, `versions/`) inside the package."""
    location = files("truceline.store").joinpath("migrations")
    if not isinstance(location, Path):
        raise RuntimeError(
            f"truceline's migration scripts are not on the file system ({location}); "
            "install truceline as files, not as a zip archive"
        )
    return location


def migrations_config(url: str | None = None) -> Config:
    """An Alembic configuration for truceline's migrations; `url` is used when no connection is
    passed in `config.attributes["connection"]`."""
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # Revision files are named `<rev-id>_<slug>.py`, e.g. `0002_add_sensor_status.py`.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema version this truceline knows."""
    head = ScriptDirectory.from_config(migrations_config()).get_current_head()
    if head is None:
        raise RuntimeError("truceline's migration scripts define no revision")
    return head
