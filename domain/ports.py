"""Ports: what the domain needs from the outside world, as Protocols.

Adapters implement them; the composition root (``adapters.bootstrap``) wires them in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    """Where "now" comes from. Must return an aware UTC datetime."""

    def now(self) -> datetime: ...


class IdFactory(Protocol):
    """Where new ids come from (random uuid4 in production, deterministic in tests/demo)."""

    def new_id(self) -> UUID: ...


class KeyedHasher(Protocol):
    """A keyed one-way hash (HMAC) of a natural key such as a student number.

    Lets the store find "school + student number" without holding the number in clear.
    """

    def digest(self, purpose: str, value: str) -> str: ...
