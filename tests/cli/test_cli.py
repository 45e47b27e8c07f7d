"""The command line: help everywhere, version, config show with origins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from truceline import __version__
from truceline.cli import main

COMMANDS = [
    [],
    ["agreement"],
    ["agreement", "check"],
    ["agreement", "show"],
    ["agreement", "export"],
    ["config"],
    ["config", "show"],
    ["config", "docs"],
    ["db"],
    ["db", "upgrade"],
    ["db", "status"],
    ["simulate"],
    ["ingest"],
    ["process"],
    ["evaluate"],
    ["place"],
    ["keys"],
    ["keys", "init"],
    ["keys", "show"],
    ["ledger"],
    ["ledger", "head"],
    ["ledger", "prove"],
    ["ledger", "consistency"],
    ["ledger", "check"],
    ["export-evidence"],
    ["verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "truceline")
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "Usage:" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"truceline {__version__}"


def test_config_show_reports_origins(capsys, monkeypatch):
    monkeypatch.setenv("TRUCELINE_LOG_LEVEL", "ERROR")
    with pytest.raises(SystemExit) as info:
        main(["--db", "sqlite:///x.db", "config", "show", "--json"])
    assert info.value.code == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["store.url"]["value"] == "sqlite:///x.db" and rows["store.url"]["origin"] == "flag"
    assert rows["log.level"]["origin"] == "env TRUCELINE_LOG_LEVEL"


def test_bad_setting_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--set", "log.level=LOUD", "config", "show"])
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "log.level" in err[0]


def test_console_script_runs_as_module():
    out = subprocess.run(
        [sys.executable, "-m", "truceline", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"truceline {__version__}"


def test_db_status_of_a_missing_store_says_so_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "none.db"
    for db in (str(path), f"sqlite:///{path}"):
        with pytest.raises(SystemExit) as info:
            main(["--db", db, "db", "status"])
        assert info.value.code == 2
        assert "run `truceline db upgrade`" in capsys.readouterr().err
        assert not path.exists()
    with pytest.raises(SystemExit) as info:
        main(["--db", str(path), "db", "upgrade"])
    assert info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["--db", str(path), "db", "status"])
    assert info.value.code == 0
    assert "observations: 0" in capsys.readouterr().out
