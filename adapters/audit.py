"""Auditing a store without reading it: verify the hash chain, export events and chain.

Both work with the sealing key alone: payloads stay encrypted. The export format is
documented in docs/audit-export.md and verified independently by tools/verify_export.py.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

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

EXPORT_FORMAT: Final = "miljo-audit-export"
EXPORT_VERSION: Final = 1

Progress = Callable[[int, int], None]


@attrs.frozen
class ExportSummary:
    events: int
    head_position: int
    head_link: str


@contextlib.contextmanager
def _open(location: StoreLocation) -> Iterator[tuple[sqlite3.Connection, bytes]]:
    if location.db_path is None or location.keys_dir is None:
        raise StoreError("an in-memory store has no hash chain to verify or export")
    if not location.db_path.exists():
        raise StoreError(f"store {location.db_path} does not exist")
    try:
        key = read_key(location.keys_dir, SEALING_KEY)
    except KeyFileError as error:
        raise StoreError(str(error)) from None
    try:
        db = sqlite3.connect(f"file:{location.db_path}?mode=ro", uri=True)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise StoreError(f"store {location.db_path} cannot be read: {error}") from None
    if not {"stored_events", "miljo_chain"} <= tables:
        db.close()
        raise StoreError(f"store {location.db_path} has no hash chain (not a miljo store)")
    try:
        yield db, key
    finally:
        db.close()


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def verify_store(location: StoreLocation, progress: Progress | None = None) -> VerifyResult:
    """Recompute the chain over every stored event; report the first position that fails."""
    with _open(location) as (db, key):
        total = _count(db)
        try:
            return verify_rows(
                key,
                sqlite_chain_rows(db),
                sqlite_orphan_links(db),
                progress=None if progress is None else (lambda done: progress(done, total)),
            )
        except sqlite3.DatabaseError as error:
            raise StoreError(f"store {location.db_path} cannot be read: {error}") from None


def _line(record: dict[str, object]) -> bytes:
    return orjson.dumps(record) + b"\n"


def write_export(
    location: StoreLocation, out: IO[bytes], progress: Progress | None = None
) -> ExportSummary:
    """Write the documented JSON Lines export: a header, one line per stored event (its
    encrypted payload and its chain link), and the chain head."""
    with _open(location) as (db, _key):
        total = _count(db)
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
        for row in sqlite_chain_rows(db):
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
