"""A student's auditable history, as-of reads and the history export.

* ``Miljo.history``: every event about the student from every stream (student, school,
  vedtak, team, meetings, case file), in store order, never another student's events and never
  the access log; each read is itself logged.
* ``Miljo._aggregate_as_of`` / ``student_case_as_of``: the state as recorded at an instant,
  compared with a replay of the stored events up to that instant (also through snapshots).
* ``Miljo.export_history`` + ``tools/replay_export.py``: the JSON Lines export rebuilds the
  same case, vedtak and assignments the facade reports, with no miljo code (stdlib only).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import SNAPSHOT_INTERVALS
from domain.base import MiljoAggregate
from domain.casefile import AccessLog, CaseFile, case_file_id
from domain.errors import InvalidValue, NotFound
from domain.facade import Miljo, StudentCase
from domain.meeting import Meeting
from domain.school import School, school_id
from domain.student import Student
from domain.team import Team, team_id
from domain.values import HoursByCompetence
from domain.vedtak import Vedtak
from tests.integration.conftest import STORE_KINDS, opened_store_of_kind
from tests.support import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    THERAPIST,
    FakeClock,
    replay,
)

ROOT: Final = Path(__file__).resolve().parents[2]
TOOL: Final = ROOT / "tools" / "replay_export.py"
DOC: Final = ROOT / "docs" / "history-export.md"
GJ: Final = "gjesdal"
T0: Final = datetime(2024, 8, 19, 8, 0, tzinfo=UTC)
#: Observations recorded at the end so the student's stream passes two snapshot intervals.
EXTRA_OBSERVATIONS: Final = 100

AGGREGATES: Final = (School, Student, Vedtak, Team, Meeting, CaseFile, AccessLog)
NO_ID: Final = UUID(int=0)  # until the scenario sets it


@attrs.define
class Case:
    """The scenario: student X (the subject), student Y (someone else) and their streams."""

    miljo: Miljo
    clock: FakeClock
    x: UUID = NO_ID
    y: UUID = NO_ID
    vedtak: UUID = NO_ID
    y_vedtak: UUID = NO_ID
    meeting: UUID = NO_ID
    first_assignment: UUID = NO_ID
    rotated_assignment: UUID = NO_ID
    observation: UUID = NO_ID
    consent_kept: UUID = NO_ID
    consent_withdrawn: UUID = NO_ID
    class_changed_at: datetime = T0
    #: (stream, event type) of every event about X, in the order the commands ran
    expected: list[tuple[UUID, str]] = attrs.Factory(list)

    def about_x(self, stream: UUID, *types: str) -> None:
        self.expected.extend((stream, t) for t in types)


def build(miljo: Miljo, clock: FakeClock) -> Case:  # one long, linear scenario
    c = Case(miljo, clock)
    m = miljo
    school, team = school_id(GJ), team_id(GJ)
    m.register_school(ADMIN, code=GJ, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10)
    for trinn, name in ((8, "8a"), (8, "8b"), (9, "9a")):
        m.add_class(ADMIN, school=GJ, trinn=trinn, class_name=name)
    m.form_team(ADMIN, school=GJ, name="Miljøteamet")
    for member, profession, percent in (
        ("gj-mt1", "vernepleier", "100"),
        ("gj-mt2", "sosionom", "85"),
        ("gj-as1", "assistent", "50"),
    ):
        m.add_member(
            ADMIN,
            school=GJ,
            member_id=member,
            profession=profession,
            position_percent=percent,
            joined_on=date(2024, 8, 1),
        )
    c.x = m.register_student(
        ADMIN,
        school=GJ,
        student_number="GJ-4711",
        name="Synnøve Prøvelid",
        trinn=8,
        class_name="8a",
    )
    c.about_x(c.x, "Student.Registered")
    c.about_x(school, "School.StudentEnrolled")
    c.y = m.register_student(
        ADMIN, school=GJ, student_number="GJ-4712", name="Ørjan Testvik", trinn=8, class_name="8b"
    )
    # -- the student's own records ---------------------------------------------------------------
    clock.advance(minutes=10)
    c.observation = m.record_observation(
        THERAPIST,
        c.x,
        arena="break",
        categories=["conflict"],
        text="Dyttet en medelev",
        observed_at=datetime(2024, 8, 19, 7, 30, tzinfo=UTC),
        student_voice="Han begynte",
    )
    c.about_x(c.x, "Student.ObservationRecorded")
    m.record_observation(THERAPIST, c.y, arena="sfo", categories=["social"], text="Alene")
    clock.advance(minutes=10)
    m.correct_observation(
        THERAPIST,
        c.x,
        corrects=c.observation,
        arena="classroom",
        categories=["conflict", "social"],
        text="Dyttet en medelev i klasserommet",
        observed_at=datetime(2024, 8, 19, 7, 35, tzinfo=UTC),
        reason="Feil sted",
    )
    c.about_x(c.x, "Student.ObservationCorrected")
    clock.advance(minutes=10)
    concern = m.raise_concern(TEACHER, c.x, summary="Uro over tid")
    c.consent_withdrawn = m.record_consent(
        COORDINATOR,
        c.x,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=date(2024, 8, 19),
        note="Mor samtykker",
    )
    c.consent_kept = m.record_consent(
        COORDINATOR,
        c.x,
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 30),
    )
    referral = m.make_referral(COORDINATOR, c.x, body="ppt", reason="Utredning")
    m.change_referral_status(COORDINATOR, c.x, referral_id=referral, status="acknowledged")
    plan = m.create_aktivitetsplan(
        COORDINATOR,
        c.x,
        problem="Krenkelser i friminuttet",
        measures=["Voksen ute", "Samtaler"],
        when="Fra i dag",
        responsible="gj-mt1",
        evaluation_date=date(2024, 9, 2),
    )
    c.about_x(
        c.x,
        "Student.ConcernRaised",
        "Student.ConsentRecorded",
        "Student.ConsentRecorded",
        "Student.ReferralMade",
        "Student.ReferralStatusChanged",
        "Student.AktivitetsplanCreated",
    )
    # -- vedtak and team ---------------------------------------------------------------------
    clock.advance(minutes=10)
    c.vedtak = m.open_vedtak(SPED_LEAD, c.x, kind="individually_adapted_education")
    case = case_file_id(c.x)
    c.about_x(c.vedtak, "Vedtak.Opened")
    c.about_x(case, "CaseFile.Opened", "CaseFile.StreamLinked")
    hours = HoursByCompetence(miljoterapeut=22800)  # 380 h
    m.record_recommendation(
        SPED_LEAD, c.vedtak, recommended_on=date(2024, 8, 19), hours=hours, summary="Tilråding"
    )
    m.decide_vedtak(
        REKTOR,
        c.vedtak,
        hours=hours,
        organisation="I klassen",
        content="Miljøterapeut",
        reasons="Sakkyndig vurdering",
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 20),
        decided_on=date(2024, 8, 19),
    )
    m.send_vedtak_notice(INSPEKTOR, c.vedtak, notice_date=date(2024, 8, 19))
    c.about_x(c.vedtak, "Vedtak.RecommendationReceived", "Vedtak.Decided", "Vedtak.NoticeSent")
    c.first_assignment = m.assign(
        COORDINATOR,
        school=GJ,
        member_id="gj-mt1",
        target_kind="student",
        minutes_per_week=300,
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 20),
        student_id=c.x,
        vedtak_id=c.vedtak,
    )
    c.about_x(team, "Team.AssignmentMade")
    c.about_x(case, "CaseFile.StreamLinked")
    # Y's vedtak and assignment: never in X's history
    c.y_vedtak = m.open_vedtak(SPED_LEAD, c.y, kind="personal_assistance")
    m.decide_vedtak(
        REKTOR,
        c.y_vedtak,
        hours=HoursByCompetence(assistant=7600),
        organisation="Følge",
        content="Assistent",
        reasons="Behov",
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 20),
    )
    m.assign(
        COORDINATOR,
        school=GJ,
        member_id="gj-as1",
        target_kind="student",
        minutes_per_week=200,
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 20),
        student_id=c.y,
        vedtak_id=c.y_vedtak,
    )
    m.assign(
        COORDINATOR,
        school=GJ,
        member_id="gj-mt2",
        target_kind="class",
        minutes_per_week=120,
        valid_from=date(2024, 8, 19),
        trinn=8,
        class_name="8a",
    )
    # -- a week later: deliveries, a ressursteam ---------------------------------------------
    clock.advance(days=7)
    m.record_delivery(
        COORDINATOR,
        c.vedtak,
        week_of=date(2024, 8, 19),
        minutes=HoursByCompetence(miljoterapeut=280),
    )
    m.correct_delivery(
        COORDINATOR,
        c.vedtak,
        week_of=date(2024, 8, 19),
        minutes=HoursByCompetence(miljoterapeut=300),
        reason="Feil registrert",
    )
    c.about_x(c.vedtak, "Vedtak.DeliveryRecorded", "Vedtak.DeliveryCorrected")
    c.meeting = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=clock.now()
    )
    m.add_participant(
        COORDINATOR, c.meeting, person_id="p-sped", role="spesialpedagogisk_ansvarlig"
    )
    item = m.add_agenda_item(
        SPED_LEAD,
        c.meeting,
        subject_kind="student",
        title="Sak",
        student_id=c.x,
        concern_id=concern,
    )
    c.about_x(c.meeting, "Meeting.AgendaItemAdded")
    c.about_x(case, "CaseFile.StreamLinked")
    y_item = m.add_agenda_item(
        SPED_LEAD, c.meeting, subject_kind="student", title="Annen sak", student_id=c.y
    )
    m.add_agenda_item(SPED_LEAD, c.meeting, subject_kind="student", title="Anonym", anonymous=True)
    m.record_note(SPED_LEAD, c.meeting, item_id=item, text="Drøftet")
    m.record_note(SPED_LEAD, c.meeting, item_id=y_item, text="Drøftet")
    decision = m.record_decision(
        SPED_LEAD,
        c.meeting,
        item_id=item,
        outcome="measure",
        text="Tett oppfølging",
        responsible="gj-mt1",
        due=date(2024, 9, 9),
    )
    c.about_x(c.meeting, "Meeting.NoteRecorded", "Meeting.DecisionRecorded")
    clock.advance(hours=1)
    m.record_meeting_held(SPED_LEAD, c.meeting)  # Meeting.Held is about nobody in particular
    c.about_x(c.x, "Student.ConcernDiscussed")
    m.close_minutes(SPED_LEAD, c.meeting)
    m.amend_minutes(SPED_LEAD, c.meeting, text="Tillegg", reason="Glemt", item_id=item)
    m.amend_minutes(SPED_LEAD, c.meeting, text="Generelt tillegg", reason="Glemt")
    c.about_x(c.meeting, "Meeting.MinutesAmended")
    # reads of the case are logged, never part of the history
    m.student_case(COORDINATOR, c.x, reason="forberedelse")
    # -- later changes -----------------------------------------------------------------------
    clock.advance(days=7)
    c.class_changed_at = clock.now()
    m.change_class(ADMIN, c.x, trinn=9, class_name="9a")
    clock.advance(minutes=1)
    m.withdraw_consent(COORDINATOR, c.x, consent_id=c.consent_withdrawn)
    m.evaluate_aktivitetsplan(
        COORDINATOR,
        c.x,
        plan_id=plan,
        assessment="Bedre",
        next_evaluation_date=date(2024, 9, 30),
    )
    m.change_referral_status(COORDINATOR, c.x, referral_id=referral, status="accepted")
    c.about_x(
        c.x,
        "Student.ClassChanged",
        "Student.ConsentWithdrawn",
        "Student.AktivitetsplanEvaluated",
        "Student.ReferralStatusChanged",
    )
    m.complete_action(COORDINATOR, c.meeting, decision_id=decision)
    c.about_x(c.meeting, "Meeting.ActionCompleted")
    c.rotated_assignment = m.rotate_assignment(
        COORDINATOR,
        school=GJ,
        assignment_id=c.first_assignment,
        to_member_id="gj-mt2",
        on=date(2024, 9, 9),
    )
    c.about_x(team, "Team.AssignmentEnded", "Team.AssignmentMade")
    m.amend_vedtak(
        REKTOR,
        c.vedtak,
        hours=HoursByCompetence(miljoterapeut=19000),
        organisation="I klassen",
        content="Mindre tid",
        reasons="Bedring",
        deviation_reason="Bedre enn ventet",
        valid_to=date(2025, 6, 20),
    )
    m.send_vedtak_notice(INSPEKTOR, c.vedtak)
    m.lodge_appeal(INSPEKTOR, c.vedtak, grounds="Foreldre er uenige")
    clock.advance(days=3)
    m.resolve_appeal(INSPEKTOR, c.vedtak, outcome="upheld", note="Opprettholdt")
    c.about_x(
        c.vedtak,
        "Vedtak.Amended",
        "Vedtak.NoticeSent",
        "Vedtak.AppealLodged",
        "Vedtak.AppealResolved",
    )
    m.close_aktivitetsplan(COORDINATOR, c.x, plan_id=plan, reason="Mål nådd")
    c.about_x(c.x, "Student.AktivitetsplanClosed")
    # -- a long stream: X passes two snapshot intervals ----------------------------------------
    for n in range(EXTRA_OBSERVATIONS):
        clock.advance(minutes=1, microseconds=250_000 * (n % 4))
        m.record_observation(
            THERAPIST, c.x, arena="classroom", categories=["learning"], text=f"Notat {n}"
        )
        c.about_x(c.x, "Student.ObservationRecorded")
    # Y leaves the school for another school of the store
    clock.advance(hours=1)
    m.register_school(ADMIN, code="sandnes", name="Sandnes skole", first_trinn=1, last_trinn=10)
    m.record_departure(ADMIN, c.y, kind="transferred", to_school="sandnes")
    clock.advance(hours=1)
    return c


@pytest.fixture(scope="module", params=STORE_KINDS)
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Case]:
    clock = FakeClock(T0)
    with opened_store_of_kind(request.param, request, tmp_path_factory, clock) as miljo:
        yield build(miljo, clock)


def stored_event(miljo: Miljo, stream: UUID, version: int) -> MiljoAggregate.Event:
    [event] = list(miljo.app.events.get(stream, gt=version - 1, lte=version))
    assert isinstance(event, MiljoAggregate.Event)
    return event


def iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    assert isinstance(value, date)
    return value.isoformat()


def events_of(miljo: Miljo, stream: UUID) -> list[MiljoAggregate.Event]:
    return [e for e in miljo.app.events.get(stream) if isinstance(e, MiljoAggregate.Event)]


def replay_until(miljo: Miljo, stream: UUID, instant: datetime) -> Any:
    """The aggregate folded from its stored events recorded at or before ``instant``."""
    events = [e for e in events_of(miljo, stream) if e.timestamp <= instant]
    return replay(events) if events else None


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


def test_history_has_every_event_about_the_student_in_store_order(case: Case) -> None:
    history = case.miljo.history(COORDINATOR, case.x, reason="tilsyn")
    assert [(e.stream_id, e.event_type) for e in history] == case.expected
    positions = [e.position for e in history]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    # nothing of the access log (X's case was read during the scenario)
    assert not [e for e in history if e.event_type.startswith("AccessLog.")]
    # independently: scan every stored event for the ones whose subject is X
    scanned = []
    app = case.miljo.app
    for notification in app.recorder.select_notifications(start=1, limit=10**6):
        event = app.mapper.to_domain_event(notification)
        assert isinstance(event, MiljoAggregate.Event)
        if event.subject_id() == case.x and not isinstance(
            event, AccessLog.Started | AccessLog.CaseRead
        ):
            scanned.append((notification.id, event.originator_id, event.originator_version))
    assert [(e.position, e.stream_id, e.version) for e in history] == scanned


def test_history_leaves_out_other_students(case: Case) -> None:
    history = case.miljo.history(COORDINATOR, case.x)
    streams = {e.stream_id for e in history}
    assert case.y not in streams
    assert case.y_vedtak not in streams
    y_history = case.miljo.history(COORDINATOR, case.y)
    assert not {(e.stream_id, e.version) for e in history} & {
        (e.stream_id, e.version) for e in y_history
    }
    # Y's own: registration, observation, vedtak, assignment, agenda item, note, departure
    assert [e.event_type for e in y_history if e.stream_id == case.meeting] == [
        "Meeting.AgendaItemAdded",
        "Meeting.NoteRecorded",
    ]
    assert y_history[-2:] == [e for e in y_history if e.event_type.endswith("Departed")]
    assert [e.event_type for e in y_history[-2:]] == ["Student.Departed", "School.StudentDeparted"]


def test_history_entries_carry_recorded_and_effective_time_actor_role_and_summary(
    case: Case,
) -> None:
    history = case.miljo.history(AUDITOR, case.x)
    for entry in history:
        event = stored_event(case.miljo, entry.stream_id, entry.version)
        assert entry.recorded_at == event.timestamp
        assert entry.actor_id == event.actor_id
        assert entry.actor_role == event.actor_role
        assert entry.event_type == type(event).__qualname__
        assert entry.summary == event.summary()
        assert entry.effective == iso(event.effective_time())
    first = history[0]
    assert (first.event_type, first.recorded_at, first.effective) == (
        "Student.Registered",
        T0,
        "2024-08-19",  # registered_on
    )
    assert (first.actor_id, first.actor_role) == ("p-admin", "admin")
    observed = history[2]
    assert observed.event_type == "Student.ObservationRecorded"
    assert observed.recorded_at == datetime(2024, 8, 19, 8, 10, tzinfo=UTC)
    assert observed.effective == "2024-08-19T07:30:00+00:00"  # observed before it was written
    assert (observed.actor_id, observed.actor_role) == ("p-mt1", "miljoterapeut")
    decided = next(e for e in history if e.event_type == "Vedtak.Decided")
    assert (decided.actor_id, decided.actor_role, decided.effective) == (
        "p-rektor",
        "rektor",
        "2024-08-19",
    )
    assert decided.summary == (
        "vedtak decided on 2024-08-19: 22800 min/year, valid 2024-08-19..2025-06-20"
    )
    rotated = [e for e in history if e.stream_id == team_id(GJ)][-1]
    assert (rotated.event_type, rotated.effective) == ("Team.AssignmentMade", "2024-09-09")
    raised = next(e for e in history if e.event_type == "Student.ConcernRaised")
    assert raised.effective == raised.recorded_at.isoformat()  # no separate effective time


def test_each_history_read_is_logged_and_as_of_limits_it(case: Case) -> None:
    m = case.miljo
    before = m.access_log(AUDITOR, case.x)
    history = m.history(AUDITOR, case.x, reason="innsyn")
    after = m.access_log(AUDITOR, case.x)
    assert after[:-1] == before
    last = after[-1]
    assert (last.read_at, last.reader_id, last.reader_role, last.what) == (
        case.clock.now(),
        "p-audit",
        "auditor",
        "history",
    )
    assert (last.reason, last.break_glass) == ("innsyn", False)
    # the read is not in the history it returned, nor in the next one
    assert m.history(AUDITOR, case.x) == history
    # as of the class change: only what was recorded by then
    until = m.history(AUDITOR, case.x, as_of=case.class_changed_at)
    assert until == [e for e in history if e.recorded_at <= case.class_changed_at]
    assert until[-1].event_type == "Student.ClassChanged"
    assert m.history(AUDITOR, case.x, as_of=T0 - timedelta(microseconds=1)) == []
    assert len(m.access_log(AUDITOR, case.x)) == len(after) + 3


def test_history_of_an_unknown_student_is_refused(case: Case) -> None:
    with pytest.raises(NotFound):
        case.miljo.history(COORDINATOR, UUID(int=99))
    with pytest.raises(NotFound):  # a vedtak id is not a student
        case.miljo.history(COORDINATOR, case.vedtak)


# ---------------------------------------------------------------------------------------------
# As-of reads
# ---------------------------------------------------------------------------------------------


def test_the_student_stream_passes_its_snapshot_interval(case: Case) -> None:
    interval = SNAPSHOT_INTERVALS[Student]
    assert interval == 50
    snapshots = case.miljo.app.snapshots
    assert snapshots is not None
    # The newest snapshot is kept; older ones only at multiples of 10 intervals (500).
    assert [s.originator_version for s in snapshots.get(case.x)] == [100]
    assert len(events_of(case.miljo, case.x)) == 15 + EXTRA_OBSERVATIONS


def test_aggregate_as_of_at_and_between_recorded_times(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = case.miljo
    events = events_of(m, case.x)
    assert len(events) > 100
    # before creation
    assert m._aggregate_as_of(case.x, T0 - timedelta(microseconds=1)) is None
    assert m._aggregate_as_of(case.x, datetime(2024, 1, 1, tzinfo=UTC)) is None
    # exactly at an event's recorded time (it is included), and just before it
    gts: list[int | None] = []
    event_store = m.app.repository.event_store
    assert event_store is not None
    real_get = event_store.get

    def spy(*args: Any, **kwargs: Any) -> Any:
        gts.append(kwargs.get("gt"))
        return real_get(*args, **kwargs)

    monkeypatch.setattr(event_store, "get", spy)
    reader = m.app.repository.stream_reader
    if reader is not None:  # SQLite: snapshot and events in one read (the events after it)

        def read_spy(originator_id: UUID, lte: int | None) -> Any:
            snapshot, stored = reader(originator_id, lte)
            gts.append(None if snapshot is None else snapshot.originator_version)
            return snapshot, stored

        monkeypatch.setattr(m.app.repository, "stream_reader", read_spy)
    for version in (1, 2, 49, 50, 51, 75, 100, 101, len(events)):
        event = events[version - 1]
        at_it = m._aggregate_as_of(case.x, event.timestamp)
        assert isinstance(at_it, Student)
        expected = replay_until(m, case.x, event.timestamp)
        assert at_it.version == expected.version
        if version > 15:  # the extra observations have a recorded time each of their own
            assert at_it.version == version
        assert vars(at_it) == vars(expected)
        # between this event and the next
        later = event.timestamp + timedelta(microseconds=1)
        assert vars(m._aggregate_as_of(case.x, later)) == vars(replay_until(m, case.x, later))
        # in another time zone, same instant
        oslo = m._aggregate_as_of(case.x, event.timestamp.astimezone(ZoneInfo("Europe/Oslo")))
        assert oslo is not None
        assert oslo.version == at_it.version
    # versions 101 and the last loaded through the newest snapshot (100); older snapshots are
    # pruned (only multiples of 10 intervals are kept), so 51 and 75 replay from the start
    assert 100 in gts
    assert 50 not in gts
    monkeypatch.undo()
    # after the last event: the current state
    now = m._aggregate_as_of(case.x, case.clock.now() + timedelta(days=365))
    current: object = m.app.repository.get(case.x)
    assert vars(now) == vars(current)


def test_as_of_needs_an_aware_instant(case: Case) -> None:
    with pytest.raises(InvalidValue):
        case.miljo._aggregate_as_of(case.x, datetime(2024, 9, 1, 12, 0))
    with pytest.raises(InvalidValue):
        case.miljo.history(AUDITOR, case.x, as_of=datetime(2024, 9, 1, 12, 0))


def test_as_of_is_the_recorded_time_not_the_effective_time(case: Case) -> None:
    """The first observation was observed at 07:30 but recorded at 08:10: as of 08:00 the
    school did not know about it yet."""
    m = case.miljo
    student = m._aggregate_as_of(case.x, datetime(2024, 8, 19, 8, 0, 30, tzinfo=UTC))
    assert isinstance(student, Student)
    assert student.version == 1
    assert student.current_observations() == []


def test_student_case_as_of(case: Case) -> None:
    m = case.miljo
    before_reads = len(m.access_log(AUDITOR, case.x))
    assert m.student_case_as_of(AUDITOR, case.x, as_of=T0 - timedelta(seconds=1)) is None
    before_change = case.class_changed_at - timedelta(microseconds=1)
    old = m.student_case_as_of(AUDITOR, case.x, as_of=before_change, reason="klage")
    assert isinstance(old, StudentCase)
    assert (old.trinn, old.class_name) == (8, "8a")
    student = replay_until(m, case.x, before_change)
    case_file = replay_until(m, case_file_id(case.x), before_change)
    assert old.version == student.version
    assert old.observations == student.current_observations()
    assert old.consents == student.consents()
    assert [c.withdrawn_on for c in old.consents] == [None, None]
    assert old.referrals == student.referrals()
    assert old.plans == student.plans()
    assert old.concerns == student.concerns()
    assert old.vedtak_ids == case_file.linked("vedtak") == [case.vedtak]
    assert old.meeting_ids == case_file.linked("meeting") == [case.meeting]
    current = m.student_case(AUDITOR, case.x)
    later = m.student_case_as_of(AUDITOR, case.x, as_of=case.clock.now())
    assert later is not None
    assert (later.trinn, later.class_name) == (9, "9a")
    assert later.version == current.version
    assert later.observations == current.observations
    assert later.consents == current.consents
    assert later.plans == current.plans
    # every read above was logged (also the one that found nothing)
    assert len(m.access_log(AUDITOR, case.x)) == before_reads + 4


instants = st.datetimes(
    min_value=datetime(2024, 8, 19, 7, 0),
    max_value=datetime(2024, 9, 12, 0, 0),
    timezones=st.sampled_from([UTC, ZoneInfo("Europe/Oslo"), timezone(timedelta(hours=-5))]),
)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_aggregate_as_of_equals_a_replay_up_to_the_instant(case: Case, data: st.DataObject) -> None:
    m = case.miljo
    stream = data.draw(
        st.sampled_from(
            [case.x, case.y, case.vedtak, team_id(GJ), case.meeting, case_file_id(case.x)]
        ),
        label="stream",
    )
    stamps = [e.timestamp for e in events_of(m, stream)]
    instant = data.draw(
        st.one_of(
            instants,
            st.sampled_from(stamps),
            st.sampled_from(stamps).map(lambda t: t - timedelta(microseconds=1)),
        ),
        label="instant",
    )
    expected = replay_until(m, stream, instant)
    actual = m._aggregate_as_of(stream, instant)
    if expected is None:
        assert actual is None
    else:
        assert actual is not None
        assert vars(actual) == vars(expected)


# ---------------------------------------------------------------------------------------------
# Export and the standalone replay tool
# ---------------------------------------------------------------------------------------------

LINE_KEYS: Final = {
    "position",
    "stream_id",
    "version",
    "type",
    "topic",
    "class_version",
    "recorded_at",
    "effective",
    "actor_id",
    "actor_role",
    "summary",
    "payload",
}


def write_export(miljo: Miljo, student: UUID, path: Path) -> list[dict[str, object]]:
    records = miljo.export_history(AUDITOR, student, reason="eksport")
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return records


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False
    )


def test_export_records_are_json_one_per_history_event(case: Case, tmp_path: Path) -> None:
    m = case.miljo
    history = m.history(AUDITOR, case.x)
    records = write_export(m, case.x, tmp_path / "x.jsonl")
    assert len(records) == len(history)
    for record, entry in zip(records, history, strict=True):
        assert set(record) == LINE_KEYS
        assert record["position"] == entry.position
        assert record["stream_id"] == str(entry.stream_id)
        assert record["type"] == entry.event_type
        assert record["topic"] == f"miljo:{entry.event_type}"
        assert record["class_version"] == 1
        assert record["recorded_at"] == entry.recorded_at.isoformat()
        assert record["summary"] == entry.summary
        assert orjson.loads(orjson.dumps(record)) == record  # plain JSON values only
        payload = record["payload"]
        assert isinstance(payload, dict)
        assert {"actor_id", "actor_role"} <= set(payload)
        assert not {"originator_id", "originator_version", "timestamp"} & set(payload)
    lines = (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records)
    registered = records[0]["payload"]
    assert isinstance(registered, dict)
    assert registered["name"] == "Synnøve Prøvelid"  # the export is the full record
    assert registered["registered_on"] == "2024-08-19"


def _as_of_facade(value: object) -> object:
    """Facade values in the tool's JSON form (ids and dates as text, enums as values)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_as_of_facade(v) for v in value]
    return value


def test_replay_tool_rebuilds_the_student_case(case: Case, tmp_path: Path) -> None:
    m = case.miljo
    path = tmp_path / "x.jsonl"
    records = write_export(m, case.x, path)
    result = run_tool(str(path))
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    facade = m.student_case(AUDITOR, case.x)
    assert state["student_id"] == str(case.x)
    assert state["events"] == len(records)
    assert state["last_position"] == records[-1]["position"]
    assert (
        state["name"],
        state["student_number"],
        state["school_code"],
        state["trinn"],
        state["class_name"],
        state["registered_on"],
        state["active"],
    ) == (
        facade.name,
        facade.student_number,
        facade.school_code,
        facade.trinn,
        facade.class_name,
        facade.registered_on.isoformat(),
        facade.is_active,
    )
    assert state["placements"] == [
        {"trinn": 8, "class_name": "8a", "effective_from": "2024-08-19"},
        {
            "trinn": 9,
            "class_name": "9a",
            "effective_from": case.class_changed_at.date().isoformat(),
        },
    ]
    # observations: the current version of each, corrections applied, by observed time
    assert len(state["observations"]) == len(facade.observations) == 1 + EXTRA_OBSERVATIONS
    for got, want in zip(state["observations"], facade.observations, strict=True):
        assert got["observation_id"] == str(want.observation_id)
        assert got["version_id"] == str(want.version_id)
        assert got["arena"] == want.arena.value
        assert got["categories"] == [c.value for c in want.categories]
        assert (got["text"], got["student_voice"]) == (want.text, want.student_voice)
        assert datetime.fromisoformat(got["observed_at"]) == want.observed_at
        assert datetime.fromisoformat(got["recorded_at"]) == want.recorded_at
        assert datetime.fromisoformat(got["first_recorded_at"]) == want.first_recorded_at
        assert got["corrected"] == want.corrected
        assert got["correction_ids"] == [str(i) for i in want.correction_ids]
        assert got["correction_reason"] == want.correction_reason
    first = state["observations"][0]
    assert (first["text"], first["corrected"]) == ("Dyttet en medelev i klasserommet", True)
    # concerns, consents (one withdrawn), referrals (status), plans
    assert [
        (c["concern_id"], c["text"], datetime.fromisoformat(c["raised_at"]), c["discussed_in"])
        for c in state["concerns"]
    ] == [
        (str(c.concern_id), c.text, c.raised_at, [str(i) for i in c.discussed_in])
        for c in facade.concerns
    ]
    assert [
        (
            *(c[k] for k in ("consent_id", "giver", "scope_kind", "scope", "valid_from")),
            c["valid_to"],
            c["note"],
            c["withdrawn_on"],
        )
        for c in state["consents"]
    ] == [
        (
            str(c.consent_id),
            c.giver.value,
            c.scope_kind.value,
            c.scope,
            c.valid_from.isoformat(),
            _as_of_facade(c.valid_to),
            c.note,
            _as_of_facade(c.withdrawn_on),
        )
        for c in facade.consents
    ]
    withdrawn = {c["consent_id"]: c["withdrawn_on"] for c in state["consents"]}
    assert withdrawn[str(case.consent_kept)] is None
    assert withdrawn[str(case.consent_withdrawn)] == case.class_changed_at.date().isoformat()
    assert [
        (
            r["referral_id"],
            r["body"],
            r["reason"],
            r["made_on"],
            r["status"],
            r["status_changed_on"],
        )
        for r in state["referrals"]
    ] == [
        (
            str(r.referral_id),
            r.body.value,
            r.reason,
            r.made_on.isoformat(),
            r.status.value,
            r.status_changed_on.isoformat(),
        )
        for r in facade.referrals
    ]
    assert [r["status"] for r in state["referrals"]] == ["accepted"]
    plan_keys = (
        "plan_id",
        "problem",
        "measures",
        "when",
        "responsible",
        "evaluation_date",
        "last_evaluated_on",
        "closed_on",
        "close_reason",
    )
    assert [[p[k] for k in plan_keys] for p in state["plans"]] == [
        [_as_of_facade(getattr(p, k)) for k in plan_keys] for p in facade.plans
    ]
    assert state["linked"]["vedtak"] == [str(v) for v in facade.vedtak_ids]
    assert state["linked"]["meeting"] == [str(v) for v in facade.meeting_ids]


def test_replay_tool_rebuilds_vedtak_and_assignments(case: Case, tmp_path: Path) -> None:
    m = case.miljo
    path = tmp_path / "x.jsonl"
    write_export(m, case.x, path)
    result = run_tool(str(path))
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    [vedtak] = state["vedtak"]
    view = m.vedtak(AUDITOR, case.vedtak)
    assert vedtak["vedtak_id"] == str(view.vedtak_id)
    assert (vedtak["kind"], vedtak["legal_reference"], vedtak["status"]) == (
        view.kind.value,
        view.legal_reference,
        view.status.value,
    )
    assert view.recommendation is not None
    assert view.granted is not None
    assert vedtak["recommendation"] == view.recommendation.to_dict()
    assert vedtak["granted"] == view.granted.to_dict()
    assert vedtak["granted"]["miljoterapeut"] == 19000  # as amended
    assert vedtak["deviates"] == view.deviates
    for key in ("valid_from", "valid_to", "in_force_until", "notice_date", "appeal_deadline"):
        assert vedtak[key] == _as_of_facade(getattr(view, key)), key
    assert vedtak["appeal_open"] == view.appeal_open
    assert vedtak["appeal_open"] is False
    assert vedtak["delivered"] == view.delivered.to_dict()
    assert vedtak["delivered"]["miljoterapeut"] == 300  # as corrected
    # assignments: on each day, the ones in force equal the facade's team view
    for day in (date(2024, 8, 19), date(2024, 9, 8), date(2024, 9, 9), date(2025, 6, 20)):
        team = m.team(AUDITOR, GJ, on=day)
        facade = {
            (
                str(a.assignment_id),
                a.member_id,
                a.minutes_per_week,
                a.valid_from.isoformat(),
                _as_of_facade(a.valid_to),
                str(a.vedtak_id),
            )
            for a in team.assignments
            if a.student_id == case.x
        }
        tool = {
            (
                a["assignment_id"],
                a["member_id"],
                a["minutes_per_week"],
                a["valid_from"],
                a["valid_to"],
                a["vedtak_id"],
            )
            for a in state["assignments"]
            if a["valid_from"] <= day.isoformat()
            and (a["valid_to"] is None or day.isoformat() <= a["valid_to"])
        }
        assert tool == facade, day
        assert len(tool) == 1
    rotated = {a["assignment_id"]: a for a in state["assignments"]}
    assert rotated[str(case.first_assignment)]["valid_to"] == "2024-09-08"
    assert rotated[str(case.rotated_assignment)]["rotated_from"] == str(case.first_assignment)


def test_replay_tool_on_a_student_who_left(case: Case, tmp_path: Path) -> None:
    m = case.miljo
    path = tmp_path / "y.jsonl"
    write_export(m, case.y, path)
    result = run_tool(str(path))
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["student_id"] == str(case.y)
    assert state["active"] is False
    assert state["departure"]["kind"] == "transferred"
    assert state["departure"]["to_school"] == "sandnes"
    assert m.student_summary(AUDITOR, case.y).is_active is False
    [vedtak] = state["vedtak"]
    assert vedtak["granted"] == {
        "teacher": 0,
        "special_ed_teacher": 0,
        "miljoterapeut": 0,
        "assistant": 7600,
    }
    assert vedtak["recommendation"] is None
    assert vedtak["status"] == "decided"
    assert len(state["observations"]) == 1


def test_replay_tool_rejects_bad_exports(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"position": 1}\nnot json\n', encoding="utf-8")
    result = run_tool(str(broken))
    assert result.returncode == 1
    assert "missing keys" in result.stderr
    newer = tmp_path / "newer.jsonl"
    line: dict[str, object] = dict.fromkeys(LINE_KEYS, "x")
    line.update(position=1, type="Student.Registered", class_version=2, payload={})
    newer.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = run_tool(str(newer))
    assert result.returncode == 1
    assert "class_version 2 is newer" in result.stderr
    assert run_tool(str(tmp_path / "missing.jsonl")).returncode == 1
    assert run_tool().returncode == 2  # usage


def test_replay_tool_uses_the_standard_library_only() -> None:
    tree = ast.parse(TOOL.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            assert node.module is not None
            imported.add(node.module.partition(".")[0])
    assert imported
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


# ---------------------------------------------------------------------------------------------
# The documented format matches the code
# ---------------------------------------------------------------------------------------------

COMMON_PAYLOAD: Final = {"actor_id", "actor_role", "originator_topic"}


def history_event_classes() -> dict[str, type[MiljoAggregate.Event]]:
    """Every event class that can appear in a student's history (export)."""
    found: dict[str, type[MiljoAggregate.Event]] = {}
    for aggregate in AGGREGATES:
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, MiljoAggregate.Event)
                and value.SUBJECT_FIELD is not None
                and aggregate is not AccessLog
            ):
                topic: str = getattr(value, "TOPIC", "")
                found[topic.removeprefix("miljo:")] = value
    return found


def documented_payloads() -> dict[str, dict[str, bool]]:
    """``### `Type` `` sections of the doc: field -> marked personal."""
    sections: dict[str, dict[str, bool]] = {}
    current: dict[str, bool] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `([A-Za-z]+\.[A-Za-z]+)`", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        if line.startswith("## "):
            current = None
        row = re.match(r"^\| `([a-z_]+)` \|(.*)\|\s*$", line)
        if current is not None and row:
            current[row.group(1)] = "personal" in row.group(2).split("|")[-1]
    return sections


def test_the_export_doc_lists_every_line_key_and_payload_field() -> None:
    text = DOC.read_text(encoding="utf-8")
    for key in LINE_KEYS:
        assert f"| `{key}` |" in text, key
    assert "python tools/replay_export.py" in text
    documented = documented_payloads()
    classes = history_event_classes()
    assert set(documented) == set(classes)
    for name, cls in classes.items():
        fields = {f.name for f in dataclasses.fields(cls)} - {
            "originator_id",
            "originator_version",
            "timestamp",
        }
        assert set(documented[name]) == fields - COMMON_PAYLOAD, name
        personal = {field for field, marked in documented[name].items() if marked}
        assert personal == set(cls.PERSONAL_FIELDS), name
