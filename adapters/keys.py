"""Key files kept beside the store, never inside it.

A store ``miljo.sqlite`` keeps its keys in the folder ``miljo.keys/`` next to it, each key in
its own file with owner-only permissions (0600). ``init_keys`` creates them and refuses to
overwrite; a missing or malformed key file is a clear error, never a silently new key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32
INDEX_KEY = "index.key"  # keyed hash of natural keys (school + student number)
PAYLOAD_KEY = "payload.key"  # AES-GCM around every stored event and snapshot
MASTER_KEY = "master.key"  # wraps the per-student data keys in the keyring
SEALING_KEY = "sealing.key"  # HMAC of the tamper-evident chain
ALL_KEYS = (INDEX_KEY, PAYLOAD_KEY, MASTER_KEY, SEALING_KEY)


class KeyFileError(Exception):
    """A key file is missing, unreadable, malformed or would be overwritten."""


def _write_key(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")


def init_keys(keys_dir: Path) -> list[Path]:
    """Create every key file in ``keys_dir``; refuse if any already exists."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = [keys_dir / name for name in ALL_KEYS if (keys_dir / name).exists()]
    if existing:
        raise KeyFileError(f"refusing to overwrite existing key file {existing[0]}")
    created = []
    for name in ALL_KEYS:
        _write_key(keys_dir / name, secrets.token_bytes(KEY_BYTES))
        created.append(keys_dir / name)
    return created


def read_key(keys_dir: Path, name: str) -> bytes:
    path = keys_dir / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} is missing") from None
    except OSError as error:
        raise KeyFileError(f"key file {path} cannot be read: {error.strerror}") from None
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file {path} is malformed") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"key file {path} is malformed (expected {KEY_BYTES} bytes)")
    return key


class HmacHasher:
    """HMAC-SHA256 under the store's index key (implements domain.ports.KeyedHasher)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("index key too short")
        self._key = key

    def digest(self, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacHasher(<key hidden>)"


FINGERPRINT_LABEL = b"miljo key fingerprint v1"
FINGERPRINT_TABLE = "miljo_keys"


def fingerprint(key: bytes) -> bytes:
    """An HMAC of a fixed label under the key: it tells keys apart and reveals nothing."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).digest()


def key_fingerprints(keys_dir: Path) -> dict[str, bytes]:
    """The fingerprint of every key file of a store."""
    return {name: fingerprint(read_key(keys_dir, name)) for name in ALL_KEYS}


def check_fingerprints(stored: dict[str, bytes], keys_dir: Path) -> None:
    """Refuse key files that do not belong to the store (their fingerprints were stored in
    the store when it was made): a wrong key would write data that the right key cannot
    read, register a student number twice, or break the chain."""
    if not stored:
        raise KeyFileError("the store records no key fingerprints (not made by 'miljo store init')")
    for name in ALL_KEYS:
        if not (keys_dir / name).exists():
            continue  # a missing key is reported where it is needed ("... is missing")
        expected = stored.get(name)
        if expected is None or not hmac.compare_digest(
            expected, fingerprint(read_key(keys_dir, name))
        ):
            raise KeyFileError(f"key file {keys_dir / name} does not belong to this store")
