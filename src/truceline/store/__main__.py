"""`python -m truceline.store [-x url=URL] COMMAND ...`: Alembic's command line on truceline's
migration scripts, without an alembic.ini.

The database is `-x url=URL` (a URL or a path to a SQLite file), else `$TRUCELINE_DB`, else
`sqlite:///truceline.db`. Examples: `upgrade head`, `current`, `history`, `check`,
`upgrade head --sql` (print the SQL instead of running it),
`revision --autogenerate --rev-id 0002 -m "add sensor status"` (new revision files are then
tidied with ruff, when it is installed). See docs/store.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic.config import CommandLine

from truceline.store.migrate import migrations_config


def _ruff() -> str | None:
    beside_python = Path(sys.executable).with_name("ruff")
    return str(beside_python) if beside_python.is_file() else shutil.which("ruff")


def main(argv: Sequence[str] | None = None) -> None:
    """Run one Alembic command on truceline's migrations."""
    cli = CommandLine(prog="python -m truceline.store")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    url = os.environ.get("TRUCELINE_DB") or "sqlite:///truceline.db"
    if "://" not in url:
        url = f"sqlite:///{url}"
    config = migrations_config(url)
    config.cmd_opts = options
    ruff = _ruff()
    if ruff is not None:
        # Generated revision files come out ruff-clean.
        config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        for hook, arguments in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format")):
            config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
            config.set_section_option("post_write_hooks", f"{hook}.executable", ruff)
            config.set_section_option(
                "post_write_hooks", f"{hook}.options", f"{arguments} REVISION_SCRIPT_FILENAME"
            )
    cli.run_cmd(config, options)


if __name__ == "__main__":
    main(sys.argv[1:])
