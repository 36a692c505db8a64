"""An observation's categories live on its own ``observations`` row (projection
``SCHEMA_VERSION`` 4, ADR 0014): the overview counts them in one range scan of
``(school, recorded_at)`` instead of looking each observation's categories up in a table of
their own. A store whose views have an older layout drops that table when it is opened.

The overview's own results (counts since the last ressursteam, corrections, departed
students) are tested in test_overview.py; this module tests the rows and the layout change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.bootstrap import PostgresTarget, StoreLocation, open_store
from adapters.postgres import PostgresViewStore
from adapters.views import PREFIX, SQLiteViewStore
from domain.facade import Miljo
from domain.projection import (
    CATEGORY_SEPARATOR,
    RETIRED_TABLES,
    count_categories,
    observation_categories,
)
from domain.values import ObservationCategory
from tests.integration.conftest import (
    GJESDAL,
    build_gjesdal,
    new_postgres_store,
    new_sqlite_store,
    observe_break,
    register_test_student,
)
from tests.support import COORDINATOR, FakeClock, SequentialIds

CODES = [c.value for c in ObservationCategory]


def everyone(miljo: Miljo) -> set[str]:
    """The ids of Gjesdal's students, as the overview passes them to the count."""
    return {str(s["student_id"]) for s in miljo.views.select("students", {"school": GJESDAL})}


def test_no_category_code_contains_the_separator() -> None:
    assert all(CATEGORY_SEPARATOR not in code for code in CODES)


@given(st.lists(st.lists(st.sampled_from(CODES), min_size=1, max_size=4, unique=True)))
def test_counting_joined_categories_counts_each_observation_once_per_category(
    observations: list[list[str]],
) -> None:
    joined = [CATEGORY_SEPARATOR.join(categories) for categories in observations]
    assert [observation_categories(j) for j in joined] == observations
    expected: dict[str, int] = {}
    for categories in observations:
        for code in categories:
            expected[code] = expected.get(code, 0) + 1
    groups: dict[str, int] = {}  # as the view store's GROUP BY gives them
    for j in joined:
        groups[j] = groups.get(j, 0) + 1
    assert count_categories(groups.items()) == expected
    assert count_categories([(None, 3), ("", 2)]) == {}


def test_recorded_and_corrected_categories_are_on_the_observation_row(
    store: Miljo, clock: FakeClock
) -> None:
    build_gjesdal(store)
    student = register_test_student(store)
    first = store.record_observation(
        COORDINATOR, student, arena="break", categories=["conflict", "social"], text="Uro."
    )
    second = observe_break(store, student)
    store.correct_observation(
        COORDINATOR,
        student,
        corrects=second,
        arena="classroom",
        categories=["family"],
        text="Retta: gjaldt heimesituasjonen.",
        observed_at=clock.now(),
        reason="feil kategori",
    )
    store.catch_up()
    rows = {r["observation_id"]: r for r in store.views.select("observations", {"school": GJESDAL})}
    assert rows[str(first)]["categories"] == "conflict,social"
    assert rows[str(second)]["categories"] == "family"
    counts = store.views.observation_counts(school=GJESDAL, since=None, students={str(student)})
    assert counts == {"conflict": 1, "social": 1, "family": 1}
    # Only the students asked for count (the overview passes its active students of a trinn).
    assert store.views.observation_counts(school=GJESDAL, since=None, students=set()) == {}
    other = register_test_student(store, number="1002")
    observe_break(store, other)
    store.catch_up()
    assert store.views.observation_counts(school=GJESDAL, since=None, students=[str(other)]) == {
        "conflict": 1
    }
    assert store.views.observation_counts(
        school=GJESDAL, since=None, students={str(student), str(other)}
    ) == {"conflict": 2, "social": 1, "family": 1}
    # ... and only what was recorded after ``since``.
    latest = max(r["recorded_at"] for r in store.views.select("observations", {"school": GJESDAL}))
    assert (
        store.views.observation_counts(
            school=GJESDAL, since=latest, students={str(student), str(other)}
        )
        == {}
    )


def _older_layout_sqlite(location: StoreLocation) -> None:
    """Make the store's views look like layout 3: its version and the retired table."""
    assert location.db_path is not None
    with sqlite3.connect(location.db_path) as db:
        db.execute(f"UPDATE {PREFIX}meta SET value = 3 WHERE key = 'schema_version'")  # noqa: S608 - view table
        db.execute(
            f"CREATE TABLE {PREFIX}observation_categories "
            "(observation_id, category, PRIMARY KEY (observation_id, category))"
        )
        db.execute(f"INSERT INTO {PREFIX}observation_categories VALUES ('x', 'conflict')")  # noqa: S608 - view table


def _tables_sqlite(location: StoreLocation) -> set[str]:
    assert location.db_path is not None
    with sqlite3.connect(location.db_path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows}


@pytest.mark.backends("sqlite", reason="SQLite's own view tables; PostgreSQL: the test below")
def test_an_older_sqlite_layout_loses_the_retired_table_and_is_rebuilt(
    tmp_path: Path, clock: FakeClock
) -> None:
    location = new_sqlite_store(tmp_path / "miljo.sqlite")
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        observe_break(miljo, register_test_student(miljo))
        miljo.catch_up()
    _older_layout_sqlite(location)
    assert f"{PREFIX}observation_categories" in _tables_sqlite(location)
    with open_store(location, clock=clock, ids=SequentialIds(start=1000)) as miljo:
        assert isinstance(miljo.views, SQLiteViewStore)
        miljo.catch_up()
        counts = miljo.views.observation_counts(
            school=GJESDAL, since=None, students=everyone(miljo)
        )
        assert counts == {"conflict": 1}
    tables = _tables_sqlite(location)
    assert not {f"{PREFIX}{name}" for name in RETIRED_TABLES} & tables
    assert f"{PREFIX}observations" in tables


@pytest.mark.postgres
def test_an_older_postgres_layout_loses_the_retired_table_and_is_rebuilt(
    postgres_schema: PostgresTarget, tmp_path: Path, clock: FakeClock
) -> None:
    location = new_postgres_store(postgres_schema, tmp_path / "pg.keys")
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        observe_break(miljo, register_test_student(miljo))
        miljo.catch_up()
        views = miljo.views
        assert isinstance(views, PostgresViewStore)
        with views._write() as run:
            run(f"UPDATE {views._t('meta')} SET value = 3 WHERE key = 'schema_version'", ())  # noqa: S608 - view table
            run(
                f"CREATE TABLE {views._t('observation_categories')} "
                "(observation_id text, category text)",
                (),
            )
        assert location.postgres is not None
        reopened = PostgresViewStore(miljo.app, location.postgres)
        try:
            reopened.catch_up()
            counts = reopened.observation_counts(
                school=GJESDAL, since=None, students=everyone(miljo)
            )
            assert counts == {"conflict": 1}
            names = {
                str(r["table_name"])
                for r in reopened._query(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    [location.postgres.schema],
                )
            }
            assert f"{PREFIX}observation_categories" not in names
            assert f"{PREFIX}observations" in names
            assert reopened.position() > 0
        finally:
            reopened.close()


@pytest.mark.backends("sqlite", reason="SQLite's query plan; the count itself: tests above")
def test_the_count_reads_the_index_alone_without_the_student_table(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The overview's count of recent observations scans the (school, recorded_at) range of
    a covering index: no table rows, no student table (whose size grows with history)."""
    location = new_sqlite_store(tmp_path / "miljo.sqlite")
    with open_store(location, clock=clock, ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        observe_break(miljo, register_test_student(miljo))
        miljo.catch_up()
        assert isinstance(miljo.views, SQLiteViewStore)
        plans: list[str] = []
        miljo.views.db.set_trace_callback(plans.append)
        miljo.views.observation_counts(school=GJESDAL, since="2024-01-01", students=everyone(miljo))
        miljo.views.db.set_trace_callback(None)
        (statement,) = (p for p in plans if "observations" in p)
        plan = " ".join(
            str(row[3]) for row in miljo.views.db.execute(f"EXPLAIN QUERY PLAN {statement}")
        )
    assert "USING COVERING INDEX" in plan
    assert f"{PREFIX}students" not in statement
