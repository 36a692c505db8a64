"""This keyring's own erasure must never hide another process's erasure (ADR 0015, amendment).

The SQLite keyring learns of other processes' erasures by the count of erasure rows
(``changed()``). Its ``erase`` used to read that count again after its own commit, so an
erasure committed elsewhere since ``changed()`` last counted (earlier in the same facade call,
or in the moment between this erasure's ``COMMIT`` and the read) was counted as seen and never
reported: the other student's keys stayed cached, and so did the aggregates that hold their
plaintext. Both windows are made deterministic here: the other process erases before this
one's ``erase`` starts, or from inside it right after its ``COMMIT`` (a wrapper around the
keyring's SQLite connection). The PostgreSQL keyring learns of erasures by ``NOTIFY``; the gap
it can miss is a lost connection, which must count as a change whichever call reconnects.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from adapters.bootstrap import PostgresTarget, StoreLocation
from adapters.keyring import (
    ARCHIVAL,
    ERASABLE,
    KeyErased,
    Keyring,
    PostgresKeyringStorage,
    ProtectionError,
    SQLiteKeyringStorage,
)
from adapters.protection import ERASED, MiljoCipher
from domain.facade import Miljo
from tests.conftest import admin_connection
from tests.integration.conftest import (
    build_gjesdal,
    observe_break,
    register_test_student,
    two_writers,
)
from tests.integration.test_keyring import NONCE, PLAIN, SUBJECT, Child, Where, seal
from tests.support import COORDINATOR, REKTOR, FakeClock

OTHER: Final = "7c1b5a6e-0000-4000-8000-000000000002"
#: Where the other process's erasure lands, relative to this keyring's own erasure.
WINDOWS: Final = ("before the erasure", "right after its commit")


class _AfterCommit:
    """The keyring's SQLite connection, running ``then`` once right after its next
    ``COMMIT`` (so inside ``erase``, before it reads anything again)."""

    def __init__(self, db: sqlite3.Connection, then: Callable[[], None]) -> None:
        self._db = db
        self._then: Callable[[], None] | None = then

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        cursor = self._db.execute(sql, *args)
        if sql == "COMMIT" and self._then is not None:
            then, self._then = self._then, None
            then()
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _in_window(
    storage: SQLiteKeyringStorage,
    window: str,
    elsewhere: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Make ``elsewhere`` (another process's erasure) happen in ``window`` of the storage's
    next ``erase``."""
    if window == "right after its commit":
        monkeypatch.setattr(storage, "_db", _AfterCommit(storage._db, elsewhere))
        return
    real_erase = storage.erase

    def erase(subject: str, purpose: str) -> int:
        elsewhere()
        return real_erase(subject, purpose)

    monkeypatch.setattr(storage, "erase", erase)


def _dummy_wrap(purpose: str, generation: int) -> bytes:
    return bytes(60)


@pytest.mark.parametrize("window", WINDOWS)
def test_the_storage_reports_an_erasure_elsewhere_around_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: str
) -> None:
    where = Where("sqlite", tmp_path, None)
    storage = where.storage()
    assert isinstance(storage, SQLiteKeyringStorage)
    child = Child(where)
    try:
        for subject in (SUBJECT, OTHER):
            storage.create(subject, (ERASABLE, ARCHIVAL), _dummy_wrap)
        assert storage.changed() is False  # its own writes are no change
        answers: list[dict[str, object]] = []
        _in_window(storage, window, lambda: answers.append(child.ask("erase", OTHER)), monkeypatch)
        assert storage.erase(SUBJECT, ERASABLE) == 1
        monkeypatch.undo()
        assert answers == [{"erased": 1}]
        assert storage.changed() is True
        assert storage.changed() is False  # reported once
        # Its own erasure alone is no change (the caches stay).
        assert storage.erase(SUBJECT, ERASABLE) == 0
        storage.create(SUBJECT, (ERASABLE,), _dummy_wrap)
        assert storage.erase(SUBJECT, ERASABLE) == 1
        assert storage.changed() is False
        # And one elsewhere after it is still seen.
        storage.create(OTHER, (ERASABLE,), _dummy_wrap)
        assert child.ask("erase", OTHER) == {"erased": 1}
        assert storage.changed() is True
    finally:
        child.close()
        storage.close()


@pytest.mark.parametrize("window", WINDOWS)
def test_a_cached_key_erased_elsewhere_around_this_keyrings_erasure_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: str
) -> None:
    """The keyring holds OTHER's key unwrapped; another process erases it while this keyring
    erases SUBJECT's. The next lookup must find OTHER's key erased, and the keyring must
    count one erasure by someone else (the facade then empties its aggregate cache)."""
    where = Where("sqlite", tmp_path, None)
    ring = where.keyring()
    child = Child(where)
    try:
        token = seal(ring.current(OTHER, ERASABLE)[1])
        ring.current(SUBJECT, ERASABLE)
        assert ring.get(OTHER, ERASABLE, 1).decrypt(NONCE, token, None) == PLAIN  # cached
        before = ring.erasures()
        storage = ring.storage
        assert isinstance(storage, SQLiteKeyringStorage)
        answers: list[dict[str, object]] = []
        _in_window(storage, window, lambda: answers.append(child.ask("erase", OTHER)), monkeypatch)
        ring.hold()  # as in a facade call: one check, before the erasure
        try:
            ring.get(SUBJECT, ARCHIVAL, 1)
            assert ring.erase(SUBJECT) == 1
        finally:
            ring.release()
        monkeypatch.undo()
        assert answers == [{"erased": 1}]
        with pytest.raises(KeyErased):
            ring.get(OTHER, ERASABLE, 1)
        assert ring.erasures() == before + 1
        assert ring.current(OTHER, ERASABLE)[0] == 2  # new data under a new generation
    finally:
        child.close()
        ring.close()


def _keyring(miljo: Miljo) -> Keyring:
    cipher = miljo.app.mapper.cipher
    assert isinstance(cipher, MiljoCipher)
    return cipher.keyring


@pytest.mark.parametrize("window", WINDOWS)
def test_a_cached_student_erased_elsewhere_while_this_store_erases_another_reads_as_erased(
    store_location: StoreLocation, monkeypatch: pytest.MonkeyPatch, window: str
) -> None:
    """Two stores (as two processes) erase two students at the same time: each must show the
    other's student as erased, although it held that student's case in its cache."""
    clock = FakeClock()
    with two_writers(store_location, clock) as (first, second):
        build_gjesdal(first)
        kari = register_test_student(first)
        ola = register_test_student(first, "1002")
        observe_break(first, kari, "Svært personlig tekst")
        observe_break(first, ola, "Annen personlig tekst")
        case = first.student_case(COORDINATOR, kari)  # cached in first, plaintext and all
        assert [o.text for o in case.observations] == ["Svært personlig tekst"]
        erased: list[int] = []

        def erase_kari() -> None:
            erased.append(second.erase_personal_data(REKTOR, kari, basis="request"))

        storage = _keyring(first).storage
        if isinstance(storage, SQLiteKeyringStorage):
            _in_window(storage, window, erase_kari, monkeypatch)
        else:
            # PostgreSQL: no counter to absorb an erasure; the same sequence around the
            # storage's erase. first's own erasure's NOTIFY reaches first with its COMMIT,
            # so its next call drops its caches whenever second's NOTIFY arrives.
            real_erase = storage.erase

            def erase(subject: str, purpose: str) -> int:
                if window == "before the erasure":
                    erase_kari()
                count = real_erase(subject, purpose)
                if window != "before the erasure":
                    erase_kari()
                return count

            monkeypatch.setattr(storage, "erase", erase)
        assert first.erase_personal_data(REKTOR, ola, basis="request") == 1
        monkeypatch.undo()
        assert erased == [1]
        case = first.student_case(COORDINATOR, kari)
        assert [o.text for o in case.observations] == [ERASED]
        cache = first.app.repository.cache
        assert cache is not None
        held = repr([vars(entry[3]) for entry in cache.cache.values()])
        assert "Svært personlig tekst" not in held
        assert "Annen personlig tekst" not in held
        assert [o.text for o in second.student_case(COORDINATOR, ola).observations] == [ERASED]


@pytest.mark.postgres
def test_a_read_that_connects_again_counts_the_gap_as_a_change(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    """A lost PostgreSQL keyring connection may have missed a NOTIFY: the gap counts as a
    change also when a read or write, not the check, is what connects again (the check then
    finds a healthy connection with nothing waiting on it)."""
    where = Where("postgres", tmp_path, postgres_schema)
    storage = where.storage()
    other = where.keyring()
    try:
        assert isinstance(storage, PostgresKeyringStorage)
        other.current(SUBJECT, ERASABLE)
        assert storage.changed() is False
        pid = storage._connection().info.backend_pid
        with admin_connection(postgres_schema) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            for _ in range(500):
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the keyring's backend did not end")
        assert other.erase(SUBJECT) == 1  # its NOTIFY reaches no connection of ``storage``
        with pytest.raises(ProtectionError, match="cannot be read"):
            storage.live(SUBJECT)  # finds the connection lost
        assert [p for p, _, _ in storage.live(SUBJECT)] == [ARCHIVAL]  # connected again
        assert storage.changed() is True
        assert storage.changed() is False
    finally:
        storage.close()
        other.close()
