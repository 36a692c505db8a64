"""The demo municipality generator (adapters/demo.py).

One run at the seed's real size (in memory, shared by the module; marked ``slow``, about
20-30 s of CPU, almost all of it in 1801 ``register_student`` calls) checks counts, rules and
coverage. Reduced runs check determinism (the whole term with 2 % of the students), a different
seed, scale and a SQLite file (the first two weeks).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, time, timedelta
from uuid import UUID

import attrs
import pytest
from eventsourcing.persistence import Notification
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bootstrap import StoreLocation, open_store
from adapters.demo import (
    AUTUMN_BREAK,
    TERM_FIRST,
    TERM_LAST,
    DemoSummary,
    SeededIds,
    SimulatedClock,
    build_demo,
    local_instant,
    school_days,
)
from domain.base import MiljoAggregate
from domain.facade import Miljo
from domain.meeting import Meeting
from domain.student import Student
from domain.team import TargetKind, Team, team_id
from domain.values import (
    SCHOOL_TIMEZONE,
    Actor,
    Competence,
    MeetingKind,
    Profession,
    Role,
    iso_week_monday,
    position_minutes_per_week,
)
from domain.vedtak import Vedtak, VedtakKind, VedtakStatus
from tests.support import TestHasher

SEED = 2024
TERM_FACTOR = 0.02  # students_factor of the whole-term determinism runs
SHORT_FACTOR, SHORT_UNTIL = 0.05, date(2024, 8, 30)  # 5 % of the students, two weeks
slow = pytest.mark.slow
AUDITOR = Actor("p-audit", Role.AUDITOR)
END = TERM_LAST


@attrs.frozen
class Run:
    miljo: Miljo
    summary: DemoSummary
    progress: list[tuple[int, int]]


def run_demo(
    store: str | StoreLocation = ":memory:",
    *,
    seed: int = SEED,
    students_factor: float = 1.0,
    scale: int = 1,
    until: date = TERM_LAST,
) -> Run:
    clock = SimulatedClock()
    miljo = open_store(store, clock=clock, ids=SeededIds(seed), hasher=TestHasher())
    calls: list[tuple[int, int]] = []
    summary = build_demo(
        miljo,
        seed=seed,
        clock=clock,
        progress=lambda done, total: calls.append((done, total)),
        scale=scale,
        students_factor=students_factor,
        until=until,
    )
    return Run(miljo, summary, calls)


def notifications(miljo: Miljo) -> list[Notification]:
    return list(miljo.app.recorder.select_notifications(start=1, limit=miljo.event_count() + 1))


def log(miljo: Miljo) -> list[tuple[int, UUID, int, str, dict[str, object]]]:
    """The notification log with every event decoded: position, id, version, topic and the
    event's fields (timestamps included). Payloads are compared decoded, because encryption
    at rest makes the stored bytes of two stores differ (random keys and nonces)."""
    mapper = miljo.app.mapper
    return [
        (
            n.id,
            UUID(str(n.originator_id)),
            n.originator_version,
            n.topic,
            dict(vars(mapper.to_domain_event(n))),
        )
        for n in notifications(miljo)
    ]


def student(miljo: Miljo, student_id: UUID) -> Student:
    """Read a student without logging the read (the logs of the shared runs are compared)."""
    found: object = miljo.app.repository.get(student_id)
    assert isinstance(found, Student)
    return found


def aggregates(miljo: Miljo, topic: str) -> list[MiljoAggregate]:
    """Every aggregate whose stream starts with ``topic``, in creation order."""
    ids = [UUID(str(n.originator_id)) for n in notifications(miljo) if n.topic == topic]
    found: list[object] = [miljo.app.repository.get(i) for i in ids]
    return [a for a in found if isinstance(a, MiljoAggregate)]


def team(miljo: Miljo, code: str) -> Team:
    found: object = miljo.app.repository.get(team_id(code))
    assert isinstance(found, Team)
    return found


def mondays(first: date, last: date) -> Iterator[date]:
    monday = iso_week_monday(first)
    while monday <= last:
        yield monday
        monday += timedelta(days=7)


@pytest.fixture(scope="module")
def full() -> Iterator[Run]:
    run = run_demo()
    yield run
    run.miljo.close()


@pytest.fixture(scope="module")
def term() -> Iterator[Run]:
    run = run_demo(students_factor=TERM_FACTOR)
    yield run
    run.miljo.close()


@pytest.fixture(scope="module")
def short() -> Iterator[Run]:
    run = run_demo(students_factor=SHORT_FACTOR, until=SHORT_UNTIL)
    yield run
    run.miljo.close()


# ---------------------------------------------------------------------------------------------
# The real size
# ---------------------------------------------------------------------------------------------


@slow
def test_counts_match_the_seed_report(full: Run) -> None:
    summary, miljo = full.summary, full.miljo
    assert (summary.schools, summary.scale, summary.seed) == (3, 1, SEED)
    assert summary.events == miljo.event_count() > 5_000
    # 1800 students at the start of term; at Strinda one leaves and one arrives.
    assert summary.students == 330 + 370 + 1100 + 1
    expected = {
        "trudvang": (1, 5, 15, 330),
        "gjesdal": (8, 10, 12, 370),
        "strinda": (11, 13, 43, 1100),
    }
    for code, (first, last, classes, students) in expected.items():
        view = miljo.school(AUDITOR, code)
        assert (view.first_trinn, view.last_trinn) == (first, last)
        assert len(view.classes) == summary.school(code).classes == classes
        assert view.active_students == summary.school(code).students == students
    trudvang = miljo.school(AUDITOR, "trudvang").classes
    assert sorted(trudvang) == sorted(f"{t}{p}" for t in range(1, 6) for p in "ABC")
    gjesdal = miljo.school(AUDITOR, "gjesdal").classes
    assert sorted(gjesdal) == sorted(f"{t}{p}" for t in range(8, 11) for p in "ABCD")
    strinda = miljo.school(AUDITOR, "strinda").classes
    programmes = {name[1:3] for name in strinda if not name.startswith("STO")}
    assert programmes == {"ST", "ID", "MD", "EL", "HO"}
    assert {"STO-1", "STO-2", "STO-3"} <= set(strinda)


def _staff(miljo: Miljo, code: str, on: date) -> Counter[str]:
    members = team(miljo, code).active_members(on)
    return Counter(m.profession.competence.value for m in members)


@slow
def test_teams_are_staffed_as_in_the_seed(full: Run) -> None:
    miljo = full.miljo
    assert _staff(miljo, "trudvang", END) == {"miljoterapeut": 12, "assistant": 2}
    fagarbeidere = [
        m for m in team(miljo, "trudvang").members if m.profession is Profession.FAGARBEIDER
    ]
    assert len(fagarbeidere) == 2
    assert _staff(miljo, "gjesdal", END) == {"miljoterapeut": 7, "assistant": 6}
    assert _staff(miljo, "strinda", END) == {"miljoterapeut": 3}
    gjesdal = team(miljo, "gjesdal")
    percents = [
        gjesdal.position_percent(m.member_id, END)
        for m in gjesdal.active_members(END)
        if m.profession.competence is Competence.MILJOTERAPEUT
    ]
    assert all(p is not None and p < 100 for p in percents)
    assert Counter(str(p) for p in percents).most_common(1)[0][0] == "85"
    strinda = team(miljo, "strinda")
    assert all(strinda.position_percent(m.member_id, END) == 100 for m in strinda.members)
    for code in ("trudvang", "gjesdal"):
        assert team(miljo, code).coordinator_id == full.summary.school(code).coordinator.person_id


@slow
def test_allocation_follows_each_school_model(full: Run) -> None:
    miljo = full.miljo
    on = date(2024, 11, 20)
    trudvang = miljo.team(AUDITOR, "trudvang", on=on)
    first_grade = {
        str(a.class_name): a
        for a in trudvang.assignments
        if a.target_kind is TargetKind.CLASS and a.trinn == 1
    }
    assert sorted(first_grade) == ["1A", "1B", "1C"]
    professions = {m.member_id: m.profession for m in trudvang.members}
    assert all(
        professions[a.member_id].competence is Competence.MILJOTERAPEUT
        for a in first_grade.values()
    )
    in_sfo = {a.member_id for a in trudvang.assignments if a.target_kind is TargetKind.SFO}
    assert in_sfo == {m.member_id for m in trudvang.members}  # everyone works in SFO too
    vedtak_trinn = {
        miljo.student_summary(AUDITOR, a.student_id).trinn
        for a in trudvang.assignments
        if a.student_id is not None
    }
    assert vedtak_trinn
    assert vedtak_trinn <= {2, 3, 4, 5}

    gjesdal = miljo.team(AUDITOR, "gjesdal", on=on)
    professions = {m.member_id: m.profession for m in gjesdal.members}
    therapists = {
        m.member_id
        for m in gjesdal.members
        if m.profession.competence is Competence.MILJOTERAPEUT and m.left_on is None
    }
    with_students = {
        a.member_id for a in gjesdal.assignments if a.target_kind is TargetKind.STUDENT
    }
    assert therapists <= with_students  # all tied to students with a PPT tilråding

    strinda = miljo.team(AUDITOR, "strinda", on=on)
    for member in strinda.members:
        mine = [a for a in strinda.assignments if a.member_id == member.member_id]
        school_wide = sum(a.minutes_per_week for a in mine if a.target_kind is TargetKind.SCHOOL)
        sto = sum(a.minutes_per_week for a in mine if a.target_kind is TargetKind.STUDENT)
        full_time = position_minutes_per_week(member.position_percent)
        assert 0.65 <= school_wide / full_time <= 0.85
        assert 0.15 <= sto / full_time <= 0.35
        for assignment in mine:
            if assignment.student_id is not None:
                summary = miljo.student_summary(AUDITOR, assignment.student_id)
                assert summary.class_name.startswith("STO")


@slow
def test_capacity_rule_holds_for_every_member_in_every_week(full: Run) -> None:
    checked = 0
    at_full_capacity = 0
    for school in full.summary.per_school:
        aggregate = team(full.miljo, school.code)
        for member in aggregate.members:
            for monday in mondays(date(2024, 8, 1), date(2025, 6, 30)):
                load = aggregate.week_load(member.member_id, monday)
                assert load.allocated <= load.capacity, (school.code, load)
                checked += 1
                at_full_capacity += load.allocated == load.capacity > 0
    assert checked > 1_000
    assert at_full_capacity > 0  # the rule is exercised, not vacuous


@slow
def test_every_aggregate_kind_and_every_storyline_is_in_the_store(full: Run) -> None:
    topics = Counter(n.topic for n in notifications(full.miljo))
    kinds = {topic.split(".")[0] for topic in topics}
    assert kinds == {
        "miljo:School",
        "miljo:Student",
        "miljo:Vedtak",
        "miljo:Team",
        "miljo:Meeting",
        "miljo:CaseFile",
        "miljo:AccessLog",
    }
    for event in (
        "Student.ObservationRecorded",
        "Student.ObservationCorrected",
        "Student.ConcernRaised",
        "Student.ConcernDiscussed",
        "Student.ConsentRecorded",
        "Student.ConsentWithdrawn",
        "Student.ReferralMade",
        "Student.ReferralStatusChanged",
        "Student.AktivitetsplanCreated",
        "Student.AktivitetsplanEvaluated",
        "Student.AktivitetsplanClosed",
        "Student.ClassChanged",
        "Student.Departed",
        "Vedtak.RecommendationReceived",
        "Vedtak.Decided",
        "Vedtak.NoticeSent",
        "Vedtak.AppealLodged",
        "Vedtak.AppealResolved",
        "Vedtak.Amended",
        "Vedtak.DeliveryRecorded",
        "Vedtak.DeliveryCorrected",
        "Team.AssignmentMade",
        "Team.AssignmentEnded",
        "Team.CoordinatorAppointed",
        "Team.PositionChanged",
        "Team.MemberLeft",
        "Meeting.ExternalParticipantAdded",
        "Meeting.DecisionRecorded",
        "Meeting.ActionCompleted",
        "Meeting.MinutesClosed",
        "Meeting.MinutesAmended",
        "Meeting.Cancelled",
        "AccessLog.CaseRead",
    ):
        assert topics[f"miljo:{event}"] > 0, event
    assert topics["miljo:Vedtak.AppealLodged"] == 1  # one appeal in the municipality
    assert topics["miljo:Student.ObservationRecorded"] > 500
    meetings = aggregates(full.miljo, "miljo:Meeting.Scheduled")
    by_kind = Counter(m.kind for m in meetings if isinstance(m, Meeting))
    assert by_kind[MeetingKind.MORGENMOTE] >= 75  # daily at Gjesdal
    # Weekly at Trudvang (16 school weeks after the first), every 2nd week at Gjesdal.
    assert by_kind[MeetingKind.RESSURSTEAM] == 16 + 7
    assert by_kind[MeetingKind.ARBEIDSLAG] == 6  # every 3rd week
    assert by_kind[MeetingKind.ELEVTJENESTE] >= 16


@slow
def test_vedtak_follow_the_case_flow(full: Run) -> None:
    vedtak = [v for v in aggregates(full.miljo, "miljo:Vedtak.Opened") if isinstance(v, Vedtak)]
    kinds = Counter(v.kind for v in vedtak)
    assert set(kinds) == set(VedtakKind)
    assert kinds[VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION] > 30
    decided = [v for v in vedtak if v.status is VedtakStatus.DECIDED]
    assert len(decided) >= len(vedtak) - 2  # the latest ones may still wait for a decision
    with_recommendation = [v for v in decided if v.recommendation is not None]
    mostly_mt = [
        v
        for v in with_recommendation
        if v.recommendation is not None
        and v.recommendation.miljoterapeut >= v.recommendation.total / 2
    ]
    assert len(mostly_mt) > len(with_recommendation) / 2
    assert any(v.deviates for v in decided)
    assert all(v.notice_date is not None for v in decided)
    appealed = [v for v in vedtak if v.appeals]
    assert len(appealed) == 1
    (case,) = appealed
    assert case.school_code == "gjesdal"
    assert not case.appeal_open
    assert case.amendments == 1
    assert not case.deviates
    assert case.notice_date is not None
    assert case.notice_date >= case.appeals[0].lodged_on
    delivered = [v for v in decided if v.delivery_weeks]
    assert len(delivered) > 30
    assert any(v.delivered_minutes(Competence.MILJOTERAPEUT) > 0 for v in delivered)


@slow
def test_consent_rule_holds_wherever_external_services_take_part(full: Run) -> None:
    named = anonymous = 0
    meetings = [
        m for m in aggregates(full.miljo, "miljo:Meeting.Scheduled") if isinstance(m, Meeting)
    ]
    arbeidslag = [m for m in meetings if m.kind is MeetingKind.ARBEIDSLAG]
    assert len(arbeidslag) == 6
    for meeting in meetings:
        if not meeting.external_bodies:
            continue
        for item in meeting.agenda():
            if item.anonymous:
                anonymous += 1
                continue
            if item.student_id is None:
                continue
            named += 1
            subject = student(full.miljo, item.student_id)
            for body in meeting.external_bodies:
                assert subject.consent_covers(
                    body=body, meeting_kind=meeting.kind, on=meeting.meeting_date
                ), (meeting.kind, body, meeting.meeting_date)
    for meeting in arbeidslag:
        assert {b.value for b in meeting.external_bodies} == {
            "barnevern",
            "ppt",
            "psykisk_helse",
            "familievern",
        }
        assert meeting.is_held
        assert meeting.minutes_closed
    assert named > 0
    assert anonymous > 0
    withdrawn = [
        (UUID(str(n.originator_id)), consent)
        for n in notifications(full.miljo)
        if n.topic == "miljo:Student.ConsentWithdrawn"
        for consent in student(full.miljo, UUID(str(n.originator_id))).consents()
        if consent.withdrawn_on is not None
    ]
    assert withdrawn
    for student_id, consent in withdrawn:
        assert consent.withdrawn_on is not None
        for meeting in arbeidslag:
            if meeting.meeting_date >= consent.withdrawn_on:
                assert student_id not in meeting.named_students()


@slow
def test_events_are_recorded_on_school_days_during_school_hours(full: Run) -> None:
    days = set(school_days())
    assert TERM_FIRST in days
    assert TERM_LAST in days
    assert not any(AUTUMN_BREAK[0] <= d <= AUTUMN_BREAK[1] for d in days)
    previous = None
    mapper = full.miljo.app.mapper
    for notification in notifications(full.miljo):
        event = mapper.to_domain_event(notification)
        assert isinstance(event, MiljoAggregate.Event)
        local = event.timestamp.astimezone(SCHOOL_TIMEZONE)
        assert local.date() in days
        assert time(8, 0) <= local.time() <= time(16, 0), local
        if previous is not None:
            assert event.timestamp >= previous
        previous = event.timestamp
    assert previous is not None
    assert previous.astimezone(SCHOOL_TIMEZONE).date() == TERM_LAST


@slow
def test_summary_points_at_records_worth_showing(full: Run) -> None:
    miljo = full.miljo
    for school in full.summary.per_school:
        case = miljo.student_case(school.coordinator, school.sample_student_id, reason="demo")
        assert case.school_code == school.code
        assert case.observations
        assert case.concerns
        assert case.referrals
        assert case.meeting_ids
        assert school.sample_vedtak_id in case.vedtak_ids
        assert school.sample_meeting_id is not None
        meeting = miljo.meeting(school.coordinator, school.sample_meeting_id)
        assert meeting.held_at is not None
        assert meeting.minutes_closed
        assert meeting.decisions
        assert school.rektor.role is Role.REKTOR


# ---------------------------------------------------------------------------------------------
# Reduced size: determinism, scale, SQLite, progress, guards
# ---------------------------------------------------------------------------------------------


def test_same_seed_writes_identical_events(term: Run) -> None:
    """The whole term (every storyline) twice with the same seed: the same events."""
    again = run_demo(students_factor=TERM_FACTOR)
    try:
        first, second = log(term.miljo), log(again.miljo)
        assert len(first) == term.summary.events > 2_000
        assert first == second  # ids, versions, topics and decoded payloads with timestamps
        assert again.summary == term.summary
    finally:
        again.miljo.close()


def test_a_different_seed_writes_different_data(short: Run) -> None:
    other = run_demo(seed=SEED + 1, students_factor=SHORT_FACTOR, until=SHORT_UNTIL)
    try:
        first, second = log(short.miljo), log(other.miljo)
        assert other.summary.students == short.summary.students  # same sizes ...
        students = {row[1] for row in first if row[3] == "miljo:Student.Registered"}
        assert students.isdisjoint(row[1] for row in second)  # ... other ids ...
        assert [row[4] for row in first] != [row[4] for row in second]  # ... other data
        names = {student(short.miljo, s).name for s in short.miljo.students_of(AUDITOR, "gjesdal")}
        other_names = {
            student(other.miljo, s).name for s in other.miljo.students_of(AUDITOR, "gjesdal")
        }
        assert names != other_names
    finally:
        other.miljo.close()


def test_progress_runs_from_zero_to_total(term: Run) -> None:
    calls = term.progress
    assert calls[0][0] == 0
    assert calls[-1][0] == calls[-1][1] > 0
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(d <= t for d, t in calls)
    assert len(calls) > term.summary.students + len(school_days())


def test_a_shorter_term_stops_early(short: Run) -> None:
    assert (short.summary.first_day, short.summary.last_day) == (TERM_FIRST, SHORT_UNTIL)
    clock = short.miljo.clock
    assert clock.now().astimezone(SCHOOL_TIMEZONE).date() == SHORT_UNTIL
    assert short.summary.students == sum(s.students for s in short.summary.per_school)


def test_scale_builds_copies_of_each_model() -> None:
    run = run_demo(students_factor=0.02, scale=2, until=date(2024, 8, 30))
    try:
        codes = [s.code for s in run.summary.per_school]
        assert codes == ["trudvang", "gjesdal", "strinda", "trudvang-2", "gjesdal-2", "strinda-2"]
        assert run.summary.schools == 6
        for code in ("trudvang", "gjesdal", "strinda"):
            one, two = run.summary.school(code), run.summary.school(f"{code}-2")
            assert (one.students, one.classes) == (two.students, two.classes)
            assert one.sample_student_id != two.sample_student_id
            assert run.miljo.school(AUDITOR, f"{code}-2").name.endswith("(2)")
            assert team(run.miljo, f"{code}-2").members
    finally:
        run.miljo.close()


def test_one_run_on_a_store(store_location: StoreLocation, short: Run) -> None:
    run = run_demo(store_location, students_factor=SHORT_FACTOR, until=SHORT_UNTIL)
    run.miljo.close()
    # Reopened: the same seed and index key wrote the same events as in memory.
    reopened = open_store(store_location, hasher=TestHasher())
    try:
        assert reopened.event_count() == run.summary.events == short.summary.events
        assert log(reopened) == log(short.miljo)
        school = run.summary.school("gjesdal")
        view = reopened.team(AUDITOR, "gjesdal", on=SHORT_UNTIL)
        assert view.coordinator_id == school.coordinator.person_id
        assert view.assignments
        assert reopened.student_summary(AUDITOR, school.sample_student_id).school_code == "gjesdal"
    finally:
        reopened.close()


def test_refuses_a_store_that_is_not_empty(short: Run) -> None:
    clock = short.miljo.clock
    assert isinstance(clock, SimulatedClock)
    before = short.miljo.event_count()
    with pytest.raises(ValueError, match="empty store"):
        build_demo(short.miljo, seed=SEED, clock=clock)
    assert short.miljo.event_count() == before


def test_refuses_a_foreign_clock_and_bad_parameters() -> None:
    clock = SimulatedClock()
    with open_store(":memory:", clock=clock, ids=SeededIds(1), hasher=TestHasher()) as miljo:
        with pytest.raises(ValueError, match="simulated clock"):
            build_demo(miljo, seed=1, clock=SimulatedClock())
        with pytest.raises(ValueError, match="scale"):
            build_demo(miljo, seed=1, clock=clock, scale=0)
        with pytest.raises(ValueError, match="students_factor"):
            build_demo(miljo, seed=1, clock=clock, students_factor=0)
        with pytest.raises(ValueError, match="until"):
            build_demo(miljo, seed=1, clock=clock, until=date(2025, 1, 6))
        assert miljo.event_count() == 0
    late = SimulatedClock(local_instant(TERM_FIRST, 9 * 3600))
    with open_store(":memory:", clock=late, ids=SeededIds(1), hasher=TestHasher()) as miljo:
        with pytest.raises(ValueError, match="must not start after"):
            build_demo(miljo, seed=1, clock=late)
        assert miljo.event_count() == 0


# ---------------------------------------------------------------------------------------------
# The ports
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_seeded_ids_are_reproducible_uuid4(seed: int) -> None:
    first, second = SeededIds(seed), SeededIds(seed)
    ids = [first.new_id() for _ in range(20)]
    assert ids == [second.new_id() for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(i.version == 4 and i.variant == "specified in RFC 4122" for i in ids)
    assert SeededIds(seed + 1).new_id() != ids[0]


def test_simulated_clock_moves_forward_only() -> None:
    clock = SimulatedClock()
    start = clock.now()
    assert start == local_instant(TERM_FIRST, 8 * 3600)
    assert start.astimezone(SCHOOL_TIMEZONE).time() == time(8, 0)
    assert clock.advance(timedelta(minutes=5)) == start + timedelta(minutes=5)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.move_to(start)
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(start.replace(tzinfo=None))
    # Europe/Oslo school hours across the change to winter time (27 October 2024).
    assert local_instant(date(2024, 10, 25), 8 * 3600).hour == 6
    assert local_instant(date(2024, 10, 28), 8 * 3600).hour == 7
