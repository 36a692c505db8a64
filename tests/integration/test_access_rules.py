"""Rules of the facade an embedding program meets (session 8 review): an observation's author
gains no need-to-know; a trinn outside the school's range is refused; an unknown entry is a
NotFound (and still a RuleViolation); a transfer goes only to a school in the store.

Every name below is invented. T0 is Monday 2024-08-19 08:00 UTC (tests/support.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Final
from uuid import UUID

import pytest

from adapters.bootstrap import open_store
from domain.errors import AccessDenied, InvalidValue, NotFound, RuleViolation, UnknownEntry
from domain.facade import Miljo
from domain.values import Actor, Role
from tests.integration.conftest import GJESDAL, build_gjesdal
from tests.support import ADMIN, AUDITOR, COORDINATOR, REKTOR, FakeClock, SequentialIds

TODAY: Final = date(2024, 8, 19)
#: A teacher and a miljøterapeut of gjesdal with no tie to the student.
ANY_TEACHER: Final = Actor("p-any", Role.LAERER, schools=frozenset({GJESDAL}))
ANY_MT: Final = Actor("gj-mt6", Role.MILJOTERAPEUT, schools=frozenset({GJESDAL}))
NO_ENTRY: Final = UUID(int=0)


@pytest.fixture
def miljo() -> Iterator[Miljo]:
    with open_store(":memory:", clock=FakeClock(), ids=SequentialIds()) as store:
        build_gjesdal(store)
        yield store


def student(miljo: Miljo, number: str = "5101") -> UUID:
    return miljo.register_student(
        ADMIN, school=GJESDAL, student_number=number, name="Ola Testesen", trinn=9, class_name="9a"
    )


def correct(miljo: Miljo, actor: Actor, kari: UUID, observation: UUID) -> UUID:
    return miljo.correct_observation(
        actor,
        kari,
        corrects=observation,
        arena="classroom",
        categories=["social"],
        text="Alene i timen",
        observed_at=miljo.clock.now(),
        reason="Feil arena",
    )


# -- #3: authorship is a relation to one observation, not to the student ---------------------


@pytest.mark.parametrize("author", [ANY_TEACHER, ANY_MT])
def test_writing_an_observation_opens_nothing_but_correcting_it(
    miljo: Miljo, author: Actor
) -> None:
    kari = student(miljo)
    mine = miljo.record_observation(
        author, kari, arena="break", categories=["social"], text="Står alene"
    )
    theirs = miljo.record_observation(
        COORDINATOR, kari, arena="break", categories=["conflict"], text="Krangel"
    )
    reads = (
        lambda: miljo.student_case(author, kari),
        lambda: miljo.history(author, kari),
        lambda: miljo.student_case_as_of(author, kari, as_of=miljo.clock.now()),
        lambda: miljo.record_consent(
            author, kari, giver="guardian", scope_kind="body", scope="ppt", valid_from=TODAY
        ),
        lambda: correct(miljo, author, kari, theirs),  # someone else's observation
    )
    for call in reads:
        before = miljo.event_count()
        with pytest.raises(AccessDenied):
            call()
        assert miljo.event_count() == before
    correct(miljo, author, kari, mine)
    # the correction made them no more the student's than the observation did
    with pytest.raises(AccessDenied):
        miljo.student_case(author, kari)


# -- #7: the school's trinn range ------------------------------------------------------------


def test_a_trinn_outside_the_school_is_refused_by_assign_and_agenda_items(miljo: Miljo) -> None:
    meeting = miljo.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=miljo.clock.now()
    )
    calls: tuple[Callable[[], object], ...] = (
        lambda: miljo.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt2",
            target_kind="trinn",
            trinn=3,
            minutes_per_week=600,
            valid_from=TODAY,
        ),
        lambda: miljo.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt2",
            target_kind="class",
            trinn=11,
            class_name="9a",
            minutes_per_week=600,
            valid_from=TODAY,
        ),
        lambda: miljo.add_agenda_item(
            COORDINATOR, meeting, subject_kind="trinn", title="3. trinn", trinn=3
        ),
        lambda: miljo.add_agenda_item(
            COORDINATOR, meeting, subject_kind="class", title="x", trinn=7, class_name="9a"
        ),
    )
    for call in calls:
        before = miljo.event_count()
        with pytest.raises(InvalidValue, match="school gjesdal has trinn 8-10"):
            call()
        assert miljo.event_count() == before
    miljo.add_agenda_item(COORDINATOR, meeting, subject_kind="trinn", title="9. trinn", trinn=9)


# -- #10: an unknown entry is NotFound, and still a RuleViolation -----------------------------


def test_an_unknown_entry_is_not_found_and_still_a_rule_violation(miljo: Miljo) -> None:
    kari = student(miljo)
    with pytest.raises(NotFound) as caught:
        miljo.withdraw_consent(COORDINATOR, kari, consent_id=NO_ENTRY)
    error = caught.value
    assert isinstance(error, UnknownEntry)
    assert isinstance(error, RuleViolation)  # code that catches RuleViolation still does
    assert (error.kind, error.key, error.rule) == ("entry", NO_ENTRY, "unknown-entry")
    assert str(error) == f"consent {NO_ENTRY} not found"
    with pytest.raises(NotFound):
        miljo.end_assignment(
            COORDINATOR, school=GJESDAL, assignment_id=NO_ENTRY, ended_on=TODAY, reason="x"
        )


# -- #11: a transfer goes to a school registered in this store --------------------------------


def test_a_transfer_needs_a_school_in_the_store(miljo: Miljo) -> None:
    kari = student(miljo)
    before = miljo.event_count()
    with pytest.raises(NotFound, match="school not found: nowhere"):
        miljo.record_departure(ADMIN, kari, kind="transferred", to_school="nowhere")
    assert miljo.event_count() == before
    # the domain's own checks come first: a malformed code is invalid, not unknown
    with pytest.raises(InvalidValue):
        miljo.record_departure(ADMIN, kari, kind="transferred", to_school="Not A Code!")
    with pytest.raises(InvalidValue, match="only for a transfer"):
        miljo.record_departure(ADMIN, kari, kind="left", to_school="nowhere")
    miljo.register_school(ADMIN, code="strinda", name="Strinda", first_trinn=8, last_trinn=13)
    miljo.record_departure(ADMIN, kari, kind="transferred", to_school="strinda")
    assert not miljo.student_summary(ADMIN, kari).is_active


def test_a_write_the_role_may_never_make_is_refused_before_the_student_is_looked_up(
    miljo: Miljo,
) -> None:
    """Checking a write for restrictions does not turn the auditor's refusal into a NotFound
    for a student that does not exist (the order of the answers is the policy's)."""
    with pytest.raises(AccessDenied):
        miljo.record_observation(AUDITOR, NO_ENTRY, arena="break", categories=["social"], text=".")
    with pytest.raises(NotFound):
        miljo.record_observation(REKTOR, NO_ENTRY, arena="break", categories=["social"], text=".")
