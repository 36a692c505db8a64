"""The ressursteam overview (``Miljo.overview``) on the seed's Gjesdal ungdomsskole.

One scenario is built through the facade (on an in-memory store and on a SQLite file) and
every number in the overview is checked against a value worked out by hand below: the
arithmetic is in the comments, the expected values are literals. Nothing expected is
computed by the code under test.

Gjesdal (seed): trinn 8-10 with four parallel classes, 7 miljøterapeuter (most at 85 %) and
6 assistants, a ressursteam every second week and an arbeidslag with barnevern and PPT.

Timeline (UTC; Oslo is UTC+2 in this period, so every local date equals the UTC date):

* 2024-08-19 (Mon, T0) school, team, students, vedtak, assignments
* 2024-08-26 ressursteam R0 held 14:00
* 2024-09-02 a ressursteam scheduled for that day is cancelled
* 2024-09-09 ressursteam R1 held 13:00 (the last one): "since the last ressursteam" starts here
* 2024-09-09 14:00 .. 2024-09-18: the changes counted since R1
* 2024-09-23 (Mon) the overview; next ressursteam R2 on 2024-09-24, arbeidslag on 2024-09-30
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID

import attrs
import pytest

from domain.errors import InvalidValue, NotFound
from domain.facade import Miljo
from domain.overview import (
    ActionLine,
    AgendaLine,
    ConcernLine,
    ConsentCheck,
    MemberLine,
    Overview,
    PlanLine,
    ReferralLine,
    VedtakLine,
)
from domain.values import Actor, HoursByCompetence
from tests.integration.conftest import STORE_KINDS, opened_store_of_kind
from tests.support import (
    ADMIN,
    COORDINATOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    THERAPIST,
    FakeClock,
)

GJ: Final = "gjesdal"
JOINED: Final = date(2024, 8, 1)
VALID_FROM: Final = date(2024, 8, 19)
VALID_TO: Final = date(2025, 6, 20)
OVERVIEW_DAY: Final = date(2024, 9, 23)
R1_HELD: Final = datetime(2024, 9, 9, 13, 0, tzinfo=UTC)
R2_AT: Final = datetime(2024, 9, 24, 12, 0, tzinfo=UTC)
A1_AT: Final = datetime(2024, 9, 30, 12, 0, tzinfo=UTC)

ITO: Final = "individually_adapted_education"
ASSISTANCE: Final = "personal_assistance"

#: member id -> (profession, position %)
MEMBERS: Final = {
    "gj-mt1": ("vernepleier", "85"),  # the coordinator
    "gj-mt2": ("barnevernspedagog", "85"),
    "gj-mt3": ("sosionom", "85"),
    "gj-mt4": ("vernepleier", "85"),
    "gj-mt5": ("barnevernspedagog", "85"),
    "gj-mt6": ("sosionom", "85"),
    "gj-mt7": ("vernepleier", "100"),
    "gj-as1": ("assistent", "60"),
    "gj-as2": ("assistent", "60"),
    "gj-as3": ("assistent", "50"),
    "gj-as4": ("fagarbeider", "50"),  # counts as assistant competence
    "gj-as5": ("assistent", "40"),  # 30 % from 2024-09-16
    "gj-as6": ("assistent", "40"),  # leaves 2024-09-13
}


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


@attrs.define
class Gjesdal:
    """Ids of everything the scenario created (the facade returns them)."""

    miljo: Miljo
    clock: FakeClock
    s: dict[str, UUID] = attrs.Factory(dict)  # students S1..S7
    v: dict[str, UUID] = attrs.Factory(dict)  # vedtak V1..V4
    a: dict[str, UUID] = attrs.Factory(dict)  # assignments a1..a20
    m: dict[str, UUID] = attrs.Factory(dict)  # meetings
    i: dict[str, UUID] = attrs.Factory(dict)  # agenda items
    d: dict[str, UUID] = attrs.Factory(dict)  # decisions D1..D5
    c: dict[str, UUID] = attrs.Factory(dict)  # concerns C1..C5
    p: dict[str, UUID] = attrs.Factory(dict)  # plans P1..P6
    f: dict[str, UUID] = attrs.Factory(dict)  # referrals F1..F6
    k: dict[str, UUID] = attrs.Factory(dict)  # consents
    o: dict[str, UUID] = attrs.Factory(dict)  # observations

    def tick(self, when: datetime) -> None:
        assert when >= self.clock.current
        self.clock.current = when

    def assign(
        self,
        name: str,
        member: str,
        kind: str,
        minutes: int,
        *,
        valid_from: date = VALID_FROM,
        valid_to: date | None = None,
        student: str | None = None,
        vedtak: str | None = None,
        trinn: int | None = None,
        class_name: str | None = None,
    ) -> None:
        self.a[name] = self.miljo.assign(
            COORDINATOR,
            school=GJ,
            member_id=member,
            target_kind=kind,
            minutes_per_week=minutes,
            valid_from=valid_from,
            valid_to=valid_to,
            student_id=None if student is None else self.s[student],
            vedtak_id=None if vedtak is None else self.v[vedtak],
            trinn=trinn,
            class_name=class_name,
        )


def build(miljo: Miljo, clock: FakeClock) -> Gjesdal:
    g = Gjesdal(miljo, clock)
    m = miljo
    g.tick(at(8, 19, 8))
    # -- school, classes, team -------------------------------------------------------------------
    m.register_school(ADMIN, code=GJ, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10)
    for trinn in (8, 9, 10):
        for letter in "abcd":
            m.add_class(ADMIN, school=GJ, trinn=trinn, class_name=f"{trinn}{letter}")
    m.form_team(ADMIN, school=GJ, name="Miljøteamet på Gjesdal")
    for member, (profession, percent) in MEMBERS.items():
        m.add_member(
            ADMIN,
            school=GJ,
            member_id=member,
            profession=profession,
            position_percent=percent,
            joined_on=JOINED,
        )
    m.appoint_coordinator(ADMIN, school=GJ, member_id="gj-mt1", effective_from=JOINED)
    # -- students (invented names) ---------------------------------------------------------------
    for key, number, name, trinn, class_name in (
        ("S1", "GJ-101", "Sølvi Prøvestad", 8, "8a"),
        ("S2", "GJ-102", "Ådne Testerud", 8, "8c"),
        ("S3", "GJ-103", "Kjærsti Eksempelhaug", 9, "9b"),
        ("S4", "GJ-104", "Tøger Fiktivik", 10, "10d"),
        ("S5", "GJ-105", "Åshild Oppdiktet", 8, "8d"),  # moves to 8c
        ("S6", "GJ-106", "Bjørnar Dikterud", 9, "9b"),  # leaves the school
        ("S7", "GJ-107", "Mære Liksomsen", 10, "10a"),
    ):
        g.s[key] = m.register_student(
            ADMIN,
            school=GJ,
            student_number=number,
            name=name,
            trinn=trinn,
            class_name=class_name,
        )
    # -- vedtak (hours per year in minutes; 60-minute hours) -------------------------------------
    g.tick(at(8, 19, 9))
    v1 = HoursByCompetence(miljoterapeut=22800)  # 380 h x 60 = 22800 min/year (PPT tilråding)
    v2 = HoursByCompetence(miljoterapeut=4560, assistant=11400)  # 76 h and 190 h
    v3 = HoursByCompetence(teacher=6000, miljoterapeut=12000)  # 100 h and 200 h
    v4 = HoursByCompetence(miljoterapeut=6840)  # 114 h
    for key, student, kind, hours in (
        ("V1", "S1", ITO, v1),
        ("V2", "S2", ASSISTANCE, v2),
        ("V3", "S3", ITO, v3),
        ("V4", "S4", ITO, v4),
    ):
        vedtak = m.open_vedtak(SPED_LEAD, g.s[student], kind=kind)
        g.v[key] = vedtak
        if kind == ITO:
            m.record_recommendation(
                SPED_LEAD, vedtak, recommended_on=VALID_FROM, hours=hours, summary="Tilråding"
            )
        m.decide_vedtak(
            REKTOR,
            vedtak,
            hours=hours,
            organisation="I klassen og i smågruppe",
            content="Miljøterapeutisk oppfølging",
            reasons="Sakkyndig vurdering",
            valid_from=VALID_FROM,
            valid_to=VALID_TO,
        )
    # -- assignments (minutes per week) ----------------------------------------------------------
    g.tick(at(8, 19, 10))
    g.assign("a1", "gj-mt2", "student", 300, student="S1", vedtak="V1", valid_to=VALID_TO)
    g.assign("a2", "gj-mt3", "student", 200, student="S1", vedtak="V1", valid_to=VALID_TO)
    g.assign("a3", "gj-mt4", "student", 120, student="S2", vedtak="V2", valid_to=VALID_TO)
    g.assign("a4", "gj-as1", "student", 250, student="S2", vedtak="V2", valid_to=VALID_TO)
    g.assign("a5", "gj-as4", "student", 150, student="S2", vedtak="V2", valid_to=VALID_TO)
    g.assign("a6", "gj-mt5", "student", 400, student="S3", vedtak="V3", valid_to=VALID_TO)
    g.assign("a7", "gj-mt6", "student", 180, student="S4", vedtak="V4", valid_to=VALID_TO)
    g.assign("a8", "gj-mt6", "class", 240, trinn=8, class_name="8b")
    g.assign("a9", "gj-mt7", "class", 600, trinn=9, class_name="9a")
    g.assign("a10", "gj-as2", "class", 200, trinn=10, class_name="10c", valid_to=date(2024, 9, 6))
    g.assign("a11", "gj-as2", "class", 350, trinn=10, class_name="10c", valid_from=date(2024, 9, 9))
    g.assign("a12", "gj-mt3", "class", 150, trinn=8, class_name="8d", valid_from=date(2024, 10, 1))
    g.assign("a13", "gj-as5", "class", 600, trinn=10, class_name="10b")
    g.assign("a14", "gj-as3", "class", 300, trinn=8, class_name="8c")
    g.assign("a15", "gj-mt7", "trinn", 400, trinn=10)
    g.assign("a16", "gj-mt1", "trinn", 712, trinn=9)
    g.assign("a17", "gj-as3", "trinn", 225, trinn=8)
    g.assign("a18", "gj-mt1", "school", 1200)
    g.assign("a19", "gj-mt7", "school", 1000)
    g.assign("a20", "gj-mt5", "school", 500)
    # -- consents, plans, concerns, observations -------------------------------------------------
    g.tick(at(8, 19, 11))
    g.k["S2 arbeidslag"] = m.record_consent(
        COORDINATOR,
        g.s["S2"],
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=VALID_FROM,
        valid_to=date(2025, 6, 30),
    )
    for key, student, kind, scope in (
        ("S7 barnevern", "S7", "body", "barnevern"),
        ("S7 ppt", "S7", "body", "ppt"),
        ("S1 arbeidslag", "S1", "meeting_kind", "arbeidslag"),
    ):
        g.k[key] = m.record_consent(
            COORDINATOR,
            g.s[student],
            giver="guardian",
            scope_kind=kind,
            scope=scope,
            valid_from=VALID_FROM,
        )
    for key, student, evaluation in (
        ("P1", "S7", date(2024, 9, 20)),
        ("P2", "S1", date(2024, 10, 15)),
        ("P3", "S2", date(2024, 9, 10)),
        ("P4", "S3", date(2024, 9, 6)),
        ("P5", "S5", date(2024, 9, 9)),
        ("P6", "S1", date(2024, 9, 16)),
    ):
        g.p[key] = m.create_aktivitetsplan(
            COORDINATOR,
            g.s[student],
            problem="Utrygt skolemiljø",
            measures=["Fast voksen i friminuttene"],
            when="Fra neste uke",
            responsible="gj-mt1",
            evaluation_date=evaluation,
        )
    g.tick(at(8, 20))
    g.c["C3"] = m.raise_concern(TEACHER, g.s["S7"], summary="Mye fravær")
    g.o["O_a"] = m.record_observation(
        THERAPIST, g.s["S1"], arena="break", categories=["conflict"], text="Krangel"
    )
    g.tick(at(8, 21))
    g.c["C5"] = m.raise_concern(TEACHER, g.s["S5"], summary="Trekker seg unna")
    g.tick(at(8, 22))
    g.c["C4"] = m.raise_concern(TEACHER, g.s["S6"], summary="Uro")
    # -- ressursteam R0, class change, referrals -------------------------------------------------
    g.tick(at(8, 22, 10))
    g.m["R0"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=at(8, 26, 12)
    )
    g.i["R0 trinn 8"] = m.add_agenda_item(
        SPED_LEAD, g.m["R0"], subject_kind="trinn", title="Gjennomgang 8. trinn", trinn=8
    )
    g.tick(at(8, 26, 14))
    m.record_meeting_held(SPED_LEAD, g.m["R0"])
    m.close_minutes(SPED_LEAD, g.m["R0"])
    m.change_class(ADMIN, g.s["S5"], trinn=8, class_name="8c")
    for key, student, body in (
        ("F2", "S3", "ppt"),
        ("F3", "S1", "barnevern"),
        ("F4", "S2", "ppt"),
        ("F5", "S6", "bup"),
    ):
        g.f[key] = m.make_referral(COORDINATOR, g.s[student], body=body, reason="Utredning")
    # -- 2024-09-02: a cancelled ressursteam; R1 planned; more referrals and plans --------------
    g.tick(at(9, 2))
    g.m["Rc"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=at(9, 2, 12)
    )
    g.i["Rc 9c"] = m.add_agenda_item(
        SPED_LEAD, g.m["Rc"], subject_kind="class", title="9c", trinn=9, class_name="9c"
    )
    m.cancel_meeting(SPED_LEAD, g.m["Rc"], reason="Planleggingsdag")
    g.m["R1"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=at(9, 9, 12)
    )
    g.f["F1"] = m.make_referral(COORDINATOR, g.s["S7"], body="bup", reason="Angst")
    g.c["C1"] = m.raise_concern(TEACHER, g.s["S1"], summary="Konflikter i friminutt")
    m.close_aktivitetsplan(COORDINATOR, g.s["S2"], plan_id=g.p["P3"], reason="Løst")
    m.change_referral_status(
        COORDINATOR, g.s["S1"], referral_id=g.f["F3"], status="rejected", on=date(2024, 9, 2)
    )
    g.tick(at(9, 5))
    for referral, student, status, day in (
        ("F2", "S3", "acknowledged", 3),
        ("F2", "S3", "accepted", 5),
        ("F4", "S2", "acknowledged", 3),
        ("F4", "S2", "accepted", 4),
        ("F4", "S2", "closed", 5),
    ):
        m.change_referral_status(
            COORDINATOR,
            g.s[student],
            referral_id=g.f[referral],
            status=status,
            on=date(2024, 9, day),
        )
    g.f["F6"] = m.make_referral(COORDINATOR, g.s["S5"], body="familievern", reason="Samtaler")
    g.tick(at(9, 6, 10))
    m.evaluate_aktivitetsplan(
        COORDINATOR,
        g.s["S3"],
        plan_id=g.p["P4"],
        assessment="Delvis bedre",
        next_evaluation_date=date(2024, 9, 23),
        evaluated_on=date(2024, 9, 6),
    )
    # -- arbeidslag A1 (barnevern + PPT), named items covered by consent when added ---------
    g.m["A1"] = m.schedule_meeting(COORDINATOR, school=GJ, kind="arbeidslag", scheduled_at=A1_AT)
    m.add_external_participant(COORDINATOR, g.m["A1"], body="barnevern")
    m.add_external_participant(COORDINATOR, g.m["A1"], body="ppt")
    for key, student in (("A1 S2", "S2"), ("A1 S7", "S7"), ("A1 S1", "S1")):
        g.i[key] = m.add_agenda_item(
            SPED_LEAD, g.m["A1"], subject_kind="student", title="Sak", student_id=g.s[student]
        )
    g.i["A1 anonymous"] = m.add_agenda_item(
        SPED_LEAD, g.m["A1"], subject_kind="student", title="Anonym sak", anonymous=True, trinn=10
    )
    g.i["A1 theme"] = m.add_agenda_item(
        SPED_LEAD, g.m["A1"], subject_kind="theme", title="Samarbeidsrutiner"
    )
    # -- 2024-09-09: R1 held at 13:00 ----------------------------------------------------------
    g.tick(at(9, 9, 9))
    m.evaluate_aktivitetsplan(
        COORDINATOR, g.s["S5"], plan_id=g.p["P5"], assessment="Ferdig vurdert"
    )  # no next evaluation date: never due
    g.tick(at(9, 9, 12, 10))
    g.i["R1 S1"] = m.add_agenda_item(
        SPED_LEAD,
        g.m["R1"],
        subject_kind="student",
        title="Sak",
        student_id=g.s["S1"],
        concern_id=g.c["C1"],
    )
    g.i["R1 8c"] = m.add_agenda_item(
        SPED_LEAD, g.m["R1"], subject_kind="class", title="Miljøet i 8c", trinn=8, class_name="8c"
    )
    g.i["R1 theme"] = m.add_agenda_item(
        SPED_LEAD, g.m["R1"], subject_kind="theme", title="Friminutt"
    )
    g.tick(at(9, 9, 12, 30))
    decisions: tuple[tuple[str, str, str, str | None, date | None], ...] = (
        ("D1", "R1 S1", "measure", "gj-mt2", date(2024, 9, 20)),
        ("D4", "R1 S1", "advice", None, None),
        ("D2", "R1 8c", "measure", "gj-mt3", date(2024, 9, 30)),
        ("D3", "R1 theme", "measure", "gj-mt1", date(2024, 9, 16)),
        ("D5", "R1 theme", "measure", "p-sped", date(2024, 9, 23)),
    )
    for key, item, outcome, responsible, due in decisions:
        g.d[key] = m.record_decision(
            SPED_LEAD,
            g.m["R1"],
            item_id=g.i[item],
            outcome=outcome,
            text="Vedtatt i møtet",
            responsible=responsible,
            due=due,
        )
    g.tick(R1_HELD)
    m.record_meeting_held(SPED_LEAD, g.m["R1"])  # held_at = recorded time = 13:00 (C1 discussed)
    # -- after R1: every event from here on is a change since the last ressursteam -------------
    g.tick(at(9, 9, 14))
    m.close_minutes(SPED_LEAD, g.m["R1"])  # Meeting.MinutesClosed
    g.tick(at(9, 10, 9))
    g.o["O_b"] = m.record_observation(
        THERAPIST, g.s["S1"], arena="break", categories=["conflict", "social"], text="Utestengt"
    )
    g.tick(at(9, 10, 9, 10))
    g.o["O_c"] = m.record_observation(  # observed before R1, recorded after it: counted
        THERAPIST,
        g.s["S3"],
        arena="classroom",
        categories=["absence"],
        text="Borte tre dager",
        observed_at=at(9, 5, 8),
    )
    g.tick(at(9, 10, 9, 20))
    g.o["O_d"] = m.record_observation(
        THERAPIST, g.s["S7"], arena="online", categories=["wellbeing"], text="Trist i chat"
    )
    g.tick(at(9, 10, 9, 30))
    g.o["O_e"] = m.record_observation(
        THERAPIST, g.s["S6"], arena="break", categories=["behaviour"], text="Slo"
    )
    g.tick(at(9, 11, 10))
    m.correct_observation(
        THERAPIST,
        g.s["S7"],
        corrects=g.o["O_d"],
        arena="online",
        categories=["wellbeing", "family"],
        text="Trist i chat om foreldrene",
        observed_at=at(9, 10, 9, 20),
        reason="Manglet kategori",
    )
    g.tick(at(9, 12, 10))
    m.record_departure(ADMIN, g.s["S6"], kind="left")  # Student.Departed + School.StudentDeparted
    g.tick(at(9, 13, 10))
    m.record_member_left(ADMIN, school=GJ, member_id="gj-as6", left_on=date(2024, 9, 13))
    g.tick(at(9, 16, 8))
    m.change_position(
        ADMIN,
        school=GJ,
        member_id="gj-as5",
        position_percent="30",
        effective_from=date(2024, 9, 16),
    )
    g.tick(at(9, 16, 8, 10))
    m.revoke_vedtak(
        REKTOR, g.v["V4"], reasons="Behovet er dekket på annen måte", revoked_on=date(2024, 9, 16)
    )
    g.tick(at(9, 16, 8, 20))
    m.end_assignment(
        COORDINATOR,
        school=GJ,
        assignment_id=g.a["a7"],
        ended_on=date(2024, 9, 15),
        reason="vedtak ended",
    )
    g.tick(at(9, 16, 8, 30))
    m.withdraw_consent(COORDINATOR, g.s["S7"], consent_id=g.k["S7 ppt"])
    g.tick(at(9, 16, 8, 40))
    m.withdraw_consent(COORDINATOR, g.s["S1"], consent_id=g.k["S1 arbeidslag"])
    g.tick(at(9, 17))
    m.complete_action(COORDINATOR, g.m["R1"], decision_id=g.d["D3"])
    g.tick(at(9, 18))
    g.c["C2"] = m.raise_concern(TEACHER, g.s["S3"], summary="Sover i timene")
    g.tick(at(9, 18, 9, 10))
    g.m["R2"] = m.schedule_meeting(COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=R2_AT)
    g.tick(at(9, 18, 9, 20))
    g.i["R2 S3"] = m.add_agenda_item(
        SPED_LEAD,
        g.m["R2"],
        subject_kind="student",
        title="Sak",
        student_id=g.s["S3"],
        concern_id=g.c["C2"],
    )
    g.i["R2 9b"] = m.add_agenda_item(
        SPED_LEAD, g.m["R2"], subject_kind="class", title="9b", trinn=9, class_name="9b"
    )
    g.i["R2 trinn 10"] = m.add_agenda_item(
        SPED_LEAD, g.m["R2"], subject_kind="trinn", title="10. trinn", trinn=10
    )
    g.i["R2 anonymous"] = m.add_agenda_item(
        SPED_LEAD, g.m["R2"], subject_kind="student", title="Anonym", anonymous=True, trinn=9
    )
    g.tick(at(9, 23, 10))  # the day of the overview
    return g


@pytest.fixture(scope="module", params=STORE_KINDS)
def gjesdal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gjesdal]:
    clock = FakeClock()
    with opened_store_of_kind(request.param, request, tmp_path_factory, clock) as miljo:
        yield build(miljo, clock)


def overview_of(g: Gjesdal, *, trinn: int | None = None, on: date | None = None) -> Overview:
    return g.miljo.overview(COORDINATOR, school=GJ, trinn=trinn, on=on)


def member(
    member_id: str, profession: str, capacity: int, allocated: int, *, coordinator: bool = False
) -> MemberLine:
    return MemberLine(
        member_id=member_id,
        profession=profession,
        coordinator=coordinator,
        capacity=capacity,
        allocated=allocated,
    )


# ---------------------------------------------------------------------------------------------
# Hours: vedtak, classes, trinn, school-wide
# ---------------------------------------------------------------------------------------------


def test_vedtak_lines_granted_per_week_allocated_and_gap(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    assert ov.on == OVERVIEW_DAY  # today by the store's clock
    lines = {line.vedtak_id: line for line in ov.vedtak_lines}
    # V4 is revoked from 2024-09-16, so it is not in force on 2024-09-23.
    assert set(lines) == {g.v["V1"], g.v["V2"], g.v["V3"]}

    v1 = lines[g.v["V1"]]
    # 22800 min/year / 38 weeks = 600 min/week (exact)
    assert v1.granted_per_week == HoursByCompetence(miljoterapeut=600)
    assert v1.allocated_miljoterapeut == 500  # a1 300 (gj-mt2) + a2 200 (gj-mt3)
    assert v1.allocated_assistant == 0
    assert v1.gap_miljoterapeut == -100  # 500 - 600: under-allocated
    assert v1.gap_assistant == 0
    assert (v1.student_id, v1.kind) == (g.s["S1"], ITO)

    v2 = lines[g.v["V2"]]
    # 4560 / 38 = 120 (exact); 11400 / 38 = 300 (exact)
    assert v2.granted_per_week == HoursByCompetence(miljoterapeut=120, assistant=300)
    assert v2.allocated_miljoterapeut == 120  # a3 (gj-mt4, vernepleier)
    assert v2.allocated_assistant == 400  # a4 250 (assistent) + a5 150 (fagarbeider)
    assert v2.gap_miljoterapeut == 0
    assert v2.gap_assistant == 100  # 400 - 300: over-allocated
    assert (v2.student_id, v2.kind) == (g.s["S2"], ASSISTANCE)

    v3 = lines[g.v["V3"]]
    # 6000 / 38 = 157.89 -> 157 (rounded down); 12000 / 38 = 315.79 -> 315
    assert v3.granted_per_week == HoursByCompetence(teacher=157, miljoterapeut=315)
    assert v3.allocated_miljoterapeut == 400  # a6 (gj-mt5)
    assert v3.allocated_assistant == 0
    assert v3.gap_miljoterapeut == 85  # 400 - 315: over-allocated
    assert v3.gap_assistant == 0


def test_class_and_trinn_minutes(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    assert [t.trinn for t in ov.trinn_lines] == [8, 9, 10]
    classes = {c.class_name: c for t in ov.trinn_lines for c in t.classes}
    assert list(classes) == [f"{t}{x}" for t in (8, 9, 10) for x in "abcd"]
    # class -> (students, with vedtak, class minutes, student minutes, staff minutes)
    expected = {
        "8a": (1, 1, 0, 500, 500),  # S1; a1 300 + a2 200 under V1
        "8b": (0, 0, 240, 0, 240),  # a8
        "8c": (2, 1, 300, 520, 820),  # S2 + S5 (moved from 8d); a14 300; a3 120 + a4 250 + a5 150
        "8d": (0, 0, 0, 0, 0),  # a12 (150) starts 2024-10-01
        "9a": (0, 0, 600, 0, 600),  # a9
        "9b": (1, 1, 0, 400, 400),  # S3 (S6 left); a6 400 under V3
        "9c": (0, 0, 0, 0, 0),
        "9d": (0, 0, 0, 0, 0),
        "10a": (1, 0, 0, 0, 0),  # S7, no vedtak
        "10b": (0, 0, 600, 0, 600),  # a13
        "10c": (0, 0, 350, 0, 350),  # a11 350 from 2024-09-09; a10 (200) ended 2024-09-06
        "10d": (1, 0, 0, 0, 0),  # S4: V4 revoked, a7 ended 2024-09-15
    }
    actual = {
        name: (
            c.students,
            c.students_with_vedtak,
            c.class_minutes,
            c.student_minutes,
            c.staff_minutes,
        )
        for name, c in classes.items()
    }
    assert actual == expected
    assert [v.vedtak_id for v in classes["8a"].vedtak] == [g.v["V1"]]
    assert [v.vedtak_id for v in classes["8c"].vedtak] == [g.v["V2"]]
    assert [v.vedtak_id for v in classes["9b"].vedtak] == [g.v["V3"]]
    assert classes["10d"].vedtak == []
    trinn = {t.trinn: (t.trinn_minutes, t.staff_minutes) for t in ov.trinn_lines}
    assert trinn == {
        8: (225, 1785),  # a17 225; 225 + 500 + 240 + 820 + 0 = 1785
        9: (712, 1712),  # a16 712; 712 + 0 + 600 + 400 + 0 + 0 = 1712
        10: (400, 1350),  # a15 400; 400 + 0 + 600 + 350 + 0 = 1350
    }
    # a18 1200 + a19 1000 + a20 500 = 2700; Gjesdal has no SFO
    assert ov.school_wide_minutes == {"sfo": 0, "school": 2700}


def test_team_capacity_allocated_and_free(gjesdal: Gjesdal) -> None:
    ov = overview_of(gjesdal)
    # Capacity: 37.5 h = 2250 min/week; 85 % -> 1912.5 -> 1912; 100 % -> 2250; 60 % -> 1350;
    # 50 % -> 1125; gj-as5 at 30 % from 2024-09-16 -> 675. gj-as6 left 2024-09-13: not listed.
    assert ov.team == [
        member("gj-as1", "assistent", 1350, 250),  # a4
        member("gj-as2", "assistent", 1350, 350),  # a11 (a10 ended)
        member("gj-as3", "assistent", 1125, 525),  # a14 300 + a17 225
        member("gj-as4", "fagarbeider", 1125, 150),  # a5
        member("gj-as5", "assistent", 675, 600),  # a13
        member("gj-mt1", "vernepleier", 1912, 1912, coordinator=True),  # a16 712 + a18 1200
        member("gj-mt2", "barnevernspedagog", 1912, 300),  # a1
        member("gj-mt3", "sosionom", 1912, 200),  # a2 (a12 not started)
        member("gj-mt4", "vernepleier", 1912, 120),  # a3
        member("gj-mt5", "barnevernspedagog", 1912, 900),  # a6 400 + a20 500
        member("gj-mt6", "sosionom", 1912, 240),  # a8 (a7 ended)
        member("gj-mt7", "vernepleier", 2250, 2000),  # a9 600 + a15 400 + a19 1000
    ]
    free = {line.member_id: line.free for line in ov.team}
    assert free == {
        "gj-as1": 1100,  # 1350 - 250
        "gj-as2": 1000,  # 1350 - 350
        "gj-as3": 600,  # 1125 - 525
        "gj-as4": 975,  # 1125 - 150
        "gj-as5": 75,  # 675 - 600
        "gj-mt1": 0,  # 1912 - 1912
        "gj-mt2": 1612,  # 1912 - 300
        "gj-mt3": 1712,  # 1912 - 200
        "gj-mt4": 1792,  # 1912 - 120
        "gj-mt5": 1012,  # 1912 - 900
        "gj-mt6": 1672,  # 1912 - 240
        "gj-mt7": 250,  # 2250 - 2000
    }


def test_numbers_depend_on_the_day_asked_about(gjesdal: Gjesdal) -> None:
    """On 2024-09-13 V4 and its assignment a7 were still in force, gj-as6 was still in the
    team (last day) and gj-as5 still at 40 %."""
    g = gjesdal
    ov = overview_of(g, on=date(2024, 9, 13))
    assert ov.on == date(2024, 9, 13)
    lines = {line.vedtak_id: line for line in ov.vedtak_lines}
    assert set(lines) == {g.v["V1"], g.v["V2"], g.v["V3"], g.v["V4"]}
    v4 = lines[g.v["V4"]]
    assert v4.granted_per_week == HoursByCompetence(miljoterapeut=180)  # 6840 / 38 = 180
    assert (v4.allocated_miljoterapeut, v4.gap_miljoterapeut) == (180, 0)  # a7
    classes = {c.class_name: c for t in ov.trinn_lines for c in t.classes}
    assert (classes["10d"].students_with_vedtak, classes["10d"].staff_minutes) == (1, 180)
    assert classes["10c"].class_minutes == 350  # a11 from 2024-09-09; a10 ended 2024-09-06
    team = {line.member_id: line for line in ov.team}
    assert (team["gj-as5"].capacity, team["gj-as5"].free) == (900, 300)  # 40 %: 2250 x 0.4
    assert (team["gj-as6"].capacity, team["gj-as6"].allocated) == (900, 0)
    assert team["gj-mt6"].allocated == 420  # a7 180 + a8 240
    # nothing overdue yet: D1 is due 2024-09-20; no plan due by 2024-09-13
    assert [a.overdue for a in ov.open_actions] == [False, False, False]
    assert ov.plans_due == []
    # before the term: nobody assigned yet, no vedtak in force
    early = overview_of(g, on=date(2024, 8, 18))
    assert early.vedtak_lines == []
    assert early.school_wide_minutes == {"sfo": 0, "school": 0}
    assert all(line.allocated == 0 for line in early.team)


# ---------------------------------------------------------------------------------------------
# Meetings, actions, follow-up lists
# ---------------------------------------------------------------------------------------------


def test_last_ressursteam_and_pending_agenda(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    # R0 held 2024-08-26 14:00 and R1 held 2024-09-09 13:00: R1 is the last; Rc was cancelled.
    assert ov.last_ressursteam_at == R1_HELD

    def item(
        key: str,
        meeting: str,
        kind: str,
        subject: str,
        when: datetime,
        *,
        student: str | None = None,
        trinn: int | None = None,
        class_name: str | None = None,
    ) -> AgendaLine:
        return AgendaLine(
            item_id=g.i[key],
            meeting_id=g.m[meeting],
            meeting_kind=kind,
            scheduled_at=when,
            subject_kind=subject,
            student_id=None if student is None else g.s[student],
            trinn=trinn,
            class_name=class_name,
        )

    # Only meetings neither held nor cancelled (R2, A1); by meeting time, then item id.
    assert ov.pending_items == [
        item("R2 S3", "R2", "ressursteam", "student", R2_AT, student="S3"),
        item("R2 9b", "R2", "ressursteam", "class", R2_AT, trinn=9, class_name="9b"),
        item("R2 trinn 10", "R2", "ressursteam", "trinn", R2_AT, trinn=10),
        item("R2 anonymous", "R2", "ressursteam", "student", R2_AT, trinn=9),
        item("A1 S2", "A1", "arbeidslag", "student", A1_AT, student="S2"),
        item("A1 S7", "A1", "arbeidslag", "student", A1_AT, student="S7"),
        item("A1 S1", "A1", "arbeidslag", "student", A1_AT, student="S1"),
        item("A1 anonymous", "A1", "arbeidslag", "student", A1_AT, trinn=10),
        item("A1 theme", "A1", "arbeidslag", "theme", A1_AT),
    ]


def test_arbeidslag_consent_coverage(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    checks = {c.student_id: c for c in ov.arbeidslag_consent}
    assert set(checks) == {g.s["S2"], g.s["S7"], g.s["S1"]}  # named items only

    def check(student: str, item: str, missing: list[str]) -> ConsentCheck:
        return ConsentCheck(
            meeting_id=g.m["A1"],
            item_id=g.i[item],
            student_id=g.s[student],
            meeting_date=date(2024, 9, 30),
            bodies=["barnevern", "ppt"],
            missing=missing,
        )

    # S2: consent for arbeidslag meetings, valid to 2025-06-30 -> covered
    assert checks[g.s["S2"]] == check("S2", "A1 S2", [])
    assert checks[g.s["S2"]].covered
    # S7: consent for barnevern stands; the one for PPT was withdrawn on 2024-09-16
    assert checks[g.s["S7"]] == check("S7", "A1 S7", ["ppt"])
    # S1: the arbeidslag consent was withdrawn on 2024-09-16 -> nobody may hear the name
    assert checks[g.s["S1"]] == check("S1", "A1 S1", ["barnevern", "ppt"])
    assert not checks[g.s["S1"]].covered


def test_open_actions_and_overdue_flags(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    # D3 was completed on 2024-09-17; D4 is advice (no action). By due date:
    assert ov.open_actions == [
        # due 2024-09-20 < 2024-09-23: overdue
        ActionLine(g.d["D1"], g.m["R1"], g.s["S1"], "gj-mt2", date(2024, 9, 20), overdue=True),
        # due on the day itself: not overdue
        ActionLine(g.d["D5"], g.m["R1"], None, "p-sped", date(2024, 9, 23), overdue=False),
        ActionLine(g.d["D2"], g.m["R1"], None, "gj-mt3", date(2024, 9, 30), overdue=False),
    ]


def test_concerns_plans_and_referrals(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g)
    # C1 was discussed in R1; C4 belongs to S6, who left. By time raised:
    assert ov.open_concerns == [
        ConcernLine(g.c["C3"], g.s["S7"], at(8, 20)),
        ConcernLine(g.c["C5"], g.s["S5"], at(8, 21)),
        ConcernLine(g.c["C2"], g.s["S3"], at(9, 18)),
    ]
    # Open plans with next evaluation on or before 2024-09-23: P6 (09-16), P1 (09-20), P4 (09-23,
    # set when evaluated on 09-06). P2 is due 10-15, P3 closed, P5 has no next evaluation.
    assert ov.plans_due == [
        PlanLine(g.p["P6"], g.s["S1"], date(2024, 9, 16)),
        PlanLine(g.p["P1"], g.s["S7"], date(2024, 9, 20)),
        PlanLine(g.p["P4"], g.s["S3"], date(2024, 9, 23)),
    ]
    # Pending: sent, acknowledged or accepted. F3 rejected, F4 closed, F5 belongs to S6 (left).
    assert ov.pending_referrals == [
        ReferralLine(g.f["F2"], g.s["S3"], "ppt", "accepted", date(2024, 8, 26)),
        ReferralLine(g.f["F1"], g.s["S7"], "bup", "sent", date(2024, 9, 2)),
        ReferralLine(g.f["F6"], g.s["S5"], "familievern", "sent", date(2024, 9, 5)),
    ]


def test_observations_and_changes_since_the_last_ressursteam(gjesdal: Gjesdal) -> None:
    ov = overview_of(gjesdal)
    # Recorded after R1 (13:00 on 09-09), by active students: O_b (conflict, social),
    # O_c (absence; observed before R1), O_d corrected to (wellbeing, family). O_a was recorded
    # before R1; O_e is by S6, who has left.
    assert ov.observations_by_category == {
        "absence": 1,
        "conflict": 1,
        "family": 1,
        "social": 1,
        "wellbeing": 1,
    }
    # Every event at the school recorded after 13:00 on 09-09 (access-log reads excluded).
    # R1's own Held and ConcernDiscussed events are recorded at 13:00 exactly: not after.
    assert ov.changes_since_ressursteam == {
        "CaseFile.StreamLinked": 1,  # R2 linked to S3's case (named item)
        "Meeting.ActionCompleted": 1,  # D3
        "Meeting.AgendaItemAdded": 4,  # R2: S3, 9b, trinn 10, anonymous
        "Meeting.MinutesClosed": 1,  # R1
        "Meeting.Scheduled": 1,  # R2
        "School.StudentDeparted": 1,  # S6
        "Student.ConcernRaised": 1,  # C2
        "Student.ConsentWithdrawn": 2,  # S7 ppt, S1 arbeidslag
        "Student.Departed": 1,  # S6
        "Student.ObservationCorrected": 1,  # O_d
        "Student.ObservationRecorded": 4,  # O_b, O_c, O_d, O_e
        "Team.AssignmentEnded": 1,  # a7
        "Team.MemberLeft": 1,  # gj-as6
        "Team.PositionChanged": 1,  # gj-as5 to 30 %
        "Vedtak.Revoked": 1,  # V4
    }
    assert list(ov.changes_since_ressursteam) == sorted(ov.changes_since_ressursteam)


def test_reads_do_not_count_as_changes(gjesdal: Gjesdal) -> None:
    g = gjesdal
    before = overview_of(g).changes_since_ressursteam
    g.miljo.student_case(COORDINATOR, g.s["S1"], reason="ressursteam")
    g.miljo.history(COORDINATOR, g.s["S3"], reason="ressursteam")
    assert overview_of(g).changes_since_ressursteam == before


# ---------------------------------------------------------------------------------------------
# The trinn filter
# ---------------------------------------------------------------------------------------------


def test_trinn_8_filter(gjesdal: Gjesdal) -> None:
    g = gjesdal
    full = overview_of(g)
    ov = overview_of(g, trinn=8)
    assert ov.trinn == 8
    assert [t.trinn for t in ov.trinn_lines] == [8]
    assert ov.trinn_lines == [t for t in full.trinn_lines if t.trinn == 8]
    assert ov.trinn_lines[0].staff_minutes == 1785  # as in the whole-school overview
    assert {v.vedtak_id for v in ov.vedtak_lines} == {g.v["V1"], g.v["V2"]}
    # team, school-wide minutes and the change log are the school's, not filtered
    assert ov.team == full.team
    assert ov.school_wide_minutes == {"sfo": 0, "school": 2700}
    assert ov.changes_since_ressursteam == full.changes_since_ressursteam
    assert ov.last_ressursteam_at == R1_HELD
    # named items of trinn-8 students (S2, S1) and items without a trinn (A1 theme)
    assert [line.item_id for line in ov.pending_items] == [
        g.i["A1 S2"],
        g.i["A1 S1"],
        g.i["A1 theme"],
    ]
    assert {c.student_id: c.missing for c in ov.arbeidslag_consent} == {
        g.s["S2"]: [],
        g.s["S1"]: ["barnevern", "ppt"],
    }
    # D1 (S1), D5 (theme), D2 (class 8c)
    assert [a.decision_id for a in ov.open_actions] == [g.d["D1"], g.d["D5"], g.d["D2"]]
    assert ov.open_concerns == [ConcernLine(g.c["C5"], g.s["S5"], at(8, 21))]
    assert ov.plans_due == [PlanLine(g.p["P6"], g.s["S1"], date(2024, 9, 16))]
    assert ov.pending_referrals == [
        ReferralLine(g.f["F6"], g.s["S5"], "familievern", "sent", date(2024, 9, 5))
    ]
    assert ov.observations_by_category == {"conflict": 1, "social": 1}  # O_b (S1)


def test_trinn_9_filter(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g, trinn=9)
    assert [t.trinn for t in ov.trinn_lines] == [9]
    line = ov.trinn_lines[0]
    assert (line.trinn_minutes, line.staff_minutes) == (712, 1712)
    assert {v.vedtak_id for v in ov.vedtak_lines} == {g.v["V3"]}
    # R2: S3 (trinn 9), class 9b, anonymous item in trinn 9; A1: the theme item
    assert [item.item_id for item in ov.pending_items] == [
        g.i["R2 S3"],
        g.i["R2 9b"],
        g.i["R2 anonymous"],
        g.i["A1 theme"],
    ]
    assert ov.arbeidslag_consent == []
    assert ov.open_concerns == [ConcernLine(g.c["C2"], g.s["S3"], at(9, 18))]
    assert ov.plans_due == [PlanLine(g.p["P4"], g.s["S3"], date(2024, 9, 23))]
    assert ov.pending_referrals == [
        ReferralLine(g.f["F2"], g.s["S3"], "ppt", "accepted", date(2024, 8, 26))
    ]
    assert ov.observations_by_category == {"absence": 1}  # O_c (S3); O_e's S6 has left
    assert g.d["D5"] in [a.decision_id for a in ov.open_actions]  # theme: every trinn


def test_trinn_9_filter_leaves_out_actions_on_another_trinns_class(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g, trinn=9)
    assert [a.decision_id for a in ov.open_actions] == [g.d["D5"]]


def test_trinn_10_filter(gjesdal: Gjesdal) -> None:
    g = gjesdal
    ov = overview_of(g, trinn=10)
    classes = {c.class_name: c.staff_minutes for t in ov.trinn_lines for c in t.classes}
    assert classes == {"10a": 0, "10b": 600, "10c": 350, "10d": 0}
    assert ov.trinn_lines[0].staff_minutes == 1350  # 400 + 600 + 350
    assert ov.vedtak_lines == []  # V4 revoked
    assert [item.item_id for item in ov.pending_items] == [
        g.i["R2 trinn 10"],
        g.i["A1 S7"],
        g.i["A1 anonymous"],
        g.i["A1 theme"],
    ]
    assert {c.student_id: c.missing for c in ov.arbeidslag_consent} == {g.s["S7"]: ["ppt"]}
    assert ov.open_concerns == [ConcernLine(g.c["C3"], g.s["S7"], at(8, 20))]
    assert ov.plans_due == [PlanLine(g.p["P1"], g.s["S7"], date(2024, 9, 20))]
    assert ov.pending_referrals == [
        ReferralLine(g.f["F1"], g.s["S7"], "bup", "sent", date(2024, 9, 2))
    ]
    assert ov.observations_by_category == {"family": 1, "wellbeing": 1}  # O_d corrected


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("school", "trinn", "error"),
    [("nowhere", None, NotFound), (GJ, 14, InvalidValue), (GJ, 0, InvalidValue)],
)
def test_overview_refuses_unknown_school_and_bad_trinn(
    gjesdal: Gjesdal, school: str, trinn: int | None, error: type[Exception]
) -> None:
    # In the actor's scope (a school it names but the store does not hold is NotFound).
    actor: Actor = attrs.evolve(COORDINATOR, schools=COORDINATOR.schools | {school})
    with pytest.raises(error):
        gjesdal.miljo.overview(actor, school=school, trinn=trinn)


def test_vedtak_line_gap_properties_are_allocated_minus_granted() -> None:
    """The arithmetic of the line itself, on literal values."""
    line = VedtakLine(
        student_id=UUID(int=1),
        vedtak_id=UUID(int=2),
        kind=ITO,
        granted_per_week=HoursByCompetence(miljoterapeut=600, assistant=300),
        allocated_miljoterapeut=450,
        allocated_assistant=320,
    )
    assert (line.gap_miljoterapeut, line.gap_assistant) == (-150, 20)
