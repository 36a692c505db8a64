"""The view stores' read path: notifications to projectable events without the mapper's detours.

The read models hold ids, counts, minutes and dates only (ADR 0008), so a catch-up never
needs the personal fields an event class seals under a student's data key. This module reads
a page of notifications (straight from the SQLite events table when the views share its
file, else through the recorder), opens the payload with the store's own cipher, decodes it
with the store's transcoder, runs the event class's upcasters and builds the event object the
way the library's mapper does (``object.__new__`` plus ``__dict__``), but **without** its
personal fields: they are neither unsealed nor present. ``domain.projection.project`` then
runs unchanged on that object: there is one projection, fed by either path.

If the projection of an event class does read a personal field (an ``AttributeError`` naming
one of the class's ``PERSONAL_FIELDS``), the view store decodes that notification again
through the application's mapper, which unseals every field, and projects that event instead
(:meth:`EventReader.full`). The object path and this path therefore give identical rows, as
long as projections read fields as attributes (``getattr`` with a default would not notice a
missing field); tests/integration/test_fast_rebuild.py compares the two paths.

See docs/adr/0014-fast-view-rebuild.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from adapters.protection import MiljoCipher
from adapters.transcoder import uuid_from_hex
from domain.base import MiljoAggregate
from domain.projection import Op, SchoolOf, project


class _ClassInfo(NamedTuple):
    """What decoding an event of one class needs, found once per topic."""

    cls: type[MiljoAggregate.Event]
    class_version: int
    personal: tuple[str, ...]  # the fields left out (sealed fields of a protected store)


class NotificationRecord(Protocol):
    """What a view store reads of a notification (the library's ``Notification`` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


class StoredNotification(NamedTuple):
    """A notification read straight from the SQLite events table (cheaper to build than the
    library's frozen dataclass)."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def personal_field_missing(error: AttributeError, event: MiljoAggregate.Event) -> bool:
    """Whether ``error`` was raised reading a personal field left out of ``event``."""
    return error.obj is event and error.name in type(event).PERSONAL_FIELDS


class EventReader:
    """Decodes notifications of one application into projectable miljo events."""

    def __init__(
        self,
        app: Application[Any],
        db: sqlite3.Connection | None = None,
        db_path: Path | None = None,
    ) -> None:
        self.app = app
        mapper = app.mapper
        self._transcoder = mapper.transcoder
        self._compressor = mapper.compressor
        cipher = mapper.cipher
        # The store's own payload cipher (adapters.protection): opened here, never re-implemented.
        self._decrypt = cipher.decrypt if cipher is not None else None
        self._sealing = isinstance(cipher, MiljoCipher)
        self._classes: dict[str, _ClassInfo | None] = {}
        # Reading straight from the events table is possible when the view connection
        # (``db``, opened on ``db_path``) opens the recorder's SQLite file; otherwise (an
        # in-memory store, views in another file, another backend) the recorder reads.
        recorder = app.recorder
        self._db: sqlite3.Connection | None = None
        self._select = ""
        if (
            db is not None
            and db_path is not None
            and isinstance(recorder, SQLiteApplicationRecorder)
            and _main_file(recorder) == db_path.resolve()
        ):
            self._db = db
            self._select = (
                "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608 - library table name
                f"FROM {recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )

    # -- reading -------------------------------------------------------------------------------

    def page(self, after: int, limit: int) -> Sequence[NotificationRecord]:
        """Up to ``limit`` notifications after position ``after``, in order."""
        if self._db is None:
            return self.app.recorder.select_notifications(start=after + 1, limit=limit)
        cursor = self._db.cursor()
        cursor.row_factory = None  # plain tuples
        rows = cursor.execute(self._select, (after, limit)).fetchall()
        return [
            StoredNotification(row[0], uuid_from_hex(row[1]), row[2], row[3], row[4])
            for row in rows
        ]

    # -- decoding ------------------------------------------------------------------------------

    def _class(self, topic: str) -> _ClassInfo | None:
        """The event class of a topic with what decoding needs of it, found once (None: not a
        miljo event)."""
        if topic in self._classes:
            return self._classes[topic]
        resolved = resolve_topic(topic)
        info = None
        if isinstance(resolved, type) and issubclass(resolved, MiljoAggregate.Event):
            personal = tuple(sorted(resolved.PERSONAL_FIELDS)) if self._sealing else ()
            info = _ClassInfo(resolved, getattr(resolved, "class_version", 1), personal)
        self._classes[topic] = info
        return info

    def light(self, notification: NotificationRecord) -> MiljoAggregate.Event | None:
        """The event without its personal fields (None if it is not a miljo event)."""
        info = self._class(notification.topic)
        if info is None:
            return None
        cls, class_version, personal = info
        try:
            data = notification.state
            if self._decrypt is not None:
                data = self._decrypt(data)
            if self._compressor is not None:
                data = self._compressor.decompress(data)
            state: dict[str, Any] = self._transcoder.decode(data)
        except Exception as error:
            msg = (
                f"Failed to deserialise stored event {notification.topic} "
                f"{notification.originator_id} v{notification.originator_version}: {error}"
            )
            raise MapperDeserialisationError(msg) from None
        state["originator_id"] = notification.originator_id
        state["originator_version"] = notification.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        # Sealed under a student's data key: left out, never opened (see the module doc).
        for name in personal:
            state.pop(name, None)
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        light: MiljoAggregate.Event = event
        return light

    def full(self, notification: NotificationRecord) -> MiljoAggregate.Event | None:
        """The event as the application's mapper decodes it (every field opened)."""
        stored = StoredEvent(
            originator_id=notification.originator_id,
            originator_version=notification.originator_version,
            topic=notification.topic,
            state=notification.state,
        )
        event = self.app.mapper.to_domain_event(stored)
        return event if isinstance(event, MiljoAggregate.Event) else None


def _main_file(recorder: SQLiteApplicationRecorder) -> Path | None:
    """The file of the recorder's database, as SQLite reports it (None in memory)."""
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA database_list")
        for row in cursor.fetchall():
            if row["name"] == "main" and row["file"]:
                return Path(row["file"]).resolve()
    return None


Projection = Callable[[MiljoAggregate.Event, int, SchoolOf], list[Op]]


def project_notification(
    reader: EventReader,
    notification: NotificationRecord,
    school_of: SchoolOf,
    projection: Projection = project,
) -> list[Op]:
    """The row operations of one notification (``domain.projection.project``), decoded by
    the light path, or by the mapper if the projection reads a personal field."""
    event = reader.light(notification)
    if event is None:
        return []
    try:
        return projection(event, notification.id, school_of)
    except AttributeError as error:
        if not personal_field_missing(error, event):
            raise
    full = reader.full(notification)
    return [] if full is None else projection(full, notification.id, school_of)
