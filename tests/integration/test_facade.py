"""Integration tests of the embedding facade (``domain.facade.Miljo``) on real stores.

Everything goes through the facade as an embedding program would use it, on an in-memory store
and on a SQLite file (the ``store`` fixture). Each command's effect is checked through the query
methods; each refusal is checked to surface as a named domain error and to write nothing.

Test data: the seed's Gjesdal ungdomsskole (see ``conftest.build_gjesdal``). T0 is Monday
2024-08-19 08:00 UTC, the first school day of autumn term 2024. Every name is invented.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import attrs
import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import StoreError, StoreLocation, init_store, open_store, resolve_store
from domain.casefile import AccessEntry
from domain.errors import (
    AccessDenied,
    ActionRequired,
    AlreadyExists,
    AppealAlreadyOpen,
    AssignmentNotActive,
    CapacityExceeded,
    ClassUnchanged,
    ConcurrencyConflict,
    ConsentAlreadyWithdrawn,
    ConsentGiverNotEligible,
    ConsentRequired,
    CoordinatorNotQualified,
    CorrectionOfCorrection,
    DateInFuture,
    DeliveryAlreadyRecorded,
    DeviationReasonRequired,
    EvaluationDateInPast,
    HeldInFuture,
    InvalidStatusTransition,
    InvalidValue,
    MeetingStateError,
    MemberNotActive,
    MinutesClosed,
    NotFound,
    ObservationInFuture,
    PlanClosed,
    RuleViolation,
    StudentNotActive,
    UnknownEntry,
    VedtakRequired,
    VedtakStateError,
)
from domain.facade import (
    DEFAULT_MAX_ATTEMPTS,
    Miljo,
    SchoolView,
    StudentSummary,
)
from domain.meeting import AgendaSubject, DecisionOutcome
from domain.student import ConsentGiver, ConsentScopeKind, ReferralStatus
from domain.team import TargetKind
from domain.values import (
    Actor,
    Arena,
    Competence,
    ExternalBody,
    HoursByCompetence,
    MeetingKind,
    ObservationCategory,
    Profession,
    Role,
    position_minutes_per_week,
)
from domain.vedtak import VedtakKind, VedtakStatus
from tests.integration.conftest import (
    GJESDAL,
    GJESDAL_CLASSES,
    GJESDAL_NAME,
    TEAM_NAME,
    Gjesdal,
    build_gjesdal,
)
from tests.support import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    T0,
    TEACHER,
    THERAPIST,
    FakeClock,
    SequentialIds,
    TestHasher,
    stored_event_count,
    stored_states,
)

E = TypeVar("E", bound=Exception)

TODAY = date(2024, 8, 19)  # T0's date, Monday of ISO week 2024-W34
AUTUMN_END = date(2024, 12, 20)  # Friday
SPRING_START = date(2025, 1, 6)  # Monday
YEAR_END = date(2025, 6, 20)
FULL_85 = position_minutes_per_week(Decimal(85))  # 1912 minutes a week
ASSISTANCE = HoursByCompetence.from_hours(assistant=190)  # 5 h a week over 38 weeks
TILRADING = HoursByCompetence.from_hours(special_ed_teacher=76, miljoterapeut=114)

# Invented, pseudonymous students.
KARI = ("1001", "Kari Testesen")
OLA = ("1002", "Ola Prøvesen")
ASE = ("1003", "Åse Bjørkøy")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def refused(store: Miljo, error: type[E], command: Callable[[], object]) -> E:
    """Run ``command``, which ``store`` must refuse with ``error``, and check it wrote nothing."""
    before = store.event_count()
    with pytest.raises(error) as caught:
        command()
    assert store.event_count() == before, f"refused command wrote events ({caught.value})"
    return caught.value


def register(
    store: Miljo,
    student: tuple[str, str] = KARI,
    *,
    school: str = GJESDAL,
    trinn: int = 8,
    class_name: str = "8c",
) -> UUID:
    number, name = student
    return store.register_student(
        ADMIN,
        school=school,
        student_number=number,
        name=name,
        trinn=trinn,
        class_name=class_name,
    )


def decided_vedtak(
    store: Miljo,
    student_id: UUID,
    *,
    valid_from: date = TODAY,
    valid_to: date = YEAR_END,
) -> UUID:
    """A personal-assistance vedtak (needs no PPT recommendation), opened by the spesped
    lead and decided by the rektor."""
    vedtak_id = store.open_vedtak(SPED_LEAD, student_id, kind="personal_assistance")
    store.decide_vedtak(
        REKTOR,
        vedtak_id,
        hours=ASSISTANCE,
        organisation="Assistent i friminutt og overganger",
        content="Personlig assistanse i friminutt",
        reasons="Eleven trenger støtte i ustrukturerte situasjoner",
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return vedtak_id


def register_trudvang(store: Miljo) -> None:
    store.register_school(
        ADMIN, code="trudvang", name="Trudvang skule", first_trinn=1, last_trinn=5
    )
    store.add_class(ADMIN, school="trudvang", trinn=1, class_name="1a")


def utc_on(day: date, hour: int) -> datetime:
    """The instant ``hour``:00 UTC on ``day`` (Oslo local time is one or two hours later)."""
    return T0.replace(year=day.year, month=day.month, day=day.day, hour=hour)


# ---------------------------------------------------------------------------------------------
# Schools
# ---------------------------------------------------------------------------------------------


def test_gjesdal_seed_is_visible_through_school_and_team(store: Miljo, gjesdal: Gjesdal) -> None:
    assert store.school(TEACHER, GJESDAL) == SchoolView(
        school_id=gjesdal.school_id,
        code=GJESDAL,
        name=GJESDAL_NAME,
        first_trinn=8,
        last_trinn=10,
        classes=GJESDAL_CLASSES,
        active_students=0,
    )
    assert len(GJESDAL_CLASSES) == 12
    assert store.students_of(TEACHER, GJESDAL) == []

    team = store.team(COORDINATOR, GJESDAL)
    assert team.team_id == gjesdal.team_id
    assert team.school_code == GJESDAL
    assert team.name == TEAM_NAME
    assert team.on == TODAY
    assert team.coordinator_id == "gj-mt1"
    assert team.assignments == []
    therapists = [m for m in team.members if m.profession.competence is Competence.MILJOTERAPEUT]
    assistants = [m for m in team.members if m.profession is Profession.ASSISTENT]
    assert [m.member_id for m in therapists] == list(gjesdal.therapists)
    assert [m.member_id for m in assistants] == list(gjesdal.assistants)
    assert len(therapists) == 7
    assert len(assistants) == 6
    assert {m.position_percent for m in therapists} == {Decimal(85)}
    assert [m.member_id for m in team.members if m.is_coordinator] == ["gj-mt1"]


def test_school_refusals_write_nothing(store: Miljo, gjesdal: Gjesdal) -> None:
    refused(
        store,
        AlreadyExists,
        lambda: store.register_school(
            ADMIN, code=GJESDAL, name="Gjesdal igjen", first_trinn=8, last_trinn=10
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.register_school(
            ADMIN, code="sandnes", name="Sandnes skole", first_trinn=10, last_trinn=8
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.register_school(
            ADMIN, code="Sandnes skole", name="Sandnes skole", first_trinn=1, last_trinn=7
        ),
    )
    refused(
        store,
        AlreadyExists,
        lambda: store.add_class(ADMIN, school=GJESDAL, trinn=8, class_name="8a"),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_class(ADMIN, school=GJESDAL, trinn=7, class_name="7a"),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_class(ADMIN, school=GJESDAL, trinn=8, class_name="8/c"),
    )
    refused(
        store, NotFound, lambda: store.add_class(ADMIN, school="strinda", trinn=11, class_name="1a")
    )
    refused(store, NotFound, lambda: store.school(TEACHER, "strinda"))
    refused(store, InvalidValue, lambda: store.school(TEACHER, "Gjesdal"))
    assert store.school(TEACHER, GJESDAL).classes == GJESDAL_CLASSES


def test_add_class_is_visible(store: Miljo, gjesdal: Gjesdal) -> None:
    store.add_class(ADMIN, school=GJESDAL, trinn=10, class_name="10e")
    assert store.school(TEACHER, GJESDAL).classes["10e"] == 10


# ---------------------------------------------------------------------------------------------
# Students: registration and the keyed student number
# ---------------------------------------------------------------------------------------------


def test_register_student_is_visible_through_every_query(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register(store)

    assert store.student_summary(TEACHER, student) == StudentSummary(
        student_id=student, school_code=GJESDAL, trinn=8, class_name="8c", is_active=True
    )
    assert store.find_student(TEACHER, school=GJESDAL, student_number="1001") == student
    assert store.school(TEACHER, GJESDAL).active_students == 1
    assert store.students_of(TEACHER, GJESDAL) == [student]
    case = store.student_case(COORDINATOR, student)
    assert (case.student_id, case.student_number, case.name) == (student, "1001", "Kari Testesen")
    assert (case.school_code, case.trinn, case.class_name) == (GJESDAL, 8, "8c")
    assert case.registered_on == TODAY
    assert case.is_active
    assert (case.observations, case.concerns, case.consents) == ([], [], [])
    assert (case.referrals, case.plans) == ([], [])
    assert case.vedtak_ids == case.meeting_ids == []
    assert "Kari" not in repr(case)


def test_register_student_with_explicit_registration_date(store: Miljo, gjesdal: Gjesdal) -> None:
    student = store.register_student(
        ADMIN,
        school=GJESDAL,
        student_number="1001",
        name="Kari Testesen",
        trinn=9,
        class_name="9b",
        registered_on=date(2024, 8, 1),
    )
    assert store.student_case(COORDINATOR, student).registered_on == date(2024, 8, 1)


@pytest.mark.parametrize(
    ("error", "changes"),
    [
        (NotFound, {"class_name": "8e"}),
        (NotFound, {"trinn": 9, "class_name": "8c"}),
        (NotFound, {"school": "strinda"}),
        (InvalidValue, {"school": "Gjesdal"}),
        (InvalidValue, {"student_number": "10 01"}),
        (InvalidValue, {"student_number": ""}),
        (InvalidValue, {"name": ""}),
        (InvalidValue, {"name": "Kari\x00Testesen"}),
    ],
)
def test_register_student_refusals_write_nothing(
    store: Miljo, gjesdal: Gjesdal, error: type[Exception], changes: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {
        "school": GJESDAL,
        "student_number": "1001",
        "name": "Kari Testesen",
        "trinn": 8,
        "class_name": "8c",
    }
    arguments.update(changes)
    refused(store, error, lambda: store.register_student(ADMIN, **arguments))
    assert store.students_of(TEACHER, GJESDAL) == []


class RecordingHasher:
    """Delegates to the store's hasher and records what it was asked to hash."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def digest(self, purpose: str, value: str) -> str:
        self.calls.append((purpose, value))
        digest: str = self.inner.digest(purpose, value)
        return digest


def test_student_number_is_found_through_the_keyed_hash(store: Miljo, gjesdal: Gjesdal) -> None:
    recorder = RecordingHasher(store.hasher)
    store.hasher = recorder
    student = register(store)
    assert recorder.calls == [("student-number:gjesdal", "1001")]

    recorder.calls.clear()
    assert store.find_student(TEACHER, school=GJESDAL, student_number="1001") == student
    assert recorder.calls == [("student-number:gjesdal", "1001")]

    refused(
        store, NotFound, lambda: store.find_student(TEACHER, school=GJESDAL, student_number="1002")
    )
    refused(
        store,
        InvalidValue,
        lambda: store.find_student(TEACHER, school=GJESDAL, student_number="1 0"),
    )
    refused(
        store,
        NotFound,
        lambda: store.find_student(TEACHER, school="strinda", student_number="1001"),
    )


def test_same_number_twice_at_a_school_is_refused(store: Miljo, gjesdal: Gjesdal) -> None:
    first = register(store)
    error = refused(
        store,
        AlreadyExists,
        lambda: register(store, ("1001", "Ola Prøvesen"), trinn=9, class_name="9a"),
    )
    assert isinstance(error, RuleViolation)
    assert "Ola" not in str(error)
    assert store.students_of(TEACHER, GJESDAL) == [first]
    assert store.find_student(TEACHER, school=GJESDAL, student_number="1001") == first


def test_same_number_at_another_school_is_fine(store: Miljo, gjesdal: Gjesdal) -> None:
    register_trudvang(store)
    at_gjesdal = register(store)
    at_trudvang = register(
        store, ("1001", "Ola Prøvesen"), school="trudvang", trinn=1, class_name="1a"
    )
    assert at_gjesdal != at_trudvang
    assert store.find_student(TEACHER, school=GJESDAL, student_number="1001") == at_gjesdal
    assert store.find_student(TEACHER, school="trudvang", student_number="1001") == at_trudvang
    assert store.student_summary(TEACHER, at_trudvang).school_code == "trudvang"
    assert store.students_of(TEACHER, "trudvang") == [at_trudvang]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    numbers=st.lists(
        st.sampled_from(["1001", "1002", "A-17", "a-17", "0001", "1", "Z" * 20]), max_size=8
    )
)
def test_student_numbers_are_unique_per_school(numbers: list[str]) -> None:
    with open_store(":memory:", clock=FakeClock(), ids=SequentialIds()) as miljo:
        miljo.register_school(ADMIN, code=GJESDAL, name=GJESDAL_NAME, first_trinn=8, last_trinn=10)
        miljo.add_class(ADMIN, school=GJESDAL, trinn=8, class_name="8c")
        registered: dict[str, UUID] = {}
        for number in numbers:
            if number in registered:
                refused(miljo, AlreadyExists, partial(register, miljo, (number, "Kari Testesen")))
            else:
                registered[number] = register(miljo, (number, "Kari Testesen"))
        for number, student in registered.items():
            assert miljo.find_student(TEACHER, school=GJESDAL, student_number=number) == student
        assert sorted(miljo.students_of(TEACHER, GJESDAL)) == sorted(registered.values())


def test_keyed_hash_needs_the_store_key(store_location: StoreLocation) -> None:
    """The School holds HMAC(index key, number): without the store's key nothing resolves,
    and the number itself is not in the School's stored events."""
    number = "KX-7731"  # 'K', 'X' and '-' never occur in a hex digest
    with open_store(store_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register(miljo, (number, "Kari Testesen"))
        assert miljo.find_student(TEACHER, school=GJESDAL, student_number=number) == student
    with (
        open_store(store_location, clock=FakeClock(), hasher=TestHasher()) as other_key,
        pytest.raises(NotFound),
    ):
        other_key.find_student(TEACHER, school=GJESDAL, student_number=number)
    with open_store(store_location, clock=FakeClock()) as same_key:
        assert same_key.find_student(TEACHER, school=GJESDAL, student_number=number) == student

    states = stored_states(store_location, "miljo:School")
    assert states, "the School's events are stored"
    # Payloads are encrypted at rest: not even the (public) school code is readable.
    assert not any(b"gjesdal" in state for state in states)
    assert not any(number.encode() in state for state in states)


# ---------------------------------------------------------------------------------------------
# Students: placement, departure and the case
# ---------------------------------------------------------------------------------------------


def test_change_class(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    store.change_class(INSPEKTOR, student, trinn=8, class_name="8d")
    assert store.student_summary(TEACHER, student).class_name == "8d"
    store.change_class(INSPEKTOR, student, trinn=9, class_name="9a", effective_from=SPRING_START)
    # A change from a later date takes effect on that date (the store's day).
    assert store.student_summary(TEACHER, student).class_name == "8d"
    clock.current = datetime.combine(SPRING_START, time(8), tzinfo=UTC)
    summary = store.student_summary(TEACHER, student)
    assert (summary.trinn, summary.class_name) == (9, "9a")

    refused(
        store,
        ClassUnchanged,
        lambda: store.change_class(INSPEKTOR, student, trinn=9, class_name="9a"),
    )
    refused(
        store, NotFound, lambda: store.change_class(INSPEKTOR, student, trinn=9, class_name="9e")
    )
    refused(
        store,
        NotFound,
        lambda: store.change_class(INSPEKTOR, UUID(int=7), trinn=9, class_name="9b"),
    )
    # The roster is management's and the admin's: the coordinator may not move a student.
    error = refused(
        store,
        AccessDenied,
        lambda: store.change_class(COORDINATOR, student, trinn=9, class_name="9b"),
    )
    assert (error.role, error.operation) == ("miljokoordinator", "change a student's class")
    store.change_class(
        ADMIN, student, trinn=9, class_name="9b", effective_from=SPRING_START + timedelta(days=7)
    )
    assert store.student_summary(TEACHER, student).class_name == "9a"
    clock.advance(days=7)
    assert store.student_summary(TEACHER, student).class_name == "9b"


def test_departure(store: Miljo, gjesdal: Gjesdal) -> None:
    kari = register(store)
    ola = register(store, OLA)
    refused(
        store,
        DateInFuture,
        lambda: store.record_departure(ADMIN, kari, kind="left", on=TODAY + timedelta(days=1)),
    )
    refused(store, InvalidValue, lambda: store.record_departure(ADMIN, kari, kind="transferred"))
    refused(store, InvalidValue, lambda: store.record_departure(ADMIN, kari, kind="expelled"))

    store.record_departure(ADMIN, kari, kind="left")
    # a transfer goes to a school registered in the store
    refused(
        store,
        NotFound,
        lambda: store.record_departure(ADMIN, ola, kind="transferred", to_school="sandnes-us"),
    )
    store.register_school(
        ADMIN, code="sandnes-us", name="Sandnes ungdomsskole", first_trinn=8, last_trinn=10
    )
    store.record_departure(ADMIN, ola, kind="transferred", to_school="sandnes-us")

    assert not store.student_summary(TEACHER, kari).is_active
    assert not store.student_case(COORDINATOR, ola).is_active
    assert store.school(TEACHER, GJESDAL).active_students == 0
    assert store.students_of(TEACHER, GJESDAL) == []

    refused(store, StudentNotActive, lambda: store.record_departure(ADMIN, kari, kind="left"))
    refused(
        store,
        StudentNotActive,
        lambda: store.record_observation(
            THERAPIST, kari, arena="break", categories=["social"], text="Alene"
        ),
    )
    refused(store, StudentNotActive, lambda: store.raise_concern(TEACHER, kari, summary="Uro"))
    refused(
        store,
        StudentNotActive,
        lambda: store.open_vedtak(SPED_LEAD, kari, kind="personal_assistance"),
    )
    refused(
        store,
        StudentNotActive,
        lambda: store.change_class(INSPEKTOR, kari, trinn=8, class_name="8a"),
    )


def test_observations_and_corrections(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    observation = store.record_observation(
        THERAPIST,
        student,
        arena="break",
        categories=["conflict", "social"],
        text="Uro i friminuttet ved ballbingen",
        student_voice="Jeg får aldri være med",
    )
    [view] = store.student_case(COORDINATOR, student).observations
    assert view.observation_id == view.version_id == observation
    assert view.arena is Arena.BREAK
    assert view.categories == [ObservationCategory.CONFLICT, ObservationCategory.SOCIAL]
    assert view.text == "Uro i friminuttet ved ballbingen"
    assert view.student_voice == "Jeg får aldri være med"
    assert view.observed_at == view.recorded_at == T0
    assert (view.author_id, view.author_role) == ("p-mt1", Role.MILJOTERAPEUT)
    assert not view.corrected

    clock.advance(hours=2)
    correction = store.correct_observation(
        COORDINATOR,
        student,
        corrects=observation,
        arena="classroom",
        categories=["conflict"],
        text="Uro i klasserommet før friminuttet",
        observed_at=T0 - timedelta(minutes=30),
        reason="Feil arena i første notat",
    )
    [view] = store.student_case(COORDINATOR, student).observations
    assert view.observation_id == observation
    assert view.version_id == correction
    assert view.arena is Arena.CLASSROOM
    assert view.text == "Uro i klasserommet før friminuttet"
    assert view.observed_at == T0 - timedelta(minutes=30)
    assert view.recorded_at == T0 + timedelta(hours=2)
    assert view.first_recorded_at == T0
    assert (view.author_id, view.first_author_id) == ("p-coord", "p-mt1")
    assert view.corrected
    assert view.correction_ids == [correction]
    assert view.correction_reason == "Feil arena i første notat"

    later = clock.current + timedelta(minutes=1)
    refused(
        store,
        ObservationInFuture,
        lambda: store.record_observation(
            THERAPIST,
            student,
            arena="break",
            categories=["social"],
            text="Snart",
            observed_at=later,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_observation(
            THERAPIST, student, arena="kantina", categories=["social"], text="x"
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_observation(
            THERAPIST, student, arena="break", categories=[], text="x"
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_observation(
            THERAPIST,
            student,
            arena="break",
            categories=["social"],
            text="x",
            observed_at=datetime(2024, 8, 19, 7),
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.correct_observation(
            COORDINATOR,
            student,
            corrects=UUID(int=99),
            arena="break",
            categories=["social"],
            text="x",
            observed_at=T0,
            reason="y",
        ),
    )
    refused(
        store,
        CorrectionOfCorrection,
        lambda: store.correct_observation(
            COORDINATOR,
            student,
            corrects=correction,
            arena="break",
            categories=["social"],
            text="x",
            observed_at=T0,
            reason="y",
        ),
    )
    refused(
        store,
        NotFound,
        lambda: store.record_observation(
            THERAPIST, UUID(int=99), arena="break", categories=["social"], text="x"
        ),
    )


def test_concerns(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register(store)
    concern = store.raise_concern(TEACHER, student, summary="Trekker seg unna i friminuttene")
    [view] = store.student_case(COORDINATOR, student).concerns
    assert view.concern_id == concern
    assert view.text == "Trekker seg unna i friminuttene"
    assert view.raised_at == T0
    assert (view.raised_by, view.raised_by_role) == ("p-teach", Role.LAERER)
    assert view.discussed_in == []
    refused(store, InvalidValue, lambda: store.raise_concern(TEACHER, student, summary="  "))


def test_consents(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    consent = store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=TODAY,
        valid_to=YEAR_END,
        note="Muntlig samtykke, bekreftet skriftlig",
    )
    [view] = store.student_case(COORDINATOR, student).consents
    assert view.consent_id == consent
    assert view.giver is ConsentGiver.GUARDIAN
    assert (view.scope_kind, view.scope) == (ConsentScopeKind.BODY, "barnevern")
    assert (view.valid_from, view.valid_to) == (TODAY, YEAR_END)
    assert view.note == "Muntlig samtykke, bekreftet skriftlig"
    assert (view.recorded_at, view.recorded_by) == (T0, "p-coord")
    assert view.withdrawn_on is None

    clock.advance(days=3)
    store.withdraw_consent(COORDINATOR, student, consent_id=consent)
    [view] = store.student_case(COORDINATOR, student).consents
    assert view.withdrawn_on == TODAY + timedelta(days=3)

    refused(
        store,
        ConsentAlreadyWithdrawn,
        lambda: store.withdraw_consent(COORDINATOR, student, consent_id=consent),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.withdraw_consent(COORDINATOR, student, consent_id=UUID(int=99)),
    )
    refused(
        store,
        ConsentGiverNotEligible,
        lambda: store.record_consent(
            COORDINATOR, student, giver="student", scope_kind="body", scope="ppt", valid_from=TODAY
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_consent(
            COORDINATOR,
            student,
            giver="guardian",
            scope_kind="body",
            scope="skolen",
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_consent(
            COORDINATOR,
            student,
            giver="guardian",
            scope_kind="meeting_kind",
            scope="barnevern",
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_consent(
            COORDINATOR,
            student,
            giver="guardian",
            scope_kind="body",
            scope="ppt",
            valid_from=TODAY,
            valid_to=TODAY - timedelta(days=1),
        ),
    )


def test_referrals(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    referral = store.make_referral(COORDINATOR, student, body="ppt", reason="Sakkyndig vurdering")
    [view] = store.student_case(COORDINATOR, student).referrals
    assert (view.referral_id, view.body, view.status) == (
        referral,
        ExternalBody.PPT,
        ReferralStatus.SENT,
    )
    assert (view.made_on, view.made_by, view.reason) == (TODAY, "p-coord", "Sakkyndig vurdering")

    clock.advance(days=7)
    store.change_referral_status(COORDINATOR, student, referral_id=referral, status="acknowledged")
    [view] = store.student_case(COORDINATOR, student).referrals
    assert view.status is ReferralStatus.ACKNOWLEDGED
    assert view.status_changed_on == TODAY + timedelta(days=7)
    assert view.is_pending

    refused(
        store,
        InvalidStatusTransition,
        lambda: store.change_referral_status(
            COORDINATOR, student, referral_id=referral, status="closed"
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.change_referral_status(
            COORDINATOR, student, referral_id=UUID(int=99), status="accepted"
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.make_referral(COORDINATOR, student, body="slt", reason="x"),
    )
    refused(
        store,
        DateInFuture,
        lambda: store.make_referral(COORDINATOR, student, body="bup", reason="x", made_on=YEAR_END),
    )


def test_aktivitetsplan(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    evaluation = TODAY + timedelta(days=28)
    plan = store.create_aktivitetsplan(
        COORDINATOR,
        student,
        problem="Utestenging i friminutt",
        measures=["Voksen i friminutt", "Samtale med klassen"],
        when="Fra uke 35",
        responsible="gj-mt2",
        evaluation_date=evaluation,
    )
    [view] = store.student_case(COORDINATOR, student).plans
    assert view.plan_id == plan
    assert view.problem == "Utestenging i friminutt"
    assert view.measures == ["Voksen i friminutt", "Samtale med klassen"]
    assert (view.when, view.responsible) == ("Fra uke 35", "gj-mt2")
    assert view.evaluation_date == evaluation
    assert view.is_open

    clock.advance(days=28)
    store.evaluate_aktivitetsplan(
        COORDINATOR,
        student,
        plan_id=plan,
        assessment="Bedre, men fortsatt alene noen dager",
        next_evaluation_date=evaluation + timedelta(days=28),
    )
    [view] = store.student_case(COORDINATOR, student).plans
    assert view.last_evaluated_on == evaluation
    assert view.evaluation_date == evaluation + timedelta(days=28)

    store.close_aktivitetsplan(COORDINATOR, student, plan_id=plan, reason="Målet er nådd")
    [view] = store.student_case(COORDINATOR, student).plans
    assert view.closed_on == evaluation
    assert view.close_reason == "Målet er nådd"
    assert not view.is_open

    refused(
        store,
        PlanClosed,
        lambda: store.evaluate_aktivitetsplan(COORDINATOR, student, plan_id=plan, assessment="x"),
    )
    refused(
        store,
        PlanClosed,
        lambda: store.close_aktivitetsplan(COORDINATOR, student, plan_id=plan, reason="x"),
    )
    refused(
        store,
        EvaluationDateInPast,
        lambda: store.create_aktivitetsplan(
            COORDINATOR,
            student,
            problem="x",
            measures=["y"],
            when="nå",
            responsible="gj-mt2",
            evaluation_date=TODAY,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.create_aktivitetsplan(
            COORDINATOR,
            student,
            problem="x",
            measures=[],
            when="nå",
            responsible="gj-mt2",
            evaluation_date=YEAR_END,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.create_aktivitetsplan(
            COORDINATOR,
            student,
            problem="x",
            measures=["y"],
            when="nå",
            responsible="Kari Lærer",
            evaluation_date=YEAR_END,
        ),
    )


def test_student_queries_refuse_unknown_ids(store: Miljo, gjesdal: Gjesdal) -> None:
    unknown = UUID(int=12345)
    refused(store, NotFound, lambda: store.student_summary(TEACHER, unknown))
    refused(store, NotFound, lambda: store.student_case(COORDINATOR, unknown))
    refused(store, NotFound, lambda: store.access_log(AUDITOR, unknown))
    # An id of another kind of record is not a student.
    refused(store, NotFound, lambda: store.student_summary(TEACHER, gjesdal.school_id))
    refused(store, NotFound, lambda: store.student_case(COORDINATOR, gjesdal.team_id))


# ---------------------------------------------------------------------------------------------
# Vedtak
# ---------------------------------------------------------------------------------------------


def test_vedtak_lifecycle(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    vedtak = store.open_vedtak(SPED_LEAD, student, kind="individually_adapted_education")
    view = store.vedtak(REKTOR, vedtak)
    assert (view.vedtak_id, view.student_id, view.school_code) == (vedtak, student, GJESDAL)
    assert view.kind is VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION
    assert view.legal_reference == store.legal.reference_for(
        VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION
    )
    assert view.status is VedtakStatus.OPENED
    assert view.recommendation is view.granted is None
    assert view.delivered == HoursByCompetence()
    assert store.student_case(COORDINATOR, student).vedtak_ids == [vedtak]

    decision: dict[str, Any] = {
        "organisation": "To timer i liten gruppe, resten i klassen",
        "content": "Sosial trening og struktur i overganger",
        "reasons": "Sakkyndig vurdering viser behov for tett oppfølging",
        "valid_from": TODAY,
        "valid_to": YEAR_END,
    }
    refused(
        store,
        VedtakStateError,
        lambda: store.decide_vedtak(REKTOR, vedtak, hours=TILRADING, **decision),
    )
    store.record_recommendation(
        SPED_LEAD,
        vedtak,
        recommended_on=TODAY,
        hours=TILRADING,
        summary="PPT tilrår 190 årstimer",
    )
    view = store.vedtak(REKTOR, vedtak)
    assert view.status is VedtakStatus.RECOMMENDED
    assert view.recommendation == TILRADING

    # Only the rektor decides: the policy refuses everyone else before the vedtak's own
    # rule (NotAuthorisedToDecide) is reached.
    for other in (COORDINATOR, INSPEKTOR, SPED_LEAD):
        refused(
            store,
            AccessDenied,
            partial(store.decide_vedtak, other, vedtak, hours=TILRADING, **decision),
        )
    refused(
        store,
        DeviationReasonRequired,
        lambda: store.decide_vedtak(REKTOR, vedtak, hours=ASSISTANCE, **decision),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.decide_vedtak(
            REKTOR, vedtak, hours=TILRADING, **{**decision, "valid_to": TODAY - timedelta(days=1)}
        ),
    )
    store.decide_vedtak(REKTOR, vedtak, hours=TILRADING, **decision)
    view = store.vedtak(REKTOR, vedtak)
    assert view.status is VedtakStatus.DECIDED
    assert view.granted == TILRADING
    assert not view.deviates
    assert (view.valid_from, view.valid_to, view.in_force_until) == (TODAY, YEAR_END, YEAR_END)
    refused(
        store,
        VedtakStateError,
        lambda: store.decide_vedtak(REKTOR, vedtak, hours=TILRADING, **decision),
    )

    clock.advance(days=1)
    deadline = store.send_vedtak_notice(INSPEKTOR, vedtak)
    assert deadline == TODAY + timedelta(days=1 + store.legal.appeal.deadline_days)
    view = store.vedtak(REKTOR, vedtak)
    assert (view.notice_date, view.appeal_deadline) == (TODAY + timedelta(days=1), deadline)
    assert not view.appeal_open

    clock.advance(days=5)
    store.lodge_appeal(INSPEKTOR, vedtak, grounds="Foreldrene mener timene er for få")
    assert store.vedtak(REKTOR, vedtak).appeal_open
    refused(
        store, AppealAlreadyOpen, lambda: store.lodge_appeal(INSPEKTOR, vedtak, grounds="Igjen")
    )
    refused(store, InvalidValue, lambda: store.resolve_appeal(INSPEKTOR, vedtak, outcome="maybe"))
    store.resolve_appeal(INSPEKTOR, vedtak, outcome="upheld", note="Statsforvalteren stadfestet")
    assert not store.vedtak(REKTOR, vedtak).appeal_open

    more = HoursByCompetence.from_hours(special_ed_teacher=76, miljoterapeut=152)
    store.amend_vedtak(
        REKTOR,
        vedtak,
        hours=more,
        organisation="Tre timer i liten gruppe",
        content="Sosial trening, struktur og følge i overganger",
        reasons="Ny kartlegging viser større behov",
        deviation_reason="Behovet har økt siden PPTs vurdering",
        valid_to=date(2025, 8, 15),
    )
    view = store.vedtak(REKTOR, vedtak)
    assert view.granted == more
    assert view.deviates
    assert view.valid_to == date(2025, 8, 15)

    week = date(2024, 8, 19)
    store.record_delivery(
        COORDINATOR, vedtak, week_of=week, minutes=HoursByCompetence(miljoterapeut=180)
    )
    assert store.vedtak(REKTOR, vedtak).delivered == HoursByCompetence(miljoterapeut=180)
    refused(
        store,
        DeliveryAlreadyRecorded,
        lambda: store.record_delivery(
            COORDINATOR, vedtak, week_of=week, minutes=HoursByCompetence(miljoterapeut=1)
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_delivery(
            COORDINATOR,
            vedtak,
            week_of=date(2024, 8, 20),
            minutes=HoursByCompetence(miljoterapeut=1),
        ),
    )
    store.correct_delivery(
        COORDINATOR,
        vedtak,
        week_of=week,
        minutes=HoursByCompetence(miljoterapeut=120, special_ed_teacher=90),
        reason="Registrert på feil kompetanse",
    )
    store.record_delivery(
        COORDINATOR, vedtak, week_of=date(2024, 8, 26), minutes=HoursByCompetence(miljoterapeut=60)
    )
    assert store.vedtak(REKTOR, vedtak).delivered == HoursByCompetence(
        miljoterapeut=180, special_ed_teacher=90
    )

    refused(store, AccessDenied, lambda: store.revoke_vedtak(INSPEKTOR, vedtak, reasons="x"))
    store.revoke_vedtak(REKTOR, vedtak, reasons="Eleven flytter", revoked_on=SPRING_START)
    view = store.vedtak(REKTOR, vedtak)
    assert view.status is VedtakStatus.REVOKED
    assert view.in_force_until == SPRING_START - timedelta(days=1)


def test_vedtak_expiry(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    vedtak = decided_vedtak(store, student, valid_to=AUTUMN_END)
    refused(
        store,
        VedtakStateError,
        lambda: store.record_vedtak_expiry(SPED_LEAD, vedtak, on=AUTUMN_END - timedelta(days=1)),
    )
    refused(  # not ahead of time
        store, DateInFuture, lambda: store.record_vedtak_expiry(SPED_LEAD, vedtak, on=AUTUMN_END)
    )
    clock.current = datetime.combine(AUTUMN_END, time(15), tzinfo=UTC)
    store.record_vedtak_expiry(SPED_LEAD, vedtak, on=AUTUMN_END)
    assert store.vedtak(REKTOR, vedtak).status is VedtakStatus.EXPIRED


def test_vedtak_refusals(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register(store)
    refused(store, InvalidValue, lambda: store.open_vedtak(SPED_LEAD, student, kind="extra_hours"))
    refused(
        store,
        NotFound,
        lambda: store.open_vedtak(SPED_LEAD, UUID(int=5), kind="personal_assistance"),
    )
    refused(store, NotFound, lambda: store.vedtak(REKTOR, UUID(int=5)))
    refused(store, NotFound, lambda: store.vedtak(REKTOR, student))  # a student is not a vedtak
    opened = store.open_vedtak(SPED_LEAD, student, kind="personal_assistance")
    refused(store, VedtakStateError, lambda: store.send_vedtak_notice(INSPEKTOR, opened))
    refused(
        store,
        VedtakStateError,
        lambda: store.record_delivery(
            COORDINATOR, opened, week_of=TODAY, minutes=ASSISTANCE.per_week()
        ),
    )
    refused(store, VedtakStateError, lambda: store.lodge_appeal(INSPEKTOR, opened, grounds="x"))


# ---------------------------------------------------------------------------------------------
# Team and allocation
# ---------------------------------------------------------------------------------------------


def test_team_membership(store: Miljo, gjesdal: Gjesdal) -> None:
    store.add_member(
        ADMIN, school=GJESDAL, member_id="gj-mt8", profession="sosionom", position_percent="50"
    )
    members = {m.member_id: m for m in store.team(COORDINATOR, GJESDAL).members}
    assert members["gj-mt8"].profession is Profession.SOSIONOM
    assert members["gj-mt8"].position_percent == Decimal(50)
    assert members["gj-mt8"].joined_on == TODAY

    store.change_position(
        ADMIN,
        school=GJESDAL,
        member_id="gj-mt2",
        position_percent=Decimal("60.5"),
        effective_from=SPRING_START,
    )
    members = {m.member_id: m for m in store.team(COORDINATOR, GJESDAL).members}
    assert members["gj-mt2"].position_percent == Decimal("85")  # today: still the old one
    spring = store.team(COORDINATOR, GJESDAL, on=SPRING_START).members
    assert {m.member_id: m for m in spring}["gj-mt2"].position_percent == Decimal("60.5")

    store.appoint_coordinator(ADMIN, school=GJESDAL, member_id="gj-mt2")
    team = store.team(COORDINATOR, GJESDAL)
    assert team.coordinator_id == "gj-mt2"
    assert [m.member_id for m in team.members if m.is_coordinator] == ["gj-mt2"]

    store.record_member_left(ADMIN, school=GJESDAL, member_id="gj-as6", left_on=AUTUMN_END)
    members = {m.member_id: m for m in store.team(COORDINATOR, GJESDAL).members}
    assert members["gj-as6"].left_on == AUTUMN_END

    refused(store, AlreadyExists, lambda: store.form_team(ADMIN, school=GJESDAL, name="Nytt team"))
    refused(store, NotFound, lambda: store.form_team(ADMIN, school="strinda", name="Elevtjenesten"))
    refused(store, NotFound, lambda: store.team(COORDINATOR, "strinda"))
    refused(
        store,
        AlreadyExists,
        lambda: store.add_member(
            ADMIN, school=GJESDAL, member_id="gj-mt1", profession="vernepleier", position_percent=85
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_member(
            ADMIN, school=GJESDAL, member_id="gj-x1", profession="lærer", position_percent=85
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_member(
            ADMIN, school=GJESDAL, member_id="gj-x1", profession="sosionom", position_percent=120
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_member(
            ADMIN,
            school=GJESDAL,
            member_id="Kari Nordmann",
            profession="sosionom",
            position_percent=50,
        ),
    )
    refused(
        store,
        CoordinatorNotQualified,
        lambda: store.appoint_coordinator(ADMIN, school=GJESDAL, member_id="gj-as1"),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.appoint_coordinator(ADMIN, school=GJESDAL, member_id="gj-mt9"),
    )
    refused(
        store,
        MemberNotActive,
        lambda: store.record_member_left(
            ADMIN, school=GJESDAL, member_id="gj-as6", left_on=YEAR_END
        ),
    )


def test_assignments_to_classes_trinn_sfo_and_school(store: Miljo, gjesdal: Gjesdal) -> None:
    to_class = store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt3",
        target_kind="class",
        trinn=8,
        class_name="8c",
        minutes_per_week=300,
        valid_from=TODAY,
        valid_to=AUTUMN_END,
    )
    to_trinn = store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt3",
        target_kind="trinn",
        trinn=9,
        minutes_per_week=240,
        valid_from=TODAY,
    )
    to_school = store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-as1",
        target_kind="school",
        minutes_per_week=120,
        valid_from=TODAY,
    )
    team = store.team(COORDINATOR, GJESDAL)
    by_id = {a.assignment_id: a for a in team.assignments}
    assert set(by_id) == {to_class, to_trinn, to_school}
    assert by_id[to_class].target_kind is TargetKind.CLASS
    assert (by_id[to_class].trinn, by_id[to_class].class_name) == (8, "8c")
    assert (by_id[to_class].member_id, by_id[to_class].minutes_per_week) == ("gj-mt3", 300)
    assert (by_id[to_class].valid_from, by_id[to_class].valid_to) == (TODAY, AUTUMN_END)
    assert by_id[to_trinn].target_kind is TargetKind.TRINN
    assert by_id[to_school].student_id is None

    # Ending, rotating and leaving, seen on the dates they take effect.
    store.end_assignment(
        COORDINATOR,
        school=GJESDAL,
        assignment_id=to_school,
        ended_on=date(2024, 10, 31),
        reason="Prosjektet er avsluttet",
    )
    rotated = store.rotate_assignment(
        COORDINATOR, school=GJESDAL, assignment_id=to_trinn, to_member_id="gj-mt4", on=SPRING_START
    )
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-as2",
        target_kind="sfo",
        minutes_per_week=600,
        valid_from=TODAY,
    )
    store.record_member_left(ADMIN, school=GJESDAL, member_id="gj-as2", left_on=AUTUMN_END)

    autumn = store.team(COORDINATOR, GJESDAL, on=date(2024, 10, 31))
    assert {(a.member_id, a.target_kind) for a in autumn.assignments} == {
        ("gj-mt3", TargetKind.CLASS),
        ("gj-mt3", TargetKind.TRINN),
        ("gj-as1", TargetKind.SCHOOL),
        ("gj-as2", TargetKind.SFO),
    }
    assert autumn.on == date(2024, 10, 31)
    november = store.team(COORDINATOR, GJESDAL, on=date(2024, 11, 1))
    assert to_school not in {a.assignment_id for a in november.assignments}
    spring = store.team(COORDINATOR, GJESDAL, on=SPRING_START)
    assert [(a.assignment_id, a.member_id, a.trinn) for a in spring.assignments] == [
        (rotated, "gj-mt4", 9)
    ]

    refused(
        store,
        AssignmentNotActive,
        lambda: store.end_assignment(
            COORDINATOR,
            school=GJESDAL,
            assignment_id=to_school,
            ended_on=date(2024, 11, 30),
            reason="Igjen",
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.rotate_assignment(
            COORDINATOR, school=GJESDAL, assignment_id=rotated, to_member_id="gj-mt4", on=YEAR_END
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.end_assignment(
            COORDINATOR, school=GJESDAL, assignment_id=UUID(int=77), ended_on=TODAY, reason="x"
        ),
    )
    refused(
        store,
        NotFound,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt3",
            target_kind="class",
            trinn=8,
            class_name="8e",
            minutes_per_week=60,
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt3",
            target_kind="class",
            trinn=8,
            minutes_per_week=60,
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt3",
            target_kind="kantine",
            minutes_per_week=60,
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt9",
            target_kind="school",
            minutes_per_week=60,
            valid_from=TODAY,
        ),
    )
    refused(
        store,
        MemberNotActive,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-as2",
            target_kind="school",
            minutes_per_week=60,
            valid_from=SPRING_START,
        ),
    )


def test_capacity_rule(store: Miljo, gjesdal: Gjesdal) -> None:
    assert FULL_85 == 1912
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt2",
        target_kind="class",
        trinn=10,
        class_name="10b",
        minutes_per_week=FULL_85 - 12,
        valid_from=TODAY,
    )
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt2",
        target_kind="school",
        minutes_per_week=12,
        valid_from=TODAY,
        valid_to=AUTUMN_END,
    )
    error = refused(
        store,
        CapacityExceeded,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-mt2",
            target_kind="sfo",
            minutes_per_week=1,
            valid_from=date(2024, 12, 16),
        ),
    )
    assert error.context["capacity"] == FULL_85
    assert error.context["requested"] == FULL_85 + 1
    # After the school-wide task ends there is room again.
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt2",
        target_kind="sfo",
        minutes_per_week=12,
        valid_from=SPRING_START,
    )
    # A smaller position would no longer hold the allocation.
    refused(
        store,
        CapacityExceeded,
        lambda: store.change_position(
            ADMIN,
            school=GJESDAL,
            member_id="gj-mt2",
            position_percent=50,
            effective_from=SPRING_START,
        ),
    )
    team = store.team(COORDINATOR, GJESDAL, on=SPRING_START)
    assert sum(a.minutes_per_week for a in team.assignments if a.member_id == "gj-mt2") == FULL_85


def test_assignment_under_a_vedtak(store: Miljo, gjesdal: Gjesdal) -> None:
    kari = register(store)
    ola = register(store, OLA)
    karis = decided_vedtak(store, kari, valid_from=TODAY, valid_to=AUTUMN_END)
    olas = decided_vedtak(store, ola)
    undecided = store.open_vedtak(SPED_LEAD, kari, kind="individually_adapted_education")

    def assign(
        vedtak_id: UUID | None,
        valid_from: date = TODAY,
        valid_to: date | None = AUTUMN_END,
        minutes: int = 300,
    ) -> UUID:
        return store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-as3",
            target_kind="student",
            student_id=kari,
            vedtak_id=vedtak_id,
            minutes_per_week=minutes,
            valid_from=valid_from,
            valid_to=valid_to,
        )

    refused(store, VedtakRequired, lambda: assign(olas))  # another student's vedtak
    refused(store, VedtakRequired, lambda: assign(undecided))  # not decided
    refused(store, VedtakRequired, lambda: assign(UUID(int=404)))  # no such vedtak
    refused(store, VedtakRequired, lambda: assign(None))  # no vedtak at all
    refused(store, VedtakRequired, lambda: assign(karis, valid_to=SPRING_START))  # runs past it
    refused(store, VedtakRequired, lambda: assign(karis, valid_to=None))  # open-ended
    refused(store, VedtakRequired, lambda: assign(karis, valid_from=TODAY - timedelta(days=1)))
    refused(
        store,
        CapacityExceeded,
        lambda: assign(karis, minutes=position_minutes_per_week(Decimal(50)) + 1),
    )

    assignment = assign(karis)
    [view] = store.team(COORDINATOR, GJESDAL, on=TODAY).assignments
    assert view.assignment_id == assignment
    assert view.target_kind is TargetKind.STUDENT
    assert (view.student_id, view.vedtak_id) == (kari, karis)
    assert (view.valid_from, view.valid_to) == (TODAY, AUTUMN_END)
    assert store.team(COORDINATOR, GJESDAL, on=SPRING_START).assignments == []

    # Up to the last day in force of a revoked vedtak, not past it.
    store.revoke_vedtak(REKTOR, karis, reasons="Behovet er borte", revoked_on=date(2024, 11, 1))
    refused(
        store,
        VedtakRequired,
        lambda: assign(karis, valid_from=date(2024, 11, 1), valid_to=date(2024, 11, 8)),
    )
    assign(karis, valid_from=date(2024, 10, 1), valid_to=date(2024, 10, 31), minutes=60)


def test_assignment_of_a_student_at_another_school_is_refused(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    register_trudvang(store)
    elsewhere = register(store, ASE, school="trudvang", trinn=1, class_name="1a")
    vedtak = decided_vedtak(store, elsewhere)
    refused(
        store,
        NotFound,
        lambda: store.assign(
            COORDINATOR,
            school=GJESDAL,
            member_id="gj-as3",
            target_kind="student",
            student_id=elsewhere,
            vedtak_id=vedtak,
            minutes_per_week=60,
            valid_from=TODAY,
            valid_to=AUTUMN_END,
        ),
    )


# ---------------------------------------------------------------------------------------------
# Meetings
# ---------------------------------------------------------------------------------------------


def test_meeting_lifecycle(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    concern = store.raise_concern(TEACHER, student, summary="Mye fravær etter høstferien")
    scheduled = T0 + timedelta(days=2)
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=scheduled
    )
    view = store.meeting(COORDINATOR, meeting)
    assert (view.meeting_id, view.school_code, view.kind) == (
        meeting,
        GJESDAL,
        MeetingKind.RESSURSTEAM,
    )
    assert view.scheduled_at == scheduled
    assert view.held_at is None
    assert not view.minutes_closed
    assert not view.cancelled
    assert (view.participants, view.agenda) == ([], [])
    assert (view.decisions, view.open_actions) == ([], [])
    assert view.external_bodies == []

    store.add_participant(COORDINATOR, meeting, person_id="p-rektor", role="rektor")
    store.add_participant(
        COORDINATOR, meeting, person_id="p-sped", role="spesialpedagogisk_ansvarlig"
    )
    assert [(p.person_id, p.role) for p in store.meeting(COORDINATOR, meeting).participants] == [
        ("p-rektor", Role.REKTOR),
        ("p-sped", Role.SPESIALPEDAGOGISK_ANSVARLIG),
    ]

    named = store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Fravær",
        student_id=student,
        concern_id=concern,
    )
    in_8c = store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="class",
        title="Stemningen i 8c",
        trinn=8,
        class_name="8c",
    )
    trinn_9 = store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="trinn", title="9. trinn", trinn=9
    )
    theme = store.add_agenda_item(COORDINATOR, meeting, subject_kind="theme", title="Trivselsuke")
    agenda = store.meeting(COORDINATOR, meeting).agenda
    assert [i.item_id for i in agenda] == [named, in_8c, trinn_9, theme]
    assert [i.subject_kind for i in agenda] == [
        AgendaSubject.STUDENT,
        AgendaSubject.CLASS,
        AgendaSubject.TRINN,
        AgendaSubject.THEME,
    ]
    assert (agenda[0].student_id, agenda[0].concern_id, agenda[0].anonymous) == (
        student,
        concern,
        False,
    )
    assert (agenda[1].trinn, agenda[1].class_name) == (8, "8c")
    assert store.student_case(COORDINATOR, student).meeting_ids == [meeting]

    store.record_note(COORDINATOR, meeting, item_id=in_8c, text="God stemning etter trivselsuka")
    advice = store.record_decision(
        COORDINATOR, meeting, item_id=in_8c, outcome="advice", text="Fortsett som nå"
    )
    measure = store.record_decision(
        COORDINATOR,
        meeting,
        item_id=named,
        outcome="measure",
        text="Hjemmebesøk",
        responsible="gj-mt2",
        due=TODAY + timedelta(days=14),
    )
    view = store.meeting(COORDINATOR, meeting)
    assert [(d.decision_id, d.outcome) for d in view.decisions] == [
        (advice, DecisionOutcome.ADVICE),
        (measure, DecisionOutcome.MEASURE),
    ]
    [action] = view.open_actions
    assert (action.decision_id, action.student_id, action.responsible, action.due) == (
        measure,
        student,
        "gj-mt2",
        TODAY + timedelta(days=14),
    )

    clock.advance(days=2, hours=2)  # after the scheduled time
    store.record_meeting_held(COORDINATOR, meeting, held_at=scheduled)
    view = store.meeting(COORDINATOR, meeting)
    assert view.held_at == scheduled
    [discussed] = store.student_case(COORDINATOR, student).concerns
    assert discussed.discussed_in == [meeting]

    store.close_minutes(COORDINATOR, meeting)
    assert store.meeting(COORDINATOR, meeting).minutes_closed
    refused(
        store,
        MinutesClosed,
        lambda: store.record_note(COORDINATOR, meeting, item_id=in_8c, text="Glemt"),
    )
    refused(
        store,
        MinutesClosed,
        lambda: store.add_participant(COORDINATOR, meeting, person_id="p-insp", role="inspektor"),
    )
    store.amend_minutes(
        COORDINATOR, meeting, item_id=in_8c, text="Gjelder også 8d", reason="Utelatt i referatet"
    )

    store.complete_action(COORDINATOR, meeting, decision_id=measure)
    view = store.meeting(COORDINATOR, meeting)
    assert view.open_actions == []
    assert [d.completed_on for d in view.decisions] == [None, TODAY + timedelta(days=2)]
    assert [(n.item_id, n.text) for n in view.notes] == [(in_8c, "God stemning etter trivselsuka")]
    assert [(a.item_id, a.text, a.reason) for a in view.amendments] == [
        (in_8c, "Gjelder også 8d", "Utelatt i referatet")
    ]

    refused(store, MeetingStateError, lambda: store.record_meeting_held(COORDINATOR, meeting))
    refused(
        store, MeetingStateError, lambda: store.cancel_meeting(COORDINATOR, meeting, reason="x")
    )
    refused(
        store,
        RuleViolation,
        lambda: store.complete_action(COORDINATOR, meeting, decision_id=measure),
    )
    refused(
        store, UnknownEntry, lambda: store.complete_action(COORDINATOR, meeting, decision_id=advice)
    )


def test_meeting_refusals(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    student = register(store)
    other = register(store, OLA)
    foreign_concern = store.raise_concern(TEACHER, other, summary="Gjelder Ola")
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=T0
    )
    item = store.add_agenda_item(COORDINATOR, meeting, subject_kind="theme", title="Årshjul")

    refused(
        store,
        NotFound,
        lambda: store.schedule_meeting(
            COORDINATOR, school="strinda", kind="ressursteam", scheduled_at=T0
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.schedule_meeting(COORDINATOR, school=GJESDAL, kind="fest", scheduled_at=T0),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.schedule_meeting(
            COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=datetime(2024, 9, 1, 10)
        ),
    )
    refused(store, NotFound, lambda: store.meeting(COORDINATOR, UUID(int=404)))
    refused(
        store,
        NotFound,
        lambda: store.add_participant(COORDINATOR, UUID(int=404), person_id="p-x", role="laerer"),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_participant(COORDINATOR, meeting, person_id="p-x", role="vaktmester"),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.add_agenda_item(
            COORDINATOR, meeting, subject_kind="student", title="Uten navn"
        ),
    )
    refused(
        store,
        NotFound,
        lambda: store.add_agenda_item(
            COORDINATOR, meeting, subject_kind="class", title="x", trinn=8, class_name="8e"
        ),
    )
    refused(
        store,
        NotFound,
        lambda: store.add_agenda_item(
            COORDINATOR, meeting, subject_kind="student", title="x", student_id=UUID(int=404)
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.add_agenda_item(
            COORDINATOR,
            meeting,
            subject_kind="student",
            title="x",
            student_id=student,
            concern_id=foreign_concern,
        ),
    )
    refused(
        store,
        UnknownEntry,
        lambda: store.record_note(COORDINATOR, meeting, item_id=UUID(int=404), text="x"),
    )
    refused(
        store,
        ActionRequired,
        lambda: store.record_decision(
            COORDINATOR, meeting, item_id=item, outcome="measure", text="Tiltak"
        ),
    )
    refused(
        store,
        InvalidValue,
        lambda: store.record_decision(
            COORDINATOR, meeting, item_id=item, outcome="advice", text="Råd", responsible="gj-mt2"
        ),
    )
    refused(
        store,
        HeldInFuture,
        lambda: store.record_meeting_held(COORDINATOR, meeting, held_at=T0 + timedelta(hours=1)),
    )
    refused(store, MeetingStateError, lambda: store.close_minutes(COORDINATOR, meeting))
    refused(
        store,
        MeetingStateError,
        lambda: store.amend_minutes(COORDINATOR, meeting, text="x", reason="y"),
    )

    store.cancel_meeting(COORDINATOR, meeting, reason="Rektor er syk")
    assert store.meeting(COORDINATOR, meeting).cancelled
    refused(store, MeetingStateError, lambda: store.record_meeting_held(COORDINATOR, meeting))
    refused(
        store,
        MeetingStateError,
        lambda: store.add_agenda_item(COORDINATOR, meeting, subject_kind="theme", title="x"),
    )


def test_meeting_cannot_be_cancelled_once_it_has_decisions(store: Miljo, gjesdal: Gjesdal) -> None:
    meeting = store.schedule_meeting(COORDINATOR, school=GJESDAL, kind="teammote", scheduled_at=T0)
    item = store.add_agenda_item(COORDINATOR, meeting, subject_kind="theme", title="Turnus")
    store.record_note(COORDINATOR, meeting, item_id=item, text="Ny turnus fra uke 36")
    refused(
        store, MeetingStateError, lambda: store.cancel_meeting(COORDINATOR, meeting, reason="x")
    )
    assert not store.meeting(COORDINATOR, meeting).cancelled


# ---------------------------------------------------------------------------------------------
# Consent in the arbeidslag
# ---------------------------------------------------------------------------------------------

ARBEIDSLAG_AT = utc_on(date(2024, 9, 9), 12)  # Monday 2024-09-09, 14:00 in Oslo
MEETING_DAY = date(2024, 9, 9)


@pytest.mark.parametrize(
    ("scope_kind", "scope", "valid_from", "valid_to", "withdrawn", "accepted"),
    [
        pytest.param("body", "barnevern", TODAY, None, False, True, id="barnevern"),
        pytest.param("meeting_kind", "arbeidslag", TODAY, YEAR_END, False, True, id="arbeidslag"),
        pytest.param(
            "body", "barnevern", MEETING_DAY, MEETING_DAY, False, True, id="only-that-day"
        ),
        pytest.param("body", "ppt", TODAY, None, False, False, id="other-body"),
        pytest.param("meeting_kind", "ressursteam", TODAY, None, False, False, id="other-meeting"),
        pytest.param(
            "body",
            "barnevern",
            MEETING_DAY + timedelta(days=1),
            None,
            False,
            False,
            id="starts-after",
        ),
        pytest.param(
            "body",
            "barnevern",
            TODAY,
            MEETING_DAY - timedelta(days=1),
            False,
            False,
            id="ended-before",
        ),
        pytest.param("body", "barnevern", TODAY, None, True, False, id="withdrawn"),
    ],
)
def test_named_student_in_arbeidslag_needs_consent(
    store: Miljo,
    gjesdal: Gjesdal,
    scope_kind: str,
    scope: str,
    valid_from: date,
    valid_to: date | None,
    withdrawn: bool,
    accepted: bool,
) -> None:
    student = register(store)
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=ARBEIDSLAG_AT
    )
    store.add_external_participant(COORDINATOR, meeting, body="barnevern")
    assert store.meeting(COORDINATOR, meeting).external_bodies == [ExternalBody.BARNEVERN]

    def add_named() -> UUID:
        return store.add_agenda_item(
            COORDINATOR,
            meeting,
            subject_kind="student",
            title="Bekymring hjemme",
            student_id=student,
        )

    refused(store, ConsentRequired, add_named)  # no consent at all
    consent = store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind=scope_kind,
        scope=scope,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    if withdrawn:
        store.withdraw_consent(COORDINATOR, student, consent_id=consent)
    if accepted:
        item = add_named()
        [view] = store.meeting(COORDINATOR, meeting).agenda
        assert (view.item_id, view.student_id, view.anonymous) == (item, student, False)
        assert store.student_case(COORDINATOR, student).meeting_ids == [meeting]
    else:
        error = refused(store, ConsentRequired, add_named)
        assert error.context["body"] == "barnevern"
        assert error.context["on"] == MEETING_DAY
        assert "Kari" not in str(error)
        assert store.meeting(COORDINATOR, meeting).agenda == []
        assert store.student_case(COORDINATOR, student).meeting_ids == []


def test_anonymous_case_in_arbeidslag_needs_no_consent(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register(store)
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=ARBEIDSLAG_AT
    )
    for body in ("barnevern", "ppt", "psykisk_helse", "familievern"):
        store.add_external_participant(COORDINATOR, meeting, body=body)
    item = store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Elev på 8. trinn med mye fravær",
        anonymous=True,
    )
    view = store.meeting(COORDINATOR, meeting)
    assert [(i.item_id, i.student_id, i.anonymous) for i in view.agenda] == [(item, None, True)]
    assert view.external_bodies == [
        ExternalBody.BARNEVERN,
        ExternalBody.PPT,
        ExternalBody.PSYKISK_HELSE,
        ExternalBody.FAMILIEVERN,
    ]
    assert store.student_case(COORDINATOR, student).meeting_ids == []
    refused(
        store,
        InvalidValue,
        lambda: store.add_agenda_item(
            COORDINATOR,
            meeting,
            subject_kind="student",
            title="x",
            student_id=student,
            anonymous=True,
        ),
    )


def test_every_external_body_present_must_be_covered(store: Miljo, gjesdal: Gjesdal) -> None:
    student = register(store)
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=ARBEIDSLAG_AT
    )
    store.add_external_participant(COORDINATOR, meeting, body="barnevern")
    store.add_external_participant(COORDINATOR, meeting, body="ppt")
    store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=TODAY,
    )

    def add_named() -> UUID:
        return store.add_agenda_item(
            COORDINATOR, meeting, subject_kind="student", title="x", student_id=student
        )

    error = refused(store, ConsentRequired, add_named)
    assert error.context["body"] == "ppt"
    store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=TODAY,
    )
    add_named()
    assert [i.student_id for i in store.meeting(COORDINATOR, meeting).agenda] == [student]


def test_external_participant_joining_after_a_named_item_needs_consent(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    student = register(store)
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=ARBEIDSLAG_AT
    )
    store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="x", student_id=student
    )
    refused(
        store,
        ConsentRequired,
        lambda: store.add_external_participant(COORDINATOR, meeting, body="barnevern"),
    )
    assert store.meeting(COORDINATOR, meeting).external_bodies == []
    refused(
        store,
        InvalidValue,
        lambda: store.add_external_participant(COORDINATOR, meeting, body="politiet"),
    )
    store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=TODAY,
    )
    store.add_external_participant(COORDINATOR, meeting, body="barnevern")
    assert store.meeting(COORDINATOR, meeting).external_bodies == [ExternalBody.BARNEVERN]
    refused(
        store,
        AlreadyExists,
        lambda: store.add_external_participant(COORDINATOR, meeting, body="barnevern"),
    )


# ---------------------------------------------------------------------------------------------
# record_meeting_held marks agenda concerns as discussed
# ---------------------------------------------------------------------------------------------


def test_holding_a_meeting_marks_its_concerns_discussed(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    kari = register(store)
    ola = register(store, OLA)
    ase = register(store, ASE)
    karis = store.raise_concern(TEACHER, kari, summary="Sliter i friminuttene")
    olas = store.raise_concern(TEACHER, ola, summary="Mye fravær")
    not_on_agenda = store.raise_concern(TEACHER, ase, summary="Konflikt på bussen")
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=T0 + timedelta(hours=1)
    )
    store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Kari",
        student_id=kari,
        concern_id=karis,
    )
    store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="Ola", student_id=ola, concern_id=olas
    )
    store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="Åse uten sak", student_id=ase
    )
    store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="student", title="Anonym", anonymous=True
    )
    store.add_agenda_item(
        COORDINATOR, meeting, subject_kind="class", title="8c", trinn=8, class_name="8c"
    )

    clock.advance(hours=2)
    before = store.event_count()
    store.record_meeting_held(COORDINATOR, meeting)
    assert store.event_count() == before + 3  # Held + two ConcernDiscussed
    assert store.meeting(COORDINATOR, meeting).held_at == T0 + timedelta(hours=2)
    assert [c.discussed_in for c in store.student_case(COORDINATOR, kari).concerns] == [[meeting]]
    assert [c.discussed_in for c in store.student_case(COORDINATOR, ola).concerns] == [[meeting]]
    [untouched] = store.student_case(COORDINATOR, ase).concerns
    assert (untouched.concern_id, untouched.discussed_in) == (not_on_agenda, [])


def test_holding_a_meeting_skips_students_who_left(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    kari = register(store)
    concern = store.raise_concern(TEACHER, kari, summary="Sliter i friminuttene")
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=T0
    )
    store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Kari",
        student_id=kari,
        concern_id=concern,
    )
    store.record_departure(ADMIN, kari, kind="left")
    clock.advance(hours=1)
    store.record_meeting_held(COORDINATOR, meeting)
    assert store.meeting(COORDINATOR, meeting).held_at == T0 + timedelta(hours=1)
    assert [c.discussed_in for c in store.student_case(COORDINATOR, kari).concerns] == [[]]


def test_holding_a_meeting_with_two_concerns_of_one_student(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    kari = register(store)
    first = store.raise_concern(TEACHER, kari, summary="Sliter i friminuttene")
    second = store.raise_concern(TEACHER, kari, summary="Mye fravær")
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="ressursteam", scheduled_at=T0
    )
    store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Friminutt",
        student_id=kari,
        concern_id=first,
    )
    store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Fravær",
        student_id=kari,
        concern_id=second,
    )
    clock.advance(hours=1)
    store.record_meeting_held(COORDINATOR, meeting)
    assert [c.discussed_in for c in store.student_case(COORDINATOR, kari).concerns] == [
        [meeting],
        [meeting],
    ]


# ---------------------------------------------------------------------------------------------
# The access log
# ---------------------------------------------------------------------------------------------


def logged(entries: Sequence[AccessEntry]) -> list[tuple[datetime, str, str, str]]:
    """The access log as (read at, reader, role, what) tuples."""
    return [(e.read_at, e.reader_id, e.reader_role, e.what) for e in entries]


def readers(entries: Sequence[AccessEntry]) -> list[tuple[str, str, str]]:
    """The access log as (reader, role, what) tuples."""
    return [(e.reader_id, e.reader_role, e.what) for e in entries]


#: A miljøterapeut of Gjesdal's team (need-to-know: reads only the students assigned to them).
GJ_MT3 = Actor(person_id="gj-mt3", role=Role.MILJOTERAPEUT, schools={"gjesdal"})


def test_every_case_read_is_logged(store: Miljo, gjesdal: Gjesdal, clock: FakeClock) -> None:
    kari = register(store)
    ola = register(store, OLA, class_name="8a")
    vedtak = decided_vedtak(store, kari)
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt3",
        target_kind="class",
        trinn=8,
        class_name="8c",
        minutes_per_week=300,
        valid_from=TODAY,
    )
    assert store.access_log(AUDITOR, kari) == []

    clock.advance(hours=1)
    first_read = clock.current
    before = store.event_count()
    store.student_case(GJ_MT3, kari, reason="Forberedelse til ressursteam")
    assert store.event_count() == before + 2  # the log starts, then the read
    assert logged(store.access_log(AUDITOR, kari)) == [
        (first_read, "gj-mt3", "miljoterapeut", "case")
    ]
    [entry] = store.access_log(REKTOR, kari)
    assert (entry.reason, entry.break_glass) == ("Forberedelse til ressursteam", False)

    clock.advance(days=1)
    second_read = clock.current
    store.vedtak(REKTOR, vedtak)
    clock.advance(minutes=5)
    third_read = clock.current
    store.student_case(AUDITOR, kari)
    assert logged(store.access_log(AUDITOR, kari)) == [
        (first_read, "gj-mt3", "miljoterapeut", "case"),
        (second_read, "p-rektor", "rektor", "vedtak"),
        (third_read, "p-audit", "auditor", "case"),
    ]
    assert [e.reason for e in store.access_log(AUDITOR, kari)][1:] == [None, None]
    assert store.event_count() == before + 4

    # Reads that do not open the case are not logged; nor is a read of someone else's case.
    store.student_summary(TEACHER, kari)
    store.find_student(TEACHER, school=GJESDAL, student_number="1001")
    store.access_log(AUDITOR, kari)
    store.student_case(COORDINATOR, ola)
    assert len(store.access_log(AUDITOR, kari)) == 3
    assert readers(store.access_log(AUDITOR, ola)) == [("p-coord", "miljokoordinator", "case")]

    # A refused read logs nothing: Ola (8a) is not assigned to gj-mt3.
    refused(store, AccessDenied, lambda: store.student_case(GJ_MT3, ola, reason="Nysgjerrig"))
    assert len(store.access_log(AUDITOR, ola)) == 1
    # A malformed reason refuses the read and logs nothing.
    refused(store, InvalidValue, lambda: store.student_case(GJ_MT3, kari, reason="x\x00y"))
    assert len(store.access_log(AUDITOR, kari)) == 3


# ---------------------------------------------------------------------------------------------
# An auditor reads everything and changes nothing
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class World:
    """A school with one student carrying one of every kind of record."""

    student: UUID
    observation: UUID
    concern: UUID
    consent: UUID
    referral: UUID
    plan: UUID
    vedtak: UUID
    assignment: UUID
    meeting: UUID
    item: UUID
    decision: UUID


def build_world(store: Miljo) -> World:
    student = register(store)
    observation = store.record_observation(
        THERAPIST,
        student,
        arena="sfo",
        categories=["wellbeing"],
        text="Glad i dag",
        observed_at=T0 - timedelta(hours=1),
    )
    concern = store.raise_concern(TEACHER, student, summary="Sliter med overganger")
    consent = store.record_consent(
        COORDINATOR,
        student,
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=TODAY,
    )
    referral = store.make_referral(COORDINATOR, student, body="ppt", reason="Sakkyndig vurdering")
    plan = store.create_aktivitetsplan(
        COORDINATOR,
        student,
        problem="Utestenging",
        measures=["Voksen i friminutt"],
        when="Straks",
        responsible="gj-mt2",
        evaluation_date=YEAR_END,
    )
    vedtak = decided_vedtak(store, student)
    store.send_vedtak_notice(INSPEKTOR, vedtak)
    store.record_delivery(
        COORDINATOR, vedtak, week_of=TODAY, minutes=HoursByCompetence(assistant=300)
    )
    assignment = store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-as1",
        target_kind="student",
        student_id=student,
        vedtak_id=vedtak,
        minutes_per_week=300,
        valid_from=TODAY,
        valid_to=AUTUMN_END,
    )
    meeting = store.schedule_meeting(
        COORDINATOR, school=GJESDAL, kind="arbeidslag", scheduled_at=T0 - timedelta(hours=2)
    )
    store.add_external_participant(COORDINATOR, meeting, body="barnevern")
    store.add_participant(COORDINATOR, meeting, person_id="p-rektor", role="rektor")
    item = store.add_agenda_item(
        COORDINATOR,
        meeting,
        subject_kind="student",
        title="Overganger",
        student_id=student,
        concern_id=concern,
    )
    decision = store.record_decision(
        COORDINATOR,
        meeting,
        item_id=item,
        outcome="measure",
        text="Fast voksen i overganger",
        responsible="gj-as1",
        due=YEAR_END,
    )
    store.record_meeting_held(COORDINATOR, meeting, held_at=T0 - timedelta(hours=1))
    return World(
        student=student,
        observation=observation,
        concern=concern,
        consent=consent,
        referral=referral,
        plan=plan,
        vedtak=vedtak,
        assignment=assignment,
        meeting=meeting,
        item=item,
        decision=decision,
    )


A = AUDITOR
#: Every command of the facade, attempted by an auditor.
AUDITOR_ATTEMPTS: dict[str, Callable[[Miljo, World], object]] = {
    "register_school": lambda m, w: m.register_school(
        A, code="strinda", name="Strinda vgs", first_trinn=11, last_trinn=13
    ),
    "add_class": lambda m, w: m.add_class(A, school=GJESDAL, trinn=9, class_name="9e"),
    "register_student": lambda m, w: m.register_student(
        A, school=GJESDAL, student_number="2001", name="Ola Prøvesen", trinn=8, class_name="8a"
    ),
    "change_class": lambda m, w: m.change_class(A, w.student, trinn=8, class_name="8a"),
    "record_departure": lambda m, w: m.record_departure(A, w.student, kind="left"),
    "record_observation": lambda m, w: m.record_observation(
        A, w.student, arena="break", categories=["social"], text="x"
    ),
    "correct_observation": lambda m, w: m.correct_observation(
        A,
        w.student,
        corrects=w.observation,
        arena="sfo",
        categories=["social"],
        text="x",
        observed_at=T0,
        reason="y",
    ),
    "raise_concern": lambda m, w: m.raise_concern(A, w.student, summary="x"),
    "record_consent": lambda m, w: m.record_consent(
        A, w.student, giver="guardian", scope_kind="body", scope="ppt", valid_from=TODAY
    ),
    "withdraw_consent": lambda m, w: m.withdraw_consent(A, w.student, consent_id=w.consent),
    "make_referral": lambda m, w: m.make_referral(A, w.student, body="bup", reason="x"),
    "change_referral_status": lambda m, w: m.change_referral_status(
        A, w.student, referral_id=w.referral, status="acknowledged"
    ),
    "create_aktivitetsplan": lambda m, w: m.create_aktivitetsplan(
        A,
        w.student,
        problem="x",
        measures=["y"],
        when="z",
        responsible="gj-mt1",
        evaluation_date=YEAR_END,
    ),
    "evaluate_aktivitetsplan": lambda m, w: m.evaluate_aktivitetsplan(
        A, w.student, plan_id=w.plan, assessment="x"
    ),
    "close_aktivitetsplan": lambda m, w: m.close_aktivitetsplan(
        A, w.student, plan_id=w.plan, reason="x"
    ),
    "open_vedtak": lambda m, w: m.open_vedtak(A, w.student, kind="personal_assistance"),
    "record_recommendation": lambda m, w: m.record_recommendation(
        A, w.vedtak, recommended_on=TODAY, hours=ASSISTANCE, summary="x"
    ),
    "decide_vedtak": lambda m, w: m.decide_vedtak(
        A,
        w.vedtak,
        hours=ASSISTANCE,
        organisation="x",
        content="y",
        reasons="z",
        valid_from=TODAY,
        valid_to=YEAR_END,
    ),
    "send_vedtak_notice": lambda m, w: m.send_vedtak_notice(A, w.vedtak),
    "lodge_appeal": lambda m, w: m.lodge_appeal(A, w.vedtak, grounds="x"),
    "resolve_appeal": lambda m, w: m.resolve_appeal(A, w.vedtak, outcome="upheld"),
    "amend_vedtak": lambda m, w: m.amend_vedtak(
        A, w.vedtak, hours=ASSISTANCE, organisation="x", content="y", reasons="z", valid_to=YEAR_END
    ),
    "record_delivery": lambda m, w: m.record_delivery(
        A, w.vedtak, week_of=date(2024, 8, 26), minutes=HoursByCompetence(assistant=1)
    ),
    "correct_delivery": lambda m, w: m.correct_delivery(
        A, w.vedtak, week_of=TODAY, minutes=HoursByCompetence(assistant=1), reason="x"
    ),
    "revoke_vedtak": lambda m, w: m.revoke_vedtak(A, w.vedtak, reasons="x"),
    "record_vedtak_expiry": lambda m, w: m.record_vedtak_expiry(A, w.vedtak, on=YEAR_END),
    "form_team": lambda m, w: m.form_team(A, school=GJESDAL, name="x"),
    "add_member": lambda m, w: m.add_member(
        A, school=GJESDAL, member_id="gj-mt8", profession="sosionom", position_percent=50
    ),
    "change_position": lambda m, w: m.change_position(
        A, school=GJESDAL, member_id="gj-mt1", position_percent=80, effective_from=SPRING_START
    ),
    "appoint_coordinator": lambda m, w: m.appoint_coordinator(
        A, school=GJESDAL, member_id="gj-mt2"
    ),
    "assign": lambda m, w: m.assign(
        A,
        school=GJESDAL,
        member_id="gj-mt1",
        target_kind="school",
        minutes_per_week=60,
        valid_from=TODAY,
    ),
    "end_assignment": lambda m, w: m.end_assignment(
        A, school=GJESDAL, assignment_id=w.assignment, ended_on=TODAY, reason="x"
    ),
    "rotate_assignment": lambda m, w: m.rotate_assignment(
        A, school=GJESDAL, assignment_id=w.assignment, to_member_id="gj-as2", on=SPRING_START
    ),
    "record_member_left": lambda m, w: m.record_member_left(
        A, school=GJESDAL, member_id="gj-as6", left_on=TODAY
    ),
    "schedule_meeting": lambda m, w: m.schedule_meeting(
        A, school=GJESDAL, kind="ressursteam", scheduled_at=T0
    ),
    "add_participant": lambda m, w: m.add_participant(
        A, w.meeting, person_id="p-insp", role="inspektor"
    ),
    "add_external_participant": lambda m, w: m.add_external_participant(A, w.meeting, body="ppt"),
    "add_agenda_item": lambda m, w: m.add_agenda_item(
        A, w.meeting, subject_kind="theme", title="x"
    ),
    "record_note": lambda m, w: m.record_note(A, w.meeting, item_id=w.item, text="x"),
    "record_decision": lambda m, w: m.record_decision(
        A, w.meeting, item_id=w.item, outcome="advice", text="x"
    ),
    "complete_action": lambda m, w: m.complete_action(A, w.meeting, decision_id=w.decision),
    "record_meeting_held": lambda m, w: m.record_meeting_held(A, w.meeting),
    "close_minutes": lambda m, w: m.close_minutes(A, w.meeting),
    "amend_minutes": lambda m, w: m.amend_minutes(A, w.meeting, text="x", reason="y"),
    "cancel_meeting": lambda m, w: m.cancel_meeting(A, w.meeting, reason="x"),
    "restrict_records": lambda m, w: m.restrict_records(A, w.student, scope="vedtak", reason="x"),
    "lift_restriction": lambda m, w: m.lift_restriction(A, w.student, scope="vedtak", reason="x"),
    "erase_personal_data": lambda m, w: m.erase_personal_data(A, w.student, basis="request"),
}

#: The facade's queries (they never change records, except that case reads are logged).
QUERIES = frozenset(
    {
        "school",
        "students_of",
        "find_student",
        "student_summary",
        "student_case",
        "access_log",
        "vedtak",
        "team",
        "meeting",
        "meeting_school",
        "overview",
        "history",
        "student_case_as_of",
        "export_history",
        "event_count",
    }
)
#: Maintenance of the derived read models (no actor: they change no records).
VIEW_MAINTENANCE = frozenset({"catch_up", "rebuild_views"})


def test_every_public_operation_is_covered_here() -> None:
    public = {
        name for name, value in vars(Miljo).items() if callable(value) and not name.startswith("_")
    }
    untested = public - set(AUDITOR_ATTEMPTS) - QUERIES - VIEW_MAINTENANCE - {"close"}
    assert not untested, f"facade operations without integration tests: {sorted(untested)}"
    assert set(AUDITOR_ATTEMPTS) <= public
    assert public >= QUERIES | VIEW_MAINTENANCE


def test_an_auditor_reads_everything_and_changes_nothing(store: Miljo, gjesdal: Gjesdal) -> None:
    world = build_world(store)
    failures: list[str] = []
    for name, attempt in AUDITOR_ATTEMPTS.items():
        before = store.event_count()
        try:
            attempt(store, world)
        except AccessDenied as error:
            if (error.role, store.event_count()) != ("auditor", before):
                failures.append(f"{name}: wrote events or named role {error.role}")
        except Exception as error:  # report every operation, then fail once
            failures.append(f"{name}: {type(error).__name__}: {error}")
        else:
            failures.append(f"{name}: an auditor was allowed to write")
    assert failures == []

    # ... and may read everything (case reads are logged with the auditor's role).
    assert store.school(AUDITOR, GJESDAL).active_students == 1
    assert store.students_of(AUDITOR, GJESDAL) == [world.student]
    assert store.find_student(AUDITOR, school=GJESDAL, student_number="1001") == world.student
    assert store.student_summary(AUDITOR, world.student).is_active
    case = store.student_case(AUDITOR, world.student, reason="Tilsyn")
    assert case.vedtak_ids == [world.vedtak]
    assert case.meeting_ids == [world.meeting]
    assert [o.observation_id for o in case.observations] == [world.observation]
    assert store.vedtak(AUDITOR, world.vedtak).delivered == HoursByCompetence(assistant=300)
    assert [a.assignment_id for a in store.team(AUDITOR, GJESDAL).assignments] == [world.assignment]
    assert store.meeting(AUDITOR, world.meeting).held_at == T0 - timedelta(hours=1)
    assert readers(store.access_log(AUDITOR, world.student)) == [
        ("p-audit", "auditor", "case"),
        ("p-audit", "auditor", "vedtak"),
        ("p-audit", "auditor", "meeting"),  # the meeting names the student
    ]
    assert not any(e.break_glass for e in store.access_log(AUDITOR, world.student))


def test_access_denied_names_the_role_and_the_operation(store: Miljo, gjesdal: Gjesdal) -> None:
    error = refused(
        store,
        AccessDenied,
        lambda: store.add_class(AUDITOR, school=GJESDAL, trinn=8, class_name="8e"),
    )
    assert (error.role, error.operation) == ("auditor", "add a class")
    assert "auditor" in str(error)


# ---------------------------------------------------------------------------------------------
# Read models: history, as-of reads, overview
# ---------------------------------------------------------------------------------------------


def test_history_and_as_of_reads_are_logged(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    kari = register(store)
    observation = store.record_observation(
        THERAPIST, kari, arena="classroom", categories=["learning"], text="Rask i matte"
    )
    clock.advance(hours=1)
    vedtak = decided_vedtak(store, kari)
    clock.advance(hours=1)

    history = store.history(AUDITOR, kari, reason="Tilsyn")
    types = [entry.event_type for entry in history]
    assert types[:3] == [
        "Student.Registered",
        "School.StudentEnrolled",
        "Student.ObservationRecorded",
    ]
    assert {"Vedtak.Opened", "Vedtak.Decided", "CaseFile.StreamLinked"} <= set(types)
    assert not any(t.startswith("AccessLog.") for t in types)
    assert [e.position for e in history] == sorted({e.position for e in history})
    assert {e.stream_id for e in history if e.event_type.startswith("Vedtak.")} == {vedtak}
    assert history[0].recorded_at == T0
    assert (history[0].actor_id, history[0].actor_role) == ("p-admin", "admin")
    assert [e.event_type for e in store.history(AUDITOR, kari, as_of=T0)] == types[:3]
    assert readers(store.access_log(AUDITOR, kari)) == [("p-audit", "auditor", "history")] * 2

    then = store.student_case_as_of(COORDINATOR, kari, as_of=T0 + timedelta(minutes=30))
    assert then is not None
    assert [o.observation_id for o in then.observations] == [observation]
    assert then.vedtak_ids == []
    now = store.student_case_as_of(COORDINATOR, kari, as_of=clock.current)
    assert now == store.student_case(COORDINATOR, kari)
    assert readers(store.access_log(AUDITOR, kari))[2:] == [
        ("p-coord", "miljokoordinator", "case as of"),
        ("p-coord", "miljokoordinator", "case as of"),
        ("p-coord", "miljokoordinator", "case"),
    ]

    student_then = store._aggregate_as_of(kari, T0)
    assert student_then is not None
    assert student_then.version == 2  # registered, then the observation
    assert store._aggregate_as_of(kari, T0 - timedelta(seconds=1)) is None
    assert store.student_case_as_of(COORDINATOR, kari, as_of=T0 - timedelta(hours=1)) is None

    before = len(store.access_log(AUDITOR, kari))
    records = store.export_history(AUDITOR, kari)
    assert [r["type"] for r in records] == types
    assert records[0]["topic"] == "miljo:Student.Registered"
    assert records[0]["recorded_at"] == T0.isoformat()
    assert readers(store.access_log(AUDITOR, kari)[before:]) == [("p-audit", "auditor", "export")]

    refused(store, NotFound, lambda: store.history(AUDITOR, UUID(int=404)))
    refused(store, NotFound, lambda: store.student_case_as_of(AUDITOR, UUID(int=404), as_of=T0))
    refused(store, NotFound, lambda: store.export_history(AUDITOR, UUID(int=404)))
    refused(
        store,
        InvalidValue,
        lambda: store.student_case_as_of(AUDITOR, kari, as_of=datetime(2024, 8, 19, 9)),
    )


def test_a_refused_history_read_logs_nothing(store: Miljo, gjesdal: Gjesdal) -> None:
    kari = register(store)
    refused(
        store, InvalidValue, lambda: store.history(AUDITOR, kari, as_of=datetime(2024, 8, 19, 9))
    )
    assert store.access_log(AUDITOR, kari) == []


def test_overview_of_gjesdal(store: Miljo, gjesdal: Gjesdal) -> None:
    kari = register(store)
    register(store, OLA, trinn=9, class_name="9a")
    vedtak = decided_vedtak(store, kari)
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-as1",
        target_kind="student",
        student_id=kari,
        vedtak_id=vedtak,
        minutes_per_week=300,
        valid_from=TODAY,
        valid_to=AUTUMN_END,
    )
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt3",
        target_kind="class",
        trinn=8,
        class_name="8c",
        minutes_per_week=120,
        valid_from=TODAY,
    )
    store.assign(
        COORDINATOR,
        school=GJESDAL,
        member_id="gj-mt4",
        target_kind="sfo",
        minutes_per_week=90,
        valid_from=TODAY,
    )
    events = store.event_count()

    overview = store.overview(COORDINATOR, school=GJESDAL)
    assert store.event_count() == events  # read models are not events
    assert (overview.school, overview.on, overview.trinn) == (GJESDAL, TODAY, None)
    assert [t.trinn for t in overview.trinn_lines] == [8, 9, 10]
    classes = {c.class_name: c for t in overview.trinn_lines for c in t.classes}
    assert set(classes) == set(GJESDAL_CLASSES)
    assert (classes["8c"].students, classes["8c"].students_with_vedtak) == (1, 1)
    assert (classes["8c"].class_minutes, classes["8c"].student_minutes) == (120, 300)
    assert (classes["9a"].students, classes["9a"].students_with_vedtak) == (1, 0)
    [line] = overview.vedtak_lines
    assert (line.student_id, line.vedtak_id) == (kari, vedtak)
    assert line.granted_per_week == ASSISTANCE.per_week()
    assert (line.allocated_assistant, line.gap_assistant) == (300, 0)
    assert overview.school_wide_minutes["sfo"] == 90
    team = {m.member_id: m for m in overview.team}
    assert len(team) == 13
    assert team["gj-mt1"].coordinator
    assert (team["gj-mt3"].capacity, team["gj-mt3"].allocated) == (FULL_85, 120)
    assert (team["gj-as1"].allocated, team["gj-as1"].free) == (
        300,
        position_minutes_per_week(Decimal(60)) - 300,
    )

    ninth = store.overview(COORDINATOR, school=GJESDAL, trinn=9)
    assert [t.trinn for t in ninth.trinn_lines] == [9]
    spring = store.overview(COORDINATOR, school=GJESDAL, on=SPRING_START)
    assert spring.vedtak_lines[0].allocated_assistant == 0  # the assignment ended before

    refused(store, NotFound, lambda: store.overview(COORDINATOR, school="strinda"))
    refused(store, InvalidValue, lambda: store.overview(COORDINATOR, school=GJESDAL, trinn=14))


def test_catch_up_and_rebuild_views(store: Miljo, gjesdal: Gjesdal) -> None:
    store.catch_up()
    assert store.catch_up() == 0
    kari = register(store)
    assert store.catch_up() == 2  # the student's registration and the school's enrolment
    assert store.catch_up() == 0

    progress: list[tuple[int, int]] = []
    assert (
        store.rebuild_views(lambda done, total: progress.append((done, total)))
        == store.event_count()
    )
    assert progress[-1] == (store.event_count(), store.event_count())
    assert store.catch_up() == 0
    assert [e.event_type for e in store.history(AUDITOR, kari)] == [
        "Student.Registered",
        "School.StudentEnrolled",
    ]


# ---------------------------------------------------------------------------------------------
# Optimistic concurrency
# ---------------------------------------------------------------------------------------------


class InterleavingHasher:
    """A keyed hasher that lets another writer act while a command is between load and save.

    ``register_student`` loads the School, then hashes the number, then saves: running the
    other writer inside ``digest`` is a real interleaving of two processes on one store.
    """

    def __init__(self, other_writer: Callable[[int], object], *, times: int = 1) -> None:
        self.other_writer = other_writer
        self.times = times
        self.calls = 0

    def digest(self, purpose: str, value: str) -> str:
        self.calls += 1
        if self.calls <= self.times:
            self.other_writer(self.calls)
        return TestHasher().digest(purpose, value)


def two_facades(location: StoreLocation) -> tuple[Miljo, Miljo]:
    """Two facades (two processes, in effect) on one store, sharing its index key."""
    first = open_store(location, clock=FakeClock(), ids=SequentialIds(1), hasher=TestHasher())
    second = open_store(location, clock=FakeClock(), ids=SequentialIds(10_000), hasher=TestHasher())
    return first, second


# The stored events are counted in the table, and ``event_count()`` must agree: on PostgreSQL
# the newest notification id also counts the ids a conflicting, rolled-back insert drew from
# the sequence, so the facade counts rows there.


def test_a_conflicting_write_is_retried_transparently(store_location: StoreLocation) -> None:
    first, second = two_facades(store_location)
    try:
        build_gjesdal(first)
        others: list[UUID] = []
        hasher = InterleavingHasher(lambda _: others.append(register(second, OLA)))
        first.hasher = hasher
        before = stored_event_count(store_location)

        kari = register(first)

        assert hasher.calls == 2  # the first attempt conflicted, the second succeeded
        assert stored_event_count(store_location) == before + 4  # 2 + 2, none lost
        assert first.event_count() == second.event_count() == before + 4
        for facade in (first, second):
            assert sorted(facade.students_of(ADMIN, GJESDAL)) == sorted([kari, *others])
            assert facade.find_student(ADMIN, school=GJESDAL, student_number="1001") == kari
            assert facade.find_student(ADMIN, school=GJESDAL, student_number="1002") == others[0]
        assert first.school(ADMIN, GJESDAL).active_students == 2
    finally:
        first.close()
        second.close()


def test_a_conflicting_load_modify_on_the_team_is_retried(
    store_location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_facades(store_location)
    try:
        build_gjesdal(first)
        original_save = first.app.save
        saves: list[int] = []

        def save_after_the_other_writer(*aggregates: Any, **kwargs: Any) -> Any:
            saves.append(len(saves) + 1)
            if len(saves) == 1:
                second.add_member(
                    ADMIN,
                    school=GJESDAL,
                    member_id="gj-mt8",
                    profession="sosionom",
                    position_percent=50,
                )
            return original_save(*aggregates, **kwargs)

        monkeypatch.setattr(first.app, "save", save_after_the_other_writer)
        before = stored_event_count(store_location)
        first.add_member(
            ADMIN, school=GJESDAL, member_id="gj-as7", profession="assistent", position_percent=40
        )

        assert saves == [1, 2]
        assert stored_event_count(store_location) == before + 2
        members = [m.member_id for m in second.team(ADMIN, GJESDAL).members]
        assert members[-2:] == ["gj-mt8", "gj-as7"]
        assert len(members) == 15
    finally:
        first.close()
        second.close()


def test_concurrent_registration_of_one_number_keeps_it_unique(
    store_location: StoreLocation,
) -> None:
    first, second = two_facades(store_location)
    try:
        build_gjesdal(first)
        winner: list[UUID] = []
        first.hasher = InterleavingHasher(
            lambda _: winner.append(register(second, ("1001", "Ola Prøvesen")))
        )
        before = stored_event_count(store_location)

        with pytest.raises(AlreadyExists):
            register(first)

        assert stored_event_count(store_location) == before + 2  # only the other writer's student
        assert first.students_of(ADMIN, GJESDAL) == winner
        assert first.find_student(ADMIN, school=GJESDAL, student_number="1001") == winner[0]
    finally:
        first.close()
        second.close()


def test_conflict_without_retries_is_raised_and_writes_nothing(
    store_location: StoreLocation,
) -> None:
    first, second = two_facades(store_location)
    try:
        build_gjesdal(first)
        first.max_attempts = 1
        others: list[UUID] = []
        first.hasher = InterleavingHasher(lambda _: others.append(register(second, OLA)))
        before = stored_event_count(store_location)

        with pytest.raises(ConcurrencyConflict) as caught:
            register(first)

        assert caught.value.attempts == 1
        assert stored_event_count(store_location) == before + 2  # the other writer's student only
        assert first.students_of(ADMIN, GJESDAL) == others
        with pytest.raises(NotFound):
            first.find_student(ADMIN, school=GJESDAL, student_number="1001")
        # The would-be student (the facade's first fresh id) was not written either.
        with pytest.raises(NotFound):
            first.student_summary(ADMIN, SequentialIds(1).new_id())
    finally:
        first.close()
        second.close()


def test_conflict_on_every_attempt_is_raised_after_the_limit(
    store_location: StoreLocation,
) -> None:
    first, second = two_facades(store_location)
    try:
        build_gjesdal(first)
        numbers = iter(["2001", "2002", "2003", "2004", "2005", "2006"])
        hasher = InterleavingHasher(
            lambda _: register(second, (next(numbers), "Ola Prøvesen")), times=DEFAULT_MAX_ATTEMPTS
        )
        first.hasher = hasher
        before = stored_event_count(store_location)

        with pytest.raises(ConcurrencyConflict) as caught:
            register(first)

        assert first.max_attempts == DEFAULT_MAX_ATTEMPTS
        assert caught.value.attempts == DEFAULT_MAX_ATTEMPTS
        assert hasher.calls == DEFAULT_MAX_ATTEMPTS
        # the other writer's students only
        assert stored_event_count(store_location) == before + 2 * DEFAULT_MAX_ATTEMPTS
        assert len(first.students_of(ADMIN, GJESDAL)) == DEFAULT_MAX_ATTEMPTS
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_store_that_always_conflicts_raises_concurrency_conflict(
    store: Miljo, gjesdal: Gjesdal, monkeypatch: pytest.MonkeyPatch, max_attempts: int
) -> None:
    store.max_attempts = max_attempts
    saves: list[int] = []

    def conflicting_save(*aggregates: Any, **kwargs: Any) -> Any:
        saves.append(len(aggregates))
        raise IntegrityError("UNIQUE constraint failed: stored_events")

    monkeypatch.setattr(store.app, "save", conflicting_save)
    error = refused(store, ConcurrencyConflict, lambda: register(store))
    assert error.attempts == max_attempts
    assert len(saves) == max_attempts
    assert "register student" in str(error)
    monkeypatch.undo()
    assert store.students_of(ADMIN, GJESDAL) == []


# ---------------------------------------------------------------------------------------------
# Reopening a SQLite store
# ---------------------------------------------------------------------------------------------


#: The admin reads case content only by break-glass, with a stated reason.
BREAK_GLASS = "Kontroll av gjenopprettet lager"


def answers(miljo: Miljo, world: World) -> dict[str, object]:
    """Every query's answer about ``world`` except the access log (case reads add to it).
    The admin reads case content (the meeting naming the student, the case, the vedtak) only
    by break-glass, with a stated reason."""
    return {
        "school": miljo.school(ADMIN, GJESDAL),
        "students": miljo.students_of(ADMIN, GJESDAL),
        "found": miljo.find_student(ADMIN, school=GJESDAL, student_number="1001"),
        "summary": miljo.student_summary(ADMIN, world.student),
        "team_autumn": miljo.team(ADMIN, GJESDAL, on=TODAY),
        "team_spring": miljo.team(ADMIN, GJESDAL, on=SPRING_START),
        "meeting": miljo.meeting(ADMIN, world.meeting, reason=BREAK_GLASS),
        "case": miljo.student_case(ADMIN, world.student, reason=BREAK_GLASS),
        "vedtak": miljo.vedtak(ADMIN, world.vedtak, reason=BREAK_GLASS),
    }


def test_reopened_store_answers_identically(store_location: StoreLocation) -> None:
    with open_store(store_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        world = build_world(miljo)
        before = answers(miljo, world)
        events_at_close = miljo.event_count()
        log_at_close = miljo.access_log(AUDITOR, world.student)
    assert readers(log_at_close) == [
        ("p-admin", "admin", "meeting"),
        ("p-admin", "admin", "case"),
        ("p-admin", "admin", "vedtak"),
    ]
    assert [(e.reason, e.break_glass) for e in log_at_close] == [(BREAK_GLASS, True)] * 3

    with open_store(store_location, clock=FakeClock(), ids=SequentialIds(10_000)) as reopened:
        assert reopened.event_count() == events_at_close
        assert reopened.access_log(AUDITOR, world.student) == log_at_close
        assert answers(reopened, world) == before
        assert reopened.access_log(AUDITOR, world.student)[:3] == log_at_close
        assert len(reopened.access_log(AUDITOR, world.student)) == 6
        # The reopened store takes writes again.
        reopened.raise_concern(TEACHER, world.student, summary="Etter gjenåpning")
        assert len(reopened.student_case(REKTOR, world.student).concerns) == 2


# ---------------------------------------------------------------------------------------------
# Bootstrap errors
# ---------------------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def test_open_store_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"does not exist; create it with 'miljo store init'"):
        open_store(tmp_path / "miljo.sqlite")
    assert tree(tmp_path) == {}


def test_open_store_on_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "miljo.sqlite"
    path.write_bytes(b"\x00\xffthis is not a database\x13\x37" * 40)
    (tmp_path / "miljo.keys").mkdir()
    before = tree(tmp_path)
    with pytest.raises(
        StoreError, match=r"is not a miljo store \(not an SQLite database\)"
    ) as caught:
        open_store(path)
    assert str(path) in str(caught.value)
    assert tree(tmp_path) == before


def test_open_store_on_a_corrupt_sqlite_file(
    tmp_path: Path, sqlite_location: StoreLocation
) -> None:
    assert sqlite_location.keys_dir is not None
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 512)
    (tmp_path / "corrupt.keys").mkdir()
    key = (sqlite_location.keys_dir / "index.key").read_bytes()
    (tmp_path / "corrupt.keys" / "index.key").write_bytes(key)
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"cannot be opened"):
        open_store(path)
    assert tree(tmp_path) == before


def test_open_store_on_a_folder(tmp_path: Path) -> None:
    (tmp_path / "miljo.sqlite").mkdir()
    with pytest.raises(StoreError, match=r"cannot be read"):
        open_store(tmp_path / "miljo.sqlite")
    assert tree(tmp_path) == {"miljo.sqlite": None}


def test_open_store_with_the_keys_folder_missing(
    tmp_path: Path, sqlite_location: StoreLocation
) -> None:
    assert sqlite_location.keys_dir is not None
    for key_file in sqlite_location.keys_dir.iterdir():
        key_file.unlink()
    sqlite_location.keys_dir.rmdir()
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"key file .*index\.key is missing"):
        open_store(sqlite_location)
    assert tree(tmp_path) == before
    assert not sqlite_location.keys_dir.exists()


def test_open_store_with_a_malformed_key(tmp_path: Path, sqlite_location: StoreLocation) -> None:
    assert sqlite_location.keys_dir is not None
    (sqlite_location.keys_dir / "index.key").write_bytes(b"not base64!\n")
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"key file .*index\.key is malformed"):
        open_store(sqlite_location)
    assert tree(tmp_path) == before


def test_init_store_twice_overwrites_nothing(
    tmp_path: Path, sqlite_location: StoreLocation
) -> None:
    with open_store(sqlite_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"already exists; refusing to overwrite"):
        init_store(resolve_store(tmp_path / "miljo.sqlite"))
    assert tree(tmp_path) == before
    with open_store(sqlite_location, clock=FakeClock()) as miljo:
        assert miljo.school(ADMIN, GJESDAL).name == GJESDAL_NAME


def test_init_store_refuses_to_overwrite_existing_keys(
    tmp_path: Path, sqlite_location: StoreLocation
) -> None:
    """A store file lost but its keys kept: init must not replace the keys."""
    assert sqlite_location.db_path is not None
    sqlite_location.db_path.unlink()
    before = tree(tmp_path)
    with pytest.raises(StoreError, match=r"refusing to overwrite existing key file"):
        init_store(sqlite_location)
    assert tree(tmp_path) == before


def test_init_store_creates_an_empty_store_with_private_keys(tmp_path: Path) -> None:
    location = resolve_store(tmp_path / "sub" / "gjesdal.sqlite")
    created = init_store(location)
    assert location.keys_dir is not None
    names = ["index.key", "payload.key", "master.key", "sealing.key", "keyring.sqlite"]
    assert created == [location.keys_dir / name for name in names]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in created)
    assert location.keys_dir.stat().st_mode & 0o777 == 0o700
    with open_store(location) as miljo:
        assert miljo.event_count() == 0
    with pytest.raises(StoreError, match=r"in-memory store needs no initialisation"):
        init_store(resolve_store(":memory:"))
    # The store file, and the WAL and shared-memory files SQLite makes beside it, are
    # owner-only too (whatever the umask).
    assert location.db_path is not None
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        files = [location.db_path, *location.db_path.parent.glob("gjesdal.sqlite-*")]
        assert len(files) == 3  # the database, its -wal and its -shm
        assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)


def test_open_store_on_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "miljo.sqlite").write_bytes(b"")
    with pytest.raises(StoreError, match=r"not a miljo store"):
        open_store(tmp_path / "miljo.sqlite")
    assert tree(tmp_path) == {"miljo.sqlite": b""}


def test_open_store_on_an_sqlite_file_of_another_program(
    tmp_path: Path, sqlite_location: StoreLocation
) -> None:
    assert sqlite_location.db_path is not None
    other = sqlite_location.db_path.with_name("other.sqlite")
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (x)")
    assert sqlite_location.keys_dir is not None
    other.with_suffix(".keys").symlink_to(sqlite_location.keys_dir)  # keys present
    with pytest.raises(StoreError, match=r"tables are missing"):
        open_store(other)
    with sqlite3.connect(other) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert names == {"things"}


def test_not_found_names_the_school_code_not_an_internal_id(store: Miljo) -> None:
    with pytest.raises(NotFound, match=r"school not found: sandnes$"):
        store.school(ADMIN, "sandnes")
    with pytest.raises(NotFound, match=r"team of school not found: sandnes$"):
        store.team(ADMIN, "sandnes")


@pytest.mark.parametrize("percent", ["abc", "NaN", "0", "101", "85.555"])
def test_a_malformed_position_is_invalid_input(store: Miljo, percent: str) -> None:
    build_gjesdal(store)
    refused(
        store,
        InvalidValue,
        lambda: store.add_member(
            COORDINATOR,
            school="gjesdal",
            member_id="gj-new",
            profession="sosionom",
            position_percent=percent,
        ),
    )


@pytest.mark.parametrize("hours", ["x", "inf", "-1", "0.001"])
def test_malformed_hours_are_invalid_input(hours: str) -> None:
    with pytest.raises(InvalidValue):
        HoursByCompetence.from_hours(teacher=hours)


def test_team_view_shows_the_position_in_force_on_the_date(store: Miljo) -> None:
    build_gjesdal(store)
    store.change_position(
        COORDINATOR,
        school="gjesdal",
        member_id="gj-mt1",
        position_percent="100",
        effective_from=date(2025, 1, 1),
    )
    autumn = store.team(COORDINATOR, "gjesdal", on=date(2024, 9, 20))
    spring = store.team(COORDINATOR, "gjesdal", on=date(2025, 1, 6))
    [before] = [m for m in autumn.members if m.member_id == "gj-mt1"]
    [after] = [m for m in spring.members if m.member_id == "gj-mt1"]
    assert (before.position_percent, after.position_percent) == (Decimal("85"), Decimal("100"))


def test_overview_refuses_an_unknown_school_and_a_trinn_outside_the_school(
    store: Miljo, gjesdal: Gjesdal
) -> None:
    with pytest.raises(NotFound, match="school not found: sandnes"):
        store.overview(COORDINATOR, school="sandnes")
    with pytest.raises(InvalidValue, match="gjesdal has trinn 8-10"):
        store.overview(COORDINATOR, school="gjesdal", trinn=5)
    assert store.overview(COORDINATOR, school="gjesdal", trinn=9).trinn == 9
