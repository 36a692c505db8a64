"""Reading every row of a keyring (adapters.keyring.read_keyring_rows): the one read that
``store copy`` (adapters.storeops) and the move of an older keyring file into a PostgreSQL
store's schema (adapters.postgres) share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.keyring import (
    ARCHIVAL,
    ERASABLE,
    KEYRING_FILE,
    Keyring,
    KeyringRows,
    ProtectionError,
    SQLiteKeyringStorage,
    Wrap,
    read_keyring_rows,
)

MASTER = bytes(range(32))


class FailingStorage:
    """A storage whose dump fails (a damaged file, a lost connection); remembers its close."""

    name = "failing keyring"

    def __init__(self) -> None:
        self.closed = False

    def latest(self, subject: str, purpose: str) -> tuple[int, bytes] | None:
        raise AssertionError("not used")

    def fetch(self, subject: str, purpose: str, generation: int) -> bytes | None:
        raise AssertionError("not used")

    def create(self, subject: str, purposes: Sequence[str], wrap: Wrap) -> None:
        raise AssertionError("not used")

    def erase(self, subject: str, purpose: str) -> int:
        raise AssertionError("not used")

    def changed(self) -> bool:
        raise AssertionError("not used")

    def dump(self) -> KeyringRows:
        raise ProtectionError("keyring failing keyring cannot be read")

    def load(self, rows: KeyringRows) -> None:
        raise AssertionError("not used")

    def close(self) -> None:
        self.closed = True


def test_the_rows_of_a_keyring_file_are_read_and_the_file_is_closed(tmp_path: Path) -> None:
    # given a keyring file with one student's two keys, one of them erased
    path = tmp_path / KEYRING_FILE
    Keyring.create(path)
    keyring = Keyring(path, MASTER)
    keyring.current("student-1", ARCHIVAL)
    keyring.erase("student-1", ERASABLE)
    keyring.close()
    # when every row is read
    opened: list[SQLiteKeyringStorage] = []

    def open_file() -> SQLiteKeyringStorage:
        opened.append(SQLiteKeyringStorage(path))
        return opened[-1]

    rows = read_keyring_rows(open_file)
    # then the archival key and the erasure are there, and the storage is closed again
    assert [(k.subject, k.purpose, k.generation) for k in rows.keys] == [("student-1", ARCHIVAL, 1)]
    assert [(e.subject, e.purpose, e.generation) for e in rows.erasures] == [
        ("student-1", ERASABLE, 1)
    ]
    assert len(opened) == 1
    with pytest.raises(ProtectionError, match="closed database"):
        opened[0].dump()


def test_a_failed_read_still_closes_the_storage() -> None:
    storage = FailingStorage()
    with pytest.raises(ProtectionError, match="cannot be read"):
        read_keyring_rows(lambda: storage)
    assert storage.closed


def test_a_missing_keyring_file_is_a_protection_error(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    with pytest.raises(ProtectionError, match="is missing"):
        read_keyring_rows(lambda: SQLiteKeyringStorage(path))
    assert not path.exists()
