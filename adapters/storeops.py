"""Store operations: online backup and restore of a SQLite store, whole-store copy between
SQLite and PostgreSQL, and following the read models.

* :func:`backup_sqlite` copies a SQLite store with the sqlite3 online backup API (a consistent
  snapshot while writers go on) into a new file, and its key folder beside it
  (``<FILE stem>.keys``, mode 0700, files 0600). :func:`restore_sqlite` is the reverse, into a
  store path that does not exist yet.
* :func:`copy_store` copies every stored event *as stored* (encrypted bytes, originator ids,
  versions, topics, notification ids and their order), the chain links verbatim, the
  snapshots, the key files and the keyring's rows (a SQLite keyring file or the keyring tables
  of a PostgreSQL store, ADR 0015) into a new store (SQLite or PostgreSQL), then
  rebuilds the copy's read models. The links are never recomputed: the copy verifies with the
  same sealing key because it holds the same rows at the same positions.
* :func:`follow_views` keeps a store's read models caught up until told to stop.

Each operation refuses to overwrite an existing store or key file (:class:`StoreError`).
The keyring is copied *after* the events were read: a data key added in between is then
present in the copy rather than missing (docs/postgres.md, "Backup and restore").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol
from uuid import UUID

import attrs

from adapters.audit import verify_store
from adapters.bootstrap import (
    StoreError,
    StoreLocation,
    _application,
    _check_miljo_tables,
    _check_sqlite_file,
    _postgres_views,
    create_owner_only,
    open_store,
)
from adapters.chain import VerifyResult
from adapters.keyring import (
    KEYRING_FILE,
    Keyring,
    KeyringRows,
    KeyringStorage,
    PostgresKeyringStorage,
    ProtectionError,
    SQLiteKeyringStorage,
    read_keyring_rows,
)
from adapters.keys import (
    ALL_KEYS,
    FINGERPRINT_TABLE,
    KeyFileError,
    check_fingerprints,
    key_fingerprints,
)
from adapters.views import SQLiteViewStore

if TYPE_CHECKING:
    from adapters.bootstrap import PostgresTarget
    from domain.ports import ViewStore

#: Rows per page (and per target transaction) when copying.
COPY_PAGE: Final = 1000
KEYS_SUFFIX: Final = ".keys"
_MAX_POSITION: Final = 2**63 - 1

#: ``progress(done, total)`` while copying events.
Progress = Callable[[int, int], None]
#: ``on_batch(applied, position)`` after every catch-up that applied something.
OnBatch = Callable[[int, int], None]


@attrs.frozen
class BackupSummary:
    path: Path
    keys_dir: Path
    events: int


@attrs.frozen
class CopySummary:
    source: str
    target: str
    events: int
    links: int
    snapshots: int
    keys_dir: Path
    view_position: int
    verify: VerifyResult


@attrs.frozen
class EventRow:
    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes


@attrs.frozen
class LinkRow:
    position: int
    link: bytes


@attrs.frozen
class SnapshotRow:
    originator_id: UUID
    version: int
    topic: str
    state: bytes


# ---------------------------------------------------------------------------------------------
# Files: key folders and SQLite databases
# ---------------------------------------------------------------------------------------------


def keys_dir_for(path: Path) -> Path:
    """The key folder of a SQLite store or backup file: ``<stem>.keys`` beside it."""
    return path.with_suffix(KEYS_SUFFIX)


def _create_exclusive(path: Path) -> None:
    """Create an empty, owner-only file; refuse one that exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(f"{path} already exists; refusing to overwrite") from None
    except OSError as error:
        raise StoreError(f"{path} cannot be created: {error.strerror}") from None
    os.close(fd)


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy database ``source`` into ``target`` with the online backup API (one step: a
    consistent snapshot, even while other connections write)."""
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{source} cannot be copied to {target}: {error}") from None


def _check_new_keys_dir(keys_dir: Path) -> None:
    present = [keys_dir / n for n in (*ALL_KEYS, KEYRING_FILE) if (keys_dir / n).exists()]
    if present:
        raise StoreError(f"key file {present[0]} already exists; refusing to overwrite")


def _copy_key_files(source: Path, target: Path) -> None:
    """Copy the key files (not the keyring) byte for byte, owner-only."""
    _check_new_keys_dir(target)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.chmod(0o700)
    for name in ALL_KEYS:
        try:
            data = (source / name).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"key file {source / name} is missing") from None
        except OSError as error:
            raise StoreError(f"key file {source / name} cannot be read: {error.strerror}") from None
        _create_exclusive(target / name)
        (target / name).write_bytes(data)


def _copy_keyring(source: Path, target: Path) -> None:
    """Copy the keyring (an SQLite file in WAL mode) into ``target``'s key folder."""
    src = source / KEYRING_FILE
    if not src.is_file():
        raise StoreError(f"keyring {src} is missing")
    dst = target / KEYRING_FILE
    if not dst.exists():
        _create_exclusive(dst)
    _sqlite_backup(src, dst)
    dst.chmod(0o600)


def _copy_keys(source: Path, target: Path) -> None:
    _copy_key_files(source, target)
    _copy_keyring(source, target)


def _check_sqlite_store(path: Path, keys_dir: Path) -> None:
    """An existing miljo SQLite file whose key folder belongs to it."""
    _check_sqlite_file(path)
    _check_miljo_tables(path, keys_dir)


def _sqlite_location(location: StoreLocation, what: str) -> tuple[Path, Path]:
    if location.postgres is not None:
        raise StoreError(
            f"{what} works on SQLite stores; for {location.describe()} use "
            "'miljo store copy --to FILE.sqlite' (or pg_dump, docs/postgres.md)"
        )
    if location.db_path is None or location.keys_dir is None:
        raise StoreError(f"an in-memory store has nothing to {what}")
    return location.db_path, location.keys_dir


def _remove_created(paths: Sequence[Path]) -> None:
    """Remove what a failed operation created (files, their WAL/SHM companions, folders)."""
    for path in paths:
        for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if companion.is_dir():
                shutil.rmtree(companion, ignore_errors=True)
            else:
                companion.unlink(missing_ok=True)


def _count_sqlite_events(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Backup and restore (SQLite)
# ---------------------------------------------------------------------------------------------


def backup_sqlite(location: StoreLocation, destination: Path) -> BackupSummary:
    """Back up a SQLite store into the new file ``destination`` and its keys into
    ``<destination stem>.keys``. Consistent while other processes write."""
    db_path, keys_dir = _sqlite_location(location, "back up")
    destination = destination.expanduser().absolute()
    target_keys = keys_dir_for(destination)
    if target_keys == destination or destination == db_path:
        raise StoreError(f"{destination} cannot be a backup of {db_path}; choose a FILE.sqlite")
    _check_sqlite_store(db_path, keys_dir)
    if target_keys.exists():
        raise StoreError(f"{target_keys} already exists; refusing to overwrite")
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _create_exclusive(destination)
    try:
        _sqlite_backup(db_path, destination)
        _copy_keys(keys_dir, target_keys)  # the keyring after the events (see module doc)
        events = _count_sqlite_events(destination)
    except BaseException:
        _remove_created([destination, target_keys])
        raise
    return BackupSummary(destination, target_keys, events)


def restore_sqlite(backup: Path, location: StoreLocation) -> BackupSummary:
    """Restore a backup made by :func:`backup_sqlite` (and its ``.keys`` folder) into the
    store ``location``, which must not exist yet."""
    db_path, keys_dir = _sqlite_location(location, "restore")
    backup = backup.expanduser().absolute()
    if not backup.is_file():
        what = "is not a file" if backup.exists() else "does not exist"
        raise StoreError(f"backup {backup} {what}")
    backup_keys = keys_dir_for(backup)
    if not backup_keys.is_dir():
        raise StoreError(f"the backup's key folder {backup_keys} is missing")
    _check_sqlite_store(backup, backup_keys)
    if db_path.exists():
        raise StoreError(f"store {db_path} already exists; refusing to overwrite")
    _check_new_keys_dir(keys_dir)
    keys_existed = keys_dir.exists()
    db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _create_exclusive(db_path)
    try:
        _sqlite_backup(backup, db_path)
        _copy_keys(backup_keys, keys_dir)
        events = _count_sqlite_events(db_path)
    except BaseException:
        _remove_created([db_path] if keys_existed else [db_path, keys_dir])
        raise
    return BackupSummary(db_path, keys_dir, events)


# ---------------------------------------------------------------------------------------------
# Copy: reading a source in one snapshot, writing a new target page by page
# ---------------------------------------------------------------------------------------------


class Source(Protocol):
    def count(self) -> int: ...

    def events(self, after: int, limit: int) -> list[EventRow]: ...

    def links(self, after: int, upto: int | None, limit: int) -> list[LinkRow]: ...

    def snapshots(self, after: tuple[UUID, int] | None, limit: int) -> list[SnapshotRow]: ...


class Target(Protocol):
    def write(self, events: Sequence[EventRow], links: Sequence[LinkRow]) -> None: ...

    def write_snapshots(self, rows: Sequence[SnapshotRow]) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class SQLiteSource:
    """A SQLite store read inside one read transaction (a WAL snapshot)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.db.execute("BEGIN")
        self.db.execute("SELECT COUNT(*) FROM stored_events").fetchone()  # takes the snapshot

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")
        self.db.close()

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])

    def events(self, after: int, limit: int) -> list[EventRow]:
        rows = self.db.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        ).fetchall()
        return [
            EventRow(int(r[0]), UUID(str(r[1])), int(r[2]), str(r[3]), bytes(r[4])) for r in rows
        ]

    def links(self, after: int, upto: int | None, limit: int) -> list[LinkRow]:
        bound = _MAX_POSITION if upto is None else upto
        rows = self.db.execute(
            "SELECT position, link FROM miljo_chain WHERE position > ? AND position <= ? "
            "ORDER BY position LIMIT ?",
            (after, bound, limit),
        ).fetchall()
        return [LinkRow(int(r[0]), bytes(r[1])) for r in rows]

    def snapshots(self, after: tuple[UUID, int] | None, limit: int) -> list[SnapshotRow]:
        start = ("", -1) if after is None else (after[0].hex, after[1])
        rows = self.db.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_snapshots "
            "WHERE (originator_id, originator_version) > (?, ?) "
            "ORDER BY originator_id, originator_version LIMIT ?",
            (*start, limit),
        ).fetchall()
        return [SnapshotRow(UUID(str(r[0])), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]


class SQLiteTarget:
    """A new SQLite store's tables, written one transaction per page."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def write(self, events: Sequence[EventRow], links: Sequence[LinkRow]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO stored_events "
                "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                [(e.position, e.originator_id.hex, e.version, e.topic, e.state) for e in events],
            )
            db.executemany(
                "INSERT INTO miljo_chain (position, link) VALUES (?, ?)",
                [(link.position, link.link) for link in links],
            )

    def write_snapshots(self, rows: Sequence[SnapshotRow]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO stored_snapshots "
                "(originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                [(s.originator_id.hex, s.version, s.topic, s.state) for s in rows],
            )

    def finish(self) -> None:
        """Nothing to do: the next rowid follows the highest copied one."""


class PostgresSource:
    """A PostgreSQL store read in one read-only, repeatable-read transaction."""

    def __init__(self, target: PostgresTarget) -> None:
        import psycopg
        from psycopg import sql

        from adapters import postgres

        self.conn = postgres.connect(target, autocommit=False)
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        schema = sql.Identifier(target.schema)
        events = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.EVENTS_TABLE))
        chain = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.CHAIN_TABLE))
        snapshots = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.SNAPSHOTS_TABLE))
        self.count_statement = sql.SQL("SELECT COUNT(*) AS n FROM {}").format(events)
        self.events_statement = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(events)
        self.links_statement = sql.SQL(
            "SELECT position, link FROM {} WHERE position > %s AND position <= %s "
            "ORDER BY position LIMIT %s"
        ).format(chain)
        self.snapshots_statement = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "WHERE (originator_id, originator_version) > (%s, %s) "
            "ORDER BY originator_id, originator_version LIMIT %s"
        ).format(snapshots)

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()

    def count(self) -> int:
        return int(self.conn.execute(self.count_statement).fetchall()[0]["n"])

    def events(self, after: int, limit: int) -> list[EventRow]:
        rows = self.conn.execute(self.events_statement, (after, limit)).fetchall()
        return [
            EventRow(
                int(r["notification_id"]),
                _uuid(r["originator_id"]),
                int(r["originator_version"]),
                str(r["topic"]),
                bytes(r["state"]),
            )
            for r in rows
        ]

    def links(self, after: int, upto: int | None, limit: int) -> list[LinkRow]:
        bound = _MAX_POSITION if upto is None else upto
        rows = self.conn.execute(self.links_statement, (after, bound, limit)).fetchall()
        return [LinkRow(int(r["position"]), bytes(r["link"])) for r in rows]

    def snapshots(self, after: tuple[UUID, int] | None, limit: int) -> list[SnapshotRow]:
        start = after or (UUID(int=0), -1)
        rows = self.conn.execute(self.snapshots_statement, (*start, limit)).fetchall()
        return [
            SnapshotRow(
                _uuid(r["originator_id"]),
                int(r["originator_version"]),
                str(r["topic"]),
                bytes(r["state"]),
            )
            for r in rows
        ]


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


class PostgresTargetWriter:
    """A new PostgreSQL store's tables, written with plain SQL, one transaction per page
    (events and their links together). Links are copied, never recomputed."""

    def __init__(self, target: PostgresTarget) -> None:
        from psycopg import sql

        from adapters import postgres

        self.conn = postgres.connect(target, autocommit=False)
        schema = sql.Identifier(target.schema)
        events = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.EVENTS_TABLE))
        chain = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.CHAIN_TABLE))
        snapshots = sql.SQL("{}.{}").format(schema, sql.Identifier(postgres.SNAPSHOTS_TABLE))
        self.lock_statement = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events)
        self.events_statement = sql.SQL(
            "INSERT INTO {} (notification_id, originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s, %s)"
        ).format(events)
        self.links_statement = sql.SQL("INSERT INTO {} (position, link) VALUES (%s, %s)").format(
            chain
        )
        self.snapshots_statement = sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        ).format(snapshots)
        self.sequence_statement = sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
            "COALESCE((SELECT MAX(notification_id) FROM {}), 0) + 1, false)"
        ).format(events)
        self.events_name = f'"{target.schema}".{postgres.EVENTS_TABLE}'

    def close(self) -> None:
        self.conn.close()

    def write(self, events: Sequence[EventRow], links: Sequence[LinkRow]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(self.lock_statement)
            if events:
                cur.executemany(
                    self.events_statement,
                    [(e.position, e.originator_id, e.version, e.topic, e.state) for e in events],
                )
            if links:
                cur.executemany(
                    self.links_statement, [(link.position, link.link) for link in links]
                )

    def write_snapshots(self, rows: Sequence[SnapshotRow]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                self.snapshots_statement,
                [(s.originator_id, s.version, s.topic, s.state) for s in rows],
            )

    def finish(self) -> None:
        """Move the notification id sequence past the highest copied id."""
        with self.conn.transaction():
            self.conn.execute(self.sequence_statement, (self.events_name,))


def _copy_rows(source: Source, target: Target, progress: Progress | None) -> tuple[int, int, int]:
    total = source.count()
    events = links = snapshots = 0
    last = 0
    while True:
        page = source.events(last, COPY_PAGE)
        if not page:
            break
        upto = page[-1].position
        page_links: list[LinkRow] = []
        link_after = last
        while True:
            chunk = source.links(link_after, upto, COPY_PAGE)
            page_links.extend(chunk)
            if len(chunk) < COPY_PAGE:
                break
            link_after = chunk[-1].position
        target.write(page, page_links)
        events += len(page)
        links += len(page_links)
        last = upto
        if progress is not None:
            progress(events, max(total, events))
    while True:  # links after the newest event (a damaged source is copied as it is)
        tail = source.links(last, None, COPY_PAGE)
        if not tail:
            break
        target.write([], tail)
        links += len(tail)
        last = tail[-1].position
    after: tuple[UUID, int] | None = None
    while True:
        rows = source.snapshots(after, COPY_PAGE)
        if not rows:
            break
        target.write_snapshots(rows)
        snapshots += len(rows)
        after = (rows[-1].originator_id, rows[-1].version)
    target.finish()
    return events, links, snapshots


#: Opens a store's keyring storage (the file, or the tables of a PostgreSQL store).
OpenKeyring = Callable[[], KeyringStorage]


def _keyring_storage(keys_dir: Path, target: PostgresTarget | None) -> KeyringStorage:
    try:
        if target is not None:
            return PostgresKeyringStorage(target.connect_kwargs(), target.schema)
        return SQLiteKeyringStorage(keys_dir / KEYRING_FILE)
    except ProtectionError as error:
        raise StoreError(str(error)) from None


def _read_keyring(open_keyring: OpenKeyring) -> KeyringRows:
    try:
        return read_keyring_rows(open_keyring)
    except ProtectionError as error:
        raise StoreError(str(error)) from None


def _write_keyring(open_keyring: OpenKeyring, rows: KeyringRows) -> None:
    storage = open_keyring()
    try:
        storage.load(rows)
    except ProtectionError as error:
        raise StoreError(str(error)) from None
    finally:
        storage.close()


def _open_source(location: StoreLocation) -> tuple[Source, Callable[[], None], OpenKeyring]:
    """Check the source store and its keys; read it in one snapshot."""
    if location.postgres is not None:
        from adapters import postgres

        keys_dir = location.keys_dir
        if keys_dir is None:
            raise StoreError(f"store {location.describe()} has no key folder")
        resolved = postgres.check_store(location.postgres)
        try:
            check_fingerprints(postgres.read_fingerprints(resolved), keys_dir)
        except KeyFileError as error:
            raise StoreError(str(error)) from None
        postgres.ensure_keyring(resolved, keys_dir)
        pg_source = PostgresSource(resolved)
        return pg_source, pg_source.close, lambda: _keyring_storage(keys_dir, resolved)
    db_path, keys_dir = _sqlite_location(location, "copy")
    _check_sqlite_store(db_path, keys_dir)
    if not (keys_dir / KEYRING_FILE).is_file():
        raise StoreError(f"keyring {keys_dir / KEYRING_FILE} is missing")
    sqlite_source = SQLiteSource(db_path)
    return sqlite_source, sqlite_source.close, lambda: _keyring_storage(keys_dir, None)


def _create_sqlite_target(location: StoreLocation, db_path: Path) -> Target:
    """Empty tables of a new SQLite store (its key files are already in place), in a file
    readable by its owner only."""
    create_owner_only(db_path)
    app = _application(location)
    try:
        SQLiteViewStore(app, db_path).close()
    finally:
        app.close()
    return SQLiteTarget(db_path)


def _create_postgres_target(location: StoreLocation, target: PostgresTarget) -> Target:
    from adapters import postgres

    postgres.create_keyring_tables(target)
    app = _application(location, target, create_tables=True)
    try:
        _postgres_views(app, location, target).close()
    finally:
        app.close()
    return PostgresTargetWriter(target)


def _write_fingerprints(location: StoreLocation, target: PostgresTarget | None) -> None:
    assert location.keys_dir is not None  # noqa: S101 - checked by copy_store
    fingerprints = key_fingerprints(location.keys_dir)
    if target is not None:
        from adapters import postgres

        postgres.write_fingerprints(target, fingerprints)
        return
    assert location.db_path is not None  # noqa: S101
    with contextlib.closing(sqlite3.connect(location.db_path)) as db, db:
        db.execute(
            f"CREATE TABLE {FINGERPRINT_TABLE} (name TEXT PRIMARY KEY, fingerprint BLOB NOT NULL)"
        )
        db.executemany(
            f"INSERT INTO {FINGERPRINT_TABLE} VALUES (?, ?)",  # noqa: S608 - a constant
            list(fingerprints.items()),
        )


def _drop_postgres_copy(target: PostgresTarget) -> None:
    """Drop the tables a failed copy created (the schema had no miljo tables before)."""
    from psycopg import sql

    from adapters import postgres

    with contextlib.suppress(StoreError), postgres.connect(target) as conn:
        for name in sorted(postgres.schema_tables(conn, target.schema)):
            if postgres.is_miljo_table(name):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(
                        sql.Identifier(target.schema), sql.Identifier(name)
                    )
                )


def copy_store(
    source: StoreLocation, target: StoreLocation, progress: Progress | None = None
) -> CopySummary:
    """Copy the whole store ``source`` into the new store ``target`` (see the module doc)."""
    if target.is_memory or target.keys_dir is None:
        raise StoreError("cannot copy into an in-memory store")
    if source.describe() == target.describe():
        raise StoreError(f"store {target.describe()} is the source; refusing to overwrite")
    source_keys = source.keys_dir
    if source_keys is None:
        raise StoreError("an in-memory store has nothing to copy")
    # Refuse an existing target before touching anything.
    resolved_target: PostgresTarget | None = None
    if target.postgres is not None:
        from adapters import postgres

        resolved_target = postgres.prepare_schema(target.postgres)
    elif target.db_path is not None and target.db_path.exists():
        raise StoreError(f"store {target.db_path} already exists; refusing to overwrite")
    _check_new_keys_dir(target.keys_dir)
    keys_dir = target.keys_dir
    created = [keys_dir] if not keys_dir.exists() else [keys_dir / n for n in ALL_KEYS]
    if target.db_path is not None:
        target.db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        created.append(target.db_path)
    reader, close_reader, source_keyring = _open_source(source)
    writer: Target | None = None
    try:
        _copy_key_files(source_keys, keys_dir)
        if resolved_target is None:
            Keyring.create(keys_dir / KEYRING_FILE)
            created.append(keys_dir / KEYRING_FILE)
        if resolved_target is not None:
            writer = _create_postgres_target(target, resolved_target)
        else:
            assert target.db_path is not None  # noqa: S101 - not in memory
            writer = _create_sqlite_target(target, target.db_path)
        events, links, snapshots = _copy_rows(reader, writer, progress)
        close_reader()
        close_reader = _nothing
        # The keyring's rows (wrapped keys and erasures), after the events (module doc).
        _write_keyring(
            lambda: _keyring_storage(keys_dir, resolved_target), _read_keyring(source_keyring)
        )
        writer.close()
        writer = None
        _write_fingerprints(target, resolved_target)
    except BaseException:
        if writer is not None:
            writer.close()
        close_reader()
        if resolved_target is not None:
            _drop_postgres_copy(resolved_target)
        _remove_created(created)
        raise
    with open_store(target) as miljo:
        miljo.rebuild_views()
        position = miljo.views.position()
    return CopySummary(
        source=source.describe(),
        target=target.describe(),
        events=events,
        links=links,
        snapshots=snapshots,
        keys_dir=target.keys_dir,
        view_position=position,
        verify=verify_store(target),
    )


def _nothing() -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Following the read models
# ---------------------------------------------------------------------------------------------


def follow_views(
    location: StoreLocation,
    views: ViewStore,
    stop: threading.Event,
    *,
    interval: float = 1.0,
    on_batch: OnBatch | None = None,
) -> int:
    """Keep ``views`` caught up until ``stop`` is set; returns how many events were applied.

    A PostgreSQL store uses :meth:`adapters.postgres.PostgresViewStore.follow` (woken by
    NOTIFY, polling every ``interval`` seconds as a fallback); a SQLite store polls every
    ``interval`` seconds. ``on_batch(applied, position)`` is called after every catch-up that
    applied events. Every page and its position commit together, so stopping leaves the views
    consistent.
    """
    if location.postgres is not None:
        from adapters.postgres import PostgresViewStore

        if isinstance(views, PostgresViewStore):
            last = [views.position()]

            def caught_up(position: int) -> None:
                if position > last[0] and on_batch is not None:
                    on_batch(position - last[0], position)
                last[0] = max(last[0], position)

            return views.follow(stop, interval, on_caught_up=caught_up)
    applied = 0
    while not stop.is_set():
        batch = views.catch_up()
        if batch:
            applied += batch
            if on_batch is not None:
                on_batch(batch, views.position())
        stop.wait(interval)
    return applied
