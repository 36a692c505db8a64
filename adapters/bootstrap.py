"""The composition root: the one place where miljo is wired together.

Both the CLI and embedding programs call :func:`open_store`::

    from adapters.bootstrap import open_store
    miljo = open_store("/var/lib/miljo/gjesdal.sqlite")
    miljo = open_store("postgresql://miljo@db.kommune.no/miljo?schema=gjesdal")

It resolves where the store and its keys live, chooses the persistence module and transcoder,
and hands the domain its clock, id factory and keyed hasher. A ``postgresql://`` store is
handled by ``adapters.postgres``, imported only when such a store is used (docs/postgres.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder

from adapters.chain import SingleWriterWatch, SQLiteWriteWatch
from adapters.keys import (
    FINGERPRINT_TABLE,
    INDEX_KEY,
    HmacHasher,
    KeyFileError,
    check_fingerprints,
    init_keys,
    key_fingerprints,
    read_key,
)
from adapters.protection import (
    ENV_EPHEMERAL,
    ENV_KEYS_DIR,
    KEYRING_FILE,
    Keyring,
    MiljoCipher,
    ProtectionError,
    SnapshotPruner,
    StoreProtection,
)
from adapters.sqlitesnapshots import SQLiteStreamReader
from adapters.system import RandomIds, SystemClock
from adapters.views import SQLiteViewStore, ViewError
from domain.application import DEFAULT_CACHE_SIZE, MiljoApplication, StreamReader, WriteWatch
from domain.facade import Miljo
from domain.legal import LegalReferences
from domain.ports import Clock, IdFactory, KeyedHasher, Protection, ViewStore

if TYPE_CHECKING:
    from adapters.postgres import PostgresViewStore

MEMORY: Final = ":memory:"
STORE_FILE: Final = "miljo.sqlite"
TRANSCODER_TOPIC: Final = "adapters.transcoder:OrjsonTranscoder"
#: Tables every initialised store has (the library's events and miljo's view tracking).
MILJO_TABLES: Final = frozenset({"stored_events", "view_meta", FINGERPRINT_TABLE})
POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
DEFAULT_SCHEMA: Final = "miljo"
DEFAULT_PORT: Final = 5432
#: A PostgreSQL store's key folder, when not under MILJO_HOME (SQLite stores ignore it).
ENV_PG_KEYS_DIR: Final = "MILJO_KEYS_DIR"
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,47}")
_SAFE_PART: Final = re.compile(r"[^A-Za-z0-9._-]")


class StoreError(Exception):
    """The store cannot be opened or initialised (missing, corrupt, locked, keys missing)."""


def default_home() -> Path:
    """``$MILJO_HOME``, else ``$XDG_DATA_HOME/miljo``, else ``~/.local/share/miljo``."""
    home = os.environ.get("MILJO_HOME")
    if home:
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "miljo"


@attrs.frozen
class PostgresTarget:
    """A PostgreSQL store: a schema in a database. The password never appears in ``url()``
    or ``repr``; None lets libpq find it (``PGPASSWORD``, ``~/.pgpass``)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = attrs.field(default=None, repr=False)
    schema: str = DEFAULT_SCHEMA

    def url(self) -> str:
        """The store's URL without its password (for messages and ``store info``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"postgresql://{quote(self.user, safe='')}@{host}:{self.port}/"
            f"{quote(self.dbname, safe='')}?schema={self.schema}"
        )

    def connect_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for ``psycopg.connect`` (password only if known)."""
        kwargs: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs


def is_postgres_url(text: str) -> bool:
    return text.partition("://")[0].lower() in POSTGRES_SCHEMES and "://" in text


def parse_postgres_url(text: str) -> PostgresTarget:
    """``postgresql://user[:password]@host[:port]/db[?schema=NAME]`` (schema default ``miljo``).

    User, password and database may be percent-encoded. Errors never repeat the password.
    """
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise StoreError("PostgreSQL store URL is malformed (bad port or host)") from None
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise StoreError("a PostgreSQL store URL starts with postgresql://")
    if not parts.hostname:
        raise StoreError("PostgreSQL store URL has no host (postgresql://user@host/db)")
    if not parts.username:
        raise StoreError("PostgreSQL store URL has no user (postgresql://user@host/db)")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise StoreError("PostgreSQL store URL has no database name (postgresql://user@host/db)")
    schema = DEFAULT_SCHEMA
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "schema":
            raise StoreError(f"PostgreSQL store URL: unknown parameter {key!r} (only 'schema')")
        schema = value
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StoreError(
            f"PostgreSQL schema name {schema!r} must be lower-case letters, digits and "
            "underscores (at most 48), not starting with a digit"
        )
    return PostgresTarget(
        host=parts.hostname,
        port=port,
        dbname=dbname,
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
        schema=schema,
    )


def postgres_keys_dir(target: PostgresTarget) -> Path:
    """``$MILJO_KEYS_DIR``, else ``<MILJO_HOME>/postgres/<host>_<port>/<db>/<schema>.keys``."""
    explicit = os.environ.get(ENV_PG_KEYS_DIR)
    if explicit:
        return Path(explicit).expanduser().absolute()

    def part(value: str) -> str:
        return _SAFE_PART.sub("_", value)

    return (
        default_home().absolute()
        / "postgres"
        / f"{part(target.host)}_{target.port}"
        / part(target.dbname)
        / f"{target.schema}.keys"
    )


@attrs.frozen
class StoreLocation:
    """Where a store's events and keys live. ``db_path`` is None for an in-memory store and
    for a PostgreSQL store (``postgres`` says where that one is)."""

    db_path: Path | None
    keys_dir: Path | None
    postgres: PostgresTarget | None = None

    @property
    def is_memory(self) -> bool:
        return self.db_path is None and self.postgres is None

    @property
    def is_postgres(self) -> bool:
        return self.postgres is not None

    def describe(self) -> str:
        if self.postgres is not None:
            return self.postgres.url()
        return MEMORY if self.db_path is None else str(self.db_path)


def resolve_store(store: str | os.PathLike[str] | None = None) -> StoreLocation:
    """Resolve ``--store``/``MILJO_STORE``/the default into a :class:`StoreLocation`."""
    chosen = os.fspath(store) if store is not None else os.environ.get("MILJO_STORE") or None
    if chosen == MEMORY:
        return StoreLocation(db_path=None, keys_dir=None)
    if chosen and is_postgres_url(chosen):
        target = parse_postgres_url(chosen)
        return StoreLocation(db_path=None, keys_dir=postgres_keys_dir(target), postgres=target)
    db_path = Path(chosen).expanduser() if chosen else default_home() / STORE_FILE
    db_path = db_path.absolute()
    return StoreLocation(db_path=db_path, keys_dir=db_path.with_suffix(".keys"))


def _create_keys(keys_dir: Path, *, keyring_file: bool = True) -> list[Path]:
    """The key files, and (for a SQLite store) the empty keyring file. A PostgreSQL store
    keeps its keyring in its schema (ADR 0015): a keyring file in its key folder is refused."""
    if not keyring_file and (keys_dir / KEYRING_FILE).exists():
        raise StoreError(f"keyring {keys_dir / KEYRING_FILE} already exists; refusing to overwrite")
    try:
        created = init_keys(keys_dir)
        if keyring_file:
            Keyring.create(keys_dir / KEYRING_FILE)
    except KeyFileError as error:
        raise StoreError(str(error)) from None
    except FileExistsError:
        raise StoreError(f"keyring in {keys_dir} already exists") from None
    if keyring_file:
        created.append(keys_dir / KEYRING_FILE)
    return created


def _init_postgres(location: StoreLocation, target: PostgresTarget) -> list[Path]:
    from adapters import postgres

    if location.keys_dir is None:
        raise StoreError(f"store {location.describe()} has no key folder")
    resolved = postgres.prepare_schema(target)  # refuses a schema with miljo tables
    created = _create_keys(location.keys_dir, keyring_file=False)
    postgres.create_keyring_tables(resolved)  # the keyring is in the schema (ADR 0015)
    app = _application(location, resolved, create_tables=True)
    try:
        _postgres_views(app, location, resolved).close()
    finally:
        app.close()
    postgres.write_fingerprints(resolved, key_fingerprints(location.keys_dir))
    return created


def create_owner_only(db_path: Path) -> None:
    """Create the empty file of a new SQLite store, readable by its owner only, before SQLite
    opens it: SQLite gives the WAL and shared-memory files the database file's permissions,
    and an empty file is a new database. Refuses an existing file."""
    os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def init_store(location: StoreLocation) -> list[Path]:
    """Create the store's folder (or PostgreSQL schema), key files and empty tables.
    Refuses to overwrite."""
    if location.postgres is not None and location.keys_dir is not None:
        return _init_postgres(location, location.postgres)
    if location.db_path is None or location.keys_dir is None:
        raise StoreError("an in-memory store needs no initialisation")
    if location.db_path.exists():
        raise StoreError(f"store {location.db_path} already exists; refusing to overwrite")
    location.db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = _create_keys(location.keys_dir)
    create_owner_only(location.db_path)
    app = _application(location)
    try:
        SQLiteViewStore(app, location.db_path).close()
    finally:
        app.close()
    with contextlib.closing(sqlite3.connect(location.db_path)) as db, db:
        db.execute(
            f"CREATE TABLE {FINGERPRINT_TABLE} (name TEXT PRIMARY KEY, fingerprint BLOB NOT NULL)"
        )
        db.executemany(
            f"INSERT INTO {FINGERPRINT_TABLE} VALUES (?, ?)",  # noqa: S608 - a constant
            list(key_fingerprints(location.keys_dir).items()),
        )
    return created


PROTECTION: Final = {
    "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
    "MAPPER_TOPIC": "adapters.protection:MiljoMapper",
    "CIPHER_TOPIC": "adapters.protection:MiljoCipher",
}


#: Library settings for a PostgreSQL store (pool per process: 2 kept open, up to 10).
POSTGRES_SETTINGS: Final = {
    "PERSISTENCE_MODULE": "adapters.postgres:MiljoPostgresFactory",
    "POSTGRES_POOL_SIZE": "2",
    "POSTGRES_MAX_OVERFLOW": "8",
    "POSTGRES_CONNECT_TIMEOUT": "30",
    "POSTGRES_LOCK_TIMEOUT": "10",
}


def _postgres_env(
    location: StoreLocation, target: PostgresTarget, *, create_tables: bool
) -> dict[str, str]:
    return {
        **POSTGRES_SETTINGS,
        "POSTGRES_HOST": target.host,
        "POSTGRES_PORT": str(target.port),
        "POSTGRES_DBNAME": target.dbname,
        "POSTGRES_USER": target.user,
        "POSTGRES_PASSWORD": target.password or "",
        "POSTGRES_SCHEMA": target.schema,
        # Opening never runs DDL (several processes may open at once; the runtime role
        # needs no CREATE privilege); ``store init`` creates everything.
        "CREATE_TABLE": "yes" if create_tables else "no",
        ENV_KEYS_DIR: str(location.keys_dir or ""),
        **PROTECTION,
    }


def _env(location: StoreLocation) -> dict[str, str]:
    if location.db_path is None or location.keys_dir is None:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            ENV_EPHEMERAL: "y",
            **PROTECTION,
        }
    return {
        "PERSISTENCE_MODULE": "adapters.chain:MiljoSQLiteFactory",
        "SQLITE_DBNAME": str(location.db_path),
        "SQLITE_LOCK_TIMEOUT": "10",
        ENV_KEYS_DIR: str(location.keys_dir),
        **PROTECTION,
    }


def _application(
    location: StoreLocation,
    target: PostgresTarget | None = None,
    *,
    create_tables: bool = False,
) -> MiljoApplication:
    env = {
        "AGGREGATE_CACHE_MAXSIZE": str(DEFAULT_CACHE_SIZE),
        **(
            _env(location)
            if target is None
            else _postgres_env(location, target, create_tables=create_tables)
        ),
    }
    try:
        app = MiljoApplication(env=env)
        app.repository.write_watch = _write_watch(app)
        app.repository.stream_reader = _stream_reader(app)
        cipher = app.mapper.cipher
        if isinstance(cipher, MiljoCipher):
            # One check for another process's erasure per facade call (ADR 0013, addendum).
            app.repository.scope_hooks.append(cipher.keyring)
        return app
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {location.describe()} cannot be opened: {error}") from None
    except (ProtectionError, KeyFileError) as error:
        raise StoreError(f"store {location.describe()}: {error}") from None
    except Exception as error:
        # The library wraps sqlite3 and psycopg errors in its own PEP 249 hierarchy.
        if type(error).__module__.startswith(("eventsourcing", "psycopg")):
            raise StoreError(f"store {location.describe()} cannot be opened: {error}") from None
        raise


def _write_watch(app: MiljoApplication) -> WriteWatch | None:
    """How the repository learns that someone else wrote (docs/adr/0013). PostgreSQL has
    none: its cached aggregates are fast-forwarded with a SELECT on every load."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteWriteWatch(recorder.datastore)
    if isinstance(recorder, POPOApplicationRecorder):
        return SingleWriterWatch()
    return None


def _stream_reader(app: MiljoApplication) -> StreamReader | None:
    """Snapshot and events of a load in one read (SQLite: one transaction; PostgreSQL: one
    statement; docs/adr/0013, addenda). In-memory stores keep the library's reads."""
    snapshots = app.snapshots.recorder if app.snapshots is not None else None
    events = app.recorder
    if (
        isinstance(snapshots, SQLiteAggregateRecorder)
        and isinstance(events, SQLiteAggregateRecorder)
        and SQLiteStreamReader.fits(snapshots, events)
    ):
        return SQLiteStreamReader(snapshots, events)
    if "adapters.postgres" in sys.modules:  # a PostgreSQL store's factory imported it
        from eventsourcing.postgres import PostgresAggregateRecorder

        from adapters.postgres import PostgresStreamReader

        if (
            isinstance(snapshots, PostgresAggregateRecorder)
            and isinstance(events, PostgresAggregateRecorder)
            and PostgresStreamReader.fits(snapshots, events)
        ):
            return PostgresStreamReader(snapshots, events)
    return None


def _postgres_views(
    app: MiljoApplication, location: StoreLocation, target: PostgresTarget
) -> PostgresViewStore:
    from adapters.postgres import PostgresViewStore

    try:
        return PostgresViewStore(app, target)
    except ViewError as error:
        raise StoreError(f"store {location.describe()}: {error}") from None


def _check_sqlite_file(path: Path) -> None:
    if not path.exists():
        raise StoreError(f"store {path} does not exist; create it with 'miljo store init'")
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise StoreError(f"store {path} cannot be read: {error.strerror}") from None
    if header != b"SQLite format 3\x00":
        raise StoreError(f"store {path} is not a miljo store (not an SQLite database)")


def _check_miljo_tables(path: Path, keys_dir: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if not tables >= MILJO_TABLES:
                raise StoreError(f"store {path} is not a miljo store (its tables are missing)")
            stored = {
                str(name): bytes(value)
                for name, value in db.execute(
                    f"SELECT name, fingerprint FROM {FINGERPRINT_TABLE}"  # noqa: S608 - a constant
                )
            }
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {path} cannot be opened: {error}") from None
    try:
        check_fingerprints(stored, keys_dir)
    except KeyFileError as error:
        raise StoreError(str(error)) from None


def open_store(
    store: str | os.PathLike[str] | StoreLocation | None = None,
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    hasher: KeyedHasher | None = None,
    legal: LegalReferences | None = None,
) -> Miljo:
    """Open an existing store (or a fresh in-memory one for ``":memory:"``)."""
    location = store if isinstance(store, StoreLocation) else resolve_store(store)
    if location.postgres is not None:
        return _open_postgres(
            location, location.postgres, clock=clock, ids=ids, hasher=hasher, legal=legal
        )
    if location.db_path is not None and location.keys_dir is not None:
        _check_sqlite_file(location.db_path)
        if hasher is None:
            try:
                hasher = HmacHasher(read_key(location.keys_dir, INDEX_KEY))
            except KeyFileError as error:
                raise StoreError(str(error)) from None
        _check_miljo_tables(location.db_path, location.keys_dir)
    elif hasher is None:
        # An in-memory store lives and dies with the process: a process-local random key.
        hasher = HmacHasher(os.urandom(32))
    app = _application(location)
    try:
        app.recorder.max_notification_id()
    except Exception as error:
        app.close()
        raise StoreError(f"store {location.describe()} cannot be read: {error}") from None
    try:
        views = SQLiteViewStore(app, location.db_path)
    except ViewError as error:
        app.close()
        raise StoreError(f"store {location.describe()}: {error}") from None
    app.snapshot_pruner = SnapshotPruner(app)
    return Miljo(
        app,
        views=views,
        protection=StoreProtection(app),
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        hasher=hasher,
        legal=legal or LegalReferences.default(),
    )


def _open_postgres(
    location: StoreLocation,
    target: PostgresTarget,
    *,
    clock: Clock | None,
    ids: IdFactory | None,
    hasher: KeyedHasher | None,
    legal: LegalReferences | None,
) -> Miljo:
    from adapters import postgres

    if location.keys_dir is None:
        raise StoreError(f"store {location.describe()} has no key folder")
    resolved = postgres.check_store(target)  # reachable, password right, miljo tables present
    try:
        check_fingerprints(postgres.read_fingerprints(resolved), location.keys_dir)
    except KeyFileError as error:
        raise StoreError(str(error)) from None
    if hasher is None:
        try:
            hasher = HmacHasher(read_key(location.keys_dir, INDEX_KEY))
        except KeyFileError as error:
            raise StoreError(str(error)) from None
    # The keyring tables exist (a keyring file of an older store is moved into them first).
    postgres.ensure_keyring(resolved, location.keys_dir)
    app = _application(location, resolved)
    views: ViewStore
    protection: Protection
    try:
        app.recorder.max_notification_id()
        views = _postgres_views(app, location, resolved)
        protection = postgres.PostgresStoreProtection(app)
        app.snapshot_pruner = postgres.PostgresSnapshotPruner(app)
    except StoreError:
        app.close()
        raise
    except Exception as error:
        app.close()
        raise StoreError(f"store {location.describe()} cannot be read: {error}") from None
    return Miljo(
        app,
        views=views,
        protection=protection,
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        hasher=hasher,
        legal=legal or LegalReferences.default(),
    )
