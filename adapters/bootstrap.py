"""The composition root: the one place where miljo is wired together.

Both the CLI and embedding programs call :func:`open_store`::

    from adapters.bootstrap import open_store
    miljo = open_store("/var/lib/miljo/gjesdal.sqlite")

It resolves where the store and its keys live, chooses the persistence module and transcoder,
and hands the domain its clock, id factory and keyed hasher.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Final

import attrs

from adapters.keys import INDEX_KEY, HmacHasher, KeyFileError, init_keys, read_key
from adapters.protection import (
    ENV_EPHEMERAL,
    ENV_KEYS_DIR,
    KEYRING_FILE,
    Keyring,
    ProtectionError,
    StoreProtection,
)
from adapters.system import RandomIds, SystemClock
from adapters.views import SQLiteViewStore, ViewError
from domain.application import MiljoApplication
from domain.facade import Miljo
from domain.legal import LegalReferences
from domain.ports import Clock, IdFactory, KeyedHasher

MEMORY: Final = ":memory:"
STORE_FILE: Final = "miljo.sqlite"
TRANSCODER_TOPIC: Final = "adapters.transcoder:OrjsonTranscoder"
#: Tables every initialised store has (the library's events and miljo's view tracking).
MILJO_TABLES: Final = frozenset({"stored_events", "view_meta"})


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
class StoreLocation:
    """Where a store's events and keys live. ``db_path`` is None for an in-memory store."""

    db_path: Path | None
    keys_dir: Path | None

    @property
    def is_memory(self) -> bool:
        return self.db_path is None

    def describe(self) -> str:
        return MEMORY if self.db_path is None else str(self.db_path)


def resolve_store(store: str | os.PathLike[str] | None = None) -> StoreLocation:
    """Resolve ``--store``/``MILJO_STORE``/the default into a :class:`StoreLocation`."""
    chosen = os.fspath(store) if store is not None else os.environ.get("MILJO_STORE") or None
    if chosen == MEMORY:
        return StoreLocation(db_path=None, keys_dir=None)
    db_path = Path(chosen).expanduser() if chosen else default_home() / STORE_FILE
    db_path = db_path.absolute()
    return StoreLocation(db_path=db_path, keys_dir=db_path.with_suffix(".keys"))


def init_store(location: StoreLocation) -> list[Path]:
    """Create the store's folder, key files and empty tables. Refuses to overwrite."""
    if location.db_path is None or location.keys_dir is None:
        raise StoreError("an in-memory store needs no initialisation")
    if location.db_path.exists():
        raise StoreError(f"store {location.db_path} already exists; refusing to overwrite")
    location.db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        created = init_keys(location.keys_dir)
        Keyring.create(location.keys_dir / KEYRING_FILE)
    except KeyFileError as error:
        raise StoreError(str(error)) from None
    except FileExistsError:
        raise StoreError(f"keyring in {location.keys_dir} already exists") from None
    created.append(location.keys_dir / KEYRING_FILE)
    app = _application(location)
    try:
        SQLiteViewStore(app, location.db_path).close()
    finally:
        app.close()
    return created


PROTECTION: Final = {
    "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
    "MAPPER_TOPIC": "adapters.protection:MiljoMapper",
    "CIPHER_TOPIC": "adapters.protection:MiljoCipher",
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


def _application(location: StoreLocation) -> MiljoApplication:
    try:
        return MiljoApplication(env=_env(location))
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {location.describe()} cannot be opened: {error}") from None
    except (ProtectionError, KeyFileError) as error:
        raise StoreError(f"store {location.describe()}: {error}") from None
    except Exception as error:
        # The library wraps sqlite3 errors in its own PEP 249 hierarchy.
        if type(error).__module__.startswith("eventsourcing"):
            raise StoreError(f"store {location.describe()} cannot be opened: {error}") from None
        raise


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


def _check_miljo_tables(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {path} cannot be opened: {error}") from None
    if not tables >= MILJO_TABLES:
        raise StoreError(f"store {path} is not a miljo store (its tables are missing)")


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
    if location.db_path is not None and location.keys_dir is not None:
        _check_sqlite_file(location.db_path)
        if hasher is None:
            try:
                hasher = HmacHasher(read_key(location.keys_dir, INDEX_KEY))
            except KeyFileError as error:
                raise StoreError(str(error)) from None
        _check_miljo_tables(location.db_path)
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
    return Miljo(
        app,
        views=views,
        protection=StoreProtection(app),
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        hasher=hasher,
        legal=legal or LegalReferences.default(),
    )
