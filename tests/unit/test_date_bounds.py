"""Dates coming into Student and Meeting commands lie in the years the domain accepts
(``values.check_date``: 1900-2200, docs/adr/0007-exact-quantities.md, addendum); events
already stored are replayed as they are. Given events, when command, then error and no event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Final, cast
from uuid import UUID

import pytest

from domain.errors import InvalidValue
from domain.meeting import Meeting
from domain.student import Student
from domain.values import EARLIEST_YEAR, LATEST_YEAR
from tests.support import COORDINATOR, SPED_LEAD, T0, new_events, replay
from tests.unit.test_meeting import (
    AFTER,
    DECISION_1,
    MEETING_AT,
    MEETING_DAY,
    MEETING_ID,
    add_named,
    decide_measure,
    held,
    must_not_be_called,
    with_named_item,
)
from tests.unit.test_student import (
    D0,
    STUDENT_ID,
    consent,
    create_plan,
    refer,
    registered,
    uid,
)

#: Year 1 and year 9999 (typing errors), and the first day on either side of the bounds.
FAR: Final = [date(1, 1, 1), date(1899, 12, 31), date(2201, 1, 1), date(9999, 12, 31)]
YEARS: Final = f"must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR}"

CONSENT: Final = uid(0x101)
REFERRAL: Final = uid(0x102)
PLAN: Final = uid(0x103)


def _student_with_entries() -> Student:
    """A registered student with an open consent, referral and aktivitetsplan."""
    student = registered()
    consent(student, CONSENT)
    refer(student, REFERRAL)
    create_plan(student, PLAN)
    new_events(student)
    return student


def _register(day: date) -> Student:
    return Student.register(
        student_id=STUDENT_ID, school_code="gjesdal", student_number="GJ-1", name="Ola",
        trinn=8, class_name="8c", registered_on=day, actor=COORDINATOR, at=T0,
    )  # fmt: skip


#: Every Student command that takes a date: (what the error names, the command on ``day``).
STUDENT_COMMANDS: Final[dict[str, tuple[str, Callable[[Student, date], object]]]] = {
    "register": ("registration date", lambda _, day: _register(day)),
    "change class": ("class change date", lambda s, day: s.change_class(
        trinn=8, class_name="8d", effective_from=day, actor=COORDINATOR, at=T0)),
    "depart": ("departure date", lambda s, day: s.record_departure(
        kind="left", on=day, to_school=None, actor=COORDINATOR, at=T0)),
    "consent from": ("consent start", lambda s, day: consent(s, uid(0x201), valid_from=day)),
    "consent to": ("consent end", lambda s, day: consent(s, uid(0x202), valid_to=day)),
    "withdraw consent": ("withdrawal date", lambda s, day: s.withdraw_consent(
        consent_id=CONSENT, withdrawn_on=day, actor=COORDINATOR, at=T0)),
    "refer": ("referral date", lambda s, day: s.make_referral(
        referral_id=uid(0x203), body="bup", reason="Grunn", made_on=day, actor=SPED_LEAD, at=T0)),
    "referral status": ("status date", lambda s, day: s.change_referral_status(
        referral_id=REFERRAL, status="accepted", on=day, actor=SPED_LEAD, at=T0)),
    "plan create": ("evaluation date", lambda s, day: create_plan(
        s, uid(0x204), evaluation_date=day)),
    "plan evaluate": ("evaluation date", lambda s, day: s.evaluate_aktivitetsplan(
        plan_id=PLAN, evaluated_on=day, assessment="Bedre", next_evaluation_date=None,
        actor=COORDINATOR, at=T0)),
    "plan next evaluation": ("next evaluation date", lambda s, day: s.evaluate_aktivitetsplan(
        plan_id=PLAN, evaluated_on=D0, assessment="Bedre", next_evaluation_date=day,
        actor=COORDINATOR, at=T0)),
    "plan close": ("closing date", lambda s, day: s.close_aktivitetsplan(
        plan_id=PLAN, closed_on=day, reason="Ferdig", actor=COORDINATOR, at=T0)),
    "restrict": ("restriction date", lambda s, day: s.restrict(
        scope="case", reason="Sperret", on=day, actor=COORDINATOR, at=T0)),
    "erase": ("erasure date", lambda s, day: s.record_erasure(
        basis="retention_expired", on=day, actor=COORDINATOR, at=T0)),
}  # fmt: skip


@pytest.mark.parametrize("day", FAR, ids=str)
@pytest.mark.parametrize("command", sorted(STUDENT_COMMANDS))
def test_a_student_command_refuses_a_date_outside_the_years(command: str, day: date) -> None:
    # given a student with a consent, a referral and an aktivitetsplan
    student = _student_with_entries()
    what, run = STUDENT_COMMANDS[command]
    # when the command gets a date outside the years
    with pytest.raises(InvalidValue) as refused:
        run(student, day)
    # then it is an invalid value naming the date, and nothing is recorded
    assert (refused.value.what, refused.value.reason) == (what, YEARS)
    assert new_events(student) == []


def test_lifting_a_restriction_refuses_a_date_outside_the_years() -> None:
    student = registered()
    student.restrict(scope="case", reason="Sperret", on=D0, actor=COORDINATOR, at=T0)
    new_events(student)
    for day in FAR:
        with pytest.raises(InvalidValue, match=YEARS):
            student.lift_restriction(
                scope="case", reason="Opphevet", on=day, actor=COORDINATOR, at=T0
            )
    assert new_events(student) == []


@pytest.mark.parametrize("day", [date(EARLIEST_YEAR, 1, 1), D0], ids=str)
def test_dates_inside_the_years_are_accepted(day: date) -> None:
    student = _register(day)
    assert student.registered_on == day
    student.restrict(scope="case", reason="Sperret", on=day, actor=COORDINATOR, at=T0)
    assert len(new_events(student)) == 2


def test_a_stored_student_event_outside_the_years_still_replays() -> None:
    """Only commands check the years: an event stored before the check is read as it is."""
    # given a stored registration dated in year 1 (as an older miljo accepted it)
    [registration] = new_events(_register(D0))
    old = dataclasses.replace(cast(Any, registration), registered_on=date(1, 1, 1))
    # when it is replayed, then the student is there with that date
    student = replay([old])
    assert student.registered_on == date(1, 1, 1)


# -- meetings ----------------------------------------------------------------------------------


def _decided() -> Meeting:
    """A held ressursteam with a measure decided for Sigrid (due in two weeks)."""
    meeting = held(with_named_item())
    decide_measure(meeting, due=MEETING_DAY + timedelta(days=14))
    new_events(meeting)
    return meeting


MEETING_COMMANDS: Final[dict[str, tuple[str, Callable[[Meeting, date], object]]]] = {
    "decision due": ("due date", lambda m, day: decide_measure(
        m, decision_id=UUID("dec10000-0000-4000-8000-000000000009"), due=day)),
    "complete action": ("completion date", lambda m, day: m.complete_action(
        decision_id=DECISION_1, completed_on=day, actor=SPED_LEAD, at=AFTER)),
}  # fmt: skip


@pytest.mark.parametrize("day", FAR, ids=str)
@pytest.mark.parametrize("command", sorted(MEETING_COMMANDS))
def test_a_meeting_command_refuses_a_date_outside_the_years(command: str, day: date) -> None:
    # given a held meeting with a decided measure
    meeting = _decided()
    what, run = MEETING_COMMANDS[command]
    # when the command gets a date outside the years
    with pytest.raises(InvalidValue) as refused:
        run(meeting, day)
    # then it is an invalid value naming the date, and nothing is recorded
    assert (refused.value.what, refused.value.reason) == (what, YEARS)
    assert new_events(meeting) == []


def test_a_stored_meeting_event_outside_the_years_still_replays() -> None:
    # given a ressursteam's stored events, the decision's due date in year 9999
    meeting = Meeting.schedule(
        meeting_id=MEETING_ID, school_code="gjesdal", kind="ressursteam",
        scheduled_at=MEETING_AT, actor=SPED_LEAD, at=T0,
    )  # fmt: skip
    add_named(meeting, must_not_be_called)
    meeting.record_held(
        held_at=MEETING_AT, consent_lookup=must_not_be_called, actor=SPED_LEAD, at=AFTER
    )
    decide_measure(meeting, due=MEETING_DAY)
    *earlier, decision = new_events(meeting)
    stored = [*earlier, dataclasses.replace(cast(Any, decision), due=date(9999, 12, 31))]
    # when they are replayed, then the action is there with that due date
    replayed = replay(stored)
    assert [action.due for action in replayed.open_actions()] == [date(9999, 12, 31)]
