"""Ports: what the domain needs from the outside world, as Protocols.

Adapters implement them; the composition root (``adapters.bootstrap``) wires them in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
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


class ViewReader(Protocol):
    """Read access to the projected tables (see domain.projection.TABLES).

    Rows are dicts of column -> value (text, integers or None). Implementations catch up
    with the event store before answering (read-your-writes).
    """

    def select(self, table: str, where: Mapping[str, object]) -> list[dict[str, Any]]:
        """Rows of ``table`` whose columns equal ``where`` (indexed columns only)."""
        ...

    def select_in_force(
        self, table: str, where: Mapping[str, object], *, on: str
    ) -> list[dict[str, Any]]:
        """Rows of ``select(table, where)`` whose ``valid_from`` is at most ``on`` (an ISO
        date) and whose ``valid_to`` is null or at least ``on``."""
        ...

    def latest(
        self, table: str, where: Mapping[str, object], column: str, *, before: str | None = None
    ) -> Any:
        """The greatest non-null ``column`` among the rows of ``select(table, where)``, only
        among values below ``before`` if given (ISO text compares in time order)."""
        ...

    def select_range(
        self,
        table: str,
        where: Mapping[str, object],
        column: str,
        *,
        after: str | None,
        before: str | None,
    ) -> list[dict[str, Any]]:
        """Rows of ``select(table, where)`` whose ``column`` is above ``after`` and below
        ``before`` (each if given; an indexed column after the ``where`` columns: a range
        scan)."""
        ...

    def select_any(self, table: str, column: str, values: Collection[str]) -> list[dict[str, Any]]:
        """Rows of ``table`` whose ``column`` (an indexed one) equals any of ``values``, read
        at once (``[]`` for no values)."""
        ...

    def observation_counts(
        self,
        *,
        school: str,
        since: str | None,
        students: Collection[str],
        before: str | None = None,
    ) -> dict[str, int]:
        """Observations at the school recorded after ``since`` (ISO instant; None: all) and
        before ``before`` (None: no bound), of the students in ``students`` (their ids), by
        category. The caller passes the students
        it shows (active, of one trinn): the count reads the school's recent observations,
        never the student table, so its cost follows the school and the period."""
        ...

    def event_type_counts(
        self, *, school: str, since: str | None, before: str | None = None
    ) -> dict[str, int]:
        """Events at the school recorded after ``since`` (ISO instant) and before ``before``
        (None: no bound), by event type."""
        ...


class ViewStore(ViewReader, Protocol):
    """A ViewReader that the facade can bring up to date and rebuild."""

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int: ...

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int: ...

    def position(self) -> int: ...

    def history_rows(
        self, student_id: str, *, until: str | None = None
    ) -> list[dict[str, Any]]: ...

    def version_at(self, stream_id: str, until: str) -> int | None: ...

    def close(self) -> None: ...


class Protection(Protocol):
    """Key management the domain asks for (implemented over the keyring and the stores)."""

    def erase_subject(self, student_id: UUID) -> int:
        """Delete the student's erasable data keys; returns how many keys were deleted."""
        ...

    def purge_snapshots(self, stream_ids: Sequence[UUID]) -> int:
        """Delete cached snapshots of these streams (they may hold erased personal data)."""
        ...


@runtime_checkable
class CountsEvents(Protocol):
    """A recorder whose positions can have gaps, and which counts its stored events."""

    def count_events(self) -> int: ...
