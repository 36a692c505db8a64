"""The rebuild child's database timing (``bench/child.py``): the time a rebuild spends
inside its view store's database calls.

* SQLite: a rebuild through the stand-in connection writes the same view rows as one
  without it, and the clock counts calls and time (more than nothing, less than the whole
  rebuild); the store's own connection is back afterwards.
* PostgreSQL: the same with the timed write transactions, statements and notification
  reads; every method patched for it is the original again afterwards, also after an error.
* ``rebuild`` (what ``python -m bench.child rebuild`` prints) reports one figure per
  repeat; a view store of another kind is left alone.

No timing is asserted beyond "more than nothing, at most the whole".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from adapters.bootstrap import PostgresTarget, StoreLocation, open_store  # noqa: E402
from adapters.postgres import PostgresViewStore, _CursorRun  # noqa: E402
from adapters.storeops import copy_store  # noqa: E402
from adapters.views import SQLiteViewStore  # noqa: E402
from bench import child  # noqa: E402
from bench.generate import build_into, store_files  # noqa: E402
from tests.conftest import postgres_location, temporary_schema  # noqa: E402
from tests.integration.test_bench_cost import SMALL  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreLocation:
    folder = tmp_path_factory.mktemp("child") / "store"
    build_into(folder, SMALL, 7, "test", quiet=True)
    return StoreLocation(*store_files(folder))


def view_rows(views: SQLiteViewStore) -> dict[str, list[tuple[object, ...]]]:
    names = [
        row[0]
        for row in views.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'view_%' "
            "ORDER BY name"
        ).fetchall()
    ]
    found = {}
    for name in names:
        query = f"SELECT * FROM {name} ORDER BY 1, 2"  # noqa: S608 - names from sqlite_master
        found[name] = [tuple(row) for row in views.db.execute(query).fetchall()]
    return found


def test_a_timed_rebuild_writes_the_same_rows(store: StoreLocation) -> None:
    with open_store(store) as miljo:
        views = miljo.views
        assert isinstance(views, SQLiteViewStore)
        connection = views.db
        events = miljo.rebuild_views()
        plain = view_rows(views)
        with child.time_sql(views) as timed:
            assert timed is not None
            assert isinstance(vars(views)["db"], child.TimedConnection)  # the stand-in
            start = time.perf_counter()
            assert miljo.rebuild_views() == events
            whole = time.perf_counter() - start
        assert views.db is connection
        assert vars(views.reader)["_db"] is connection
        assert timed.calls > events / 5_000  # at least a page read, its rows and its commit
        assert 0 < timed.seconds <= whole
        assert view_rows(views) == plain
        assert sum(len(rows) for rows in plain.values()) > events  # history rows and more


def pg_rows(views: PostgresViewStore) -> dict[str, list[dict[str, object]]]:
    return {name: views.select(name, {}) for name in ("events", "students", "observations")}


@pytest.mark.postgres
def test_a_timed_postgres_rebuild_writes_the_same_rows_and_puts_everything_back(
    store: StoreLocation, postgres_target: PostgresTarget, tmp_path: Path
) -> None:
    with temporary_schema(postgres_target) as target:
        location = postgres_location(target, tmp_path / "pg.keys")
        copy_store(store, location)
        with open_store(location) as miljo:
            views = miljo.views
            assert isinstance(views, PostgresViewStore)
            recorder = miljo.app.recorder
            originals = (_CursorRun.many, _CursorRun.__call__)
            own_write = views._write
            views._write = own_write  # type: ignore[method-assign]  # an attribute of its own, kept
            events = miljo.rebuild_views()
            plain = pg_rows(views)
            with child.time_sql(views) as timed:
                assert timed is not None
                assert "_write" in vars(views)
                assert "select_notifications" in vars(recorder)
                start = time.perf_counter()
                assert miljo.rebuild_views() == events
                whole = time.perf_counter() - start
            assert timed.calls > events / 5_000
            assert 0 < timed.seconds <= whole
            assert pg_rows(views) == plain
            assert vars(views)["_write"] is own_write  # put back, not deleted
            assert "select_notifications" not in vars(recorder)
            assert (_CursorRun.many, _CursorRun.__call__) == originals
            del views._write
            with pytest.raises(RuntimeError), child.time_sql(views):
                raise RuntimeError("a failed rebuild")
            assert "_write" not in vars(views)
            assert (_CursorRun.many, _CursorRun.__call__) == originals


def test_the_child_reports_sql_seconds_per_repeat(store: StoreLocation) -> None:
    result = child.rebuild(str(store.db_path), 2)
    seconds = result["seconds"]
    sql = result["sql_seconds"]
    assert isinstance(seconds, list)
    assert isinstance(sql, list)
    assert len(sql) == len(seconds) == 2
    assert all(0 < s <= whole for s, whole in zip(sql, seconds, strict=True))
    calls = result["sql_calls"]
    assert isinstance(calls, int)
    assert calls > 0


def test_another_view_store_is_left_alone() -> None:
    with child.time_sql(object()) as timed:
        assert timed is None
