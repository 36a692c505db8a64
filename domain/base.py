"""The base every miljo aggregate and event builds on.

Rules every aggregate follows (docs/adr/0003-event-schema.md):

* Each event class is an explicit nested class with a stable ``TOPIC`` string
  (``miljo:<Aggregate>.<Event>``) and a ``class_version``. Renaming or moving a Python class
  never changes what is stored. Old payloads are upgraded by ``upcast_vN_vN+1`` static methods.
* Every event records the actor (``actor_id`` + ``actor_role``) and the data subject
  (``SUBJECT_FIELD`` names the field holding the student's id, or ``None`` when the event
  concerns no single student). ``PERSONAL_FIELDS`` names the fields holding personal data
  (names, free text, the student's voice) so a mapper can encrypt exactly those.
  ``EFFECTIVE_FIELD`` names the field holding the effective time (observed, decided, held)
  when it differs from the recorded time (the library's ``timestamp``).
* Commands (public methods) check rules and raise named errors; ``apply`` only mutates.
* The recorded time comes from the caller's clock and is passed in as ``at``; ids come from
  the caller too. Nothing in an event defaults to "now" or to a random value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate

from domain.values import Actor, require_aware

TAgg = TypeVar("TAgg", bound="MiljoAggregate")


class MiljoAggregate(Aggregate):
    """Base class of Student, Vedtak, Team, Meeting and the small index aggregates."""

    class Event(Aggregate.Event):
        actor_id: str
        actor_role: str

        #: Field holding the id of the student the event is about (``originator_id`` for
        #: events in a student's own stream), or None when no single student is concerned.
        SUBJECT_FIELD: ClassVar[str | None] = None
        #: Fields holding personal data, encrypted under the subject's key at rest.
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset()
        #: Field holding the effective time (date or instant), if other than recorded time.
        EFFECTIVE_FIELD: ClassVar[str | None] = None
        #: True for archival records (vedtak, PPT recommendation, aktivitetsplan,
        #: registration): their personal fields are sealed under the student's archival key,
        #: which erasure never deletes (they are restricted instead).
        ARCHIVAL: ClassVar[bool] = False

        def subject_id(self) -> UUID | None:
            """The student this event is about, if any."""
            if self.SUBJECT_FIELD is None:
                return None
            value = getattr(self, self.SUBJECT_FIELD, None)
            return value if isinstance(value, UUID) else None

        def effective_time(self) -> Any:
            """The effective time of the event (a date or an aware datetime)."""
            if self.EFFECTIVE_FIELD is None:
                return self.timestamp
            return getattr(self, self.EFFECTIVE_FIELD, None) or self.timestamp

        def summary(self) -> str:
            """A one-line, non-personal description for histories. Override per event."""
            return type(self).__name__

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self) -> None:
        """State is set by each created event's ``apply``.

        Subclasses declare their state attributes under ``if TYPE_CHECKING:`` so that the
        library does not turn them into constructor arguments.
        """

    # -- helpers for subclasses ----------------------------------------------------------------

    @classmethod
    def _start(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID,
        actor: Actor,
        at: datetime,
        **fields: Any,
    ) -> Self:
        """Create the aggregate by triggering its created event at ``at`` by ``actor``."""
        return cls._create(
            event_class=event_class,
            id=id,
            timestamp=require_aware(at, "recorded time"),
            actor_id=actor.person_id,
            actor_role=actor.role.value,
            **fields,
        )

    def _record(
        self, event_class: type[MiljoAggregate.Event], *, actor: Actor, at: datetime, **fields: Any
    ) -> None:
        """Trigger a subsequent event at ``at`` by ``actor``."""
        at = require_aware(at, "recorded time")
        if at < self.modified_on:
            # The library orders a stream by version; recorded time must not run backwards
            # inside one stream or as-of reads would be ambiguous.
            at = self.modified_on
        self.trigger_event(
            event_class,
            timestamp=at,
            actor_id=actor.person_id,
            actor_role=actor.role.value,
            **fields,
        )
