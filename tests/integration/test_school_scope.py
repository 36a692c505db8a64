"""The school scope through the facade (domain/policy.py, ADR 0010 addendum): a municipality
keeps all its schools in one store; every role but admin and auditor acts only on the schools
its actor names.

Two schools, Gjesdal (A) and Sandnes (B), each with a student carrying every kind of record,
built by each school's own staff (actors of that school only). Every public method of the
facade is tried by the rektor of Gjesdal on Sandnes's records and must be refused, naming the
operation and the school code only, and write nothing. Runs on every store kind (in memory,
SQLite, PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Final
from uuid import UUID

import attrs
import pytest

from domain.errors import AccessDenied, NotFound
from domain.facade import Miljo
from domain.policy import FACADE_OPERATIONS
from domain.values import Actor, HoursByCompetence, Role
from tests.integration.conftest import STORE_KINDS, opened_store_of_kind
from tests.support import ADMIN, AUDITOR, T0, FakeClock

GJ: Final = "gjesdal"
SA: Final = "sandnes"
TODAY: Final = date(2024, 8, 19)
YEAR_END: Final = date(2025, 6, 20)
ASSISTANCE: Final = HoursByCompetence.from_hours(assistant=190)
#: Personal data written into Sandnes's records: no refusal message may carry any of it.
SECRETS: Final = ("Hemmelig", "S-1001")


def staff(school: str, role: Role, person: str | None = None) -> Actor:
    """A person of one school's staff, acting for that school only."""
    return Actor(person or f"{school[:2]}-{role.value[:6]}", role, schools={school})


@attrs.frozen
class SchoolRecords:
    """One school with one student carrying one of every kind of record."""

    code: str
    student: UUID
    observation: UUID
    consent: UUID
    referral: UUID
    plan: UUID
    vedtak: UUID
    assignment: UUID
    meeting: UUID
    item: UUID
    decision: UUID


def build_school(m: Miljo, code: str) -> SchoolRecords:
    """The school set up by the admin, its case work done by its own staff only."""
    rektor, sped = staff(code, Role.REKTOR), staff(code, Role.SPESIALPEDAGOGISK_ANSVARLIG)
    coordinator = staff(code, Role.MILJOKOORDINATOR, f"{code[:2]}-mt1")
    m.register_school(ADMIN, code=code, name=f"{code} skole", first_trinn=8, last_trinn=10)
    m.add_class(ADMIN, school=code, trinn=8, class_name="8a")
    m.form_team(ADMIN, school=code, name="Miljøteamet")
    for member, profession in (
        (f"{code[:2]}-mt1", "vernepleier"),
        (f"{code[:2]}-as1", "assistent"),
    ):
        m.add_member(
            ADMIN, school=code, member_id=member, profession=profession, position_percent=80
        )
    m.appoint_coordinator(rektor, school=code, member_id=f"{code[:2]}-mt1", effective_from=TODAY)
    student = m.register_student(
        rektor, school=code, student_number="S-1001", name="Hemmelig Elev", trinn=8, class_name="8a"
    )
    observation = m.record_observation(
        coordinator, student, arena="break", categories=["social"], text="Hemmelig uro"
    )
    m.raise_concern(coordinator, student, summary="Hemmelig bekymring")
    consent = m.record_consent(
        coordinator,
        student,
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=TODAY,
    )
    referral = m.make_referral(coordinator, student, body="ppt", reason="Hemmelig grunn")
    plan = m.create_aktivitetsplan(
        coordinator,
        student,
        problem="Hemmelig problem",
        measures=["Voksen i friminutt"],
        when="Straks",
        responsible=f"{code[:2]}-mt1",
        evaluation_date=YEAR_END,
    )
    vedtak = m.open_vedtak(sped, student, kind="personal_assistance")
    m.decide_vedtak(
        rektor,
        vedtak,
        hours=ASSISTANCE,
        organisation="Assistent i friminutt",
        content="Personlig assistanse",
        reasons="Hemmelige grunner",
        valid_from=TODAY,
        valid_to=YEAR_END,
    )
    assignment = m.assign(
        coordinator,
        school=code,
        member_id=f"{code[:2]}-as1",
        target_kind="student",
        student_id=student,
        vedtak_id=vedtak,
        minutes_per_week=300,
        valid_from=TODAY,
        valid_to=YEAR_END,
    )
    meeting = m.schedule_meeting(
        coordinator, school=code, kind="ressursteam", scheduled_at=T0 + timedelta(days=1)
    )
    item = m.add_agenda_item(
        coordinator, meeting, subject_kind="student", title="Oppfølging", student_id=student
    )
    decision = m.record_decision(
        coordinator,
        meeting,
        item_id=item,
        outcome="measure",
        text="Fast voksen",
        responsible=f"{code[:2]}-mt1",
        due=YEAR_END,
    )
    return SchoolRecords(
        code=code,
        student=student,
        observation=observation,
        consent=consent,
        referral=referral,
        plan=plan,
        vedtak=vedtak,
        assignment=assignment,
        meeting=meeting,
        item=item,
        decision=decision,
    )


@attrs.frozen
class Municipality:
    miljo: Miljo
    gjesdal: SchoolRecords
    sandnes: SchoolRecords


@pytest.fixture(scope="module", params=STORE_KINDS)
def municipality(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Municipality]:
    """Both schools in one store. Tests that write only use a school-scoped actor's own
    school (refusals write nothing), so the store is shared by the module."""
    clock = FakeClock()
    with opened_store_of_kind(request.param, request, tmp_path_factory, clock) as miljo:
        yield Municipality(miljo, build_school(miljo, GJ), build_school(miljo, SA))


#: The rektor of Gjesdal: the widest grants of the matrix, bound to one school.
R: Final = staff(GJ, Role.REKTOR)

#: Every public method of the facade, called by Gjesdal's rektor on Sandnes (``b``); ``a``
#: is Gjesdal, for calls that mix the two schools (see ``MIXED``).
Attempt = Callable[[Miljo, SchoolRecords, SchoolRecords], object]
ATTEMPTS: Final[dict[str, Attempt]] = {
    "register_school": lambda m, a, b: m.register_school(
        R, code="sandnes-ny", name="Ny skole", first_trinn=1, last_trinn=7
    ),
    "add_class": lambda m, a, b: m.add_class(R, school=b.code, trinn=9, class_name="9a"),
    "school": lambda m, a, b: m.school(R, b.code),
    "students_of": lambda m, a, b: m.students_of(R, b.code),
    "find_student": lambda m, a, b: m.find_student(R, school=b.code, student_number="S-1001"),
    "student_summary": lambda m, a, b: m.student_summary(R, b.student),
    "register_student": lambda m, a, b: m.register_student(
        R, school=b.code, student_number="S-2", name="Hemmelig Ny", trinn=8, class_name="8a"
    ),
    "change_class": lambda m, a, b: m.change_class(R, b.student, trinn=8, class_name="8a"),
    "record_departure": lambda m, a, b: m.record_departure(R, b.student, kind="left"),
    "record_observation": lambda m, a, b: m.record_observation(
        R, b.student, arena="break", categories=["social"], text="x"
    ),
    "correct_observation": lambda m, a, b: m.correct_observation(
        R,
        b.student,
        corrects=b.observation,
        arena="sfo",
        categories=["social"],
        text="x",
        observed_at=T0,
        reason="y",
    ),
    "raise_concern": lambda m, a, b: m.raise_concern(R, b.student, summary="x"),
    "record_consent": lambda m, a, b: m.record_consent(
        R, b.student, giver="guardian", scope_kind="body", scope="ppt", valid_from=TODAY
    ),
    "withdraw_consent": lambda m, a, b: m.withdraw_consent(R, b.student, consent_id=b.consent),
    "make_referral": lambda m, a, b: m.make_referral(R, b.student, body="bup", reason="x"),
    "change_referral_status": lambda m, a, b: m.change_referral_status(
        R, b.student, referral_id=b.referral, status="acknowledged"
    ),
    "create_aktivitetsplan": lambda m, a, b: m.create_aktivitetsplan(
        R,
        b.student,
        problem="x",
        measures=["y"],
        when="z",
        responsible="p",
        evaluation_date=YEAR_END,
    ),
    "evaluate_aktivitetsplan": lambda m, a, b: m.evaluate_aktivitetsplan(
        R, b.student, plan_id=b.plan, assessment="x"
    ),
    "close_aktivitetsplan": lambda m, a, b: m.close_aktivitetsplan(
        R, b.student, plan_id=b.plan, reason="x"
    ),
    "open_vedtak": lambda m, a, b: m.open_vedtak(R, b.student, kind="personal_assistance"),
    "record_recommendation": lambda m, a, b: m.record_recommendation(
        R, b.vedtak, recommended_on=TODAY, hours=ASSISTANCE, summary="x"
    ),
    "decide_vedtak": lambda m, a, b: m.decide_vedtak(
        R,
        b.vedtak,
        hours=ASSISTANCE,
        organisation="x",
        content="y",
        reasons="z",
        valid_from=TODAY,
        valid_to=YEAR_END,
    ),
    "amend_vedtak": lambda m, a, b: m.amend_vedtak(
        R, b.vedtak, hours=ASSISTANCE, organisation="x", content="y", reasons="z", valid_to=YEAR_END
    ),
    "revoke_vedtak": lambda m, a, b: m.revoke_vedtak(R, b.vedtak, reasons="x"),
    "send_vedtak_notice": lambda m, a, b: m.send_vedtak_notice(R, b.vedtak),
    "lodge_appeal": lambda m, a, b: m.lodge_appeal(R, b.vedtak, grounds="x"),
    "resolve_appeal": lambda m, a, b: m.resolve_appeal(R, b.vedtak, outcome="upheld"),
    "record_delivery": lambda m, a, b: m.record_delivery(
        R, b.vedtak, week_of=TODAY, minutes=HoursByCompetence(assistant=60)
    ),
    "correct_delivery": lambda m, a, b: m.correct_delivery(
        R, b.vedtak, week_of=TODAY, minutes=HoursByCompetence(assistant=1), reason="x"
    ),
    "record_vedtak_expiry": lambda m, a, b: m.record_vedtak_expiry(R, b.vedtak, on=YEAR_END),
    "form_team": lambda m, a, b: m.form_team(R, school=b.code, name="x"),
    "add_member": lambda m, a, b: m.add_member(
        R, school=b.code, member_id="sa-mt9", profession="sosionom", position_percent=50
    ),
    "change_position": lambda m, a, b: m.change_position(
        R, school=b.code, member_id="sa-mt1", position_percent=60, effective_from=TODAY
    ),
    "appoint_coordinator": lambda m, a, b: m.appoint_coordinator(
        R, school=b.code, member_id="sa-as1"
    ),
    "record_member_left": lambda m, a, b: m.record_member_left(
        R, school=b.code, member_id="sa-as1", left_on=TODAY
    ),
    "assign": lambda m, a, b: m.assign(
        R,
        school=b.code,
        member_id="sa-mt1",
        target_kind="school",
        minutes_per_week=60,
        valid_from=TODAY,
    ),
    "end_assignment": lambda m, a, b: m.end_assignment(
        R, school=b.code, assignment_id=b.assignment, ended_on=TODAY, reason="x"
    ),
    "rotate_assignment": lambda m, a, b: m.rotate_assignment(
        R, school=b.code, assignment_id=b.assignment, to_member_id="sa-mt1", on=TODAY
    ),
    "schedule_meeting": lambda m, a, b: m.schedule_meeting(
        R, school=b.code, kind="ressursteam", scheduled_at=T0
    ),
    "add_participant": lambda m, a, b: m.add_participant(
        R, b.meeting, person_id="p-insp", role="inspektor"
    ),
    "add_external_participant": lambda m, a, b: m.add_external_participant(
        R, b.meeting, body="ppt"
    ),
    "add_agenda_item": lambda m, a, b: m.add_agenda_item(
        R, b.meeting, subject_kind="theme", title="x"
    ),
    "record_note": lambda m, a, b: m.record_note(R, b.meeting, item_id=b.item, text="x"),
    "record_decision": lambda m, a, b: m.record_decision(
        R, b.meeting, item_id=b.item, outcome="advice", text="x"
    ),
    "complete_action": lambda m, a, b: m.complete_action(R, b.meeting, decision_id=b.decision),
    "record_meeting_held": lambda m, a, b: m.record_meeting_held(R, b.meeting),
    "close_minutes": lambda m, a, b: m.close_minutes(R, b.meeting),
    "amend_minutes": lambda m, a, b: m.amend_minutes(R, b.meeting, text="x", reason="y"),
    "cancel_meeting": lambda m, a, b: m.cancel_meeting(R, b.meeting, reason="x"),
    "team": lambda m, a, b: m.team(R, b.code),
    "overview": lambda m, a, b: m.overview(R, school=b.code),
    "student_case": lambda m, a, b: m.student_case(R, b.student, reason="partsinnsyn"),
    "student_case_as_of": lambda m, a, b: m.student_case_as_of(R, b.student, as_of=T0),
    "history": lambda m, a, b: m.history(R, b.student),
    "vedtak": lambda m, a, b: m.vedtak(R, b.vedtak),
    "meeting": lambda m, a, b: m.meeting(R, b.meeting),
    "meeting_school": lambda m, a, b: m.meeting_school(R, b.meeting),
    "access_log": lambda m, a, b: m.access_log(R, b.student),
    "export_history": lambda m, a, b: m.export_history(R, b.student),
    "restrict_records": lambda m, a, b: m.restrict_records(
        R, b.student, scope="vedtak", reason="x"
    ),
    "lift_restriction": lambda m, a, b: m.lift_restriction(
        R, b.student, scope="vedtak", reason="x"
    ),
    "erase_personal_data": lambda m, a, b: m.erase_personal_data(R, b.student, basis="request"),
}

#: Calls that name Gjesdal (the rektor's own school) and a record of Sandnes together.
MIXED: Final[dict[str, Attempt]] = {
    "assign Sandnes's student in Gjesdal's team": lambda m, a, b: m.assign(
        R,
        school=a.code,
        member_id="gj-as1",
        target_kind="student",
        student_id=b.student,
        minutes_per_week=60,
        valid_from=TODAY,
    ),
    "put Sandnes's student on Gjesdal's meeting": lambda m, a, b: m.add_agenda_item(
        R, a.meeting, subject_kind="student", title="x", student_id=b.student
    ),
}


def assert_refused(m: Miljo, attempt: Callable[[], object], operation_school: str) -> None:
    before = m.event_count()
    with pytest.raises(AccessDenied) as refused:
        attempt()
    message = str(refused.value)
    assert message.startswith("role rektor may not ")
    assert message.endswith(f" at school {operation_school}, not one of its schools")
    assert not any(secret in message for secret in SECRETS)
    assert m.event_count() == before


def test_every_public_method_is_tried() -> None:
    assert set(ATTEMPTS) == set(FACADE_OPERATIONS)


@pytest.mark.parametrize("method", sorted(ATTEMPTS))
def test_the_rektor_of_one_school_can_do_nothing_at_another(
    municipality: Municipality, method: str
) -> None:
    m, a, b = municipality.miljo, municipality.gjesdal, municipality.sandnes
    target = "sandnes-ny" if method == "register_school" else SA
    assert_refused(m, lambda: ATTEMPTS[method](m, a, b), target)


@pytest.mark.parametrize("call", sorted(MIXED))
def test_a_call_touching_two_schools_needs_both(municipality: Municipality, call: str) -> None:
    m, a, b = municipality.miljo, municipality.gjesdal, municipality.sandnes
    assert_refused(m, lambda: MIXED[call](m, a, b), SA)


def test_the_refusal_names_operation_and_school_only(municipality: Municipality) -> None:
    m, b = municipality.miljo, municipality.sandnes
    with pytest.raises(AccessDenied) as refused:
        m.student_case(R, b.student)
    assert (
        str(refused.value)
        == "role rektor may not read a student's case at school sandnes, not one of its schools"
    )
    assert (refused.value.role, refused.value.operation) == (
        "rektor",
        "read a student's case at school sandnes, not one of its schools",
    )


def test_the_rektor_reads_and_lists_its_own_school(municipality: Municipality) -> None:
    m, a = municipality.miljo, municipality.gjesdal
    assert m.students_of(R, GJ) == [a.student]
    assert m.find_student(R, school=GJ, student_number="S-1001") == a.student
    assert m.student_case(R, a.student).school_code == GJ
    assert m.overview(R, school=GJ).school == GJ
    assert m.team(R, GJ).school_code == GJ
    assert m.meeting(R, a.meeting).school_code == GJ
    assert m.meeting_school(R, a.meeting) == GJ
    assert m.vedtak(R, a.vedtak).school_code == GJ


@pytest.mark.parametrize("actor", [ADMIN, AUDITOR], ids=["admin", "auditor"])
def test_admin_and_auditor_act_for_every_school(municipality: Municipality, actor: Actor) -> None:
    m = municipality.miljo
    for records in (municipality.gjesdal, municipality.sandnes):
        assert m.students_of(actor, records.code) == [records.student]
        assert m.school(actor, records.code).active_students == 1
        assert m.team(actor, records.code).school_code == records.code
        # Admin reads case content only by break-glass, with a reason; the auditor reads it.
        case = m.student_case(actor, records.student, reason="tilsyn")
        assert case.school_code == records.code
    if actor is AUDITOR:
        for code in (GJ, SA):
            assert m.overview(AUDITOR, school=code).school == code


def test_an_actor_of_both_schools_acts_at_both(municipality: Municipality) -> None:
    m = municipality.miljo
    both = Actor("p-felles", Role.INSPEKTOR, schools={GJ, SA})
    for records in (municipality.gjesdal, municipality.sandnes):
        assert m.student_summary(both, records.student).school_code == records.code
        assert m.overview(both, school=records.code).school == records.code


def test_a_school_bound_actor_without_schools_may_do_nothing(municipality: Municipality) -> None:
    m, a = municipality.miljo, municipality.gjesdal
    nowhere = Actor("p-rektor", Role.REKTOR)
    for attempt in (
        lambda: m.school(nowhere, GJ),
        lambda: m.student_summary(nowhere, a.student),
        lambda: m.meeting(nowhere, a.meeting),
        lambda: m.overview(nowhere, school=GJ),
    ):
        assert_refused(m, attempt, GJ)


def test_an_unknown_student_is_not_found_not_denied(municipality: Municipality) -> None:
    """The scope is found from the record; a record that does not exist is NotFound, as the
    command itself would say (a random id reveals nothing about another school)."""
    m = municipality.miljo
    with pytest.raises(NotFound):
        m.student_summary(R, UUID(int=12345))
    with pytest.raises(NotFound):
        m.meeting(R, UUID(int=12345))


def test_break_glass_does_not_cross_schools(municipality: Municipality) -> None:
    """A reason opens a break-glass cell of the matrix, never another school."""
    m, a, b = municipality.miljo, municipality.gjesdal, municipality.sandnes
    sandnes_rektor = staff(SA, Role.REKTOR)
    # Sandnes restricts its student's vedtak; reading it needs the rektor and a reason.
    m.restrict_records(sandnes_rektor, b.student, scope="vedtak", reason="arkivsperre")
    try:
        assert m.vedtak(sandnes_rektor, b.vedtak, reason="klagesak").vedtak_id == b.vedtak
        assert_refused(m, lambda: m.vedtak(R, b.vedtak, reason="klagesak"), SA)
        assert_refused(m, lambda: m.history(R, b.student, reason="klagesak"), SA)
        # The auditor (municipality-wide) reads it with a reason; admin, break-glass, reads
        # an unrestricted case of either school with a reason.
        assert m.vedtak(AUDITOR, b.vedtak, reason="tilsyn").school_code == SA
        assert m.student_case(ADMIN, a.student, reason="support").school_code == GJ
    finally:
        m.lift_restriction(sandnes_rektor, b.student, scope="vedtak", reason="opphevet")
