"""Meeting: ressursteam, arbeidslag and the other meetings where cases are discussed.

A meeting has participants (staff, and external bodies such as PPT or barnevern), an agenda of
items (a named or anonymous student, a class, a trinn or a theme), notes and decisions on those
items, and minutes that are closed once the meeting is held. Closed minutes are never changed:
they are amended by later entries, and the actions decided are followed up (completed) after.

Consent (domain.md, "a named student is discussed with external services only with recorded
consent; otherwise anonymously"): when an external body takes part, every named student item
must be covered by a consent for that body (or for the meeting kind) on the meeting's date (the
date held once held, else the date scheduled). It is checked each time that can change or
matter: when a named item or an external body is added, when a note or a decision is recorded
on a named item, and when the meeting is recorded as held, on the date it was held. A consent
can end or be withdrawn after the item was put on the agenda, and the meeting can be held on
another day than scheduled; holding is then refused (``ConsentRequired``, naming the item, the
body and the date, never the student): the school records the consent again if it is given, or
discusses the case anonymously at another meeting (a meeting with no notes or decisions can be
cancelled). The Meeting does not load Student aggregates; the caller passes a ``ConsentLookup``
built from them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, TypeAlias
from uuid import UUID

import attrs

from domain.base import MiljoAggregate
from domain.errors import (
    ActionAlreadyCompleted,
    ActionRequired,
    AlreadyExists,
    ConsentRequired,
    HeldInFuture,
    InvalidValue,
    MeetingStateError,
    UnknownEntry,
)
from domain.errors import MinutesClosed as MinutesClosedError
from domain.values import (
    Actor,
    ExternalBody,
    MeetingKind,
    Role,
    check_class_name,
    check_date,
    check_person_id,
    check_school_code,
    check_text,
    check_trinn,
    local_date,
    require_aware,
)

#: ``(student_id, body, meeting_kind, on) -> covered``; the facade builds it from Student
#: aggregates (``student.consent_covers``). The Meeting never loads other aggregates.
ConsentLookup: TypeAlias = Callable[[UUID, ExternalBody, MeetingKind, date], bool]

TITLE_LIMIT = 200


class AgendaSubject(StrEnum):
    """What an agenda item is about. Values are stored in events: never rename them."""

    STUDENT = "student"
    CLASS = "class"
    TRINN = "trinn"
    THEME = "theme"


class DecisionOutcome(StrEnum):
    """Outcome of a case in a meeting (domain.md, case flow step 2)."""

    ADVICE = "advice"
    MEASURE = "measure"
    REFERRAL = "referral"
    ARBEIDSLAG = "arbeidslag"
    VEDTAK_PROCESS = "vedtak_process"


# ---------------------------------------------------------------------------------------------
# Value objects (state and read models). Personal fields are kept out of repr.
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Participant:
    person_id: str
    role: Role = attrs.field(converter=Role)


@attrs.frozen
class AgendaItemView:
    item_id: UUID
    subject_kind: AgendaSubject = attrs.field(converter=AgendaSubject)
    student_id: UUID | None
    anonymous: bool
    trinn: int | None
    class_name: str | None
    title: str = attrs.field(repr=False)
    concern_id: UUID | None

    @property
    def is_named_student(self) -> bool:
        return self.student_id is not None


@attrs.frozen
class NoteView:
    item_id: UUID
    student_id: UUID | None
    text: str = attrs.field(repr=False)
    recorded_at: datetime
    recorded_by: str


@attrs.frozen
class DecisionView:
    decision_id: UUID
    item_id: UUID
    student_id: UUID | None
    outcome: DecisionOutcome = attrs.field(converter=DecisionOutcome)
    text: str = attrs.field(repr=False)
    responsible: str | None
    due: date | None
    completed_on: date | None = None

    @property
    def has_action(self) -> bool:
        return self.responsible is not None and self.due is not None


@attrs.frozen
class ActionView:
    decision_id: UUID
    item_id: UUID
    student_id: UUID | None
    responsible: str
    due: date
    text: str = attrs.field(repr=False)


@attrs.frozen
class AmendmentView:
    amendment_id: UUID
    item_id: UUID | None
    student_id: UUID | None
    text: str = attrs.field(repr=False)
    reason: str = attrs.field(repr=False)
    recorded_at: datetime
    recorded_by: str


VALUE_TYPES = (Participant, AgendaItemView, NoteView, DecisionView, ActionView, AmendmentView)


def _check_date(value: date, what: str) -> date:
    """A calendar date in the years the domain accepts (``values.check_date``, ADR 0007
    addendum). Commands only: stored events are replayed as they are."""
    return check_date(value, what)


def _check_uuid(value: UUID, what: str) -> UUID:
    if not isinstance(value, UUID):
        raise InvalidValue(what, "must be a UUID")
    return value


def _parse(enum: type[StrEnum], value: str, what: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidValue(what, f"must be one of: {allowed}") from None


class Meeting(MiljoAggregate):
    TOPIC = "miljo:Meeting"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Scheduled)."""

        TOPIC = "miljo:Meeting.Created"

    class Scheduled(MiljoAggregate.Created):
        TOPIC = "miljo:Meeting.Scheduled"
        class_version = 1
        school_code: str
        kind: str
        scheduled_at: datetime

        def apply(self, meeting: Meeting) -> None:
            meeting.school_code = self.school_code
            meeting._kind = self.kind
            meeting.scheduled_at = self.scheduled_at
            meeting.held_at = None
            meeting.minutes_closed = False
            meeting.cancelled = False
            meeting._participants = []
            meeting._external_bodies = []
            meeting._items = {}
            meeting._notes = []
            meeting._decisions = {}
            meeting._amendments = {}

        def summary(self) -> str:
            return (
                f"{self.kind} meeting at {self.school_code} scheduled for "
                f"{self.scheduled_at:%Y-%m-%d %H:%M} UTC"
            )

    class ParticipantAdded(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.ParticipantAdded"
        class_version = 1
        person_id: str
        role: str

        def apply(self, meeting: Meeting) -> None:
            meeting._participants.append(Participant(person_id=self.person_id, role=self.role))

        def summary(self) -> str:
            return f"participant {self.person_id} added as {self.role}"

    class ExternalParticipantAdded(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.ExternalParticipantAdded"
        class_version = 1
        body: str

        def apply(self, meeting: Meeting) -> None:
            meeting._external_bodies.append(self.body)

        def summary(self) -> str:
            return f"external participant {self.body} added"

    class AgendaItemAdded(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.AgendaItemAdded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"title"})
        item_id: UUID
        subject_kind: str
        student_id: UUID | None
        anonymous: bool
        trinn: int | None
        class_name: str | None
        title: str
        concern_id: UUID | None

        def apply(self, meeting: Meeting) -> None:
            meeting._items[str(self.item_id)] = AgendaItemView(
                item_id=self.item_id,
                subject_kind=self.subject_kind,
                student_id=self.student_id,
                anonymous=self.anonymous,
                trinn=self.trinn,
                class_name=self.class_name,
                title=self.title,
                concern_id=self.concern_id,
            )

        def summary(self) -> str:
            kind = self.subject_kind
            if kind == AgendaSubject.STUDENT:
                kind = "anonymous student" if self.anonymous else "named student"
            where = ""
            if self.trinn is not None:
                where += f", trinn {self.trinn}"
            if self.class_name is not None:
                where += f", class {self.class_name}"
            return f"agenda item {self.item_id} added ({kind}{where})"

    class NoteRecorded(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.NoteRecorded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text"})
        item_id: UUID
        student_id: UUID | None
        text: str

        def apply(self, meeting: Meeting) -> None:
            meeting._notes.append(
                NoteView(
                    item_id=self.item_id,
                    student_id=self.student_id,
                    text=self.text,
                    recorded_at=self.timestamp,
                    recorded_by=self.actor_id,
                )
            )

        def summary(self) -> str:
            return f"note recorded on agenda item {self.item_id}"

    class DecisionRecorded(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.DecisionRecorded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text"})
        decision_id: UUID
        item_id: UUID
        student_id: UUID | None
        outcome: str
        text: str
        responsible: str | None
        due: date | None

        def apply(self, meeting: Meeting) -> None:
            meeting._decisions[str(self.decision_id)] = DecisionView(
                decision_id=self.decision_id,
                item_id=self.item_id,
                student_id=self.student_id,
                outcome=self.outcome,
                text=self.text,
                responsible=self.responsible,
                due=self.due,
            )

        def summary(self) -> str:
            action = "" if self.due is None else f", action due {self.due.isoformat()}"
            return (
                f"decision {self.decision_id} on agenda item {self.item_id}: {self.outcome}{action}"
            )

    class ActionCompleted(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.ActionCompleted"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "completed_on"
        decision_id: UUID
        student_id: UUID | None
        completed_on: date

        def apply(self, meeting: Meeting) -> None:
            key = str(self.decision_id)
            meeting._decisions[key] = attrs.evolve(
                meeting._decisions[key], completed_on=self.completed_on
            )

        def summary(self) -> str:
            return (
                f"action of decision {self.decision_id} completed on "
                f"{self.completed_on.isoformat()}"
            )

    class Held(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.Held"
        class_version = 1
        EFFECTIVE_FIELD: ClassVar[str | None] = "held_at"
        held_at: datetime

        def apply(self, meeting: Meeting) -> None:
            meeting.held_at = self.held_at

        def summary(self) -> str:
            return f"meeting held at {self.held_at:%Y-%m-%d %H:%M} UTC"

    class MinutesClosed(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.MinutesClosed"
        class_version = 1

        def apply(self, meeting: Meeting) -> None:
            meeting.minutes_closed = True

        def summary(self) -> str:
            return "minutes closed"

    class MinutesAmended(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.MinutesAmended"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text", "reason"})
        amendment_id: UUID
        item_id: UUID | None
        student_id: UUID | None
        text: str
        reason: str

        def apply(self, meeting: Meeting) -> None:
            meeting._amendments[str(self.amendment_id)] = AmendmentView(
                amendment_id=self.amendment_id,
                item_id=self.item_id,
                student_id=self.student_id,
                text=self.text,
                reason=self.reason,
                recorded_at=self.timestamp,
                recorded_by=self.actor_id,
            )

        def summary(self) -> str:
            on_item = "" if self.item_id is None else f" on agenda item {self.item_id}"
            return f"minutes amended ({self.amendment_id}){on_item}"

    class Cancelled(MiljoAggregate.Event):
        TOPIC = "miljo:Meeting.Cancelled"
        class_version = 1
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        reason: str

        def apply(self, meeting: Meeting) -> None:
            meeting.cancelled = True

        def summary(self) -> str:
            return "meeting cancelled"

    if TYPE_CHECKING:  # state, set only by apply (not constructor arguments)
        school_code: str
        scheduled_at: datetime
        held_at: datetime | None
        minutes_closed: bool
        cancelled: bool
        _kind: str
        _participants: list[Participant]
        _external_bodies: list[str]
        _items: dict[str, AgendaItemView]
        _notes: list[NoteView]
        _decisions: dict[str, DecisionView]
        _amendments: dict[str, AmendmentView]

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def schedule(
        cls,
        *,
        meeting_id: UUID,
        school_code: str,
        kind: str,
        scheduled_at: datetime,
        actor: Actor,
        at: datetime,
    ) -> Meeting:
        _check_uuid(meeting_id, "meeting id")
        check_school_code(school_code)
        kind_value = _parse(MeetingKind, kind, "meeting kind")
        scheduled_at = require_aware(scheduled_at, "scheduled time")
        return cls._start(
            cls.Scheduled,
            id=meeting_id,
            actor=actor,
            at=at,
            school_code=school_code,
            kind=kind_value,
            scheduled_at=scheduled_at,
        )

    def add_participant(self, *, person_id: str, role: str, actor: Actor, at: datetime) -> None:
        self._require_open_minutes()
        check_person_id(person_id)
        role_value = _parse(Role, role, "participant role")
        if any(p.person_id == person_id for p in self._participants):
            raise AlreadyExists(f"person {person_id} already takes part in meeting {self.id}")
        self._record(
            self.ParticipantAdded, actor=actor, at=at, person_id=person_id, role=role_value
        )

    def add_external_participant(
        self, *, body: str, consent_lookup: ConsentLookup, actor: Actor, at: datetime
    ) -> None:
        self._require_open_minutes()
        external = ExternalBody(_parse(ExternalBody, body, "external body"))
        if external.value in self._external_bodies:
            raise AlreadyExists(f"{external.value} already takes part in meeting {self.id}")
        for item in self._items.values():
            if item.student_id is not None:
                self._require_consent(item.item_id, item.student_id, external, consent_lookup)
        self._record(self.ExternalParticipantAdded, actor=actor, at=at, body=external.value)

    def add_agenda_item(
        self,
        *,
        item_id: UUID,
        subject_kind: str,
        student_id: UUID | None,
        anonymous: bool,
        trinn: int | None,
        class_name: str | None,
        title: str,
        concern_id: UUID | None,
        consent_lookup: ConsentLookup,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_open_minutes()
        _check_uuid(item_id, "agenda item id")
        kind = AgendaSubject(_parse(AgendaSubject, subject_kind, "agenda subject kind"))
        _check_item_fields(kind, student_id, anonymous, trinn, class_name, concern_id)
        check_text(title, "agenda item title", limit=TITLE_LIMIT)
        if str(item_id) in self._items:
            raise AlreadyExists(f"agenda item {item_id} already exists in meeting {self.id}")
        if student_id is not None:
            for body in self.external_bodies:
                self._require_consent(item_id, student_id, body, consent_lookup)
        self._record(
            self.AgendaItemAdded,
            actor=actor,
            at=at,
            item_id=item_id,
            subject_kind=kind.value,
            student_id=student_id,
            anonymous=anonymous,
            trinn=trinn,
            class_name=class_name,
            title=title,
            concern_id=concern_id,
        )

    def record_note(
        self,
        *,
        item_id: UUID,
        text: str,
        consent_lookup: ConsentLookup,
        actor: Actor,
        at: datetime,
    ) -> None:
        """A note on an agenda item; on a named student item with external bodies present,
        only while consent covers it on the meeting's date."""
        self._require_open_minutes()
        item = self._item(item_id)
        check_text(text, "note")
        if item.student_id is not None:
            for body in self.external_bodies:
                self._require_consent(item.item_id, item.student_id, body, consent_lookup)
        self._record(
            self.NoteRecorded,
            actor=actor,
            at=at,
            item_id=item.item_id,
            student_id=item.student_id,
            text=text,
        )

    def record_decision(
        self,
        *,
        decision_id: UUID,
        item_id: UUID,
        outcome: str,
        text: str,
        responsible: str | None,
        due: date | None,
        consent_lookup: ConsentLookup,
        actor: Actor,
        at: datetime,
    ) -> None:
        """A decision on an agenda item; on a named student item with external bodies
        present, only while consent covers it on the meeting's date (as a note)."""
        self._require_open_minutes()
        _check_uuid(decision_id, "decision id")
        item = self._item(item_id)
        if item.student_id is not None:
            for body in self.external_bodies:
                self._require_consent(item.item_id, item.student_id, body, consent_lookup)
        outcome_value = _parse(DecisionOutcome, outcome, "decision outcome")
        check_text(text, "decision text")
        if (responsible is None) != (due is None):
            raise InvalidValue("decision action", "give both responsible and due date, or neither")
        if responsible is not None:
            check_person_id(responsible)
        if due is not None:
            _check_date(due, "due date")
        if outcome_value == DecisionOutcome.MEASURE and responsible is None:
            raise ActionRequired(
                "a measure needs an action: give a responsible person and a due date",
                decision_id=decision_id,
            )
        if str(decision_id) in self._decisions:
            raise AlreadyExists(f"decision {decision_id} already exists in meeting {self.id}")
        self._record(
            self.DecisionRecorded,
            actor=actor,
            at=at,
            decision_id=decision_id,
            item_id=item.item_id,
            student_id=item.student_id,
            outcome=outcome_value,
            text=text,
            responsible=responsible,
            due=due,
        )

    def complete_action(
        self, *, decision_id: UUID, completed_on: date, actor: Actor, at: datetime
    ) -> None:
        """Follow-up of a decided action; allowed after the minutes are closed."""
        _check_date(completed_on, "completion date")
        decision = self._decisions.get(str(decision_id))
        if decision is None or not decision.has_action:
            raise UnknownEntry(
                f"no action for decision {decision_id} in meeting {self.id}",
                decision_id=decision_id,
            )
        if decision.completed_on is not None:
            raise ActionAlreadyCompleted(
                f"action of decision {decision_id} was completed on "
                f"{decision.completed_on.isoformat()}",
                decision_id=decision_id,
            )
        self._record(
            self.ActionCompleted,
            actor=actor,
            at=at,
            decision_id=decision.decision_id,
            student_id=decision.student_id,
            completed_on=completed_on,
        )

    def record_held(
        self, *, held_at: datetime, consent_lookup: ConsentLookup, actor: Actor, at: datetime
    ) -> None:
        """Held at ``held_at``; with external bodies present, every named student item must
        be covered by consent on the date held (see the module doc)."""
        self._require_not_cancelled()
        held_at = require_aware(held_at, "held time")
        if self.held_at is not None:
            raise MeetingStateError(f"meeting {self.id} is already recorded as held")
        if held_at > require_aware(at, "recorded time"):
            raise HeldInFuture(
                f"meeting {self.id} cannot be recorded as held after the time of recording",
                held_at=held_at,
            )
        held_on = local_date(held_at)
        for item in self._items.values():
            if item.student_id is not None:
                for body in self.external_bodies:
                    self._require_consent(
                        item.item_id, item.student_id, body, consent_lookup, on=held_on
                    )
        self._record(self.Held, actor=actor, at=at, held_at=held_at)

    def close_minutes(self, *, actor: Actor, at: datetime) -> None:
        self._require_not_cancelled()
        if self.minutes_closed:
            raise MinutesClosedError(f"minutes of meeting {self.id} are already closed")
        if self.held_at is None:
            raise MeetingStateError(f"meeting {self.id} is not held; its minutes cannot close")
        self._record(self.MinutesClosed, actor=actor, at=at)

    def amend_minutes(
        self,
        *,
        amendment_id: UUID,
        item_id: UUID | None,
        text: str,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        if not self.minutes_closed:
            raise MeetingStateError(
                f"minutes of meeting {self.id} are not closed; record notes instead"
            )
        _check_uuid(amendment_id, "amendment id")
        student_id = None if item_id is None else self._item(item_id).student_id
        check_text(text, "amendment")
        check_text(reason, "amendment reason", limit=2_000)
        if str(amendment_id) in self._amendments:
            raise AlreadyExists(f"amendment {amendment_id} already exists in meeting {self.id}")
        self._record(
            self.MinutesAmended,
            actor=actor,
            at=at,
            amendment_id=amendment_id,
            item_id=item_id,
            student_id=student_id,
            text=text,
            reason=reason,
        )

    def cancel(self, *, reason: str, actor: Actor, at: datetime) -> None:
        self._require_not_cancelled()
        if self.held_at is not None:
            raise MeetingStateError(f"meeting {self.id} is held; it cannot be cancelled")
        if self._notes or self._decisions:
            raise MeetingStateError(
                f"meeting {self.id} has notes or decisions; it cannot be cancelled"
            )
        check_text(reason, "cancellation reason", limit=2_000)
        self._record(self.Cancelled, actor=actor, at=at, reason=reason)

    # -- read helpers --------------------------------------------------------------------------

    @property
    def kind(self) -> MeetingKind:
        return MeetingKind(self._kind)

    @property
    def is_held(self) -> bool:
        return self.held_at is not None

    @property
    def meeting_date(self) -> date:
        """The date consent is checked on: the (Norwegian) date held, else the date scheduled."""
        return local_date(self.held_at or self.scheduled_at)

    @property
    def external_bodies(self) -> list[ExternalBody]:
        return [ExternalBody(body) for body in self._external_bodies]

    def participants(self) -> list[Participant]:
        return list(self._participants)

    def agenda(self) -> list[AgendaItemView]:
        return list(self._items.values())

    def notes(self, item_id: UUID | None = None) -> list[NoteView]:
        return [n for n in self._notes if item_id is None or n.item_id == item_id]

    def decisions(self) -> list[DecisionView]:
        return list(self._decisions.values())

    def amendments(self) -> list[AmendmentView]:
        return list(self._amendments.values())

    def open_actions(self) -> list[ActionView]:
        """Decided actions not yet completed, by due date (then in order decided)."""
        actions = [
            ActionView(
                decision_id=d.decision_id,
                item_id=d.item_id,
                student_id=d.student_id,
                responsible=d.responsible,
                due=d.due,
                text=d.text,
            )
            for d in self._decisions.values()
            if d.responsible is not None and d.due is not None and d.completed_on is None
        ]
        return sorted(actions, key=lambda a: a.due)

    def discussed_concern_ids(self) -> list[UUID]:
        return [i.concern_id for i in self._items.values() if i.concern_id is not None]

    def named_students(self) -> list[UUID]:
        """Students discussed by name (distinct, in agenda order)."""
        seen: list[UUID] = []
        for item in self._items.values():
            if item.student_id is not None and item.student_id not in seen:
                seen.append(item.student_id)
        return seen

    def __repr__(self) -> str:  # never print agenda titles, notes or student ids
        return f"Meeting(kind={self._kind!r}, school={self.school_code!r}, version={self.version})"

    # -- internals -----------------------------------------------------------------------------

    def _require_not_cancelled(self) -> None:
        if self.cancelled:
            raise MeetingStateError(f"meeting {self.id} is cancelled")

    def _require_open_minutes(self) -> None:
        self._require_not_cancelled()
        if self.minutes_closed:
            raise MinutesClosedError(
                f"minutes of meeting {self.id} are closed; record an amendment instead"
            )

    def _item(self, item_id: UUID) -> AgendaItemView:
        item = self._items.get(str(item_id))
        if item is None:
            raise UnknownEntry(f"no agenda item {item_id} in meeting {self.id}", item_id=item_id)
        return item

    def _require_consent(
        self,
        item_id: UUID,
        student_id: UUID,
        body: ExternalBody,
        consent_lookup: ConsentLookup,
        *,
        on: date | None = None,
    ) -> None:
        """A named student item may be discussed with ``body`` only if consent covers it on
        ``on`` (default: the meeting's date)."""
        on = self.meeting_date if on is None else on
        if not consent_lookup(student_id, body, self.kind, on):
            raise ConsentRequired(
                f"no consent covers discussing named agenda item {item_id} with "
                f"{body.value} on {on.isoformat()}; discuss it anonymously or record consent",
                body=body.value,
                item_id=item_id,
                on=on,
            )


def _check_item_fields(
    kind: AgendaSubject,
    student_id: UUID | None,
    anonymous: bool,
    trinn: int | None,
    class_name: str | None,
    concern_id: UUID | None,
) -> None:
    """Which fields each subject kind takes (InvalidValue when the form is wrong)."""
    if not isinstance(anonymous, bool):
        raise InvalidValue("anonymous", "must be true or false")
    if trinn is not None:
        check_trinn(trinn)
    if class_name is not None:
        check_class_name(class_name)
        if trinn is None:
            raise InvalidValue("class name", "needs the class's trinn")
    if student_id is not None:
        _check_uuid(student_id, "student id")
    if concern_id is not None:
        _check_uuid(concern_id, "concern id")
    if kind == AgendaSubject.STUDENT:
        if anonymous:
            if student_id is not None:
                raise InvalidValue("anonymous student item", "must not carry a student id")
            if concern_id is not None:
                raise InvalidValue("anonymous student item", "must not carry a concern id")
        elif student_id is None:
            raise InvalidValue("student item", "needs a student id, or mark it anonymous")
        return
    if anonymous:
        raise InvalidValue(f"{kind.value} item", "only student items can be anonymous")
    if student_id is not None or concern_id is not None:
        raise InvalidValue(f"{kind.value} item", "must not carry a student id or concern id")
    if kind == AgendaSubject.CLASS and (trinn is None or class_name is None):
        raise InvalidValue("class item", "needs a trinn and a class name")
    if kind == AgendaSubject.TRINN and (trinn is None or class_name is not None):
        raise InvalidValue("trinn item", "needs a trinn and no class name")
    if kind == AgendaSubject.THEME and (trinn is not None or class_name is not None):
        raise InvalidValue("theme item", "must not carry a trinn or class name")
