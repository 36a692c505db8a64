"""Encryption at rest: a payload cipher around every stored event and snapshot, and
per-student data keys for personal fields (envelope encryption, crypto-shredding).

* The **payload key** (``payload.key``) encrypts every stored event and snapshot with AES-GCM
  (``cryptography``). Topics, ids and versions stay readable, as the library stores them.
* Inside the payload, every field an event class lists in ``PERSONAL_FIELDS`` is **sealed**
  under a data key of the student it concerns: the *archival* key for archival records
  (vedtak, PPT recommendation, aktivitetsplan, registration) and the *erasable* key for the
  rest. Data keys are random, wrapped by the **master key** (``master.key``) and kept in a
  keyring file beside the store, never in it.
* Erasure deletes a student's erasable keys: every field sealed under them becomes
  unreadable everywhere (events, exports), and decodes as :data:`ERASED`. Archival keys are
  never deleted (archive beats erasure); archival records are restricted instead.

See docs/adr/0009-protection.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.popo import POPOAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import Environment, get_topic, resolve_topic

from adapters.keys import MASTER_KEY, PAYLOAD_KEY, KeyFileError, read_key
from domain.base import MiljoAggregate

KEYRING_FILE: Final = "keyring.sqlite"
#: What a personal field decodes to once its student's erasable key has been deleted.
ERASED: Final = "[erased]"
ARCHIVAL: Final = "a"
ERASABLE: Final = "e"
NO_SUBJECT: Final = "-"  # personal text that concerns no single student (e.g. a class item)
_SEALED: Final = "sealed:1:"
_PAYLOAD_VERSION: Final = b"\x01"
_NONCE: Final = 12

ENV_KEYS_DIR: Final = "MILJO_KEYS_DIR"
ENV_EPHEMERAL: Final = "MILJO_EPHEMERAL_KEYS"


class ProtectionError(Exception):
    """A key or the keyring is missing or does not fit the data (never shows the data)."""


class KeyErased(Exception):
    """The data key needed to open a field was deleted (erasure)."""


class Keyring:
    """Per-student data keys, wrapped by the master key, in their own SQLite file.

    Each (student, purpose) has a current generation; erasure deletes every generation of a
    student's erasable key and remembers it, so later sealing starts a new generation.
    """

    def __init__(self, path: Path | None, master_key: bytes) -> None:
        self._master = AESGCM(master_key)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, int], AESGCM] = {}
        self._name = f"keyring {path}" if path is not None else "in-memory keyring"
        if path is not None and not path.exists():
            raise ProtectionError(f"keyring {path} is missing")
        target = str(path) if path is not None else ":memory:"
        try:
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA secure_delete = ON")
            if path is not None:
                # WAL keeps each new key's commit to one durable write (FULL sync stays on:
                # a lost data key would lose the fields sealed under it).
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS data_keys (subject TEXT NOT NULL, "
                "purpose TEXT NOT NULL, generation INTEGER NOT NULL, wrapped BLOB NOT NULL, "
                "created_at TEXT NOT NULL, PRIMARY KEY (subject, purpose, generation))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS erasures (subject TEXT NOT NULL, purpose TEXT NOT "
                "NULL, generation INTEGER NOT NULL, erased_at TEXT NOT NULL, "
                "PRIMARY KEY (subject, purpose, generation))"
            )
        except sqlite3.DatabaseError as error:
            raise ProtectionError(f"{self._name} cannot be opened: {error}") from None

    @staticmethod
    def create(path: Path) -> None:
        """Create an empty keyring file (owner-only); refuse to overwrite."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)

    def close(self) -> None:
        self._db.close()

    def _aad(self, subject: str, purpose: str, generation: int) -> bytes:
        return f"miljo-data-key:{subject}:{purpose}:{generation}".encode()

    @contextlib.contextmanager
    def _sqlite(self, doing: str) -> Iterator[None]:
        """Turn the keyring file's ``sqlite3`` errors (locked by another process, disk full,
        read-only, damaged) into a :class:`ProtectionError` naming the keyring."""
        try:
            yield
        except sqlite3.Error as error:
            raise ProtectionError(f"{self._name} cannot be {doing}: {error}") from None

    def _rollback(self) -> None:
        # SQLite may already have rolled back (e.g. on a full disk): nothing left to undo then.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def current(self, subject: str, purpose: str) -> tuple[int, AESGCM]:
        """The key to seal new data with (created on first use)."""
        with self._lock:
            with self._sqlite("read"):
                row = self._db.execute(
                    "SELECT generation, wrapped FROM data_keys WHERE subject = ? AND purpose = ? "
                    "ORDER BY generation DESC LIMIT 1",
                    (subject, purpose),
                ).fetchone()
            if row is None:
                # A student's first record: make both of their keys in one transaction.
                with self._sqlite("written"):
                    self._db.execute("BEGIN IMMEDIATE")
                    try:
                        for each in (purpose, *(p for p in (ARCHIVAL, ERASABLE) if p != purpose)):
                            self._create_key(subject, each)
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._rollback()
                        raise
            return self._open(subject, purpose, None)

    def _create_key(self, subject: str, purpose: str) -> None:
        if self._db.execute(
            "SELECT 1 FROM data_keys WHERE subject = ? AND purpose = ?", (subject, purpose)
        ).fetchone():
            return
        erased = self._db.execute(
            "SELECT MAX(generation) FROM erasures WHERE subject = ? AND purpose = ?",
            (subject, purpose),
        ).fetchone()[0]
        generation = 1 if erased is None else int(erased) + 1
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        wrapped = nonce + self._master.encrypt(nonce, key, self._aad(subject, purpose, generation))
        self._db.execute(
            "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?)",
            (subject, purpose, generation, wrapped, datetime.now(UTC).isoformat()),
        )

    def get(self, subject: str, purpose: str, generation: int) -> AESGCM:
        with self._lock:
            return self._open(subject, purpose, generation)[1]

    def _open(self, subject: str, purpose: str, generation: int | None) -> tuple[int, AESGCM]:
        if generation is not None and (subject, purpose, generation) in self._cache:
            return generation, self._cache[(subject, purpose, generation)]
        with self._sqlite("read"):
            if generation is None:
                row = self._db.execute(
                    "SELECT generation, wrapped FROM data_keys WHERE subject = ? AND purpose = ? "
                    "ORDER BY generation DESC LIMIT 1",
                    (subject, purpose),
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT generation, wrapped FROM data_keys WHERE subject = ? AND purpose = ? "
                    "AND generation = ?",
                    (subject, purpose, generation),
                ).fetchone()
        if row is None:
            raise KeyErased(f"{purpose}/{generation}")
        found = int(row[0])
        wrapped: bytes = row[1]
        try:
            key = self._master.decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], self._aad(subject, purpose, found)
            )
        except InvalidTag:
            raise ProtectionError(
                f"a data key in the {self._name} does not open with the master key "
                "(a wrong master key, or a damaged keyring)"
            ) from None
        cipher = AESGCM(key)
        self._cache[(subject, purpose, found)] = cipher
        return found, cipher

    def erase(self, subject: str, purpose: str = ERASABLE) -> int:
        """Delete every generation of a student's key for ``purpose``; returns how many."""
        if purpose == ARCHIVAL:
            raise ProtectionError("archival keys are never erased (restrict the record instead)")
        with self._lock, self._sqlite("written"):
            rows = self._db.execute(
                "SELECT generation FROM data_keys WHERE subject = ? AND purpose = ?",
                (subject, purpose),
            ).fetchall()
            now = datetime.now(UTC).isoformat()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for (generation,) in rows:
                    self._db.execute(
                        "INSERT OR REPLACE INTO erasures VALUES (?, ?, ?, ?)",
                        (subject, purpose, generation, now),
                    )
                self._db.execute(
                    "DELETE FROM data_keys WHERE subject = ? AND purpose = ?", (subject, purpose)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            # Crypto-shredding must not leave the wrapped key in the write-ahead log.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for key in [k for k in self._cache if k[0] == subject and k[1] == purpose]:
                del self._cache[key]
            return len(rows)

    def forget_cached(self) -> None:
        """Drop unwrapped keys held in memory (another process may have erased some)."""
        with self._lock:
            self._cache.clear()


class MiljoCipher(Cipher):
    """AES-GCM payload cipher plus the keyring for per-student field sealing.

    Configured from the application's environment: ``MILJO_KEYS_DIR`` names the key folder
    of the store; ``MILJO_EPHEMERAL_KEYS=y`` makes random keys for an in-memory store.
    """

    def __init__(self, environment: Environment) -> None:
        keys_dir = environment.get(ENV_KEYS_DIR)
        if keys_dir:
            folder = Path(keys_dir)
            try:
                payload = read_key(folder, PAYLOAD_KEY)
                master = read_key(folder, MASTER_KEY)
            except KeyFileError as error:
                raise ProtectionError(str(error)) from None
            self.keyring = Keyring(folder / KEYRING_FILE, master)
        elif environment.get(ENV_EPHEMERAL):
            payload = AESGCM.generate_key(bit_length=256)
            self.keyring = Keyring(None, AESGCM.generate_key(bit_length=256))
        else:
            raise ProtectionError(f"{ENV_KEYS_DIR} is not set")
        self._payload = AESGCM(payload)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _PAYLOAD_VERSION + nonce + self._payload.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if ciphertext[:1] != _PAYLOAD_VERSION:
            raise ValueError("stored payload is not encrypted by miljo (wrong format)")
        nonce = ciphertext[1 : 1 + _NONCE]
        try:
            return self._payload.decrypt(nonce, ciphertext[1 + _NONCE :], None)
        except InvalidTag:
            raise ValueError(
                "stored payload does not authenticate: wrong payload key or tampered data"
            ) from None

    # -- field sealing -------------------------------------------------------------------------

    def seal(self, subject: str, purpose: str, data: bytes, aad: bytes) -> str:
        generation, key = self.keyring.current(subject, purpose)
        nonce = os.urandom(_NONCE)
        body = base64.urlsafe_b64encode(nonce + key.encrypt(nonce, data, aad)).decode()
        return f"{_SEALED}{purpose}:{subject}:{generation}:{body}"

    def unseal(self, token: str, aad: bytes) -> bytes:
        """Open a sealed field; raises :class:`KeyErased` if its key was deleted."""
        try:
            purpose, subject, generation, body = token[len(_SEALED) :].split(":", 3)
            raw = base64.urlsafe_b64decode(body)
            key = self.keyring.get(subject, purpose, int(generation))
        except (ValueError, TypeError):
            raise ValueError("a sealed field is malformed") from None
        try:
            return key.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except InvalidTag:
            raise ValueError("a sealed field does not authenticate (tampered data)") from None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_SEALED)


def _field_aad(originator_id: object, version: int, field: str) -> bytes:
    return f"{originator_id}:{version}:{field}".encode()


class MiljoMapper(Mapper[UUID]):
    """The library's mapper, plus sealing of each event class's personal fields under the
    student's data key before the payload is encrypted (and opening them on the way back)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cipher = self.cipher
        if not isinstance(cipher, MiljoCipher) or not isinstance(
            domain_event, MiljoAggregate.Event
        ):
            return super().to_stored_event(domain_event)
        personal = type(domain_event).PERSONAL_FIELDS
        if not personal:
            return super().to_stored_event(domain_event)
        state: dict[str, Any] = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        subject_id = domain_event.subject_id()
        subject = str(subject_id) if subject_id is not None else NO_SUBJECT
        purpose = ARCHIVAL if type(domain_event).ARCHIVAL else ERASABLE
        for name in personal:
            value = state.get(name)
            if value is None:
                continue
            state[name] = cipher.seal(
                subject,
                purpose,
                self.transcoder.encode(value),
                _field_aad(originator_id, originator_version, name),
            )
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=cipher.encrypt(data),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cipher = self.cipher
        if not isinstance(cipher, MiljoCipher):
            return super().to_domain_event(stored_event)
        cls = resolve_topic(stored_event.topic)
        try:
            data = cipher.decrypt(stored_event.state)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
            for name in getattr(cls, "PERSONAL_FIELDS", ()):
                value = state.get(name)
                if not isinstance(value, str) or not is_sealed(value):
                    continue
                aad = _field_aad(stored_event.originator_id, stored_event.originator_version, name)
                try:
                    state[name] = self.transcoder.decode(cipher.unseal(value, aad))
                except KeyErased:
                    state[name] = ERASED
        except Exception as error:
            msg = (
                f"Failed to deserialise stored event {stored_event.topic} "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {error}"
            )
            raise MapperDeserialisationError(msg) from None
        convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        event_out: DomainEventProtocol[UUID] = event
        return event_out


class StoreProtection:
    """``domain.ports.Protection`` over an application whose cipher is a MiljoCipher."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app

    def _keyring(self) -> Keyring:
        cipher = self.app.mapper.cipher
        if not isinstance(cipher, MiljoCipher):
            raise ProtectionError("this store has no keyring (it is not encrypted)")
        return cipher.keyring

    def erase_subject(self, student_id: UUID) -> int:
        return self._keyring().erase(str(student_id), ERASABLE)

    def purge_snapshots(self, stream_ids: Sequence[UUID]) -> int:
        """Delete stored snapshots of the streams, and drop them from this process's
        aggregate cache (both may hold plaintext of erased fields)."""
        cache = self.app.repository.cache
        if cache is not None:
            for stream_id in stream_ids:
                with contextlib.suppress(KeyError):
                    cache.get(stream_id, evict=True)
        store = self.app.snapshots
        if store is None:
            return 0
        recorder = store.recorder
        if isinstance(recorder, SQLiteAggregateRecorder):
            deleted = 0
            with recorder.datastore.transaction(commit=True) as cursor:
                for stream_id in stream_ids:
                    cursor.execute(
                        f"DELETE FROM {recorder.events_table_name} WHERE originator_id = ?",  # noqa: S608 - library table name
                        (stream_id.hex,),
                    )
                    deleted += max(cursor.sqlite_cursor.rowcount, 0)
            return deleted
        if isinstance(recorder, POPOAggregateRecorder):
            return _purge_popo(recorder, {str(i) for i in stream_ids})
        raise ProtectionError(f"cannot purge snapshots from {type(recorder).__name__}")


def _purge_popo(recorder: POPOAggregateRecorder, ids: set[str]) -> int:
    return _rewrite_popo(recorder, lambda e: str(e.originator_id) not in ids)


def _rewrite_popo(recorder: POPOAggregateRecorder, keep: Callable[[StoredEvent], bool]) -> int:
    """The in-memory recorder keeps a list and an index and has no delete: rebuild both."""
    with recorder._database_lock:
        kept = [e for e in recorder._stored_events if keep(e)]
        deleted = len(recorder._stored_events) - len(kept)
        recorder._stored_events = kept
        recorder._stored_events_index.clear()
        for position, event in enumerate(kept):
            recorder._stored_events_index[str(event.originator_id)][event.originator_version] = (
                position
            )
    return deleted


class SnapshotPruner:
    """Deletes a stream's older snapshots, keeping the newest and those at multiples of
    ``step`` (set as ``MiljoApplication.snapshot_pruner`` by the composition root)."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app

    def __call__(self, stream_id: UUID, newest: int, step: int) -> int:
        store = self.app.snapshots
        if store is None:
            return 0
        recorder = store.recorder
        if isinstance(recorder, SQLiteAggregateRecorder):
            with recorder.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"DELETE FROM {recorder.events_table_name} WHERE originator_id = ? "  # noqa: S608 - library table name
                    "AND originator_version < ? AND originator_version % ? != 0",
                    (stream_id.hex, newest, step),
                )
                return max(cursor.sqlite_cursor.rowcount, 0)
        if isinstance(recorder, POPOAggregateRecorder):
            return _prune_popo(recorder, str(stream_id), newest, step)
        delete = getattr(recorder, "delete_old_snapshots", None)
        if callable(delete):  # another backend that knows how (e.g. PostgreSQL)
            deleted: int = delete(stream_id, newest, step)
            return deleted
        return 0


def _prune_popo(recorder: POPOAggregateRecorder, stream: str, newest: int, step: int) -> int:
    return _rewrite_popo(
        recorder,
        lambda e: (
            str(e.originator_id) != stream
            or e.originator_version >= newest
            or e.originator_version % step == 0
        ),
    )
