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
* A **snapshot** is bound to its row (docs/adr/0022-snapshots-bound-to-their-row.md): its
  payload (format 2) is encrypted with (originator id, version, topic) as AES-GCM associated
  data, and carries an HMAC under the **sealing key** over the same binding and the
  ciphertext. A snapshot moved, copied or swapped to another stream, version or topic does
  not authenticate when loaded (:class:`~domain.application.UntrustedSnapshot`: the
  repository ignores it and replays the events) and fails ``audit verify``
  (:func:`check_snapshot`, sealing key only). Snapshots written before (format 1, unbound)
  are never loaded. Events keep format 1: the hash chain covers them.

See docs/adr/0009-protection-at-rest.md.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
import struct
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Final, cast
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol, Snapshot
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

from adapters.chain import hmac_sha256

# The keyring lives in adapters.keyring (ADR 0015); its names stay importable from here.
from adapters.keyring import ARCHIVAL as ARCHIVAL
from adapters.keyring import ERASABLE as ERASABLE
from adapters.keyring import KEYRING_FILE as KEYRING_FILE
from adapters.keyring import KeyErased as KeyErased
from adapters.keyring import Keyring as Keyring
from adapters.keyring import ProtectionError as ProtectionError
from adapters.keyring import open_keyring
from adapters.keys import MASTER_KEY, PAYLOAD_KEY, SEALING_KEY, KeyFileError, read_key
from domain.application import UntrustedSnapshot
from domain.base import MiljoAggregate

#: What a personal field decodes to once its student's erasable key has been deleted.
ERASED: Final = "[erased]"
NO_SUBJECT: Final = "-"  # personal text that concerns no single student (e.g. a class item)
_SEALED: Final = "sealed:1:"
_PAYLOAD_VERSION: Final = b"\x01"
#: A snapshot payload bound to its row: format byte, HMAC (sealing key), nonce, ciphertext.
_BOUND_VERSION: Final = b"\x02"
_NONCE: Final = 12
_MAC: Final = 32
_BINDING_LABEL: Final = b"miljo-snapshot\x00"
_VERSION: Final = struct.Struct(">Q")
_TOPIC_LENGTH: Final = struct.Struct(">I")

_log = logging.getLogger(__name__)

ENV_KEYS_DIR: Final = "MILJO_KEYS_DIR"
ENV_EPHEMERAL: Final = "MILJO_EPHEMERAL_KEYS"


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
                sealing = read_key(folder, SEALING_KEY)
            except KeyFileError as error:
                raise ProtectionError(str(error)) from None
            self.keyring = open_keyring(environment, folder, master)
        elif environment.get(ENV_EPHEMERAL):
            payload = AESGCM.generate_key(bit_length=256)
            sealing = os.urandom(32)
            self.keyring = Keyring(None, AESGCM.generate_key(bit_length=256))
        else:
            raise ProtectionError(f"{ENV_KEYS_DIR} is not set")
        self._payload = AESGCM(payload)
        self._sealing = sealing

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _PAYLOAD_VERSION + nonce + self._payload.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if ciphertext[:1] == _BOUND_VERSION:
            raise ValueError("stored payload is a snapshot bound to its row (format 2)")
        if ciphertext[:1] != _PAYLOAD_VERSION:
            raise ValueError("stored payload is not encrypted by miljo (wrong format)")
        nonce = ciphertext[1 : 1 + _NONCE]
        try:
            return self._payload.decrypt(nonce, ciphertext[1 + _NONCE :], None)
        except InvalidTag:
            raise ValueError(
                "stored payload does not authenticate: wrong payload key or tampered data"
            ) from None

    # -- snapshots bound to their row ---------------------------------------------------------

    def encrypt_snapshot(
        self, plaintext: bytes, originator_id: UUID | str, version: int, topic: str
    ) -> bytes:
        """A snapshot payload in format 2, bound to (originator id, version, topic)."""
        binding = snapshot_binding(originator_id, version, topic)
        nonce = os.urandom(_NONCE)
        body = nonce + self._payload.encrypt(nonce, plaintext, binding)
        return _BOUND_VERSION + hmac_sha256(self._sealing, binding + body) + body

    def decrypt_snapshot(
        self, ciphertext: bytes, originator_id: UUID | str, version: int, topic: str
    ) -> bytes:
        """Open a snapshot payload read from the row (``originator_id``, ``version``,
        ``topic``); raises :class:`UntrustedSnapshot` if it is unbound (written before
        format 2) or was encrypted for another row or tampered with."""
        if ciphertext[:1] == _PAYLOAD_VERSION:
            raise UntrustedSnapshot(
                f"snapshot of {_hex(originator_id)} v{version} is unbound (format 1)",
                unbound=True,
            )
        if ciphertext[:1] != _BOUND_VERSION or len(ciphertext) < 1 + _MAC + _NONCE:
            raise UntrustedSnapshot(f"snapshot of {_hex(originator_id)} v{version}: wrong format")
        body = ciphertext[1 + _MAC :]
        try:
            return self._payload.decrypt(
                body[:_NONCE], body[_NONCE:], snapshot_binding(originator_id, version, topic)
            )
        except InvalidTag:
            raise UntrustedSnapshot(
                f"snapshot of {_hex(originator_id)} v{version} does not authenticate for its "
                "row (moved, copied or changed outside miljo, or a wrong payload key)"
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


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _hex(value: UUID | str) -> str:
    try:
        return _uuid(value).hex
    except ValueError:
        return "an invalid id"


def snapshot_binding(originator_id: UUID | str, version: int, topic: str) -> bytes:
    """What a snapshot payload is bound to: its row's originator id, version and topic
    (the AES-GCM associated data, and the HMAC's input before the ciphertext). The topic is
    length-prefixed, so the HMAC's input (binding, then nonce and ciphertext) has one reading
    only: bytes cannot move between the topic and the payload."""
    encoded = topic.encode()
    return (
        _BINDING_LABEL
        + _uuid(originator_id).bytes
        + _VERSION.pack(version)
        + _TOPIC_LENGTH.pack(len(encoded))
        + encoded
    )


#: What :func:`check_snapshot` found: bound and intact, unbound (format 1), or wrong.
SNAPSHOT_BOUND: Final = "bound"
SNAPSHOT_UNBOUND: Final = "unbound"


def check_snapshot(
    sealing_key: bytes, originator_id: UUID | str, version: int, topic: str, state: bytes
) -> str:
    """Check a stored snapshot row with the sealing key alone (``audit verify``): returns
    :data:`SNAPSHOT_BOUND` or :data:`SNAPSHOT_UNBOUND`, or what is wrong (no data from the
    payload: it stays encrypted)."""
    if state[:1] == _PAYLOAD_VERSION:
        return SNAPSHOT_UNBOUND
    if state[:1] != _BOUND_VERSION or len(state) < 1 + _MAC + _NONCE:
        return "not a miljo snapshot payload (wrong format)"
    try:
        binding = snapshot_binding(originator_id, version, topic)
    except ValueError:
        return "the row's originator id is not a UUID"
    expected = hmac_sha256(sealing_key, binding + state[1 + _MAC :])
    if not hmac.compare_digest(expected, state[1 : 1 + _MAC]):
        return (
            "does not match its row (moved, copied or swapped to another stream, version "
            "or topic, or changed outside miljo)"
        )
    return SNAPSHOT_BOUND


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_SEALED)


def _field_aad(originator_id: object, version: int, field: str) -> bytes:
    return f"{originator_id}:{version}:{field}".encode()


class MiljoMapper(Mapper[UUID]):
    """The library's mapper, plus sealing of each event class's personal fields under the
    student's data key before the payload is encrypted (and opening them on the way back)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cipher = self.cipher
        if isinstance(cipher, MiljoCipher) and isinstance(domain_event, Snapshot):
            return self._to_stored_snapshot(cipher, domain_event)
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

    def _to_stored_snapshot(self, cipher: MiljoCipher, snapshot: Snapshot) -> StoredEvent:
        """The library's stored snapshot, its payload bound to its row (format 2)."""
        state: dict[str, Any] = dict(vars(snapshot))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(snapshot), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        topic = get_topic(type(snapshot))
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=cipher.encrypt_snapshot(data, originator_id, originator_version, topic),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cipher = self.cipher
        if not isinstance(cipher, MiljoCipher):
            return super().to_domain_event(stored_event)
        cls = resolve_topic(stored_event.topic)
        data: bytes | None
        if isinstance(cls, type) and issubclass(cls, Snapshot):
            try:
                data = cipher.decrypt_snapshot(
                    stored_event.state,
                    stored_event.originator_id,
                    stored_event.originator_version,
                    stored_event.topic,
                )
            except UntrustedSnapshot as refused:
                if not refused.unbound:  # tampering: say so (ids and versions only)
                    _log.warning("%s; ignored, the stream is replayed from its events", refused)
                raise
        else:
            data = None
        try:
            if data is None:
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
