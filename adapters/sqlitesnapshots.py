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
from typing import Final

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
