"""PostgreSQL for municipalities: the chained recorder, the view store, audit reads.

A PostgreSQL store is one *schema* in a database (``postgresql://user@host/db?schema=gjesdal``,
see docs/postgres.md). It holds the library's tables (``miljo_events``, ``miljo_snapshots``),
the tamper-evident chain (``miljo_chain``) and the read models (``view_*``), each in the same
layout and with the same semantics as the SQLite store:

* :class:`ChainedPostgresApplicationRecorder` writes one HMAC link per stored event
  (``adapters.chain.compute_link``) **in the insert transaction**. The library takes an
  EXCLUSIVE lock on the events table before inserting, so inserts are serialised and the
  previous link read inside the transaction is the chain's head.
* :class:`PostgresViewStore` applies ``domain.projection`` to the ``view_*`` tables and
  advances the tracked position in the same transaction, after checking it under
  ``SELECT ... FOR UPDATE`` (concurrent catch-ups in several processes serialise on that row).
  :meth:`PostgresViewStore.follow` keeps the views live (LISTEN/NOTIFY, with polling as a
  fallback).

The dialect-neutral part of the view store is :class:`SqlViewStore`; it holds everything
except connections, DDL types and upserts, so ``adapters.views.SQLiteViewStore`` can later be
rebased on it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol
from uuid import UUID

import attrs
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Cipher,
    InterfaceError,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.abc import Query
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.bootstrap import PostgresTarget, StoreError
from adapters.chain import ENV_SEALING_KEYS_DIR, GENESIS, ChainRow, compute_link
from adapters.fastread import EventReader, NotificationRecord, project_notification
from adapters.keyring import (
    KEYRING_FILE,
    PG_ERASURES_TABLE,
    PG_KEYS_TABLE,
    KeyringRows,
    ProtectionError,
    SQLiteKeyringStorage,
    postgres_ddl,
    read_keyring_rows,
)
from adapters.keys import FINGERPRINT_TABLE, SEALING_KEY, KeyFileError, read_key
from adapters.protection import MiljoCipher, SnapshotPruner, StoreProtection
from adapters.views import (
    ANY_CHUNK,
    BULK_MARKER,
    DEFAULT_PAGE,
    IN_FORCE,
    PREFIX,
    AlreadyTracked,
    Batch,
    PagedCatchUp,
    Progress,
    ViewError,
    index_name,
    range_clause,
    trim_school_cache,
    where_clause,
)
from domain.projection import (
    RETIRED_TABLES,
    SCHEMA_VERSION,
    TABLES,
    TABLES_BY_NAME,
    Delete,
    Op,
    Patch,
    Put,
    Table,
    count_students_categories,
    project,
)

#: The application's name ("miljo") prefixes the library's tables.
EVENTS_TABLE: Final = "miljo_events"
SNAPSHOTS_TABLE: Final = "miljo_snapshots"
CHAIN_TABLE: Final = "miljo_chain"
META_TABLE: Final = f"{PREFIX}meta"
#: Tables every initialised PostgreSQL store has.
MILJO_TABLES: Final = frozenset({EVENTS_TABLE, CHAIN_TABLE, META_TABLE, FINGERPRINT_TABLE})
CONNECT_TIMEOUT: Final = 10

#: View columns holding integers (counts, minutes, trinn, 0/1 flags, positions); every other
#: column is text. SQLite needs no declared types; PostgreSQL does, and must hand back the
#: same Python types (checked on every write: a mismatch is a ViewError, not a silent cast).
INTEGER_COLUMNS: Final = frozenset(
    {
        "active",
        "anonymous",
        "appeal_open",
        "assistant",
        "cancelled",
        "closed",
        "coordinator",
        "discussed",
        "first_trinn",
        "last_trinn",
        "miljoterapeut",
        "minutes",
        "open",
        "pending",
        "position",
        "special_ed_teacher",
        "teacher",
        "trinn",
        "version",
    }
)

Row = dict[str, Any]


class Run(Protocol):
    """Runs statements inside one transaction."""

    def __call__(self, statement: str, params: Sequence[object], /) -> list[Row]:
        """Run one statement; returns its rows (empty for DML)."""
        ...

    def many(self, statement: str, rows: list[tuple[Any, ...]], /) -> None:
        """Run one DML statement once per row of parameters (``executemany``)."""
        ...


# ---------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------


def describe_error(error: BaseException, target: PostgresTarget) -> str:
    """One line saying why the server cannot be used, never containing the password."""
    text = str(error).strip()
    # libpq: 'connection failed: connection to server at "h", port p failed: FATAL:  why'
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1]
    elif "failed:" in text:
        text = text.rsplit("failed:", 1)[1]
    line = " ".join(text.split()) or type(error).__name__
    if target.password:
        line = line.replace(target.password, "***")
    return f"PostgreSQL store {target.url()}: {line}"


def connect(target: PostgresTarget, *, autocommit: bool = True) -> psycopg.Connection[Row]:
    """A connection to the store's database, or a :class:`StoreError` with a one-line reason."""
    try:
        return psycopg.connect(
            make_conninfo("", **target.connect_kwargs(), connect_timeout=CONNECT_TIMEOUT),
            autocommit=autocommit,
            row_factory=dict_row,
        )
    except psycopg.Error as error:
        raise StoreError(describe_error(error, target)) from None


def schema_tables(conn: psycopg.Connection[Row], schema: str) -> set[str]:
    """Names of the tables in ``schema`` (empty if the schema does not exist)."""
    rows = conn.execute(
        "SELECT c.relname AS name FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
        (schema,),
    ).fetchall()
    return {str(row["name"]) for row in rows}


def _tables_or_store_error(conn: psycopg.Connection[Row], target: PostgresTarget) -> set[str]:
    try:
        return schema_tables(conn, target.schema)
    except psycopg.Error as error:
        raise StoreError(describe_error(error, target)) from None


def is_miljo_table(name: str) -> bool:
    return name.startswith(("miljo_", PREFIX))


def check_store(target: PostgresTarget) -> PostgresTarget:
    """Refuse a schema without miljo's tables; returns the target with its password resolved."""
    with connect(target) as conn:
        resolved = attrs.evolve(target, password=conn.info.password or "")
        tables = _tables_or_store_error(conn, target)
    if not tables >= MILJO_TABLES:
        raise StoreError(
            f"store {target.url()} is not a miljo store (schema {target.schema} has no miljo "
            "tables); create it with 'miljo store init'"
        )
    return resolved


def write_fingerprints(target: PostgresTarget, fingerprints: Mapping[str, bytes]) -> None:
    """Record the store's key fingerprints (adapters.keys) in its schema."""
    table = sql.SQL("{}.{}").format(
        sql.Identifier(target.schema), sql.Identifier(FINGERPRINT_TABLE)
    )
    with connect(target, autocommit=False) as conn, conn.transaction():
        conn.execute(
            sql.SQL("CREATE TABLE {} (name text PRIMARY KEY, fingerprint bytea NOT NULL)").format(
                table
            )
        )
        for name, value in fingerprints.items():
            conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), (name, value))


def read_fingerprints(target: PostgresTarget) -> dict[str, bytes]:
    table = sql.SQL("{}.{}").format(
        sql.Identifier(target.schema), sql.Identifier(FINGERPRINT_TABLE)
    )
    try:
        with connect(target) as conn:
            rows = conn.execute(
                sql.SQL("SELECT name, fingerprint FROM {}").format(table)
            ).fetchall()
    except psycopg.Error as error:
        raise StoreError(describe_error(error, target)) from None
    return {str(row["name"]): bytes(row["fingerprint"]) for row in rows}


def prepare_schema(target: PostgresTarget) -> PostgresTarget:
    """Create the store's schema (if missing); refuse one that already has miljo tables."""
    with connect(target) as conn:
        resolved = attrs.evolve(target, password=conn.info.password or "")
        tables = _tables_or_store_error(conn, target)
        existing = sorted(t for t in tables if is_miljo_table(t))
        if existing:
            raise StoreError(
                f"store {target.url()} already exists (schema {target.schema} has table "
                f"{existing[0]}); refusing to overwrite"
            )
        try:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema))
            )
        except psycopg.Error as error:
            raise StoreError(describe_error(error, target)) from None
    return resolved


# ---------------------------------------------------------------------------------------------
# The keyring tables (adapters.keyring.PostgresKeyringStorage, ADR 0015)
# ---------------------------------------------------------------------------------------------


def create_keyring_tables(target: PostgresTarget) -> None:
    """Create the store's keyring tables (``store init``, ``store copy``)."""
    with connect(target, autocommit=False) as conn, conn.transaction():
        for statement in postgres_ddl(target.schema):
            conn.execute(statement)


def _keyring_file_rows(path: Path) -> KeyringRows:
    try:
        return read_keyring_rows(lambda: SQLiteKeyringStorage(path))
    except ProtectionError as error:
        raise StoreError(str(error)) from None


def migrate_keyring_file(target: PostgresTarget, keys_dir: Path) -> int:
    """Move a keyring file left by an older miljo (``keyring.sqlite`` in the key folder of a
    PostgreSQL store) into the store's keyring tables, then delete the file; returns how many
    data keys were moved. Idempotent and safe to run from several processes at once (one
    advisory lock; every insert skips rows already there). A key whose generation is already
    recorded as erased in the database is never brought back."""
    path = keys_dir / KEYRING_FILE
    keys = sql.SQL("{}.{}").format(sql.Identifier(target.schema), sql.Identifier(PG_KEYS_TABLE))
    erasures = sql.SQL("{}.{}").format(
        sql.Identifier(target.schema), sql.Identifier(PG_ERASURES_TABLE)
    )
    moved = 0
    try:
        with connect(target, autocommit=False) as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"miljo-keyring:{target.schema}",)
            )
            for statement in postgres_ddl(target.schema):
                conn.execute(statement)
            if not path.exists():  # another process moved it meanwhile
                return 0
            rows = _keyring_file_rows(path)
            for erasure in rows.erasures:
                conn.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING").format(
                        erasures
                    ),
                    (erasure.subject, erasure.purpose, erasure.generation, erasure.erased_at),
                )
            for key in rows.keys:
                moved += conn.execute(
                    sql.SQL(
                        "INSERT INTO {} SELECT %s, %s, %s, %s, %s WHERE NOT EXISTS "
                        "(SELECT 1 FROM {} WHERE subject = %s AND purpose = %s "
                        "AND generation >= %s) ON CONFLICT DO NOTHING"
                    ).format(keys, erasures),
                    (
                        key.subject,
                        key.purpose,
                        key.generation,
                        key.wrapped,
                        key.created_at,
                        key.subject,
                        key.purpose,
                        key.generation,
                    ),
                ).rowcount
    except psycopg.Error as error:
        raise StoreError(
            f"{describe_error(error, target)} (moving the keyring file {path} into the "
            "database needs CREATE on the schema: open the store once as its owner)"
        ) from None
    # Committed: the file must go, or its keys would outlive an erasure in the database.
    for name in (KEYRING_FILE, f"{KEYRING_FILE}-wal", f"{KEYRING_FILE}-shm"):
        (keys_dir / name).unlink(missing_ok=True)
    return moved


def ensure_keyring(target: PostgresTarget, keys_dir: Path) -> None:
    """Before a PostgreSQL store is opened: a keyring file left by an older miljo in its key
    folder is moved into the keyring tables. (Missing tables are reported by the keyring
    itself when the application opens it; no extra connection here.)"""
    if (keys_dir / KEYRING_FILE).exists():
        migrate_keyring_file(target, keys_dir)


# ---------------------------------------------------------------------------------------------
# The chained recorder and the factory
# ---------------------------------------------------------------------------------------------


def chain_table_for(events_table_name: str) -> str:
    """``miljo_events`` -> ``miljo_chain`` (one chain per events table)."""
    return f"{events_table_name.removesuffix('_events')}_chain"


#: The insert transaction's own statements (sent in its pipeline).
BEGIN: Final = sql.SQL("BEGIN")
COMMIT: Final = sql.SQL("COMMIT")


class Rendered:
    """A composed statement as bytes, rendered once with the first connection that runs it
    (its identifiers quoted in that connection's encoding). psycopg renders a ``Composed``
    again on every ``execute``, quoting each identifier anew; the statements of a command's
    path are constant, so they are rendered once (ADR 0013, addendum "PostgreSQL reads")."""

    def __init__(self, statement: Query) -> None:
        self.statement = statement
        self._bytes = statement if isinstance(statement, bytes) else None

    def __call__(self, conn: psycopg.Connection[Any]) -> bytes:
        rendered = self._bytes
        if rendered is None:
            statement = self.statement
            if isinstance(statement, sql.Composable):
                rendered = statement.as_bytes(conn)
            elif isinstance(statement, str):
                rendered = statement.encode(conn.info.encoding)
            else:
                raise TypeError(f"a {type(statement).__name__} statement is not rendered")
            self._bytes = rendered
        return rendered


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End whatever transaction a failed insert left open (outside its pipeline). A
    connection that cannot roll back is closed: the pool then replaces it."""
    if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    try:
        conn.rollback()
    except psycopg.Error:
        conn.close()


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """Appends a chain link per event inside the insert transaction.

    The library pipelines its insert but catches the errors inside its transaction block,
    so it would commit a transaction in which a later statement failed on the Python side.
    This recorder pipelines the same statements (lock table, notify, insert, then the
    links) in a transaction block that an error leaves by its exception, so events and
    links commit together or not at all.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        sealing_key: bytes,
        events_table_name: str = "stored_events",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name, **kwargs)
        self.sealing_key = sealing_key
        self.chain_table_name = chain_table_for(events_table_name)
        self.check_identifier_length(self.chain_table_name)
        schema, chain = sql.Identifier(datastore.schema), sql.Identifier(self.chain_table_name)
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} "
                "(position bigint PRIMARY KEY, link bytea NOT NULL)"
            ).format(schema, chain)
        )
        # The insert returns, with each new position, the link before it: the chain's head
        # read in the insert's own round trip (the table lock is already held), instead of
        # a SELECT of its own after it.
        self.insert_events_statement += sql.SQL(
            ", (SELECT c.link FROM {}.{} c WHERE c.position < t.notification_id "
            "ORDER BY c.position DESC LIMIT 1) AS previous_link"
        ).format(schema, chain)
        self.insert_links_statement = sql.SQL(
            "INSERT INTO {}.{} (position, link) SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ).format(schema, chain)
        # The statements of every insert, rendered once (:class:`Rendered`).
        self._locks = [Rendered(statement) for statement in self.lock_table_statements]
        self._notify = Rendered(sql.SQL("NOTIFY {0}").format(sql.Identifier(self.channel_name)))
        self._insert = Rendered(self.insert_events_statement)
        self._links = Rendered(self.insert_links_statement)

    def count_events(self) -> int:
        """Stored events. Not the newest position: a rolled-back insert (a write conflict)
        has used up ids of the sequence, so positions have gaps on PostgreSQL."""
        statement = sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name)
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement)
            row = curs.fetchone()
            return int(row["n"]) if row else 0

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Pipelined, in two round trips: BEGIN, the lock, the notify and the insert go to the
        # server together; then the links with the COMMIT. The transaction is opened and
        # closed by statements in the pipeline (psycopg's own transaction block would sync
        # on BEGIN and on COMMIT, two more round trips). Any error, on the server or in
        # Python, rolls the transaction back before it is raised: nothing is committed
        # without its links.
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline() as pipeline, conn.cursor() as curs:
                    curs.execute(BEGIN, prepare=True)
                    self._insert_events(curs, stored_events, **kwargs)  # e.g. a tracking row
                    if not stored_events:
                        curs.execute(COMMIT, prepare=True)
                        return None
                    self._insert_stored_events(curs, stored_events, **kwargs)
                    pipeline.sync()  # a conflict raises its IntegrityError here
                    rows = curs.fetchall()
                    if len(rows) != len(stored_events):
                        raise ProgrammingError(
                            f"the insert returned {len(rows)} positions "
                            f"for {len(stored_events)} events"
                        )
                    positions = [int(row["notification_id"]) for row in rows]
                    head = rows[0]["previous_link"]
                    self._append_links(
                        curs, positions, stored_events, GENESIS if head is None else bytes(head)
                    )
                    curs.execute(COMMIT, prepare=True)
                # Leaving the pipeline sent the links and the COMMIT and read their results.
            except BaseException:
                _roll_back(conn)
                raise
            return positions

    def _insert_stored_events(
        self, curs: psycopg.Cursor[Row], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's statements for the events (``PostgresApplicationRecorder``: the
        table lock, the notify, the insert of a composite array), in its order, each one
        rendered once (:class:`Rendered`)."""
        conn = curs.connection
        for lock in self._locks:
            curs.execute(lock(conn), prepare=True)
        curs.execute(self._notify(conn))
        rows = [
            self.construct_pg_stored_event(
                stored.originator_id, stored.originator_version, stored.topic, stored.state
            )
            for stored in stored_events
        ]
        curs.execute(self._insert(conn), (rows,))

    def _append_links(
        self,
        curs: psycopg.Cursor[Row],
        positions: Sequence[int],
        events: Sequence[StoredEvent],
        previous: bytes,
    ) -> None:
        """Links for the new ``positions``; ``previous`` is the link before the first."""
        links: list[bytes] = []
        for position, stored in zip(positions, events, strict=True):
            previous = compute_link(
                self.sealing_key,
                previous,
                position,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
            )
            links.append(previous)
        curs.execute(self._links(curs.connection), (list(positions), links))


class PostgresStreamReader:
    """``domain.application.StreamReader`` for a PostgreSQL store.

    A first load reads the stream's newest snapshot (at or below ``lte``) and its events
    after it with one statement, so in one round trip and from one state of the database;
    the library's ``Repository`` sends two ``select_events``. A fast-forward reads the events
    after a version (the library's own query). Both statements are rendered once
    (:class:`Rendered`); the library composes and renders its query on every call.
    """

    def __init__(
        self, snapshots: PostgresAggregateRecorder, events: PostgresAggregateRecorder
    ) -> None:
        if not self.fits(snapshots, events):
            raise ValueError("the recorders do not share one PostgreSQL datastore")
        self.datastore = events.datastore
        schema = sql.Identifier(events.datastore.schema)
        snapshot_table = sql.SQL("{}.{}").format(
            schema, sql.Identifier(snapshots.events_table_name)
        )
        events_table = sql.SQL("{}.{}").format(schema, sql.Identifier(events.events_table_name))
        #: Keyed by whether the read stops at a version (``lte``).
        self._loads = {
            bounded: Rendered(self._load_statement(snapshot_table, events_table, bounded))
            for bounded in (False, True)
        }
        self._after = Rendered(
            sql.SQL(
                "SELECT originator_version, topic, state FROM {} "
                "WHERE originator_id = %s AND originator_version > %s "
                "ORDER BY originator_version ASC"
            ).format(events_table)
        )

    @staticmethod
    def fits(snapshots: PostgresAggregateRecorder, events: PostgresAggregateRecorder) -> bool:
        return snapshots.datastore is events.datastore

    @staticmethod
    def _load_statement(
        snapshot_table: sql.Composable, events_table: sql.Composable, bounded: bool
    ) -> sql.Composed:
        # Versions start at 1, so "after version 0" is every event. The snapshot's row sorts
        # first (is_snapshot DESC), then the events by version.
        upto = sql.SQL(" AND originator_version <= %(lte)s" if bounded else "")
        return sql.SQL(
            "WITH s AS (SELECT originator_version, topic, state FROM {snapshots} "
            "WHERE originator_id = %(id)s{upto} ORDER BY originator_version DESC LIMIT 1) "
            "SELECT TRUE AS is_snapshot, originator_version, topic, state FROM s "
            "UNION ALL "
            "SELECT FALSE, originator_version, topic, state FROM {events} "
            "WHERE originator_id = %(id)s{upto} "
            "AND originator_version > COALESCE((SELECT originator_version FROM s), 0) "
            "ORDER BY is_snapshot DESC, originator_version ASC"
        ).format(snapshots=snapshot_table, events=events_table, upto=upto)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def __call__(
        self, originator_id: UUID, lte: int | None
    ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        params: dict[str, object] = {"id": originator_id}
        if lte is not None:
            params["lte"] = lte
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._loads[lte is not None](conn), params, prepare=True)
            rows = curs.fetchall()
        snapshot = None
        if rows and rows[0]["is_snapshot"]:
            snapshot = _stored(originator_id, rows[0])
            rows = rows[1:]
        return snapshot, [_stored(originator_id, row) for row in rows]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def after(self, originator_id: UUID, gt: int) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._after(conn), (originator_id, gt), prepare=True)
            return [_stored(originator_id, row) for row in curs.fetchall()]


def _stored(originator_id: UUID, row: Row) -> StoredEvent:
    # Every row matched ``originator_id``: the id object is reused.
    return StoredEvent(
        originator_id=originator_id,
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


class ChainedPostgresProcessRecorder(ChainedPostgresApplicationRecorder, PostgresProcessRecorder):
    """The process recorder (events plus a tracking row, atomically) with the chain."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        sealing_key: bytes,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore,
            sealing_key=sealing_key,
            events_table_name=events_table_name,
            tracking_table_name=tracking_table_name,
        )


class MiljoPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory with chained application and process recorders. It
    also closes the keyring's connection (adapters.keyring) when the application closes."""

    def cipher(self) -> Cipher | None:
        cipher = super().cipher()
        if isinstance(cipher, MiljoCipher):
            self._keyring = cipher.keyring
        return cipher

    def close(self) -> None:
        keyring = getattr(self, "_keyring", None)
        if keyring is not None:
            keyring.close()
        super().close()

    def _sealing_key(self) -> bytes:
        keys_dir = self.env.get(ENV_SEALING_KEYS_DIR)
        if not keys_dir:
            raise KeyFileError(f"{ENV_SEALING_KEYS_DIR} is not set; the chain needs a sealing key")
        return read_key(Path(keys_dir), SEALING_KEY)

    def _prefix(self) -> str:
        return self.env.name.lower() or "stored"

    def application_recorder(self) -> ApplicationRecorder:
        recorder = ChainedPostgresApplicationRecorder(
            self.datastore,
            sealing_key=self._sealing_key(),
            events_table_name=f"{self._prefix()}_events",
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        tracking_prefix = self.env.name.lower() or "notification"
        recorder = ChainedPostgresProcessRecorder(
            self.datastore,
            sealing_key=self._sealing_key(),
            events_table_name=f"{self._prefix()}_events",
            tracking_table_name=f"{tracking_prefix}_tracking",
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder


class PostgresStoreProtection(StoreProtection):
    """StoreProtection that can also purge snapshots kept in PostgreSQL."""

    def purge_snapshots(self, stream_ids: Sequence[UUID]) -> int:
        store = self.app.snapshots
        recorder: AggregateRecorder | None = None if store is None else store.recorder
        if not isinstance(recorder, PostgresAggregateRecorder):
            return super().purge_snapshots(stream_ids)
        statement = sql.SQL("DELETE FROM {}.{} WHERE originator_id = ANY(%s)").format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )
        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(statement, (list(stream_ids),))
            return max(curs.rowcount, 0)


class PostgresSnapshotPruner(SnapshotPruner):
    """SnapshotPruner that can also prune snapshots kept in PostgreSQL."""

    def __call__(self, stream_id: UUID, newest: int, step: int) -> int:
        store = self.app.snapshots
        recorder: AggregateRecorder | None = None if store is None else store.recorder
        if not isinstance(recorder, PostgresAggregateRecorder):
            return super().__call__(stream_id, newest, step)
        statement = sql.SQL(
            "DELETE FROM {}.{} WHERE originator_id = %s AND originator_version < %s "
            "AND originator_version %% %s != 0"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )
        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(statement, (stream_id, newest, step))
            return max(curs.rowcount, 0)


# ---------------------------------------------------------------------------------------------
# Reading the chain (audit verify / export)
# ---------------------------------------------------------------------------------------------


class PostgresChain:
    """Stored events and chain links of one store, read in one REPEATABLE READ snapshot."""

    def __init__(self, conn: psycopg.Connection[Row], target: PostgresTarget) -> None:
        self.conn = conn
        self.target = target
        schema = sql.Identifier(target.schema)
        self.events = sql.SQL("{}.{}").format(schema, sql.Identifier(EVENTS_TABLE))
        self.chain = sql.SQL("{}.{}").format(schema, sql.Identifier(CHAIN_TABLE))

    def _fetch(self, statement: sql.Composed, params: Sequence[object] = ()) -> list[Row]:
        try:
            return self.conn.execute(statement, params).fetchall()
        except psycopg.Error as error:
            raise StoreError(describe_error(error, self.target)) from None

    def count(self) -> int:
        rows = self._fetch(sql.SQL("SELECT COUNT(*) AS n FROM {}").format(self.events))
        return int(rows[0]["n"])

    def rows(self, page: int = 2000) -> Iterator[ChainRow]:
        statement = sql.SQL(
            "SELECT e.notification_id AS position, e.originator_id, e.originator_version, "
            "e.topic, e.state, c.link FROM {} e LEFT JOIN {} c ON c.position = e.notification_id "
            "WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(self.events, self.chain)
        last = 0
        while True:
            rows = self._fetch(statement, (last, page))
            if not rows:
                return
            for r in rows:
                originator = r["originator_id"]
                yield ChainRow(
                    int(r["position"]),
                    originator.hex if isinstance(originator, UUID) else str(originator),
                    int(r["originator_version"]),
                    str(r["topic"]),
                    bytes(r["state"]),
                    bytes(r["link"]) if r["link"] is not None else None,
                )
            last = int(rows[-1]["position"])

    def orphans(self) -> list[int]:
        statement = sql.SQL(
            "SELECT c.position FROM {} c LEFT JOIN {} e ON e.notification_id = c.position "
            "WHERE e.notification_id IS NULL ORDER BY c.position"
        ).format(self.chain, self.events)
        return [int(r["position"]) for r in self._fetch(statement)]

    def snapshots(self, page: int = 20) -> Iterator[tuple[str, int, str, bytes]]:
        """(originator id, version, topic, state) of every stored snapshot, in key order,
        a few rows per query (a snapshot can be several MB)."""
        if SNAPSHOTS_TABLE not in schema_tables(self.conn, self.target.schema):
            return
        table = sql.SQL("{}.{}").format(
            sql.Identifier(self.target.schema), sql.Identifier(SNAPSHOTS_TABLE)
        )
        columns = sql.SQL("SELECT originator_id, originator_version, topic, state FROM {} ").format(
            table
        )
        first = columns + sql.SQL("ORDER BY originator_id, originator_version LIMIT %s")
        after = columns + sql.SQL(
            "WHERE (originator_id, originator_version) > (%s, %s) "
            "ORDER BY originator_id, originator_version LIMIT %s"
        )
        rows = self._fetch(first, (page,))
        while rows:
            for r in rows:
                originator = r["originator_id"]
                yield (
                    originator.hex if isinstance(originator, UUID) else str(originator),
                    int(r["originator_version"]),
                    str(r["topic"]),
                    bytes(r["state"]),
                )
            last = rows[-1]
            rows = self._fetch(after, (last["originator_id"], last["originator_version"], page))


@contextlib.contextmanager
def open_chain(target: PostgresTarget) -> Iterator[PostgresChain]:
    """A read-only, repeatable-read view of the store's events and chain."""
    conn = connect(target, autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        tables = schema_tables(conn, target.schema)
        if not {EVENTS_TABLE, CHAIN_TABLE} <= tables:
            raise StoreError(f"store {target.url()} has no hash chain (not a miljo store)")
        yield PostgresChain(conn, target)
    finally:
        conn.rollback()
        conn.close()


# ---------------------------------------------------------------------------------------------
# The view store
# ---------------------------------------------------------------------------------------------


class SqlViewStore(PagedCatchUp):
    """View tables and their tracked position in one SQL database, dialect-neutral.

    Subclasses supply connections and transactions (:meth:`_query`, :meth:`_write`),
    the placeholder style, qualified table names, column types and upserts. The semantics
    are those of ``adapters.views.SQLiteViewStore`` (ADR 0008): a page of notifications and
    the new position commit together, after the position is checked under a lock.
    """

    #: The driver's parameter placeholder.
    P: ClassVar[str] = "?"

    def __init__(self, app: Application[Any], *, page_size: int = DEFAULT_PAGE) -> None:
        self.app = app
        self.page_size = page_size
        self._school_cache: dict[str, str | None] = {}
        self.reader = EventReader(app)

    # -- dialect ----------------------------------------------------------------------------------

    @abstractmethod
    def _query(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a read outside any explicit transaction."""

    @abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Run]:
        """A write transaction (committed on normal exit, rolled back on an exception)."""

    @abstractmethod
    def _lock_schema(self, run: Run) -> None:
        """Serialise schema checks/changes between processes (inside ``_write``)."""

    @abstractmethod
    def _locked_position(self, run: Run) -> int:
        """The tracked position, locked until the transaction ends."""

    @abstractmethod
    def _column(self, table: Table, column: str) -> str:
        """A column definition for CREATE TABLE."""

    @abstractmethod
    def _upsert(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        """INSERT of one row that replaces the row with the same key."""

    @abstractmethod
    def _ddl_needed(self, run: Run, version: int | None) -> bool:
        """Whether tables or indexes must be (re)created."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def _t(self, name: str) -> str:
        """The (qualified) name of view table ``name``."""
        return f"{PREFIX}{name}"

    def _marks(self, count: int) -> str:
        return ", ".join(self.P for _ in range(count))

    # -- schema -------------------------------------------------------------------------------

    def _ddl(self) -> list[str]:
        statements = []
        for table in TABLES:
            cols = ", ".join(self._column(table, c) for c in table.columns)
            key = ", ".join(table.key)
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {self._t(table.name)} ({cols}, PRIMARY KEY ({key}))"
            )
        return statements + self._index_ddl()

    def _index_ddl(self) -> list[str]:
        return [
            f"CREATE INDEX IF NOT EXISTS {index_name(table, index)} "
            f"ON {self._t(table.name)} ({', '.join(index)})"
            for table in TABLES
            for index in table.indexes
        ]

    def _drop_index(self, table: Table, index: Sequence[str]) -> str:
        return f"DROP INDEX IF EXISTS {index_name(table, index)}"

    def _empty(self, table: str) -> str:
        """Delete every row of a (qualified) view table."""
        return f"DELETE FROM {table}"  # noqa: S608 - a view table name

    def _meta_ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self._t('meta')} "
            f"(key TEXT PRIMARY KEY, value {self._integer()} NOT NULL)"
        )

    def _integer(self) -> str:
        return "INTEGER"

    def _ensure_schema(self) -> None:
        with self._write() as run:
            self._lock_schema(run)
            run(self._meta_ddl(), ())
            rows = run(
                f"SELECT value FROM {self._t('meta')} WHERE key = {self.P}",  # noqa: S608
                ["schema_version"],
            )
            version = int(rows[0]["value"]) if rows else None
            if version != SCHEMA_VERSION:
                # The layout may have changed: drop every view table and build it anew.
                for name in (*(t.name for t in TABLES), *RETIRED_TABLES):
                    run(f"DROP TABLE IF EXISTS {self._t(name)}", ())
            if self._ddl_needed(run, version):  # also the indexes an interrupted bulk load dropped
                for statement in self._ddl():
                    run(statement, ())
            run(f"DELETE FROM {self._t('meta')} WHERE key = {self.P}", [BULK_MARKER])  # noqa: S608
            if version != SCHEMA_VERSION:
                self._reset_tables(run)

    def _reset_tables(self, run: Run) -> None:
        for table in TABLES:
            run(self._empty(self._t(table.name)), ())
        meta = self._t("meta")
        run(f"DELETE FROM {meta} WHERE key NOT IN ('schema_version', 'position')", ())  # noqa: S608
        upsert = self._upsert(meta, ("key", "value"), ("key",))
        run(upsert, ["schema_version", SCHEMA_VERSION])
        run(upsert, ["position", 0])
        self._school_cache.clear()

    def position(self) -> int:
        rows = self._query(f"SELECT value FROM {self._t('meta')} WHERE key = 'position'")  # noqa: S608
        return int(rows[0]["value"]) if rows else 0

    # -- catching up ----------------------------------------------------------------------------

    def apply(self, notifications: Sequence[NotificationRecord], *, expected_position: int) -> None:
        """Project ``notifications`` and advance the position, atomically.

        The page's row operations are collected per table (``adapters.views.Batch``) and
        written with ``executemany``, then the position, all in the one transaction.
        """
        try:
            with self._write() as run:
                position = self._locked_position(run)
                if position != expected_position or notifications[0].id <= position:
                    raise AlreadyTracked(
                        f"view position is {position}; notification {notifications[0].id} refused"
                    )
                trim_school_cache(self._school_cache)
                school_of = functools.partial(self._school_of, run)
                batch = Batch(upsert=self._upsert, table=self._t, mark=self.P)
                last = position
                for notification in notifications:
                    if notification.id <= last:
                        raise AlreadyTracked(f"notification {notification.id} is out of order")
                    for op in project_notification(self.reader, notification, school_of, project):
                        self._check(op)
                        batch.add(op)
                        if isinstance(op, Put) and op.table == "streams":
                            self._school_cache[str(op.row["stream_id"])] = op.row["school"]
                    last = notification.id
                batch.write(run.many)
                run(
                    f"UPDATE {self._t('meta')} SET value = {self.P} WHERE key = 'position'",  # noqa: S608
                    [last],
                )
        except BaseException:
            self._school_cache.clear()
            raise

    def _start_bulk(self) -> None:
        try:
            with self._write() as run:
                self._lock_schema(run)
                self._locked_position(run)
                for table in TABLES:
                    for index in table.indexes:
                        run(self._drop_index(table, index), ())
                self._reset_tables(run)
                run(
                    f"INSERT INTO {self._t('meta')} (key, value) VALUES ({self.P}, 1)",  # noqa: S608
                    [BULK_MARKER],
                )
        finally:
            self._school_cache.clear()

    def _finish_bulk(self) -> None:
        with self._write() as run:
            self._lock_schema(run)
            for statement in self._index_ddl():
                run(statement, ())
            for statement in self._after_bulk():
                run(statement, ())
            run(f"DELETE FROM {self._t('meta')} WHERE key = {self.P}", [BULK_MARKER])  # noqa: S608

    def _after_bulk(self) -> list[str]:
        """Statements run after a bulk load, in its last transaction."""
        return []

    def _bulk_marked(self) -> bool:
        rows = self._query(
            f"SELECT 1 AS marked FROM {self._t('meta')} WHERE key = {self.P}",  # noqa: S608
            [BULK_MARKER],
        )
        return bool(rows)

    def _school_of(self, run: Run, stream_id: str) -> str | None:
        if stream_id in self._school_cache:
            return self._school_cache[stream_id]
        rows = run(
            f"SELECT school FROM {self._t('streams')} WHERE stream_id = {self.P}",  # noqa: S608
            [stream_id],
        )
        school = rows[0]["school"] if rows else None
        if rows:
            self._school_cache[stream_id] = school
        return school

    @abstractmethod
    def _check(self, op: Op) -> None:
        """Refuse a value the dialect would store with another type (a ViewError)."""

    def _execute(self, run: Run, op: Op) -> None:
        """Apply one operation on its own (the batched path is :meth:`apply`)."""
        self._check(op)
        table = self._t(op.table)
        if isinstance(op, Put):
            spec = TABLES_BY_NAME[op.table]
            run(
                self._upsert(table, spec.columns, spec.key),
                [op.row.get(c) for c in spec.columns],
            )
            if op.table == "streams":
                self._school_cache[str(op.row["stream_id"])] = op.row["school"]
        elif isinstance(op, Patch):
            sets = ", ".join(f"{c} = {self.P}" for c in op.values)
            where = " AND ".join(f"{c} = {self.P}" for c in op.key)
            run(
                f"UPDATE {table} SET {sets} WHERE {where}",  # noqa: S608
                [*op.values.values(), *op.key.values()],
            )
        elif isinstance(op, Delete):
            where = " AND ".join(f"{c} = {self.P}" for c in op.key)
            run(f"DELETE FROM {table} WHERE {where}", list(op.key.values()))  # noqa: S608

    # -- reading (domain.ports.ViewReader) -------------------------------------------------------

    def select(self, table: str, where: Mapping[str, object]) -> list[Row]:
        clause = where_clause(table, where, self.P)
        return self._query(
            f"SELECT * FROM {self._t(table)} WHERE {clause}",  # noqa: S608
            list(where.values()),
        )

    def select_in_force(self, table: str, where: Mapping[str, object], *, on: str) -> list[Row]:
        clause = where_clause(table, where, self.P, ("valid_from", "valid_to"))
        return self._query(
            f"SELECT * FROM {self._t(table)} WHERE {clause} "  # noqa: S608
            f"AND {IN_FORCE.format(p=self.P)}",
            [*where.values(), on, on],
        )

    def latest(
        self, table: str, where: Mapping[str, object], column: str, *, before: str | None = None
    ) -> Any:
        bounds, limits = range_clause(column, self.P, before=before)
        clause = where_clause(table, where, self.P, (column,)) + bounds
        params = [*where.values(), *limits]
        rows = self._query(
            f"SELECT MAX({column}) AS v FROM {self._t(table)} "  # noqa: S608
            f"WHERE {clause} AND {column} IS NOT NULL",
            params,
        )
        return rows[0]["v"] if rows else None

    def select_range(
        self,
        table: str,
        where: Mapping[str, object],
        column: str,
        *,
        after: str | None,
        before: str | None,
    ) -> list[Row]:
        bounds, limits = range_clause(column, self.P, after=after, before=before)
        clause = where_clause(table, where, self.P, (column,)) + bounds
        params = [*where.values(), *limits]
        return self._query(
            f"SELECT * FROM {self._t(table)} "  # noqa: S608
            f"WHERE {clause} AND {column} IS NOT NULL",
            params,
        )

    def select_any(self, table: str, column: str, values: Collection[str]) -> list[Row]:
        where_clause(table, {column: None}, self.P)  # refuses a column the table does not have
        found: list[Row] = []
        wanted = list(values)
        for start in range(0, len(wanted), ANY_CHUNK):
            chunk = wanted[start : start + ANY_CHUNK]
            found += self._query(
                f"SELECT * FROM {self._t(table)} "  # noqa: S608
                f"WHERE {column} IN ({self._marks(len(chunk))})",
                chunk,
            )
        return found

    def observation_counts(
        self,
        *,
        school: str,
        since: str | None,
        students: Collection[str],
        before: str | None = None,
    ) -> dict[str, int]:
        bounds, limits = range_clause("recorded_at", self.P, after=since, before=before)
        statement = (
            f"SELECT student_id AS s, categories AS c, COUNT(*) AS n "  # noqa: S608
            f"FROM {self._t('observations')} WHERE school = {self.P}{bounds} "
            "GROUP BY student_id, categories"
        )
        params = [school, *limits]
        return count_students_categories(
            ((row["s"], row["c"], row["n"]) for row in self._query(statement, params)), students
        )

    def event_type_counts(
        self, *, school: str, since: str | None, before: str | None = None
    ) -> dict[str, int]:
        bounds, limits = range_clause("recorded_at", self.P, after=since, before=before)
        statement = (
            f"SELECT event_type AS k, COUNT(*) AS n FROM {self._t('events')} "  # noqa: S608
            f"WHERE school = {self.P}{bounds} AND event_type NOT LIKE {self.P} "
            "GROUP BY event_type"
        )
        params = [school, *limits, "AccessLog.%"]
        return {row["k"]: int(row["n"]) for row in self._query(statement, params)}

    def history_rows(self, student_id: str, *, until: str | None = None) -> list[Row]:
        """Every indexed event about a student, in store order (optionally up to an instant)."""
        statement = f"SELECT * FROM {self._t('events')} WHERE student_id = {self.P}"  # noqa: S608
        params: list[object] = [student_id]
        if until is not None:
            statement += f" AND recorded_at <= {self.P}"
            params.append(until)
        statement += " ORDER BY position"
        return self._query(statement, params)

    def version_at(self, stream_id: str, until: str) -> int | None:
        """The stream's version as recorded at instant ``until`` (None if it did not exist)."""
        rows = self._query(
            f"SELECT MAX(version) AS v FROM {self._t('events')} "  # noqa: S608
            f"WHERE stream_id = {self.P} AND recorded_at <= {self.P}",
            [stream_id, until],
        )
        return None if not rows or rows[0]["v"] is None else int(rows[0]["v"])

    def counts(self) -> dict[str, int]:
        """Row count of every view table (for ``store info``)."""
        return {
            t.name: int(self._query(f"SELECT COUNT(*) AS n FROM {self._t(t.name)}")[0]["n"])  # noqa: S608
            for t in TABLES
        }


_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]*")
_BIGINT: Final = "bigint"
_TEXT: Final = 'text COLLATE "C"'


class PostgresViewStore(SqlViewStore):
    """View tables and their tracked position in the store's PostgreSQL schema.

    Text columns use the "C" collation, so ordering and comparison of ids and ISO instants
    are bytewise, exactly as in SQLite. A small pool of its own (``pool_size`` connections)
    serves catch-ups and reads.
    """

    P: ClassVar[str] = "%s"

    def __init__(
        self,
        app: Application[Any],
        target: PostgresTarget,
        *,
        page_size: int = DEFAULT_PAGE,
        pool_size: int = 3,
    ) -> None:
        super().__init__(app, page_size=page_size)
        if not _IDENTIFIER.fullmatch(target.schema):
            raise ViewError(f"schema name {target.schema!r} is not a plain identifier")
        self.target = target
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            make_conninfo("", **target.connect_kwargs(), connect_timeout=CONNECT_TIMEOUT),
            connection_class=psycopg.Connection[Row],
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            configure=_autocommit,
            timeout=CONNECT_TIMEOUT * 3,
            name="miljo-views",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
            self._ensure_schema()
        except (psycopg.Error, PoolTimeout) as error:
            self.pool.close()
            reason = describe_error(error, target)
            raise ViewError(f"view tables cannot be opened: {reason}") from None

    def close(self) -> None:
        self.pool.close()

    # -- dialect ----------------------------------------------------------------------------------

    def _t(self, name: str) -> str:
        return f'"{self.target.schema}".{PREFIX}{name}'

    def _integer(self) -> str:
        return "bigint"

    def _drop_index(self, table: Table, index: Sequence[str]) -> str:
        return f'DROP INDEX IF EXISTS "{self.target.schema}".{index_name(table, index)}'

    def _empty(self, table: str) -> str:
        # Not DELETE: a rebuild would leave every old row behind as a dead tuple.
        return f"TRUNCATE {table}"

    def _after_bulk(self) -> list[str]:
        # Fresh statistics for the planner: the tables changed wholesale.
        return [f"ANALYZE {self._t(t.name)}" for t in TABLES]

    def _column(self, table: Table, column: str) -> str:
        return f"{column} {_BIGINT if column in INTEGER_COLUMNS else _TEXT}"

    def _upsert(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        names = ", ".join(columns)
        rest = [c for c in columns if c not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
            if rest
            else "DO NOTHING"
        )
        return (
            f"INSERT INTO {table} ({names}) VALUES ({self._marks(len(columns))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(key)}) {action}"
        )

    def _query(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        try:
            with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute(statement, params)
                return cur.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise ViewError(
                f"view tables cannot be read: {describe_error(error, self.target)}"
            ) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[Run]:
        try:
            # Pipeline mode: writes are sent without waiting for each reply (a catch-up is
            # otherwise bound by round trips); a SELECT waits for everything before it.
            with (
                self.pool.connection() as conn,
                conn.transaction(),
                conn.pipeline(),
                conn.cursor(row_factory=dict_row) as cur,
            ):
                yield _CursorRun(conn, cur)
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise ViewError(
                f"view tables cannot be written: {describe_error(error, self.target)}"
            ) from None

    def _lock_schema(self, run: Run) -> None:
        run("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"miljo-views:{self.target.schema}"])

    def _locked_position(self, run: Run) -> int:
        rows = run(
            f"SELECT value FROM {self._t('meta')} WHERE key = 'position' FOR UPDATE",  # noqa: S608
            (),
        )
        if not rows:
            raise ViewError("the view position row is missing (rebuild the views)")
        return int(rows[0]["value"])

    def _ddl_needed(self, run: Run, version: int | None) -> bool:
        if version != SCHEMA_VERSION:
            return True
        expected = {f"{PREFIX}{t.name}" for t in TABLES} | {
            f"{PREFIX}{t.name}_{'_'.join(index)}" for t in TABLES for index in t.indexes
        }
        rows = run(
            "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [self.target.schema],
        )
        return not expected <= {str(r["name"]) for r in rows}

    def _check(self, op: Op) -> None:
        values: Mapping[str, Any]
        if isinstance(op, Put):
            values = op.row
        elif isinstance(op, Patch):
            values = op.values
        else:
            values = {}
        for column, value in values.items():
            if value is None:
                continue
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if is_int != (column in INTEGER_COLUMNS) or isinstance(value, bool):
                raise ViewError(
                    f"view column {op.table}.{column} got {type(value).__name__}; declare its "
                    "type in adapters.postgres.INTEGER_COLUMNS"
                )

    # -- following ----------------------------------------------------------------------------

    def follow(
        self,
        stop: threading.Event,
        poll_interval: float = 1.0,
        *,
        progress: Progress | None = None,
        on_caught_up: Callable[[int], None] | None = None,
    ) -> int:
        """Catch up, then keep catching up as events are stored, until ``stop`` is set.

        Wakes on the library's NOTIFY for the events table (LISTEN on a dedicated connection)
        and at least every ``poll_interval`` seconds. ``on_caught_up(position)`` is called
        after every catch-up. Returns how many notifications were applied. Errors (e.g. the
        server went away) propagate: the caller restarts it.
        """
        channel = getattr(self.app.recorder, "channel_name", None)
        applied = 0
        with connect(self.target) as listener:
            if isinstance(channel, str):
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            while not stop.is_set():
                applied += self.catch_up(progress)
                if on_caught_up is not None:
                    on_caught_up(self.position())
                deadline = time.monotonic() + poll_interval
                while not stop.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    # Consume the generator fully: it holds the connection's lock while open.
                    woken = list(listener.notifies(timeout=min(remaining, 0.2), stop_after=1))
                    if woken:
                        break
        return applied


class _CursorRun:
    """:class:`Run` on one cursor of a write transaction (in pipeline mode).

    Writes go through the one cursor without waiting for their replies. Each ``SELECT`` gets
    a cursor of its own: on the shared cursor, the reply of a write still in the pipeline
    could be taken for the ``SELECT``'s ("the last operation didn't produce records",
    seen in a 100k rebuild).
    """

    def __init__(self, conn: psycopg.Connection[Any], cur: psycopg.Cursor[Row]) -> None:
        self._conn = conn
        self._cur = cur

    def __call__(self, statement: str, params: Sequence[object], /) -> list[Row]:
        if statement.startswith("SELECT"):
            with self._conn.cursor(row_factory=dict_row) as reader:
                reader.execute(statement, params)
                return reader.fetchall()
        self._cur.execute(statement, params)
        return []

    def many(self, statement: str, rows: list[tuple[Any, ...]], /) -> None:
        self._cur.executemany(statement, rows)


def _autocommit(conn: psycopg.Connection[Row]) -> None:
    conn.autocommit = True
