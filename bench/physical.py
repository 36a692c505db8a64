"""Physical limits on this machine: raw SQLite, orjson and AES-GCM, without any library."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.common import SQLITE, Row, median, rate, say, timed

ROW_BYTES: Final = 300
PAYLOAD_BYTES: Final = 400
NONCE: Final = 12


@attrs.frozen
class PhysicalConfig:
    bulk_rows: int  # rows in one transaction
    wal_rows: int  # 1-row transactions
    codec_items: int  # orjson dicts and AES-GCM payloads
    repeats: int  # of the SQLite measurements
    codec_repeats: int  # of the orjson and AES-GCM measurements


QUICK: Final = PhysicalConfig(
    bulk_rows=200_000, wal_rows=200, codec_items=50_000, repeats=1, codec_repeats=3
)
FULL: Final = PhysicalConfig(
    bulk_rows=200_000, wal_rows=1_000, codec_items=200_000, repeats=3, codec_repeats=5
)

SCHEMA: Final = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, originator_id BLOB NOT NULL, "
    "version INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL)"
)


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        yield db
    finally:
        db.close()


def event_rows(count: int, rng: random.Random) -> list[tuple[bytes, int, str, bytes]]:
    stream = rng.randbytes(16)
    return [
        (stream, n, "miljo:Student.ObservationRecorded", rng.randbytes(ROW_BYTES))
        for n in range(count)
    ]


def bulk_insert(path: Path, rows: list[tuple[bytes, int, str, bytes]]) -> tuple[float, float]:
    """Seconds to insert ``rows`` in one transaction, and to read them all back."""
    with connect(path) as db:

        def insert() -> None:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO events (originator_id, version, topic, state) VALUES (?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")

        def read() -> None:
            for _ in db.execute("SELECT id, originator_id, version, topic, state FROM events"):
                pass

        return timed(insert), timed(read)


def wal_single(path: Path, rows: list[tuple[bytes, int, str, bytes]]) -> float:
    """Seconds for one transaction per row (WAL mode, default synchronous)."""
    with connect(path) as db:

        def run() -> None:
            for row in rows:
                db.execute("BEGIN")
                db.execute(
                    "INSERT INTO events (originator_id, version, topic, state) VALUES (?, ?, ?, ?)",
                    row,
                )
                db.execute("COMMIT")

        return timed(run)


def event_dicts(count: int, rng: random.Random) -> list[dict[str, Any]]:
    text = "Eleven satt alene i matpausen og ville ikke være med på aktiviteten etterpå."
    return [
        {
            "originator_id": f"{rng.getrandbits(128):032x}",
            "originator_version": n,
            "timestamp": "2031-03-04T09:15:00.100000+00:00",
            "actor_id": "gjesdal.mt01",
            "actor_role": "miljokoordinator",
            "observation_id": f"{rng.getrandbits(128):032x}",
            "arena": "break",
            "categories": ["social", "wellbeing"],
            "text": text,
            "observed_at": "2031-03-04T08:40:00+00:00",
        }
        for n in range(count)
    ]


def run_physical(work: Path, config: PhysicalConfig) -> list[Row]:
    rng = random.Random(7)
    work.mkdir(parents=True, exist_ok=True)
    rows = event_rows(config.bulk_rows, rng)
    say(f"  physical: sqlite3 insert of {config.bulk_rows:,} rows in one transaction")
    inserts, reads = [], []
    for n in range(config.repeats):
        insert_s, read_s = bulk_insert(work / f"bulk{n}.sqlite", rows)
        inserts.append(insert_s)
        reads.append(read_s)
    say(f"  physical: {config.wal_rows} one-row transactions (WAL)")
    wal = median(
        [wal_single(work / "wal.sqlite", rows[: config.wal_rows]) for _ in range(config.repeats)]
    )

    say(f"  physical: orjson and AES-GCM over {config.codec_items:,} items")
    dicts = event_dicts(config.codec_items, rng)
    encoded: list[bytes] = []

    def encode() -> None:
        encoded[:] = [orjson.dumps(d) for d in dicts]

    def decode() -> None:
        for blob in encoded:
            orjson.loads(blob)

    encode_s = median([timed(encode) for _ in range(config.codec_repeats)])
    decode_s = median([timed(decode) for _ in range(config.codec_repeats)])
    average = sum(len(b) for b in encoded) // max(1, len(encoded))

    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    plain = [rng.randbytes(PAYLOAD_BYTES) for _ in range(config.codec_items)]
    sealed: list[bytes] = []

    def encrypt() -> None:
        sealed[:] = []
        for data in plain:
            nonce = os.urandom(NONCE)
            sealed.append(nonce + cipher.encrypt(nonce, data, None))

    def decrypt() -> None:
        for blob in sealed:
            cipher.decrypt(blob[:NONCE], blob[NONCE:], None)

    encrypt_s = median([timed(encrypt) for _ in range(config.codec_repeats)])
    decrypt_s = median([timed(decrypt) for _ in range(config.codec_repeats)])
    n_codec = config.codec_items
    return [
        Row(
            "physical.insert",
            "physical",
            f"sqlite3 insert, {config.bulk_rows:,} rows in one transaction",
            "",
            rate(config.bulk_rows, median(inserts)),
            "rows/s",
            note=f"{ROW_BYTES}-byte rows",
            backend=SQLITE,
        ),
        Row(
            "physical.read",
            "physical",
            "sqlite3 read-back of those rows",
            "",
            rate(config.bulk_rows, median(reads)),
            "rows/s",
            backend=SQLITE,
        ),
        Row(
            "physical.wal1",
            "physical",
            "sqlite3 1-row transactions (WAL)",
            "",
            rate(config.wal_rows, wal),
            "rows/s",
            note=f"{config.wal_rows} transactions",
            backend=SQLITE,
        ),
        Row(
            "physical.orjson.encode",
            "physical",
            "orjson encode, event-like dicts",
            "",
            rate(n_codec, encode_s),
            "items/s",
            note=f"{average} bytes each",
        ),
        Row(
            "physical.orjson.decode",
            "physical",
            "orjson decode, event-like dicts",
            "",
            rate(n_codec, decode_s),
            "items/s",
        ),
        Row(
            "physical.aes.encrypt",
            "physical",
            "AES-GCM encrypt, 400-byte payloads",
            "",
            rate(n_codec, encrypt_s),
            "items/s",
            note="256-bit key, random nonce",
        ),
        Row(
            "physical.aes.decrypt",
            "physical",
            "AES-GCM decrypt, 400-byte payloads",
            "",
            rate(n_codec, decrypt_s),
            "items/s",
        ),
    ]
