"""The view stores' read path (``adapters.fastread``) against the object path.

The object path is what the view stores did before ADR 0014 and what the oracle here still
does: the application's mapper decodes every notification (opening every sealed field),
``domain.projection.project`` maps the event, and each row operation is one statement. The
view stores instead decode without the personal fields, batch a page's rows per table and
write them with ``executemany``. Both must give identical tables: on random histories (memory,
SQLite file, PostgreSQL), with erased students, on the golden v1/v2 stored events, and with a
stream cache far smaller than the store. Around it: a page's rows and its position commit
together even when the process is killed mid-page, and what a rebuild keeps in Python memory
does not grow with the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings

import adapters.views
from adapters.bootstrap import StoreLocation, open_store
from adapters.fastread import NotificationRecord
from adapters.postgres import PostgresViewStore
from adapters.protection import MiljoCipher
from adapters.views import SQLiteViewStore
from domain.application import MiljoApplication
from domain.base import MiljoAggregate
from domain.facade import Miljo
from domain.projection import TABLES, Delete, Op, Patch, Put, project
from domain.student import Student
from tests.golden.make_golden import GOLDEN_DIR
from tests.integration.conftest import new_sqlite_store
from tests.integration.test_views import (
    OPERATIONS,
    SCHOOL,
    World,
    memory_store,
    newest,
    operations,
    random_ops,
    sqlite_store,
)
from tests.support import REKTOR, FakeClock, SequentialIds

Rows = dict[str, list[tuple[Any, ...]]]
PAGE: Final = 7  # small pages: many page boundaries in small histories

# ---------------------------------------------------------------------------------------------
# The oracle: the object path, one statement per row operation
# ---------------------------------------------------------------------------------------------


def object_path_rows(app: MiljoApplication) -> Rows:
    """The view tables as the object path builds them from every stored event."""
    with tempfile.TemporaryDirectory() as folder:
        target = SQLiteViewStore(app, Path(folder) / "oracle.sqlite")  # for its tables only
        db = target.db

        def school_of(stream_id: str) -> str | None:
            row = db.execute(
                "SELECT school FROM view_streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            return None if row is None else str(row[0]) if row[0] is not None else None

        notifications = app.recorder.select_notifications(start=1, limit=newest(app) + 1)
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            assert isinstance(event, MiljoAggregate.Event)
            for op in project(event, notification.id, school_of):
                _one_statement(db, op)
        rows = table_rows(target)
        target.close()
        return rows


def _one_statement(db: sqlite3.Connection, op: Op) -> None:
    """One statement per operation, as the view stores did before batching (the names are
    the projection's own table and column names)."""
    table = f"view_{op.table}"
    if isinstance(op, Put):
        columns = next(t.columns for t in TABLES if t.name == op.table)
        marks = ", ".join("?" for _ in columns)
        db.execute(
            f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - projection names
            [op.row.get(c) for c in columns],
        )
    elif isinstance(op, Patch):
        sets = ", ".join(f"{c} = ?" for c in op.values)
        where = " AND ".join(f"{c} = ?" for c in op.key)
        db.execute(
            f"UPDATE {table} SET {sets} WHERE {where}",  # noqa: S608 - projection names
            [*op.values.values(), *op.key.values()],
        )
    else:
        assert isinstance(op, Delete)
        where = " AND ".join(f"{c} = ?" for c in op.key)
        db.execute(f"DELETE FROM {table} WHERE {where}", list(op.key.values()))  # noqa: S608 - projection names


def table_rows(store: Any) -> Rows:
    """Every view table's rows, as sorted tuples in column order (any view store)."""
    return {
        t.name: sorted(
            (tuple(row[c] for c in t.columns) for row in store.select(t.name, {})), key=repr
        )
        for t in TABLES
    }


def count_full_decodes(store: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts, by topic, the notifications the store decodes through the mapper (``full``)."""
    topics: Counter[str] = Counter()
    real_full = store.reader.full

    def full(notification: NotificationRecord) -> MiljoAggregate.Event | None:
        topics[notification.topic] += 1
        event: MiljoAggregate.Event | None = real_full(notification)
        return event

    monkeypatch.setattr(store.reader, "full", full)
    return topics


def topics_in(app: MiljoApplication) -> Counter[str]:
    return Counter(
        n.topic for n in app.recorder.select_notifications(start=1, limit=newest(app) + 1)
    )


def erase_one(miljo: Miljo, world: World) -> None:
    """Erase the personal data of the first student with an observation (if any)."""
    if world.observations:
        miljo.erase_personal_data(REKTOR, world.observations[0][0], basis="request")


# ---------------------------------------------------------------------------------------------
# Identical tables
# ---------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(ops=operations)
def test_random_histories_project_identically_on_both_paths(ops: list[tuple[int, int]]) -> None:
    clock = FakeClock()
    with memory_store(clock) as miljo:
        assert isinstance(miljo.app.mapper.cipher, MiljoCipher)  # fields are sealed at rest
        World.populated(miljo, clock, ops)
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        store.page_size = store.bulk_page_size = PAGE
        store.rebuild()
        assert table_rows(store) == object_path_rows(miljo.app)


def test_a_sqlite_file_reads_the_events_table_directly_and_projects_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    miljo, _ = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        world = World.populated(miljo, clock, random_ops(20261126, 260))
        erase_one(miljo, world)
        world.run(random_ops(14, 40))
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        assert store.reader._db is not None  # the same file: read straight from its table
        full_topics = count_full_decodes(store, monkeypatch)
        store.page_size = store.bulk_page_size = PAGE
        store.rebuild()
        fast = table_rows(store)
        assert fast == object_path_rows(miljo.app)
        # Only the projections that read a personal field went through the mapper: the
        # aktivitetsplan summary counts its (sealed) measures.
        plans = topics_in(miljo.app)[Student.AktivitetsplanCreated.TOPIC]
        assert plans > 0
        assert full_topics == Counter({Student.AktivitetsplanCreated.TOPIC: plans})
        assert {t: len(rows) for t, rows in fast.items() if not rows} == {}  # rich history


def test_a_stream_cache_far_smaller_than_the_store_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    miljo, _ = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        World.populated(miljo, clock, random_ops(5, 200))
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        monkeypatch.setattr(adapters.views, "SCHOOL_CACHE_LIMIT", 3)
        store.page_size = store.bulk_page_size = PAGE
        store.rebuild()
        assert table_rows(store) == object_path_rows(miljo.app)
        assert len(store._school_cache) <= 3 + PAGE * 2  # trimmed between pages


@pytest.mark.postgres
def test_postgres_views_project_identically(
    postgres_schema: Any, tmp_path: Path, clock: FakeClock
) -> None:
    from tests.integration.conftest import new_postgres_store

    location = new_postgres_store(postgres_schema, tmp_path / "pg.keys")
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        world = World.populated(miljo, clock, random_ops(77, 160))
        erase_one(miljo, world)
        store = miljo.views
        assert isinstance(store, PostgresViewStore)
        store.page_size = store.bulk_page_size = PAGE
        store.rebuild()
        assert table_rows(store) == object_path_rows(miljo.app)


# ---------------------------------------------------------------------------------------------
# Golden stored events (v1 and v2 payloads, upcast on the way)
# ---------------------------------------------------------------------------------------------


GOLDEN_FILES: Final = sorted(GOLDEN_DIR.glob("*-events.jsonl"))


@pytest.mark.parametrize("events_file", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_stored_events_project_identically_on_both_paths(
    events_file: Path, tmp_path: Path
) -> None:
    """Every payload of a golden file, encrypted with the store's payload cipher (its
    personal fields in clear inside, as old stores may hold them), in a SQLite store file."""
    assert len(GOLDEN_FILES) >= 2  # v1 and v2
    with events_file.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    location = new_sqlite_store(tmp_path / "miljo.sqlite")
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        app = miljo.app
        cipher = app.mapper.cipher
        assert isinstance(cipher, MiljoCipher)
        assert Student.AktivitetsplanCreated.TOPIC in {r["topic"] for r in records}
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=r["originator_id"],
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=cipher.encrypt(r["state"].encode("utf-8")),
                )
                for r in records
            ]
        )
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        store.page_size = store.bulk_page_size = PAGE
        assert store.rebuild() == len(records)
        fast = table_rows(store)
        assert len(fast["events"]) == len(records)
        assert fast == object_path_rows(app)


# ---------------------------------------------------------------------------------------------
# A page's rows and its position commit together
# ---------------------------------------------------------------------------------------------

KILLED_MID_PAGE: Final = textwrap.dedent(
    """
    import os, sys
    from adapters.bootstrap import open_store, resolve_store
    from adapters.views import SQLiteViewStore

    with open_store(resolve_store(sys.argv[1])) as miljo:
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        store.page_size = store.bulk_page_size = int(sys.argv[2])
        runs = 0
        real = store._write_rows

        def dying(statement, rows):
            global runs
            runs += 1
            real(statement, rows)
            if runs == int(sys.argv[3]):
                os._exit(9)  # killed with a page half written, before its position

        store._write_rows = dying
        store.rebuild()
    """
)


def test_a_process_killed_mid_page_leaves_rows_and_position_together(
    sqlite_location: StoreLocation, tmp_path: Path
) -> None:
    clock = FakeClock()
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        World.populated(miljo, clock, random_ops(3, 120))
        total = newest(miljo.app)
    assert sqlite_location.db_path is not None
    page = 25
    # With pages of 25, the fourth page is still being written when the process dies.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    died = subprocess.run(
        [sys.executable, "-c", KILLED_MID_PAGE, str(sqlite_location.db_path), str(page), "40"],
        env=env,
        check=False,
        timeout=120,
    )
    assert died.returncode == 9
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        position = store.position()
        assert 0 < position < total
        assert position % page == 0  # whole pages only
        survived = table_rows(store)
        assert len(survived["events"]) == position
        # ... and exactly the rows of those events: the same as a fresh catch-up that far.
        reference = SQLiteViewStore(miljo.app, tmp_path / "reference.sqlite")
        assert reference.catch_up(limit=position) == position
        assert survived == table_rows(reference)
        reference.close()
        assert store.catch_up() == total - position
        assert table_rows(store) == object_path_rows(miljo.app)


# ---------------------------------------------------------------------------------------------
# Bounded memory
# ---------------------------------------------------------------------------------------------


def peak_python_memory(store: SQLiteViewStore, limit: int) -> int:
    """Peak bytes allocated by Python while rebuilding the first ``limit`` notifications."""
    store.rebuild()  # warm: topics resolved, statements prepared
    tracemalloc.start()
    try:
        store.db.execute("BEGIN IMMEDIATE")
        store._reset_tables()
        store.db.execute("COMMIT")
        tracemalloc.reset_peak()
        store.catch_up(limit=limit)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_what_a_rebuild_keeps_in_memory_does_not_grow_with_the_store(tmp_path: Path) -> None:
    clock = FakeClock()
    miljo, _ = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        world = World.populated(miljo, clock, random_ops(99, 700))
        observe = OPERATIONS.index(World.op_observation)
        world.run([(observe, k) for k in range(300)])  # more history on the same streams
        total = newest(miljo.app)
        assert total > 600
        store = miljo.views
        assert isinstance(store, SQLiteViewStore)
        store.page_size = 50
        small = peak_python_memory(store, total // 6)
        whole = peak_python_memory(store, total)
        # Six times the events, not six times the peak: a page, not the store, is held at
        # once (the whole store as one page peaks at about six times; the stream and topic
        # caches grow a little with the streams seen).
        assert whole < small * 2, (small, whole)
        assert store.position() == total
        assert len(store.select("events", {})) == total
        assert store.select("schools", {"school": SCHOOL})
