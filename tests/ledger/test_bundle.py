"""Evidence bundles: exported from a simulated run with signing sensors, verified offline, and
every changed byte found and named, by `verify` and by the independent docs/verify_bundle.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from truceline.cli import main
from truceline.config import Settings
from truceline.ledger.bundle import export_evidence, verify_bundle
from truceline.ledger.keys import init_key, load_private_key, load_public_key, public_key_b64
from truceline.process import process
from truceline.records import Review
from truceline.sim import simulate
from truceline.sim.scenario import parse_scenario, resolve_scenario_path
from truceline.store import open_store

ROOT = Path(__file__).parents[2]
CHECKER = ROOT / "docs" / "verify_bundle.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("evidence")
    data = yaml.safe_load(resolve_scenario_path("sector-quick").read_text(encoding="utf-8"))
    data["duration_h"] = 0.1
    data["signing"] = {
        "sensor_fraction": 0.6,
        "unsigned_fraction": 0.03,
        "bad_signature_fraction": 0.03,
    }
    sim = simulate(parse_scenario(data, "test"), 3, tmp / "sim", progress=False)
    key_path, pub_path = init_key(tmp / "keys" / "monitor.key")
    db = f"sqlite:///{tmp / 'truceline.db'}"
    settings = Settings.model_validate(
        {"store": {"url": db}, "ledger": {"key_path": str(key_path)}}
    )
    summary, events = process(
        tmp / "sim" / "agreement.yaml",
        tmp / "sim" / "sensors.geojson",
        tmp / "sim" / "observations.jsonl",
        tmp / "out",
        settings,
    )
    event = max(events, key=lambda e: len(e.evidence))
    with open_store(db) as store:
        store.add_review(Review(event.id, "confirmed", "waveforms checked", "analyst-1", 1))
        export_evidence(store, event.id, tmp / "bundle", key=load_private_key(key_path))
    return {
        "tmp": tmp,
        "sim": sim,
        "summary": summary,
        "bundle": tmp / "bundle",
        "pub": pub_path,
        "key": load_public_key(pub_path),
        "db": db,
        "event": event,
        "key_path": key_path,
    }


def test_bad_and_missing_signatures_are_quarantined(run: dict) -> None:
    made = run["sim"].signing
    quarantined = run["summary"].ingest.quarantined
    assert made["bad_signature"] > 0 and made["unsigned"] > 0
    assert quarantined["bad-signature"] == made["bad_signature"]
    assert quarantined["unsigned"] == made["unsigned"]
    assert run["summary"].ledger["signed"] is True


def test_an_exported_bundle_verifies(run: dict) -> None:
    result = verify_bundle(run["bundle"], run["key"])
    assert result.ok, result.problems
    manifest = json.loads((run["bundle"] / "manifest.json").read_text())
    kinds = {item["kind"] for item in manifest["entries"]}
    assert {"event", "observation", "sensor", "review"} <= kinds
    assert result.entries == len(manifest["entries"])
    assert result.signatures_checked > 0  # signed observations checked with their sensors' keys


def test_the_independent_checker_agrees(run: dict, tmp_path: Path) -> None:
    key = public_key_b64(run["key"])
    good = subprocess.run(
        [sys.executable, CHECKER, run["bundle"], key], capture_output=True, text=True
    )
    assert good.returncode == 0, good.stdout + good.stderr
    copy = tmp_path / "bundle"
    shutil.copytree(run["bundle"], copy)
    entry = sorted((copy / "entries").iterdir())[0]
    entry.write_bytes(entry.read_bytes().replace(b'"v":1', b'"v":2'))
    bad = subprocess.run([sys.executable, CHECKER, copy, key], capture_output=True, text=True)
    assert bad.returncode == 1 and entry.name in bad.stdout


def test_a_wrong_key_is_named(run: dict) -> None:
    from truceline.ledger.keys import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    problems = verify_bundle(run["bundle"], other).problems
    assert "manifest.json: key differs from the public key given with --key" in problems
    assert any(p.startswith("head.json: signature check failed") for p in problems)


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_changed_byte_is_found_and_named(run: dict, tmp_path: Path) -> None:
    files = sorted(p for p in run["bundle"].rglob("*") if p.is_file())
    tried = 0
    for original in files:
        name = original.relative_to(run["bundle"]).as_posix()
        size = original.stat().st_size
        for position in sorted({0, 1, size // 3, size // 2, size - 2, size - 1}):
            copy = tmp_path / f"b{tried}"
            shutil.copytree(run["bundle"], copy)
            _flip(copy / name, position)
            result = verify_bundle(copy, run["key"])
            assert not result.ok, f"flipping byte {position} of {name} went unnoticed"
            if name != "manifest.json":
                assert any(name in p for p in result.problems), (name, result.problems)
            shutil.rmtree(copy)
            tried += 1
    assert tried > 20


def test_an_extra_or_missing_file_is_named(run: dict, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(run["bundle"], copy)
    (copy / "entries" / "note.txt").write_text("hello")
    victim = sorted((copy / "proofs").iterdir())[-1]
    victim.unlink()
    problems = verify_bundle(copy, run["key"]).problems
    assert "entries/note.txt: not listed in manifest.json" in problems
    assert any(p.startswith(f"proofs/{victim.name}: cannot read") for p in problems)


def test_the_commands(run: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, key = run["db"], str(run["key_path"])
    out = tmp_path / "cli-bundle"

    def call(*args: str) -> int:
        with pytest.raises(SystemExit) as info:
            main(["--db", db, "--set", f"ledger.key_path={key}", *args])
        return info.value.code

    assert call("export-evidence", run["event"].id, "--out", str(out)) == 0
    assert call("verify", str(out), "--key", str(run["pub"])) == 0
    assert "OK" in capsys.readouterr().out
    assert call("ledger", "head", "--json") == 0
    head = json.loads(capsys.readouterr().out)
    assert head["signed_head"]["tree_size"] == head["tree_size"]
    assert call("ledger", "prove", f"event:{run['event'].id}", "--json") == 0
    assert json.loads(capsys.readouterr().out)["verified"] is True
    assert call("ledger", "consistency", "5", "--json") == 0
    assert json.loads(capsys.readouterr().out)["verified"] is True
    assert call("ledger", "check") == 0
    _flip(next((out / "entries").iterdir()), 10)
    assert call("verify", str(out), "--key", str(run["pub"])) == 1
    assert "FAIL entries/" in capsys.readouterr().out


def test_keys_init_makes_a_private_file_only_its_owner_reads(tmp_path: Path) -> None:
    private, public = init_key(tmp_path / "k" / "monitor.key")
    assert private.stat().st_mode & 0o777 == 0o600
    assert load_public_key(public) is not None
    from truceline.errors import UsageError

    with pytest.raises(UsageError, match="exists already"):
        init_key(private)
    with pytest.raises(UsageError, match="truceline keys init"):
        load_private_key(tmp_path / "missing.key")
