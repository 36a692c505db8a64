"""Vedtak: given events, when command, then events or error.

Data: Gjesdal ungdomsskole (8-10 trinn), a student in 8c with a PPT tilråding.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from domain.base import MiljoAggregate
from domain.codec import register_value_types
from domain.errors import (
    AlreadyExists,
    AppealAlreadyOpen,
    AppealDeadlinePassed,
    DateInFuture,
    DeliveryAlreadyRecorded,
    DeliveryOutsidePeriod,
    DeviationReasonRequired,
    InvalidValue,
    NotAuthorisedToDecide,
    ReasonsRequired,
    UnknownEntry,
    VedtakStateError,
)
from domain.legal import LegalReferences
from domain.values import Actor, Competence, HoursByCompetence
from domain.vedtak import (
    VALUE_TYPES,
    AppealOutcome,
    AppealRecord,
    Vedtak,
    VedtakKind,
    VedtakStatus,
)
from tests.support import (
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    T0,
    THERAPIST,
    new_events,
    replay,
)

LEGAL = LegalReferences.default()
VEDTAK_ID = UUID("00000000-0000-4000-8000-0000000000a1")
STUDENT_ID = UUID("00000000-0000-4000-8000-0000000000b7")

ITO = VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION
ASSISTANCE = VedtakKind.PERSONAL_ASSISTANCE

OPENED_ON = date(2024, 8, 19)
RECOMMENDED_ON = date(2024, 8, 26)
DECIDED_ON = date(2024, 9, 2)
VALID_FROM = date(2024, 9, 2)  # a Monday
VALID_TO = date(2025, 6, 20)  # last school day before summer
NOTICE_DATE = date(2024, 9, 3)

# PPT's tilråding: 76 h special-ed teacher and 190 h miljøterapeut per year.
RECOMMENDED = HoursByCompetence.from_hours(special_ed_teacher=76, miljoterapeut=190)
LESS = HoursByCompetence.from_hours(special_ed_teacher=76, miljoterapeut=152)

# Invented personal free text: must never leak into summaries, repr or errors.
SECRET = "Tiril Testesen i 8c"


def at(days: int = 0) -> datetime:
    return T0 + timedelta(days=days)


def opened(kind: VedtakKind = ITO) -> Vedtak:
    vedtak = Vedtak.open(
        vedtak_id=VEDTAK_ID,
        student_id=STUDENT_ID,
        school_code="gjesdal",
        kind=kind.value,
        legal_reference=LEGAL.reference_for(kind),
        opened_on=OPENED_ON,
        actor=SPED_LEAD,
        at=at(),
    )
    new_events(vedtak)
    return vedtak


def recommended(kind: VedtakKind = ITO) -> Vedtak:
    vedtak = opened(kind)
    vedtak.record_recommendation(
        recommended_on=RECOMMENDED_ON,
        hours=RECOMMENDED,
        summary=f"Sakkyndig vurdering for {SECRET}",
        actor=SPED_LEAD,
        at=at(7),
    )
    new_events(vedtak)
    return vedtak


def decide(
    vedtak: Vedtak,
    *,
    hours: HoursByCompetence = RECOMMENDED,
    deviation_reason: str | None = None,
    reasons: str = f"Begrunnelse for {SECRET}",
    valid_from: date = VALID_FROM,
    valid_to: date = VALID_TO,
    decided_on: date = DECIDED_ON,
    actor: Actor = REKTOR,
) -> None:
    vedtak.decide(
        decided_on=decided_on,
        hours=hours,
        organisation=f"Organisering for {SECRET}",
        content=f"Innhold for {SECRET}",
        reasons=reasons,
        deviation_reason=deviation_reason,
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor,
        at=at(14),
    )


def decided(kind: VedtakKind = ITO) -> Vedtak:
    vedtak = recommended(kind)
    decide(vedtak)
    new_events(vedtak)
    return vedtak


def send_notice(vedtak: Vedtak, notice_date: date = NOTICE_DATE) -> None:
    vedtak.send_notice(
        notice_date=notice_date,
        appeal_body=LEGAL.appeal.body,
        deadline_days=LEGAL.appeal.deadline_days,
        actor=SPED_LEAD,
        at=at(15),
    )


def noticed() -> Vedtak:
    vedtak = decided()
    send_notice(vedtak)
    new_events(vedtak)
    return vedtak


def lodge(vedtak: Vedtak, lodged_on: date, late_reason: str | None = None) -> None:
    vedtak.lodge_appeal(
        lodged_on=lodged_on,
        grounds=f"Klage fra foreldre til {SECRET}",
        late_reason=late_reason,
        actor=SPED_LEAD,
        at=at(20),
    )


def amend(
    vedtak: Vedtak,
    *,
    amended_on: date = date(2024, 11, 4),
    hours: HoursByCompetence = RECOMMENDED,
    deviation_reason: str | None = None,
    valid_to: date = VALID_TO,
    actor: Actor = REKTOR,
) -> None:
    vedtak.amend(
        amended_on=amended_on,
        hours=hours,
        organisation=f"Ny organisering for {SECRET}",
        content=f"Nytt innhold for {SECRET}",
        reasons=f"Ny begrunnelse for {SECRET}",
        deviation_reason=deviation_reason,
        valid_to=valid_to,
        actor=actor,
        at=at(80),
    )


def deliver(vedtak: Vedtak, week_of: date, miljoterapeut: int = 300) -> None:
    vedtak.record_delivery(
        week_of=week_of,
        minutes=HoursByCompetence(miljoterapeut=miljoterapeut, special_ed_teacher=120),
        actor=THERAPIST,
        at=at(30),
    )


# ---------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------


def test_open_records_opened_event_with_subject_and_reference() -> None:
    vedtak = Vedtak.open(
        vedtak_id=VEDTAK_ID,
        student_id=STUDENT_ID,
        school_code="gjesdal",
        kind="individually_adapted_education",
        legal_reference=LEGAL.reference_for(ITO),
        opened_on=OPENED_ON,
        actor=SPED_LEAD,
        at=T0,
    )
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Opened)
    assert event.originator_id == VEDTAK_ID
    assert event.subject_id() == STUDENT_ID
    assert event.effective_time() == OPENED_ON
    assert (event.actor_id, event.actor_role, event.timestamp) == (
        "p-sped",
        "spesialpedagogisk_ansvarlig",
        T0,
    )
    assert vedtak.kind is ITO
    assert vedtak.status is VedtakStatus.OPENED
    assert vedtak.legal_reference == LEGAL.reference_for(ITO)
    assert vedtak.granted is None
    assert vedtak.recommendation is None
    assert not vedtak.is_in_force(VALID_FROM)


@pytest.mark.parametrize(
    ("kind", "school", "reference"),
    [
        ("adapted_education", "gjesdal", "ref"),
        ("individually_adapted_education", "Gjesdal", "ref"),
        ("individually_adapted_education", "gjesdal", " "),
    ],
)
def test_open_rejects_malformed_values(kind: str, school: str, reference: str) -> None:
    with pytest.raises(InvalidValue):
        Vedtak.open(
            vedtak_id=VEDTAK_ID,
            student_id=STUDENT_ID,
            school_code=school,
            kind=kind,
            legal_reference=reference,
            opened_on=OPENED_ON,
            actor=SPED_LEAD,
            at=T0,
        )


def test_open_rejects_naive_recorded_time() -> None:
    with pytest.raises(InvalidValue, match="recorded time"):
        Vedtak.open(
            vedtak_id=VEDTAK_ID,
            student_id=STUDENT_ID,
            school_code="gjesdal",
            kind=ASSISTANCE.value,
            legal_reference=LEGAL.reference_for(ASSISTANCE),
            opened_on=OPENED_ON,
            actor=SPED_LEAD,
            at=datetime(2024, 8, 19, 8, 0),
        )


# ---------------------------------------------------------------------------------------------
# Recommendation (PPT's tilråding)
# ---------------------------------------------------------------------------------------------


def test_recommendation_is_recorded_as_minutes_per_year() -> None:
    vedtak = opened()
    vedtak.record_recommendation(
        recommended_on=RECOMMENDED_ON,
        hours=RECOMMENDED,
        summary=SECRET,
        actor=SPED_LEAD,
        at=at(7),
    )
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.RecommendationReceived)
    assert event.hours == {
        "teacher": 0,
        "special_ed_teacher": 76 * 60,
        "miljoterapeut": 190 * 60,
        "assistant": 0,
    }
    assert event.summary_text == SECRET
    assert "summary_text" in event.PERSONAL_FIELDS
    assert vedtak.status is VedtakStatus.RECOMMENDED
    assert vedtak.recommendation == RECOMMENDED


def test_recommendation_rejects_empty_summary() -> None:
    vedtak = opened()
    with pytest.raises(InvalidValue):
        vedtak.record_recommendation(
            recommended_on=RECOMMENDED_ON, hours=RECOMMENDED, summary=" ", actor=SPED_LEAD, at=T0
        )
    assert new_events(vedtak) == []


def test_new_recommendation_after_decision_keeps_the_vedtak_decided() -> None:
    vedtak = decided()
    vedtak.record_recommendation(
        recommended_on=date(2025, 3, 3),
        hours=LESS,
        summary="Ny tilråding",
        actor=SPED_LEAD,
        at=at(200),
    )
    assert vedtak.status is VedtakStatus.DECIDED
    assert vedtak.recommendation == LESS
    assert vedtak.granted == RECOMMENDED


@pytest.mark.parametrize("end", ["revoked", "expired"])
def test_recommendation_refused_after_revocation_or_expiry(end: str) -> None:
    vedtak = decided()
    if end == "revoked":
        vedtak.revoke(
            revoked_on=date(2024, 12, 2), reasons="Behovet er borte", actor=REKTOR, at=at(110)
        )
    else:
        vedtak.record_expiry(on=VALID_TO, actor=SPED_LEAD, at=at(310))
    new_events(vedtak)
    with pytest.raises(VedtakStateError):
        vedtak.record_recommendation(
            recommended_on=date(2025, 8, 1),
            hours=LESS,
            summary="Sen tilråding",
            actor=SPED_LEAD,
            at=at(350),
        )
    assert new_events(vedtak) == []


# ---------------------------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------------------------


def test_rektor_decides_following_the_recommendation() -> None:
    vedtak = recommended()
    decide(vedtak)
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Decided)
    assert event.effective_time() == DECIDED_ON
    assert event.deviates is False
    assert event.deviation_reason is None
    assert {"organisation", "content", "reasons", "deviation_reason"} == event.PERSONAL_FIELDS
    assert vedtak.status is VedtakStatus.DECIDED
    assert vedtak.granted == RECOMMENDED
    assert (vedtak.valid_from, vedtak.valid_to) == (VALID_FROM, VALID_TO)


@pytest.mark.parametrize("actor", [INSPEKTOR, COORDINATOR, SPED_LEAD, THERAPIST, AUDITOR])
def test_only_the_rektor_may_decide(actor: Actor) -> None:
    vedtak = recommended()
    with pytest.raises(NotAuthorisedToDecide):
        decide(vedtak, actor=actor)
    assert new_events(vedtak) == []
    assert vedtak.status is VedtakStatus.RECOMMENDED


def test_individually_adapted_education_needs_a_recommendation_first() -> None:
    vedtak = opened(ITO)
    with pytest.raises(VedtakStateError, match="recommendation"):
        decide(vedtak)
    assert new_events(vedtak) == []


def test_personal_assistance_may_be_decided_without_a_recommendation() -> None:
    vedtak = opened(ASSISTANCE)
    decide(vedtak, hours=HoursByCompetence.from_hours(assistant=380))
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Decided)
    assert event.deviates is False


def test_deviation_from_the_recommendation_requires_a_reason() -> None:
    vedtak = recommended()
    with pytest.raises(DeviationReasonRequired, match="miljoterapeut") as caught:
        decide(vedtak, hours=LESS)
    assert new_events(vedtak) == []
    assert caught.value.context["competences"] == ["miljoterapeut"]
    decide(vedtak, hours=LESS, deviation_reason=f"Avvik for {SECRET}")
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Decided)
    assert event.deviates is True
    assert vedtak.deviates is True
    assert "deviates" in event.summary()


def test_blank_deviation_reason_counts_as_missing() -> None:
    vedtak = recommended()
    with pytest.raises(DeviationReasonRequired):
        decide(vedtak, hours=LESS, deviation_reason="  ")


def test_deviation_reason_without_a_deviation_is_refused() -> None:
    vedtak = recommended()
    with pytest.raises(InvalidValue, match="deviation reason"):
        decide(vedtak, deviation_reason="Vi avviker ikke")
    assert new_events(vedtak) == []


def test_deviation_reason_without_any_recommendation_is_refused() -> None:
    vedtak = opened(ASSISTANCE)
    with pytest.raises(InvalidValue, match="deviation reason"):
        decide(vedtak, hours=HoursByCompetence.from_hours(assistant=380), deviation_reason="Avvik")


def test_reasons_are_required() -> None:
    vedtak = recommended()
    with pytest.raises(ReasonsRequired):
        decide(vedtak, reasons=" \n")
    assert new_events(vedtak) == []


def test_validity_must_not_end_before_it_starts() -> None:
    vedtak = recommended()
    with pytest.raises(InvalidValue, match="validity period"):
        decide(vedtak, valid_from=VALID_TO, valid_to=VALID_FROM)
    decide(vedtak, valid_from=VALID_FROM, valid_to=VALID_FROM)  # a single day is allowed
    assert len(new_events(vedtak)) == 1


def test_decision_must_not_predate_the_opening_or_the_recommendation() -> None:
    vedtak = recommended()
    with pytest.raises(InvalidValue, match="opening"):
        decide(vedtak, decided_on=date(2024, 8, 1))
    with pytest.raises(InvalidValue, match="recommendation"):
        decide(vedtak, decided_on=date(2024, 8, 20))
    assert new_events(vedtak) == []


def test_deciding_twice_is_refused() -> None:
    vedtak = decided()
    with pytest.raises(VedtakStateError, match="amend"):
        decide(vedtak, decided_on=date(2024, 9, 9))
    assert new_events(vedtak) == []


def test_granted_hours_per_week() -> None:
    vedtak = decided()
    weekly = vedtak.weekly_granted()
    assert weekly == HoursByCompetence(
        special_ed_teacher=76 * 60 // 38, miljoterapeut=190 * 60 // 38
    )
    assert weekly is not None
    assert weekly.miljoterapeut == 300  # 5 hours a week over 38 school weeks
    assert vedtak.weekly_granted(weeks_per_year=40) == RECOMMENDED.per_week(40)
    with pytest.raises(InvalidValue):
        vedtak.weekly_granted(weeks_per_year=0)
    assert opened().weekly_granted() is None


# ---------------------------------------------------------------------------------------------
# Notice and appeal
# ---------------------------------------------------------------------------------------------


def test_notice_records_appeal_body_and_deadline() -> None:
    vedtak = decided()
    send_notice(vedtak)
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.NoticeSent)
    assert event.appeal_body == LEGAL.appeal.body
    assert event.deadline_days == LEGAL.appeal.deadline_days
    assert event.appeal_deadline == NOTICE_DATE + timedelta(days=LEGAL.appeal.deadline_days)
    assert event.appeal_deadline == LEGAL.appeal.deadline_for(NOTICE_DATE)
    assert vedtak.appeal_deadline == date(2024, 9, 24)  # three weeks after the notice


def test_notice_only_after_decision() -> None:
    vedtak = recommended()
    with pytest.raises(VedtakStateError):
        send_notice(vedtak)
    assert new_events(vedtak) == []


def test_notice_must_not_predate_the_decision_and_needs_a_positive_deadline() -> None:
    vedtak = decided()
    with pytest.raises(InvalidValue, match="notice date"):
        send_notice(vedtak, notice_date=date(2024, 8, 30))
    with pytest.raises(InvalidValue, match="deadline"):
        vedtak.send_notice(
            notice_date=NOTICE_DATE,
            appeal_body="Statsforvalteren",
            deadline_days=0,
            actor=REKTOR,
            at=T0,
        )
    assert new_events(vedtak) == []


def test_appeal_requires_a_notice() -> None:
    vedtak = decided()
    with pytest.raises(VedtakStateError, match="notice"):
        lodge(vedtak, date(2024, 9, 10))
    assert new_events(vedtak) == []


def test_appeal_on_the_deadline_is_in_time() -> None:
    vedtak = noticed()
    lodge(vedtak, date(2024, 9, 24))
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.AppealLodged)
    assert (event.appeal_number, event.late, event.late_reason) == (1, False, None)
    assert {"grounds", "late_reason"} == event.PERSONAL_FIELDS
    assert vedtak.appeal_open
    assert vedtak.open_appeal == AppealRecord(number=1, lodged_on=date(2024, 9, 24), late=False)


def test_late_appeal_needs_a_reason() -> None:
    vedtak = noticed()
    with pytest.raises(AppealDeadlinePassed, match="2024-09-24"):
        lodge(vedtak, date(2024, 9, 25))
    assert new_events(vedtak) == []
    lodge(vedtak, date(2024, 9, 25), late_reason=f"Brevet kom ikke fram til {SECRET}")
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.AppealLodged)
    assert event.late is True
    assert "after the deadline" in event.summary()


def test_late_reason_on_a_timely_appeal_is_refused() -> None:
    vedtak = noticed()
    with pytest.raises(InvalidValue, match="late reason"):
        lodge(vedtak, date(2024, 9, 10), late_reason="Unødvendig")
    assert new_events(vedtak) == []


def test_one_open_appeal_at_a_time() -> None:
    vedtak = noticed()
    lodge(vedtak, date(2024, 9, 10))
    with pytest.raises(AppealAlreadyOpen):
        lodge(vedtak, date(2024, 9, 11))
    vedtak.resolve_appeal(
        resolved_on=date(2024, 10, 15),
        outcome="upheld",
        note="Stadfestet",
        actor=SPED_LEAD,
        at=at(60),
    )
    assert not vedtak.appeal_open
    lodge(vedtak, date(2024, 10, 16), late_reason="Ny klage etter vedtak hos Statsforvalteren")
    events = new_events(vedtak)
    assert [type(e) for e in events] == [
        Vedtak.AppealLodged,
        Vedtak.AppealResolved,
        Vedtak.AppealLodged,
    ]
    last = events[-1]
    assert isinstance(last, Vedtak.AppealLodged)
    assert last.appeal_number == 2


def test_resolve_appeal_records_the_outcome() -> None:
    vedtak = noticed()
    lodge(vedtak, date(2024, 9, 10))
    new_events(vedtak)
    vedtak.resolve_appeal(
        resolved_on=date(2024, 10, 15), outcome="changed", note=SECRET, actor=SPED_LEAD, at=at(60)
    )
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.AppealResolved)
    assert (event.appeal_number, event.outcome) == (1, "changed")
    assert {"note"} == event.PERSONAL_FIELDS
    [appeal] = vedtak.appeals
    assert appeal.outcome is AppealOutcome.CHANGED
    assert appeal.resolved_on == date(2024, 10, 15)


def test_resolve_appeal_requires_an_open_appeal_and_a_known_outcome() -> None:
    vedtak = noticed()
    with pytest.raises(VedtakStateError, match="no open appeal"):
        vedtak.resolve_appeal(
            resolved_on=date(2024, 10, 1), outcome="upheld", note="", actor=REKTOR, at=T0
        )
    lodge(vedtak, date(2024, 9, 10))
    new_events(vedtak)
    with pytest.raises(InvalidValue, match="outcome"):
        vedtak.resolve_appeal(
            resolved_on=date(2024, 10, 1), outcome="won", note="", actor=REKTOR, at=T0
        )
    with pytest.raises(InvalidValue, match="resolved on"):
        vedtak.resolve_appeal(
            resolved_on=date(2024, 9, 9), outcome="upheld", note="", actor=REKTOR, at=T0
        )
    assert new_events(vedtak) == []


# ---------------------------------------------------------------------------------------------
# Amendment
# ---------------------------------------------------------------------------------------------


def test_amend_changes_hours_and_needs_a_new_notice() -> None:
    vedtak = noticed()
    amend(vedtak, hours=LESS, deviation_reason="Ny vurdering", valid_to=date(2025, 1, 31))
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Amended)
    assert event.effective_time() == date(2024, 11, 4)
    assert vedtak.granted == LESS
    assert vedtak.valid_to == date(2025, 1, 31)
    assert vedtak.amendments == 1
    assert vedtak.appeal_deadline is None
    with pytest.raises(VedtakStateError, match="notice"):
        lodge(vedtak, date(2024, 11, 5))
    send_notice(vedtak, notice_date=date(2024, 11, 5))
    assert vedtak.appeal_deadline == date(2024, 11, 26)


@pytest.mark.parametrize("actor", [INSPEKTOR, COORDINATOR])
def test_only_the_rektor_may_amend(actor: Actor) -> None:
    vedtak = decided()
    with pytest.raises(NotAuthorisedToDecide):
        amend(vedtak, actor=actor)
    assert new_events(vedtak) == []


def test_amend_follows_the_deviation_rules() -> None:
    vedtak = decided()
    with pytest.raises(DeviationReasonRequired):
        amend(vedtak, hours=LESS)
    with pytest.raises(InvalidValue, match="deviation reason"):
        amend(vedtak, deviation_reason="Ingen endring")
    assert new_events(vedtak) == []


def test_amend_only_a_decided_vedtak_in_force() -> None:
    with pytest.raises(VedtakStateError):
        amend(recommended())
    vedtak = decided()
    with pytest.raises(VedtakStateError, match="ended"):
        amend(vedtak, amended_on=date(2025, 6, 23), valid_to=date(2025, 12, 19))
    vedtak.revoke(revoked_on=date(2024, 12, 2), reasons="Flyttet", actor=REKTOR, at=at(110))
    new_events(vedtak)
    with pytest.raises(VedtakStateError, match="revoked"):
        amend(vedtak, amended_on=date(2024, 12, 9))
    assert new_events(vedtak) == []


def test_amended_validity_must_not_end_before_the_amendment_or_the_start() -> None:
    vedtak = decided()
    with pytest.raises(InvalidValue, match="valid to"):
        amend(vedtak, amended_on=date(2024, 11, 4), valid_to=date(2024, 11, 1))
    with pytest.raises(InvalidValue, match="amended on"):
        amend(vedtak, amended_on=date(2024, 8, 30))
    assert new_events(vedtak) == []


# ---------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------


def test_record_weekly_delivery_and_totals() -> None:
    vedtak = decided()
    deliver(vedtak, date(2024, 9, 2))
    deliver(vedtak, date(2024, 9, 9), miljoterapeut=240)
    events = new_events(vedtak)
    assert [type(e) for e in events] == [Vedtak.DeliveryRecorded, Vedtak.DeliveryRecorded]
    assert events[0].effective_time() == date(2024, 9, 2)
    assert vedtak.delivered_minutes(Competence.MILJOTERAPEUT) == 540
    assert vedtak.delivered_minutes("special_ed_teacher") == 240
    assert vedtak.delivered_minutes(Competence.TEACHER) == 0
    assert vedtak.delivered() == HoursByCompetence(miljoterapeut=540, special_ed_teacher=240)
    assert vedtak.delivery_weeks == [date(2024, 9, 2), date(2024, 9, 9)]
    assert vedtak.delivery_for(date(2024, 9, 9)) == HoursByCompetence(
        miljoterapeut=240, special_ed_teacher=120
    )
    with pytest.raises(InvalidValue):
        vedtak.delivered_minutes("nurse")


def test_delivery_week_must_be_a_monday() -> None:
    vedtak = decided()
    with pytest.raises(InvalidValue, match="Monday"):
        deliver(vedtak, date(2024, 9, 4))
    assert new_events(vedtak) == []


def test_delivery_week_must_lie_in_the_validity_period() -> None:
    vedtak = decided()
    with pytest.raises(DeliveryOutsidePeriod):
        deliver(vedtak, date(2024, 8, 26))  # the week before valid_from
    with pytest.raises(DeliveryOutsidePeriod):
        deliver(vedtak, date(2025, 6, 23))  # the week after valid_to
    assert new_events(vedtak) == []
    deliver(vedtak, date(2025, 6, 16))  # the last week
    assert len(new_events(vedtak)) == 1


def test_a_partial_first_week_counts() -> None:
    vedtak = recommended()
    decide(vedtak, valid_from=date(2024, 9, 4))  # a Wednesday
    new_events(vedtak)
    deliver(vedtak, date(2024, 9, 2))
    assert len(new_events(vedtak)) == 1


def test_delivery_requires_a_decision() -> None:
    vedtak = recommended()
    with pytest.raises(VedtakStateError):
        deliver(vedtak, date(2024, 9, 2))
    assert new_events(vedtak) == []


def test_delivery_after_revocation_only_for_weeks_in_force() -> None:
    vedtak = decided()
    vedtak.revoke(revoked_on=date(2024, 12, 4), reasons="Flyttet", actor=REKTOR, at=at(110))
    new_events(vedtak)
    deliver(vedtak, date(2024, 12, 2))  # late record of the last week in force
    with pytest.raises(DeliveryOutsidePeriod):
        deliver(vedtak, date(2024, 12, 9))
    assert len(new_events(vedtak)) == 1


def test_delivery_minutes_are_bounded_by_a_week() -> None:
    vedtak = decided()
    with pytest.raises(InvalidValue, match="10080"):
        vedtak.record_delivery(
            week_of=date(2024, 9, 2),
            minutes=HoursByCompetence(miljoterapeut=7000, assistant=4000),
            actor=THERAPIST,
            at=T0,
        )


def test_a_week_is_recorded_once_then_corrected() -> None:
    vedtak = decided()
    deliver(vedtak, date(2024, 9, 2))
    new_events(vedtak)
    with pytest.raises(DeliveryAlreadyRecorded):
        deliver(vedtak, date(2024, 9, 2), miljoterapeut=200)
    with pytest.raises(AlreadyExists):  # the family the CLI maps
        deliver(vedtak, date(2024, 9, 2), miljoterapeut=200)
    assert new_events(vedtak) == []
    vedtak.correct_delivery(
        week_of=date(2024, 9, 2),
        minutes=HoursByCompetence(miljoterapeut=200, special_ed_teacher=120),
        reason=f"Syk dag for {SECRET}",
        actor=COORDINATOR,
        at=at(35),
    )
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.DeliveryCorrected)
    assert {"reason"} == event.PERSONAL_FIELDS
    assert vedtak.delivered_minutes(Competence.MILJOTERAPEUT) == 200


def test_correction_needs_a_recorded_week_and_a_change() -> None:
    vedtak = decided()
    with pytest.raises(UnknownEntry):
        vedtak.correct_delivery(
            week_of=date(2024, 9, 2),
            minutes=HoursByCompetence(),
            reason="x",
            actor=COORDINATOR,
            at=T0,
        )
    deliver(vedtak, date(2024, 9, 2))
    new_events(vedtak)
    with pytest.raises(InvalidValue, match="change"):
        vedtak.correct_delivery(
            week_of=date(2024, 9, 2),
            minutes=HoursByCompetence(miljoterapeut=300, special_ed_teacher=120),
            reason="Samme",
            actor=COORDINATOR,
            at=T0,
        )
    with pytest.raises(InvalidValue, match="reason"):
        vedtak.correct_delivery(
            week_of=date(2024, 9, 2),
            minutes=HoursByCompetence(),
            reason=" ",
            actor=COORDINATOR,
            at=T0,
        )
    assert new_events(vedtak) == []


# ---------------------------------------------------------------------------------------------
# Revocation, expiry and being in force
# ---------------------------------------------------------------------------------------------


def test_in_force_within_the_validity_period() -> None:
    vedtak = decided()
    assert not vedtak.is_in_force(date(2024, 9, 1))
    assert vedtak.is_in_force(VALID_FROM)
    assert vedtak.is_in_force(VALID_TO)
    assert not vedtak.is_in_force(VALID_TO + timedelta(days=1))


def test_rektor_revokes_with_reasons() -> None:
    vedtak = decided()
    with pytest.raises(NotAuthorisedToDecide):
        vedtak.revoke(revoked_on=date(2024, 12, 2), reasons="Flyttet", actor=INSPEKTOR, at=at(110))
    with pytest.raises(ReasonsRequired):
        vedtak.revoke(revoked_on=date(2024, 12, 2), reasons="", actor=REKTOR, at=at(110))
    assert new_events(vedtak) == []
    vedtak.revoke(revoked_on=date(2024, 12, 2), reasons=SECRET, actor=REKTOR, at=at(110))
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Revoked)
    assert {"reasons"} == event.PERSONAL_FIELDS
    assert vedtak.status is VedtakStatus.REVOKED
    assert vedtak.is_in_force(date(2024, 12, 1))
    assert not vedtak.is_in_force(date(2024, 12, 2))
    assert vedtak.in_force_until == date(2024, 12, 1)
    with pytest.raises(VedtakStateError):
        vedtak.revoke(revoked_on=date(2024, 12, 3), reasons="Igjen", actor=REKTOR, at=at(111))


def test_revoke_requires_a_decision_not_yet_ended() -> None:
    with pytest.raises(VedtakStateError):
        recommended().revoke(revoked_on=date(2024, 9, 2), reasons="x", actor=REKTOR, at=T0)
    vedtak = decided()
    with pytest.raises(VedtakStateError, match="expiry"):
        vedtak.revoke(revoked_on=date(2025, 6, 23), reasons="x", actor=REKTOR, at=T0)
    assert new_events(vedtak) == []


def test_expiry_only_on_or_after_valid_to() -> None:
    vedtak = decided()
    with pytest.raises(VedtakStateError, match="not expired"):
        vedtak.record_expiry(on=date(2025, 6, 19), actor=SPED_LEAD, at=at(300))
    assert new_events(vedtak) == []
    vedtak.record_expiry(on=VALID_TO, actor=SPED_LEAD, at=at(305))
    [event] = new_events(vedtak)
    assert isinstance(event, Vedtak.Expired)
    assert vedtak.status is VedtakStatus.EXPIRED
    assert vedtak.is_in_force(VALID_TO)  # history stays true
    with pytest.raises(VedtakStateError):
        vedtak.record_expiry(on=date(2025, 6, 23), actor=SPED_LEAD, at=at(306))


def test_expiry_is_not_recorded_ahead_of_time() -> None:
    vedtak = decided()
    with pytest.raises(DateInFuture):
        vedtak.record_expiry(on=VALID_TO, actor=SPED_LEAD, at=at(300))
    assert new_events(vedtak) == []


def test_expiry_requires_a_decision() -> None:
    with pytest.raises(VedtakStateError):
        opened().record_expiry(on=VALID_TO, actor=SPED_LEAD, at=T0)


# ---------------------------------------------------------------------------------------------
# Event schema, privacy, replay and snapshots
# ---------------------------------------------------------------------------------------------


def full_history() -> list[MiljoAggregate.Event]:
    vedtak = Vedtak.open(
        vedtak_id=VEDTAK_ID,
        student_id=STUDENT_ID,
        school_code="gjesdal",
        kind=ITO.value,
        legal_reference=LEGAL.reference_for(ITO),
        opened_on=OPENED_ON,
        actor=SPED_LEAD,
        at=at(),
    )
    vedtak.record_recommendation(
        recommended_on=RECOMMENDED_ON, hours=RECOMMENDED, summary=SECRET, actor=SPED_LEAD, at=at(7)
    )
    decide(vedtak, hours=LESS, deviation_reason=SECRET)
    send_notice(vedtak)
    lodge(vedtak, date(2024, 9, 10))
    vedtak.resolve_appeal(
        resolved_on=date(2024, 10, 15),
        outcome="overturned",
        note=SECRET,
        actor=SPED_LEAD,
        at=at(60),
    )
    amend(vedtak)
    deliver(vedtak, date(2024, 11, 4))
    vedtak.correct_delivery(
        week_of=date(2024, 11, 4),
        minutes=HoursByCompetence(),
        reason=SECRET,
        actor=COORDINATOR,
        at=at(90),
    )
    vedtak.revoke(revoked_on=date(2025, 1, 6), reasons=SECRET, actor=REKTOR, at=at(140))
    events = new_events(vedtak)
    replayed = replay(events)
    assert replayed == vedtak
    return events


def test_replay_rebuilds_equal_state() -> None:
    events = full_history()
    assert len(events) == 10
    vedtak = replay(events)
    assert isinstance(vedtak, Vedtak)
    assert vedtak.status is VedtakStatus.REVOKED
    assert vedtak.appeals == [
        AppealRecord(
            number=1,
            lodged_on=date(2024, 9, 10),
            late=False,
            resolved_on=date(2024, 10, 15),
            outcome=AppealOutcome.OVERTURNED,
        )
    ]


_WIRE_SCALARS = (str, int, bool, UUID, date, Decimal, type(None))


def _is_wire(value: Any) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is not None
    if isinstance(value, list):
        return all(_is_wire(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_wire(v) for k, v in value.items())
    if isinstance(value, tuple):
        return False
    return type(value) in _WIRE_SCALARS or (
        isinstance(value, _WIRE_SCALARS) and not hasattr(type(value), "__members__")
    )


def test_every_event_has_topic_subject_wire_fields_and_a_safe_summary() -> None:
    events = full_history()
    for event in events:
        cls = type(event)
        assert f"miljo:Vedtak.{cls.__name__}" == cls.TOPIC  # type: ignore[attr-defined]
        assert cls.class_version == 1  # type: ignore[attr-defined]
        assert cls.SUBJECT_FIELD == "student_id"
        assert event.subject_id() == STUDENT_ID
        for name, value in vars(event).items():
            assert _is_wire(value), f"{cls.__name__}.{name} is not a wire type"
            if name in cls.PERSONAL_FIELDS or value is None:
                continue
            assert SECRET not in str(value), f"{cls.__name__}.{name} holds personal text"
        assert SECRET not in event.summary()
        assert "Tiril" not in event.summary()
    assert Vedtak.TOPIC == "miljo:Vedtak"
    assert Vedtak.Created.TOPIC == "miljo:Vedtak.Created"


def test_personal_text_stays_out_of_state_repr_and_errors() -> None:
    vedtak = replay(full_history())
    assert SECRET not in repr(vedtak)
    assert SECRET not in repr(vars(vedtak))
    assert str(VEDTAK_ID) in repr(vedtak)
    with pytest.raises(VedtakStateError) as caught:
        vedtak.revoke(revoked_on=date(2025, 1, 7), reasons=SECRET, actor=REKTOR, at=at(150))
    assert SECRET not in str(caught.value)


def test_snapshot_state_survives_json() -> None:
    vedtak = replay(full_history())
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    transcoder.register(DecimalAsStr())
    register_value_types(transcoder, VALUE_TYPES)
    snapshot = Snapshot.take(vedtak)
    state = transcoder.decode(transcoder.encode(snapshot.state))
    restored = Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state=state,
    ).mutate(None)
    assert restored == vedtak
    assert isinstance(restored, Vedtak)
    assert restored.appeals[0].outcome is AppealOutcome.OVERTURNED


def test_appeal_record_reconstructs_from_its_fields() -> None:
    record = AppealRecord(
        number=2, lodged_on=date(2024, 9, 10), late=True, resolved_on=None, outcome="dismissed"
    )
    assert record.outcome is AppealOutcome.DISMISSED
    assert AppealRecord(**attrs.asdict(record, recurse=False)) == record
    assert (AppealRecord,) == VALUE_TYPES


# ---------------------------------------------------------------------------------------------
# Legal references as data
# ---------------------------------------------------------------------------------------------


def _packaged_json() -> dict[str, Any]:
    text = files("domain").joinpath("data/legal_references.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_default_legal_references_come_from_the_data_file() -> None:
    data = _packaged_json()
    for kind in VedtakKind:
        assert LEGAL.reference_for(kind) == data["kinds"][kind.value]["reference"]
        assert LEGAL.reference_for(kind.value) == LEGAL.reference_for(kind)
    assert LEGAL.is_verified(ITO)
    assert not LEGAL.is_verified(VedtakKind.PHYSICAL_ADAPTATION)
    assert LEGAL.unverified() == ["physical_adaptation"]
    assert LEGAL.appeal.deadline_days == 21
    assert LEGAL.appeal.body == "Statsforvalteren"
    assert LEGAL.appeal.deadline_for(date(2024, 9, 3)) == date(2024, 9, 24)
    assert LEGAL.reasons.reference == data["reasons"]["reference"]


def test_a_deployment_can_override_the_references() -> None:
    data = _packaged_json()
    data["kinds"]["physical_adaptation"] = {"reference": "testlova kapittel 9", "verified": True}
    data["appeal"]["deadline_days"] = 28
    data["appeal"]["body"] = "Klagenemnda"
    custom = LegalReferences.from_mapping(data)
    assert custom.reference_for("physical_adaptation") == "testlova kapittel 9"
    assert custom.unverified() == []
    assert (custom.appeal.deadline_days, custom.appeal.body) == (28, "Klagenemnda")
    assert LegalReferences.from_json(json.dumps(data)) == custom
    assert LegalReferences.default() == LEGAL  # the packaged default is untouched


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["kinds"].pop("personal_assistance"),
        lambda d: d["kinds"].update({"speech_therapy": {"reference": "x", "verified": True}}),
        lambda d: d["kinds"]["personal_assistance"].update({"verified": "yes"}),
        lambda d: d["kinds"]["personal_assistance"].update({"reference": ""}),
        lambda d: d["appeal"].update({"deadline_days": 0}),
        lambda d: d["appeal"].update({"deadline_days": True}),
        lambda d: d["appeal"].update({"body": " "}),
        lambda d: d.pop("reasons"),
    ],
)
def test_malformed_references_are_refused(mutate: Any) -> None:
    data = _packaged_json()
    mutate(data)
    with pytest.raises(InvalidValue):
        LegalReferences.from_mapping(data)


def test_unknown_kind_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidValue, match="vedtak kind"):
        LEGAL.reference_for("speech_therapy")
    with pytest.raises(InvalidValue, match="JSON"):
        LegalReferences.from_json("{not json")


def test_no_section_numbers_in_python_code() -> None:
    domain_dir = Path(__file__).resolve().parents[2] / "domain"
    for name in ("vedtak.py", "legal.py"):
        assert "§" not in (domain_dir / name).read_text(encoding="utf-8")
