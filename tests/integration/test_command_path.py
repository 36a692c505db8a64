"""The command path's shortcuts (docs/adr/0013-command-path-cache.md, addendum) and the safety
properties they rely on:

* the SQLite chain remembers the link it committed last and skips the ``SELECT`` of the
  previous link only when the new rows directly follow it; a failed insert forgets it, and
  another writer's rows in between make it read the link again;
* the repository reads its write watch once per facade call, and again after a conflict;
* the keyring checks for another process's erasure at the first key lookup of each facade
  call; a command after another process's erasure seals under the new generation.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from adapters.audit import verify_store
from adapters.bootstrap import StoreLocation, open_store
from adapters.chain import ChainedSQLiteApplicationRecorder
from adapters.keyring import ERASABLE, KeyErased, Keyring
from adapters.protection import ERASED, MiljoCipher
from domain.application import SNAPSHOT_INTERVALS, project_events
from domain.facade import Miljo
from domain.team import Team, team_id
from tests.integration.conftest import (
    THERAPISTS,
    build_gjesdal,
    new_postgres_store,
    observe_break,
    register_test_student,
    two_writers,
)
from tests.support import ADMIN, COORDINATOR, REKTOR, FakeClock, SequentialIds

ROOT = Path(__file__).resolve().parents[2]


def _recorder(miljo: Miljo) -> ChainedSQLiteApplicationRecorder:
    recorder = miljo.app.recorder
    assert isinstance(recorder, ChainedSQLiteApplicationRecorder)
    return recorder


def _head_position(miljo: Miljo) -> int:
    recorder = _recorder(miljo)
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT MAX(position) FROM miljo_chain")
        return int(cursor.fetchone()[0])


def _memory(
    recorder: ChainedSQLiteApplicationRecorder,
) -> tuple[tuple[int, bytes] | None, tuple[int, bytes] | None]:
    """The head the chain remembers, and the one of an insert not yet committed."""
    return recorder._head, recorder._pending


def _link_reads(miljo: Miljo) -> list[int]:
    """Positions for which the chain read the previous link from the table."""
    recorder = _recorder(miljo)
    seen: list[int] = []
    original = recorder._previous_link

    def previous_link(c: Any, first: int) -> bytes:
        head = recorder._head
        if head is None or head[0] != first - 1:
            seen.append(first)
        return original(c, first)

    vars(recorder)["_previous_link"] = previous_link  # this instance only
    return seen


# -- the SQLite chain's memory of its head ------------------------------------------------------


def test_the_only_writer_chains_from_the_link_it_committed(
    sqlite_location: StoreLocation,
) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        reads = _link_reads(miljo)
        for n in range(5):
            observe_break(miljo, student, f"Observasjon {n}")
        assert reads == []
        head, pending = _memory(_recorder(miljo))
        assert pending is None
        assert head is not None
        assert head[0] == _head_position(miljo)
    assert verify_store(sqlite_location).ok


def test_a_failed_insert_forgets_the_head(sqlite_location: StoreLocation) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        observe_break(miljo, student, "Før")
        recorder = _recorder(miljo)
        assert recorder._head is not None
        original = recorder._insert_events

        def failing(c: Any, stored_events: Any, **kwargs: Any) -> Any:
            original(c, stored_events, **kwargs)  # links written, then the transaction fails
            raise OSError("disk full")

        vars(recorder)["_insert_events"] = failing
        with pytest.raises(OSError, match="disk full"):
            observe_break(miljo, student, "Feiler")
        del vars(recorder)["_insert_events"]
        assert _memory(recorder) == (None, None)
        reads = _link_reads(miljo)
        observe_break(miljo, student, "Etter")
        assert len(reads) == 1  # read from the table, not from memory
        texts = [o.text for o in miljo.student_case(COORDINATOR, student).observations]
        assert texts == ["Før", "Etter"]
    assert verify_store(sqlite_location).ok


def test_another_writer_in_between_makes_the_chain_read_its_link(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        other = register_test_student(first, "1002")
        observe_break(first, student, "Første")
        reads = _link_reads(first)
        for n in range(3):
            observe_break(second, other, f"Fra den andre {n}")
            observe_break(first, student, f"Fra den første {n}")
        assert len(reads) == 3  # every time: the other store wrote the rows before
        observe_break(first, student, "Alene igjen")
        assert len(reads) == 3
    assert verify_store(sqlite_location).ok


@pytest.mark.postgres
def test_postgres_chains_interleaved_writers(postgres_schema: Any, tmp_path: Path) -> None:
    """The previous link comes back with the insert (RETURNING): two stores writing in turn,
    with a write conflict (a rolled-back insert leaves a gap in the positions) in between."""
    location = new_postgres_store(postgres_schema, tmp_path / "keys")
    clock = FakeClock()
    with two_writers(location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        other = register_test_student(first, "1002")
        for n in range(3):
            observe_break(first, student, f"Fra den første {n}")
            observe_break(second, other, f"Fra den andre {n}")
            observe_break(second, student, f"Konflikt {n}")  # second's cached student was stale
        texts = [o.text for o in first.student_case(COORDINATOR, student).observations]
        assert len(texts) == 6
    assert verify_store(location).ok


# -- one watch reading per facade call ---------------------------------------------------------


def test_the_write_watch_is_read_once_per_command(sqlite_location: StoreLocation) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        repository = miljo.app.repository
        watch = repository.write_watch
        assert watch is not None
        readings: list[int] = []

        def counted() -> int:
            readings.append(watch())
            return readings[-1]

        repository.write_watch = counted
        # change_class loads the student and the school: one reading.
        miljo.change_class(ADMIN, student, trinn=8, class_name="8b")
        assert len(readings) == 1
        miljo.student_case(COORDINATOR, student)
        assert len(readings) == 2


def test_a_conflict_reads_the_watch_again(sqlite_location: StoreLocation) -> None:
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(second, student, "Lastet")
        repository = second.app.repository
        watch = repository.write_watch
        assert watch is not None
        readings: list[int] = []
        armed = [True]

        def racing() -> int:
            reading = watch()
            readings.append(reading)
            if armed[0]:
                # Another writer commits just after this reading, before the save.
                armed[0] = False
                observe_break(first, student, "Imellom")
            return reading

        repository.write_watch = racing
        observe_break(second, student, "Etter")
        assert len(readings) == 2  # the conflicting try, and the retry after it
        texts = [o.text for o in first.student_case(COORDINATOR, student).observations]
        assert texts == ["Lastet", "Imellom", "Etter"]
    assert verify_store(sqlite_location).ok


# -- one keyring check per facade call -----------------------------------------------------------

SUBJECT = "7c1b5a6e-0000-4000-8000-000000000001"


def test_a_held_keyring_checks_once_and_every_lookup_again_after_release(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keyring.sqlite"
    Keyring.create(path)
    master = bytes(range(32))
    mine, other = Keyring(path, master), Keyring(path, master)
    try:
        assert mine.current(SUBJECT, ERASABLE)[0] == 1
        mine.hold()
        assert mine.current(SUBJECT, ERASABLE)[0] == 1  # the call's one check
        assert other.erase(SUBJECT) == 1
        # The rest of the call trusts its check (ADR 0013, addendum) ...
        assert mine.current(SUBJECT, ERASABLE)[0] == 1
        # ... but another thread of this process checks on every lookup.
        seen: list[BaseException] = []

        def lookup() -> None:
            try:
                mine.get(SUBJECT, ERASABLE, 1)
            except KeyErased as error:
                seen.append(error)

        thread = threading.Thread(target=lookup)
        thread.start()
        thread.join()
        assert len(seen) == 1
        mine.release()
        with pytest.raises(KeyErased):
            mine.get(SUBJECT, ERASABLE, 1)
        assert mine.current(SUBJECT, ERASABLE)[0] == 2
        # A retried call checks again.
        mine.hold()
        assert mine.current(SUBJECT, ERASABLE)[0] == 2
        assert other.erase(SUBJECT) == 1
        mine.recheck()
        assert mine.current(SUBJECT, ERASABLE)[0] == 3
        mine.release()
    finally:
        mine.close()
        other.close()


def test_a_command_after_another_stores_erasure_seals_under_the_new_key(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student, "Før slettingen")  # first has the erasable key cached
        second.erase_personal_data(REKTOR, student, basis="request")
        observe_break(first, student, "Etter slettingen")
        texts = [o.text for o in second.student_case(COORDINATOR, student).observations]
        assert texts == [ERASED, "Etter slettingen"]


def _keyring(miljo: Miljo) -> Keyring:
    cipher = miljo.app.mapper.cipher
    assert isinstance(cipher, MiljoCipher)
    return cipher.keyring


def _wait_for_an_erasure(keyring: Keyring, before: int) -> None:
    """Until ``keyring`` has noticed another store's erasure (on SQLite at once; on
    PostgreSQL when the ``NOTIFY`` has reached its socket, a round trip later)."""
    for _ in range(500):
        if keyring.erasures() != before:
            return
        time.sleep(0.01)
    pytest.fail("the erasure never reached the other store's keyring")


def test_another_stores_erasure_empties_this_stores_aggregate_cache(
    store_location: StoreLocation,
) -> None:
    """Erased plaintext must not outlive the erasure in another process's aggregate cache:
    a fast-forward applies only newer events, so the cache is emptied instead."""
    clock = FakeClock()
    with two_writers(store_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student, "Svært personlig tekst")
        first.raise_concern(COORDINATOR, student, summary="Bekymring med navn")
        case = first.student_case(COORDINATOR, student)  # cached in first, plaintext and all
        assert [o.text for o in case.observations] == ["Svært personlig tekst"]
        before = _keyring(first).erasures()
        second.erase_personal_data(REKTOR, student, basis="request")
        _wait_for_an_erasure(_keyring(first), before)
        case = first.student_case(COORDINATOR, student)
        assert [o.text for o in case.observations] == [ERASED]
        assert [c.text for c in case.concerns] == [ERASED]
        cache = first.app.repository.cache
        assert cache is not None
        held = repr([vars(entry[3]) for entry in cache.cache.values()])
        assert "Svært personlig tekst" not in held
        assert "Bekymring med navn" not in held
        # Work goes on in both: new data is sealed under the student's new key.
        observe_break(first, student, "Etter slettingen")
        texts = [o.text for o in second.student_case(COORDINATOR, student).observations]
        assert texts == [ERASED, "Etter slettingen"]


def test_without_an_erasure_elsewhere_the_cache_is_kept(sqlite_location: StoreLocation) -> None:
    """Another store's ordinary writes (a new student, an observation) leave the cache be."""
    clock = FakeClock()
    with two_writers(sqlite_location, clock) as (first, second):
        build_gjesdal(first)
        student = register_test_student(first)
        observe_break(first, student)
        first.student_case(COORDINATOR, student)
        cache = first.app.repository.cache
        assert cache is not None
        cached = cache.cache[student][3]
        other = register_test_student(second, "1002")
        observe_break(second, other)
        first.student_case(COORDINATOR, student)
        assert cache.cache[student][3] is cached


# -- snapshots of aggregates without personal data are taken from the saved object -----------


def test_a_team_snapshot_from_memory_is_the_one_the_store_replays_to(
    sqlite_location: StoreLocation,
) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        app = miljo.app
        rebuilt: list[UUID] = []
        original = app.take_snapshot

        def take_snapshot(aggregate_id: UUID, *args: Any, **kwargs: Any) -> None:
            rebuilt.append(aggregate_id)
            original(aggregate_id, *args, **kwargs)

        vars(app)["take_snapshot"] = take_snapshot  # this instance only
        team = team_id("gjesdal")
        members = sorted(THERAPISTS)
        monday = date(2025, 1, 6)
        week = 0
        while miljo.app.repository.get(team).version < SNAPSHOT_INTERVALS[Team]:
            miljo.assign(
                COORDINATOR,
                school="gjesdal",
                member_id=members[week % len(members)],
                target_kind="class",
                minutes_per_week=15,
                valid_from=monday + timedelta(weeks=week),
                valid_to=monday + timedelta(weeks=week, days=4),
                trinn=8,
                class_name="8a",
            )
            week += 1
        assert team not in rebuilt  # taken from memory
        assert app.snapshots is not None
        [stored] = list(app.snapshots.get(team, desc=True, limit=1))
        assert stored.originator_version == SNAPSHOT_INTERVALS[Team]
        from_snapshot = cast(Any, stored).mutate(None)  # a Snapshot: mutate(None) builds
        replayed = project_events(None, app.events.get(team, lte=stored.originator_version))
        assert vars(from_snapshot) == vars(replayed)


def test_a_command_after_another_processs_erasure_seals_under_the_new_key(
    sqlite_location: StoreLocation,
) -> None:
    clock = FakeClock()
    with open_store(sqlite_location, clock=clock, ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        observe_break(miljo, student, "Før slettingen")  # the erasable key is cached now
        assert sqlite_location.db_path is not None
        script = (
            "import sys; from uuid import UUID; from adapters.bootstrap import open_store; "
            "from tests.support import REKTOR, FakeClock, SequentialIds\n"
            "with open_store(sys.argv[1], clock=FakeClock(), ids=SequentialIds(50_000)) as m:\n"
            "    m.erase_personal_data(REKTOR, UUID(sys.argv[2]), basis='request')\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(sqlite_location.db_path), str(student)],
            check=True,
            cwd=ROOT,
        )
        observe_break(miljo, student, "Etter slettingen")
    with open_store(sqlite_location, clock=clock, ids=SequentialIds(90_000)) as fresh:
        texts = [o.text for o in fresh.student_case(COORDINATOR, student).observations]
        assert texts == [ERASED, "Etter slettingen"]
