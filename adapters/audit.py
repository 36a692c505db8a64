"""Auditing a store without reading it: verify the hash chain and the stored snapshots,
export events and chain.

Both work with the sealing key alone: payloads stay encrypted. Verify also checks that every
stored snapshot is bound to its row (docs/adr/0022-snapshots-bound-to-their-row.md): a
snapshot moved, copied or swapped to another stream or version, or changed, is named. The
export format is documented in docs/audit-export.md and verified independently by
tools/verify_export.py. They work on SQLite and PostgreSQL stores alike (the PostgreSQL
reads run in one read-only, repeatable-read transaction, so a store in use is audited as of
one instant).
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final, Protocol

import attrs
import orjson

from adapters.bootstrap import StoreError, StoreLocation
from adapters.chain import (
    GENESIS,
    ChainRow,
    VerifyResult,
    sqlite_chain_rows,
    sqlite_orphan_links,
    verify_rows,
)
from adapters.keys import SEALING_KEY, KeyFileError, read_key
from adapters.protection import SNAPSHOT_BOUND, SNAPSHOT_UNBOUND, check_snapshot

EXPORT_FORMAT: Final = "miljo-audit-export"
EXPORT_VERSION: Final = 1

Progress = Callable[[int, int], None]


@attrs.frozen
class ExportSummary:
    events: int
    head_position: int
    head_link: str


@attrs.frozen
class StoreVerifyResult(VerifyResult):
    """The chain's result, plus the stored snapshots' check. ``ok`` needs both."""

    #: Snapshots bound to their row and intact.
    snapshots_checked: int = 0
    #: Snapshots written before snapshots were bound (format 1): never loaded, so they
    #: cannot alter what miljo shows, and they cannot be checked either.
    snapshots_unbound: int = 0
    #: Snapshots that fail the check; the first is described in ``snapshot_failure``.
    snapshots_failed: int = 0
    #: "snapshot of stream <id> at version <n>: <what is wrong>" (ids carry no personal data).
    snapshot_failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_failure is None and self.snapshot_failure is None


class ChainSource(Protocol):
    """A store's stored events with their chain links, and its stored snapshots (SQLite
    or PostgreSQL)."""

    def count(self) -> int: ...

    def rows(self) -> Iterator[ChainRow]: ...

    def orphans(self) -> list[int]: ...

    def snapshots(self) -> Iterator[tuple[str, int, str, bytes]]:
        """(originator id, version, topic, state) of every stored snapshot, in key order."""
        ...


class _SQLiteChain:
    def __init__(self, db: sqlite3.Connection, location: StoreLocation) -> None:
        self.db = db
        self.location = location

    def _failed(self, error: sqlite3.DatabaseError) -> StoreError:
        return StoreError(f"store {self.location.describe()} cannot be read: {error}")

    def count(self) -> int:
        try:
            return int(self.db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise self._failed(error) from None

    def rows(self) -> Iterator[ChainRow]:
        try:
            yield from sqlite_chain_rows(self.db)
        except sqlite3.DatabaseError as error:
            raise self._failed(error) from None

    def orphans(self) -> list[int]:
        try:
            return sqlite_orphan_links(self.db)
        except sqlite3.DatabaseError as error:
            raise self._failed(error) from None

    def snapshots(self) -> Iterator[tuple[str, int, str, bytes]]:
        try:
            exists = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stored_snapshots'"
            ).fetchone()
            if exists is None:
                return
            # One row at a time: a snapshot can be several MB.
            for r in self.db.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_snapshots "
                "ORDER BY originator_id, originator_version"
            ):
                yield str(r[0]), int(r[1]), str(r[2]), bytes(r[3])
        except sqlite3.DatabaseError as error:
            raise self._failed(error) from None


def _sealing_key(location: StoreLocation) -> bytes:
    if location.keys_dir is None:
        raise StoreError(f"store {location.describe()} has no key folder")
    try:
        return read_key(location.keys_dir, SEALING_KEY)
    except KeyFileError as error:
        raise StoreError(str(error)) from None


@contextlib.contextmanager
def _open(location: StoreLocation) -> Iterator[tuple[ChainSource, bytes]]:
    if location.postgres is not None:
        from adapters.postgres import open_chain

        key = _sealing_key(location)
        with open_chain(location.postgres) as chain:
            yield chain, key
        return
    if location.db_path is None or location.keys_dir is None:
        raise StoreError("an in-memory store has no hash chain to verify or export")
    if not location.db_path.exists():
        raise StoreError(f"store {location.db_path} does not exist")
    key = _sealing_key(location)
    try:
        db = sqlite3.connect(f"file:{location.db_path}?mode=ro", uri=True)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {location.db_path} cannot be read: {error}") from None
    if not {"stored_events", "miljo_chain"} <= tables:
        db.close()
        raise StoreError(f"store {location.db_path} has no hash chain (not a miljo store)")
    try:
        yield _SQLiteChain(db, location), key
    finally:
        db.close()


def verify_store(location: StoreLocation, progress: Progress | None = None) -> StoreVerifyResult:
    """Recompute the chain over every stored event and report the first position that
    fails; then check that every stored snapshot is bound to its row, and name the first
    one that is not. All in one read of the store."""
    with _open(location) as (chain, key):
        total = chain.count()
        result = verify_rows(
            key,
            chain.rows(),
            chain.orphans(),
            progress=None if progress is None else (lambda done: progress(done, total)),
        )
        checked = unbound = failed = 0
        failure: str | None = None
        for originator_id, version, topic, state in chain.snapshots():
            found = check_snapshot(key, originator_id, version, topic, state)
            if found == SNAPSHOT_BOUND:
                checked += 1
            elif found == SNAPSHOT_UNBOUND:
                unbound += 1
            else:
                failed += 1
                if failure is None:
                    failure = f"snapshot of stream {originator_id} at version {version}: {found}"
    return StoreVerifyResult(
        result.checked,
        result.head_position,
        result.head_link,
        result.first_failure,
        result.reason,
        snapshots_checked=checked,
        snapshots_unbound=unbound,
        snapshots_failed=failed,
        snapshot_failure=failure,
    )


def _line(record: dict[str, object]) -> bytes:
    return orjson.dumps(record) + b"\n"


def write_export(
    location: StoreLocation, out: IO[bytes], progress: Progress | None = None
) -> ExportSummary:
    """Write the documented JSON Lines export: a header, one line per stored event (its
    encrypted payload and its chain link), and the chain head."""
    with _open(location) as (chain, _key):
        total = chain.count()
        out.write(
            _line(
                {
                    "format": EXPORT_FORMAT,
                    "version": EXPORT_VERSION,
                    "chain": "HMAC-SHA256, see docs/audit-export.md",
                    "events": total,
                }
            )
        )
        head_position, head_link, written = 0, GENESIS, 0
        row: ChainRow
        for row in chain.rows():
            out.write(
                _line(
                    {
                        "position": row.position,
                        "originator_id": row.originator_id,
                        "version": row.version,
                        "topic": row.topic,
                        "state": base64.b64encode(row.state).decode(),
                        "link": row.link.hex() if row.link is not None else None,
                    }
                )
            )
            written += 1
            if row.link is not None:
                head_position, head_link = row.position, row.link
            if progress is not None:
                progress(written, total)
        out.write(_line({"head_position": head_position, "head_link": head_link.hex()}))
        return ExportSummary(written, head_position, head_link.hex())


def export_store(
    location: StoreLocation, path: Path, progress: Progress | None = None
) -> ExportSummary:
    """Export to a new file (refuses to overwrite one)."""
    try:
        out = path.open("xb")
    except FileExistsError:
        raise StoreError(f"{path} already exists; refusing to overwrite") from None
    try:
        with out:
            return write_export(location, out, progress)
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a partial export behind
        raise
