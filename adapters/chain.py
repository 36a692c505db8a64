"""The tamper-evident chain: a keyed hash (HMAC-SHA256) over every stored event, in
notification order, written in the same transaction as the events.

``link(n) = HMAC(sealing key, link(n-1) || n || originator id || version || topic || state)``
with ``link(0)`` = 32 zero bytes. The state is the stored (encrypted) payload, so an auditor
verifies with the sealing key alone, without being able to read anything. Because a link
covers its position and the previous link, flipping a byte, deleting, reordering or replaying
a row breaks the chain at the first affected position. Cutting off the newest rows is only
visible against a chain head recorded elsewhere (``audit export`` writes it).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType

from adapters.keys import SEALING_KEY, KeyFileError, read_key
from adapters.sqlitepool import use_statement_cache
from adapters.sqlitesnapshots import MiljoSQLiteSnapshotRecorder

GENESIS: Final = bytes(32)
CHAIN_TABLE: Final = "miljo_chain"  # (spelled out in the SQL below)
ENV_SEALING_KEYS_DIR: Final = "MILJO_KEYS_DIR"


def _originator(value: UUID | str) -> bytes:
    return value.bytes if isinstance(value, UUID) else UUID(str(value)).bytes


#: position, originator id, version and the topic's length (the fixed part of a link's input).
_LINK_HEAD: Final = struct.Struct(">Q16sQI")
_LENGTH: Final = struct.Struct(">I")
_BLOCK: Final = 64  # SHA-256's block size


@functools.lru_cache(maxsize=8)
def _hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 (RFC 2104) of ``key`` with its two key blocks already hashed: the inner
    and outer SHA-256 states, copied for every message. ``hmac.digest`` builds both anew per
    call (an OpenSSL HMAC context each time), which cost most of a link's time; the result
    is the same bytes (``tests/integration/test_chain.py``)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    block = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """``hmac.digest(key, message, "sha256")``, from the key's cached pad states."""
    inner, outer = _hmac_pads(key)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.digest()


def compute_link(
    key: bytes,
    previous: bytes,
    position: int,
    originator_id: UUID | str,
    version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """One link of the chain (see the module docstring; docs/audit-export.md)."""
    topic_bytes = topic.encode()
    message = b"".join(
        (
            previous,
            _LINK_HEAD.pack(position, _originator(originator_id), version, len(topic_bytes)),
            topic_bytes,
            _LENGTH.pack(len(state)),
            state,
        )
    )
    return hmac_sha256(key, message)


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """Appends a chain link per event inside the library's insert transaction."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table_name: str = "stored_events",
        *,
        sealing_key: bytes,
    ) -> None:
        super().__init__(datastore, events_table_name)
        self.sealing_key = sealing_key

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS miljo_chain "
            "(position INTEGER PRIMARY KEY, link BLOB NOT NULL)",
        ]

    #: (position, link) of the newest link this recorder committed. (Class defaults, so a
    #: subclass that initialises through another base class gets them too.)
    _head: tuple[int, bytes] | None = None
    #: The newest link of the insert transaction in progress, not yet committed. Only the
    #: thread holding SQLite's write lock (from its first INSERT to its commit) sets or
    #: reads it, so it never passes to another thread's transaction.
    _pending: tuple[int, bytes] | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert transaction. The chain's head is remembered only once the
        transaction has committed; any failure forgets it (the next insert reads it)."""
        try:
            with self.datastore.transaction(commit=True) as c:
                positions = self._insert_events(c, stored_events, **kwargs)
                written, self._pending = self._pending, None  # write lock still held
        except BaseException:
            self._head = self._pending = None
            raise
        if written is not None:
            self._head = written
        return positions

    def _previous_link(self, c: SQLiteCursor, first: int) -> bytes:
        """The link before position ``first``. Inside the insert transaction (SQLite holds
        the write lock), so if this recorder committed the link at ``first - 1`` itself, no
        other writer can have put a row between: that link is the previous one, and the
        ``SELECT`` is skipped. Positions are the events' rowids, so any other writer's
        commit since ours (another process, another connection) leaves a gap and the
        link is read from the table."""
        head = self._head
        if head is not None and head[0] == first - 1:
            return head[1]
        c.execute(
            "SELECT link FROM miljo_chain WHERE position < ? ORDER BY position DESC LIMIT 1",
            (first,),
        )
        row = c.fetchone()
        return bytes(row[0]) if row else GENESIS

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        if not positions:
            return positions
        previous = self._previous_link(c, positions[0])
        for position, stored in zip(positions, stored_events, strict=True):
            link = compute_link(
                self.sealing_key,
                previous,
                position,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
            )
            c.execute("INSERT INTO miljo_chain (position, link) VALUES (?, ?)", (position, link))
            previous = link
        self._pending = (positions[-1], previous)
        return positions


class MiljoSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory with the chained application recorder, snapshots in a
    rowid table (adapters.sqlitesnapshots) and a statement cache on its connections
    (adapters.sqlitepool)."""

    aggregate_recorder_class = MiljoSQLiteSnapshotRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        use_statement_cache(self.datastore)

    def application_recorder(self) -> ApplicationRecorder:
        keys_dir = self.env.get(ENV_SEALING_KEYS_DIR)
        if not keys_dir:
            raise KeyFileError(f"{ENV_SEALING_KEYS_DIR} is not set; the chain needs a sealing key")
        recorder = ChainedSQLiteApplicationRecorder(
            datastore=self.datastore, sealing_key=read_key(Path(keys_dir), SEALING_KEY)
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder


class SQLiteWriteWatch:
    """``domain.application.WriteWatch`` for an SQLite store: ``PRAGMA data_version``.

    SQLite changes a connection's ``data_version`` whenever *another* connection (of this
    process or any other) has committed to the database, never for the connection's own
    commits. The watch remembers the value last seen on each of the library's pooled
    connections and moves its epoch on whenever one has changed (or a connection is new),
    so the repository fast-forwards its cached aggregates after any outside write, and
    skips the per-load ``SELECT`` while this process is the only writer.
    """

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore
        self._lock = threading.Lock()
        self._seen: weakref.WeakKeyDictionary[SQLiteConnection, int] = weakref.WeakKeyDictionary()
        self._epoch = 0

    def __call__(self) -> int:
        with self.datastore.get_connection(commit=False) as connection:
            cursor = connection.cursor()
            with cursor as sqlite_cursor:
                version = int(sqlite_cursor.execute("PRAGMA data_version").fetchone()[0])
            with self._lock:
                if self._seen.get(connection) != version:
                    self._seen[connection] = version
                    self._epoch += 1
                return self._epoch


class SingleWriterWatch:
    """``domain.application.WriteWatch`` for an in-memory store: nobody else can write."""

    def __call__(self) -> int:
        return 0


@attrs.frozen
class ChainRow:
    position: int
    originator_id: str
    version: int
    topic: str
    state: bytes
    link: bytes | None  # None: the event has no chain row


@attrs.frozen
class VerifyResult:
    checked: int
    head_position: int
    head_link: bytes
    first_failure: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_failure is None


def verify_rows(
    key: bytes,
    rows: Iterable[ChainRow],
    orphan_links: Iterable[int] = (),
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Recompute the chain over ``rows`` (in position order) and report the first failure.

    ``orphan_links`` are chain positions with no stored event (a deleted event row).
    """
    orphans = sorted(orphan_links)
    previous = GENESIS
    checked = 0
    last_position = 0
    for row in rows:
        if orphans and orphans[0] < row.position:
            return VerifyResult(
                checked,
                last_position,
                previous,
                orphans[0],
                "a chain link has no stored event (deleted row)",
            )
        if row.link is None:
            return VerifyResult(
                checked,
                last_position,
                previous,
                row.position,
                "stored event has no chain link (inserted or replayed row)",
            )
        expected = compute_link(
            key, previous, row.position, row.originator_id, row.version, row.topic, row.state
        )
        if not hmac.compare_digest(expected, row.link):
            return VerifyResult(
                checked,
                last_position,
                previous,
                row.position,
                "link does not match the stored event (changed, moved or "
                "replayed data, or a row deleted before it)",
            )
        previous = expected
        last_position = row.position
        checked += 1
        if progress is not None:
            progress(checked)
    if orphans:
        return VerifyResult(
            checked,
            last_position,
            previous,
            orphans[0],
            "a chain link has no stored event (deleted row)",
        )
    return VerifyResult(checked, last_position, previous, None, None)


def sqlite_chain_rows(db: Any, page: int = 2000) -> Iterator[ChainRow]:
    """Stored events with their chain links, in position order (sqlite3 connection)."""
    last = 0
    while True:
        rows = db.execute(
            "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, c.link "
            "FROM stored_events e LEFT JOIN miljo_chain c ON c.position = e.rowid "
            "WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?",
            (last, page),
        ).fetchall()
        if not rows:
            return
        for r in rows:
            yield ChainRow(
                int(r[0]),
                str(r[1]),
                int(r[2]),
                str(r[3]),
                bytes(r[4]),
                bytes(r[5]) if r[5] is not None else None,
            )
        last = int(rows[-1][0])


def sqlite_orphan_links(db: Any) -> list[int]:
    return [
        int(r[0])
        for r in db.execute(
            "SELECT c.position FROM miljo_chain c LEFT JOIN stored_events e "
            "ON e.rowid = c.position WHERE e.rowid IS NULL ORDER BY c.position"
        )
    ]
