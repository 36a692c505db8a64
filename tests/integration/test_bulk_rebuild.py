"""A full rebuild loads in bulk mode (ADR 0014, addendum): secondary indexes built once.

During the load the view tables have no secondary indexes and a marker row says so; at the
end every index is created and the marker deleted, in one transaction. Whoever finds the
marker (opening the store, any catch-up) creates the indexes first, so a rebuild killed
midway leaves whole pages, their position and, at the next open, every index; the next
catch-up continues from that position. The tables are always those of the object path.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest

import adapters.views
from adapters.bootstrap import StoreLocation, open_store
from adapters.postgres import PostgresViewStore
from adapters.views import BULK_MARKER, PREFIX, SQLiteViewStore, index_name
from domain.projection import TABLES
from tests.integration.test_fast_rebuild import KILLED_MID_PAGE, object_path_rows, table_rows
from tests.integration.test_views import World, newest, random_ops, sqlite_store
from tests.support import FakeClock, SequentialIds

#: Every secondary index of the view tables.
INDEXES: Final = frozenset(index_name(t, i) for t in TABLES for i in t.indexes)


def sqlite_indexes(db: sqlite3.Connection) -> set[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    return {str(row[0]) for row in rows if str(row[0]).startswith(PREFIX)}


def sqlite_marked(db: sqlite3.Connection) -> bool:
    row = db.execute(f"SELECT 1 FROM {PREFIX}meta WHERE key = ?", (BULK_MARKER,)).fetchone()  # noqa: S608 - view table
    return row is not None


def test_indexes_are_built_once_after_the_load(tmp_path: Path) -> None:
    clock = FakeClock()
    miljo, _ = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        World.populated(miljo, clock, random_ops(41, 150))
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        assert sqlite_indexes(store.db) == INDEXES
        during: list[tuple[set[str], bool]] = []
        store.bulk_page_size = 20

        def progress(done: int, total: int) -> None:
            during.append((sqlite_indexes(store.db), sqlite_marked(store.db)))

        assert store.rebuild(progress) == newest(miljo.app)
        assert len(during) > 2  # several pages
        assert all(indexes == set() and marked for indexes, marked in during)
        assert sqlite_indexes(store.db) == INDEXES
        assert not sqlite_marked(store.db)
        assert table_rows(store) == object_path_rows(miljo.app)


def test_a_catch_up_from_zero_of_many_events_loads_in_bulk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    miljo, location = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        World.populated(miljo, clock, random_ops(42, 120))
        total = newest(miljo.app)
    assert location.db_path is not None
    with sqlite3.connect(location.db_path) as db:  # as a SCHEMA_VERSION change leaves it
        db.execute(f"UPDATE {PREFIX}meta SET value = 0 WHERE key = 'position'")  # noqa: S608 - view table
        for table in TABLES:
            db.execute(f"DELETE FROM {PREFIX}{table.name}")  # noqa: S608 - view table
    monkeypatch.setattr(adapters.views, "BULK_THRESHOLD", total)
    bulk_loads: list[int] = []
    real_start = SQLiteViewStore._start_bulk

    def start(self: SQLiteViewStore) -> None:
        bulk_loads.append(self.position())
        real_start(self)

    monkeypatch.setattr(SQLiteViewStore, "_start_bulk", start)
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        assert store.catch_up() == total
        assert bulk_loads == [0]
        assert sqlite_indexes(store.db) == INDEXES
        assert not sqlite_marked(store.db)
        assert table_rows(store) == object_path_rows(miljo.app)
        assert store.catch_up() == 0  # from a position other than 0: never a bulk load
        assert bulk_loads == [0]


def test_a_rebuild_killed_midway_is_completed_with_every_index(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        World.populated(miljo, clock, random_ops(44, 120))
        total = newest(miljo.app)
    assert sqlite_location.db_path is not None
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    died = subprocess.run(
        [sys.executable, "-c", KILLED_MID_PAGE, str(sqlite_location.db_path), "25", "40"],
        env=env,
        check=False,
        timeout=120,
    )
    assert died.returncode == 9
    with sqlite3.connect(sqlite_location.db_path) as db:  # as the killed process left it
        assert sqlite_marked(db)
        assert sqlite_indexes(db) == set()
        position = f"SELECT value FROM {PREFIX}meta WHERE key = 'position'"  # noqa: S608 - view table
        left = int(db.execute(position).fetchone()[0])
    assert 0 < left < total
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        assert sqlite_indexes(store.db) == INDEXES  # built when the store was opened
        assert not sqlite_marked(store.db)
        assert store.position() == left
        assert store.catch_up() == total - left
        assert table_rows(store) == object_path_rows(miljo.app)


def test_a_catch_up_during_another_store_s_bulk_load_builds_the_indexes_first(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    miljo, location = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        World.populated(miljo, clock, random_ops(45, 100))
        total = newest(miljo.app)
        loading = miljo.views
        assert isinstance(loading, SQLiteViewStore)
        assert location.db_path is not None
        other = SQLiteViewStore(miljo.app, location.db_path, page_size=9)
        try:
            loading._start_bulk()  # another store's rebuild has begun
            notifications = loading.reader.page(0, 30)
            loading.apply(notifications, expected_position=0)
            assert sqlite_indexes(other.db) == set()
            assert other.catch_up() == total - 30
            assert sqlite_indexes(other.db) == INDEXES
            assert not sqlite_marked(other.db)
            assert table_rows(other) == object_path_rows(miljo.app)
        finally:
            other.close()


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def pg_indexes(store: PostgresViewStore) -> set[str]:
    rows = store._query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s", [store.target.schema]
    )
    return {str(r["indexname"]) for r in rows if str(r["indexname"]) in INDEXES}


@pytest.mark.postgres
def test_postgres_indexes_are_built_once_and_an_interrupted_load_is_completed(
    postgres_schema: Any, tmp_path: Path, clock: FakeClock
) -> None:
    from tests.integration.conftest import new_postgres_store

    location = new_postgres_store(postgres_schema, tmp_path / "pg.keys")
    assert location.postgres is not None
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        World.populated(miljo, clock, random_ops(46, 120))
        total = newest(miljo.app)
        store = miljo.views
        assert isinstance(store, PostgresViewStore)
        assert pg_indexes(store) == INDEXES
        store.bulk_page_size = 20
        during: list[tuple[set[str], bool]] = []

        def progress(done: int, of: int) -> None:
            during.append((pg_indexes(store), store._bulk_marked()))

        assert store.rebuild(progress) == total
        assert len(during) > 2
        assert all(indexes == set() and marked for indexes, marked in during)
        assert pg_indexes(store) == INDEXES
        assert not store._bulk_marked()
        assert table_rows(store) == object_path_rows(miljo.app)

        # Interrupted: the marker, no indexes, some pages applied; then a new store opens.
        store._start_bulk()
        store.apply(store.reader.page(0, 30), expected_position=0)
        assert pg_indexes(store) == set()
        reopened = PostgresViewStore(miljo.app, location.postgres)
        try:
            assert pg_indexes(reopened) == INDEXES
            assert not reopened._bulk_marked()
            assert reopened.position() == 30
            assert reopened.catch_up() == total - 30
            assert table_rows(reopened) == object_path_rows(miljo.app)
        finally:
            reopened.close()
