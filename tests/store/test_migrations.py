"""Opening a store and migrating its schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from truceline.errors import UsageError
from truceline.store import open_store
from truceline.store.__main__ import main
from truceline.store.migrate import head_revision
from truceline.store.schema import metadata

TABLES = {
    "sensors",
    "observations",
    "quarantine",
    "events",
    "violations",
    "reviews",
    "runs",
    "ledger_entries",
    "ledger_nodes",
    "ledger_heads",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_fresh_database_is_migrated_to_head(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.head_version() == head_revision() == "0003"
        assert store.schema_version() == store.head_version()
    assert TABLES | {"alembic_version"} <= _tables(store_url)


def test_migrating_again_changes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        store.upgrade()
        store.upgrade()
        assert store.schema_version() == store.head_version()
    with open_store(store_url) as store:
        assert store.schema_version() == store.head_version()


def test_the_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    with open_store(store_url):
        pass
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_without_upgrade_an_empty_database_stays_empty_and_says_what_to_do(
    store_url: str,
) -> None:
    with open_store(store_url, upgrade=False) as store:
        assert store.schema_version() is None
        with pytest.raises(UsageError, match="truceline db upgrade"):
            store.observation_count()
        store.upgrade()
        assert store.observation_count() == 0


def test_a_schema_from_a_newer_truceline_is_refused(store_url: str) -> None:
    with open_store(store_url):
        pass
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(UsageError, match=r"9999.*newer truceline"):
        open_store(store_url)


def test_the_migration_command_line_works_without_alembic_ini(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"url={store_url}"
    main(["--raiseerr", "-x", url, "upgrade", "head"])
    main(["--raiseerr", "-x", url, "current"])
    assert "0003 (head)" in capsys.readouterr().out
    main(["--raiseerr", "-x", url, "check"])  # autogenerate finds nothing to do
    main(["--raiseerr", "-x", url, "downgrade", "base"])
    assert _tables(store_url) <= {"alembic_version"}
    main(["--raiseerr", "-x", url, "upgrade", "head"])
    assert _tables(store_url) >= TABLES


def test_the_migration_command_line_prints_sql(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--raiseerr", "-x", "url=postgresql://example/truceline", "upgrade", "head", "--sql"])
    sql = capsys.readouterr().out
    assert "CREATE TABLE observations" in sql
    assert "time_ns BIGINT NOT NULL" in sql


# -- SQLite specifics ---------------------------------------------------------------------------


def test_a_plain_path_is_a_sqlite_file_and_its_directories_are_made(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "truceline.db"
    with open_store(str(path)) as store:
        assert store.backend == "sqlite"
        assert store.schema_version() == store.head_version()
    assert path.is_file()
    with open_store(path) as store:  # os.PathLike too
        assert store.url == f"sqlite:///{path}"


def test_sqlite_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.db") as store, store._engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_in_memory_sqlite_store_works() -> None:
    with open_store("sqlite://") as store:
        assert store.observation_count() == 0


# -- bad URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "no database given"),
        ("   ", "no database given"),
        ("mysql://user@localhost/truceline", "unsupported database"),
        ("oracle+nope://x/y", "unsupported database"),
        ("postgresql+nosuchdriver://user@localhost/db", "cannot use"),
        ("://nothing", "not a database URL"),
        ("sqlite:///file:x.db?mode=ro&uri=true", "URI file names"),
    ],
)
def test_an_unsupported_url_is_a_usage_error(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_store(url)


def test_an_unreachable_database_is_a_usage_error(tmp_path: Path) -> None:
    # A directory cannot be opened as a SQLite file.
    with pytest.raises(UsageError, match="cannot open database"):
        open_store(f"sqlite:///{tmp_path}")


def test_an_unreachable_postgresql_server_is_a_usage_error() -> None:
    # Either the driver is missing or nothing listens on port 1: both are usage errors.
    with pytest.raises(UsageError, match="postgresql"):
        open_store("postgresql+psycopg://nobody:secret@127.0.0.1:1/truceline")


def test_passwords_are_not_shown_in_errors() -> None:
    with pytest.raises(UsageError) as raised:
        open_store("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/truceline")
    assert "s3cret" not in str(raised.value)


def test_a_ledger_from_before_0003_is_migrated_and_still_verifies(store_url: str) -> None:
    """0003 moves the leaf hashes to the entries and drops the node hashes below level 4; its
    downgrade makes them again, as 0002 kept them. Roots, proofs and signed heads are the same
    before and after, and `ledger check` finds nothing."""
    from tests.store.factories import observation
    from truceline.ledger import merkle
    from truceline.ledger.audit import audit
    from truceline.ledger.keys import Ed25519PrivateKey
    from truceline.records import Sensor

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    with open_store(store_url, batch_size=7) as store:
        store.add_sensors([Sensor("A-01", "acoustic", "monitor", 37.8, 48.0)])
        store.add_observations([observation(f"obs-{i}", time_ns=i) for i in range(40)])
        head = store.ledger.sign_head(key)
        size = store.ledger.size()
        leaves = [entry.leaf_hash for entry in store.ledger.entries()]
        proofs = store.ledger.inclusion_proofs(range(size), size)
        consistency = [store.ledger.consistency_proof(m, size) for m in range(1, size + 1)]
    builder = merkle.TreeBuilder()
    old_nodes = {(level, i, h) for leaf in leaves for level, i, h in builder.append(leaf)}
    assert builder.root() == head.root_hash

    url = f"url={store_url}"
    main(["--raiseerr", "-x", url, "downgrade", "0002"])
    engine = sa.create_engine(store_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("ledger_entries")}
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT level, idx, hash FROM ledger_nodes")
            stored = {(int(level), int(i), bytes(h)) for level, i, h in rows}
    finally:
        engine.dispose()
    assert "leaf_hash" not in columns
    assert stored == old_nodes  # every complete subtree, as 0002's ledger kept them

    main(["--raiseerr", "-x", url, "upgrade", "head"])
    with open_store(store_url) as store:
        ledger = store.ledger
        assert ledger.root() == head.root_hash
        assert list(ledger.leaf_hashes()) == list(enumerate(leaves))
        assert ledger.inclusion_proofs(range(size), size) == proofs
        assert [ledger.consistency_proof(m, size) for m in range(1, size + 1)] == consistency
        assert audit(store, key.public_key()) == []
        assert {node[0] for node in old_nodes} >= {0, 4, 5}  # big enough to keep some
        store.add_observations([observation("obs-new", time_ns=99)])  # it appends as before
        assert audit(store, key.public_key()) == []
