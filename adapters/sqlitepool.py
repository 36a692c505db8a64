"""The library's SQLite connection pool with a real prepared-statement cache (ADR 0017).

``eventsourcing.sqlite.SQLiteConnectionPool`` opens its connections with
``cached_statements=True``, which Python's ``sqlite3`` reads as a cache of *one* statement.
Every command runs several different statements on the same pooled connection (``BEGIN``,
the write watch's ``PRAGMA``, the events ``INSERT``, the chain ``INSERT``, ``COMMIT``), so
each of them was compiled again on every call. This pool opens the same connections in the
same way, with a cache of :data:`STATEMENT_CACHE` statements.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)

#: Prepared statements kept per connection (Python's own default is 128).
STATEMENT_CACHE: Final = 128


class MiljoSQLiteConnectionPool(SQLiteConnectionPool):
    """``SQLiteConnectionPool`` whose connections keep :data:`STATEMENT_CACHE` statements.

    The connection is made exactly as the library's (URI names, autocommit, WAL, ``Row``
    rows, the lock timeout, errors wrapped in the library's ``InterfaceError``); only the
    ``cached_statements`` argument differs.
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # autocommit: the library issues BEGIN itself
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as error:
            raise InterfaceError(error) from error
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = str(c.execute("PRAGMA journal_mode").fetchone()[0])
            if mode.lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


def use_statement_cache(datastore: SQLiteDatastore) -> None:
    """Give ``datastore`` a :class:`MiljoSQLiteConnectionPool` with its pool's settings.

    Called while the factory is built, before any connection is taken from the pool; the
    library's pool, still empty, is closed.
    """
    old = datastore.pool
    datastore.pool = MiljoSQLiteConnectionPool(
        db_name=old.db_name,
        lock_timeout=old.lock_timeout,
        pool_size=old.pool_size,
        max_overflow=old.max_overflow,
        pool_timeout=old.pool_timeout,
        max_age=old.max_age,
        pre_ping=old.pre_ping,
    )
    old.close()
