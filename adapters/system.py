"""Production implementations of the domain's clock and id ports."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Random (version 4) uuids: ids carry no information about the person."""

    def new_id(self) -> UUID:
        return uuid4()
