"""The command path's aggregate cache (docs/adr/0013-command-path-cache.md).

Commands change the cached aggregates themselves, without copies. What makes that safe, each
property tested here on the store kinds it concerns:

* a command that fails for any reason before its save completed (a refused rule, a write
  conflict, a failing disk) leaves no trace in the cache: the next command and query see
  exactly the store;
* a write by another process (or another connection) is seen by this process's next command
  and next query, while a process that is the only writer reads nothing to learn so;
* two threads of one facade never change one cached aggregate at once;
* erasure drops the cached plaintext;
* queries hand out values, never the cached aggregate's mutable parts; the library's own
  ``repository.get`` still returns copies.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import attrs
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from adapters.bootstrap import StoreLocation, open_store
from adapters.protection import ERASED
from domain.application import StreamReader
from domain.errors import InvalidValue, StudentNotActive
from domain.facade import Miljo
from domain.student import Student
from tests.integration.conftest import (
    OBSERVATION_TEXT,
    Gjesdal,
    build_gjesdal,
    observe_break,
    register_test_student,
    two_writers,
)
from tests.support import ADMIN, COORDINATOR, REKTOR, FakeClock, SequentialIds

ROOT = Path(__file__).resolve().parents[2]


def _cached(miljo: Miljo, aggregate_id: UUID) -> Any:
    """The cached aggregate itself (None if not cached), without touching the LRU order."""
    cache = miljo.app.repository.cache
    assert cache is not None
    entry = cache.cache.get(aggregate_id)
    # The library's LRU cache keeps [prev, next, key, value] links; a plain cache values.
    return entry[3] if isinstance(entry, list) else entry


def _stored_version(miljo: Miljo, aggregate_id: UUID) -> int:
    return max(e.originator_version for e in miljo.app.events.get(aggregate_id))


# -- a failed command leaves no trace -------------------------------------------------------------


def test_a_failed_save_leaves_no_trace_in_the_cache(
    store: Miljo, gjesdal: Gjesdal, monkeypatch: pytest.MonkeyPatch
) -> None:
    student = register_test_student(store)
    observe_break(store, student)
    version = _stored_version(store, student)
    assert _cached(store, student).version == version

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("database or disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(store.app.events, "put", full_disk)
        with pytest.raises(OperationalError):
            observe_break(store, student, "Skal ikke lagres")
    # The refused observation was applied to the cached student before the save failed.
    assert _cached(store, student) is None
    case = store.student_case(COORDINATOR, student)
    assert [o.text for o in case.observations] == [OBSERVATION_TEXT]
    assert case.version == version
    observe_break(store, student, "Neste observasjon")  # no conflict with a phantom version
    assert _stored_version(store, student) == version + 1
    assert [o.text for o in store.student_case(COORDINATOR, student).observations] == [
        OBSERVATION_TEXT,
        "Neste observasjon",
    ]


def test_a_refused_rule_after_a_change_leaves_no_trace(store: Miljo, gjesdal: Gjesdal) -> None:
    """A command that changed one aggregate and then hit a rule on the next: all loaded
    aggregates leave the cache."""
    student = register_test_student(store)
    store.record_departure(ADMIN, student, kind="left")
    version = _stored_version(store, student)
    loaded = store.app.repository.get(student, deepcopy_from_cache=False)

    def half_done(at: Any) -> None:
        aggregate = store._student(student)
        aggregate.record_observation(  # a departed student refuses, before any change ...
            observation_id=store.ids.new_id(),
            arena="break",
            categories=["conflict"],
            text="x",
            observed_at=at,
            student_voice=None,
            actor=COORDINATOR,
            at=at,
        )

    with pytest.raises(StudentNotActive):
        store._run("test", half_done)
    assert _cached(store, student) is None
    assert loaded.version == version

    def changed_then_refused(at: Any) -> None:
        school = store._school("gjesdal")
        school.add_class(trinn=9, class_name="9x", actor=ADMIN, at=at)  # a change ...
        raise InvalidValue("class", "refused after the change")  # ... then a refusal

    school_id = store.school(ADMIN, "gjesdal").school_id
    with pytest.raises(InvalidValue):
        store._run("test", changed_then_refused)
    assert _cached(store, school_id) is None
    assert "9x" not in store.school(ADMIN, "gjesdal").classes


def test_a_change_not_saved_does_not_stay_cached(store: Miljo, gjesdal: Gjesdal) -> None:
    """A command that returns without saving an aggregate it changed (a bug) leaves nothing."""
    school_id = store.school(ADMIN, "gjesdal").school_id

    def forgot_to_save(at: Any) -> None:
        store._school("gjesdal").add_class(trinn=9, class_name="9y", actor=ADMIN, at=at)

    store._run("test", forgot_to_save)
    assert _cached(store, school_id) is None
    assert "9y" not in store.school(ADMIN, "gjesdal").classes


def test_a_write_conflict_evicts_and_the_retry_decides_on_fresh_state(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student, "Fra første")
        observe_break(second, student, "Fra andre")  # second caches the student too
        # Make `first` believe nobody wrote, so its stale cached student meets the conflict.
        first.app.repository.write_watch = lambda: 0
        first.app.repository._synced[student] = 0
        observe_break(first, student, "Etter konflikt")
        texts = [o.text for o in first.student_case(COORDINATOR, student).observations]
        assert texts == ["Fra første", "Fra andre", "Etter konflikt"]
        assert _stored_version(first, student) == _cached(first, student).version


def test_the_conflict_itself_is_raised_by_the_store(sqlite_location: StoreLocation) -> None:
    """The eviction above depends on the store refusing a stale save (no silent overwrite)."""
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        stale = miljo.app.repository.get(student)
        observe_break(miljo, student)
        assert isinstance(stale, Student)
        stale.record_observation(
            observation_id=miljo.ids.new_id(),
            arena="break",
            categories=["conflict"],
            text="x",
            observed_at=FakeClock().now(),
            student_voice=None,
            actor=COORDINATOR,
            at=FakeClock().now(),
        )
        with pytest.raises(IntegrityError):
            miljo.app.save(stale)
        assert _cached(miljo, student) is None


# -- another writer's events are seen -------------------------------------------------------------


def test_another_connections_write_is_seen_by_the_next_command_and_query(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student, "Fra første")
        assert len(second.student_case(COORDINATOR, student).observations) == 1
        observe_break(first, student, "Igjen fra første")
        # Query: `second` had the student cached at the older version.
        texts = [o.text for o in second.student_case(COORDINATOR, student).observations]
        assert texts == ["Fra første", "Igjen fra første"]
        # Command: no conflict, the cached student was brought up to date first.
        conflicts = _count_conflicts(second)
        observe_break(second, student, "Fra andre")
        assert conflicts == []
        texts = [o.text for o in first.student_case(COORDINATOR, student).observations]
        assert texts == ["Fra første", "Igjen fra første", "Fra andre"]


def test_another_process_write_is_seen(sqlite_location: StoreLocation) -> None:
    clock = FakeClock()
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        observe_break(miljo, student, "Før")
        assert sqlite_location.db_path is not None
        script = (
            "import sys; from uuid import UUID; from adapters.bootstrap import open_store; "
            "from tests.support import COORDINATOR, FakeClock, SequentialIds\n"
            "with open_store(sys.argv[1], clock=FakeClock(), ids=SequentialIds(50_000)) as m:\n"
            "    m.record_observation(COORDINATOR, UUID(sys.argv[2]), arena='break', "
            "categories=['conflict'], text='Fra en annen prosess')\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(sqlite_location.db_path), str(student)],
            check=True,
            cwd=ROOT,
        )
        texts = [o.text for o in miljo.student_case(COORDINATOR, student).observations]
        assert texts == ["Før", "Fra en annen prosess"]
        observe_break(miljo, student, "Etter")
        assert _stored_version(miljo, student) == _cached(miljo, student).version


def test_the_only_writer_reads_no_events_for_a_cached_aggregate(
    sqlite_location: StoreLocation,
) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        observe_break(miljo, student)
        reads = _count_event_reads(miljo)
        for n in range(5):
            observe_break(miljo, student, f"Observasjon {n}")
        assert reads == []
        with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds(9_000)) as other:
            observe_break(other, student, "Fra en annen")
        observe_break(miljo, student, "Etter den andre")
        assert reads == [student]  # one fast-forward, then quiet again
        observe_break(miljo, student, "Og en til")
        assert reads == [student]


@pytest.mark.postgres
def test_postgres_fast_forwards_on_every_load(postgres_schema: Any, tmp_path: Path) -> None:
    from tests.integration.conftest import new_postgres_store

    location = new_postgres_store(postgres_schema, tmp_path / "pg.keys")
    clock = FakeClock()
    with two_writers(location, clock) as (first, second):
        assert first.app.repository.write_watch is None
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student, "Fra første")
        assert len(second.student_case(COORDINATOR, student).observations) == 1
        observe_break(first, student, "Igjen fra første")
        texts = [o.text for o in second.student_case(COORDINATOR, student).observations]
        assert texts == ["Fra første", "Igjen fra første"]
        conflicts = _count_conflicts(second)
        observe_break(second, student, "Fra andre")
        assert conflicts == []


# -- threads ---------------------------------------------------------------------------------------


def test_two_threads_never_change_one_cached_aggregate_at_once(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    student = register_test_student(store)
    start = _stored_version(store, student)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    per_thread = 20

    def write(tag: str) -> None:
        try:
            barrier.wait()
            for n in range(per_thread):
                observe_break(store, student, f"{tag} {n}")
        except BaseException as error:  # collected: the assertion below names it
            errors.append(error)

    def read() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                store.student_case(COORDINATOR, student)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("a", "b")]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _stored_version(store, student) == start + 2 * per_thread
    case = store.student_case(COORDINATOR, student)
    assert sorted(o.text for o in case.observations) == sorted(
        f"{t} {n}" for t in ("a", "b") for n in range(per_thread)
    )
    assert case.version == start + 2 * per_thread


# -- erasure and what queries hand out -----------------------------------------------------------


def test_erasure_drops_the_cached_plaintext(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register_test_student(store)
    observe_break(store, student, "Svært personlig tekst")
    store.raise_concern(COORDINATOR, student, summary="Bekymring med navn")
    assert _cached(store, student) is not None
    store.erase_personal_data(REKTOR, student, basis="request")
    cached = _cached(store, student)
    assert cached is None or "Svært personlig tekst" not in repr(vars(cached))
    [observation] = store.student_case(COORDINATOR, student).observations
    assert observation.text == ERASED
    for aggregate in _cache_contents(store):
        assert "Svært personlig tekst" not in _all_text(aggregate)
        assert "Bekymring med navn" not in _all_text(aggregate)


def test_queries_hand_out_no_mutable_part_of_a_cached_aggregate(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    student = register_test_student(store)
    store.raise_concern(COORDINATOR, student, summary="Bekymring")
    store.create_aktivitetsplan(
        COORDINATOR,
        student,
        problem="Utestenging",
        measures=["Voksen i friminutt"],
        when="Fra uke 35",
        responsible="gj-mt2",
        evaluation_date=date(2024, 10, 1),
    )
    observe_break(store, student)
    case = store.student_case(COORDINATOR, student)
    case.concerns[0].discussed_in.append(UUID(int=1))
    case.plans[0].measures.append("Lagt til utenfra")
    case.observations[0].categories.clear()
    case.observations.clear()
    school = store.school(ADMIN, "gjesdal")
    school.classes.clear()
    store.students_of(ADMIN, "gjesdal").clear()
    again = store.student_case(COORDINATOR, student)
    assert again.concerns[0].discussed_in == []
    assert again.plans[0].measures == ["Voksen i friminutt"]
    assert [list(o.categories) for o in again.observations] == [["conflict"]]
    assert len(store.school(ADMIN, "gjesdal").classes) == 12
    assert store.students_of(ADMIN, "gjesdal") == [student]


def test_the_librarys_get_still_returns_copies(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register_test_student(store)
    first = store.app.repository.get(student)
    second = store.app.repository.get(student)
    assert first is not second
    assert first is not _cached(store, student)


# -- helpers ---------------------------------------------------------------------------------------


def _count_conflicts(miljo: Miljo) -> list[object]:
    """Every IntegrityError the facade meets (it retries them)."""
    seen: list[object] = []
    original = miljo.app.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        try:
            return original(*aggregates, **kwargs)
        except IntegrityError as error:
            seen.append(error)
            raise

    vars(miljo.app)["save"] = save  # shadows the method on this instance only
    return seen


class _CountingReader:
    """A stream reader that notes each stream it reads (a first load or a fast-forward)."""

    def __init__(self, inner: StreamReader, seen: list[UUID]) -> None:
        self.inner = inner
        self.seen = seen

    def __call__(self, originator_id: UUID, lte: int | None) -> Any:
        self.seen.append(originator_id)
        return self.inner(originator_id, lte)

    def after(self, originator_id: UUID, gt: int) -> Any:
        self.seen.append(originator_id)
        return self.inner.after(originator_id, gt)


def _count_event_reads(miljo: Miljo) -> list[UUID]:
    """Streams whose events the repository reads from the store (a load or fast-forward):
    through its stream reader when it has one (SQLite, PostgreSQL), else the event store."""
    seen: list[UUID] = []
    repository = miljo.app.repository
    reader = repository.stream_reader
    if reader is not None:
        repository.stream_reader = _CountingReader(reader, seen)
        return seen
    store = repository.event_store
    original = store.get

    def get(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
        seen.append(originator_id)
        return original(originator_id, *args, **kwargs)

    vars(store)["get"] = get  # shadows the method on this instance only
    return seen


def _cache_contents(miljo: Miljo) -> Iterator[Any]:
    cache = miljo.app.repository.cache
    assert cache is not None
    for key in list(cache.cache):
        yield _cached(miljo, key)


def _all_text(value: object, depth: int = 0) -> str:
    """Every string reachable from ``value`` (state, entries, values), joined."""
    if depth > 8:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_all_text(v, depth + 1) for v in [*value.keys(), *value.values()])
    if isinstance(value, list | tuple | set | frozenset):
        return " ".join(_all_text(v, depth + 1) for v in value)
    if attrs.has(type(value)):
        return " ".join(
            _all_text(getattr(value, f.name), depth + 1)
            for f in attrs.fields(cast(Any, type(value)))
        )
    if hasattr(value, "__dict__"):
        return _all_text(vars(value), depth + 1)
    return ""


#: Facade methods that read no aggregate (views and the store only) and need no lock.
UNLOCKED = frozenset({"close", "catch_up", "rebuild_views", "overview", "event_count"})


def test_every_facade_method_on_aggregates_holds_the_lock() -> None:
    """A new public method must hold the repository's lock (``@_exclusive``) or be listed
    above as touching no aggregate: it would otherwise read state another thread changes."""
    public = {
        name for name, value in vars(Miljo).items() if callable(value) and not name.startswith("_")
    }
    unlocked = {name for name in public if not hasattr(getattr(Miljo, name), "__wrapped__")}
    assert unlocked == UNLOCKED
