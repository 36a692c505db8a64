"""Store operations (adapters.storeops): online backup and restore of a SQLite store, whole-store
copies between SQLite and PostgreSQL, and following the read models."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
import threading
from pathlib import Path
from uuid import UUID

import pytest

from adapters.audit import verify_store
from adapters.bootstrap import PostgresTarget, StoreError, StoreLocation, open_store
from adapters.keys import ALL_KEYS, key_fingerprints
from adapters.protection import KEYRING_FILE
from adapters.storeops import backup_sqlite, copy_store, follow_views, restore_sqlite
from domain.facade import Miljo
from tests.integration.conftest import GJESDAL, build_gjesdal, new_sqlite_store
from tests.support import ADMIN, COORDINATOR, THERAPIST, FakeClock, SequentialIds

STUDENTS = (("2001", "Åse Bjørnstad"), ("2002", "Øyvind Kråkenes"), ("2003", "Æsa Lindøy"))


def fill(miljo: Miljo) -> list[UUID]:
    """Gjesdal, three students with observations, and a snapshot of the first student."""
    build_gjesdal(miljo)
    students = [
        miljo.register_student(
            ADMIN, school=GJESDAL, student_number=number, name=name, trinn=8, class_name="8c"
        )
        for number, name in STUDENTS
    ]
    for student in students:
        miljo.record_observation(
            THERAPIST,
            student,
            arena="break",
            categories=["conflict"],
            text="Uro ved ballbingen i storefri",
        )
    miljo.app.take_snapshot(students[0])
    return students


@pytest.fixture
def source(tmp_path: Path) -> tuple[StoreLocation, list[UUID]]:
    location = new_sqlite_store(tmp_path / "kilde.sqlite")
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        students = fill(miljo)
    return location, students


def sqlite_rows(path: Path) -> list[tuple[int, str, int, str, bytes, bytes]]:
    """Every stored event with its chain link, exactly as stored (ids as the library wrote)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), bytes(r[4]), bytes(r[5]))
            for r in db.execute(
                "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, c.link "
                "FROM stored_events e JOIN miljo_chain c ON c.position = e.rowid ORDER BY e.rowid"
            )
        ]


def snapshot_rows(path: Path) -> list[tuple[str, int, str, bytes]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [
            (str(r[0]), int(r[1]), str(r[2]), bytes(r[3]))
            for r in db.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_snapshots "
                "ORDER BY originator_id, originator_version"
            )
        ]


def reads(location: StoreLocation, students: list[UUID]) -> tuple[object, ...]:
    """What the facade shows: each student's case (as the coordinator) and the overview."""
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        cases = tuple(miljo.student_case(COORDINATOR, s) for s in students)
        return (*cases, miljo.overview(COORDINATOR, school=GJESDAL))


def keys_match(a: Path, b: Path, *, keyring_file: bool = True) -> None:
    """The key files match; a PostgreSQL store has no keyring file (it is in its schema)."""
    assert key_fingerprints(a) == key_fingerprints(b)
    assert stat.S_IMODE(b.stat().st_mode) == 0o700
    for name in ALL_KEYS:
        assert stat.S_IMODE((b / name).stat().st_mode) == 0o600
    if keyring_file:
        assert stat.S_IMODE((b / KEYRING_FILE).stat().st_mode) == 0o600
    else:
        assert not (b / KEYRING_FILE).exists()


# ---------------------------------------------------------------------------------------------
# Backup and restore
# ---------------------------------------------------------------------------------------------


def test_backup_while_a_writer_runs_is_consistent_and_restores(
    source: tuple[StoreLocation, list[UUID]], tmp_path: Path
) -> None:
    location, students = source
    assert location.db_path is not None
    assert location.keys_dir is not None
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with open_store(location, clock=FakeClock(), ids=SequentialIds(start=10_000)) as w:
                while not stop.is_set() and len(written) < 200:
                    w.record_observation(
                        THERAPIST, students[1], arena="classroom", categories=["social"], text="Ny"
                    )
                    written.append(w.event_count())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not written and thread.is_alive():
            stop.wait(0.01)
        backups = [backup_sqlite(location, tmp_path / "backup" / f"b{i}.sqlite") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert written
    for summary in backups:
        assert summary.keys_dir == summary.path.with_suffix(".keys")
        keys_match(location.keys_dir, summary.keys_dir)
        assert stat.S_IMODE(summary.path.stat().st_mode) == 0o600
        rows = sqlite_rows(summary.path)
        assert len(rows) == summary.events
        assert [r[0] for r in rows] == list(range(1, summary.events + 1))
        # The snapshot is a prefix of the source's chain, so the chain links stay valid.
        assert rows == sqlite_rows(location.db_path)[: summary.events]
    # Restore the last backup as a new store: it verifies, opens and reads as before.
    restored = StoreLocation(tmp_path / "ny" / "miljo.sqlite", tmp_path / "ny" / "miljo.keys")
    result = restore_sqlite(backups[-1].path, restored)
    assert result.events == backups[-1].events
    assert verify_store(restored).ok
    assert verify_store(restored).checked == backups[-1].events
    with open_store(restored, clock=FakeClock(), ids=SequentialIds(start=20_000)) as miljo:
        case = miljo.student_case(COORDINATOR, students[0])
        assert case.name == STUDENTS[0][1]
        miljo.record_observation(
            THERAPIST, students[2], arena="classroom", categories=["social"], text="Ro"
        )
    assert verify_store(restored).ok


def test_backup_refuses_to_overwrite(
    source: tuple[StoreLocation, list[UUID]], tmp_path: Path
) -> None:
    location, _ = source
    existing = tmp_path / "finnes.sqlite"
    existing.write_bytes(b"not mine")
    with pytest.raises(StoreError, match="already exists"):
        backup_sqlite(location, existing)
    assert existing.read_bytes() == b"not mine"
    (tmp_path / "nokler.keys").mkdir()
    with pytest.raises(StoreError, match="already exists"):
        backup_sqlite(location, tmp_path / "nokler.sqlite")
    assert not (tmp_path / "nokler.sqlite").exists()


def test_restore_refuses_an_existing_store_and_a_backup_without_keys(
    source: tuple[StoreLocation, list[UUID]], tmp_path: Path
) -> None:
    location, _ = source
    backup = backup_sqlite(location, tmp_path / "b.sqlite")
    with pytest.raises(StoreError, match="already exists"):
        restore_sqlite(backup.path, location)
    lone = tmp_path / "alene.sqlite"
    lone.write_bytes(backup.path.read_bytes())
    target = StoreLocation(tmp_path / "t.sqlite", tmp_path / "t.keys")
    with pytest.raises(StoreError, match="key folder"):
        restore_sqlite(lone, target)
    assert not target.db_path.exists()  # type: ignore[union-attr]


def test_backup_of_an_in_memory_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="in-memory"):
        backup_sqlite(StoreLocation(None, None), tmp_path / "x.sqlite")


# ---------------------------------------------------------------------------------------------
# Copy
# ---------------------------------------------------------------------------------------------


def test_copy_sqlite_to_sqlite_is_verbatim(
    source: tuple[StoreLocation, list[UUID]], tmp_path: Path
) -> None:
    location, students = source
    assert location.db_path is not None
    assert location.keys_dir is not None
    target = StoreLocation(tmp_path / "kopi.sqlite", tmp_path / "kopi.keys")
    before = reads(location, students)
    source_rows = sqlite_rows(location.db_path)
    summary = copy_store(location, target)
    assert summary.verify.ok
    assert summary.events == summary.links == len(source_rows)
    assert summary.snapshots == 1
    assert summary.view_position == len(source_rows)
    assert target.db_path is not None
    assert target.keys_dir is not None
    assert sqlite_rows(target.db_path) == source_rows
    assert snapshot_rows(target.db_path) == snapshot_rows(location.db_path)
    keys_match(location.keys_dir, target.keys_dir)
    assert reads(target, students) == before
    with pytest.raises(StoreError, match="already exists"):
        copy_store(location, target)


def test_copy_refuses_an_existing_key_folder_and_leaves_nothing(
    source: tuple[StoreLocation, list[UUID]], tmp_path: Path
) -> None:
    location, _ = source
    keys = tmp_path / "kopi.keys"
    keys.mkdir()
    (keys / "index.key").write_text("someone else's\n")
    target = StoreLocation(tmp_path / "kopi.sqlite", keys)
    with pytest.raises(StoreError, match="already exists"):
        copy_store(location, target)
    assert not (tmp_path / "kopi.sqlite").exists()
    assert (keys / "index.key").read_text() == "someone else's\n"


def test_follow_keeps_sqlite_views_caught_up(
    source: tuple[StoreLocation, list[UUID]],
) -> None:
    location, students = source
    batches: list[tuple[int, int]] = []
    stop = threading.Event()
    with open_store(location, clock=FakeClock(), ids=SequentialIds(start=500)) as follower:
        thread = threading.Thread(
            target=follow_views,
            args=(location, follower.views, stop),
            kwargs={"interval": 0.02, "on_batch": lambda a, p: batches.append((a, p))},
        )
        thread.start()
        try:
            with open_store(location, clock=FakeClock(), ids=SequentialIds(start=900)) as w:
                w.record_observation(
                    THERAPIST, students[0], arena="classroom", categories=["social"], text="A"
                )
                newest = w.event_count()
            while follower.views.position() < newest and thread.is_alive():
                stop.wait(0.01)
        finally:
            stop.set()
            thread.join()
        assert follower.views.position() == newest
    assert batches
    assert batches[-1][1] == newest


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def test_copy_sqlite_to_postgres_and_back(
    source: tuple[StoreLocation, list[UUID]],
    postgres_schema: PostgresTarget,
    tmp_path: Path,
) -> None:
    location, students = source
    assert location.db_path is not None
    assert location.keys_dir is not None
    before = reads(location, students)
    source_rows = sqlite_rows(location.db_path)
    pg = StoreLocation(None, tmp_path / "pg.keys", postgres=postgres_schema)
    summary = copy_store(location, pg)
    assert summary.verify.ok
    assert summary.verify.head_link == verify_store(location).head_link
    assert (summary.events, summary.snapshots) == (len(source_rows), 1)
    keys_match(location.keys_dir, tmp_path / "pg.keys", keyring_file=False)
    assert reads(pg, students) == before
    with pytest.raises(StoreError, match="already exists"):
        copy_store(location, pg)
    # The copy takes new events after the copied positions (the sequence moved on).
    with open_store(pg, clock=FakeClock(), ids=SequentialIds(start=700)) as miljo:
        miljo.record_observation(
            THERAPIST, students[1], arena="classroom", categories=["social"], text="B"
        )
        newest = miljo.event_count()
    assert newest == len(source_rows) + len(students) + 1  # reads above are logged
    assert verify_store(pg).ok
    # ... and back to SQLite, with every row (positions, links, payloads) as in PostgreSQL.
    back = StoreLocation(tmp_path / "tilbake.sqlite", tmp_path / "tilbake.keys")
    again = copy_store(pg, back)
    assert again.verify.ok
    assert again.events == newest
    assert back.db_path is not None
    copied = sqlite_rows(back.db_path)
    assert copied[: len(source_rows)] == source_rows
    assert [r[0] for r in copied] == list(range(1, newest + 1))
    assert snapshot_rows(back.db_path) == snapshot_rows(location.db_path)
    with open_store(back, clock=FakeClock(), ids=SequentialIds()) as miljo:
        assert len(miljo.student_case(COORDINATOR, students[1]).observations) == 2


def test_follow_keeps_postgres_views_caught_up(
    source: tuple[StoreLocation, list[UUID]],
    postgres_schema: PostgresTarget,
    tmp_path: Path,
) -> None:
    location, students = source
    pg = StoreLocation(None, tmp_path / "pg.keys", postgres=postgres_schema)
    copy_store(location, pg)
    batches: list[tuple[int, int]] = []
    stop = threading.Event()
    with open_store(pg, clock=FakeClock(), ids=SequentialIds(start=500)) as follower:
        thread = threading.Thread(
            target=follow_views,
            args=(pg, follower.views, stop),
            kwargs={"interval": 0.2, "on_batch": lambda a, p: batches.append((a, p))},
        )
        thread.start()
        try:
            with open_store(pg, clock=FakeClock(), ids=SequentialIds(start=900)) as w:
                w.record_observation(
                    THERAPIST, students[2], arena="classroom", categories=["social"], text="C"
                )
                newest = w.event_count()
            while follower.views.position() < newest and thread.is_alive():
                stop.wait(0.02)
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()
        assert follower.views.position() == newest
    assert batches[-1] == (1, newest)
