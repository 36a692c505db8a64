"""A damaged store: truncated or corrupt files, a torn write-ahead log, wrong or missing keys, a
full disk. Each must give a clear one-line message with the documented exit code (7, or 8
when ``audit verify`` finds the chain broken) and lose nothing already committed: miljo never
writes to, repairs or recreates what it cannot open, and once the damage is undone (the key
put back, space freed) every committed event is there and the chain verifies.

Commands run through the ``miljo`` command: in-process with click's runner, and as real
processes for the full disk. The full disk is a small tmpfs, filled to a few kilobytes, when
this process may mount one (root; skipped otherwise), and ``RLIMIT_FSIZE`` set in the child
``miljo`` process before it starts (SIGXFSZ ignored, so writes fail with EFBIG as on a full
disk): the limit variant always runs, so every machine has a full-disk test.

The failures these tests found (wrong keys not detected, unreadable payloads and keyring
errors surfacing as exit 1) are fixed; the tests that pinned them now check the fix
(docs/reliability.md).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import hashlib
import os
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs
import pytest
from click.testing import CliRunner, Result

from adapters.audit import verify_store
from adapters.bootstrap import PostgresTarget, open_store, resolve_store
from adapters.keyring import PG_KEYS_TABLE
from adapters.keys import INDEX_KEY, MASTER_KEY, PAYLOAD_KEY, SEALING_KEY
from adapters.protection import KEYRING_FILE
from cli import exit_codes
from cli.main import cli as miljo_command
from domain.school import School, school_id
from domain.student import Student
from tests.integration.workers import (
    ADMIN,
    COORDINATOR,
    ROOT,
    SCHOOL,
    StoreUnderTest,
    build_scenario,
    child_env,
    fresh_projection,
    opened,
    postgres_store,
    report,
    sqlite_store,
    stored_notifications,
    streams_with,
    view_rows,
)
from tests.support import FakeClock

FAKE_NOW: Final = "2024-09-20T10:00:00+02:00"
ADMIN_AS: Final = "admin:p-admin"
COORDINATOR_AS: Final = "miljokoordinator:gj-mt1@gjesdal"
AUDITOR_AS: Final = "auditor:p-audit"
MILJO: Final = Path(sys.executable).parent / "miljo"
PAGE: Final = 4096


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "postgres":
        target: PostgresTarget = request.getfixturevalue("postgres_schema")
        return built(postgres_store(target, tmp_path / "pg.keys"))
    return built(sqlite_store(tmp_path))


@pytest.fixture
def sqlite(tmp_path: Path) -> StoreUnderTest:
    return built(sqlite_store(tmp_path))


def built(store: StoreUnderTest) -> StoreUnderTest:
    """The shared scenario plus an observation about each student."""
    with open_store(store.location, clock=FakeClock()) as miljo:
        scenario = build_scenario(miljo)
        for number, student in scenario.shared.items():
            miljo.record_observation(
                COORDINATOR,
                student,
                arena="classroom",
                categories=["wellbeing"],
                text=f"Observasjon om {number}: trist i timen",
            )
    return store


@attrs.frozen
class Committed:
    """What a store holds, read without writing anything (no access-log entries)."""

    events: int
    head: bytes
    students: tuple[tuple[str, str, tuple[str, ...]], ...]  # number, name, observations


def committed(store: StoreUnderTest) -> Committed:
    verified = verify_store(store.location)
    assert verified.ok, verified.reason
    with opened(store) as miljo:
        school: School = miljo.app.repository.get(school_id(SCHOOL))
        students = []
        for student_id in sorted(school.students.values()):
            student: Student = miljo.app.repository.get(student_id)
            texts = tuple(o.text for o in student.current_observations())
            students.append((student.student_number, student.name, texts))
        assert verified.checked == len(stored_notifications(miljo.app))
    return Committed(verified.checked, verified.head_link, tuple(students))


def kept(before: Committed, after: Committed) -> bool:
    """Everything in ``before`` is in ``after``: the same students, each with the same
    observations first (observations are only ever appended)."""
    later = {number: (name, texts) for number, name, texts in after.students}
    return all(
        number in later and later[number][0] == name and later[number][1][: len(texts)] == texts
        for number, name, texts in before.students
    )


def invoke(store: StoreUnderTest, actor: str, *args: str) -> Result:
    env: dict[str, str | None] = {
        "MILJO_STORE": store.argument,
        "MILJO_ACTOR": actor,
        "MILJO_FAKE_NOW": FAKE_NOW,
        "MILJO_HOME": None,
        "MILJO_DEBUG": None,
        "MILJO_KEYS_DIR": store.env.get("MILJO_KEYS_DIR"),
    }
    return CliRunner().invoke(miljo_command, list(args), env=env)


def failed_with(result: Result, *codes: int) -> str:
    """One line on stderr, no traceback, one of ``codes``; returns the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("miljo: error: ")
    assert "Traceback" not in result.stderr
    assert result.exit_code in codes, lines[0]
    return lines[0]


def _terminal(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def write(line: str) -> None:
        with capsys.disabled():
            sys.stderr.write(f"\n{line}\n")

    return write


#: A read, a write and the audit, as the three kinds of user would run them.
READ: Final = (COORDINATOR_AS, "student", "show", "--school", SCHOOL, "S-1")
WRITE: Final = (
    COORDINATOR_AS, "student", "observe", "--school", SCHOOL, "S-2", "--arena", "break",
    "--category", "conflict", "--text", "Uro i friminuttet",
)  # fmt: skip
REGISTER: Final = (
    ADMIN_AS, "student", "register", "--school", SCHOOL, "N-1", "--name", "Åse Nordmæla",
    "--trinn", "8", "--class", "8b",
)  # fmt: skip
VERIFY: Final = (AUDITOR_AS, "audit", "verify")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Truncated and corrupt store files (SQLite)
# ---------------------------------------------------------------------------------------------

DAMAGE: Final[dict[str, Callable[[bytes], bytes]]] = {
    "empty": lambda data: b"",
    "header-only": lambda data: data[:100],
    "half": lambda data: data[: len(data) // 2],
    "last-page-cut": lambda data: data[: len(data) - PAGE - 17],
    "schema-page": lambda data: data[:100] + bytes(range(256)) * 15 + data[100 + 3840 :],
    "middle-pages": lambda data: (
        data[: len(data) // 2] + b"\xa5" * 8 * PAGE + data[len(data) // 2 + 8 * PAGE :]
    ),
    "magic": lambda data: b"SQLite format 2\x00" + data[16:],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_store_file_is_refused_and_left_as_it_is(
    sqlite: StoreUnderTest, damage: str
) -> None:
    path = sqlite.location.db_path
    assert path is not None
    backup = path.with_name("backup.sqlite")
    shutil.copyfile(path, backup)
    before = committed(sqlite)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    damaged = _sha256(path)

    for actor, *args in (READ, WRITE, REGISTER):
        line = failed_with(invoke(sqlite, actor, *args), exit_codes.STORE_ERROR)
        assert str(path) in line
    failed_with(invoke(sqlite, *VERIFY), exit_codes.STORE_ERROR, exit_codes.VERIFY_FAILED)
    failed_with(invoke(sqlite, ADMIN_AS, "store", "rebuild"), exit_codes.STORE_ERROR)
    # Nothing repaired, recreated or overwritten: the damage is left for the administrator.
    assert _sha256(path) == damaged
    failed_with(invoke(sqlite, ADMIN_AS, "store", "init"), exit_codes.STORE_ERROR)
    assert _sha256(path) == damaged

    shutil.copyfile(backup, path)  # the administrator restores the backup
    assert committed(sqlite) == before


def test_torn_write_ahead_log_keeps_whole_transactions(
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A crash can leave the write-ahead log cut anywhere. Opened from such a copy, the store
    holds a prefix of whole transactions: verified chain, no half command, views that resume."""
    live = sqlite_store(tmp_path / "live")
    path = live.location.db_path
    assert path is not None
    assert live.location.keys_dir is not None
    with open_store(live.location, clock=FakeClock()) as miljo:
        build_scenario(miljo)
        for n in range(12):
            student = miljo.register_student(
                ADMIN, school=SCHOOL, student_number=f"W-{n}", name=f"Wal Testesen {n}",
                trinn=8, class_name="8a",
            )  # fmt: skip
            miljo.record_observation(
                COORDINATOR, student, arena="home", categories=["family"], text=f"Obs {n}"
            )
            if n % 4 == 3:
                miljo.catch_up()
        # Snapshot the files while the store is open: the log is not yet checkpointed.
        wal = path.with_name(path.name + "-wal")
        log = wal.read_bytes()
        database = path.read_bytes()
        total = miljo.event_count()
        keys = tmp_path / "keys-copy"
        shutil.copytree(live.location.keys_dir, keys, ignore=shutil.ignore_patterns("*-shm"))
    assert len(log) > 32 + 24 + PAGE, "the write-ahead log should hold several transactions"

    cuts = sorted({0, 32, 32 + 24 + PAGE, len(log) // 3, len(log) // 2, len(log) - 1, len(log)})
    seen: list[int] = []
    for cut in cuts:
        folder = tmp_path / f"cut-{cut}"
        folder.mkdir()
        copy = folder / "miljo.sqlite"
        copy.write_bytes(database)
        copy.with_name("miljo.sqlite-wal").write_bytes(log[:cut])
        shutil.copytree(keys, folder / "miljo.keys")
        location = resolve_store(copy)
        verified = verify_store(location)
        assert verified.ok, (cut, verified.reason)
        with open_store(location) as miljo:
            stored = stored_notifications(miljo.app)
            registered = set(streams_with(stored, "miljo:Student.Registered"))
            school = miljo.app.repository.get(school_id(SCHOOL)) if stored else None
            enrolled: set[UUID] = (
                set(school.students.values()) if isinstance(school, School) else set()
            )
            assert registered == enrolled
            assert miljo.views.position() <= (stored[-1].id if stored else 0)
            miljo.catch_up()
            assert view_rows(miljo.views) == fresh_projection(miljo.app)
        seen.append(len(stored))
    assert seen == sorted(seen)  # a longer log never holds less
    assert seen[-1] == total
    report(
        "damaged[torn-wal]",
        {
            "log_bytes": len(log),
            "cuts_tried": len(cuts),
            "events_at_cuts": "/".join(map(str, seen)),
            "half_written_commands": 0,
            "events_lost_when_whole": total - seen[-1],
        },
        record_property,
        _terminal(capsys),
    )


# ---------------------------------------------------------------------------------------------
# Keys: missing, malformed, wrong
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def set_aside(path: Path) -> Iterator[None]:
    """Move a file or folder away for the duration, then put it back."""
    away = path.with_name(path.name + ".away")
    path.rename(away)
    try:
        yield
    finally:
        away.rename(path)


@contextlib.contextmanager
def set_aside_table(target: PostgresTarget, table: str) -> Iterator[None]:
    """Rename a table of the store's schema for the duration, then put it back."""
    from psycopg import sql

    from tests.conftest import admin_connection

    name = sql.Identifier(target.schema, table)
    with admin_connection(target) as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(name, sql.Identifier(table + "_away"))
        )
    try:
        yield
    finally:
        with admin_connection(target) as conn:
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    sql.Identifier(target.schema, table + "_away"), sql.Identifier(table)
                )
            )


KEY_DAMAGE: Final[dict[str, tuple[str, Callable[[Path], bytes]]]] = {
    "keyring-missing": (KEYRING_FILE, lambda p: b""),
    "payload-key-not-base64": (PAYLOAD_KEY, lambda p: b"this is not a key\n"),
    "master-key-short": (MASTER_KEY, lambda p: base64.b64encode(os.urandom(16)) + b"\n"),
    "index-key-empty": (INDEX_KEY, lambda p: b""),
    "sealing-key-missing": (SEALING_KEY, lambda p: b""),
}


@pytest.mark.parametrize("case", sorted(KEY_DAMAGE))
def test_missing_or_malformed_key_is_a_store_error(store: StoreUnderTest, case: str) -> None:
    keys = store.location.keys_dir
    assert keys is not None
    before = committed(store)
    name, content = KEY_DAMAGE[case]
    if case == "keyring-missing" and store.location.postgres is not None:
        # A PostgreSQL store's keyring is a table in its schema (ADR 0015).
        with set_aside_table(store.location.postgres, PG_KEYS_TABLE):
            _all_refused(store, "keyring", audit=False)
        assert committed(store) == before
        return
    target = keys / name
    original = target.read_bytes()
    if case.endswith("missing"):
        with set_aside(target):
            _all_refused(store, name, audit=name == SEALING_KEY)
    else:
        target.write_bytes(content(target))
        try:
            _all_refused(store, name, audit=False)
        finally:
            target.write_bytes(original)
    assert committed(store) == before


def _all_refused(store: StoreUnderTest, name: str, *, audit: bool) -> None:
    for actor, *args in (READ, WRITE, REGISTER):
        line = failed_with(invoke(store, actor, *args), exit_codes.STORE_ERROR)
        assert name in line or "keyring" in line, line
    if audit:
        failed_with(invoke(store, *VERIFY), exit_codes.STORE_ERROR)


def test_missing_key_folder_is_a_store_error(store: StoreUnderTest) -> None:
    keys = store.location.keys_dir
    assert keys is not None
    before = committed(store)
    with set_aside(keys):
        for actor, *args in (READ, WRITE, REGISTER, VERIFY):
            line = failed_with(invoke(store, actor, *args), exit_codes.STORE_ERROR)
            assert "missing" in line
    assert committed(store) == before


def _replace_key(path: Path) -> bytes:
    original = path.read_bytes()
    path.write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    return original


ALL_KEYS: Final = (PAYLOAD_KEY, MASTER_KEY, INDEX_KEY, SEALING_KEY)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_reading_with_a_wrong_key_is_a_store_error(store: StoreUnderTest, key: str) -> None:
    """Another valid key in place of the right one: refused when the store is opened (exit 7,
    naming the key file), without writing anything (not even the read's access-log entry,
    which a wrong sealing key would chain wrongly) and without showing anyone's data."""
    keys = store.location.keys_dir
    assert keys is not None
    before = committed(store)
    original = _replace_key(keys / key)
    try:
        result = invoke(store, *READ)
    finally:
        (keys / key).write_bytes(original)
    line = failed_with(result, exit_codes.STORE_ERROR)
    assert f"key file {keys / key} does not belong to this store" in line
    assert "Sølvi" not in result.stdout + result.stderr
    assert committed(store) == before


@pytest.mark.parametrize("key", ALL_KEYS)
def test_writing_with_a_wrong_key_is_refused_and_writes_nothing(
    store: StoreUnderTest, key: str
) -> None:
    """Was committed: with a wrong payload or master key a write the right key cannot read,
    with a wrong index key a second registration of S-1, with a wrong sealing key a broken
    chain. Now open_store checks the keys' fingerprints first."""
    keys = store.location.keys_dir
    assert keys is not None
    before = committed(store)
    original = _replace_key(keys / key)
    try:
        results = [
            invoke(store, ADMIN_AS, "school", "register", "trudvang", "--name", "Trudvang skule",
                   "--trinn", "1-5"),
            invoke(store, ADMIN_AS, "student", "register", "--school", SCHOOL, "S-1", "--name",
                   "Sølvi Prøvestad", "--trinn", "8", "--class", "8a"),
            invoke(store, *READ),
        ]  # fmt: skip
    finally:
        (keys / key).write_bytes(original)
    after = committed(store)  # raises if the chain no longer verifies
    assert after == before
    for result in results:
        line = failed_with(result, exit_codes.STORE_ERROR)
        assert f"key file {keys / key} does not belong to this store" in line
        assert "Sølvi" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Stored data that does not authenticate (damaged or tampered with)
# ---------------------------------------------------------------------------------------------


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _student_id(store: StoreUnderTest, number: str) -> UUID:
    with opened(store) as miljo:
        return miljo.find_student(ADMIN, school=SCHOOL, student_number=number)


@contextlib.contextmanager
def tampered(path: Path, table: str, where: str, args: tuple[object, ...]) -> Iterator[int]:
    """Flip one bit at the end of each matching row's BLOB (its AES-GCM tag), then put the
    rows back as they were. Yields how many rows were changed."""
    column = {"stored_events": "state", "data_keys": "wrapped"}[table]
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            f"SELECT rowid, {column} FROM {table} WHERE {where}",  # noqa: S608 - constants
            args,
        ).fetchall()
        with db:
            for rowid, blob in rows:
                db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE rowid = ?",  # noqa: S608
                    (_flip_last_byte(blob), rowid),
                )
    try:
        yield len(rows)
    finally:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            for rowid, blob in rows:
                db.execute(
                    f"UPDATE {table} SET {column} = ? WHERE rowid = ?",  # noqa: S608
                    (blob, rowid),
                )


def test_a_stored_event_that_does_not_authenticate_is_a_store_error(
    sqlite: StoreUnderTest,
) -> None:
    """Was exit 1 "internal error (MapperDeserialisationError)". The message names the likely
    causes and shows nothing of the event."""
    path = sqlite.location.db_path
    assert path is not None
    before = committed(sqlite)
    student = _student_id(sqlite, "S-1")
    with tampered(path, "stored_events", "originator_id = ?", (student.hex,)) as changed:
        assert changed == 2  # the registration and the observation
        result = invoke(sqlite, *READ)
        write = invoke(sqlite, *WRITE[:5], "S-1", *WRITE[6:])
    for attempt in (result, write):
        line = failed_with(attempt, exit_codes.STORE_ERROR)
        assert line == (
            "miljo: error: store problem: a stored event cannot be read: its data does not "
            "authenticate; the key files may not belong to this store (wrong payload or "
            "master key), or the stored data is damaged"
        )
        assert "Sølvi" not in attempt.stdout + attempt.stderr
    assert committed(sqlite) == before


def test_a_data_key_that_does_not_open_is_a_store_error_naming_the_keyring(
    sqlite: StoreUnderTest,
) -> None:
    keys = sqlite.location.keys_dir
    assert keys is not None
    before = committed(sqlite)
    student = _student_id(sqlite, "S-1")
    with tampered(keys / KEYRING_FILE, "data_keys", "subject = ?", (str(student),)) as changed:
        assert changed == 2  # the student's archival and erasable keys
        result = invoke(sqlite, *READ)
    line = failed_with(result, exit_codes.STORE_ERROR)
    assert (
        f"store problem: a stored event cannot be read: a data key in the keyring "
        f"{keys / KEYRING_FILE} does not open with the master key" in line
    )
    assert "Sølvi" not in result.stdout + result.stderr
    assert committed(sqlite) == before


# ---------------------------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Attempt:
    command: str
    code: int
    line: str


def run_miljo(store: StoreUnderTest, command: Sequence[str], *, limit: int | None) -> Attempt:
    """Run the real ``miljo`` in a child process (optionally under RLIMIT_FSIZE)."""
    actor, *args = command
    env = child_env(store)
    env.update(MILJO_STORE=store.argument, MILJO_ACTOR=actor, MILJO_FAKE_NOW=FAKE_NOW)
    done = subprocess.run(
        [str(MILJO), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=None if limit is None else functools.partial(limit_file_size, limit),
    )
    if done.returncode == exit_codes.OK:
        assert done.stderr == ""
        return Attempt(args[1], done.returncode, "")
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("miljo: error: ")
    assert "Traceback" not in done.stderr
    return Attempt(args[1], done.returncode, lines[0])


def limit_file_size(limit: int) -> None:
    """In the child, before exec: files may not grow past ``limit`` bytes, and a write that
    would fails with EFBIG (SIGXFSZ ignored) as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system holding ``folder`` up to ``leave`` free bytes."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 512)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({mounted.stderr.strip()}): the limit variant runs")
    try:
        yield where
    finally:
        gc.collect()  # close what this process still holds there (the keyring connection)
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


#: Commands tried on the full disk: one that writes an existing student's stream, one with no
#: personal data, and a registration (which also creates the student's keys in the keyring).
def _disk_commands(n: int) -> list[tuple[str, ...]]:
    return [
        WRITE,
        (ADMIN_AS, "school", "add-class", SCHOOL, f"10{chr(97 + n % 26)}{n}", "--trinn", "10"),
        (
            ADMIN_AS, "student", "register", "--school", SCHOOL, f"D-{n}", "--name",
            f"Disk Testesen {n}", "--trinn", "8", "--class", "8b",
        ),
    ]  # fmt: skip


def _sweep(
    store: StoreUnderTest, levels: Sequence[int], run: Callable[[int, int], list[Attempt]]
) -> tuple[list[Attempt], int]:
    """Try the commands at each level; after each, nothing committed may be missing."""
    attempts: list[Attempt] = []
    events = 0
    for n, level in enumerate(levels):
        before = committed(store)
        tried = run(n, level)
        after = committed(store)
        # Whatever failed wrote nothing; whatever succeeded is there, whole.
        assert after.events - before.events == sum(
            {"observe": 1, "add-class": 1, "register": 2}[a.command]
            for a in tried
            if a.code == exit_codes.OK
        )
        assert kept(before, after)
        for attempt in tried:
            if attempt.code != exit_codes.OK:
                assert attempt.code == exit_codes.STORE_ERROR, attempt.line
        events = after.events
        attempts.extend(tried)
    return attempts, events


def test_full_disk_loses_nothing_committed(
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with small_disk(tmp_path / "disk", "3m") as disk:
        store = built(sqlite_store(disk))
        keys = store.location.keys_dir
        assert keys is not None
        # A fresh log and a checkpointed keyring, so every level starts alike.
        with sqlite3.connect(keys / KEYRING_FILE) as keyring:
            keyring.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def at_level(n: int, leave: int) -> list[Attempt]:
            filler = fill(disk, leave)
            try:
                return [run_miljo(store, c, limit=None) for c in _disk_commands(n)]
            finally:
                filler.unlink()

        levels = [0, 16 * 1024, 32 * 1024, 48 * 1024, 80 * 1024, 512 * 1024]
        attempts, events = _sweep(store, levels, at_level)
        _report_disk("tmpfs", levels, attempts, events, record_property, capsys)


def test_file_size_limit_loses_nothing_committed(
    sqlite: StoreUnderTest,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = sqlite
    keys = store.location.keys_dir
    assert keys is not None
    with sqlite3.connect(keys / KEYRING_FILE) as keyring:
        keyring.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def at_limit(n: int, limit: int) -> list[Attempt]:
        return [run_miljo(store, c, limit=limit) for c in _disk_commands(n)]

    levels = [4 * 1024, 36 * 1024, 64 * 1024, 1024 * 1024]
    attempts, events = _sweep(store, levels, at_limit)
    _report_disk("rlimit-fsize", levels, attempts, events, record_property, capsys)


def _report_disk(
    how: str,
    levels: Sequence[int],
    attempts: Sequence[Attempt],
    events: int,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = [a for a in attempts if a.code == exit_codes.STORE_ERROR]
    succeeded = sum(a.code == exit_codes.OK for a in attempts)
    assert refused, "the disk was never full enough to refuse a command"
    assert succeeded, "no command ever succeeded"
    assert succeeded + len(refused) == len(attempts)  # exit 0 or 7, never anything else
    report(
        f"damaged[full-disk:{how}]",
        {
            "levels_bytes": "/".join(str(level) for level in levels),
            "commands_tried": len(attempts),
            "succeeded": succeeded,
            "refused_exit_7": len(refused),
            "refused_in_the_keyring": sum("keyring" in a.line for a in refused),
            "other_exit_codes": len(attempts) - len(refused) - succeeded,
            "events_after": events,
            "committed_events_lost": 0,
        },
        record_property,
        _terminal(capsys),
    )


def test_a_keyring_that_cannot_be_written_is_a_store_error(sqlite: StoreUnderTest) -> None:
    """Was exit 1 "internal error (OperationalError)": the keyring's sqlite3 errors were
    neither wrapped nor mapped. (A full disk while the keys are written is in the sweeps.)"""
    keys = sqlite.location.keys_dir
    assert keys is not None
    before = committed(sqlite)
    holder = sqlite3.connect(keys / KEYRING_FILE, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # e.g. a backup tool holding the keyring
        result = invoke(sqlite, *REGISTER)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert committed(sqlite) == before
    line = failed_with(result, exit_codes.STORE_ERROR)
    assert line == (
        f"miljo: error: store problem: keyring {keys / KEYRING_FILE} cannot be written: "
        "database is locked"
    )
    # Nothing half-done: once the lock is gone the same registration succeeds, whole.
    assert invoke(sqlite, *REGISTER).exit_code == exit_codes.OK
    after = committed(sqlite)
    assert after.events == before.events + 2
    assert kept(before, after)


def test_no_space_at_all_is_reported_not_a_crash(tmp_path: Path) -> None:
    """Even reading needs a little space (SQLite's shared-memory index): with none left the
    message names the store and the exit code is 7."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        store = built(sqlite_store(disk))
        filler = fill(disk, 0)
        try:
            for command in (READ, WRITE):
                attempt = run_miljo(store, command, limit=None)
                assert attempt.code == exit_codes.STORE_ERROR
                assert str(store.location.db_path) in attempt.line
        finally:
            filler.unlink()
        assert verify_store(store.location).ok
