"""The SQLite connection pool with a statement cache (adapters.sqlitepool, ADR 0017)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import SQLiteConnectionPool, SQLiteDatastore, SQLiteFactory

from adapters.chain import MiljoSQLiteFactory
from adapters.sqlitepool import MiljoSQLiteConnectionPool, use_statement_cache


def factory_for(db_path: Path, **env: str) -> MiljoSQLiteFactory:
    return MiljoSQLiteFactory({"SQLITE_DBNAME": str(db_path), **env})


def test_the_factory_takes_connections_from_the_caching_pool(tmp_path: Path) -> None:
    factory = factory_for(tmp_path / "store.sqlite", SQLITE_LOCK_TIMEOUT="7")
    try:
        pool = factory.datastore.pool
        assert type(pool) is MiljoSQLiteConnectionPool
        assert pool.db_name == str(tmp_path / "store.sqlite")
        assert pool.lock_timeout == 7
    finally:
        factory.close()


def test_a_pooled_connection_is_made_as_the_librarys(tmp_path: Path) -> None:
    """WAL, autocommit (the library issues BEGIN itself) and rows as sqlite3.Row."""
    db_path = tmp_path / "store.sqlite"
    factory = factory_for(db_path)
    try:
        with factory.datastore.transaction(commit=True) as cursor:
            cursor.execute("CREATE TABLE t (x INTEGER)")
            cursor.execute("INSERT INTO t VALUES (1)")
        with factory.datastore.get_connection(commit=False) as connection:
            raw = connection._sqlite_conn
            assert raw.isolation_level is None
            assert raw.row_factory is sqlite3.Row
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("SELECT x FROM t").fetchone()["x"] == 1
        assert factory.datastore.pool.is_journal_mode_wal
        assert factory.datastore.pool.journal_mode_was_changed_to_wal
    finally:
        factory.close()
    # The committed row is in the file for any other connection.
    with sqlite3.connect(db_path) as other:
        assert other.execute("SELECT x FROM t").fetchall() == [(1,)]
    other.close()


def test_an_unopenable_database_is_the_librarys_interface_error(tmp_path: Path) -> None:
    pool = MiljoSQLiteConnectionPool(db_name=str(tmp_path / "missing" / "store.sqlite"))
    try:
        with pytest.raises(InterfaceError, match="unable to open database"):
            pool.get_connection()
    finally:
        pool.close()


def test_the_new_pool_keeps_the_old_pools_settings(tmp_path: Path) -> None:
    old = SQLiteConnectionPool(
        db_name=str(tmp_path / "s.sqlite"),
        lock_timeout=3,
        pool_size=2,
        max_overflow=4,
        pool_timeout=1.5,
        max_age=60.0,
        pre_ping=True,
    )

    class Holder:
        pool: SQLiteConnectionPool = old

    holder = Holder()
    use_statement_cache(holder)  # type: ignore[arg-type] # the one attribute it uses
    new = holder.pool
    try:
        assert type(new) is MiljoSQLiteConnectionPool
        assert (
            new.db_name,
            new.lock_timeout,
            new.pool_size,
            new.max_overflow,
            new.pool_timeout,
            new.max_age,
            new.pre_ping,
        ) == (str(tmp_path / "s.sqlite"), 3, 2, 4, 1.5, 60.0, True)
    finally:
        new.close()


STATEMENTS = (
    "INSERT INTO t (x) VALUES (?)",
    "SELECT x FROM t WHERE x > ? ORDER BY x LIMIT 10",
    "PRAGMA data_version",
)


def statements_kept(datastore: SQLiteDatastore) -> int:
    """Of STATEMENTS, run three times in transactions, how many the pooled connection still
    holds prepared (SQLite's ``sqlite_stmt`` table lists a connection's prepared statements;
    only a statement cache keeps them after they ran)."""
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("CREATE TABLE t (x INTEGER)")
    for n in range(3):
        with datastore.transaction(commit=True) as cursor:
            for sql in STATEMENTS:
                cursor.execute(sql, (n,) if "?" in sql else ())
    with datastore.get_connection(commit=False) as connection:
        raw = connection._sqlite_conn
        try:
            rows = raw.execute("SELECT sql FROM sqlite_stmt").fetchall()
        except sqlite3.OperationalError:  # SQLite built without SQLITE_ENABLE_STMTVTAB
            pytest.skip("this SQLite has no sqlite_stmt table")
    return len({row[0] for row in rows} & set(STATEMENTS))


def test_the_command_paths_statements_stay_prepared_between_transactions(
    tmp_path: Path,
) -> None:
    miljo = factory_for(tmp_path / "miljo.sqlite")
    library = SQLiteFactory({"SQLITE_DBNAME": str(tmp_path / "library.sqlite")})
    try:
        assert statements_kept(miljo.datastore) == len(STATEMENTS)
        # The library's own pool keeps one statement (``cached_statements=True``).
        assert statements_kept(library.datastore) <= 1
    finally:
        miljo.close()
        library.close()
