"""The keyring (adapters.keyring, ADR 0015) on both storages, through one contract.

Every test of :class:`TestKeyringContract` runs against the SQLite keyring file and against
the keyring tables of a PostgreSQL store's schema. Other processes are real OS processes
(``python -c``), so the checks of caches and of concurrent first use cross process borders as
they do in production. The store-level tests copy a store SQLite -> PostgreSQL -> SQLite and
move the keyring file of an older PostgreSQL store into its schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import adapters.keyring as keyring_module
from adapters.bootstrap import PostgresTarget, StoreError, StoreLocation, open_store
from adapters.keyring import (
    ARCHIVAL,
    ERASABLE,
    KEYRING_FILE,
    PG_KEYRING_TABLES,
    KeyErased,
    Keyring,
    KeyringRows,
    KeyringStorage,
    PostgresKeyringStorage,
    ProtectionError,
    SQLiteKeyringStorage,
    Wrap,
    read_keyring_rows,
)
from adapters.protection import ERASED
from adapters.storeops import copy_store
from tests.conftest import admin_connection
from tests.integration.conftest import GJESDAL, build_gjesdal, new_postgres_store, new_sqlite_store
from tests.support import ADMIN, COORDINATOR, REKTOR, THERAPIST, FakeClock, SequentialIds

ROOT: Final = Path(__file__).resolve().parents[2]
MASTER: Final = bytes(range(32))
NONCE: Final = b"\x00" * 12
PLAIN: Final = b"a field"
KINDS: Final = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))

#: A second process: opens the keyring (kind, where, master key hex in argv), then serves
#: commands from stdin, one JSON answer per line. ``seal SUBJECT`` seals PLAIN under the
#: current erasable key; ``open SUBJECT GEN HEX`` opens it again ("erased" if the key is gone);
#: ``erase SUBJECT`` erases the subject's erasable key (how many generations).
CHILD: Final = """
import json, sys
from adapters.keyring import ERASABLE, Keyring, KeyErased, PostgresKeyringStorage
kind, where, master = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
if kind == "sqlite":
    from pathlib import Path
    keyring = Keyring(Path(where), master)
else:
    spec = json.loads(where)
    keyring = Keyring(PostgresKeyringStorage(spec["kwargs"], spec["schema"]), master)
nonce = bytes(12)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "seal":
        generation, key = keyring.current(args[0], ERASABLE)
        answer = {"generation": generation, "sealed": key.encrypt(nonce, b"a field", None).hex()}
    elif command == "open":
        try:
            key = keyring.get(args[0], ERASABLE, int(args[1]))
            answer = {"plain": key.decrypt(nonce, bytes.fromhex(args[2]), None).decode()}
        except KeyErased:
            answer = {"erased": True}
    elif command == "erase":
        answer = {"erased": keyring.erase(args[0])}
    else:
        break
    print(json.dumps(answer), flush=True)
"""


class Where:
    """One keyring, reachable from this process and from child processes."""

    def __init__(self, kind: str, tmp_path: Path, target: PostgresTarget | None) -> None:
        self.kind = kind
        self.path = tmp_path / KEYRING_FILE
        self.target = target
        if target is None:
            Keyring.create(self.path)
        else:
            from adapters import postgres

            postgres.create_keyring_tables(target)

    def storage(self) -> KeyringStorage:
        if self.target is None:
            return SQLiteKeyringStorage(self.path)
        return PostgresKeyringStorage(self.target.connect_kwargs(), self.target.schema)

    def keyring(self, master: bytes = MASTER) -> Keyring:
        return Keyring(self.storage(), master)

    def argv(self) -> list[str]:
        if self.target is None:
            where = str(self.path)
        else:
            kwargs = {k: str(v) for k, v in self.target.connect_kwargs().items()}
            where = json.dumps({"kwargs": kwargs, "schema": self.target.schema})
        return [sys.executable, "-c", CHILD, self.kind, where, MASTER.hex()]

    def rows(self) -> KeyringRows:
        return read_keyring_rows(self.storage)


# ---------------------------------------------------------------------------------------------
# read_keyring_rows: the one read of every row (store copy; moving an older keyring file)
# ---------------------------------------------------------------------------------------------


class RecordingStorage:
    """A storage for the read of every row only: remembers whether it was closed."""

    name = "test keyring"

    def __init__(self) -> None:
        self.closed = False

    def fetch(self, subject: str, purpose: str, generation: int) -> bytes | None:
        raise AssertionError("not used")

    def live(self, subject: str) -> list[tuple[str, int, bytes]]:
        raise AssertionError("not used")

    def create(self, subject: str, purposes: Sequence[str], wrap: Wrap) -> None:
        raise AssertionError("not used")

    def erase(self, subject: str, purpose: str) -> int:
        raise AssertionError("not used")

    def changed(self) -> bool:
        raise AssertionError("not used")

    def seen(self) -> int | None:
        raise AssertionError("not used")

    def unchanged_since(self, seen: int) -> bool:
        raise AssertionError("not used")

    def dump(self) -> KeyringRows:
        raise AssertionError("not used")

    def load(self, rows: KeyringRows) -> None:
        raise AssertionError("not used")

    def close(self) -> None:
        self.closed = True


class FailingStorage(RecordingStorage):
    """A storage whose dump fails (a damaged file, a lost connection)."""

    def dump(self) -> KeyringRows:
        raise ProtectionError("keyring test keyring cannot be read")


class ClosingStorage(RecordingStorage):
    """A real storage's dump, remembering its close (a PostgreSQL storage reconnects when
    used after close, so the close is observed, not inferred)."""

    def __init__(self, storage: KeyringStorage) -> None:
        super().__init__()
        self.storage = storage

    def dump(self) -> KeyringRows:
        return self.storage.dump()

    def close(self) -> None:
        super().close()
        self.storage.close()


def test_every_row_is_read_and_the_storage_is_closed_after(where: Where) -> None:
    # given a keyring with one student's archival key and an erased erasable key
    ring = where.keyring()
    ring.current("student-1", ARCHIVAL)
    ring.erase("student-1", ERASABLE)
    ring.close()
    opened: list[ClosingStorage] = []

    def open_storage() -> KeyringStorage:
        opened.append(ClosingStorage(where.storage()))
        return opened[-1]

    # when every row is read
    rows = read_keyring_rows(open_storage)
    # then the key and the erasure are there, and the storage opened for the read is closed
    assert [(k.subject, k.purpose, k.generation) for k in rows.keys] == [("student-1", ARCHIVAL, 1)]
    assert [(e.subject, e.purpose, e.generation) for e in rows.erasures] == [
        ("student-1", ERASABLE, 1)
    ]
    assert [storage.closed for storage in opened] == [True]


def test_a_failed_read_still_closes_the_storage() -> None:
    storage = FailingStorage()
    with pytest.raises(ProtectionError, match="cannot be read"):
        read_keyring_rows(lambda: storage)
    assert storage.closed


def test_reading_a_missing_keyring_file_is_a_protection_error(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    with pytest.raises(ProtectionError, match="is missing"):
        read_keyring_rows(lambda: SQLiteKeyringStorage(path))
    assert not path.exists()


class Child:
    """A second OS process holding the same keyring."""

    def __init__(self, where: Where) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            where.argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.ask_line() == {"ready": True}

    def ask_line(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the child process ended"
        answer: dict[str, object] = json.loads(line)
        return answer

    def ask(self, *command: str) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(command) + "\n")
        self.process.stdin.flush()
        return self.ask_line()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


@pytest.fixture(params=KINDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "postgres":
        target: PostgresTarget = request.getfixturevalue("postgres_schema")
        return Where("postgres", tmp_path, target)
    return Where("sqlite", tmp_path, None)


@pytest.fixture
def keyring(where: Where) -> Iterator[Keyring]:
    ring = where.keyring()
    yield ring
    ring.close()


def after_each_read(
    monkeypatch: pytest.MonkeyPatch, keyring: Keyring, then: Callable[[str], object]
) -> None:
    """``then(subject)`` runs right after each real read of a subject's keys returns."""
    real_live = keyring.storage.live

    def live(subject: str) -> list[tuple[str, int, bytes]]:
        found = real_live(subject)
        then(subject)
        return found

    monkeypatch.setattr(keyring.storage, "live", live)


def seal(key: AESGCM) -> bytes:
    return key.encrypt(NONCE, PLAIN, None)


SUBJECT: Final = "7c1b5a6e-0000-4000-8000-000000000001"


class TestKeyringContract:
    def test_first_use_creates_both_keys_in_one_go(self, keyring: Keyring, where: Where) -> None:
        generation, key = keyring.current(SUBJECT, ERASABLE)
        assert generation == 1
        rows = where.rows()
        assert {(k.subject, k.purpose, k.generation) for k in rows.keys} == {
            (SUBJECT, ERASABLE, 1),
            (SUBJECT, ARCHIVAL, 1),
        }
        assert rows.erasures == ()
        assert keyring.current(SUBJECT, ERASABLE)[0] == 1
        # Another instance (no shared cache) unwraps the same key.
        other = where.keyring()
        try:
            assert other.get(SUBJECT, ERASABLE, 1).decrypt(NONCE, seal(key), None) == PLAIN
            assert other.current(SUBJECT, ARCHIVAL)[0] == 1
        finally:
            other.close()
        # No plaintext key is stored: only the wrapped one (nonce, key, tag: 12 + 32 + 16).
        assert {len(k.wrapped) for k in rows.keys} == {60}

    def test_concurrent_first_use_from_several_processes_makes_one_generation(
        self, where: Where
    ) -> None:
        subjects = [f"7c1b5a6e-0000-4000-8000-{n:012d}" for n in range(20)]
        children = [Child(where) for _ in range(3)]
        try:
            # Every child asks for every subject's key, all children at once.
            for subject in subjects:
                for child in children:
                    assert child.process.stdin is not None
                    child.process.stdin.write(f"seal {subject}\n")
            for child in children:
                assert child.process.stdin is not None
                child.process.stdin.flush()
            answers = [[child.ask_line() for _ in subjects] for child in children]
        finally:
            for child in children:
                child.close()
        rows = where.rows()
        assert sorted((k.subject, k.purpose) for k in rows.keys) == sorted(
            (s, p) for s in subjects for p in (ARCHIVAL, ERASABLE)
        )
        assert {k.generation for k in rows.keys} == {1}
        keyring = where.keyring()
        try:
            for subject, *per_child in zip(subjects, *answers, strict=True):
                key = keyring.get(subject, ERASABLE, 1)
                for answer in per_child:
                    assert answer["generation"] == 1
                    sealed = bytes.fromhex(str(answer["sealed"]))
                    assert key.decrypt(NONCE, sealed, None) == PLAIN
        finally:
            keyring.close()

    def test_erasure_then_a_new_generation(self, keyring: Keyring, where: Where) -> None:
        keyring.current(SUBJECT, ERASABLE)
        archival = seal(keyring.current(SUBJECT, ARCHIVAL)[1])
        assert keyring.erase(SUBJECT) == 1
        with pytest.raises(KeyErased):
            keyring.get(SUBJECT, ERASABLE, 1)
        generation, second = keyring.current(SUBJECT, ERASABLE)
        assert generation == 2
        with pytest.raises(KeyErased):
            keyring.get(SUBJECT, ERASABLE, 1)
        assert keyring.get(SUBJECT, ERASABLE, 2).decrypt(NONCE, seal(second), None) == PLAIN
        # The archival key is untouched, and never erased.
        assert keyring.get(SUBJECT, ARCHIVAL, 1).decrypt(NONCE, archival, None) == PLAIN
        with pytest.raises(ProtectionError, match="never erased"):
            keyring.erase(SUBJECT, ARCHIVAL)
        rows = where.rows()
        assert [(e.subject, e.purpose, e.generation) for e in rows.erasures] == [
            (SUBJECT, ERASABLE, 1)
        ]
        assert keyring.erase(SUBJECT) == 1
        assert keyring.erase(SUBJECT) == 0  # nothing left to erase
        assert keyring.current(SUBJECT, ERASABLE)[0] == 3

    def test_erasure_in_another_process_takes_effect_at_the_next_lookup(
        self, keyring: Keyring, where: Where
    ) -> None:
        child = Child(where)
        try:
            sealed = child.ask("seal", SUBJECT)
            assert sealed["generation"] == 1
            token = str(sealed["sealed"])
            assert child.ask("open", SUBJECT, "1", token) == {"plain": "a field"}  # cached now
            assert keyring.erase(SUBJECT) == 1
            if where.target is None:
                # SQLite: PRAGMA data_version moved, the very next lookup sees the erasure.
                assert child.ask("open", SUBJECT, "1", token) == {"erased": True}
            else:
                # PostgreSQL: the erasure's NOTIFY reaches the child's connection
                # asynchronously just after the commit (ADR 0015): a bounded number of
                # lookups, almost always the first.
                lookups = 1
                while child.ask("open", SUBJECT, "1", token) != {"erased": True}:
                    lookups += 1
                    assert lookups <= 1000, "the erasure never reached the other process"
            assert child.ask("seal", SUBJECT)["generation"] == 2
        finally:
            child.close()

    def test_a_subjects_keys_are_read_in_one_query_and_unwrapped_once(
        self, keyring: Keyring, where: Where, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        keyring.current(SUBJECT, ERASABLE)  # makes both keys
        keyring.forget_cached()
        reads: list[str] = []
        unwraps: list[tuple[str, int]] = []
        storage = keyring.storage
        real_live, real_fetch, real_unwrap = storage.live, storage.fetch, keyring._unwrap

        def live(subject: str) -> list[tuple[str, int, bytes]]:
            reads.append("live")
            return real_live(subject)

        def fetch(subject: str, purpose: str, generation: int) -> bytes | None:
            reads.append("fetch")
            return real_fetch(subject, purpose, generation)

        def unwrap(subject: str, purpose: str, generation: int, wrapped: bytes) -> AESGCM:
            unwraps.append((purpose, generation))
            return real_unwrap(subject, purpose, generation, wrapped)

        monkeypatch.setattr(storage, "live", live)
        monkeypatch.setattr(storage, "fetch", fetch)
        monkeypatch.setattr(keyring, "_unwrap", unwrap)
        erasable = keyring.get(SUBJECT, ERASABLE, 1)
        archival = keyring.get(SUBJECT, ARCHIVAL, 1)
        assert reads == ["live"]
        # Sealing trusts an earlier read only if the storage shows that nobody else has
        # written the keyring since (never otherwise:
        # test_a_key_erased_after_the_subjects_read_never_seals_new_data). SQLite's
        # data_version shows it, so nothing is read again; PostgreSQL has no such signal and
        # reads the subject's keys again, once per purpose. Nothing is unwrapped again.
        assert keyring.current(SUBJECT, ERASABLE) == (1, erasable)
        assert keyring.current(SUBJECT, ARCHIVAL) == (1, archival)
        assert keyring.current(SUBJECT, ERASABLE) == (1, erasable)
        assert keyring.get(SUBJECT, ERASABLE, 1) is erasable
        assert reads == (["live"] if where.target is None else ["live", "live", "live"])
        assert sorted(unwraps) == [(ARCHIVAL, 1), (ERASABLE, 1)]
        # A key read with the others is the key read alone.
        monkeypatch.undo()
        stored = {(p, g): w for p, g, w in storage.live(SUBJECT)}
        assert set(stored) == {(ARCHIVAL, 1), (ERASABLE, 1)}
        other = where.keyring()
        try:
            for (purpose, generation), wrapped in stored.items():
                assert storage.fetch(SUBJECT, purpose, generation) == wrapped
                alone = other._unwrap(SUBJECT, purpose, generation, wrapped)
                batch = keyring.get(SUBJECT, purpose, generation)
                assert alone.decrypt(NONCE, seal(batch), None) == PLAIN
                assert batch.decrypt(NONCE, seal(alone), None) == PLAIN
        finally:
            other.close()

    def test_keys_made_by_another_process_after_a_read_are_found(
        self, keyring: Keyring, where: Where
    ) -> None:
        """Only the keys a read found are trusted: a key missing from it is asked for."""
        with pytest.raises(KeyErased):
            keyring.get(SUBJECT, ERASABLE, 1)  # no keys yet: the subject's read finds none
        child = Child(where)
        try:
            sealed = child.ask("seal", SUBJECT)  # the other process makes both keys
        finally:
            child.close()
        assert sealed["generation"] == 1
        key = keyring.get(SUBJECT, ERASABLE, 1)
        assert key.decrypt(NONCE, bytes.fromhex(str(sealed["sealed"])), None) == PLAIN
        assert keyring.current(SUBJECT, ERASABLE) == (1, key)
        assert keyring.current(SUBJECT, ARCHIVAL)[0] == 1
        rows = where.rows()
        assert sorted((k.purpose, k.generation) for k in rows.keys) == [
            (ARCHIVAL, 1),
            (ERASABLE, 1),
        ]

    def test_an_erasure_elsewhere_drops_the_keys_read_together(
        self, keyring: Keyring, where: Where
    ) -> None:
        _, erasable = keyring.current(SUBJECT, ERASABLE)
        token = seal(erasable)
        archival = seal(keyring.get(SUBJECT, ARCHIVAL, 1))  # both read in one query
        other = where.keyring()
        try:
            assert other.erase(SUBJECT) == 1
        finally:
            other.close()
        lookups = 0
        while True:  # SQLite: the next lookup; PostgreSQL: when the NOTIFY has arrived
            lookups += 1
            try:
                keyring.get(SUBJECT, ERASABLE, 1).decrypt(NONCE, token, None)
            except KeyErased:
                break
            assert where.target is not None, "SQLite sees another connection's erasure at once"
            assert lookups <= 1000, "the erasure never reached this keyring"
        assert keyring.current(SUBJECT, ERASABLE)[0] == 2
        assert keyring.get(SUBJECT, ARCHIVAL, 1).decrypt(NONCE, archival, None) == PLAIN

    def test_a_key_erased_after_the_subjects_read_never_seals_new_data(
        self, keyring: Keyring, where: Where
    ) -> None:
        """A facade call reads the student (its keys read together), another process
        erases the student's erasable key, then the call seals a new record: with a new
        generation, never with the erased key (whose data nobody could ever read)."""
        other = where.keyring()
        try:
            other.current(SUBJECT, ERASABLE)  # the student's keys, made elsewhere
            keyring.hold()
            try:
                keyring.get(SUBJECT, ARCHIVAL, 1)  # loading the student: the subject's read
                assert other.erase(SUBJECT) == 1
                generation, key = keyring.current(SUBJECT, ERASABLE)
            finally:
                keyring.release()
            assert generation == 2
            assert other.get(SUBJECT, ERASABLE, 2).decrypt(NONCE, seal(key), None) == PLAIN
        finally:
            other.close()

    def test_a_key_erased_by_another_process_after_the_read_never_seals_new_data(
        self, keyring: Keyring, where: Where
    ) -> None:
        """The same sequence with the erasure in another OS process, inside one facade call
        (one erasure check): sealing must see the erasure although the call's read of the
        subject found the key, so the new data gets a new generation."""
        child = Child(where)
        try:
            sealed = child.ask("seal", SUBJECT)  # the student's keys, made elsewhere
            keyring.hold()
            try:
                key = keyring.get(SUBJECT, ERASABLE, 1)  # loading the student: both keys read
                token = bytes.fromhex(str(sealed["sealed"]))
                assert key.decrypt(NONCE, token, None) == PLAIN
                assert child.ask("erase", SUBJECT) == {"erased": 1}
                generation, new = keyring.current(SUBJECT, ERASABLE)
            finally:
                keyring.release()
            assert generation == 2
            assert new is not key
            assert child.ask("open", SUBJECT, "2", seal(new).hex()) == {"plain": "a field"}
        finally:
            child.close()

    def test_an_erasure_right_after_the_subjects_read_still_makes_sealing_read_again(
        self, keyring: Keyring, where: Where, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The mark that lets sealing trust a read is taken BEFORE the read: another process
        erasing the key just after the read's query returned (before any later check) makes
        sealing read again and take a new generation. A mark taken after the read would
        already count that erasure, trust the stale read and seal with the erased key."""
        keyring.current(SUBJECT, ARCHIVAL)  # makes both keys
        keyring.forget_cached()
        child = Child(where)
        erased: list[object] = []

        def erase_once(subject: str) -> None:
            if not erased:
                erased.append(child.ask("erase", subject))

        after_each_read(monkeypatch, keyring, erase_once)
        try:
            keyring.hold()
            try:
                keyring.get(SUBJECT, ARCHIVAL, 1)  # loading the student: the subject's read
                generation, new = keyring.current(SUBJECT, ERASABLE)
            finally:
                keyring.release()
            assert erased == [{"erased": 1}]
            assert generation == 2
            assert child.ask("open", SUBJECT, "2", seal(new).hex()) == {"plain": "a field"}
        finally:
            child.close()

    def test_sealing_reads_again_after_any_write_by_another_process(
        self, keyring: Keyring, where: Where, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only "nobody else has written since" lets sealing trust the earlier read: after
        another process's commit that erases nothing (another student's first keys), the
        subject's keys are read again, and the result is the same key."""
        other = "7c1b5a6e-0000-4000-8000-000000000002"
        keyring.current(SUBJECT, ARCHIVAL)  # makes both keys
        keyring.forget_cached()
        reads: list[str] = []
        after_each_read(monkeypatch, keyring, reads.append)
        child = Child(where)
        try:
            keyring.hold()
            try:
                erasable = keyring.get(SUBJECT, ERASABLE, 1)
                assert child.ask("seal", other)["generation"] == 1  # a commit elsewhere
                assert keyring.current(SUBJECT, ERASABLE) == (1, erasable)
            finally:
                keyring.release()
        finally:
            child.close()
        assert reads == [SUBJECT, SUBJECT]

    def test_a_wrong_master_key_is_a_protection_error(self, keyring: Keyring, where: Where) -> None:
        keyring.current(SUBJECT, ERASABLE)
        wrong = where.keyring(master=bytes(32))
        try:
            with pytest.raises(ProtectionError, match="does not open with the master key"):
                wrong.current(SUBJECT, ERASABLE)
            with pytest.raises(ProtectionError, match="does not open with the master key"):
                wrong.get(SUBJECT, ARCHIVAL, 1)
        finally:
            wrong.close()

    def test_a_missing_keyring_is_a_clear_error(self, where: Where) -> None:
        if where.target is None:
            where.path.unlink()
        else:
            from psycopg import sql

            with admin_connection(where.target) as conn:
                for table in sorted(PG_KEYRING_TABLES):
                    conn.execute(
                        sql.SQL("DROP TABLE {}").format(sql.Identifier(where.target.schema, table))
                    )
        with pytest.raises(ProtectionError, match=r"keyring .* is missing") as caught:
            where.storage()
        if where.target is not None and where.target.password:
            assert where.target.password not in str(caught.value)

    def test_rows_load_into_an_empty_keyring_of_the_other_kind(
        self, keyring: Keyring, where: Where, tmp_path: Path
    ) -> None:
        keyring.current(SUBJECT, ERASABLE)
        keyring.erase(SUBJECT)
        _, key = keyring.current(SUBJECT, ERASABLE)
        rows = where.rows()
        other = SQLiteKeyringStorage(_new_file(tmp_path / "other.sqlite"))
        try:
            other.load(rows)
            assert other.dump() == rows
        finally:
            other.close()
        copy = Keyring(tmp_path / "other.sqlite", MASTER)
        try:
            assert copy.current(SUBJECT, ERASABLE)[0] == 2
            assert copy.get(SUBJECT, ERASABLE, 2).decrypt(NONCE, seal(key), None) == PLAIN
            with pytest.raises(KeyErased):
                copy.get(SUBJECT, ERASABLE, 1)
        finally:
            copy.close()


def _new_file(path: Path) -> Path:
    Keyring.create(path)
    return path


# ---------------------------------------------------------------------------------------------
# Whole stores: copy SQLite -> PostgreSQL -> SQLite; an older PostgreSQL store's keyring file
# ---------------------------------------------------------------------------------------------

TEXT: Final = "Uro ved ballbingen i storefri"


def _fill(location: StoreLocation) -> tuple[UUID, UUID]:
    """Two students with an observation each; the second student's data erased."""
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        kept, erased = (
            miljo.register_student(
                ADMIN, school=GJESDAL, student_number=number, name=name, trinn=8, class_name="8c"
            )
            for number, name in (("3001", "Åse Bjørnstad"), ("3002", "Øyvind Kråkenes"))
        )
        for student in (kept, erased):
            miljo.record_observation(
                THERAPIST, student, arena="break", categories=["conflict"], text=TEXT
            )
        miljo.erase_personal_data(REKTOR, erased, basis="request")
    return kept, erased


def _texts(location: StoreLocation, student: UUID) -> list[str]:
    with open_store(location, clock=FakeClock(), ids=SequentialIds(start=9000)) as miljo:
        return [o.text for o in miljo.student_case(COORDINATOR, student).observations]


def _rows(location: StoreLocation) -> KeyringRows:
    assert location.keys_dir is not None
    if location.postgres is None:
        storage: KeyringStorage = SQLiteKeyringStorage(location.keys_dir / KEYRING_FILE)
    else:
        storage = PostgresKeyringStorage(
            location.postgres.connect_kwargs(), location.postgres.schema
        )
    try:
        return storage.dump()
    finally:
        storage.close()


@pytest.mark.postgres
def test_copy_sqlite_to_postgres_and_back_keeps_every_key(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    source = new_sqlite_store(tmp_path / "kilde.sqlite")
    kept, erased = _fill(source)
    rows = _rows(source)
    assert rows.erasures
    assert rows.keys
    pg = StoreLocation(None, tmp_path / "pg.keys", postgres=postgres_schema)
    assert copy_store(source, pg).verify.ok
    assert not (tmp_path / "pg.keys" / KEYRING_FILE).exists()
    assert _rows(pg) == rows
    back = StoreLocation(tmp_path / "tilbake.sqlite", tmp_path / "tilbake.keys")
    assert copy_store(pg, back).verify.ok
    assert _rows(back) == rows
    for location in (source, pg, back):
        assert _texts(location, kept) == [TEXT]  # fields still open
        assert _texts(location, erased) == [ERASED]  # erased stays erased


def _make_old_postgres_store(target: PostgresTarget, keys: Path) -> tuple[StoreLocation, UUID]:
    """A PostgreSQL store as an older miljo left it: its keyring a file in the key folder."""
    from psycopg import sql

    location = new_postgres_store(target, keys)
    kept, _ = _fill(location)
    rows = _rows(location)
    file = SQLiteKeyringStorage(_new_file(keys / KEYRING_FILE))
    try:
        file.load(rows)
    finally:
        file.close()
    with admin_connection(target) as conn:
        for table in sorted(PG_KEYRING_TABLES):
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(target.schema, table)))
    return location, kept


@pytest.mark.postgres
def test_an_older_postgres_store_moves_its_keyring_file_into_the_schema_when_opened(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    keys = tmp_path / "pg.keys"
    location, kept = _make_old_postgres_store(postgres_schema, keys)
    rows_before = SQLiteKeyringStorage(keys / KEYRING_FILE)
    try:
        expected = rows_before.dump()
    finally:
        rows_before.close()
    assert _texts(location, kept) == [TEXT]  # opening moved the keyring
    assert not (keys / KEYRING_FILE).exists()
    assert not (keys / f"{KEYRING_FILE}-wal").exists()
    assert _rows(location) == expected


@pytest.mark.postgres
def test_a_stale_keyring_file_never_resurrects_an_erased_key(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    """A keyring file put back from an old backup after the move: its keys of erased
    generations stay erased."""
    keys = tmp_path / "pg.keys"
    location = new_postgres_store(postgres_schema, keys)
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = miljo.register_student(
            ADMIN,
            school=GJESDAL,
            student_number="3001",
            name="Åse Bjørnstad",
            trinn=8,
            class_name="8c",
        )
        miljo.record_observation(
            THERAPIST, student, arena="break", categories=["conflict"], text=TEXT
        )
    old = _rows(location)  # before the erasure (as in an old backup of a keyring file)
    with open_store(location, clock=FakeClock(), ids=SequentialIds(start=5000)) as miljo:
        miljo.erase_personal_data(REKTOR, student, basis="request")
    file = SQLiteKeyringStorage(_new_file(keys / KEYRING_FILE))
    try:
        file.load(old)
    finally:
        file.close()
    assert _texts(location, student) == [ERASED]
    assert not (keys / KEYRING_FILE).exists()


@pytest.mark.postgres
def test_a_postgres_store_without_its_keyring_does_not_open(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    from psycopg import sql

    location = new_postgres_store(postgres_schema, tmp_path / "pg.keys")
    with admin_connection(postgres_schema) as conn:
        conn.execute(
            sql.SQL("DROP TABLE {}").format(
                sql.Identifier(postgres_schema.schema, "miljo_data_keys")
            )
        )
    with pytest.raises(StoreError, match=r"keyring in schema \w+ is missing") as caught:
        open_store(location)
    assert postgres_schema.password is None or postgres_schema.password not in str(caught.value)


def test_the_key_cache_is_bounded_and_reopens_forgotten_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuild or a generation touches every student: the unwrapped keys kept in memory stay
    at the cache's size, and a key the cache forgot opens again from the storage."""
    monkeypatch.setattr(keyring_module, "KEY_CACHE_SIZE", 8)
    ring = Keyring(None, AESGCM.generate_key(bit_length=256))
    try:
        sealed: dict[str, tuple[int, bytes]] = {}
        for n in range(40):
            subject = f"s{n:03d}"
            generation, key = ring.current(subject, ERASABLE)
            sealed[subject] = (generation, key.encrypt(b"\0" * 12, b"felt", None))
            ring.get(subject, ERASABLE, generation)
        assert len(ring._keys) <= 8
        assert len(ring._current) <= 8
        for subject, (generation, token) in sealed.items():
            assert (
                ring.get(subject, ERASABLE, generation).decrypt(b"\0" * 12, token, None) == b"felt"
            )
            assert ring.current(subject, ERASABLE)[0] == generation
        assert len(ring._keys) <= 8
    finally:
        ring.close()


def _wait_for_erasures(ring: Keyring, count: int) -> None:
    """Until ``ring`` has noticed ``count`` erasures (what reaches its socket does so a round
    trip after the fact); never past it."""
    for _ in range(500):
        seen = ring.erasures()
        assert seen <= count
        if seen == count:
            return
        time.sleep(0.01)
    pytest.fail(f"the keyring noticed {ring.erasures()} erasures, not {count}")


@pytest.mark.postgres
def test_a_lost_listening_connection_counts_once_then_listens_again(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    """The PostgreSQL keyring learns of other processes' erasures by ``LISTEN``. When its
    connection is lost, a notification may have been missed: that counts as one erasure
    (caches are dropped), the connection is made again at once, and later erasures are
    noticed on it, so a keyring whose keys are all cached does not report every check as
    an erasure until its next storage read."""
    where = Where("postgres", tmp_path, postgres_schema)
    ring, other = where.keyring(), where.keyring()
    try:
        ring.current(SUBJECT, ERASABLE)
        assert ring.erasures() == 0
        storage = ring.storage
        assert isinstance(storage, PostgresKeyringStorage)
        pid = storage._connection().info.backend_pid  # its one connection
        with admin_connection(postgres_schema) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        _wait_for_erasures(ring, 1)  # the gap (once the server has closed the socket)
        assert ring.erasures() == 1  # listening again: no further change
        assert other.erase(SUBJECT) == 1
        _wait_for_erasures(ring, 2)  # noticed on the new connection
        with pytest.raises(KeyErased):
            ring.get(SUBJECT, ERASABLE, 1)
    finally:
        ring.close()
        other.close()
