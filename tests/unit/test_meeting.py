"""Meeting: given events, when command, then events or error.

Seed data: Gjesdal ungdomsskole (8-10 trinn, classes like "8c") holds a ressursteam every 2nd
week that walks through every trinn and class, and an arbeidslag with barnevern, PPT, psykisk
helse and familievern every 3rd week where cases are anonymous or discussed with consent.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

from domain.errors import (
    ActionAlreadyCompleted,
    ActionRequired,
    AlreadyExists,
    ConsentRequired,
    DomainError,
    HeldInFuture,
    InvalidValue,
    MeetingStateError,
    MinutesClosed,
    UnknownEntry,
)
from domain.meeting import (
    VALUE_TYPES,
    ActionView,
    AgendaItemView,
    AgendaSubject,
    DecisionOutcome,
    Meeting,
)
from domain.values import ExternalBody, MeetingKind, Role
from tests.support import COORDINATOR, SPED_LEAD, T0, THERAPIST, new_events, replay

MEETING_ID = UUID("6d1f3c2a-0000-4000-8000-000000000001")
SIGRID = UUID("5a7e0000-0000-4000-8000-0000000000a1")  # pseudonymous student in 9b
TOBIAS = UUID("5a7e0000-0000-4000-8000-0000000000a2")  # pseudonymous student in 8c
CONCERN = UUID("c0c0c0c0-0000-4000-8000-000000000001")
ITEM_1 = UUID("17e70000-0000-4000-8000-000000000001")
ITEM_2 = UUID("17e70000-0000-4000-8000-000000000002")
ITEM_3 = UUID("17e70000-0000-4000-8000-000000000003")
DECISION_1 = UUID("dec10000-0000-4000-8000-000000000001")
DECISION_2 = UUID("dec10000-0000-4000-8000-000000000002")
AMENDMENT_1 = UUID("a3e40000-0000-4000-8000-000000000001")

#: Wednesday in the third school week: the Gjesdal arbeidslag meets at 12:00 UTC.
MEETING_AT = datetime(2024, 9, 4, 12, 0, tzinfo=UTC)
MEETING_DAY = MEETING_AT.date()
AFTER = MEETING_AT + timedelta(hours=2)  # recorded time once the meeting is over

ARBEIDSLAG_BODIES = ("barnevern", "ppt", "psykisk_helse", "familievern")

# Personal text that must never leak into summaries, reprs or errors.
TITLE = "Sigrid Nilsen i 9b: mye fravær etter høstferien"
NOTE = "Mor forteller at Sigrid sover dårlig"
DECISION_TEXT = "Sigrid får samtale med miljøterapeut hver mandag"
PERSONAL_TEXTS = (TITLE, NOTE, DECISION_TEXT, "Sigrid", "Nilsen")


class FakeConsents:
    """A ConsentLookup: covered (student, body) pairs, valid up to and including ``until``."""

    def __init__(
        self, covered: set[tuple[UUID, str]] | None = None, until: date = date(2025, 6, 20)
    ) -> None:
        self.covered = covered or set()
        self.until = until
        self.calls: list[tuple[UUID, ExternalBody, MeetingKind, date]] = []

    def __call__(self, student: UUID, body: ExternalBody, kind: MeetingKind, on: date) -> bool:
        self.calls.append((student, body, kind, on))
        return (student, body.value) in self.covered and on <= self.until


def all_bodies_for(student: UUID, until: date = date(2025, 6, 20)) -> FakeConsents:
    return FakeConsents({(student, body) for body in ARBEIDSLAG_BODIES}, until=until)


def must_not_be_called(student: UUID, body: ExternalBody, kind: MeetingKind, on: date) -> bool:
    raise AssertionError("consent lookup must not be called")


def scheduled(kind: str = "arbeidslag") -> Meeting:
    meeting = Meeting.schedule(
        meeting_id=MEETING_ID,
        school_code="gjesdal",
        kind=kind,
        scheduled_at=MEETING_AT,
        actor=SPED_LEAD,
        at=T0,
    )
    new_events(meeting)
    return meeting


def arbeidslag(consents: Any = must_not_be_called) -> Meeting:
    """The Gjesdal arbeidslag with its four external services (no agenda yet)."""
    meeting = scheduled()
    for body in ARBEIDSLAG_BODIES:
        meeting.add_external_participant(body=body, consent_lookup=consents, actor=SPED_LEAD, at=T0)
    new_events(meeting)
    return meeting


def add_named(
    meeting: Meeting,
    consents: Any,
    *,
    item_id: UUID = ITEM_1,
    student: UUID = SIGRID,
    concern_id: UUID | None = CONCERN,
) -> None:
    meeting.add_agenda_item(
        item_id=item_id,
        subject_kind="student",
        student_id=student,
        anonymous=False,
        trinn=9,
        class_name="9b",
        title=TITLE,
        concern_id=concern_id,
        consent_lookup=consents,
        actor=SPED_LEAD,
        at=T0,
    )


def add_anonymous(meeting: Meeting, consents: Any, *, item_id: UUID = ITEM_2) -> None:
    meeting.add_agenda_item(
        item_id=item_id,
        subject_kind="student",
        student_id=None,
        anonymous=True,
        trinn=8,
        class_name=None,
        title="Elev på 8. trinn som ikke vil gå i friminuttet",
        concern_id=None,
        consent_lookup=consents,
        actor=SPED_LEAD,
        at=T0,
    )


def held(meeting: Meeting) -> Meeting:
    meeting.record_held(
        consent_lookup=must_not_be_called, held_at=MEETING_AT, actor=SPED_LEAD, at=AFTER
    )
    new_events(meeting)
    return meeting


def with_named_item() -> Meeting:
    """A ressursteam (no external bodies) with Sigrid's case on the agenda."""
    meeting = scheduled("ressursteam")
    add_named(meeting, must_not_be_called)
    new_events(meeting)
    return meeting


def decide_measure(
    meeting: Meeting, *, decision_id: UUID = DECISION_1, due: date, consents: Any = None
) -> None:
    """A measure on ITEM_1 (``consents``: the lookup, for a meeting with external bodies)."""
    meeting.record_decision(
        consent_lookup=must_not_be_called if consents is None else consents,
        decision_id=decision_id,
        item_id=ITEM_1,
        outcome="measure",
        text=DECISION_TEXT,
        responsible="p-mt1",
        due=due,
        actor=SPED_LEAD,
        at=AFTER,
    )


# ---------------------------------------------------------------------------------------------
# Scheduling and participants
# ---------------------------------------------------------------------------------------------


def test_schedule_records_event_with_actor_and_time() -> None:
    meeting = Meeting.schedule(
        meeting_id=MEETING_ID,
        school_code="gjesdal",
        kind="ressursteam",
        scheduled_at=MEETING_AT,
        actor=SPED_LEAD,
        at=T0,
    )
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.Scheduled)
    assert event.originator_id == MEETING_ID
    assert (event.actor_id, event.actor_role, event.timestamp) == (
        "p-sped",
        Role.SPESIALPEDAGOGISK_ANSVARLIG.value,
        T0,
    )
    assert type(event.kind) is str
    assert meeting.kind is MeetingKind.RESSURSTEAM
    assert (meeting.school_code, meeting.scheduled_at, meeting.held_at) == (
        "gjesdal",
        MEETING_AT,
        None,
    )
    assert not meeting.is_held
    assert not meeting.minutes_closed
    assert meeting.meeting_date == MEETING_DAY
    assert event.summary() == "ressursteam meeting at gjesdal scheduled for 2024-09-04 12:00 UTC"


@pytest.mark.parametrize(
    ("code", "kind", "at"),
    [
        ("Gjesdal", "arbeidslag", MEETING_AT),
        ("gjesdal", "kaffepause", MEETING_AT),
        ("gjesdal", "arbeidslag", MEETING_AT.replace(tzinfo=None)),
    ],
)
def test_schedule_rejects_bad_values(code: str, kind: str, at: datetime) -> None:
    with pytest.raises(InvalidValue):
        Meeting.schedule(
            meeting_id=MEETING_ID,
            school_code=code,
            kind=kind,
            scheduled_at=at,
            actor=SPED_LEAD,
            at=T0,
        )


def test_add_participant_and_refuse_duplicates() -> None:
    meeting = scheduled("ressursteam")
    meeting.add_participant(person_id="p-coord", role="miljokoordinator", actor=SPED_LEAD, at=T0)
    meeting.add_participant(person_id="p-rektor", role="rektor", actor=SPED_LEAD, at=T0)
    events = new_events(meeting)
    assert [type(e) for e in events] == [Meeting.ParticipantAdded] * 2
    assert [(p.person_id, p.role) for p in meeting.participants()] == [
        ("p-coord", Role.MILJOKOORDINATOR),
        ("p-rektor", Role.REKTOR),
    ]
    with pytest.raises(AlreadyExists):
        meeting.add_participant(person_id="p-coord", role="laerer", actor=SPED_LEAD, at=T0)
    assert new_events(meeting) == []


@pytest.mark.parametrize(("person", "role"), [("Kari Nordmann", "laerer"), ("p-7", "helsesjef")])
def test_add_participant_rejects_bad_values(person: str, role: str) -> None:
    meeting = scheduled("ressursteam")
    with pytest.raises(InvalidValue):
        meeting.add_participant(person_id=person, role=role, actor=SPED_LEAD, at=T0)
    assert new_events(meeting) == []


def test_external_body_once_and_known() -> None:
    meeting = scheduled()
    meeting.add_external_participant(
        body="ppt", consent_lookup=must_not_be_called, actor=SPED_LEAD, at=T0
    )
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.ExternalParticipantAdded)
    assert event.body == "ppt"
    assert meeting.external_bodies == [ExternalBody.PPT]
    with pytest.raises(AlreadyExists):
        meeting.add_external_participant(
            body="ppt", consent_lookup=must_not_be_called, actor=SPED_LEAD, at=T0
        )
    with pytest.raises(InvalidValue):
        meeting.add_external_participant(
            body="politiet", consent_lookup=must_not_be_called, actor=SPED_LEAD, at=T0
        )
    assert new_events(meeting) == []


# ---------------------------------------------------------------------------------------------
# Consent: named students with external bodies
# ---------------------------------------------------------------------------------------------


def test_gjesdal_arbeidslag_named_student_with_consent_for_every_body() -> None:
    consents = all_bodies_for(SIGRID)
    meeting = arbeidslag()
    add_named(meeting, consents)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.AgendaItemAdded)
    assert event.student_id == SIGRID
    assert event.subject_id() == SIGRID
    assert {(c[1].value, c[2], c[3]) for c in consents.calls} == {
        (body, MeetingKind.ARBEIDSLAG, MEETING_DAY) for body in ARBEIDSLAG_BODIES
    }
    assert all(c[0] == SIGRID for c in consents.calls)
    assert meeting.named_students() == [SIGRID]


def test_gjesdal_arbeidslag_named_student_refused_when_one_body_not_covered() -> None:
    consents = FakeConsents({(SIGRID, "barnevern"), (SIGRID, "ppt"), (SIGRID, "psykisk_helse")})
    meeting = arbeidslag()
    with pytest.raises(ConsentRequired, match="familievern") as caught:
        add_named(meeting, consents)
    assert new_events(meeting) == []
    assert meeting.agenda() == []
    message = str(caught.value)
    assert str(SIGRID) not in message
    assert not any(text in message for text in PERSONAL_TEXTS)
    assert caught.value.context["body"] == "familievern"
    assert caught.value.rule == "consent-required"


def test_consent_for_another_student_does_not_cover() -> None:
    meeting = arbeidslag()
    with pytest.raises(ConsentRequired):
        add_named(meeting, all_bodies_for(TOBIAS))
    assert new_events(meeting) == []


def test_anonymous_student_item_needs_no_consent_with_external_bodies() -> None:
    meeting = arbeidslag()
    add_anonymous(meeting, must_not_be_called)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.AgendaItemAdded)
    assert event.student_id is None
    assert event.subject_id() is None
    assert event.anonymous
    assert meeting.named_students() == []


def test_named_student_without_external_bodies_needs_no_consent() -> None:
    meeting = scheduled("ressursteam")
    add_named(meeting, must_not_be_called)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.AgendaItemAdded)
    assert meeting.named_students() == [SIGRID]


def test_external_body_added_after_named_item_is_refused_without_consent() -> None:
    meeting = scheduled()
    add_named(meeting, must_not_be_called)
    new_events(meeting)
    consents = FakeConsents({(SIGRID, "ppt")})
    with pytest.raises(ConsentRequired, match="barnevern") as caught:
        meeting.add_external_participant(
            body="barnevern", consent_lookup=consents, actor=SPED_LEAD, at=T0
        )
    assert str(SIGRID) not in str(caught.value)
    assert new_events(meeting) == []
    assert meeting.external_bodies == []
    meeting.add_external_participant(body="ppt", consent_lookup=consents, actor=SPED_LEAD, at=T0)
    assert [type(e) for e in new_events(meeting)] == [Meeting.ExternalParticipantAdded]
    assert consents.calls[-1] == (SIGRID, ExternalBody.PPT, MeetingKind.ARBEIDSLAG, MEETING_DAY)


def test_external_body_added_after_anonymous_item_needs_no_consent() -> None:
    meeting = scheduled()
    add_anonymous(meeting, must_not_be_called)
    new_events(meeting)
    meeting.add_external_participant(
        body="barnevern", consent_lookup=must_not_be_called, actor=SPED_LEAD, at=T0
    )
    assert [type(e) for e in new_events(meeting)] == [Meeting.ExternalParticipantAdded]


def test_external_body_checks_every_named_item() -> None:
    meeting = scheduled()
    add_named(meeting, must_not_be_called, item_id=ITEM_1, student=SIGRID)
    add_named(meeting, must_not_be_called, item_id=ITEM_3, student=TOBIAS, concern_id=None)
    new_events(meeting)
    with pytest.raises(ConsentRequired):
        meeting.add_external_participant(
            body="ppt", consent_lookup=FakeConsents({(SIGRID, "ppt")}), actor=SPED_LEAD, at=T0
        )
    covered = FakeConsents({(SIGRID, "ppt"), (TOBIAS, "ppt")})
    meeting.add_external_participant(body="ppt", consent_lookup=covered, actor=SPED_LEAD, at=T0)
    assert {c[0] for c in covered.calls} == {SIGRID, TOBIAS}


def test_consent_is_checked_on_the_meeting_date() -> None:
    # Consent valid until the day before the meeting: recorded in time, but not valid then.
    meeting = arbeidslag()
    with pytest.raises(ConsentRequired):
        add_named(meeting, all_bodies_for(SIGRID, until=MEETING_DAY - timedelta(days=1)))
    add_named(meeting, all_bodies_for(SIGRID, until=MEETING_DAY))
    assert len(new_events(meeting)) == 1


def test_consent_date_is_the_held_date_once_held() -> None:
    meeting = arbeidslag()
    later = MEETING_AT + timedelta(days=2)
    meeting.record_held(
        consent_lookup=must_not_be_called,
        held_at=later,
        actor=SPED_LEAD,
        at=later + timedelta(hours=1),
    )
    consents = all_bodies_for(SIGRID)
    add_named(meeting, consents)
    assert {c[3] for c in consents.calls} == {later.date()}


def test_holding_is_refused_when_consent_no_longer_covers_a_named_item() -> None:
    # given Sigrid's case on the arbeidslag agenda while consent covered every body
    consents = all_bodies_for(SIGRID)
    meeting = arbeidslag(consents)
    add_named(meeting, consents)
    add_anonymous(meeting, consents)
    new_events(meeting)
    # when the guardian withdraws the consent for barnevern before the meeting is held
    consents.covered.discard((SIGRID, "barnevern"))
    with pytest.raises(ConsentRequired) as caught:
        meeting.record_held(held_at=MEETING_AT, consent_lookup=consents, actor=SPED_LEAD, at=AFTER)
    # then holding is refused, naming the item, the body and the date but not the student
    assert caught.value.rule == "consent-required"
    assert (
        caught.value.context["body"],
        caught.value.context["item_id"],
        caught.value.context["on"],
    ) == (
        "barnevern",
        ITEM_1,
        MEETING_DAY,
    )
    assert str(SIGRID) not in str(caught.value)
    assert new_events(meeting) == []
    assert not meeting.is_held
    # and once the consent is given again, the meeting can be recorded as held
    consents.covered.add((SIGRID, "barnevern"))
    meeting.record_held(held_at=MEETING_AT, consent_lookup=consents, actor=SPED_LEAD, at=AFTER)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.Held)


def test_holding_checks_consent_on_the_date_held_not_the_date_scheduled() -> None:
    # given consent that ends on the scheduled day
    consents = all_bodies_for(SIGRID, until=MEETING_DAY)
    meeting = arbeidslag(consents)
    add_named(meeting, consents)
    new_events(meeting)
    # when the meeting is held two days later, then consent is checked on that day: refused
    later = MEETING_AT + timedelta(days=2)
    with pytest.raises(ConsentRequired) as caught:
        meeting.record_held(held_at=later, consent_lookup=consents, actor=SPED_LEAD, at=later)
    assert caught.value.context["on"] == later.date()
    assert new_events(meeting) == []
    # held on the scheduled day, it is covered
    meeting.record_held(held_at=MEETING_AT, consent_lookup=consents, actor=SPED_LEAD, at=AFTER)
    assert meeting.is_held


def test_holding_without_external_bodies_or_named_items_asks_for_no_consent() -> None:
    ressursteam = with_named_item()
    ressursteam.record_held(
        held_at=MEETING_AT, consent_lookup=must_not_be_called, actor=SPED_LEAD, at=AFTER
    )
    anonymous_only = arbeidslag()
    add_anonymous(anonymous_only, must_not_be_called)
    anonymous_only.record_held(
        held_at=MEETING_AT, consent_lookup=must_not_be_called, actor=SPED_LEAD, at=AFTER
    )
    assert ressursteam.is_held
    assert anonymous_only.is_held


def test_a_note_on_a_named_item_needs_consent_on_the_meeting_date() -> None:
    # given Sigrid's case on the arbeidslag agenda, then the consent for PPT withdrawn
    consents = all_bodies_for(SIGRID)
    meeting = arbeidslag(consents)
    add_named(meeting, consents)
    add_anonymous(meeting, consents)
    new_events(meeting)
    consents.covered.discard((SIGRID, "ppt"))
    # when a note is recorded on her item, then it is refused, and nothing is recorded
    with pytest.raises(ConsentRequired) as caught:
        meeting.record_note(
            item_id=ITEM_1, text=NOTE, consent_lookup=consents, actor=THERAPIST, at=AFTER
        )
    assert (caught.value.context["body"], caught.value.context["item_id"]) == ("ppt", ITEM_1)
    assert NOTE not in str(caught.value)
    assert str(SIGRID) not in str(caught.value)
    assert new_events(meeting) == []
    # a note on the anonymous item asks for no consent
    meeting.record_note(
        item_id=ITEM_2, text="Drøftet anonymt", consent_lookup=must_not_be_called,
        actor=THERAPIST, at=AFTER,
    )  # fmt: skip
    assert len(new_events(meeting)) == 1


def test_a_decision_on_a_named_item_needs_consent_on_the_meeting_date() -> None:
    # given Sigrid's case on the arbeidslag agenda, then the consent for PPT withdrawn
    consents = all_bodies_for(SIGRID)
    meeting = arbeidslag(consents)
    add_named(meeting, consents)
    add_anonymous(meeting, consents)
    new_events(meeting)
    consents.covered.discard((SIGRID, "ppt"))

    def decide(item_id: UUID, lookup: Any) -> None:
        meeting.record_decision(
            decision_id=uuid4(), item_id=item_id, outcome="measure", text=DECISION_TEXT,
            responsible="p-mt1", due=date(2024, 10, 1), consent_lookup=lookup,
            actor=SPED_LEAD, at=AFTER,
        )  # fmt: skip

    # when a decision is recorded on her item, then it is refused, and nothing is recorded
    with pytest.raises(ConsentRequired) as caught:
        decide(ITEM_1, consents)
    assert (caught.value.context["body"], caught.value.context["item_id"]) == ("ppt", ITEM_1)
    assert DECISION_TEXT not in str(caught.value)
    assert new_events(meeting) == []
    # a decision on the anonymous item asks for no consent
    decide(ITEM_2, must_not_be_called)
    assert len(new_events(meeting)) == 1


# ---------------------------------------------------------------------------------------------
# Agenda items: field presence per subject kind
# ---------------------------------------------------------------------------------------------


def test_ressursteam_walks_through_trinn_classes_and_themes() -> None:
    meeting = scheduled("ressursteam")
    rows: list[tuple[str, int | None, str | None, str]] = [
        ("trinn", 8, None, "Gjennomgang 8. trinn"),
        ("class", 8, "8c", "Klassemiljøet i 8c"),
        ("class", 10, "10a", "Klassemiljøet i 10a"),
        ("theme", None, None, "Årshjul: trivselsuke"),
    ]
    for n, (kind, trinn, class_name, title) in enumerate(rows, start=1):
        meeting.add_agenda_item(
            item_id=UUID(int=n),
            subject_kind=kind,
            student_id=None,
            anonymous=False,
            trinn=trinn,
            class_name=class_name,
            title=title,
            concern_id=None,
            consent_lookup=must_not_be_called,
            actor=SPED_LEAD,
            at=T0,
        )
    events = new_events(meeting)
    assert len(events) == 4
    assert all(e.subject_id() is None for e in events)
    agenda = meeting.agenda()
    assert [i.subject_kind for i in agenda] == [
        AgendaSubject.TRINN,
        AgendaSubject.CLASS,
        AgendaSubject.CLASS,
        AgendaSubject.THEME,
    ]
    assert (agenda[1].trinn, agenda[1].class_name) == (8, "8c")
    assert events[1].summary() == f"agenda item {UUID(int=2)} added (class, trinn 8, class 8c)"


_BAD_ITEMS: list[tuple[str, UUID | None, bool, int | None, str | None, UUID | None]] = [
    ("student", None, False, 9, "9b", None),  # named item without student id
    ("student", SIGRID, True, 9, None, None),  # anonymous item carrying a student id
    ("student", None, True, 9, None, CONCERN),  # anonymous item carrying a concern
    ("student", SIGRID, False, None, "9b", None),  # class without trinn
    ("student", SIGRID, False, 14, None, None),  # trinn out of range
    ("class", None, False, 8, None, None),  # class item without class name
    ("class", None, False, None, None, None),  # class item without anything
    ("class", SIGRID, False, 8, "8c", None),  # class item with a student
    ("class", None, True, 8, "8c", None),  # only student items are anonymous
    ("trinn", None, False, None, None, None),  # trinn item without trinn
    ("trinn", None, False, 8, "8c", None),  # trinn item with a class
    ("trinn", None, False, 8, None, CONCERN),  # trinn item with a concern
    ("theme", None, False, 8, None, None),  # theme item with a trinn
    ("pupil", SIGRID, False, None, None, None),  # unknown subject kind
]


@pytest.mark.parametrize(
    ("kind", "student", "anonymous", "trinn", "class_name", "concern"), _BAD_ITEMS
)
def test_agenda_item_field_presence(
    kind: str,
    student: UUID | None,
    anonymous: bool,
    trinn: int | None,
    class_name: str | None,
    concern: UUID | None,
) -> None:
    meeting = scheduled("ressursteam")
    with pytest.raises(InvalidValue):
        meeting.add_agenda_item(
            item_id=ITEM_1,
            subject_kind=kind,
            student_id=student,
            anonymous=anonymous,
            trinn=trinn,
            class_name=class_name,
            title="Sak",
            concern_id=concern,
            consent_lookup=must_not_be_called,
            actor=SPED_LEAD,
            at=T0,
        )
    assert new_events(meeting) == []


def test_agenda_item_title_is_required_and_item_id_unique() -> None:
    meeting = scheduled("ressursteam")
    with pytest.raises(InvalidValue):
        meeting.add_agenda_item(
            item_id=ITEM_1,
            subject_kind="theme",
            student_id=None,
            anonymous=False,
            trinn=None,
            class_name=None,
            title="  ",
            concern_id=None,
            consent_lookup=must_not_be_called,
            actor=SPED_LEAD,
            at=T0,
        )
    add_named(meeting, must_not_be_called)
    with pytest.raises(AlreadyExists):
        add_anonymous(meeting, must_not_be_called, item_id=ITEM_1)
    assert len(new_events(meeting)) == 1


def test_agenda_item_event_is_personal_and_summary_is_not() -> None:
    meeting = scheduled("ressursteam")
    add_named(meeting, must_not_be_called)
    [event] = new_events(meeting)
    assert frozenset({"title"}) == event.PERSONAL_FIELDS
    assert event.SUBJECT_FIELD == "student_id"
    assert event.summary() == f"agenda item {ITEM_1} added (named student, trinn 9, class 9b)"


def test_discussed_concerns_and_named_students() -> None:
    meeting = scheduled("ressursteam")
    add_named(meeting, must_not_be_called, item_id=ITEM_1)
    add_anonymous(meeting, must_not_be_called, item_id=ITEM_2)
    add_named(meeting, must_not_be_called, item_id=ITEM_3, concern_id=None)
    assert meeting.discussed_concern_ids() == [CONCERN]
    assert meeting.named_students() == [SIGRID]
    assert [i.item_id for i in meeting.agenda()] == [ITEM_1, ITEM_2, ITEM_3]


# ---------------------------------------------------------------------------------------------
# Notes, decisions and actions
# ---------------------------------------------------------------------------------------------


def test_note_copies_the_items_student() -> None:
    meeting = scheduled("ressursteam")
    add_named(meeting, must_not_be_called, item_id=ITEM_1)
    add_anonymous(meeting, must_not_be_called, item_id=ITEM_2)
    new_events(meeting)
    meeting.record_note(
        consent_lookup=must_not_be_called, item_id=ITEM_1, text=NOTE, actor=THERAPIST, at=AFTER
    )
    meeting.record_note(
        consent_lookup=must_not_be_called,
        item_id=ITEM_2,
        text="Foreslår friminuttsaktivitet",
        actor=THERAPIST,
        at=AFTER,
    )
    named, anonymous = new_events(meeting)
    assert isinstance(named, Meeting.NoteRecorded)
    assert isinstance(anonymous, Meeting.NoteRecorded)
    assert (named.student_id, named.subject_id()) == (SIGRID, SIGRID)
    assert anonymous.student_id is None
    assert frozenset({"text"}) == named.PERSONAL_FIELDS
    assert named.summary() == f"note recorded on agenda item {ITEM_1}"
    [note] = meeting.notes(ITEM_1)
    assert (note.text, note.recorded_at, note.recorded_by) == (NOTE, AFTER, "p-mt1")


def test_note_refused_for_unknown_item_or_empty_text() -> None:
    meeting = with_named_item()
    with pytest.raises(UnknownEntry):
        meeting.record_note(
            consent_lookup=must_not_be_called, item_id=ITEM_2, text=NOTE, actor=THERAPIST, at=AFTER
        )
    with pytest.raises(InvalidValue):
        meeting.record_note(
            consent_lookup=must_not_be_called, item_id=ITEM_1, text="", actor=THERAPIST, at=AFTER
        )
    assert new_events(meeting) == []


def test_decision_with_action_copies_student_and_opens_action() -> None:
    meeting = with_named_item()
    decide_measure(meeting, due=date(2024, 9, 18))
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.DecisionRecorded)
    assert (event.student_id, event.outcome, event.responsible) == (SIGRID, "measure", "p-mt1")
    assert event.summary() == (
        f"decision {DECISION_1} on agenda item {ITEM_1}: measure, action due 2024-09-18"
    )
    assert meeting.open_actions() == [
        ActionView(
            decision_id=DECISION_1,
            item_id=ITEM_1,
            student_id=SIGRID,
            responsible="p-mt1",
            due=date(2024, 9, 18),
            text=DECISION_TEXT,
        )
    ]
    assert meeting.decisions()[0].outcome is DecisionOutcome.MEASURE


def test_advice_needs_no_action() -> None:
    meeting = with_named_item()
    meeting.record_decision(
        consent_lookup=must_not_be_called,
        decision_id=DECISION_1,
        item_id=ITEM_1,
        outcome="advice",
        text="Kontaktlærer følger med",
        responsible=None,
        due=None,
        actor=SPED_LEAD,
        at=AFTER,
    )
    assert len(new_events(meeting)) == 1
    assert meeting.open_actions() == []


def test_measure_requires_an_action() -> None:
    meeting = with_named_item()
    with pytest.raises(ActionRequired):
        meeting.record_decision(
            consent_lookup=must_not_be_called,
            decision_id=DECISION_1,
            item_id=ITEM_1,
            outcome="measure",
            text=DECISION_TEXT,
            responsible=None,
            due=None,
            actor=SPED_LEAD,
            at=AFTER,
        )
    assert new_events(meeting) == []


@pytest.mark.parametrize(
    ("outcome", "responsible", "due"),
    [
        ("referral", "p-mt1", None),  # both or neither
        ("referral", None, date(2024, 9, 18)),  # both or neither
        ("referral", "Kari Nordmann", date(2024, 9, 18)),  # responsible is a person id
        ("omsorgsovertakelse", None, None),  # unknown outcome
    ],
)
def test_decision_rejects_bad_values(
    outcome: str, responsible: str | None, due: date | None
) -> None:
    meeting = with_named_item()
    with pytest.raises(InvalidValue):
        meeting.record_decision(
            consent_lookup=must_not_be_called,
            decision_id=DECISION_1,
            item_id=ITEM_1,
            outcome=outcome,
            text="Henvise til PPT",
            responsible=responsible,
            due=due,
            actor=SPED_LEAD,
            at=AFTER,
        )
    assert new_events(meeting) == []


def test_decision_refused_for_unknown_item_or_duplicate_id() -> None:
    meeting = with_named_item()
    with pytest.raises(UnknownEntry):
        meeting.record_decision(
            consent_lookup=must_not_be_called,
            decision_id=DECISION_1,
            item_id=ITEM_2,
            outcome="advice",
            text="Råd",
            responsible=None,
            due=None,
            actor=SPED_LEAD,
            at=AFTER,
        )
    decide_measure(meeting, due=date(2024, 9, 18))
    with pytest.raises(AlreadyExists):
        decide_measure(meeting, due=date(2024, 9, 25))
    assert len(new_events(meeting)) == 1


def test_decision_on_anonymous_item_has_no_student() -> None:
    meeting = arbeidslag()
    add_anonymous(meeting, must_not_be_called, item_id=ITEM_2)
    meeting.record_decision(
        consent_lookup=must_not_be_called,
        decision_id=DECISION_1,
        item_id=ITEM_2,
        outcome="arbeidslag",
        text="Tas opp igjen om tre uker",
        responsible=None,
        due=None,
        actor=SPED_LEAD,
        at=AFTER,
    )
    [_, event] = new_events(meeting)
    assert isinstance(event, Meeting.DecisionRecorded)
    assert event.student_id is None


def test_open_actions_by_due_date_and_completion() -> None:
    meeting = with_named_item()
    decide_measure(meeting, decision_id=DECISION_1, due=date(2024, 10, 1))
    decide_measure(meeting, decision_id=DECISION_2, due=date(2024, 9, 18))
    new_events(meeting)
    assert [a.decision_id for a in meeting.open_actions()] == [DECISION_2, DECISION_1]
    meeting.complete_action(
        decision_id=DECISION_2, completed_on=date(2024, 9, 17), actor=THERAPIST, at=AFTER
    )
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.ActionCompleted)
    assert (event.student_id, event.effective_time()) == (SIGRID, date(2024, 9, 17))
    assert [a.decision_id for a in meeting.open_actions()] == [DECISION_1]
    with pytest.raises(ActionAlreadyCompleted):
        meeting.complete_action(
            decision_id=DECISION_2, completed_on=date(2024, 9, 18), actor=THERAPIST, at=AFTER
        )
    assert new_events(meeting) == []


def test_complete_action_refused_for_unknown_or_actionless_decision() -> None:
    meeting = with_named_item()
    meeting.record_decision(
        consent_lookup=must_not_be_called,
        decision_id=DECISION_1,
        item_id=ITEM_1,
        outcome="advice",
        text="Råd",
        responsible=None,
        due=None,
        actor=SPED_LEAD,
        at=AFTER,
    )
    new_events(meeting)
    for decision_id in (DECISION_1, DECISION_2):
        with pytest.raises(UnknownEntry):
            meeting.complete_action(
                decision_id=decision_id, completed_on=date(2024, 9, 17), actor=THERAPIST, at=AFTER
            )
    assert new_events(meeting) == []


# ---------------------------------------------------------------------------------------------
# Held, minutes, amendments, cancellation
# ---------------------------------------------------------------------------------------------


def test_record_held_once_and_not_in_the_future() -> None:
    meeting = scheduled("ressursteam")
    with pytest.raises(HeldInFuture):
        meeting.record_held(
            consent_lookup=must_not_be_called,
            held_at=AFTER + timedelta(minutes=1),
            actor=SPED_LEAD,
            at=AFTER,
        )
    with pytest.raises(InvalidValue):
        meeting.record_held(
            consent_lookup=must_not_be_called,
            held_at=MEETING_AT.replace(tzinfo=None),
            actor=SPED_LEAD,
            at=AFTER,
        )
    assert new_events(meeting) == []
    meeting.record_held(
        consent_lookup=must_not_be_called, held_at=AFTER, actor=SPED_LEAD, at=AFTER
    )  # held "now" is allowed
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.Held)
    assert event.effective_time() == AFTER
    assert meeting.is_held
    assert meeting.held_at == AFTER
    with pytest.raises(MeetingStateError):
        meeting.record_held(
            consent_lookup=must_not_be_called, held_at=MEETING_AT, actor=SPED_LEAD, at=AFTER
        )
    assert new_events(meeting) == []


def test_minutes_close_only_when_held() -> None:
    meeting = scheduled("ressursteam")
    with pytest.raises(MeetingStateError):
        meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    assert new_events(meeting) == []
    held(meeting)
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.MinutesClosed)
    assert meeting.minutes_closed
    with pytest.raises(MinutesClosed):
        meeting.close_minutes(actor=SPED_LEAD, at=AFTER)


def test_closed_minutes_refuse_changes() -> None:
    meeting = held(with_named_item())
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    new_events(meeting)
    with pytest.raises(MinutesClosed):
        meeting.add_participant(
            person_id="p-coord", role="miljokoordinator", actor=SPED_LEAD, at=AFTER
        )
    with pytest.raises(MinutesClosed):
        meeting.add_external_participant(
            body="ppt", consent_lookup=must_not_be_called, actor=SPED_LEAD, at=AFTER
        )
    with pytest.raises(MinutesClosed):
        add_anonymous(meeting, must_not_be_called)
    with pytest.raises(MinutesClosed):
        meeting.record_note(
            consent_lookup=must_not_be_called, item_id=ITEM_1, text=NOTE, actor=THERAPIST, at=AFTER
        )
    with pytest.raises(MinutesClosed):
        decide_measure(meeting, due=date(2024, 9, 18))
    with pytest.raises(MeetingStateError):
        meeting.cancel(reason="Feil", actor=SPED_LEAD, at=AFTER)
    assert new_events(meeting) == []


def test_actions_can_be_completed_after_minutes_are_closed() -> None:
    meeting = with_named_item()
    decide_measure(meeting, due=date(2024, 9, 18))
    held(meeting)
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    new_events(meeting)
    meeting.complete_action(
        decision_id=DECISION_1, completed_on=date(2024, 9, 16), actor=THERAPIST, at=AFTER
    )
    assert [type(e) for e in new_events(meeting)] == [Meeting.ActionCompleted]
    assert meeting.open_actions() == []


def test_amend_minutes_only_after_closing_and_copies_student() -> None:
    meeting = held(with_named_item())
    with pytest.raises(MeetingStateError):
        meeting.amend_minutes(
            amendment_id=AMENDMENT_1,
            item_id=ITEM_1,
            text="Riktig dato er 5. september",
            reason="Skrivefeil",
            actor=SPED_LEAD,
            at=AFTER,
        )
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    new_events(meeting)
    meeting.amend_minutes(
        amendment_id=AMENDMENT_1,
        item_id=ITEM_1,
        text="Riktig dato er 5. september",
        reason="Skrivefeil",
        actor=SPED_LEAD,
        at=AFTER,
    )
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.MinutesAmended)
    assert (event.student_id, event.subject_id()) == (SIGRID, SIGRID)
    assert frozenset({"text", "reason"}) == event.PERSONAL_FIELDS
    assert event.summary() == f"minutes amended ({AMENDMENT_1}) on agenda item {ITEM_1}"
    assert meeting.amendments()[0].recorded_by == "p-sped"


def test_amendment_without_item_and_refusals() -> None:
    meeting = held(with_named_item())
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    new_events(meeting)
    meeting.amend_minutes(
        amendment_id=AMENDMENT_1,
        item_id=None,
        text="Rektor deltok også",
        reason="Manglet i deltakerlisten",
        actor=SPED_LEAD,
        at=AFTER,
    )
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.MinutesAmended)
    assert event.student_id is None
    with pytest.raises(AlreadyExists):
        meeting.amend_minutes(
            amendment_id=AMENDMENT_1, item_id=None, text="X", reason="Y", actor=SPED_LEAD, at=AFTER
        )
    with pytest.raises(UnknownEntry):
        meeting.amend_minutes(
            amendment_id=UUID(int=99),
            item_id=ITEM_2,
            text="X",
            reason="Y",
            actor=SPED_LEAD,
            at=AFTER,
        )
    assert new_events(meeting) == []


def test_cancel_before_held_then_everything_is_refused() -> None:
    meeting = with_named_item()
    meeting.cancel(reason="Rektor syk", actor=SPED_LEAD, at=T0)
    [event] = new_events(meeting)
    assert isinstance(event, Meeting.Cancelled)
    assert frozenset({"reason"}) == event.PERSONAL_FIELDS
    assert event.summary() == "meeting cancelled"
    assert meeting.cancelled
    with pytest.raises(MeetingStateError):
        meeting.cancel(reason="Igjen", actor=SPED_LEAD, at=T0)
    with pytest.raises(MeetingStateError):
        meeting.add_participant(
            person_id="p-coord", role="miljokoordinator", actor=SPED_LEAD, at=T0
        )
    with pytest.raises(MeetingStateError):
        meeting.record_note(
            consent_lookup=must_not_be_called, item_id=ITEM_1, text=NOTE, actor=THERAPIST, at=T0
        )
    with pytest.raises(MeetingStateError):
        meeting.record_held(
            consent_lookup=must_not_be_called, held_at=MEETING_AT, actor=SPED_LEAD, at=AFTER
        )
    with pytest.raises(MeetingStateError):
        meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    assert new_events(meeting) == []


def test_cancel_refused_once_held_or_with_minutes_content() -> None:
    meeting = held(scheduled("ressursteam"))
    with pytest.raises(MeetingStateError):
        meeting.cancel(reason="For sent", actor=SPED_LEAD, at=AFTER)
    meeting = with_named_item()
    meeting.record_note(
        consent_lookup=must_not_be_called, item_id=ITEM_1, text=NOTE, actor=THERAPIST, at=T0
    )
    new_events(meeting)
    with pytest.raises(MeetingStateError):
        meeting.cancel(reason="Rektor syk", actor=SPED_LEAD, at=T0)
    assert new_events(meeting) == []


# ---------------------------------------------------------------------------------------------
# Whole meeting: subjects, wire types, personal data, replay, snapshots
# ---------------------------------------------------------------------------------------------


def full_arbeidslag() -> tuple[Meeting, list[Meeting.Event]]:
    consents = all_bodies_for(SIGRID)
    meeting = Meeting.schedule(
        meeting_id=MEETING_ID,
        school_code="gjesdal",
        kind="arbeidslag",
        scheduled_at=MEETING_AT,
        actor=SPED_LEAD,
        at=T0,
    )
    meeting.add_participant(person_id="p-coord", role="miljokoordinator", actor=SPED_LEAD, at=T0)
    for body in ARBEIDSLAG_BODIES:
        meeting.add_external_participant(body=body, consent_lookup=consents, actor=SPED_LEAD, at=T0)
    add_named(meeting, consents, item_id=ITEM_1)
    add_anonymous(meeting, consents, item_id=ITEM_2)
    meeting.record_note(
        consent_lookup=consents, item_id=ITEM_1, text=NOTE, actor=COORDINATOR, at=AFTER
    )
    decide_measure(meeting, due=date(2024, 9, 25), consents=consents)
    meeting.record_held(consent_lookup=consents, held_at=MEETING_AT, actor=SPED_LEAD, at=AFTER)
    meeting.close_minutes(actor=SPED_LEAD, at=AFTER)
    meeting.amend_minutes(
        amendment_id=AMENDMENT_1,
        item_id=ITEM_1,
        text="Sigrid var selv med de første ti minuttene",
        reason="Utelatt i referatet",
        actor=SPED_LEAD,
        at=AFTER,
    )
    meeting.complete_action(
        decision_id=DECISION_1, completed_on=date(2024, 9, 23), actor=THERAPIST, at=AFTER
    )
    return meeting, new_events(meeting)


def test_replay_rebuilds_equal_state() -> None:
    meeting, events = full_arbeidslag()
    assert len(events) == 14
    rebuilt = replay(events)
    assert rebuilt == meeting
    assert rebuilt.agenda() == meeting.agenda()
    assert rebuilt.open_actions() == []


def test_every_event_about_sigrid_carries_her_id() -> None:
    _, events = full_arbeidslag()
    about_item_1 = [e for e in events if getattr(e, "item_id", None) == ITEM_1]
    about_item_1 += [e for e in events if isinstance(e, Meeting.ActionCompleted)]
    assert len(about_item_1) == 5
    assert all(e.subject_id() == SIGRID for e in about_item_1)
    assert all(e.subject_id() is None for e in events if getattr(e, "item_id", 0) == ITEM_2)


_WIRE_TYPES = (str, int, bool, UUID, datetime, date, type(None))


def test_events_have_stable_topics_and_wire_fields() -> None:
    _, events = full_arbeidslag()
    for event in events:
        name = type(event).__name__
        assert getattr(type(event), "TOPIC", None) == f"miljo:Meeting.{name}"
        assert getattr(type(event), "class_version", None) == 1
        for field, value in vars(event).items():
            assert isinstance(value, _WIRE_TYPES), (name, field)
            assert not isinstance(value, enum.Enum), (name, field)
            if isinstance(value, datetime):
                assert value.tzinfo is not None, (name, field)
        for field in type(event).PERSONAL_FIELDS:
            assert field in vars(event), (name, field)
    assert Meeting.TOPIC == "miljo:Meeting"
    assert Meeting.Created.TOPIC == "miljo:Meeting.Created"


def test_no_personal_data_in_summaries_reprs_or_errors() -> None:
    meeting, events = full_arbeidslag()
    summaries = [e.summary() for e in events]
    reprs = [repr(meeting), repr(meeting.agenda()), repr(meeting.decisions())]
    reprs += [repr(meeting.notes()), repr(meeting.amendments()), repr(meeting.open_actions())]
    errors: list[str] = []
    with pytest.raises(DomainError) as caught:
        meeting.record_note(
            consent_lookup=must_not_be_called, item_id=ITEM_1, text=NOTE, actor=THERAPIST, at=AFTER
        )
    errors.append(str(caught.value))
    with pytest.raises(DomainError) as caught:
        add_named(arbeidslag(), FakeConsents())
    errors.append(str(caught.value))
    for text in summaries + reprs + errors:
        for personal in PERSONAL_TEXTS:
            assert personal not in text, text
    for text in summaries + errors:  # not even the student's pseudonymous id
        assert str(SIGRID) not in text, text


def test_state_values_round_trip_like_the_snapshot_transcoder() -> None:
    meeting, _ = full_arbeidslag()
    state = (
        meeting.participants()
        + meeting.agenda()
        + meeting.notes()
        + meeting.decisions()
        + meeting.amendments()
    )
    assert {type(v) for v in state} <= set(VALUE_TYPES)
    for value in state:
        cls = type(value)
        assert cls(**attrs.asdict(value, recurse=False)) == value
    for key, value in vars(meeting).items():
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value), key
        assert not isinstance(value, tuple | enum.Enum), key
    item = meeting.agenda()[0]
    assert isinstance(item, AgendaItemView)
    assert item.is_named_student
