"""The repository: records in and out of a SQLite or PostgreSQL database, in batches.

Writes take any iterable and commit one transaction per batch of `batch_size` records, so a
stream of millions of observations needs memory for one batch only. Reads return records equal
to the ones written: times as int ns, raw text byte for byte, mappings as `FrozenDict`s.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    StatementError,
)

from truceline.errors import UsageError
from truceline.jsontext import json_encoder
from truceline.ledger.canonical import canonical_text
from truceline.records import (
    EMPTY,
    AcousticArrival,
    Ellipse,
    Event,
    Observation,
    Origin,
    Provenance,
    Quarantined,
    Review,
    Run,
    Sensor,
    Violation,
    freeze,
)
from truceline.store import schema
from truceline.store.migrate import head_revision, migrations_config
from truceline.timeutil import format_time, now_ns

if TYPE_CHECKING:
    from truceline.ledger.store import EventTexts  # at run time it imports the schema

DEFAULT_BATCH_SIZE = 5000
"""Records written per transaction unless the caller says otherwise (`store.batch_size`)."""

SUPPORTED_BACKENDS = ("sqlite", "postgresql")

# Tries at writing a batch of observations when another writer keeps storing some of them.
_WRITE_ATTEMPTS = 5

# Ids per `IN (...)` list: well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_CHUNK = 500

T = TypeVar("T")

DEFERRED_INDEXES = (
    *sorted(schema.observations.indexes, key=lambda index: str(index.name)),
    *sorted(schema.ledger_entries.indexes, key=lambda index: str(index.name)),
)
"""Secondary indexes `Store.bulk_load` builds after loading a fresh SQLite store instead of
keeping them up row by row."""

# Compact UTF-8 JSON; NaN and infinities are refused, as PostgreSQL's JSON type refuses them.
# (Made once: see truceline.jsontext.)
_json_serializer = json_encoder(sort_keys=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class AddResult:
    """What `Store.add_observations` did with the observations it was given.

    `duplicates` were already stored with the same content (a no-op). `conflicts` reuse a stored
    id with different content: they were not stored, and the caller should quarantine them with
    reason code `duplicate-conflict`.
    """

    inserted: int = 0
    duplicates: int = 0
    conflicts: tuple[Observation, ...] = ()

    def __add__(self, other: AddResult) -> AddResult:
        return AddResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
        )


class _StoredMeanwhileError(Exception):
    """Another writer stored some of the observations being inserted (the batch is retried)."""


def open_store(
    url: str | os.PathLike[str],
    *,
    upgrade: bool = True,
    create: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ledger: bool = True,
) -> Store:
    """Open the store at `url`: an SQLAlchemy URL or a plain path to a SQLite file.

    SQLite files are created, with their parent directories, as needed; with `create` False a
    missing SQLite file is an error instead (for commands that only look). With `upgrade` the
    schema is migrated to the newest version. Raises `UsageError` for an unsupported or
    unreachable database. With `ledger` (setting `ledger.enabled`), every record written is
    also appended to the evidence ledger (`Store.ledger`; docs/ledger.md).
    """
    engine = _create_engine(url, create=create)
    store = Store(engine, batch_size=batch_size, ledger=ledger)
    try:
        store._check_reachable()
        if upgrade:
            store.upgrade()
    except BaseException:
        store.close()
        raise
    return store


def _create_engine(url: str | os.PathLike[str], *, create: bool = True) -> Engine:
    text = os.fspath(url) if isinstance(url, os.PathLike) else url
    if not isinstance(text, str) or not text.strip():
        raise UsageError("no database given: pass a path to a SQLite file or a database URL")
    if "://" in text:
        try:
            parsed = sa.make_url(text)
        except ArgumentError:
            shown = re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", text)
            raise UsageError(f"{shown!r} is not a database URL") from None
    else:
        parsed = sa.URL.create("sqlite", database=str(Path(text).expanduser()))
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise UsageError(
            f"unsupported database {shown}: truceline stores its data in SQLite (a file path or "
            f"sqlite:///PATH) or PostgreSQL (postgresql+psycopg://USER@HOST/DBNAME)"
        )
    database = parsed.database
    if backend == "sqlite" and database and database != ":memory:":
        if database.startswith("file:"):
            raise UsageError(f"{shown}: SQLite URI file names are not supported; give a path")
        if not create and not Path(database).exists():
            raise UsageError(f"no store at {database}: run `truceline db upgrade` to create it")
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the directory for {shown}: {exc}") from None
    try:
        engine = sa.create_engine(
            parsed, json_serializer=_json_serializer, pool_pre_ping=backend != "sqlite"
        )
    except (NoSuchModuleError, ImportError) as exc:
        hint = " (pip install psycopg)" if backend == "postgresql" else ""
        raise UsageError(
            f"cannot use {shown}: its database driver is missing{hint}: {exc}"
        ) from None
    except ArgumentError as exc:
        raise UsageError(f"cannot use {shown}: {exc}") from None
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster than FULL
    # 64 MiB of page cache (the default is 2 MiB): inserting millions of rows touches index pages
    # all over the file, and each miss is a read.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    """truceline's database: sensors, observations, quarantine, events, violations, reviews, runs.

    Use `open_store` to make one; close it with `close()` or a `with` block.
    """

    def __init__(
        self, engine: Engine, *, batch_size: int = DEFAULT_BATCH_SIZE, ledger: bool = True
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self._engine = engine
        self.batch_size = batch_size
        """Records written per transaction when a call does not say."""
        self._schema_checked = False
        self._head: str | None = None
        self._bulk: list[bool] = []  # the bulk loads open (nested ones within the outermost)
        backend = engine.dialect.name
        self._insert: Callable[[sa.Table], Any] = (
            postgresql.insert if backend == "postgresql" else sqlite.insert
        )
        from truceline.ledger.store import Ledger  # here: the ledger imports the store's schema

        self.ledger: Ledger | None = Ledger(engine) if ledger else None
        """The evidence ledger every write appends to, in the same transaction; None if off."""

    # -- lifecycle and schema -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def _check_reachable(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError as exc:
            raise UsageError(f"cannot open database {self.url}: {exc.orig}") from None

    def head_version(self) -> str:
        """The newest schema version this truceline knows (an Alembic revision id)."""
        if self._head is None:
            self._head = head_revision()
        return self._head

    def schema_version(self) -> str | None:
        """The database's schema version, or None if it has none yet."""
        with self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def upgrade(self) -> None:
        """Migrate the schema to `head_version()`; a no-op if it is there already."""
        current = self.schema_version()
        config = migrations_config()
        if current is not None:
            try:
                ScriptDirectory.from_config(config).get_revision(current)
            except CommandError:
                raise UsageError(
                    f"database {self.url} has schema version {current!r}, unknown to this "
                    f"truceline (newest {self.head_version()!r}): a newer truceline wrote it"
                ) from None
            if current == self.head_version():
                self._schema_checked = True
                return
        with self._engine.connect() as connection:
            sqlite_backend = connection.dialect.name == "sqlite"
            if sqlite_backend:
                # A migration that rebuilds a table must not cascade deletes through foreign
                # keys; SQLite only changes this setting outside a transaction.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                if sqlite_backend:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    connection.commit()
                    if broken:
                        raise RuntimeError(f"schema migration broke foreign keys: {broken[:5]}")
            finally:
                if sqlite_backend:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()
        self._schema_checked = True

    def _require_schema(self) -> None:
        if self._schema_checked:
            return
        current = self.schema_version()
        if current != self.head_version():
            raise UsageError(
                f"database {self.url} has schema version {current!r}; this truceline needs "
                f"{self.head_version()!r}: run `truceline db upgrade`"
            )
        self._schema_checked = True

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One transaction. A value the database cannot hold (NaN or infinity in a mapping, an
        object JSON cannot encode) raises ValueError or TypeError, whichever the driver."""
        try:
            with self._engine.begin() as connection:
                yield connection
        except BaseException as exc:
            if self.ledger is not None:
                self.ledger.reset()  # its cached right edge may hold what was rolled back
            if isinstance(exc, StatementError):
                orig = exc.orig
                if isinstance(orig, ValueError | TypeError) and not isinstance(exc, DBAPIError):
                    raise type(orig)(f"cannot store a record: {orig}") from exc
            raise

    def _to_ledger(
        self,
        connection: Connection,
        kind: str,
        records: Iterable[Any],
        run_id: str | None,
        *,
        new: bool = False,
    ) -> None:
        """Append records just written to the ledger, in the same transaction."""
        if self.ledger is not None:
            self.ledger.append(connection, kind, records, run_id=run_id, new=new)

    def _batch_size(self, batch_size: int | None) -> int:
        size = self.batch_size if batch_size is None else batch_size
        if size < 1:
            raise ValueError(f"batch_size must be at least 1, not {size}")
        return size

    # -- sensors --------------------------------------------------------------------------------

    def add_sensors(self, sensors: Iterable[Sensor], *, batch_size: int | None = None) -> int:
        """Store sensors, replacing any stored under the same id. Returns how many were given."""
        self._require_schema()
        table = schema.sensors
        insert = self._insert(table)
        stmt = insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={c.name: insert.excluded[c.name] for c in table.c if c.name != "id"},
        )
        count = 0
        for batch in _batches(sensors, self._batch_size(batch_size)):
            rows = {sensor.id: _sensor_row(sensor) for sensor in batch}  # last one wins
            with self._writing() as connection:
                connection.execute(stmt, list(rows.values()))
                self._to_ledger(connection, "sensor", {s.id: s for s in batch}.values(), None)
            count += len(batch)
        return count

    def sensors(self) -> list[Sensor]:
        """All sensors, by id."""
        self._require_schema()
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(schema.sensors).order_by(schema.sensors.c.id))
            return [_sensor(row) for row in rows]

    # -- bulk loading ---------------------------------------------------------------------------

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """A bulk load of observations (an ingest): on a SQLite store without observations yet,
        the secondary indexes that storing them would keep up row by row (`DEFERRED_INDEXES`:
        observations by time and by sensor and time, ledger entries by kind and record id) are
        dropped, and built once, from the whole tables, when the block ends (also if it fails).
        Yields whether they were. Nothing during an ingest reads by them; the observations'
        primary key, which finds a re-sent id, is kept. On a store holding observations already,
        or on PostgreSQL (other readers may be using it), they are kept; any missing after an
        interrupted load are built first. A bulk load within another is part of it: the
        indexes are built when the outermost ends (so a caller can leave them until it would
        otherwise wait, `truceline.process`)."""
        self._require_schema()
        if self._bulk:
            self._bulk.append(self._bulk[0])
            try:
                yield self._bulk[0]
            finally:
                self._bulk.pop()
            return
        deferred = False
        if self.backend == "sqlite":
            with self._writing() as connection:
                stored = connection.exec_driver_sql("SELECT 1 FROM observations LIMIT 1").first()
                if stored is None:
                    for index in DEFERRED_INDEXES:
                        connection.execute(sa.schema.DropIndex(index, if_exists=True))
                    deferred = True
                else:
                    self._build_deferred_indexes(connection)
        self._bulk.append(deferred)
        try:
            yield deferred
        finally:
            self._bulk.pop()
            if deferred:
                with self._writing() as connection:
                    self._build_deferred_indexes(connection)

    @staticmethod
    def _build_deferred_indexes(connection: Connection) -> None:
        for index in DEFERRED_INDEXES:
            connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))

    # -- observations ---------------------------------------------------------------------------

    def add_observations(
        self,
        observations: Iterable[Observation],
        *,
        run_id: str | None = None,
        batch_size: int | None = None,
    ) -> AddResult:
        """Store observations once each.

        An observation whose id is already stored, with the same raw text or the same content
        (kind, sensor, time, signature, fields), is a duplicate: nothing is written. One whose id
        is stored with different content is a conflict: nothing is written and it is returned in
        `AddResult.conflicts`. The same holds between observations in one call.
        """
        self._require_schema()
        result = AddResult()
        for batch in _batches(observations, self._batch_size(batch_size)):
            result += self._add_observation_batch(batch, run_id)
        return result

    def _add_observation_batch(self, batch: list[Observation], run_id: str | None) -> AddResult:
        from truceline.ledger.store import observation_text  # here: it imports the schema

        first: dict[str, int] = {}  # id -> index of its first occurrence in the batch
        for index, observation in enumerate(batch):
            first.setdefault(observation.id, index)
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._writing() as connection:
                    # One indexed look-up per id, of the id alone; usually none is stored and
                    # all are new. Only the stored ones are read whole (to compare). In a bulk
                    # load into a store that was empty, only this load stored any, and its
                    # reader passes each id once: none is looked up first (one stored by
                    # another writer meanwhile fails the insert, and the batch is tried again
                    # with the look-up).
                    fresh = attempt == 0 and bool(self._bulk) and self._bulk[0]
                    found = [] if fresh else self._stored_ids(connection, list(first))
                    stored = (
                        {o.id: o for o in self._observations_by_id(connection, found)}
                        if found
                        else {}
                    )
                    new = [batch[index] for i, index in first.items() if i not in stored]
                    if new:
                        # Each one's fields encoded once, canonically, for its row and its
                        # ledger entry (the row's key order is immaterial: JSON objects).
                        fields = [canonical_text(o.fields) for o in new]
                        self._insert_observations(connection, new, run_id, fields)
                        if self.ledger is not None:
                            self.ledger.append(
                                connection,
                                "observation",
                                new,
                                run_id=run_id,
                                new=True,
                                record_texts=[
                                    observation_text(o, f) for o, f in zip(new, fields, strict=True)
                                ],
                            )
                break
            except _StoredMeanwhileError:
                continue  # rolled back: look again
        else:
            raise RuntimeError(
                f"observations kept being stored by another writer ({_WRITE_ATTEMPTS} attempts)"
            )
        inserted = {o.id for o in new}
        for observation in new:
            stored[observation.id] = observation
        duplicates = 0
        conflicts: list[Observation] = []
        for index, observation in enumerate(batch):
            if index == first[observation.id] and observation.id in inserted:
                continue
            reference = stored.get(observation.id)
            if reference is None or _same_observation(reference, observation):
                duplicates += 1
            else:
                conflicts.append(observation)
        return AddResult(len(inserted), duplicates, tuple(conflicts))

    @staticmethod
    def _insert_observations(
        connection: Connection,
        observations: list[Observation],
        run_id: str | None,
        fields: Sequence[str],
    ) -> None:
        """Insert observations whose ids were not stored a moment ago, as a plain executemany
        of tuples (a third of the cost of Core's insert of dicts; there are millions a day);
        `fields` holds each one's fields as JSON text. Raises `_StoredMeanwhileError` if
        another writer stored one of them in between."""
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        columns = "id, kind, sensor, time_ns, received_ns, raw, signature, fields, run_id"
        rows = [
            (o.id, o.kind, o.sensor, o.time_ns, o.received_ns, o.raw, o.signature, text, run_id)
            for o, text in zip(observations, fields, strict=True)
        ]
        written = connection.exec_driver_sql(
            f"INSERT INTO observations ({columns}) VALUES ({', '.join([mark] * 9)}) "
            "ON CONFLICT (id) DO NOTHING",
            rows,
        ).rowcount
        if written != len(rows):
            raise _StoredMeanwhileError

    @staticmethod
    def _stored_ids(connection: Connection, ids: list[str]) -> list[str]:
        """Those of `ids` that are stored, by a plain query of the id alone: 0.3 µs an id
        against 1.4 µs for Core's select of whole rows (there are millions a day)."""
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        found: list[str] = []
        for chunk in _chunks(ids):
            rows = connection.exec_driver_sql(
                f"SELECT id FROM observations WHERE id IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk),
            )
            found.extend(row[0] for row in rows)
        return found

    def _observations_by_id(self, connection: Connection, ids: list[str]) -> list[Observation]:
        table = schema.observations
        found: list[Observation] = []
        for chunk in _chunks(ids):
            rows = connection.execute(sa.select(table).where(table.c.id.in_(chunk)))
            found.extend(_observation(row) for row in rows)
        return found

    def observation(self, observation_id: str) -> Observation | None:
        """The observation stored under `observation_id`, if any."""
        self._require_schema()
        with self._engine.connect() as connection:
            found = self._observations_by_id(connection, [observation_id])
        return found[0] if found else None

    def observations_by_id(self, observation_ids: Sequence[str]) -> list[Observation]:
        """The observations stored under `observation_ids` (those found, in no set order)."""
        self._require_schema()
        with self._engine.connect() as connection:
            return self._observations_by_id(connection, list(observation_ids))

    def acoustic_arrivals(self, observation_ids: Sequence[str]) -> list[AcousticArrival]:
        """The arrivals of the acoustic observations stored under `observation_ids` (those
        found, in no set order): sensor, time and bearing, read without the raw text or the
        whole fields (a fifth of the cost of `observations_by_id`; the radar stage reads back
        the detections of most events)."""
        self._require_schema()
        ids = list(dict.fromkeys(observation_ids))  # each once
        found: list[AcousticArrival] = []
        with self._engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                mark = "%s"
                bearing = "(fields->>'{0}')::float8"
            else:
                mark = "?"
                bearing = "CAST(json_extract(fields, '$.{0}') AS REAL)"
            select = (
                f"SELECT id, sensor, time_ns, {bearing.format('azimuth_deg')}, "
                f"{bearing.format('azimuth_sigma_deg')} FROM observations "
                "WHERE kind = 'acoustic' AND id IN "
            )
            for chunk in _chunks(ids):
                rows = connection.exec_driver_sql(
                    f"{select}({', '.join([mark] * len(chunk))})", tuple(chunk)
                )
                found.extend(AcousticArrival(*row) for row in rows)
        return found

    def observations(
        self, since_ns: int | None = None, until_ns: int | None = None
    ) -> Iterator[Observation]:
        """Observations with `since_ns <= time_ns < until_ns`, by time (then id), streamed."""
        self._require_schema()
        table = schema.observations
        stmt = _time_range(sa.select(table), table.c.time_ns, since_ns, until_ns)
        stmt = stmt.order_by(table.c.time_ns, table.c.id)
        with self._engine.connect() as connection:
            result = connection.execution_options(yield_per=self.batch_size).execute(stmt)
            for row in result:
                yield _observation(row)

    def observation_count(self) -> int:
        """How many observations are stored."""
        self._require_schema()
        with self._engine.connect() as connection:
            stmt = sa.select(sa.func.count()).select_from(schema.observations)
            return int(connection.execute(stmt).scalar_one())

    # -- quarantine -----------------------------------------------------------------------------

    def quarantine(
        self,
        items: Iterable[Quarantined],
        *,
        run_id: str | None = None,
        batch_size: int | None = None,
    ) -> int:
        """Keep inputs that were not accepted, with their reasons. Returns how many."""
        self._require_schema()
        count = 0
        for batch in _batches(items, self._batch_size(batch_size)):
            with self._writing() as connection:
                connection.execute(
                    sa.insert(schema.quarantine), [_quarantined_row(q, run_id) for q in batch]
                )
                self._to_ledger(connection, "quarantine", batch, run_id)
            count += len(batch)
        return count

    def quarantined(
        self, reason_code: str | None = None, *, limit: int | None = None
    ) -> list[Quarantined]:
        """Quarantined inputs in the order they were kept, optionally of one reason code only."""
        self._require_schema()
        table = schema.quarantine
        stmt = sa.select(table).order_by(table.c.id).limit(limit)
        if reason_code is not None:
            stmt = stmt.where(table.c.reason_code == str(reason_code))
        with self._engine.connect() as connection:
            return [_quarantined(row) for row in connection.execute(stmt)]

    def quarantine_counts(self) -> dict[str, int]:
        """Reason code -> how many inputs were quarantined for it."""
        self._require_schema()
        table = schema.quarantine
        stmt = (
            sa.select(table.c.reason_code, sa.func.count())
            .group_by(table.c.reason_code)
            .order_by(table.c.reason_code)
        )
        with self._engine.connect() as connection:
            return {code: int(n) for code, n in connection.execute(stmt)}

    # -- events and violations ------------------------------------------------------------------

    def add_events(
        self, events: Iterable[Event], *, run_id: str | None = None, batch_size: int | None = None
    ) -> int:
        """Store events whole, their violations included. An event stored under the same id is
        replaced, and so are its violations. Returns how many events were given."""
        # here: the ledger imports the schema
        from truceline.ledger.store import event_text, event_texts, withdrawal

        self._require_schema()
        count = 0
        for batch in _batches(events, self._batch_size(batch_size)):
            latest = {event.id: event for event in batch}  # last one wins
            violations: list[Violation] = []
            for event in latest.values():
                for violation in event.violations:
                    if violation.event_id != event.id:
                        raise ValueError(
                            f"violation {violation.id!r} of event {event.id!r} names event "
                            f"{violation.event_id!r}"
                        )
                    violations.append(violation)
            # Each event's members encoded once, canonically, for its row's JSON columns and
            # its ledger entry.
            texts = [event_texts(e) for e in latest.values()]
            with self._writing() as connection:
                _upsert(
                    connection,
                    "events",
                    _EVENT_COLUMNS,
                    [_event_row(e, run_id, t) for e, t in zip(latest.values(), texts, strict=True)],
                )
                if self.ledger is not None:
                    self.ledger.append(
                        connection,
                        "event",
                        latest.values(),
                        run_id=run_id,
                        record_texts=[event_text(t.parts) for t in texts],
                    )
                ids = list(latest)
                kept = {v.id for v in violations}
                withdrawn: list[dict[str, Any]] = []
                table = schema.violations
                for chunk in _chunks(ids):
                    for vid, eid in connection.execute(
                        sa.select(table.c.id, table.c.event_id).where(table.c.event_id.in_(chunk))
                    ):
                        if vid not in kept:
                            withdrawn.append(withdrawal(vid, event_id=eid))
                    connection.execute(sa.delete(table).where(table.c.event_id.in_(chunk)))
                # A violation the new version of its event no longer has is withdrawn: the
                # ledger gets a version saying so, so its history ends openly, not silently.
                self._to_ledger(connection, "violation", withdrawn, run_id)
                if violations:
                    self._upsert_violations(connection, violations, run_id)
            count += len(batch)
        return count

    def events(self, since_ns: int | None = None, until_ns: int | None = None) -> list[Event]:
        """Events with `since_ns <= origin time < until_ns`, by time (then id)."""
        self._require_schema()
        table = schema.events
        stmt = _time_range(sa.select(table), table.c.time_ns, since_ns, until_ns)
        return self._events(stmt.order_by(table.c.time_ns, table.c.id))

    def event(self, event_id: str) -> Event | None:
        """The event stored under `event_id`, if any."""
        self._require_schema()
        found = self._events(sa.select(schema.events).where(schema.events.c.id == event_id))
        return found[0] if found else None

    def _events(self, stmt: sa.Select[Any]) -> list[Event]:
        with self._engine.connect() as connection:
            rows = connection.execute(stmt).all()
            by_event: dict[str, list[Violation]] = {}
            ids = [row.id for row in rows]
            table = schema.violations
            for chunk in _chunks(ids):
                query = sa.select(table).where(table.c.event_id.in_(chunk)).order_by(table.c.id)
                for violation_row in connection.execute(query):
                    by_event.setdefault(violation_row.event_id, []).append(
                        _violation(violation_row)
                    )
        return [_event(row, by_event.get(row.id, ())) for row in rows]

    def add_violations(
        self,
        violations: Iterable[Violation],
        *,
        run_id: str | None = None,
        batch_size: int | None = None,
    ) -> int:
        """Store violations of stored events, replacing any stored under the same id.
        Returns how many were given; raises `ValueError` if one names an unknown event."""
        self._require_schema()
        count = 0
        for batch in _batches(violations, self._batch_size(batch_size)):
            try:
                with self._writing() as connection:
                    self._upsert_violations(connection, batch, run_id)
            except IntegrityError as exc:
                raise ValueError(
                    f"cannot store violations: one names an event that is not stored ({exc.orig})"
                ) from None
            count += len(batch)
        return count

    def _upsert_violations(
        self, connection: Connection, violations: list[Violation], run_id: str | None
    ) -> None:
        # The same row as `_violation_row` gives, as a tuple.
        rows = {v.id: _violation_tuple(v, run_id) for v in violations}  # last one wins
        _upsert(connection, "violations", _VIOLATION_COLUMNS, list(rows.values()))
        self._to_ledger(connection, "violation", {v.id: v for v in violations}.values(), run_id)

    def violations(self, event_id: str | None = None) -> list[Violation]:
        """Violations, of one event or of all, by event then id."""
        self._require_schema()
        table = schema.violations
        stmt = sa.select(table).order_by(table.c.event_id, table.c.id)
        if event_id is not None:
            stmt = stmt.where(table.c.event_id == event_id)
        with self._engine.connect() as connection:
            return [_violation(row) for row in connection.execute(stmt)]

    # -- reviews --------------------------------------------------------------------------------

    def add_review(self, review: Review) -> None:
        """Append an analyst's review; earlier reviews of the same record are kept."""
        self._require_schema()
        with self._writing() as connection:
            connection.execute(
                sa.insert(schema.reviews),
                {
                    "target_id": review.target_id,
                    "status": str(review.status),
                    "reason": review.reason,
                    "by": review.by,
                    "time_ns": review.time_ns,
                },
            )
            self._to_ledger(connection, "review", [review], None)

    def reviews(self, target_id: str | None = None) -> list[Review]:
        """Reviews of one record (or of all), oldest first."""
        self._require_schema()
        table = schema.reviews
        stmt = sa.select(table).order_by(table.c.time_ns, table.c.id)
        if target_id is not None:
            stmt = stmt.where(table.c.target_id == target_id)
        with self._engine.connect() as connection:
            return [
                Review(
                    target_id=row.target_id,
                    status=row.status,
                    reason=row.reason,
                    by=row.by,
                    time_ns=row.time_ns,
                )
                for row in connection.execute(stmt)
            ]

    # -- runs -----------------------------------------------------------------------------------

    def begin_run(self, command: str, settings: Mapping[str, Any] = EMPTY) -> str:
        """Record the start of a command's run; returns its run id (`20260301T041233Z-1a2b3c`)."""
        self._require_schema()
        started_ns = now_ns()
        stamp = format_time(started_ns - started_ns % 1_000_000_000)
        run_id = f"{stamp.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"
        with self._writing() as connection:
            connection.execute(
                sa.insert(schema.runs),
                {
                    "run_id": run_id,
                    "command": command,
                    "started_ns": started_ns,
                    "finished_ns": None,
                    "settings": freeze(settings),
                    "summary": None,
                },
            )
        return run_id

    def finish_run(self, run_id: str, summary: Mapping[str, Any] = EMPTY) -> None:
        """Record the end of a run and what it did; raises `ValueError` for an unknown run."""
        self._require_schema()
        table = schema.runs
        with self._writing() as connection:
            result = connection.execute(
                sa.update(table)
                .where(table.c.run_id == run_id)
                .values(finished_ns=now_ns(), summary=freeze(summary))
            )
            if result.rowcount != 1:
                raise ValueError(f"no run {run_id!r} in {self.url}")

    def run(self, run_id: str) -> Run | None:
        """The run with id `run_id`, if any."""
        self._require_schema()
        table = schema.runs
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(table).where(table.c.run_id == run_id)).first()
        return None if row is None else _run(row)

    def runs(self) -> list[Run]:
        """All runs, oldest first."""
        self._require_schema()
        table = schema.runs
        with self._engine.connect() as connection:
            stmt = sa.select(table).order_by(table.c.started_ns, table.c.run_id)
            return [_run(row) for row in connection.execute(stmt)]


# -- records <-> rows ---------------------------------------------------------------------------


def _time_range(
    stmt: sa.Select[Any], column: sa.Column[int], since_ns: int | None, until_ns: int | None
) -> sa.Select[Any]:
    if since_ns is not None:
        stmt = stmt.where(column >= since_ns)
    if until_ns is not None:
        stmt = stmt.where(column < until_ns)
    return stmt


def _sensor_row(sensor: Sensor) -> dict[str, Any]:
    return {
        "id": sensor.id,
        "kind": sensor.kind,
        "operator": sensor.operator,
        "lon": sensor.lon,
        "lat": sensor.lat,
        "elevation_m": sensor.elevation_m,
        "timing_sigma_s": sensor.timing_sigma_s,
        "public_key": sensor.public_key,
        "properties": sensor.properties,
        "raw": sensor.raw,
    }


def _sensor(row: Row[Any]) -> Sensor:
    return Sensor(
        id=row.id,
        kind=row.kind,
        operator=row.operator,
        lon=row.lon,
        lat=row.lat,
        elevation_m=row.elevation_m,
        timing_sigma_s=row.timing_sigma_s,
        public_key=row.public_key,
        properties=row.properties,
        raw=row.raw,
    )


def _observation(row: Row[Any]) -> Observation:
    return Observation(
        id=row.id,
        kind=row.kind,
        sensor=row.sensor,
        time_ns=row.time_ns,
        raw=row.raw,
        received_ns=row.received_ns,
        signature=row.signature,
        fields=row.fields,
    )


def _same_observation(stored: Observation, new: Observation) -> bool:
    if stored.raw == new.raw:
        return True
    return (stored.kind, stored.sensor, stored.time_ns, stored.signature, stored.fields) == (
        new.kind,
        new.sensor,
        new.time_ns,
        new.signature,
        new.fields,
    )


def _quarantined_row(item: Quarantined, run_id: str | None) -> dict[str, Any]:
    return {
        "raw": item.raw,
        "reason": item.reason,
        "reason_code": str(item.reason_code),
        "source": item.source,
        "received_ns": item.received_ns,
        "observation_id": item.observation_id,
        "run_id": run_id,
    }


def _quarantined(row: Row[Any]) -> Quarantined:
    return Quarantined(
        raw=row.raw,
        reason=row.reason,
        reason_code=row.reason_code,
        source=row.source,
        received_ns=row.received_ns,
        observation_id=row.observation_id,
    )


def _provenance_row(provenance: Provenance) -> dict[str, Any]:
    return {
        "evaluation_mode": str(provenance.evaluation_mode),
        "evaluation_status": str(provenance.evaluation_status),
        "author": provenance.author,
        "created_ns": provenance.created_ns,
        "method": provenance.method,
        "inputs": provenance.inputs,
    }


def _provenance(row: Row[Any]) -> Provenance:
    return Provenance(
        evaluation_mode=row.evaluation_mode,
        evaluation_status=row.evaluation_status,
        author=row.author,
        created_ns=row.created_ns,
        method=row.method,
        inputs=row.inputs,
    )


_EVENT_COLUMNS = tuple(c.name for c in schema.events.c)  # "id" first


def _event_row(event: Event, run_id: str | None, texts: EventTexts) -> tuple[Any, ...]:
    """An event's row, in `_EVENT_COLUMNS` order; JSON columns as text, from its
    `event_texts` (canonical JSON: keys in code-point order)."""
    parts = texts.parts
    origin = event.origin
    ellipse = origin.ellipse95
    provenance = event.provenance
    row = {
        "id": event.id,
        "type": event.type,
        "time_ns": origin.time_ns,
        "lon": origin.lon,
        "lat": origin.lat,
        "ellipse_major_m": None if ellipse is None else ellipse.major_m,
        "ellipse_minor_m": None if ellipse is None else ellipse.minor_m,
        "ellipse_azimuth_deg": None if ellipse is None else ellipse.azimuth_deg,
        "covariance": None if origin.covariance is None else texts.covariance,
        "rms_residual_s": origin.rms_residual_s,
        "n_sensors": origin.n_sensors,
        "evidence": parts["evidence"],
        "paired": event.paired,
        "path": None if event.path is None else parts["path"],
        "attribution": parts["attribution"],
        **_provenance_row(provenance),
        "inputs": texts.inputs,
        "properties": parts["properties"],
        "run_id": run_id,
    }
    return tuple(row[c] for c in _EVENT_COLUMNS)


def _event(row: Row[Any], violations: Iterable[Violation]) -> Event:
    ellipse = None
    if row.ellipse_major_m is not None:
        ellipse = Ellipse(row.ellipse_major_m, row.ellipse_minor_m, row.ellipse_azimuth_deg)
    origin = Origin(
        lon=row.lon,
        lat=row.lat,
        time_ns=row.time_ns,
        ellipse95=ellipse,
        covariance=row.covariance,
        rms_residual_s=row.rms_residual_s,
        n_sensors=row.n_sensors,
    )
    return Event(
        id=row.id,
        type=row.type,
        origin=origin,
        provenance=_provenance(row),
        evidence=row.evidence,
        paired=row.paired,
        path=row.path,
        attribution=row.attribution,
        violations=tuple(violations),
        properties=row.properties,
    )


def _violation_row(violation: Violation, run_id: str | None) -> dict[str, Any]:
    return {
        "id": violation.id,
        "rule": violation.rule,
        "article": violation.article,
        "event_id": violation.event_id,
        "party": violation.party,
        "probability": violation.probability,
        "explanation": violation.explanation,
        **_provenance_row(violation.provenance),
        "run_id": run_id,
    }


def _upsert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in `columns` order, "id" first) into `table`, replacing a row of
    the same id, by a plain executemany: Core's insert of dicts cost more than the database's
    work (events, violations)."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) ON CONFLICT (id) DO "
        f"UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[1:])}",
        rows,
    )


_VIOLATION_COLUMNS = tuple(c.name for c in schema.violations.c)  # "id" first


def _violation_tuple(violation: Violation, run_id: str | None) -> tuple[Any, ...]:
    """`_violation_row` in `_VIOLATION_COLUMNS` order, its JSON column as text (the engine's
    own serializer, as the Core insert used)."""
    row = _violation_row(violation, run_id)
    row["inputs"] = _json_serializer(row["inputs"])
    return tuple(row[c] for c in _VIOLATION_COLUMNS)


def _violation(row: Row[Any]) -> Violation:
    return Violation(
        id=row.id,
        rule=row.rule,
        article=row.article,
        event_id=row.event_id,
        party=row.party,
        probability=row.probability,
        explanation=row.explanation,
        provenance=_provenance(row),
    )


def _run(row: Row[Any]) -> Run:
    return Run(
        run_id=row.run_id,
        command=row.command,
        started_ns=row.started_ns,
        finished_ns=row.finished_ns,
        settings=row.settings,
        summary=row.summary,
    )
