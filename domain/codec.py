"""How domain values are written into stored events and snapshots.

Transcoding names are persisted: never rename one. Each attrs value class that may appear in
aggregate state (snapshots) is registered under ``miljo.<ClassName>``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs
from eventsourcing.persistence import JSONTranscoder, Transcoding


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class AttrsAsDict(Transcoding):
    """Writes an attrs value object as a dict of its fields (shallow; nested values are
    transcoded by the transcoder in turn) and rebuilds it through its constructor."""

    def __init__(self, cls: type[Any], name: str) -> None:
        if not attrs.has(cls):
            raise TypeError(f"{cls!r} is not an attrs class")
        self.type = cls
        self.name = name
        self._fields = tuple(a.name for a in attrs.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


def register_value_types(transcoder: JSONTranscoder, value_types: tuple[type[Any], ...]) -> None:
    transcoder.register(DateAsISO())
    for cls in value_types:
        transcoder.register(AttrsAsDict(cls, f"miljo.{cls.__name__}"))
