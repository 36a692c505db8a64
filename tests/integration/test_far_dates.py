"""Dates outside the years the domain accepts (1900-2200, docs/adr/0007-exact-quantities.md,
addendum) reaching Student and Meeting commands through the embedding API are invalid values
and write nothing, on every backend (the command line: tests/cli/test_far_dates_cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Final
from uuid import UUID

import attrs
import pytest

from domain.errors import InvalidValue
from domain.facade import Miljo
from domain.values import EARLIEST_YEAR, LATEST_YEAR
from tests.integration.conftest import GJESDAL, register_test_student
from tests.support import ADMIN, COORDINATOR, REKTOR, SPED_LEAD, FakeClock

YEARS: Final = f"must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR}"
FAR: Final = [date(1, 1, 1), date(9999, 12, 31)]


@attrs.frozen
class Case:
    """A student with a consent, a referral and an aktivitetsplan, and a held ressursteam
    that decided a measure for them."""

    student: UUID
    consent: UUID
    referral: UUID
    plan: UUID
    meeting: UUID
    item: UUID
    decision: UUID


def _case(miljo: Miljo, clock: FakeClock) -> Case:
    student = register_test_student(miljo)
    today = clock.now().date()
    consent = miljo.record_consent(
        COORDINATOR, student, giver="guardian", scope_kind="body", scope="ppt", valid_from=today
    )
    referral = miljo.make_referral(SPED_LEAD, student, body="ppt", reason="Lesing")
    plan = miljo.create_aktivitetsplan(
        COORDINATOR, student, problem="Alene i friminutt", measures=["Voksen ute"],
        when="Fra uke 35", responsible="gj-mt1", evaluation_date=today + timedelta(days=21),
    )  # fmt: skip
    meeting = miljo.schedule_meeting(
        SPED_LEAD, school=GJESDAL, kind="ressursteam", scheduled_at=clock.now()
    )
    item = miljo.add_agenda_item(
        SPED_LEAD, meeting, subject_kind="student", title="Friminutt", student_id=student
    )
    clock.advance(hours=2)
    miljo.record_meeting_held(SPED_LEAD, meeting)
    decision = miljo.record_decision(
        SPED_LEAD, meeting, item_id=item, outcome="measure", text="Voksen ute",
        responsible="gj-mt1", due=today + timedelta(days=14),
    )  # fmt: skip
    return Case(student, consent, referral, plan, meeting, item, decision)


#: Every Student and Meeting command of the facade that takes a date, on ``day``.
COMMANDS: Final[dict[str, Callable[[Miljo, Case, date], object]]] = {
    "register student": lambda m, _, day: m.register_student(
        ADMIN, school=GJESDAL, student_number="1002", name="Ola", trinn=8, class_name="8a",
        registered_on=day),
    "change class": lambda m, c, day: m.change_class(
        REKTOR, c.student, trinn=8, class_name="8b", effective_from=day),
    "departure": lambda m, c, day: m.record_departure(REKTOR, c.student, kind="left", on=day),
    "consent": lambda m, c, day: m.record_consent(
        COORDINATOR, c.student, giver="guardian", scope_kind="body", scope="bup",
        valid_from=day),
    "consent end": lambda m, c, day: m.record_consent(
        COORDINATOR, c.student, giver="guardian", scope_kind="body", scope="bup",
        valid_from=date(2024, 8, 19), valid_to=day),
    "withdraw consent": lambda m, c, day: m.withdraw_consent(
        COORDINATOR, c.student, consent_id=c.consent, withdrawn_on=day),
    "referral": lambda m, c, day: m.make_referral(
        SPED_LEAD, c.student, body="bup", reason="Søvn", made_on=day),
    "referral status": lambda m, c, day: m.change_referral_status(
        SPED_LEAD, c.student, referral_id=c.referral, status="accepted", on=day),
    "plan": lambda m, c, day: m.create_aktivitetsplan(
        COORDINATOR, c.student, problem="Uro", measures=["Samtale"], when="Nå",
        responsible="gj-mt1", evaluation_date=day),
    "plan evaluation": lambda m, c, day: m.evaluate_aktivitetsplan(
        COORDINATOR, c.student, plan_id=c.plan, assessment="Bedre", evaluated_on=day),
    "plan next evaluation": lambda m, c, day: m.evaluate_aktivitetsplan(
        COORDINATOR, c.student, plan_id=c.plan, assessment="Bedre", next_evaluation_date=day),
    "plan close": lambda m, c, day: m.close_aktivitetsplan(
        COORDINATOR, c.student, plan_id=c.plan, reason="Ferdig", closed_on=day),
    "restrict": lambda m, c, day: m.restrict_records(
        REKTOR, c.student, scope="case", reason="Sperret", on=day),
    "erase": lambda m, c, day: m.erase_personal_data(
        REKTOR, c.student, basis="request", on=day),
    "decision due": lambda m, c, day: m.record_decision(
        SPED_LEAD, c.meeting, item_id=c.item, outcome="measure", text="Samtale",
        responsible="gj-mt2", due=day),
    "complete action": lambda m, c, day: m.complete_action(
        SPED_LEAD, c.meeting, decision_id=c.decision, completed_on=day),
}  # fmt: skip


@pytest.mark.usefixtures("gjesdal")
def test_far_dates_reaching_students_and_meetings_through_the_api_are_invalid_values(
    store: Miljo, clock: FakeClock
) -> None:
    case = _case(store, clock)
    before = store.event_count()
    for name, command in COMMANDS.items():
        for day in FAR:
            with pytest.raises(InvalidValue, match=YEARS):
                command(store, case, day)
            assert store.event_count() == before, (name, day)
