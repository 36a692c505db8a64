"""Student: given events, when command, then events or error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from uuid import UUID

import attrs
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from domain.base import MiljoAggregate
from domain.codec import register_value_types
from domain.errors import (
    AlreadyExists,
    ClassUnchanged,
    ConsentAlreadyWithdrawn,
    ConsentGiverNotEligible,
    CorrectionOfCorrection,
    DateInFuture,
    EvaluationDateInPast,
    InvalidStatusTransition,
    InvalidValue,
    ObservationInFuture,
    PlanClosed,
    StudentNotActive,
    UnknownEntry,
)
from domain.student import (
    VALUE_TYPES,
    ConsentGiver,
    ConsentScopeKind,
    DepartureKind,
    ReferralStatus,
    Student,
)
from domain.values import Arena, ExternalBody, MeetingKind, ObservationCategory, Role
from tests.support import COORDINATOR, SPED_LEAD, T0, TEACHER, THERAPIST, new_events, replay

D0 = T0.date()  # 2024-08-19
STUDENT_ID = UUID("00000000-0000-4000-8000-0000000000a1")
NAME = "Ola Testesen"  # invented
NUMBER = "GJ-2024-0815"
OBS_TEXT = "Satt alene i friminuttet, ville ikke bli med i fotballen."
VOICE = "Jeg liker ikke å være ute når de andre er der."


def uid(n: int) -> UUID:
    return UUID(int=(0x4000 << 64) | (0x8 << 60) | n)


def registered(*, school: str = "gjesdal", trinn: int = 8, class_name: str = "8c") -> Student:
    student = Student.register(
        student_id=STUDENT_ID,
        school_code=school,
        student_number=NUMBER,
        name=NAME,
        trinn=trinn,
        class_name=class_name,
        registered_on=D0,
        actor=COORDINATOR,
        at=T0,
    )
    new_events(student)
    return student


def observe(
    student: Student,
    observation_id: UUID,
    *,
    observed_at: datetime = T0 - timedelta(hours=1),
    at: datetime = T0,
    categories: list[str] | None = None,
    arena: str = "break",
    text: str = OBS_TEXT,
) -> None:
    student.record_observation(
        observation_id=observation_id,
        arena=arena,
        categories=["social", "wellbeing"] if categories is None else categories,
        text=text,
        observed_at=observed_at,
        student_voice=VOICE,
        actor=THERAPIST,
        at=at,
    )


def correct(
    student: Student,
    correction_id: UUID,
    corrects: UUID,
    *,
    text: str = "Satt alene i friminuttet, ble senere med i fotballen.",
    at: datetime = T0 + timedelta(hours=2),
) -> None:
    student.correct_observation(
        correction_id=correction_id,
        corrects=corrects,
        arena="break",
        categories=["social"],
        text=text,
        observed_at=T0 - timedelta(hours=1),
        student_voice=None,
        reason="Feil i første notat.",
        actor=TEACHER,
        at=at,
    )


def consent(
    student: Student,
    consent_id: UUID,
    *,
    giver: str = "guardian",
    scope_kind: str = "body",
    scope: str = "barnevern",
    valid_from: date = D0,
    valid_to: date | None = date(2025, 6, 20),
) -> None:
    student.record_consent(
        consent_id=consent_id,
        giver=giver,
        scope_kind=scope_kind,
        scope=scope,
        valid_from=valid_from,
        valid_to=valid_to,
        note="Mor samtykker muntlig i telefon.",
        actor=COORDINATOR,
        at=T0,
    )


def refer(student: Student, referral_id: UUID, body: str = "ppt") -> None:
    student.make_referral(
        referral_id=referral_id,
        body=body,
        reason="Vansker med lesing og konsentrasjon.",
        made_on=D0,
        actor=SPED_LEAD,
        at=T0,
    )


def create_plan(
    student: Student, plan_id: UUID, *, evaluation_date: date = D0 + timedelta(days=21)
) -> None:
    student.create_aktivitetsplan(
        plan_id=plan_id,
        problem="Utestengt fra lek i friminutt.",
        measures=["Voksen ute i alle friminutt", "Samtale med klassen"],
        when="Fra uke 35",
        responsible="p-mt1",
        evaluation_date=evaluation_date,
        actor=COORDINATOR,
        at=T0,
    )


# -- registration ------------------------------------------------------------------------------


def test_register_records_event_with_subject_personal_and_effective_fields() -> None:
    student = Student.register(
        student_id=STUDENT_ID,
        school_code="gjesdal",
        student_number=NUMBER,
        name=NAME,
        trinn=8,
        class_name="8c",
        registered_on=D0,
        actor=COORDINATOR,
        at=T0,
    )
    [event] = new_events(student)
    assert isinstance(event, Student.Registered)
    assert event.subject_id() == STUDENT_ID
    assert {"student_number", "name"} == event.PERSONAL_FIELDS
    assert event.effective_time() == D0
    assert (event.actor_id, event.actor_role, event.timestamp) == (
        "p-coord",
        "miljokoordinator",
        T0,
    )
    assert (student.school_code, student.trinn, student.class_name) == ("gjesdal", 8, "8c")
    assert student.is_active
    assert NAME not in repr(student)
    assert NUMBER not in repr(student)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("student_number", ""),
        ("student_number", "GJ 2024"),
        ("student_number", "X" * 21),
        ("name", "  "),
        ("trinn", 14),
        ("class_name", ""),
        ("school_code", "Gjesdal"),
        ("registered_on", T0),
    ],
)
def test_register_rejects_bad_values(field: str, value: object) -> None:
    args: dict[str, Any] = {
        "student_id": STUDENT_ID,
        "school_code": "gjesdal",
        "student_number": NUMBER,
        "name": NAME,
        "trinn": 8,
        "class_name": "8c",
        "registered_on": D0,
    }
    args[field] = value
    with pytest.raises(InvalidValue) as info:
        Student.register(**args, actor=COORDINATOR, at=T0)
    assert NAME not in str(info.value)


def test_register_requires_aware_recorded_time() -> None:
    with pytest.raises(InvalidValue):
        Student.register(
            student_id=STUDENT_ID,
            school_code="gjesdal",
            student_number=NUMBER,
            name=NAME,
            trinn=8,
            class_name="8c",
            registered_on=D0,
            actor=COORDINATOR,
            at=T0.replace(tzinfo=None),
        )


# -- class changes and departure -----------------------------------------------------------------


def test_change_class_records_placement_history() -> None:
    student = registered()
    student.change_class(
        trinn=8, class_name="8d", effective_from=date(2024, 10, 1), actor=COORDINATOR, at=T0
    )
    [event] = new_events(student)
    assert isinstance(event, Student.ClassChanged)
    assert event.effective_time() == date(2024, 10, 1)
    assert (student.trinn, student.class_name) == (8, "8d")
    before = student.placement_on(date(2024, 9, 30))
    after = student.placement_on(date(2024, 10, 1))
    assert before is not None
    assert after is not None
    assert before.class_name == "8c"
    assert after.class_name == "8d"
    assert student.placement_on(date(2024, 8, 1)) is None


def test_change_to_same_class_is_refused() -> None:
    student = registered()
    with pytest.raises(ClassUnchanged):
        student.change_class(
            trinn=8, class_name="8c", effective_from=date(2024, 10, 1), actor=COORDINATOR, at=T0
        )
    assert new_events(student) == []
    # Same class name in another trinn is a change (promotion keeps letters at some schools).
    student.change_class(
        trinn=9, class_name="8c", effective_from=date(2025, 8, 18), actor=COORDINATOR, at=T0
    )
    assert len(new_events(student)) == 1


def test_change_class_before_current_placement_is_refused() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="class change date"):
        student.change_class(
            trinn=8,
            class_name="8d",
            effective_from=D0 - timedelta(days=1),
            actor=COORDINATOR,
            at=T0,
        )
    assert new_events(student) == []


def test_departure_left_and_transferred() -> None:
    student = registered()
    student.record_departure(kind="left", on=D0, to_school=None, actor=COORDINATOR, at=T0)
    [event] = new_events(student)
    assert isinstance(event, Student.Departed)
    assert event.effective_time() == D0
    assert not student.is_active
    assert student.departure is not None
    assert student.departure.kind is DepartureKind.LEFT

    other = registered()
    other.record_departure(
        kind="transferred", on=D0, to_school="sandnes-us", actor=COORDINATOR, at=T0
    )
    assert other.departure is not None
    assert other.departure.to_school == "sandnes-us"


@pytest.mark.parametrize(
    ("kind", "to_school", "what"),
    [
        ("transferred", None, "receiving school"),
        ("left", "sandnes-us", "receiving school"),
        ("transferred", "gjesdal", "receiving school"),
        ("transferred", "Sandnes", "school code"),
        ("expelled", None, "departure kind"),
    ],
)
def test_departure_target_school_iff_transfer(kind: str, to_school: str | None, what: str) -> None:
    student = registered()
    with pytest.raises(InvalidValue, match=what):
        student.record_departure(kind=kind, on=D0, to_school=to_school, actor=COORDINATOR, at=T0)
    assert new_events(student) == []
    assert student.is_active


def test_departure_in_future_is_refused() -> None:
    student = registered()
    with pytest.raises(DateInFuture):
        student.record_departure(
            kind="left", on=D0 + timedelta(days=1), to_school=None, actor=COORDINATOR, at=T0
        )
    assert new_events(student) == []


def test_departure_before_registration_is_refused() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="departure date"):
        student.record_departure(
            kind="left", on=D0 - timedelta(days=1), to_school=None, actor=COORDINATOR, at=T0
        )


def _all_commands() -> list[Callable[[Student], None]]:
    later = T0 + timedelta(days=1)
    return [
        lambda s: s.change_class(
            trinn=8, class_name="8d", effective_from=D0, actor=COORDINATOR, at=later
        ),
        lambda s: s.record_departure(
            kind="left", on=D0, to_school=None, actor=COORDINATOR, at=later
        ),
        lambda s: observe(s, uid(90), at=later),
        lambda s: correct(s, uid(91), uid(10), at=later),
        lambda s: s.raise_concern(concern_id=uid(92), summary="Bekymring", actor=TEACHER, at=later),
        lambda s: s.record_concern_discussed(
            concern_id=uid(20), meeting_id=uid(93), actor=COORDINATOR, at=later
        ),
        lambda s: consent(s, uid(94)),
        lambda s: s.withdraw_consent(
            consent_id=uid(30), withdrawn_on=D0, actor=COORDINATOR, at=later
        ),
        lambda s: refer(s, uid(95)),
        lambda s: s.change_referral_status(
            referral_id=uid(40), status="acknowledged", on=D0, actor=SPED_LEAD, at=later
        ),
        lambda s: create_plan(s, uid(96)),
        lambda s: s.evaluate_aktivitetsplan(
            plan_id=uid(50),
            evaluated_on=D0,
            assessment="Bedre",
            next_evaluation_date=None,
            actor=COORDINATOR,
            at=later,
        ),
        lambda s: s.close_aktivitetsplan(
            plan_id=uid(50), closed_on=D0, reason="Løst", actor=COORDINATOR, at=later
        ),
    ]


@pytest.mark.parametrize("command", _all_commands())
def test_every_command_after_departure_is_refused(command: Callable[[Student], None]) -> None:
    student = registered()
    observe(student, uid(10))
    student.raise_concern(concern_id=uid(20), summary="Bekymring", actor=TEACHER, at=T0)
    consent(student, uid(30))
    refer(student, uid(40))
    create_plan(student, uid(50))
    new_events(student)
    # The same command succeeds while the student is active ...
    probe = registered()
    observe(probe, uid(10))
    probe.raise_concern(concern_id=uid(20), summary="Bekymring", actor=TEACHER, at=T0)
    consent(probe, uid(30))
    refer(probe, uid(40))
    create_plan(probe, uid(50))
    new_events(probe)
    command(probe)
    assert len(new_events(probe)) == 1
    # ... and is refused once the student has departed.
    student.record_departure(kind="left", on=D0, to_school=None, actor=COORDINATOR, at=T0)
    new_events(student)
    with pytest.raises(StudentNotActive):
        command(student)
    assert new_events(student) == []


# -- observations ------------------------------------------------------------------------------


def test_record_observation() -> None:
    student = registered()
    observed = T0 - timedelta(hours=1)
    observe(student, uid(10), observed_at=observed)
    [event] = new_events(student)
    assert isinstance(event, Student.ObservationRecorded)
    assert {"text", "student_voice"} == event.PERSONAL_FIELDS
    assert event.effective_time() == observed
    assert event.categories == ["social", "wellbeing"]
    assert event.arena == "break"
    [view] = student.current_observations()
    assert view.observation_id == uid(10)
    assert view.arena is Arena.BREAK
    assert view.categories == [ObservationCategory.SOCIAL, ObservationCategory.WELLBEING]
    assert (view.observed_at, view.recorded_at) == (observed, T0)
    assert (view.author_id, view.author_role) == ("p-mt1", Role.MILJOTERAPEUT)
    assert view.student_voice == VOICE
    assert not view.corrected
    assert OBS_TEXT not in repr(view)


def test_observation_may_be_recorded_at_the_instant_it_happened_but_not_before() -> None:
    student = registered()
    observe(student, uid(10), observed_at=T0, at=T0)
    assert len(new_events(student)) == 1
    with pytest.raises(ObservationInFuture):
        observe(student, uid(11), observed_at=T0 + timedelta(seconds=1), at=T0)
    assert new_events(student) == []


def test_observation_time_must_be_aware() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="observed time"):
        observe(student, uid(10), observed_at=datetime(2024, 8, 19, 7, 0))


@pytest.mark.parametrize(
    ("arena", "categories"),
    [
        ("break", []),
        ("break", ["social", "social"]),
        ("break", ["gossip"]),
        ("bus", ["social"]),
    ],
)
def test_observation_vocabularies(arena: str, categories: list[str]) -> None:
    student = registered()
    with pytest.raises(InvalidValue):
        observe(student, uid(10), arena=arena, categories=categories)
    assert new_events(student) == []


def test_observation_text_is_required() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="observation text"):
        observe(student, uid(10), text=" ")


def test_observation_id_is_unique() -> None:
    student = registered()
    observe(student, uid(10))
    with pytest.raises(AlreadyExists):
        observe(student, uid(10))


def test_correction_points_at_original_and_latest_supersedes() -> None:
    student = registered()
    observe(student, uid(10))
    observe(student, uid(11), observed_at=T0 - timedelta(days=1), categories=["absence"])
    new_events(student)
    correct(student, uid(12), uid(10), text="Første rettelse.")
    correct(student, uid(13), uid(10), text="Andre rettelse.", at=T0 + timedelta(hours=3))
    first, second = new_events(student)
    assert isinstance(first, Student.ObservationCorrected)
    assert isinstance(second, Student.ObservationCorrected)
    assert (first.corrects, second.corrects) == (uid(10), uid(10))
    assert {"text", "student_voice", "reason"} <= first.PERSONAL_FIELDS
    views = student.current_observations()
    assert [v.observation_id for v in views] == [uid(11), uid(10)]  # ordered by observed time
    view = views[1]
    assert view.corrected
    assert view.version_id == uid(13)
    assert view.text == "Andre rettelse."
    assert view.correction_ids == [uid(12), uid(13)]
    assert (view.author_id, view.first_author_id) == ("p-teach", "p-mt1")
    assert (view.first_recorded_at, view.recorded_at) == (T0, T0 + timedelta(hours=3))
    assert view.correction_reason == "Feil i første notat."
    assert views[0].text == OBS_TEXT
    assert [e.entry_id for e in student.observation_history(uid(10))] == [uid(10), uid(12), uid(13)]


def test_correction_of_unknown_observation_is_refused() -> None:
    student = registered()
    with pytest.raises(UnknownEntry):
        correct(student, uid(12), uid(10))
    assert new_events(student) == []


def test_correcting_a_correction_is_refused() -> None:
    student = registered()
    observe(student, uid(10))
    correct(student, uid(12), uid(10))
    new_events(student)
    with pytest.raises(CorrectionOfCorrection):
        correct(student, uid(13), uid(12))
    assert new_events(student) == []


def test_correction_observed_in_future_is_refused() -> None:
    student = registered()
    observe(student, uid(10))
    new_events(student)
    with pytest.raises(ObservationInFuture):
        student.correct_observation(
            correction_id=uid(12),
            corrects=uid(10),
            arena="break",
            categories=["social"],
            text="Rettet.",
            observed_at=T0 + timedelta(days=1),
            student_voice=None,
            reason="Feil tid.",
            actor=TEACHER,
            at=T0,
        )


# -- concerns ----------------------------------------------------------------------------------


def test_concern_raised_and_discussed() -> None:
    student = registered()
    student.raise_concern(concern_id=uid(20), summary="Trekker seg unna", actor=TEACHER, at=T0)
    student.raise_concern(concern_id=uid(21), summary="Mye fravær", actor=TEACHER, at=T0)
    raised, _ = new_events(student)
    assert isinstance(raised, Student.ConcernRaised)
    assert {"text"} == raised.PERSONAL_FIELDS
    assert [c.concern_id for c in student.open_concerns()] == [uid(20), uid(21)]
    student.record_concern_discussed(
        concern_id=uid(20), meeting_id=uid(70), actor=COORDINATOR, at=T0
    )
    [discussed] = new_events(student)
    assert isinstance(discussed, Student.ConcernDiscussed)
    assert [c.concern_id for c in student.open_concerns()] == [uid(21)]
    assert student.concerns()[0].discussed_in == [uid(70)]
    assert student.concerns()[0].raised_by_role is Role.LAERER


def test_discussing_unknown_concern_or_twice_in_one_meeting_is_refused() -> None:
    student = registered()
    with pytest.raises(UnknownEntry):
        student.record_concern_discussed(
            concern_id=uid(20), meeting_id=uid(70), actor=COORDINATOR, at=T0
        )
    student.raise_concern(concern_id=uid(20), summary="Trekker seg unna", actor=TEACHER, at=T0)
    student.record_concern_discussed(
        concern_id=uid(20), meeting_id=uid(70), actor=COORDINATOR, at=T0
    )
    new_events(student)
    with pytest.raises(AlreadyExists):
        student.record_concern_discussed(
            concern_id=uid(20), meeting_id=uid(70), actor=COORDINATOR, at=T0
        )
    with pytest.raises(AlreadyExists):
        student.raise_concern(concern_id=uid(20), summary="Igjen", actor=TEACHER, at=T0)
    assert new_events(student) == []


# -- consents ----------------------------------------------------------------------------------


def test_guardian_consent_recorded() -> None:
    student = registered()
    consent(student, uid(30))
    [event] = new_events(student)
    assert isinstance(event, Student.ConsentRecorded)
    assert {"note"} == event.PERSONAL_FIELDS
    assert event.effective_time() == D0
    [view] = student.consents()
    assert view.giver is ConsentGiver.GUARDIAN
    assert view.scope_kind is ConsentScopeKind.BODY
    assert view.scope == "barnevern"
    assert "Mor" not in repr(view)


def test_student_may_consent_only_from_vg1() -> None:
    lower = registered(school="gjesdal", trinn=10, class_name="10a")
    with pytest.raises(ConsentGiverNotEligible):
        consent(lower, uid(30), giver="student")
    assert new_events(lower) == []

    vg1 = registered(school="strinda", trinn=11, class_name="STO")
    consent(vg1, uid(30), giver="student", scope="psykisk_helse")
    [event] = new_events(vg1)
    assert isinstance(event, Student.ConsentRecorded)
    assert event.giver == "student"


@pytest.mark.parametrize(
    ("giver", "scope_kind", "scope", "valid_from", "valid_to"),
    [
        ("neighbour", "body", "ppt", D0, None),
        ("guardian", "school", "ppt", D0, None),
        ("guardian", "body", "arbeidslag", D0, None),
        ("guardian", "meeting_kind", "ppt", D0, None),
        ("guardian", "body", "ppt", D0, D0 - timedelta(days=1)),
    ],
)
def test_consent_values(
    giver: str, scope_kind: str, scope: str, valid_from: date, valid_to: date | None
) -> None:
    student = registered()
    with pytest.raises(InvalidValue):
        consent(
            student,
            uid(30),
            giver=giver,
            scope_kind=scope_kind,
            scope=scope,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    assert new_events(student) == []


def test_consent_id_is_unique() -> None:
    student = registered()
    consent(student, uid(30))
    with pytest.raises(AlreadyExists):
        consent(student, uid(30))


def test_withdraw_consent_once() -> None:
    student = registered()
    with pytest.raises(UnknownEntry):
        student.withdraw_consent(consent_id=uid(30), withdrawn_on=D0, actor=COORDINATOR, at=T0)
    consent(student, uid(30))
    new_events(student)
    with pytest.raises(DateInFuture):
        student.withdraw_consent(
            consent_id=uid(30), withdrawn_on=D0 + timedelta(days=1), actor=COORDINATOR, at=T0
        )
    student.withdraw_consent(consent_id=uid(30), withdrawn_on=D0, actor=COORDINATOR, at=T0)
    [event] = new_events(student)
    assert isinstance(event, Student.ConsentWithdrawn)
    assert event.effective_time() == D0
    with pytest.raises(ConsentAlreadyWithdrawn):
        student.withdraw_consent(consent_id=uid(30), withdrawn_on=D0, actor=COORDINATOR, at=T0)
    assert new_events(student) == []


def test_consent_covers_body_or_meeting_kind_within_period_until_withdrawn() -> None:
    student = registered()
    consent(student, uid(30), scope="barnevern", valid_from=date(2024, 9, 1), valid_to=None)
    consent(
        student,
        uid(31),
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=D0,
        valid_to=date(2024, 12, 20),
    )
    arbeidslag, ressursteam = MeetingKind.ARBEIDSLAG, MeetingKind.RESSURSTEAM
    barnevern, bup = ExternalBody.BARNEVERN, ExternalBody.BUP

    def covers(body: ExternalBody, kind: MeetingKind, on: date) -> bool:
        return student.consent_covers(body=body, meeting_kind=kind, on=on)

    assert not covers(barnevern, ressursteam, date(2024, 8, 31))  # before valid_from
    assert covers(barnevern, ressursteam, date(2024, 9, 1))
    assert covers(bup, arbeidslag, date(2024, 12, 20))  # last valid day
    assert not covers(bup, arbeidslag, date(2024, 12, 21))
    assert not covers(bup, ressursteam, date(2024, 10, 1))  # neither scope
    later = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
    student.withdraw_consent(
        consent_id=uid(30), withdrawn_on=date(2024, 10, 1), actor=COORDINATOR, at=later
    )
    assert covers(barnevern, ressursteam, date(2024, 9, 30))
    assert not covers(barnevern, ressursteam, date(2024, 10, 1))


# -- referrals ---------------------------------------------------------------------------------


def test_referral_made_as_sent() -> None:
    student = registered()
    refer(student, uid(40), body="ppt")
    [event] = new_events(student)
    assert isinstance(event, Student.ReferralMade)
    assert {"reason"} == event.PERSONAL_FIELDS
    [referral] = student.pending_referrals()
    assert referral.status is ReferralStatus.SENT
    assert referral.body is ExternalBody.PPT


@pytest.mark.parametrize("body", ["dps", "slt", "skolen"])
def test_referral_body_must_be_a_referral_service(body: str) -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="referral body"):
        refer(student, uid(40), body=body)
    assert new_events(student) == []


def test_referral_in_future_is_refused() -> None:
    student = registered()
    with pytest.raises(DateInFuture):
        student.make_referral(
            referral_id=uid(40),
            body="bup",
            reason="Angst",
            made_on=D0 + timedelta(days=1),
            actor=SPED_LEAD,
            at=T0,
        )


@pytest.mark.parametrize(
    "path",
    [
        ["acknowledged", "accepted", "closed"],
        ["acknowledged", "rejected"],
        ["acknowledged", "withdrawn"],
        ["rejected"],
        ["withdrawn"],
    ],
)
def test_allowed_referral_transitions(path: list[str]) -> None:
    student = registered()
    refer(student, uid(40))
    for status in path:
        student.change_referral_status(
            referral_id=uid(40), status=status, on=D0, actor=SPED_LEAD, at=T0
        )
    events = new_events(student)
    assert [e.status for e in events[1:] if isinstance(e, Student.ReferralStatusChanged)] == path
    assert student.referrals()[0].status == ReferralStatus(path[-1])
    pending = path[-1] in ("acknowledged", "accepted")
    assert bool(student.pending_referrals()) is pending


@pytest.mark.parametrize(
    "path",
    [
        ["accepted"],
        ["closed"],
        ["sent"],
        ["acknowledged", "acknowledged"],
        ["acknowledged", "closed"],
        ["acknowledged", "accepted", "withdrawn"],
        ["rejected", "acknowledged"],
        ["withdrawn", "acknowledged"],
        ["acknowledged", "accepted", "closed", "accepted"],
    ],
)
def test_refused_referral_transitions(path: list[str]) -> None:
    student = registered()
    refer(student, uid(40))
    for status in path[:-1]:
        student.change_referral_status(
            referral_id=uid(40), status=status, on=D0, actor=SPED_LEAD, at=T0
        )
    new_events(student)
    with pytest.raises(InvalidStatusTransition):
        student.change_referral_status(
            referral_id=uid(40), status=path[-1], on=D0, actor=SPED_LEAD, at=T0
        )
    assert new_events(student) == []


def test_referral_status_needs_known_referral_and_known_status() -> None:
    student = registered()
    with pytest.raises(UnknownEntry):
        student.change_referral_status(
            referral_id=uid(40), status="acknowledged", on=D0, actor=SPED_LEAD, at=T0
        )
    refer(student, uid(40))
    with pytest.raises(InvalidValue):
        student.change_referral_status(
            referral_id=uid(40), status="lost", on=D0, actor=SPED_LEAD, at=T0
        )
    with pytest.raises(InvalidValue, match="status date"):
        student.change_referral_status(
            referral_id=uid(40),
            status="acknowledged",
            on=D0 - timedelta(days=1),
            actor=SPED_LEAD,
            at=T0,
        )


# -- aktivitetsplan ----------------------------------------------------------------------------


def test_create_aktivitetsplan_with_five_fields() -> None:
    student = registered()
    create_plan(student, uid(50))
    [event] = new_events(student)
    assert isinstance(event, Student.AktivitetsplanCreated)
    assert {"problem", "measures", "when"} == event.PERSONAL_FIELDS
    assert event.measures == ["Voksen ute i alle friminutt", "Samtale med klassen"]
    plan = student.plan(uid(50))
    assert plan.responsible == "p-mt1"
    assert plan.evaluation_date == D0 + timedelta(days=21)
    assert plan.is_open
    assert "Utestengt" not in repr(plan)


def test_aktivitetsplan_needs_measures_and_a_person_id() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="measures"):
        student.create_aktivitetsplan(
            plan_id=uid(50),
            problem="Utestengt",
            measures=[],
            when="Uke 35",
            responsible="p-mt1",
            evaluation_date=D0,
            actor=COORDINATOR,
            at=T0,
        )
    with pytest.raises(InvalidValue, match="person id"):
        student.create_aktivitetsplan(
            plan_id=uid(50),
            problem="Utestengt",
            measures=["Voksen ute"],
            when="Uke 35",
            responsible="Kari Lærer",
            evaluation_date=D0,
            actor=COORDINATOR,
            at=T0,
        )
    assert new_events(student) == []


def test_evaluation_date_not_before_creation_day() -> None:
    student = registered()
    with pytest.raises(EvaluationDateInPast):
        create_plan(student, uid(50), evaluation_date=D0 - timedelta(days=1))
    assert new_events(student) == []
    create_plan(student, uid(50), evaluation_date=D0)
    assert len(new_events(student)) == 1


def test_evaluate_and_close_aktivitetsplan() -> None:
    student = registered()
    create_plan(student, uid(50), evaluation_date=D0)
    new_events(student)
    assert [p.plan_id for p in student.plans_due(D0)] == [uid(50)]
    student.evaluate_aktivitetsplan(
        plan_id=uid(50),
        evaluated_on=D0,
        assessment="Noe bedre, fortsetter tiltakene.",
        next_evaluation_date=D0 + timedelta(days=14),
        actor=COORDINATOR,
        at=T0,
    )
    [evaluated] = new_events(student)
    assert isinstance(evaluated, Student.AktivitetsplanEvaluated)
    assert {"assessment"} == evaluated.PERSONAL_FIELDS
    assert student.plans_due(D0) == []
    assert [p.plan_id for p in student.plans_due(D0 + timedelta(days=14))] == [uid(50)]
    assert [e.evaluated_on for e in student.evaluations_of(uid(50))] == [D0]
    student.close_aktivitetsplan(
        plan_id=uid(50), closed_on=D0, reason="Situasjonen er løst.", actor=COORDINATOR, at=T0
    )
    [closed] = new_events(student)
    assert isinstance(closed, Student.AktivitetsplanClosed)
    assert student.plans_due(D0 + timedelta(days=14)) == []
    assert not student.plan(uid(50)).is_open


def test_next_evaluation_must_follow_the_evaluation() -> None:
    student = registered()
    create_plan(student, uid(50))
    new_events(student)
    for next_date in (D0, D0 - timedelta(days=3)):
        with pytest.raises(EvaluationDateInPast):
            student.evaluate_aktivitetsplan(
                plan_id=uid(50),
                evaluated_on=D0,
                assessment="Uendret",
                next_evaluation_date=next_date,
                actor=COORDINATOR,
                at=T0,
            )
    with pytest.raises(DateInFuture):
        student.evaluate_aktivitetsplan(
            plan_id=uid(50),
            evaluated_on=D0 + timedelta(days=1),
            assessment="Uendret",
            next_evaluation_date=None,
            actor=COORDINATOR,
            at=T0,
        )
    assert new_events(student) == []


def test_closed_plan_refuses_evaluation_and_closing() -> None:
    student = registered()
    create_plan(student, uid(50))
    student.close_aktivitetsplan(
        plan_id=uid(50), closed_on=D0, reason="Flyttet til ny klasse.", actor=COORDINATOR, at=T0
    )
    new_events(student)
    with pytest.raises(PlanClosed):
        student.evaluate_aktivitetsplan(
            plan_id=uid(50),
            evaluated_on=D0,
            assessment="Etter lukking",
            next_evaluation_date=None,
            actor=COORDINATOR,
            at=T0,
        )
    with pytest.raises(PlanClosed):
        student.close_aktivitetsplan(
            plan_id=uid(50), closed_on=D0, reason="Igjen", actor=COORDINATOR, at=T0
        )
    with pytest.raises(UnknownEntry):
        student.close_aktivitetsplan(
            plan_id=uid(51), closed_on=D0, reason="Ukjent", actor=COORDINATOR, at=T0
        )
    assert new_events(student) == []


# -- whole-stream properties -------------------------------------------------------------------


def full_history() -> Student:
    """A Gjesdal 8c student's history exercising every event type."""
    student = Student.register(
        student_id=STUDENT_ID,
        school_code="gjesdal",
        student_number=NUMBER,
        name=NAME,
        trinn=8,
        class_name="8c",
        registered_on=D0,
        actor=COORDINATOR,
        at=T0,
    )
    observe(student, uid(10))
    correct(student, uid(12), uid(10))
    student.raise_concern(concern_id=uid(20), summary="Trekker seg unna", actor=TEACHER, at=T0)
    student.record_concern_discussed(
        concern_id=uid(20), meeting_id=uid(70), actor=COORDINATOR, at=T0
    )
    consent(student, uid(30))
    student.withdraw_consent(consent_id=uid(30), withdrawn_on=D0, actor=COORDINATOR, at=T0)
    refer(student, uid(40))
    student.change_referral_status(
        referral_id=uid(40), status="acknowledged", on=D0, actor=SPED_LEAD, at=T0
    )
    create_plan(student, uid(50))
    student.evaluate_aktivitetsplan(
        plan_id=uid(50),
        evaluated_on=D0,
        assessment="Bedre",
        next_evaluation_date=D0 + timedelta(days=7),
        actor=COORDINATOR,
        at=T0,
    )
    student.close_aktivitetsplan(
        plan_id=uid(50), closed_on=D0, reason="Løst", actor=COORDINATOR, at=T0
    )
    student.change_class(
        trinn=8, class_name="8d", effective_from=D0 + timedelta(days=1), actor=COORDINATOR, at=T0
    )
    student.record_departure(
        kind="transferred", on=D0, to_school="sandnes-us", actor=COORDINATOR, at=T0
    )
    return student


def test_replay_rebuilds_equal_state() -> None:
    student = full_history()
    events = new_events(student)
    assert len(events) == 14
    assert replay(events) == student


_WIRE = (str, int, bool, UUID, datetime, date, Decimal, type(None))


def _is_wire(value: object) -> bool:
    if isinstance(value, list):
        return all(_is_wire(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_wire(v) for k, v in value.items())
    if isinstance(value, datetime):
        return value.tzinfo is not None
    return isinstance(value, _WIRE) and not isinstance(value, Enum)


def test_events_carry_wire_types_topics_and_non_personal_summaries() -> None:
    events = new_events(full_history())
    personal = {NAME, NUMBER, OBS_TEXT, VOICE, "Trekker seg unna", "Mor samtykker"}
    for event in events:
        assert isinstance(event, MiljoAggregate.Event)
        assert getattr(type(event), "TOPIC", "").startswith("miljo:Student.")
        assert event.subject_id() == STUDENT_ID
        for key, value in vars(event).items():
            assert _is_wire(value), key
            assert type(value).__module__ not in ("enum", "domain.student"), key
        for field in event.PERSONAL_FIELDS:
            assert hasattr(event, field)
        text = event.summary()
        assert "\n" not in text
        assert text != type(event).__name__
        for secret in personal:
            assert secret not in text


def test_state_survives_a_value_type_round_trip() -> None:
    student = full_history()
    new_events(student)
    state = vars(student)
    found: set[type] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif attrs.has(type(value)):
            assert type(value) in VALUE_TYPES
            found.add(type(value))
            fields = attrs.asdict(cast(attrs.AttrsInstance, value), recurse=False)
            assert type(value)(**fields) == value
            for field_value in fields.values():
                assert not isinstance(field_value, tuple)
        else:
            assert _is_wire(value)

    walk(state)
    assert found == set(VALUE_TYPES)


def test_errors_never_echo_personal_data() -> None:
    student = registered()
    observe(student, uid(10))
    with pytest.raises(ObservationInFuture) as info:
        observe(student, uid(11), observed_at=T0 + timedelta(days=1))
    assert OBS_TEXT not in str(info.value)
    assert NAME not in str(info.value)


def test_student_voice_is_optional_but_not_blank() -> None:
    student = registered()
    with pytest.raises(InvalidValue, match="student voice"):
        student.record_observation(
            observation_id=uid(10),
            arena="classroom",
            categories=["learning"],
            text="Ga opp oppgaven etter fem minutter.",
            observed_at=T0,
            student_voice=" ",
            actor=TEACHER,
            at=T0,
        )
    student.record_observation(
        observation_id=uid(10),
        arena="classroom",
        categories=["learning"],
        text="Ga opp oppgaven etter fem minutter.",
        observed_at=T0,
        student_voice=None,
        actor=TEACHER,
        at=T0,
    )
    [view] = student.current_observations()
    assert view.student_voice is None


@pytest.mark.parametrize(
    "repeat",
    [
        lambda s: correct(s, uid(10), uid(10)),  # a correction may not reuse an entry id
        lambda s: refer(s, uid(40)),
        lambda s: create_plan(s, uid(50)),
    ],
)
def test_sub_entry_ids_are_unique(repeat: Callable[[Student], None]) -> None:
    student = registered()
    observe(student, uid(10))
    refer(student, uid(40))
    create_plan(student, uid(50))
    new_events(student)
    with pytest.raises(AlreadyExists):
        repeat(student)
    assert new_events(student) == []


def test_closing_date_in_future_is_refused() -> None:
    student = registered()
    create_plan(student, uid(50))
    new_events(student)
    with pytest.raises(DateInFuture):
        student.close_aktivitetsplan(
            plan_id=uid(50),
            closed_on=D0 + timedelta(days=1),
            reason="Løst",
            actor=COORDINATOR,
            at=T0,
        )
    assert new_events(student) == []


def test_snapshot_round_trip_through_the_json_transcoder() -> None:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr()):
        transcoder.register(transcoding)
    register_value_types(transcoder, VALUE_TYPES)
    student = full_history()
    new_events(student)
    snapshot = Snapshot.take(student)
    restored = Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state=transcoder.decode(transcoder.encode(snapshot.state)),
    ).mutate(None)
    assert isinstance(restored, Student)
    assert restored == student
    assert restored.current_observations() == student.current_observations()
