"""Stored snapshots are bound to their row (docs/adr/0022-snapshots-bound-to-their-row.md).

A snapshot row changed outside miljo (moved to another version, swapped with another,
moved to another stream) is ignored when loaded, the stream is replayed from its events, and
``audit verify`` names it. Snapshots written before the binding (format 1) are never loaded
and are counted by verify. A copied store keeps its bound snapshots loadable.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from adapters import postgres
from adapters.audit import StoreVerifyResult, verify_store
from adapters.bootstrap import StoreLocation, init_store, open_store
from adapters.keys import SEALING_KEY, read_key
from adapters.protection import (
    SNAPSHOT_BOUND,
    SNAPSHOT_UNBOUND,
    MiljoCipher,
    MiljoMapper,
    check_snapshot,
)
from adapters.storeops import copy_store
from cli import exit_codes
from cli.main import cli as miljo_command
from domain import application
from domain.application import SNAPSHOT_INTERVALS, MiljoApplication, UntrustedSnapshot
from domain.errors import DomainError, NotFound
from domain.facade import Miljo
from domain.school import School
from tests.conftest import admin_connection
from tests.contract.test_golden_events import (
    EVENT_FILES,
    fold_streams,
    read_golden,
    snapshots_for,
    with_state,
)
from tests.support import ADMIN, FakeClock, SequentialIds, TestHasher, replay

SCHOOL = "gjesdal"
STUDENTS = 12  # School events: 1 register + 1 class + 12 enrolments = version 14
INTERVAL = 5  # School snapshots at versions 5 and 10 (the ladder keeps both)


def number(n: int) -> str:
    return f"24-{n:04d}"


@pytest.fixture(autouse=True)
def small_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    intervals: dict[type[Any], int] = {**SNAPSHOT_INTERVALS, School: INTERVAL}
    monkeypatch.setattr(MiljoApplication, "snapshotting_intervals", intervals)
    monkeypatch.setattr(application, "SNAPSHOT_LADDER", 1)


def opened(location: StoreLocation, start: int = 0) -> Miljo:
    return open_store(location, clock=FakeClock(), ids=SequentialIds(start))


def build(location: StoreLocation) -> UUID:
    """A school with STUDENTS students; its snapshots are at versions 5 and 10."""
    with opened(location) as miljo:
        school_id = miljo.register_school(
            ADMIN, code=SCHOOL, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
        )
        miljo.add_class(ADMIN, school=SCHOOL, trinn=8, class_name="8a")
        for n in range(1, STUDENTS + 1):
            register(miljo, n)
    assert snapshot_versions(location, school_id) == [INTERVAL, 2 * INTERVAL]
    return school_id


def register(miljo: Miljo, n: int) -> UUID:
    return miljo.register_student(
        ADMIN, school=SCHOOL, student_number=number(n), name="Kari Testesen", trinn=8,
        class_name="8a",
    )  # fmt: skip


# -- the snapshot table, as someone with write access to the database sees it ----------------


@contextlib.contextmanager
def database(location: StoreLocation) -> Iterator[tuple[Any, str, str]]:
    """A connection, the snapshot table's name and the parameter marker of the backend."""
    if location.postgres is not None:
        target = location.postgres
        with admin_connection(target) as conn:
            table = sql.SQL("{}.{}").format(
                sql.Identifier(target.schema), sql.Identifier(postgres.SNAPSHOTS_TABLE)
            )
            yield conn, table.as_string(conn), "%s"
        return
    assert location.db_path is not None
    db = sqlite3.connect(location.db_path, isolation_level=None)
    try:
        yield db, "stored_snapshots", "?"
    finally:
        db.close()


def key(location: StoreLocation, stream: UUID) -> object:
    return stream if location.postgres is not None else stream.hex


def execute(location: StoreLocation, statement: str, *params: object) -> None:
    """Run ``statement`` ({t}: the snapshot table, ?: a parameter) outside miljo."""
    with database(location) as (conn, table, marker):
        conn.execute(statement.format(t=table).replace("?", marker), params)


def snapshot_versions(location: StoreLocation, stream: UUID) -> list[int]:
    with database(location) as (conn, table, marker):
        rows = conn.execute(
            f"SELECT originator_version FROM {table} WHERE originator_id = {marker} "  # noqa: S608 - test's own table name
            "ORDER BY originator_version",
            (key(location, stream),),
        ).fetchall()
    return [int(row[0]) for row in rows]


def move(location: StoreLocation, stream: UUID, version: int, to: int) -> None:
    execute(
        location,
        "UPDATE {t} SET originator_version = ? WHERE originator_id = ? AND originator_version = ?",
        to,
        key(location, stream),
        version,
    )


# -- what a user sees -------------------------------------------------------------------------


def active_students(location: StoreLocation) -> int:
    with opened(location, 500) as miljo:
        return miljo.school(ADMIN, SCHOOL).active_students


def snapshot_broken(location: StoreLocation, stream: UUID, version: int) -> StoreVerifyResult:
    result = verify_store(location)
    assert not result.ok
    assert result.first_failure is None  # the events' chain is intact
    assert result.snapshot_failure is not None
    assert result.snapshot_failure.startswith(
        f"snapshot of stream {stream.hex} at version {version}"
    )
    assert "does not match its row" in result.snapshot_failure
    return result


def test_a_snapshot_moved_to_a_later_version_is_ignored_and_named(
    store_location: StoreLocation, caplog: pytest.LogCaptureFixture
) -> None:
    """The reviewer's reproduction: the snapshot at 10 claims to be at 13 (the events end at
    14). Without the binding the school loaded 9 students, found no 10th, and let it be
    registered twice, while verify said "intact"."""
    school_id = build(store_location)
    assert verify_store(store_location).ok
    move(store_location, school_id, 2 * INTERVAL, 13)
    with caplog.at_level(logging.WARNING, logger="adapters.protection"):
        assert active_students(store_location) == STUDENTS
    assert [r.getMessage() for r in caplog.records] == [
        f"snapshot of {school_id.hex} v13 does not authenticate for its row (moved, copied or "
        "changed outside miljo, or a wrong payload key); ignored, the stream is replayed from "
        "its events"
    ]
    with opened(store_location, 600) as miljo:
        miljo.find_student(ADMIN, school=SCHOOL, student_number=number(10))
        with pytest.raises(DomainError):
            register(miljo, 10)
    result = snapshot_broken(store_location, school_id, 13)
    assert (result.snapshots_checked, result.snapshots_failed) == (1, 1)


def test_two_snapshots_swapped_are_ignored_at_every_version(
    store_location: StoreLocation,
) -> None:
    school_id = build(store_location)
    move(store_location, school_id, INTERVAL, -1)
    move(store_location, school_id, 2 * INTERVAL, INTERVAL)
    move(store_location, school_id, -1, 2 * INTERVAL)
    assert active_students(store_location) == STUDENTS
    with opened(store_location, 700) as miljo:
        # As-of reads land on the snapshot at or below the version asked for.
        for version in (7, 12):
            school: School = miljo.app.repository.get(school_id, version=version)
            assert school.version == version
            assert len(school.active_students) == version - 2
    result = snapshot_broken(store_location, school_id, INTERVAL)
    assert (result.snapshots_checked, result.snapshots_failed) == (0, 2)


def test_a_snapshot_moved_to_another_stream_is_ignored_and_named(
    store_location: StoreLocation,
) -> None:
    school_id = build(store_location)
    with opened(store_location, 800) as miljo:
        other = miljo.register_school(
            ADMIN, code="sandnes", name="Sandnes skole", first_trinn=1, last_trinn=7
        )
    execute(
        store_location,
        "UPDATE {t} SET originator_id = ? WHERE originator_id = ? AND originator_version = ?",
        key(store_location, other),
        key(store_location, school_id),
        INTERVAL,
    )
    with opened(store_location, 900) as miljo:
        sandnes = miljo.school(ADMIN, "sandnes")
        assert (sandnes.code, sandnes.active_students, sandnes.classes) == ("sandnes", 0, {})
        assert miljo.school(ADMIN, SCHOOL).active_students == STUDENTS
    snapshot_broken(store_location, other, INTERVAL)


def rows(location: StoreLocation, stream: UUID) -> list[tuple[int, str, bytes]]:
    with database(location) as (conn, table, marker):
        found = conn.execute(
            f"SELECT originator_version, topic, state FROM {table} "  # noqa: S608 - test's own table name
            f"WHERE originator_id = {marker} ORDER BY originator_version",
            (key(location, stream),),
        ).fetchall()
    return [(int(v), str(t), bytes(s)) for v, t, s in found]


def test_bytes_moved_between_the_topic_and_the_payload_are_named(
    store_location: StoreLocation,
) -> None:
    """The review's ambiguity: the topic's last byte moved in front of the nonce. The topic is
    length-prefixed in the binding, so verify sees it; the row's topic no longer resolves, and
    the load replays instead of failing."""
    school_id = build(store_location)
    version, topic, state = rows(store_location, school_id)[-1]
    shifted = state[:1] + state[1:33] + topic[-1:].encode() + state[33:]
    execute(
        store_location,
        "UPDATE {t} SET topic = ?, state = ? WHERE originator_id = ? AND originator_version = ?",
        topic[:-1],
        shifted,
        key(store_location, school_id),
        version,
    )
    assert active_students(store_location) == STUDENTS
    result = verify_store(store_location)
    assert not result.ok
    assert result.snapshot_failure is not None
    assert result.snapshot_failure.startswith(f"snapshot of stream {school_id.hex} at version")


def test_an_events_row_put_in_the_snapshot_table_is_not_loaded(
    store_location: StoreLocation, caplog: pytest.LogCaptureFixture
) -> None:
    """An event's stored row (its own topic, an unbound payload the payload key opens) copied
    into the snapshot table at a later version: the load refuses it as a starting point."""
    school_id = build(store_location)
    with opened(store_location, 950) as miljo:
        [first] = miljo.app.recorder.select_events(school_id, lte=1)
    execute(
        store_location,
        "INSERT INTO {t} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        key(store_location, school_id),
        13,
        first.topic,
        first.state,
    )
    with caplog.at_level(logging.WARNING, logger="domain.application"):
        assert active_students(store_location) == STUDENTS
    assert [r.getMessage() for r in caplog.records] == [
        f"the snapshot row of stream {school_id} at version 13 is not a snapshot this store "
        "wrote (TypeError); ignored, the stream is replayed from its events"
    ]


def test_the_cli_names_a_broken_snapshot(tmp_path: Path) -> None:
    location = StoreLocation(tmp_path / "miljo.sqlite", tmp_path / "miljo.keys")
    init_store(location)
    school_id = build(location)

    def cli_verify() -> Any:
        env = {"MILJO_ACTOR": "auditor:p-audit", "MILJO_HOME": None, "MILJO_DEBUG": None}
        args = ["--store", str(location.db_path), "audit", "verify"]
        return CliRunner().invoke(miljo_command, args, env=env)

    intact = cli_verify()
    assert intact.exit_code == exit_codes.OK, intact.output
    assert "Snapshots intact: 2 verified" in intact.output
    move(location, school_id, 2 * INTERVAL, 13)
    broken = cli_verify()
    assert broken.exit_code == exit_codes.VERIFY_FAILED, broken.output
    assert "Chain intact" in broken.output
    assert f"Snapshots BROKEN: 1 fail, the first: snapshot of stream {school_id.hex}" in (
        broken.output
    )
    assert "Kari" not in broken.output


# -- snapshots written before the binding -----------------------------------------------------


def unbind(location: StoreLocation, stream: UUID, version: int) -> None:
    """Rewrite a snapshot as a store written before the binding held it (format 1: the
    payload encrypted without associated data)."""
    with opened(location, 1000) as miljo:
        cipher = miljo.app.mapper.cipher
        assert isinstance(cipher, MiljoCipher)
        with database(location) as (conn, table, marker):
            topic, state = conn.execute(
                f"SELECT topic, state FROM {table} WHERE originator_id = {marker} "  # noqa: S608 - test's own table name
                f"AND originator_version = {marker}",
                (key(location, stream), version),
            ).fetchone()
            plain = cipher.decrypt_snapshot(bytes(state), stream, version, topic)
            conn.execute(
                f"UPDATE {table} SET state = {marker} WHERE originator_id = {marker} "  # noqa: S608 - test's own table name
                f"AND originator_version = {marker}",
                (cipher.encrypt(plain), key(location, stream), version),
            )


def test_an_unbound_snapshot_is_never_loaded_and_is_counted(
    store_location: StoreLocation,
) -> None:
    school_id = build(store_location)
    unbind(store_location, school_id, 2 * INTERVAL)
    result = verify_store(store_location)
    assert result.ok
    assert (result.snapshots_checked, result.snapshots_unbound) == (1, 1)
    # Even forged to another version, it alters nothing: it is not loaded.
    move(store_location, school_id, 2 * INTERVAL, 13)
    assert active_students(store_location) == STUDENTS
    assert verify_store(store_location).snapshots_unbound == 1
    # The next snapshot (at 15) is bound again, and is the one loads start from.
    with opened(store_location, 1100) as miljo:
        register(miljo, STUDENTS + 1)
    # (the pruner deleted the one at 13: below the newest and off the ladder)
    assert snapshot_versions(store_location, school_id) == [INTERVAL, 3 * INTERVAL]
    assert verify_store(store_location).snapshots_checked == 2


# -- copies -----------------------------------------------------------------------------------


def test_a_copied_store_loads_its_bound_snapshots(
    store_location: StoreLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    school_id = build(store_location)
    copy = StoreLocation(tmp_path / "kopi.sqlite", tmp_path / "kopi.keys")
    summary = copy_store(store_location, copy)
    assert summary.verify.ok
    assert summary.snapshots >= 2
    result = verify_store(copy)
    assert (result.snapshots_checked, result.snapshots_unbound) == (summary.snapshots, 0)
    loaded: list[int] = []
    original = MiljoMapper.to_domain_event

    def spy(self: MiljoMapper, stored: StoredEvent) -> Any:
        event = original(self, stored)
        if isinstance(event, Snapshot):
            loaded.append(stored.originator_version)
        return event

    monkeypatch.setattr(MiljoMapper, "to_domain_event", spy)
    assert active_students(copy) == STUDENTS
    assert loaded == [2 * INTERVAL]  # the copy's snapshot was trusted, not replayed around
    with opened(copy, 1200) as miljo, pytest.raises(NotFound):
        miljo.find_student(ADMIN, school=SCHOOL, student_number=number(STUDENTS + 1))
    assert snapshot_versions(copy, school_id) == [INTERVAL, 2 * INTERVAL]


# -- the payload format -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[MiljoCipher, bytes]:
    """The cipher of a new SQLite store, and the store's sealing key (as an auditor has it)."""
    location = StoreLocation(
        tmp_path_factory.mktemp("keys") / "miljo.sqlite", tmp_path_factory.mktemp("keys") / "k"
    )
    init_store(location)
    assert location.keys_dir is not None
    cipher = MiljoCipher(Environment(env={"MILJO_KEYS_DIR": str(location.keys_dir)}))
    return cipher, read_key(location.keys_dir, SEALING_KEY)


ROWS = st.tuples(st.uuids(), st.integers(min_value=1, max_value=2**40), st.sampled_from(
    ["domain.school:School.Snapshot", "domain.student:Student.Snapshot"]
))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(plain=st.binary(max_size=300), row=ROWS, other=ROWS)
def test_a_bound_payload_opens_only_for_its_own_row(
    keys: tuple[MiljoCipher, bytes],
    plain: bytes,
    row: tuple[UUID, int, str],
    other: tuple[UUID, int, str],
) -> None:
    cipher, sealing = keys
    state = cipher.encrypt_snapshot(plain, *row)
    assert cipher.decrypt_snapshot(state, *row) == plain
    assert check_snapshot(sealing, row[0].hex, row[1], row[2], state) == SNAPSHOT_BOUND
    if other != row:
        with pytest.raises(UntrustedSnapshot) as refused:
            cipher.decrypt_snapshot(state, *other)
        assert not refused.value.unbound
        assert check_snapshot(sealing, other[0].hex, other[1], other[2], state) not in {
            SNAPSHOT_BOUND,
            SNAPSHOT_UNBOUND,
        }
    unbound = cipher.encrypt(plain)
    assert check_snapshot(sealing, row[0].hex, row[1], row[2], unbound) == SNAPSHOT_UNBOUND
    with pytest.raises(UntrustedSnapshot) as refused:
        cipher.decrypt_snapshot(unbound, *row)
    assert refused.value.unbound
    with pytest.raises(ValueError, match="bound to its row"):
        cipher.decrypt(state)


@pytest.mark.backends("postgres", reason="the PostgreSQL snapshot reader pages by key")
def test_verify_reads_postgres_snapshots_page_by_page(store_location: StoreLocation) -> None:
    school_id = build(store_location)
    with opened(store_location, 1300) as miljo:
        register(miljo, STUDENTS + 1)  # a third snapshot, at 15
    assert store_location.postgres is not None
    with postgres.open_chain(store_location.postgres) as chain:
        rows = list(chain.snapshots(page=1))
    assert [(r[0], r[1]) for r in rows if r[0] == school_id.hex] == [
        (school_id.hex, v) for v in (INTERVAL, 2 * INTERVAL, 3 * INTERVAL)
    ]
    assert rows == sorted(rows, key=lambda r: (r[0], r[1]))


# -- golden snapshots -------------------------------------------------------------------------


@pytest.mark.parametrize("events_file", EVENT_FILES, ids=lambda p: p.name)
def test_golden_snapshots_bound_to_their_rows_load(
    events_file: Path, sqlite_location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The golden snapshots, stored as this version stores them (bound), are the ones the
    repository starts from, and restore what the events fold into."""
    lines = read_golden(events_file)
    snapshot_lines = read_golden(snapshots_for(events_file))
    loaded: list[tuple[UUID, int]] = []
    original = MiljoMapper.to_domain_event

    def spy(self: MiljoMapper, stored: StoredEvent) -> Any:
        event = original(self, stored)
        if isinstance(event, Snapshot):
            loaded.append((UUID(str(stored.originator_id)), stored.originator_version))
        return event

    with open_store(sqlite_location, hasher=TestHasher()) as miljo:
        cipher = miljo.app.mapper.cipher
        assert isinstance(cipher, MiljoCipher)
        miljo.app.recorder.insert_events(
            [with_state(line.stored(), cipher.encrypt(line.state.encode())) for line in lines]
        )
        bound = [
            with_state(
                line.stored(),
                cipher.encrypt_snapshot(
                    line.state.encode(), line.originator_id, line.originator_version, line.topic
                ),
            )
            for line in snapshot_lines
        ]
        assert miljo.app.snapshots is not None
        miljo.app.snapshots.recorder.insert_events(bound)
        plain = MiljoApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        monkeypatch.setattr(MiljoMapper, "to_domain_event", spy)
        for stream_id, events in fold_streams(plain, lines).items():
            assert miljo.app.repository.get(stream_id) == replay(events)
    newest: dict[UUID, int] = {}
    for line in snapshot_lines:
        newest[line.originator_id] = max(newest.get(line.originator_id, 0), line.originator_version)
    assert sorted(loaded) == sorted(newest.items())
    assert verify_store(sqlite_location).snapshots_checked == len(snapshot_lines)
