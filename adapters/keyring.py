"""The keyring: per-student data keys, wrapped by the master key, in one of two storages.

* :class:`Keyring` holds the semantics (ADR 0009, ADR 0015): each (subject, purpose) has one
  current generation; a student's archival and erasable keys are created together, in one
  transaction, on first use; erasure deletes every generation of the erasable key and records
  it, so later sealing starts a new generation. Data keys are random AES-256 keys, wrapped
  (AES-GCM) by the master key, which stays a file in the key folder: the storage alone never
  opens a field.
* :class:`SQLiteKeyringStorage` keeps them in ``keyring.sqlite`` in the key folder (SQLite
  stores, and the in-memory keyring of an in-memory store).
* :class:`PostgresKeyringStorage` keeps them in the store's schema (``miljo_data_keys``,
  ``miljo_key_erasures``), for PostgreSQL stores.

Unwrapped keys are cached in memory; a subject's first lookup reads all of its stored keys in
one query, and each is unwrapped once, when first needed. Each storage tells the keyring when
another process may have erased a key (SQLite: ``PRAGMA data_version`` and the erasure count;
PostgreSQL: a ``NOTIFY`` on :data:`PG_CHANNEL` sent with every erasure), and the keyring then
drops its cache before it hands out a key. Inside a facade call (:meth:`Keyring.hold`) only
the call's first lookup asks the storage (docs/adr/0013-command-path-cache.md, addendum).
Errors are :class:`ProtectionError` (never with personal data; subjects are random ids) or
:class:`KeyErased`.
"""

from __future__ import annotations

import contextlib
import os
import select
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    import psycopg

KEYRING_FILE: Final = "keyring.sqlite"
ARCHIVAL: Final = "a"
ERASABLE: Final = "e"
#: PostgreSQL tables of the keyring, in the store's schema (``miljo_`` like every store table).
PG_KEYS_TABLE: Final = "miljo_data_keys"
PG_ERASURES_TABLE: Final = "miljo_key_erasures"
PG_KEYRING_TABLES: Final = frozenset({PG_KEYS_TABLE, PG_ERASURES_TABLE})
#: Channel of the erasure notifications (per database; the payload is the store's schema).
PG_CHANNEL: Final = "miljo_keyring"
_NONCE: Final = 12
K = TypeVar("K")
V = TypeVar("V")
_CONNECT_TIMEOUT: Final = 10


class ProtectionError(Exception):
    """A key or the keyring is missing or does not fit the data (never shows the data)."""


class KeyErased(Exception):
    """The data key needed to open a field was deleted (erasure)."""


@attrs.frozen
class KeyRow:
    subject: str
    purpose: str
    generation: int
    wrapped: bytes
    created_at: str


@attrs.frozen
class ErasureRow:
    subject: str
    purpose: str
    generation: int
    erased_at: str


@attrs.frozen
class KeyringRows:
    """Every row of a keyring, as stored (the data keys still wrapped): for ``store copy``."""

    keys: tuple[KeyRow, ...]
    erasures: tuple[ErasureRow, ...]


#: ``wrap(purpose, generation)``: a new data key wrapped for that slot.
Wrap = Callable[[str, int], bytes]


class KeyringStorage(Protocol):
    """Where wrapped data keys live. Callers hold the keyring's lock."""

    name: str

    def fetch(self, subject: str, purpose: str, generation: int) -> bytes | None:
        """The wrapped key of one generation, or None if it was erased (or never made)."""
        ...

    def live(self, subject: str) -> list[tuple[str, int, bytes]]:
        """Every stored key of ``subject`` in one read: (purpose, generation, wrapped)."""
        ...

    def create(self, subject: str, purposes: Sequence[str], wrap: Wrap) -> None:
        """In one transaction, make a key for every purpose that has none: generation one
        past the last erased one. Concurrent callers must not make two generations."""
        ...

    def erase(self, subject: str, purpose: str) -> int:
        """Delete every generation for ``purpose`` and record the erasure; how many."""
        ...

    def changed(self) -> bool:
        """True if another process may have erased a key since the last call."""
        ...

    def seen(self) -> int | None:
        """A counter of other connections' commits to the keyring as this storage last read
        it (no query), so its value at some moment in the past. None: the storage has no
        such counter, and every seal reads the subject's keys again."""
        ...

    def unchanged_since(self, seen: int) -> bool:
        """Whether no other connection (of this or any process) has committed to the keyring
        since the moment :meth:`seen` returned ``seen`` (one cheap query; False if unsure)."""
        ...

    def dump(self) -> KeyringRows: ...

    def load(self, rows: KeyringRows) -> None:
        """Write ``rows`` into this (empty) keyring in one transaction."""
        ...

    def close(self) -> None: ...


#: Keys kept in memory per keyring (each of its caches: unwrapped keys, current keys, and the
#: subjects whose stored keys were read). An ``AESGCM`` object
#: holds an OpenSSL context (about 2.5 kB): unbounded, a rebuild or generation of a
#: municipality's store (20,000 students, two keys each) would keep every key it ever
#: opened. 4,096 covers the students of the largest school twice over.
KEY_CACHE_SIZE: Final = 4096


class _LRU(OrderedDict[K, V]):
    """A dict that forgets its least recently used entries beyond ``maxsize``."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def hit(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class Keyring:
    """Per-student data keys, wrapped by the master key, with an in-memory cache.

    ``Keyring(path, master_key)`` keeps them in an SQLite file (None: in memory);
    ``Keyring(storage, master_key)`` in any :class:`KeyringStorage`.
    """

    def __init__(self, storage: KeyringStorage | Path | None, master_key: bytes) -> None:
        self._master = AESGCM(master_key)
        self._lock = threading.Lock()
        self._keys: _LRU[tuple[str, str, int], AESGCM] = _LRU(KEY_CACHE_SIZE)
        self._current: _LRU[tuple[str, str], tuple[int, AESGCM]] = _LRU(KEY_CACHE_SIZE)
        #: Per subject, its stored keys as one read found them, still wrapped:
        #: {(purpose, generation): wrapped}. A subject's first lookup reads all of its keys
        #: at once (a student's history names both purposes); each is unwrapped when first
        #: asked for. Only what was found is trusted: a key missing here is fetched alone.
        #: With each read, the storage's :meth:`~KeyringStorage.seen` counter from before it.
        self._wrapped: _LRU[str, tuple[int | None, dict[tuple[str, int], bytes]]] = _LRU(
            KEY_CACHE_SIZE
        )
        if storage is None or isinstance(storage, Path):
            storage = SQLiteKeyringStorage(storage)
        self.storage: KeyringStorage = storage
        self._name = storage.name
        #: The thread in a facade call (:meth:`hold`), and whether the storage was checked
        #: in it: that thread's later lookups in the same call skip the check.
        self._holder: int | None = None
        self._checked = False
        #: How many times the storage has reported another process's erasure.
        self._foreign_erasures = 0

    @staticmethod
    def create(path: Path) -> None:
        """Create an empty keyring file (owner-only); refuse to overwrite."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)

    def close(self) -> None:
        with self._lock:
            self._forget()
            self.storage.close()

    def _aad(self, subject: str, purpose: str, generation: int) -> bytes:
        return f"miljo-data-key:{subject}:{purpose}:{generation}".encode()

    def _wrap(self, subject: str) -> Wrap:
        def wrap(purpose: str, generation: int) -> bytes:
            key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(_NONCE)
            aad = self._aad(subject, purpose, generation)
            return nonce + self._master.encrypt(nonce, key, aad)

        return wrap

    def _unwrap(self, subject: str, purpose: str, generation: int, wrapped: bytes) -> AESGCM:
        try:
            key = self._master.decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], self._aad(subject, purpose, generation)
            )
        except InvalidTag:
            raise ProtectionError(
                f"a data key in the {self._name} does not open with the master key "
                "(a wrong master key, or a damaged keyring)"
            ) from None
        cipher = AESGCM(key)
        self._keys.keep((subject, purpose, generation), cipher)
        return cipher

    def _forget(self) -> None:
        self._keys.clear()
        self._current.clear()
        self._wrapped.clear()

    def _stored(self, subject: str) -> dict[tuple[str, int], bytes]:
        """The subject's stored keys, wrapped: read once (one query for every purpose and
        generation), then kept until the cache is dropped or the subject's key is erased."""
        read = self._wrapped.hit(subject)
        if read is None:
            # The counter as seen before the query: a commit between the two only makes
            # :meth:`_stored_now` read again, never trust a read that missed it.
            seen = self.storage.seen()
            read = (seen, {(p, g): w for p, g, w in self.storage.live(subject)})
            self._wrapped.keep(subject, read)
        return read[1]

    def _stored_now(self, subject: str) -> dict[tuple[str, int], bytes]:
        """The subject's stored keys as they are now (for sealing): the earlier read if the
        storage shows that no other connection has committed to the keyring since the moment
        before that read (so nothing was erased or made since), else a new read."""
        read = self._wrapped.hit(subject)
        if read is not None and (read[0] is None or not self.storage.unchanged_since(read[0])):
            self._wrapped.pop(subject, None)
        return self._stored(subject)

    def _opened(self, subject: str, purpose: str, generation: int, wrapped: bytes) -> AESGCM:
        """The unwrapped key, unwrapped once however it was found."""
        cached = self._keys.hit((subject, purpose, generation))
        if cached is not None:
            return cached
        return self._unwrap(subject, purpose, generation, wrapped)

    def _refresh(self) -> None:
        """Drop the cache if another process may have erased a key meanwhile. Inside a
        facade call (:meth:`hold`) the storage is checked at the call's first lookup only."""
        held = self._holder is not None and self._holder == threading.get_ident()
        if held and self._checked:
            return
        if self.storage.changed():
            self._forget()
            self._foreign_erasures += 1
        if held:
            self._checked = True

    def erasures(self) -> int:
        """How many erasures by another process this keyring has noticed (checked as a key
        lookup is: once per facade call). When the number moves, state held in memory, such
        as cached aggregates, may still hold plaintext that is erased now."""
        with self._lock:
            self._refresh()
            return self._foreign_erasures

    # -- one check per facade call (domain.application.ScopeHook) ------------------------------

    def hold(self) -> None:
        """A facade call starts in this thread: its first key lookup checks whether another
        process erased a key; its later lookups trust that check (ADR 0013, addendum).
        Lookups in other threads check every time."""
        with self._lock:
            self._holder = threading.get_ident()
            self._checked = False

    def recheck(self) -> None:
        """Check again at the next lookup (the call is retried after a write conflict)."""
        with self._lock:
            self._checked = False

    def release(self) -> None:
        """The facade call is over: every lookup checks again."""
        with self._lock:
            self._holder = None
            self._checked = False

    def current(self, subject: str, purpose: str) -> tuple[int, AESGCM]:
        """The key to seal new data with (created on first use)."""
        with self._lock:
            self._refresh()
            cached = self._current.hit((subject, purpose))
            if cached is not None:
                return cached
            # New data is sealed with the newest key as stored now, not as an earlier read of
            # the subject's keys found it: a key another process erased since (inside this
            # facade call, which checks for erasures only once) would seal data that nobody
            # could ever read. At most one read per subject and purpose, as the key is then
            # kept; none while the storage shows that nobody else has written since the last.
            row = _newest(self._stored_now(subject), purpose)
            if row is None:
                # A student's first record: make both of their keys in one transaction.
                others = tuple(p for p in (ARCHIVAL, ERASABLE) if p != purpose)
                self.storage.create(subject, (purpose, *others), self._wrap(subject))
                self._wrapped.pop(subject, None)  # read again: ours, or a concurrent writer's
                row = _newest(self._stored(subject), purpose)
                if row is None:
                    raise ProtectionError(f"{self._name}: a new data key was not stored")
            generation, wrapped = row
            found = (generation, self._opened(subject, purpose, generation, wrapped))
            self._current.keep((subject, purpose), found)
            return found

    def get(self, subject: str, purpose: str, generation: int) -> AESGCM:
        """The key of one generation; raises :class:`KeyErased` if it was deleted."""
        with self._lock:
            self._refresh()
            cached = self._keys.hit((subject, purpose, generation))
            if cached is not None:
                return cached
            wrapped = self._stored(subject).get((purpose, generation))
            if wrapped is None:
                # Not among the keys read before (erased, or made since by another process
                # after an erasure): ask the storage for this one.
                wrapped = self.storage.fetch(subject, purpose, generation)
            if wrapped is None:
                raise KeyErased(f"{purpose}/{generation}")
            return self._unwrap(subject, purpose, generation, wrapped)

    def erase(self, subject: str, purpose: str = ERASABLE) -> int:
        """Delete every generation of a student's key for ``purpose``; returns how many."""
        if purpose == ARCHIVAL:
            raise ProtectionError("archival keys are never erased (restrict the record instead)")
        with self._lock:
            try:
                return self.storage.erase(subject, purpose)
            finally:
                self._current.pop((subject, purpose), None)
                self._wrapped.pop(subject, None)
                for key in [k for k in self._keys if k[0] == subject and k[1] == purpose]:
                    del self._keys[key]

    def forget_cached(self) -> None:
        """Drop unwrapped keys held in memory."""
        with self._lock:
            self._forget()


def _newest(stored: Mapping[tuple[str, int], bytes], purpose: str) -> tuple[int, bytes] | None:
    """The newest generation of ``purpose`` among a subject's stored keys, with its key."""
    generations = [g for p, g in stored if p == purpose]
    if not generations:
        return None
    generation = max(generations)
    return generation, stored[(purpose, generation)]


def _now() -> str:
    return datetime.now(UTC).isoformat()


# ---------------------------------------------------------------------------------------------
# SQLite: a file in the key folder
# ---------------------------------------------------------------------------------------------


class SQLiteKeyringStorage:
    """The keyring file (``keyring.sqlite``, WAL, ``secure_delete``), or an in-memory one."""

    def __init__(self, path: Path | None) -> None:
        self.name = f"keyring {path}" if path is not None else "in-memory keyring"
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
            self._version = self._data_version()
            #: The newest ``data_version`` read by any method (:meth:`seen`); ``_version`` is
            #: the one :meth:`changed` compared last.
            self._seen = self._version
            self._erasures = self._erasure_count()
            #: Set by :meth:`erase` when it found erasures that :meth:`changed` had not
            #: counted yet (another process's): the next :meth:`changed` reports them.
            self._missed = False
        except sqlite3.DatabaseError as error:
            raise ProtectionError(f"{self.name} cannot be opened: {error}") from None

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _sqlite(self, doing: str) -> Iterator[None]:
        """Turn the keyring file's ``sqlite3`` errors (locked by another process, disk full,
        read-only, damaged) into a :class:`ProtectionError` naming the keyring."""
        try:
            yield
        except sqlite3.Error as error:
            raise ProtectionError(f"{self.name} cannot be {doing}: {error}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._sqlite("written"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (e.g. on a full disk).
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _erasure_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM erasures").fetchone()[0])

    def changed(self) -> bool:
        # data_version moves when another connection commits to the file (a cheap check that
        # reads no table); only an erasure (a new erasures row) makes cached keys stale.
        version = self._version_now()
        missed, self._missed = self._missed, False
        if version == self._version:
            return missed
        with self._sqlite("read"):
            self._version = version
            erasures = self._erasure_count()
        if erasures == self._erasures:
            return missed
        self._erasures = erasures
        return True

    def seen(self) -> int:
        # PRAGMA data_version changes whenever another connection (of this process or any
        # other; WAL or not) has committed to the file, never for this connection's own
        # commits, which the keyring accounts for itself (it reads a subject again after
        # creating or erasing its keys). It only grows, so an equal value later means that
        # nobody else has committed in between.
        return self._seen

    def unchanged_since(self, seen: int) -> bool:
        return self._version_now() == seen

    def _version_now(self) -> int:
        """``PRAGMA data_version`` now, kept for :meth:`seen`. (The common case of the checks
        above, without the context manager of ``_sqlite``.)"""
        try:
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as error:
            raise ProtectionError(f"{self.name} cannot be read: {error}") from None
        self._seen = version
        return version

    def fetch(self, subject: str, purpose: str, generation: int) -> bytes | None:
        with self._sqlite("read"):
            row = self._db.execute(
                "SELECT wrapped FROM data_keys WHERE subject = ? AND purpose = ? "
                "AND generation = ?",
                (subject, purpose, generation),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def live(self, subject: str) -> list[tuple[str, int, bytes]]:
        with self._sqlite("read"):
            rows = self._db.execute(
                "SELECT purpose, generation, wrapped FROM data_keys WHERE subject = ?",
                (subject,),
            ).fetchall()
        return [(str(p), int(g), bytes(w)) for p, g, w in rows]

    def create(self, subject: str, purposes: Sequence[str], wrap: Wrap) -> None:
        # BEGIN IMMEDIATE serialises writers across processes: the check below sees every key
        # committed before, so two processes never make two generations.
        with self._transaction() as db:
            for purpose in purposes:
                if db.execute(
                    "SELECT 1 FROM data_keys WHERE subject = ? AND purpose = ?",
                    (subject, purpose),
                ).fetchone():
                    continue
                erased = db.execute(
                    "SELECT MAX(generation) FROM erasures WHERE subject = ? AND purpose = ?",
                    (subject, purpose),
                ).fetchone()[0]
                generation = 1 if erased is None else int(erased) + 1
                db.execute(
                    "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?)",
                    (subject, purpose, generation, wrap(purpose, generation), _now()),
                )

    def erase(self, subject: str, purpose: str) -> int:
        # This connection's own erasure must not hide another's from changed(), which knows
        # an erasure by the count of erasure rows. So the count is taken inside the write
        # lock (BEGIN IMMEDIATE: no other connection commits until ours does): before our
        # rows, any rows changed() has not counted yet are someone else's and are reported
        # by its next call; after our rows, the count is exactly what this commit leaves, so
        # any later erasure elsewhere raises it again. Reading the count after the commit
        # would absorb an erasure committed elsewhere since changed() last counted, or in
        # the moment between our COMMIT and the read (docs/adr/0015, amendment).
        now = _now()
        with self._transaction() as db:
            if self._erasure_count() != self._erasures:
                self._missed = True
            rows = db.execute(
                "SELECT generation FROM data_keys WHERE subject = ? AND purpose = ?",
                (subject, purpose),
            ).fetchall()
            for (generation,) in rows:
                db.execute(
                    "INSERT OR REPLACE INTO erasures VALUES (?, ?, ?, ?)",
                    (subject, purpose, generation, now),
                )
            db.execute(
                "DELETE FROM data_keys WHERE subject = ? AND purpose = ?", (subject, purpose)
            )
            erasures = self._erasure_count()
        self._erasures = erasures
        with self._sqlite("written"):
            # Crypto-shredding must not leave the wrapped key in the write-ahead log.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            # A moment after the commit (seen() only needs one in the past). _version stays
            # what changed() compared last: the next changed() counts again if anybody
            # else has committed since then.
            self._seen = self._data_version()
        return len(rows)

    def dump(self) -> KeyringRows:
        with self._sqlite("read"):
            self._db.execute("BEGIN")
            try:
                keys = self._db.execute(
                    "SELECT subject, purpose, generation, wrapped, created_at FROM data_keys "
                    "ORDER BY subject, purpose, generation"
                ).fetchall()
                erasures = self._db.execute(
                    "SELECT subject, purpose, generation, erased_at FROM erasures "
                    "ORDER BY subject, purpose, generation"
                ).fetchall()
            finally:
                self._db.execute("ROLLBACK")
        return KeyringRows(
            keys=tuple(KeyRow(str(s), str(p), int(g), bytes(w), str(c)) for s, p, g, w, c in keys),
            erasures=tuple(ErasureRow(str(s), str(p), int(g), str(e)) for s, p, g, e in erasures),
        )

    def load(self, rows: KeyringRows) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO data_keys VALUES (?, ?, ?, ?, ?)",
                [(k.subject, k.purpose, k.generation, k.wrapped, k.created_at) for k in rows.keys],
            )
            db.executemany(
                "INSERT INTO erasures VALUES (?, ?, ?, ?)",
                [(e.subject, e.purpose, e.generation, e.erased_at) for e in rows.erasures],
            )


# ---------------------------------------------------------------------------------------------
# PostgreSQL: two tables in the store's schema
# ---------------------------------------------------------------------------------------------


def postgres_ddl(schema: str) -> list[str]:
    """``CREATE TABLE`` statements of the keyring tables (run by ``store init``).

    One live generation per (subject, purpose) is a primary key, so concurrent first use can
    never store two generations: the loser's insert does nothing and it reads the winner's.
    """
    from psycopg import sql

    def table(name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))

    keys = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (subject text NOT NULL, purpose text NOT NULL, "
        "generation integer NOT NULL, wrapped bytea NOT NULL, created_at text NOT NULL, "
        "PRIMARY KEY (subject, purpose))"
    ).format(table(PG_KEYS_TABLE))
    erasures = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (subject text NOT NULL, purpose text NOT NULL, "
        "generation integer NOT NULL, erased_at text NOT NULL, "
        "PRIMARY KEY (subject, purpose, generation))"
    ).format(table(PG_ERASURES_TABLE))
    return [s.as_string() for s in (keys, erasures)]


def postgres_connect_kwargs(environment: Mapping[str, str]) -> dict[str, Any] | None:
    """Connection settings of the store's database from the library's environment (the
    ``POSTGRES_*`` settings ``adapters.bootstrap`` gives a PostgreSQL store), else None."""
    dbname = environment.get("POSTGRES_DBNAME")
    schema = environment.get("POSTGRES_SCHEMA")
    if not dbname or not schema:
        return None
    kwargs: dict[str, Any] = {
        "host": environment.get("POSTGRES_HOST", ""),
        "port": environment.get("POSTGRES_PORT", "5432"),
        "dbname": dbname,
        "user": environment.get("POSTGRES_USER", ""),
    }
    password = environment.get("POSTGRES_PASSWORD")
    if password:
        kwargs["password"] = password
    return kwargs


class PostgresKeyringStorage:
    """The keyring tables in a PostgreSQL store's schema, over one connection of its own
    (autocommit; it also ``LISTEN``s for erasures made by other processes)."""

    def __init__(self, connect_kwargs: Mapping[str, Any], schema: str) -> None:
        from psycopg import sql

        self.name = f"keyring in schema {schema}"
        self._kwargs = dict(connect_kwargs)
        self._schema = schema
        keys = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(PG_KEYS_TABLE))
        erasures = sql.SQL("{}.{}").format(
            sql.Identifier(schema), sql.Identifier(PG_ERASURES_TABLE)
        )
        # One lock per store for key creation and erasure (the data of other stores in the
        # database are not held up): the moral equivalent of SQLite's BEGIN IMMEDIATE.
        self._lock_sql = "SELECT pg_advisory_xact_lock(hashtext(%s))"
        self._lock_key = f"miljo-keyring:{schema}"
        # The two reads of a command's path, rendered to bytes at each connect (psycopg
        # would compose them again on every execute).
        self._fetch_sql = sql.SQL(
            "SELECT wrapped FROM {} WHERE subject = %s AND purpose = %s AND generation = %s"
        ).format(keys)
        self._live_sql = sql.SQL(
            "SELECT purpose, generation, wrapped FROM {} WHERE subject = %s"
        ).format(keys)
        self._fetch = b""
        self._live = b""
        self._exists = sql.SQL("SELECT 1 FROM {} WHERE subject = %s AND purpose = %s").format(keys)
        self._last_erased = sql.SQL(
            "SELECT MAX(generation) FROM {} WHERE subject = %s AND purpose = %s"
        ).format(erasures)
        self._insert = sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subject, purpose) DO NOTHING"
        ).format(keys)
        self._delete = sql.SQL(
            "DELETE FROM {} WHERE subject = %s AND purpose = %s RETURNING generation"
        ).format(keys)
        self._record = sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (subject, purpose, generation) "
            "DO UPDATE SET erased_at = EXCLUDED.erased_at"
        ).format(erasures)
        self._notify = sql.SQL("SELECT pg_notify(%s, %s)")
        self._vacuum = sql.SQL("VACUUM {}").format(keys)
        self._dump_keys = sql.SQL(
            "SELECT subject, purpose, generation, wrapped, created_at FROM {} "
            "ORDER BY subject, purpose, generation"
        ).format(keys)
        self._dump_erasures = sql.SQL(
            "SELECT subject, purpose, generation, erased_at FROM {} "
            "ORDER BY subject, purpose, generation"
        ).format(erasures)
        self._load_keys = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s)").format(keys)
        self._load_erasures = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(erasures)
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._stale = False
        with self._pg("opened"):
            self._connect()

    # -- the connection ---------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        conn = psycopg.connect(
            make_conninfo("", **self._kwargs, connect_timeout=_CONNECT_TIMEOUT), autocommit=True
        )
        try:
            present = {
                str(row[0])
                for row in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
                    (self._schema, sorted(PG_KEYRING_TABLES)),
                )
            }
            if present != PG_KEYRING_TABLES:
                raise ProtectionError(
                    f"{self.name} is missing (no {PG_KEYS_TABLE} or {PG_ERASURES_TABLE} table)"
                )
            conn.execute(f"LISTEN {PG_CHANNEL}")
            conn.add_notify_handler(self._on_notify)
            self._fetch = self._fetch_sql.as_bytes(conn)
            self._live = self._live_sql.as_bytes(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            # Notifications sent while this storage had no connection are lost: the gap
            # counts as a change, as in changed(), whichever read or write reconnects.
            self._stale = True
            return conn
        return self._conn

    @contextlib.contextmanager
    def _pg(self, doing: str) -> Iterator[None]:
        """psycopg errors as a :class:`ProtectionError` naming the keyring (the password is
        never part of the message)."""
        import psycopg

        try:
            yield
        except psycopg.Error as error:
            broken = self._conn is not None and self._conn.closed
            if broken:
                self._conn = None
            line = " ".join(str(error).split()) or type(error).__name__
            password = self._kwargs.get("password")
            if password:
                line = line.replace(str(password), "***")
            raise ProtectionError(f"{self.name} cannot be {doing}: {line}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- erasures by other processes ---------------------------------------------------------

    def _on_notify(self, notify: psycopg.Notify) -> None:
        # Called by psycopg for notifications that arrive while a query runs.
        if notify.channel == PG_CHANNEL and notify.payload == self._schema:
            self._stale = True

    def changed(self) -> bool:
        """Any erasure notification for this schema since the last call. Costs a ``select``
        on the socket (no round trip) unless data is waiting. A lost connection counts as a
        change: a notification may have been missed."""
        import psycopg

        conn = self._conn
        if conn is None or conn.closed:
            return self._listen_again()
        try:
            if select.select([conn.fileno()], [], [], 0)[0]:
                pgconn = conn.pgconn
                pgconn.consume_input()
                while (pgn := pgconn.notifies()) is not None:
                    if pgn.relname == PG_CHANNEL.encode() and pgn.extra == self._schema.encode():
                        self._stale = True
        except (psycopg.Error, OSError, ValueError):
            conn.close()
            return self._listen_again()
        stale, self._stale = self._stale, False
        return stale

    def _listen_again(self) -> bool:
        """After a lost connection: connect and ``LISTEN`` again at once (so the following
        checks are the cheap kind again) and report the gap as one change; if the server is
        still away, the next check tries again and reports another."""
        import psycopg

        self._conn = None
        self._stale = False
        with contextlib.suppress(psycopg.Error, ProtectionError, OSError):
            self._connect()
        return True

    # -- reads and writes --------------------------------------------------------------------

    def seen(self) -> None:
        # A NOTIFY reaches this connection asynchronously, some time after the erasure's
        # commit: no signal says "nothing committed since", so sealing always reads again.
        return None

    def unchanged_since(self, seen: int) -> bool:
        return False

    def fetch(self, subject: str, purpose: str, generation: int) -> bytes | None:
        with self._pg("read"):
            row = self._connection().execute(self._fetch, (subject, purpose, generation)).fetchone()
        return None if row is None else bytes(row[0])

    def live(self, subject: str) -> list[tuple[str, int, bytes]]:
        with self._pg("read"):
            rows = self._connection().execute(self._live, (subject,)).fetchall()
        return [(str(p), int(g), bytes(w)) for p, g, w in rows]

    def create(self, subject: str, purposes: Sequence[str], wrap: Wrap) -> None:
        with self._pg("written"):
            conn = self._connection()
            with conn.transaction():
                conn.execute(self._lock_sql, (self._lock_key,))
                for purpose in purposes:
                    if conn.execute(self._exists, (subject, purpose)).fetchone():
                        continue
                    row = conn.execute(self._last_erased, (subject, purpose)).fetchone()
                    erased = None if row is None else row[0]
                    generation = 1 if erased is None else int(erased) + 1
                    conn.execute(
                        self._insert,
                        (subject, purpose, generation, wrap(purpose, generation), _now()),
                    )

    def erase(self, subject: str, purpose: str) -> int:
        import psycopg

        now = _now()
        with self._pg("written"):
            conn = self._connection()
            with conn.transaction():
                conn.execute(self._lock_sql, (self._lock_key,))
                generations = [
                    int(row[0]) for row in conn.execute(self._delete, (subject, purpose))
                ]
                for generation in generations:
                    conn.execute(self._record, (subject, purpose, generation, now))
                # Delivered at commit to every process listening (their next key lookup
                # drops its cache), including this one.
                conn.execute(self._notify, (PG_CHANNEL, self._schema))
            if generations:
                # Crypto-shredding: remove the dead row versions that still hold the wrapped
                # key now rather than at the next autovacuum (ADR 0015 for what remains: WAL,
                # older snapshots, backups). Needs the table's owner; a role that may not
                # vacuum leaves it to autovacuum.
                with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                    conn.execute(self._vacuum)
        return len(generations)

    def dump(self) -> KeyringRows:
        import psycopg

        with self._pg("read"):
            conn = self._connection()
            conn.autocommit = False
            try:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                keys = conn.execute(self._dump_keys).fetchall()
                erasures = conn.execute(self._dump_erasures).fetchall()
                conn.rollback()
            finally:
                conn.isolation_level = None
                conn.autocommit = True
        return KeyringRows(
            keys=tuple(KeyRow(str(s), str(p), int(g), bytes(w), str(c)) for s, p, g, w, c in keys),
            erasures=tuple(ErasureRow(str(s), str(p), int(g), str(e)) for s, p, g, e in erasures),
        )

    def load(self, rows: KeyringRows) -> None:
        with self._pg("written"):
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(self._lock_sql, (self._lock_key,))
                if rows.keys:
                    cur.executemany(
                        self._load_keys,
                        [
                            (k.subject, k.purpose, k.generation, k.wrapped, k.created_at)
                            for k in rows.keys
                        ],
                    )
                if rows.erasures:
                    cur.executemany(
                        self._load_erasures,
                        [(e.subject, e.purpose, e.generation, e.erased_at) for e in rows.erasures],
                    )


def read_keyring_rows(open_storage: Callable[[], KeyringStorage]) -> KeyringRows:
    """Every row of a keyring (the data keys still wrapped), from a storage opened for this one
    read and closed after it, also when the read fails: ``store copy`` reads its source's
    keyring so, and a PostgreSQL store moving an older miljo's keyring file into its schema
    reads the file so (``lambda: SQLiteKeyringStorage(path)``). Raises
    :class:`ProtectionError` (a missing or unreadable keyring)."""
    storage = open_storage()
    try:
        return storage.dump()
    finally:
        storage.close()


def open_keyring(environment: Mapping[str, str], folder: Path, master_key: bytes) -> Keyring:
    """The keyring of the store whose library environment this is: in the store's schema for
    a PostgreSQL store, else ``keyring.sqlite`` in the key folder."""
    kwargs = postgres_connect_kwargs(environment)
    if kwargs is None:
        return Keyring(folder / KEYRING_FILE, master_key)
    return Keyring(PostgresKeyringStorage(kwargs, environment["POSTGRES_SCHEMA"]), master_key)
