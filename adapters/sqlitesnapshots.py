"""The SQLite snapshot table as an ordinary (rowid) table (docs/adr/0016-sqlite-snapshot-table.md).

The library creates ``stored_snapshots`` as a ``WITHOUT ROWID`` table: its rows live in the
primary key's B-tree itself. SQLite's own guidance is that such tables suit rows smaller than
about a twentieth of a page, and miljo's snapshots are not: a School or Team snapshot is tens
to hundreds of kB, a student with a long history several MB (``SNAPSHOT_LADDER`` keeps the
older ones for as-of reads). Measured on the 100k benchmark store (36 snapshots, 64 MB, the
largest 5.8 MB): every lookup, even of an id with no snapshot, took 10-14 ms, because the
search compares against cells whose payload SQLite reads in full. In a rowid table the
primary key is a separate index of (originator_id, originator_version, rowid) and the row is
read only when found: 9-24 us for the same lookups.

:class:`MiljoSQLiteSnapshotRecorder` creates the table without ``WITHOUT ROWID`` and moves an
older store's table to that layout when it is opened (one ``BEGIN IMMEDIATE`` transaction, so
two processes opening the store at once do it once; rows and their order are kept).
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLITE3_DEFAULT_LOCK_TIMEOUT, SQLiteAggregateRecorder

#: Suffix of the old table while its rows are moved (inside the migrating transaction only).
_OLD_SUFFIX: Final = "_without_rowid"


def _is_without_rowid(sql: str | None) -> bool:
    return sql is not None and "WITHOUT ROWID" in " ".join(sql.upper().split())


class MiljoSQLiteSnapshotRecorder(SQLiteAggregateRecorder):
    """The library's aggregate recorder (used for snapshots) on a rowid table."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS "
            f"{self.events_table_name} ("
            "originator_id TEXT, "
            "originator_version INTEGER, "
            "topic TEXT, "
            "state BLOB, "
            "PRIMARY KEY "
            "(originator_id, originator_version))"
        ]

    def create_table(self) -> None:
        if _is_without_rowid(self._layout()):
            self._move_to_rowid_table()
        super().create_table()

    def _layout(self) -> str | None:
        """The table's ``CREATE`` statement as SQLite keeps it (None: no table yet)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                (self.events_table_name,),
            )
            row = cursor.fetchone()
        return None if row is None else str(row["sql"])

    def _move_to_rowid_table(self) -> None:
        """Copy an older store's ``WITHOUT ROWID`` table into the rowid layout, in one
        transaction that takes the write lock first (a second process opening the store at
        the same time waits, then finds the work done)."""
        table = self.events_table_name
        old = table + _OLD_SUFFIX
        pool = self.datastore.pool
        db = sqlite3.connect(
            pool.db_name,
            uri=True,
            isolation_level=None,
            timeout=pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
        )
        with contextlib.closing(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                if row is not None and _is_without_rowid(row[0]):
                    db.execute(f"ALTER TABLE {table} RENAME TO {old}")
                    for statement in self.construct_create_table_statements():
                        db.execute(statement)
                    db.execute(
                        f"INSERT INTO {table} (originator_id, originator_version, topic, state) "  # noqa: S608 - the library's table names
                        f"SELECT originator_id, originator_version, topic, state FROM {old} "
                        "ORDER BY originator_id, originator_version"
                    )
                    db.execute(f"DROP TABLE {old}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


class SQLiteStreamReader:
    """``domain.application.StreamReader`` for an SQLite store: a stream's newest snapshot
    (at or below ``lte``) and its events after it, read in one transaction on one pooled
    connection (docs/adr/0013-command-path-cache.md, addendum "a student's first load").

    The library's ``Repository`` reads them with two ``select_events`` calls, each taking a
    pooled connection and its own ``BEGIN``/``ROLLBACK``. The statements here are the ones
    the library's recorders run, so they share the connections' statement cache; being one
    read transaction, the snapshot and the events are also from one state of the file.
    """

    def __init__(self, snapshots: SQLiteAggregateRecorder, events: SQLiteAggregateRecorder) -> None:
        if not self.fits(snapshots, events):
            raise ValueError("the recorders do not share one SQLite datastore with UUID ids")
        self.datastore = events.datastore
        self._snapshots = snapshots.select_events_statement
        self._events = events.select_events_statement
        self._after = self._events + "AND originator_version>? ORDER BY originator_version ASC "

    @staticmethod
    def fits(snapshots: SQLiteAggregateRecorder, events: SQLiteAggregateRecorder) -> bool:
        """Whether the recorders share one datastore, with UUID originator ids."""
        return (
            snapshots.datastore is events.datastore
            and events.datastore.originator_id_type == "uuid"
        )

    def __call__(
        self, originator_id: UUID, lte: int | None
    ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        key = originator_id.hex
        snapshot_sql = self._snapshots
        snapshot_params: list[Any] = [key]
        if lte is not None:
            snapshot_sql += "AND originator_version<=? "
            snapshot_params.append(lte)
        snapshot_sql += "ORDER BY originator_version DESC LIMIT ? "
        snapshot_params.append(1)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(snapshot_sql, snapshot_params)
            row = cursor.fetchone()
            snapshot = None if row is None else self._stored(originator_id, row)
            events_sql = self._events
            events_params: list[Any] = [key]
            if snapshot is not None:
                events_sql += "AND originator_version>? "
                events_params.append(snapshot.originator_version)
            if lte is not None:
                events_sql += "AND originator_version<=? "
                events_params.append(lte)
            events_sql += "ORDER BY originator_version ASC "
            cursor.execute(events_sql, events_params)
            events = [self._stored(originator_id, row) for row in cursor.fetchall()]
        return snapshot, events

    def after(self, originator_id: UUID, gt: int) -> list[StoredEvent]:
        """The stream's events after version ``gt`` (the library's statement)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._after, [originator_id.hex, gt])
            return [self._stored(originator_id, row) for row in cursor.fetchall()]

    @staticmethod
    def _stored(originator_id: UUID, row: Any) -> StoredEvent:
        # Every row matched ``originator_id=?`` with the id's hex: the id object is reused
        # instead of parsing the column again (the library's UUID(...) per row).
        return StoredEvent(
            originator_id=originator_id,
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"],
        )
