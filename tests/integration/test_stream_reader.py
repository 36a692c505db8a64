"""A load's snapshot and events in one read (docs/adr/0013-command-path-cache.md, addenda
"a student's first load" and "PostgreSQL reads").

SQLite (adapters.sqlitesnapshots.SQLiteStreamReader) reads them in one transaction on one
pooled connection; PostgreSQL (adapters.postgres.PostgresStreamReader) with one statement.
Either must return what the library's two reads return (the newest snapshot at or below a
version, then the events after it), and the events after a version for a fast-forward as the
library's ``select_events`` does; the repository must build the same aggregates from them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import StoreLocation, open_store
from adapters.protection import MiljoCipher
from adapters.sqlitesnapshots import SQLiteStreamReader
from domain.application import SNAPSHOT_INTERVALS, project_events
from domain.facade import Miljo
from domain.student import Student
from tests.integration.conftest import (
    build_gjesdal,
    observe_break,
    register_test_student,
    two_writers,
)
from tests.support import COORDINATOR, FakeClock, SequentialIds

#: Versions to read at: around 50 and 100 (snapshot intervals), and the newest.
VERSIONS = (None, 1, 2, 49, 50, 51, 99, 100, 101, 104)


def _library_reads(miljo: Miljo, stream: UUID, lte: int | None) -> tuple[Any, list[Any]]:
    snapshots = miljo.app.snapshots
    assert snapshots is not None
    found = snapshots.recorder.select_events(stream, desc=True, limit=1, lte=lte)
    snapshot = found[0] if found else None
    events = miljo.app.recorder.select_events(
        stream, gt=None if snapshot is None else snapshot.originator_version, lte=lte
    )
    return snapshot, list(events)


def _fields(stored: StoredEvent | None) -> tuple[object, ...] | None:
    if stored is None:
        return None
    return (stored.originator_id, stored.originator_version, stored.topic, stored.state)


@contextlib.contextmanager
def _long_student(location: StoreLocation) -> Iterator[tuple[Miljo, UUID]]:
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        for _ in range(2 * SNAPSHOT_INTERVALS[Student] + 3):
            observe_break(miljo, student)
        yield miljo, student


@pytest.fixture
def miljo_with_a_long_student(store_location: StoreLocation) -> Iterator[tuple[Miljo, UUID]]:
    """A student with 104 events (snapshots at 50 and 100), on each backend."""
    with _long_student(store_location) as found:
        yield found


@pytest.fixture
def sqlite_long_student(sqlite_location: StoreLocation) -> Iterator[tuple[Miljo, UUID]]:
    with _long_student(sqlite_location) as found:
        yield found


def test_a_store_loads_through_its_backends_reader(
    miljo_with_a_long_student: Any, backend: str
) -> None:
    miljo, _ = miljo_with_a_long_student
    reader = miljo.app.repository.stream_reader
    if backend == "postgres":
        from adapters.postgres import PostgresStreamReader

        assert isinstance(reader, PostgresStreamReader)
    else:
        assert isinstance(reader, SQLiteStreamReader)


def test_the_reader_returns_the_library_reads(miljo_with_a_long_student: Any) -> None:
    miljo, student = miljo_with_a_long_student
    reader = miljo.app.repository.stream_reader
    assert reader is not None
    snapshot_versions = set()
    for lte in VERSIONS:
        snapshot, events = reader(student, lte)
        expected_snapshot, expected_events = _library_reads(miljo, student, lte)
        assert _fields(snapshot) == _fields(expected_snapshot)
        assert [_fields(e) for e in events] == [_fields(e) for e in expected_events]
        # The ids are equal to the library's and of the same type.
        assert all(type(e.originator_id) is UUID for e in events)
        snapshot_versions.add(None if snapshot is None else snapshot.originator_version)
    # Both branches: no snapshot at or below the version, and one (older ones are pruned to
    # the ladder, so 100 serves everything from 100 on).
    assert snapshot_versions == {None, 100}
    # A stream with no snapshot, and an unknown stream.
    short = register_test_student(miljo, "1002")
    for stream in (short, UUID(int=12345)):
        assert [_fields(e) for e in reader(stream, None)[1]] == [
            _fields(e) for e in _library_reads(miljo, stream, None)[1]
        ]
    assert reader(UUID(int=12345), None) == (None, [])


def test_after_returns_the_librarys_events_after_a_version(
    miljo_with_a_long_student: Any,
) -> None:
    """The fast-forward's read: the library's ``select_events(gt=...)``, row for row."""
    miljo, student = miljo_with_a_long_student
    reader = miljo.app.repository.stream_reader
    assert reader is not None
    for gt in (0, 1, 49, 50, 99, 103, 104, 200):
        expected = miljo.app.recorder.select_events(student, gt=gt)
        found = reader.after(student, gt)
        assert [_fields(e) for e in found] == [_fields(e) for e in expected]
        assert all(type(e.originator_id) is UUID for e in found)
    assert len(reader.after(student, 100)) == 4
    assert list(reader.after(UUID(int=12345), 0)) == []


def test_a_cached_aggregate_fast_forwards_through_the_reader(
    store_location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another store object (as another process) records an observation: this one's cached
    student is brought up to date with the reader's ``after`` and equals a fresh load."""
    clock = FakeClock()
    with two_writers(store_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student)
        before = first.student_case(COORDINATOR, student)
        reader = first.app.repository.stream_reader
        assert reader is not None
        after_calls: list[tuple[UUID, int]] = []
        real_after = reader.after

        def spy(originator_id: UUID, gt: int) -> Any:
            after_calls.append((originator_id, gt))
            return real_after(originator_id, gt)

        monkeypatch.setattr(reader, "after", spy)
        observe_break(second, student, "Ny observasjon fra en annen prosess.")
        now = first.student_case(COORDINATOR, student)
        assert (student, 2) in after_calls  # registered (1), then one observation (2)
        assert len(now.observations) == len(before.observations) + 1
        fresh = first.app.repository._reconstruct_aggregate(student, None, project_events)
        cached = first.app.repository.get(student, deepcopy_from_cache=False)
        assert vars(cached) == vars(fresh)


def test_the_reader_takes_one_pooled_connection(
    sqlite_long_student: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    miljo, student = sqlite_long_student
    reader = miljo.app.repository.stream_reader
    assert isinstance(reader, SQLiteStreamReader)
    pool = reader.datastore.pool
    taken: list[bool] = []
    real = pool.get_connection

    def spy(*args: Any, **kwargs: Any) -> Any:
        taken.append(bool(kwargs.get("is_writer")))
        return real(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", spy)
    snapshot, events = reader(student, None)
    assert snapshot is not None
    assert events
    assert taken == [False]  # one reader connection, one transaction, for both reads


def test_the_repository_builds_the_same_aggregates(miljo_with_a_long_student: Any) -> None:
    miljo, student = miljo_with_a_long_student
    repository = miljo.app.repository
    reader = repository.stream_reader
    assert reader is not None
    for lte in VERSIONS:
        ours = repository._reconstruct_aggregate(student, lte, project_events)
        repository.stream_reader = None
        try:
            library = repository._reconstruct_aggregate(student, lte, project_events)
        finally:
            repository.stream_reader = reader
        assert isinstance(ours, Student)
        assert vars(ours) == vars(library)
    with pytest.raises(AggregateNotFoundError):
        repository._reconstruct_aggregate(UUID(int=12345), None, project_events)


def test_other_recorders_get_no_reader() -> None:
    """In-memory stores keep the library's reads (no shared SQLite datastore)."""
    with open_store(":memory:", clock=FakeClock(), ids=SequentialIds()) as miljo:
        assert miljo.app.repository.stream_reader is None


def test_a_first_command_on_a_student_reads_the_store_once(
    sqlite_location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scope check loads the student; the command's own load is a cache hit. The
    student's keys are read in one query for the load, and not again to seal the new
    observation: nobody else has written the keyring since (its data_version is unchanged;
    ADR 0019, tests/integration/test_keyring.py for when somebody has)."""
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        observe_break(miljo, student)
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds(1000)) as miljo:
        repository = miljo.app.repository
        reader = repository.stream_reader
        assert reader is not None
        cipher = miljo.app.mapper.cipher
        assert isinstance(cipher, MiljoCipher)
        keyring = cipher.keyring
        loads: list[UUID] = []
        keys: list[str] = []
        real_live = keyring.storage.live

        def read(originator_id: UUID, lte: int | None) -> Any:
            loads.append(originator_id)
            return reader(originator_id, lte)

        def live(subject: str) -> list[tuple[str, int, bytes]]:
            keys.append(subject)
            return real_live(subject)

        monkeypatch.setattr(repository, "stream_reader", read)
        monkeypatch.setattr(keyring.storage, "live", live)
        observe_break(miljo, student)
        assert loads.count(student) == 1
        assert keys == [str(student)]
