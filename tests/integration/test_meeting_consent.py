"""Consent when an arbeidslag with external services is held and its minutes are written.

domain.md: a named student is discussed with external services only with recorded consent;
otherwise anonymously. Consent is checked on the meeting's date when an item or a body is
added, and again when a note is recorded on a named item and when the meeting is recorded as
held (domain/meeting.py): a consent withdrawn in between must not let the meeting be held, or
minutes be written, about the named student. The overview keeps flagging a held meeting whose
named items consent did not cover on the date held.

Everything goes through the facade, on every store kind. Test data: Gjesdal ungdomsskole
(``conftest.build_gjesdal``); T0 is Monday 2024-08-19 08:00 UTC. Every name is invented.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from uuid import UUID

import pytest

from domain.errors import ConsentRequired
from domain.facade import Miljo
from domain.overview import ConsentCheck
from tests.integration.conftest import GJESDAL, Gjesdal
from tests.support import ADMIN, COORDINATOR, FakeClock

E = TypeVar("E", bound=Exception)

TODAY = date(2024, 8, 19)  # T0's date
MEETING_AT = datetime(2024, 9, 9, 12, 0, tzinfo=UTC)  # Monday, 14:00 in Oslo
MEETING_DAY = date(2024, 9, 9)
HELD_AT = MEETING_AT + timedelta(hours=1)
KARI_NAME = "Kari Testesen"


def refused(store: Miljo, error: type[E], command: Callable[[], object]) -> E:
    """Run ``command``, which ``store`` must refuse with ``error``, and check it wrote nothing."""
    before = store.event_count()
    with pytest.raises(error) as caught:
        command()
    assert store.event_count() == before, f"refused command wrote events ({caught.value})"
    return caught.value


def kari(store: Miljo) -> UUID:
    return store.register_student(
        ADMIN,
        school=GJESDAL,
        student_number="1002",
        name=KARI_NAME,
        trinn=8,
        class_name="8c",
        registered_on=TODAY,
    )


def barnevern_consent(store: Miljo, student: UUID) -> UUID:
    return store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=TODAY,
    )


def arbeidslag_with_kari(store: Miljo, student: UUID) -> tuple[UUID, UUID]:
    """An arbeidslag with barnevern and Kari's case by name (consent covering it then)."""
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=MEETING_AT
    )
    store.add_external_participant(COORDINATOR, meeting, body="barnevern")
    item = store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="Sak", student_id=student
    )
    return meeting, item


def test_a_withdrawn_consent_stops_holding_and_notes_and_stays_flagged(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    # given Kari's case by name on the arbeidslag with barnevern, consent given, then withdrawn
    student = kari(store)
    consent = barnevern_consent(store, student)
    meeting, item = arbeidslag_with_kari(store, student)
    store.withdraw_consent(COORDINATOR, student, consent_id=consent)
    flagged = ConsentCheck(
        meeting_id=meeting,
        item_id=item,
        student_id=student,
        meeting_date=MEETING_DAY,
        bodies=["barnevern"],
        missing=["barnevern"],
    )
    assert store.overview(COORDINATOR, school=GJESDAL, on=TODAY).arbeidslag_consent == [flagged]
    clock.current = HELD_AT + timedelta(hours=1)
    # when the meeting is recorded as held, then it is refused, naming no personal data
    error = refused(store, ConsentRequired, lambda: store.record_meeting_held(COORDINATOR, meeting))
    assert (error.context["body"], error.context["item_id"]) == ("barnevern", item)
    assert error.context["on"] == MEETING_DAY
    assert KARI_NAME not in str(error)
    assert str(student) not in str(error)
    # and a note on her item is refused too
    error = refused(
        store,
        ConsentRequired,
        lambda: store.record_note(COORDINATOR, meeting, item_id=item, text="Diskutert"),
    )
    assert "Diskutert" not in str(error)
    view = store.meeting(COORDINATOR, meeting)
    assert view.held_at is None
    assert view.notes == []
    # and the overview still flags the missing consent
    overview = store.overview(COORDINATOR, school=GJESDAL, on=MEETING_DAY)
    assert overview.arbeidslag_consent == [flagged]
    # once consent is recorded again, the meeting is held and its minutes written
    barnevern_consent(store, student)
    store.record_meeting_held(COORDINATOR, meeting, held_at=HELD_AT)
    store.record_note(COORDINATOR, meeting, item_id=item, text="Diskutert")
    assert store.meeting(COORDINATOR, meeting).held_at == HELD_AT
    assert store.overview(COORDINATOR, school=GJESDAL, on=MEETING_DAY).arbeidslag_consent == []


def test_holding_on_another_day_checks_consent_on_that_day(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    # given consent for barnevern that ends on the day the arbeidslag was scheduled
    student = kari(store)
    store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=TODAY,
        valid_to=MEETING_DAY,
    )
    meeting, item = arbeidslag_with_kari(store, student)
    # when it is held two days later, then holding is refused on that day
    later = HELD_AT + timedelta(days=2)
    clock.current = later + timedelta(hours=1)
    error = refused(
        store,
        ConsentRequired,
        lambda: store.record_meeting_held(COORDINATOR, meeting, held_at=later),
    )
    assert (error.context["item_id"], error.context["on"]) == (item, MEETING_DAY + timedelta(2))
    # held on the day scheduled, consent covers it
    store.record_meeting_held(COORDINATOR, meeting, held_at=HELD_AT)
    assert store.meeting(COORDINATOR, meeting).held_at == HELD_AT


def test_a_held_meeting_whose_consent_was_withdrawn_before_it_stays_flagged(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    # given the arbeidslag held with Kari's case while her consent was on record
    student = kari(store)
    consent = barnevern_consent(store, student)
    meeting, item = arbeidslag_with_kari(store, student)
    clock.current = HELD_AT + timedelta(hours=1)
    store.record_meeting_held(COORDINATOR, meeting, held_at=HELD_AT)
    assert store.overview(COORDINATOR, school=GJESDAL, on=MEETING_DAY).arbeidslag_consent == []
    # when a withdrawal dated before the meeting is recorded afterwards
    clock.current = HELD_AT + timedelta(days=1)
    store.withdraw_consent(
        COORDINATOR, student, consent_id=consent, withdrawn_on=MEETING_DAY - timedelta(days=1)
    )
    # then the overview flags the held meeting: she was discussed without consent
    overview = store.overview(COORDINATOR, school=GJESDAL, on=MEETING_DAY + timedelta(days=1))
    assert overview.arbeidslag_consent == [
        ConsentCheck(
            meeting_id=meeting,
            item_id=item,
            student_id=student,
            meeting_date=MEETING_DAY,
            bodies=["barnevern"],
            missing=["barnevern"],
        )
    ]
    # (as of the day before it was held, no held meeting is flagged)
    before = store.overview(COORDINATOR, school=GJESDAL, on=MEETING_DAY - timedelta(days=1))
    assert [c.item_id for c in before.arbeidslag_consent] == []
