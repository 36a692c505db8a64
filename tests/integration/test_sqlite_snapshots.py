"""SQLite snapshots in a rowid table (adapters.sqlitesnapshots, ADR 0016).

A new store creates ``stored_snapshots`` without ``WITHOUT ROWID``, so a lookup searches the
primary key's own index and reads a (large) row only when it is found. An older store's table
is moved to that layout when the store is opened: rows kept byte for byte, the aggregates load
from them, the chain still verifies, and two processes opening it at once both succeed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Final
from uuid import UUID

from adapters.audit import verify_store
from adapters.bootstrap import StoreLocation, open_store
from adapters.chain import MiljoSQLiteFactory
from adapters.sqlitesnapshots import MiljoSQLiteSnapshotRecorder
from domain.application import SNAPSHOT_INTERVALS
from domain.student import Student
from tests.integration.conftest import build_gjesdal, observe_break, register_test_student
from tests.support import COORDINATOR, FakeClock, SequentialIds

ROOT: Final = Path(__file__).resolve().parents[2]
TABLE: Final = "stored_snapshots"
#: The library's own layout of the table (eventsourcing 9.5, SQLiteAggregateRecorder).
LIBRARY_LAYOUT: Final = (
    f"CREATE TABLE {TABLE} (originator_id TEXT, originator_version INTEGER, topic TEXT, "
    "state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
)
SnapshotRow = tuple[str, int, str, bytes]


def _db(location: StoreLocation) -> contextlib.closing[sqlite3.Connection]:
    assert location.db_path is not None
    return contextlib.closing(sqlite3.connect(location.db_path))


def _layout(location: StoreLocation) -> str:
    with _db(location) as db:
        [(sql,)] = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchall()
    return str(sql)


def _rows(location: StoreLocation) -> list[SnapshotRow]:
    with _db(location) as db:
        return [
            (str(a), int(b), str(c), bytes(d))
            for a, b, c, d in db.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {TABLE} "  # noqa: S608 - a constant
                "ORDER BY originator_id, originator_version"
            )
        ]


def _back_to_the_library_layout(location: StoreLocation) -> None:
    """Make the store look like one written before ADR 0016 (same rows, old table)."""
    with _db(location) as db, db:
        db.execute(f"ALTER TABLE {TABLE} RENAME TO old_snapshots")
        db.execute(LIBRARY_LAYOUT)
        db.execute(f"INSERT INTO {TABLE} SELECT * FROM old_snapshots")  # noqa: S608 - constants
        db.execute("DROP TABLE old_snapshots")
    assert "WITHOUT ROWID" in _layout(location)


def _store_with_a_student_snapshot(location: StoreLocation) -> UUID:
    """A store whose test student has a snapshot and a few events after it."""
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        for _ in range(SNAPSHOT_INTERVALS[Student] + 3):
            observe_break(miljo, student)
        assert miljo.app.snapshots is not None
        assert list(miljo.app.snapshots.get(student, desc=True, limit=1))
    return student


def test_the_factory_makes_the_rowid_snapshot_recorder() -> None:
    assert MiljoSQLiteFactory.aggregate_recorder_class is MiljoSQLiteSnapshotRecorder


def test_a_new_store_keeps_snapshots_in_a_rowid_table(sqlite_location: StoreLocation) -> None:
    assert "WITHOUT ROWID" not in _layout(sqlite_location).upper()
    with _db(sqlite_location) as db:
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                f"EXPLAIN QUERY PLAN SELECT * FROM {TABLE} WHERE originator_id = ? "  # noqa: S608 - a constant
                "ORDER BY originator_version DESC LIMIT 1",
                ("x",),
            )
        )
    assert f"USING INDEX sqlite_autoindex_{TABLE}_1" in plan  # the key's own index, not the rows


def test_an_older_store_moves_its_snapshots_when_opened(sqlite_location: StoreLocation) -> None:
    student = _store_with_a_student_snapshot(sqlite_location)
    before = _rows(sqlite_location)
    assert any(row[0] == student.hex for row in before)
    _back_to_the_library_layout(sqlite_location)
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds(5_000)) as miljo:
        assert "WITHOUT ROWID" not in _layout(sqlite_location).upper()
        assert _rows(sqlite_location) == before  # every row, byte for byte
        case = miljo.student_case(COORDINATOR, student)  # a first load: from the snapshot
        assert len(case.observations) == SNAPSHOT_INTERVALS[Student] + 3
        observe_break(miljo, student)  # and the store takes new snapshots as before
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds(6_000)) as again:
        assert len(again.student_case(COORDINATOR, student).observations) == (
            SNAPSHOT_INTERVALS[Student] + 4
        )
    assert _rows(sqlite_location)[: len(before)] == before
    assert verify_store(sqlite_location).ok


def test_two_processes_opening_an_older_store_at_once_both_open_it(
    sqlite_location: StoreLocation,
) -> None:
    student = _store_with_a_student_snapshot(sqlite_location)
    before = _rows(sqlite_location)
    _back_to_the_library_layout(sqlite_location)
    assert sqlite_location.db_path is not None
    script = (
        "import sys; from uuid import UUID; from adapters.bootstrap import open_store; "
        "from tests.support import COORDINATOR, FakeClock, SequentialIds\n"
        "with open_store(sys.argv[1], clock=FakeClock(), ids=SequentialIds(int(sys.argv[3]))) "
        "as m:\n"
        "    print(len(m.student_case(COORDINATOR, UUID(sys.argv[2])).observations))\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(sqlite_location.db_path), str(student), start],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in ("70000", "80000")
    ]
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == str(SNAPSHOT_INTERVALS[Student] + 3)
    assert "WITHOUT ROWID" not in _layout(sqlite_location).upper()
    assert _rows(sqlite_location) == before
    with _db(sqlite_location) as db:
        tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master")}
    assert not any(name.endswith("_without_rowid") for name in tables)
