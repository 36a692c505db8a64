"""A restricted (sperret) record cannot be changed: every write about a student, against every
restriction scope, through the facade (docs/adr/0010-access-policy.md, addendum on restricted
records).

``WRITES`` is the table: each write about one student, in an order in which all of them
succeed on a student with no restriction (the control run), and the scopes that freeze it.
Under a restriction the frozen ones are refused with ``RecordRestricted`` and write nothing;
the others still succeed in the same order; lifting the restriction stays possible and opens
the records again. The expected scopes are written out here, not read from domain/policy.py.

Every name below is invented. T0 is Monday 2024-08-19 08:00 UTC (tests/support.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
import pytest

from adapters.bootstrap import open_store
from domain.errors import AccessDenied, RecordRestricted
from domain.facade import Miljo
from domain.policy import FACADE_OPERATIONS, WRITE_OPERATIONS
from domain.values import HoursByCompetence
from tests.integration.conftest import GJESDAL, build_gjesdal, new_sqlite_store, two_writers
from tests.support import (
    ADMIN,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    FakeClock,
    SequentialIds,
)

TODAY: Final = date(2024, 8, 19)
YEAR_END: Final = date(2025, 6, 20)
ASSISTANCE: Final = HoursByCompetence.from_hours(assistant=190)
WEEK: Final = HoursByCompetence(assistant=120)
#: An id no call below resolves (a refused call never gets to look up its entry).
NO_ENTRY: Final = UUID(int=0)

CASE: Final = frozenset({"case"})
VEDTAK: Final = frozenset({"case", "vedtak"})
PLAN: Final = frozenset({"case", "aktivitetsplan"})
NONE: Final = frozenset[str]()


@attrs.define
class Case:
    """A student with everything the writes below act on, made before the restriction."""

    miljo: Miljo
    kari: UUID
    observation: UUID  # recorded by the teacher
    noticed: UUID  # a decided vedtak with its notice sent (appeals), in force this year
    opened: UUID  # an opened, undecided vedtak (recommendation, decision, ...)
    ended: UUID  # a decided vedtak whose period has ended (expiry)
    meeting: UUID  # a ressursteam meeting
    made: dict[str, UUID] = attrs.field(factory=dict)  # ids made by earlier writes

    def made_or_none(self, key: str) -> UUID:
        return self.made.get(key, NO_ENTRY)


def build(miljo: Miljo) -> Case:
    build_gjesdal(miljo)
    kari = miljo.register_student(
        ADMIN, school=GJESDAL, student_number="4101", name="Kari Testesen", trinn=8, class_name="8c"
    )
    observation = miljo.record_observation(
        TEACHER, kari, arena="break", categories=["social"], text="Står alene"
    )
    noticed = miljo.open_vedtak(SPED_LEAD, kari, kind="personal_assistance")
    miljo.decide_vedtak(
        REKTOR,
        noticed,
        hours=ASSISTANCE,
        organisation="Assistent i friminutt",
        content="Personlig assistanse",
        reasons="Behov for støtte",
        valid_from=TODAY,
        valid_to=YEAR_END,
    )
    miljo.send_vedtak_notice(INSPEKTOR, noticed)
    opened = miljo.open_vedtak(SPED_LEAD, kari, kind="personal_assistance")
    ended = miljo.open_vedtak(SPED_LEAD, kari, kind="personal_assistance", opened_on=TODAY)
    miljo.decide_vedtak(
        REKTOR,
        ended,
        hours=ASSISTANCE,
        organisation="Assistent",
        content="Personlig assistanse i sommerskolen",
        reasons="Behov for støtte",
        valid_from=TODAY - timedelta(days=60),
        valid_to=TODAY - timedelta(days=1),
    )
    meeting = miljo.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=miljo.clock.now()
    )
    return Case(miljo, kari, observation, noticed, opened, ended, meeting)


def _keep(case: Case, key: str, made: object) -> None:
    if isinstance(made, UUID):
        case.made[key] = made


Write = Callable[[Case], object]


def correct_observation(c: Case) -> object:
    return c.miljo.correct_observation(
        COORDINATOR,
        c.kari,
        corrects=c.observation,
        arena="classroom",
        categories=["social"],
        text="Står alene i timen",
        observed_at=c.miljo.clock.now(),
        reason="Feil arena",
    )


def decide(c: Case) -> object:
    return c.miljo.decide_vedtak(
        REKTOR,
        c.opened,
        hours=ASSISTANCE,
        organisation="Assistent",
        content="Personlig assistanse",
        reasons="Sakkyndig vurdering",
        valid_from=TODAY,
        valid_to=YEAR_END,
    )


def amend(c: Case) -> object:
    return c.miljo.amend_vedtak(
        REKTOR,
        c.opened,
        hours=ASSISTANCE,
        organisation="Assistent og miljøterapeut",
        content="Personlig assistanse",
        reasons="Endret behov",
        valid_to=YEAR_END,
    )


def assign(c: Case, vedtak: UUID) -> object:
    return c.miljo.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt2",
        target_kind="student",
        student_id=c.kari,
        vedtak_id=vedtak,
        minutes_per_week=60,
        valid_from=TODAY,
        valid_to=YEAR_END,
    )


#: (facade method, the scopes that freeze it, the call, the key its new id is kept under).
WRITES: Final[tuple[tuple[str, frozenset[str], Write, str], ...]] = (
    # -- the case
    (
        "record_observation",
        NONE,
        lambda c: c.miljo.record_observation(
            COORDINATOR, c.kari, arena="break", categories=["conflict"], text="Krangel"
        ),
        "",
    ),
    ("correct_observation", CASE, correct_observation, ""),
    ("raise_concern", NONE, lambda c: c.miljo.raise_concern(TEACHER, c.kari, summary="Sliten"), ""),
    (
        "record_consent",
        NONE,
        lambda c: c.miljo.record_consent(
            COORDINATOR, c.kari, giver="guardian", scope_kind="body", scope="ppt", valid_from=TODAY
        ),
        "consent",
    ),
    (
        "withdraw_consent",
        CASE,
        lambda c: c.miljo.withdraw_consent(
            COORDINATOR, c.kari, consent_id=c.made_or_none("consent")
        ),
        "",
    ),
    (
        "make_referral",
        NONE,
        lambda c: c.miljo.make_referral(COORDINATOR, c.kari, body="ppt", reason="Utredning"),
        "referral",
    ),
    (
        "change_referral_status",
        CASE,
        lambda c: c.miljo.change_referral_status(
            COORDINATOR, c.kari, referral_id=c.made_or_none("referral"), status="acknowledged"
        ),
        "",
    ),
    (
        "add_agenda_item",
        NONE,
        lambda c: c.miljo.add_agenda_item(
            COORDINATOR, c.meeting, subject_kind="student", title="Friminutt", student_id=c.kari
        ),
        "",
    ),
    # -- the aktivitetsplan
    (
        "create_aktivitetsplan",
        PLAN,
        lambda c: c.miljo.create_aktivitetsplan(
            COORDINATOR,
            c.kari,
            problem="Utestengt",
            measures=["Voksen ute"],
            when="Nå",
            responsible="gj-mt2",
            evaluation_date=TODAY + timedelta(days=14),
        ),
        "plan",
    ),
    (
        "evaluate_aktivitetsplan",
        PLAN,
        lambda c: c.miljo.evaluate_aktivitetsplan(
            COORDINATOR,
            c.kari,
            plan_id=c.made_or_none("plan"),
            assessment="Bedre",
            next_evaluation_date=TODAY + timedelta(days=28),
        ),
        "",
    ),
    (
        "close_aktivitetsplan",
        PLAN,
        lambda c: c.miljo.close_aktivitetsplan(
            COORDINATOR, c.kari, plan_id=c.made_or_none("plan"), reason="Målet er nådd"
        ),
        "",
    ),
    # -- vedtak
    (
        "open_vedtak",
        NONE,
        lambda c: c.miljo.open_vedtak(SPED_LEAD, c.kari, kind="personal_assistance"),
        "",
    ),
    (
        "record_recommendation",
        VEDTAK,
        lambda c: c.miljo.record_recommendation(
            SPED_LEAD, c.opened, recommended_on=TODAY, hours=ASSISTANCE, summary="Tilråding"
        ),
        "",
    ),
    ("decide_vedtak", VEDTAK, decide, ""),
    ("send_vedtak_notice", VEDTAK, lambda c: c.miljo.send_vedtak_notice(INSPEKTOR, c.opened), ""),
    (
        "record_delivery",
        NONE,
        lambda c: c.miljo.record_delivery(COORDINATOR, c.noticed, week_of=TODAY, minutes=WEEK),
        "",
    ),
    (
        "correct_delivery",
        NONE,
        lambda c: c.miljo.correct_delivery(
            COORDINATOR,
            c.noticed,
            week_of=TODAY,
            minutes=HoursByCompetence(assistant=90),
            reason="Feil uke",
        ),
        "",
    ),
    ("amend_vedtak", VEDTAK, amend, ""),
    (
        "revoke_vedtak",
        VEDTAK,
        lambda c: c.miljo.revoke_vedtak(REKTOR, c.opened, reasons="Flyttet til annen ordning"),
        "",
    ),
    (
        "record_vedtak_expiry",
        VEDTAK,
        lambda c: c.miljo.record_vedtak_expiry(SPED_LEAD, c.ended),
        "",
    ),
    ("assign", NONE, lambda c: assign(c, c.noticed), ""),  # delivers a vedtak in force
    # -- not frozen by any restriction
    (
        "lodge_appeal",
        NONE,
        lambda c: c.miljo.lodge_appeal(INSPEKTOR, c.noticed, grounds="Foreldrene klager"),
        "",
    ),
    (
        "resolve_appeal",
        NONE,
        lambda c: c.miljo.resolve_appeal(INSPEKTOR, c.noticed, outcome="upheld"),
        "",
    ),
    (
        "change_class",
        NONE,
        lambda c: c.miljo.change_class(ADMIN, c.kari, trinn=8, class_name="8d"),
        "",
    ),
    (
        "erase_personal_data",
        NONE,
        lambda c: c.miljo.erase_personal_data(REKTOR, c.kari, basis="request"),
        "",
    ),
    ("record_departure", NONE, lambda c: c.miljo.record_departure(ADMIN, c.kari, kind="left"), ""),
)

#: Writes about a student that no row above makes: restricting and lifting (tested below),
#: and steps on a meeting or the team that name no student (ADR 0010: a restriction freezes
#: the student's records, not the school's meetings or the team's plan).
NOT_IN_THE_TABLE: Final = frozenset(
    {
        "restrict_records",
        "lift_restriction",
        "register_school",
        "add_class",
        "register_student",
        "form_team",
        "add_member",
        "change_position",
        "appoint_coordinator",
        "record_member_left",
        "end_assignment",
        "rotate_assignment",
        "schedule_meeting",
        "add_participant",
        "add_external_participant",
        "record_note",
        "record_decision",
        "complete_action",
        "record_meeting_held",
        "close_minutes",
        "amend_minutes",
        "cancel_meeting",
    }
)


def test_the_table_names_every_write_of_the_facade() -> None:
    writes = {name for name, op in FACADE_OPERATIONS.items() if op in WRITE_OPERATIONS}
    assert {row[0] for row in WRITES} | NOT_IN_THE_TABLE == writes
    assert {row[0] for row in WRITES}.isdisjoint(NOT_IN_THE_TABLE)


@pytest.fixture
def miljo() -> Iterator[Miljo]:
    with open_store(":memory:", clock=FakeClock(), ids=SequentialIds()) as store:
        yield store


def test_without_a_restriction_every_write_in_the_table_succeeds(miljo: Miljo) -> None:
    case = build(miljo)
    for name, _scopes, write, key in WRITES:
        before = miljo.event_count()
        _keep(case, key, write(case))
        assert miljo.event_count() > before, name


@pytest.mark.parametrize("scope", ["case", "vedtak", "aktivitetsplan"])
def test_a_restriction_freezes_exactly_its_records(miljo: Miljo, scope: str) -> None:
    case = build(miljo)
    miljo.restrict_records(REKTOR, case.kari, scope=scope, reason="Klagesak hos Statsforvalteren")
    refused: list[str] = []
    for name, scopes, write, key in WRITES:
        before = miljo.event_count()
        if scope in scopes:
            with pytest.raises(RecordRestricted) as caught:
                write(case)
            assert miljo.event_count() == before, f"{name} wrote under a restriction"
            assert "restricted (sperret)" in str(caught.value)
            assert isinstance(caught.value, AccessDenied)  # exit code 6, like every refusal
            refused.append(name)
        else:
            _keep(case, key, write(case))
            assert miljo.event_count() > before, name
    assert refused, scope
    # the record is frozen, not lost: the rektor lifts the restriction, and it opens again
    miljo.lift_restriction(REKTOR, case.kari, scope=scope, reason="Klagen er avgjort")


@pytest.mark.parametrize(
    ("scope", "write"),
    [
        ("case", correct_observation),
        ("vedtak", decide),
        (
            "aktivitetsplan",
            lambda c: c.miljo.create_aktivitetsplan(
                COORDINATOR,
                c.kari,
                problem="Utestengt",
                measures=["Voksen ute"],
                when="Nå",
                responsible="gj-mt2",
                evaluation_date=TODAY + timedelta(days=14),
            ),
        ),
    ],
)
def test_lifting_the_restriction_allows_the_write_again(
    miljo: Miljo, scope: str, write: Write
) -> None:
    case = build(miljo)
    miljo.restrict_records(REKTOR, case.kari, scope=scope, reason="Klagesak")
    with pytest.raises(RecordRestricted):
        write(case)
    # restricting a further scope and lifting it again are not changes of a restricted record
    other = "vedtak" if scope != "vedtak" else "aktivitetsplan"
    miljo.restrict_records(REKTOR, case.kari, scope=other, reason="Også dette")
    miljo.lift_restriction(REKTOR, case.kari, scope=other, reason="Ikke nødvendig")
    miljo.lift_restriction(REKTOR, case.kari, scope=scope, reason="Klagen er avgjort")
    before = miljo.event_count()
    write(case)
    assert miljo.event_count() > before


def test_a_role_that_may_not_write_anyway_is_told_only_that(miljo: Miljo) -> None:
    """The restriction is named only to a role whose own grant would allow the write."""
    case = build(miljo)
    miljo.restrict_records(REKTOR, case.kari, scope="vedtak", reason="Klagesak")
    with pytest.raises(AccessDenied) as caught:
        decide(case)  # the rektor: the restriction
    assert isinstance(caught.value, RecordRestricted)
    with pytest.raises(AccessDenied) as caught:
        miljo.decide_vedtak(
            INSPEKTOR,
            case.opened,
            hours=ASSISTANCE,
            organisation="Assistent",
            content="Personlig assistanse",
            reasons="Sakkyndig vurdering",
            valid_from=TODAY,
            valid_to=YEAR_END,
        )
    assert not isinstance(caught.value, RecordRestricted)
    assert str(caught.value) == "role inspektor may not decide, amend or revoke a vedtak"


def test_a_restriction_committed_while_a_write_is_retried_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two store objects, as two processes. The first checks a correction (allowed), then the
    second restricts the case before the first saves: the save conflicts, and the retry
    checks access again instead of applying the correction to a restricted case."""
    location = new_sqlite_store(tmp_path / "miljo.sqlite")
    clock = FakeClock()
    with two_writers(location, clock) as (first, second):
        case = build(first)
        real = first._authorize
        restricted: list[bool] = []

        def authorize_then_restrict(*args: Any, **kwargs: Any) -> Any:
            decision = real(*args, **kwargs)
            if not restricted:  # only the first check: the second restricts right after it
                restricted.append(True)
                second.restrict_records(REKTOR, case.kari, scope="case", reason="Klagesak")
            return decision

        monkeypatch.setattr(first, "_authorize", authorize_then_restrict)
        case.miljo = first
        before = first.event_count()
        with pytest.raises(RecordRestricted):
            correct_observation(case)
        assert restricted == [True]
        assert first.event_count() == before + 1  # the restriction, and no correction


def test_holding_a_meeting_leaves_a_restricted_cases_concern_open(miljo: Miljo) -> None:
    """Marking a concern discussed changes the case; on a restricted case it stays open."""
    case = build(miljo)
    concern = miljo.raise_concern(TEACHER, case.kari, summary="Sliten")
    miljo.add_agenda_item(
        COORDINATOR,
        case.meeting,
        subject_kind="student",
        title="Sliten",
        student_id=case.kari,
        concern_id=concern,
    )
    miljo.restrict_records(REKTOR, case.kari, scope="case", reason="Klagesak")
    miljo.record_meeting_held(COORDINATOR, case.meeting)
    concerns = miljo.student_case(REKTOR, case.kari, reason="Kontroll").concerns
    assert [c.discussed_in for c in concerns if c.concern_id == concern] == [[]]
    # without the restriction, the same meeting marks it discussed
    other = miljo.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=miljo.clock.now()
    )
    miljo.lift_restriction(REKTOR, case.kari, scope="case", reason="Avgjort")
    miljo.add_agenda_item(
        COORDINATOR, other, subject_kind="student", title="Igjen", student_id=case.kari,
        concern_id=concern,
    )  # fmt: skip
    miljo.record_meeting_held(COORDINATOR, other)
    concerns = miljo.student_case(REKTOR, case.kari).concerns
    assert [c.discussed_in for c in concerns if c.concern_id == concern] == [[other]]
