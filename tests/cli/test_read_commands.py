"""The read and store-maintenance commands: ``overview``, ``history``, ``audit access``,
``store rebuild`` and the view fields of ``store info``.

One small Gjesdal-like school is built through the facade once per session (fixed clock,
ids whose first eight characters differ, so the wall's id prefixes are unambiguous) and
copied for every test. The CLI then runs at ``MILJO_FAKE_NOW`` = Monday 2024-09-23.

The scenario (UTC; Oslo is UTC+2, so local dates equal the UTC dates below):

* 2024-08-19 school (trinn 8-10; classes 8a, 8b, 9a), team gj-mt1 (coordinator, 85 %),
  gj-mt2 (85 %), gj-as1 (assistant, 60 %); S1 and S2 in 8a, S3 in 9a; vedtak V1 for S1
  (miljøterapeut 380 h/year = 22800 min = 600 min/week) and V3 for S3 (assistant
  190 h/year = 11400 min = 300 min/week); assignments: gj-mt2 300 min to S1 under V1
  (5:00 short), gj-as1 400 min to S3 under V3 (1:40 over), gj-mt2 240 min to class 8b,
  gj-mt1 120 min to trinn 9, gj-mt1 600 min school-wide, gj-as1 300 min to SFO.
* 2024-08-20 an observation about S1 (conflict); 2024-08-22 concern C0 about S1.
* 2024-08-26 ressursteam R0 (C0 on the agenda; decisions D1 due 2024-09-16 and D2 due
  2024-09-30), held 14:00: everything later counts as "since the last ressursteam".
* 2024-09-02 concern C1 about S2; observations about S2 (social, bullying) and S1
  (conflict); referral of S3 to PPT; plans P1 (S1, evaluate 2024-09-20) and P2 (S2,
  2024-10-15); consents: S1 for arbeidslag meetings, S2 for barnevern and for PPT.
* 2024-09-03 arbeidslag A1 for 2024-09-30 with barnevern and PPT; S1 and S2 on it.
* 2024-09-10 S1's arbeidslag consent is withdrawn (A1 now lacks consent for S1);
  ressursteam R1 for 2024-09-24 with class 8a and an anonymous student on trinn 9.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
import pytest

from adapters.bootstrap import StoreLocation, init_store, open_store, resolve_store
from cli import exit_codes
from domain.facade import Miljo
from domain.values import HoursByCompetence
from tests.cli.conftest import Cli
from tests.cli.test_cli_runner import (
    BOOL,
    DATE,
    ID,
    INSTANT,
    INT,
    MINUTES,
    STR,
    Kind,
    assert_schema,
    items,
    null,
)
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
NOW: Final = "2024-09-23T10:00:00+02:00"  # Monday: the overview's day
DAY: Final = "2024-09-23"
VALID_FROM: Final = date(2024, 8, 19)
VALID_TO: Final = date(2025, 6, 20)
NUMBERS: Final = {"S1": "GJ-101", "S2": "GJ-102", "S3": "GJ-103"}
NAMES: Final = {"S1": "Sølvi Prøvestad", "S2": "Ådne Testerud", "S3": "Kjærsti Eksempelhaug"}
PPT_REASON: Final = "Utredning av konsentrasjon"


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


class PrefixIds:
    """Deterministic uuid4-shaped ids whose first eight hex digits count up (00000001-...)."""

    def __init__(self) -> None:
        self.counter = 0

    def new_id(self) -> UUID:
        self.counter += 1
        return UUID(f"{self.counter:08x}-0000-4000-8000-{self.counter:012x}")


@attrs.frozen
class Scenario:
    """The ids the facade returned while building the school."""

    ids: dict[str, UUID]

    def __getitem__(self, key: str) -> UUID:
        return self.ids[key]

    def short(self, key: str) -> str:
        return str(self.ids[key])[:8]


def build(miljo: Miljo, clock: FakeClock) -> dict[str, UUID]:
    """The scenario of the module docstring, through the facade."""
    ids: dict[str, UUID] = {}
    m = miljo
    clock.current = at(8, 19, 8)
    m.register_school(ADMIN, code=GJ, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10)
    for trinn, class_name in ((8, "8a"), (8, "8b"), (9, "9a")):
        m.add_class(ADMIN, school=GJ, trinn=trinn, class_name=class_name)
    m.form_team(ADMIN, school=GJ, name="Miljøteamet")
    for member, profession, percent in (
        ("gj-mt1", "vernepleier", "85"),
        ("gj-mt2", "sosionom", "85"),
        ("gj-as1", "assistent", "60"),
    ):
        m.add_member(
            ADMIN,
            school=GJ,
            member_id=member,
            profession=profession,
            position_percent=percent,
            joined_on=date(2024, 8, 1),
        )
    m.appoint_coordinator(ADMIN, school=GJ, member_id="gj-mt1", effective_from=date(2024, 8, 1))
    for key, class_name in (("S1", "8a"), ("S2", "8a"), ("S3", "9a")):
        ids[key] = m.register_student(
            ADMIN,
            school=GJ,
            student_number=NUMBERS[key],
            name=NAMES[key],
            trinn=int(class_name[0]),
            class_name=class_name,
        )
    clock.current = at(8, 19, 9)
    for key, student, kind, hours in (
        ("V1", "S1", "individually_adapted_education", HoursByCompetence(miljoterapeut=22800)),
        ("V3", "S3", "personal_assistance", HoursByCompetence(assistant=11400)),
    ):
        ids[key] = m.open_vedtak(SPED_LEAD, ids[student], kind=kind)
        if kind == "individually_adapted_education":
            m.record_recommendation(
                SPED_LEAD, ids[key], recommended_on=VALID_FROM, hours=hours, summary="Tilråding"
            )
        m.decide_vedtak(
            REKTOR,
            ids[key],
            hours=hours,
            organisation="I klassen",
            content="Oppfølging",
            reasons="Sakkyndig vurdering",
            valid_from=VALID_FROM,
            valid_to=VALID_TO,
        )
    assignments: tuple[tuple[str, str, int, str | None, int | None, str | None], ...] = (
        ("gj-mt2", "student", 300, "1", None, None),
        ("gj-as1", "student", 400, "3", None, None),
        ("gj-mt2", "class", 240, None, 8, "8b"),
        ("gj-mt1", "trinn", 120, None, 9, None),
        ("gj-mt1", "school", 600, None, None, None),
        ("gj-as1", "sfo", 300, None, None, None),
    )
    for member, kind, minutes, number, level, target_class in assignments:
        m.assign(
            COORDINATOR,
            school=GJ,
            member_id=member,
            target_kind=kind,
            minutes_per_week=minutes,
            valid_from=VALID_FROM,
            valid_to=VALID_TO if number else None,
            student_id=ids[f"S{number}"] if number else None,
            vedtak_id=ids[f"V{number}"] if number else None,
            trinn=level,
            class_name=target_class,
        )
    clock.current = at(8, 20)
    ids["O0"] = m.record_observation(
        THERAPIST, ids["S1"], arena="break", categories=["conflict"], text="Krangel ved ballbingen"
    )
    clock.current = at(8, 22)
    ids["C0"] = m.raise_concern(TEACHER, ids["S1"], summary="Konflikter i friminutt")
    ids["R0"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=at(8, 26, 12)
    )
    ids["R0 S1"] = m.add_agenda_item(
        SPED_LEAD,
        ids["R0"],
        subject_kind="student",
        title="Sak",
        student_id=ids["S1"],
        concern_id=ids["C0"],
    )
    for key, responsible, due in (("D1", "gj-mt2", date(2024, 9, 16)), ("D2", "gj-mt1", None)):
        ids[key] = m.record_decision(
            SPED_LEAD,
            ids["R0"],
            item_id=ids["R0 S1"],
            outcome="measure",
            text="Fast voksen i friminutt",
            responsible=responsible,
            due=due or date(2024, 9, 30),
        )
    clock.current = at(8, 26, 14)
    m.record_meeting_held(SPED_LEAD, ids["R0"])
    clock.current = at(9, 2)
    ids["C1"] = m.raise_concern(TEACHER, ids["S2"], summary="Trekker seg unna")
    ids["O1"] = m.record_observation(
        THERAPIST, ids["S2"], arena="break", categories=["social", "bullying"], text="Alene"
    )
    ids["O2"] = m.record_observation(
        THERAPIST, ids["S1"], arena="classroom", categories=["conflict"], text="Uro i timen"
    )
    ids["F1"] = m.make_referral(COORDINATOR, ids["S3"], body="ppt", reason=PPT_REASON)
    for key, student, evaluation in (
        ("P1", "S1", date(2024, 9, 20)),
        ("P2", "S2", date(2024, 10, 15)),
    ):
        ids[key] = m.create_aktivitetsplan(
            COORDINATOR,
            ids[student],
            problem="Utrygt skolemiljø",
            measures=["Fast voksen i friminuttene"],
            when="Fra uke 36",
            responsible="gj-mt1",
            evaluation_date=evaluation,
        )
    ids["K1"] = m.record_consent(
        COORDINATOR,
        ids["S1"],
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=VALID_FROM,
    )
    for body in ("barnevern", "ppt"):
        m.record_consent(
            COORDINATOR,
            ids["S2"],
            giver="guardian",
            scope_kind="body",
            scope=body,
            valid_from=VALID_FROM,
        )
    clock.current = at(9, 3)
    ids["A1"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="arbeidslag", scheduled_at=at(9, 30, 12)
    )
    m.add_external_participant(COORDINATOR, ids["A1"], body="barnevern")
    m.add_external_participant(COORDINATOR, ids["A1"], body="ppt")
    for student in ("S1", "S2"):
        ids[f"A1 {student}"] = m.add_agenda_item(
            SPED_LEAD, ids["A1"], subject_kind="student", title="Sak", student_id=ids[student]
        )
    clock.current = at(9, 10)
    m.withdraw_consent(COORDINATOR, ids["S1"], consent_id=ids["K1"], withdrawn_on=date(2024, 9, 10))
    ids["R1"] = m.schedule_meeting(
        COORDINATOR, school=GJ, kind="ressursteam", scheduled_at=at(9, 24, 12)
    )
    ids["R1 8a"] = m.add_agenda_item(
        SPED_LEAD, ids["R1"], subject_kind="class", title="Miljøet i 8a", trinn=8, class_name="8a"
    )
    ids["R1 anon"] = m.add_agenda_item(
        SPED_LEAD, ids["R1"], subject_kind="student", title="En elev", anonymous=True, trinn=9
    )
    return ids


def build_store(location: StoreLocation) -> Scenario:
    """Initialise the store at ``location`` and build the scenario in it."""
    init_store(location)
    clock = FakeClock()
    miljo = open_store(location, clock=clock, ids=PrefixIds())
    try:
        return Scenario(build(miljo, clock))
    finally:
        miljo.close()


@pytest.fixture(scope="session")
def gjesdal_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    """The scenario's SQLite store folder (store file and keys), built once."""
    folder = tmp_path_factory.mktemp("gjesdal-read") / "store"
    return folder, build_store(resolve_store(folder / "miljo.sqlite"))


@attrs.define
class Gjesdal:
    cli: Cli
    ids: Scenario


@pytest.fixture
def gj(fresh: Cli, request: pytest.FixtureRequest) -> Gjesdal:
    """A CLI on the scenario's store, at MILJO_FAKE_NOW = 2024-09-23 10:00 (Oslo): a copy of
    the SQLite template, or built in the test's PostgreSQL schema (the same ids and times)."""
    cli = fresh
    scenario: Scenario
    if cli.backend == "sqlite":
        folder, scenario = request.getfixturevalue("gjesdal_template")
        shutil.copytree(folder, cli.store.parent)
    else:
        scenario = build_store(cli.location)
    cli.env["MILJO_FAKE_NOW"] = NOW
    # Sandnes is in the actor's scope but not in the store: asking for it is NOT_FOUND.
    cli.env["MILJO_ACTOR"] = "spesialpedagogisk_ansvarlig:p-sped@gjesdal,sandnes"
    return Gjesdal(cli, scenario)


#: The privacy officer (reads access logs) and the rektor (may export a case).
PVO: Final = {"MILJO_ACTOR": "auditor:p-pvo"}
RECTOR: Final = {"MILJO_ACTOR": "rektor:p-rektor@gjesdal"}
#: The store's administrator: the store commands are hers (policy row admin_store).
STORE_ADMIN: Final = {"MILJO_ACTOR": "admin:p-admin"}


def student(key: str) -> tuple[str, str, str]:
    return ("--school", GJ, NUMBERS[key])


# ---------------------------------------------------------------------------------------------
# The pinned --json schemas (keys and JSON types)
# ---------------------------------------------------------------------------------------------

OVERVIEW_VEDTAK = {
    "student_id": ID,
    "vedtak_id": ID,
    "kind": STR,
    "granted_minutes_per_week": MINUTES,
    "allocated_miljoterapeut_minutes_per_week": INT,
    "allocated_assistant_minutes_per_week": INT,
    "gap_miljoterapeut_minutes_per_week": INT,
    "gap_assistant_minutes_per_week": INT,
    "under_allocated": BOOL,
    "over_allocated": BOOL,
}
OVERVIEW_CLASS = {
    "trinn": INT,
    "class_name": STR,
    "students": INT,
    "students_with_vedtak": INT,
    "class_minutes_per_week": INT,
    "student_minutes_per_week": INT,
    "staff_minutes_per_week": INT,
    "vedtak": OVERVIEW_VEDTAK,
}
OVERVIEW = {
    "school": STR,
    "on": DATE,
    "trinn": null(INT),
    "last_ressursteam_at": null(INSTANT),
    "trinn_lines": {
        "trinn": INT,
        "students": INT,
        "students_with_vedtak": INT,
        "trinn_minutes_per_week": INT,
        "staff_minutes_per_week": INT,
        "classes": OVERVIEW_CLASS,
    },
    "sfo_minutes_per_week": INT,
    "school_minutes_per_week": INT,
    "staff_minutes_per_week": INT,
    "team": {
        "member_id": STR,
        "profession": STR,
        "coordinator": BOOL,
        "capacity_minutes_per_week": INT,
        "allocated_minutes_per_week": INT,
        "free_minutes_per_week": INT,
        "over_allocated": BOOL,
    },
    "pending_items": {
        "item_id": ID,
        "meeting_id": ID,
        "meeting_kind": STR,
        "scheduled_at": INSTANT,
        "subject_kind": STR,
        "student_id": null(ID),
        "trinn": null(INT),
        "class_name": null(STR),
    },
    "open_concerns": {"concern_id": ID, "student_id": ID, "raised_at": INSTANT},
    "open_actions": {
        "decision_id": ID,
        "meeting_id": ID,
        "student_id": null(ID),
        "responsible": STR,
        "due": DATE,
        "overdue": BOOL,
    },
    "plans_due": {"plan_id": ID, "student_id": ID, "evaluation_date": DATE},
    "pending_referrals": {
        "referral_id": ID,
        "student_id": ID,
        "body": STR,
        "status": STR,
        "made_on": DATE,
    },
    "observations_since_ressursteam": {"category": STR, "count": INT},
    "arbeidslag_consent": {
        "meeting_id": ID,
        "item_id": ID,
        "student_id": ID,
        "meeting_date": DATE,
        "bodies": items(STR),
        "missing": items(STR),
        "covered": BOOL,
    },
    "changes_since_ressursteam": {"event_type": STR, "count": INT},
}
HISTORY_ENTRY = {
    "position": INT,
    "stream_id": ID,
    "version": INT,
    "event_type": STR,
    "recorded_at": INSTANT,
    "effective": STR,
    "actor_id": STR,
    "actor_role": STR,
    "summary": STR,
}
CONSENT = {
    "consent_id": ID,
    "giver": STR,
    "scope_kind": STR,
    "scope": STR,
    "valid_from": DATE,
    "valid_to": null(DATE),
    "note": null(STR),
    "recorded_at": INSTANT,
    "recorded_by": STR,
    "withdrawn_on": null(DATE),
}
REFERRAL = {
    "referral_id": ID,
    "body": STR,
    "reason": STR,
    "made_on": DATE,
    "made_by": STR,
    "status": STR,
    "status_changed_on": DATE,
}
PLAN = {
    "plan_id": ID,
    "problem": STR,
    "measures": items(STR),
    "when": STR,
    "responsible": STR,
    "evaluation_date": null(DATE),
    "created_at": INSTANT,
    "created_by": STR,
    "last_evaluated_on": null(DATE),
    "closed_on": null(DATE),
    "close_reason": null(STR),
}
HISTORY_STATE = {
    "trinn": INT,
    "class_name": STR,
    "is_active": BOOL,
    "observation_count": INT,
    "concern_count": INT,
    "consents": CONSENT,
    "referrals": REFERRAL,
    "plans": PLAN,
    "version": INT,
}


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


HISTORY = {
    "student_id": ID,
    "school_code": STR,
    "as_of": null(INSTANT),
    "entries": HISTORY_ENTRY,
    "state": Kind("null", lambda v: v is None),  # without --as-of
}
ACCESS = {
    "student_id": ID,
    "school_code": STR,
    "reads": {
        "read_at": INSTANT,
        "reader_id": STR,
        "reader_role": STR,
        "what": STR,
        "break_glass": BOOL,
        "reason": null(STR),
    },
}
STORE_INFO = {
    "path": STR,
    "size_bytes": INT,
    "event_count": INT,
    "keys_dir": null(STR),
    "keys_present": BOOL,
    "view_position": INT,
    "views_behind": BOOL,
}
STORE_REBUILD = {"action": STR, "id": null(ID), "events_replayed": INT, "view_position": INT}


# ---------------------------------------------------------------------------------------------
# overview
# ---------------------------------------------------------------------------------------------


def test_overview_json_schema_and_numbers(gj: Gjesdal) -> None:
    ids = gj.ids
    document = gj.cli.json("overview", "--school", GJ)
    assert_schema(document, OVERVIEW)
    assert (document["school"], document["on"], document["trinn"]) == (GJ, DAY, None)
    assert document["last_ressursteam_at"] == "2024-08-26T14:00:00+00:00"
    trinns = {t["trinn"]: t for t in document["trinn_lines"]}
    assert sorted(trinns) == [8, 9]  # trinn 10 has no class and no student
    eight = trinns[8]
    assert (eight["students"], eight["students_with_vedtak"]) == (2, 1)
    assert (eight["trinn_minutes_per_week"], eight["staff_minutes_per_week"]) == (0, 540)
    classes = {c["class_name"]: c for c in eight["classes"]}
    assert classes["8a"]["student_minutes_per_week"] == 300
    assert classes["8b"]["class_minutes_per_week"] == 240
    [v1] = classes["8a"]["vedtak"]
    assert v1["vedtak_id"] == str(ids["V1"])
    assert v1["student_id"] == str(ids["S1"])
    assert v1["granted_minutes_per_week"]["miljoterapeut"] == 600  # 22800 / 38
    assert v1["allocated_miljoterapeut_minutes_per_week"] == 300
    assert v1["gap_miljoterapeut_minutes_per_week"] == -300
    assert (v1["under_allocated"], v1["over_allocated"]) == (True, False)
    nine = trinns[9]
    assert (nine["trinn_minutes_per_week"], nine["staff_minutes_per_week"]) == (120, 520)
    [v3] = nine["classes"][0]["vedtak"]
    assert v3["granted_minutes_per_week"]["assistant"] == 300  # 11400 / 38
    assert v3["gap_assistant_minutes_per_week"] == 100
    assert (v3["under_allocated"], v3["over_allocated"]) == (False, True)
    assert (document["sfo_minutes_per_week"], document["school_minutes_per_week"]) == (300, 600)
    assert document["staff_minutes_per_week"] == 540 + 520 + 300 + 600
    team = {m["member_id"]: m for m in document["team"]}
    assert team["gj-mt1"]["coordinator"] is True
    assert team["gj-mt1"]["capacity_minutes_per_week"] == 1912  # 85 % of 2250, rounded down
    assert team["gj-mt1"]["allocated_minutes_per_week"] == 720
    assert team["gj-mt1"]["free_minutes_per_week"] == 1192
    assert team["gj-as1"]["free_minutes_per_week"] == 1350 - 700
    assert sum(m["allocated_minutes_per_week"] for m in team.values()) == 1960  # = staff
    assert [i["item_id"] for i in document["pending_items"]] == [
        str(ids["R1 8a"]),
        str(ids["R1 anon"]),
        str(ids["A1 S1"]),
        str(ids["A1 S2"]),
    ]
    assert document["pending_items"][1]["student_id"] is None  # anonymous
    assert [c["concern_id"] for c in document["open_concerns"]] == [str(ids["C1"])]
    actions = {a["decision_id"]: a["overdue"] for a in document["open_actions"]}
    assert actions == {str(ids["D1"]): True, str(ids["D2"]): False}
    assert [p["plan_id"] for p in document["plans_due"]] == [str(ids["P1"])]
    [referral] = document["pending_referrals"]
    assert (referral["referral_id"], referral["body"], referral["status"]) == (
        str(ids["F1"]),
        "ppt",
        "sent",
    )
    counts = {c["category"]: c["count"] for c in document["observations_since_ressursteam"]}
    assert counts == {"bullying": 1, "conflict": 1, "social": 1}  # O0 was before R0
    consent = {c["student_id"]: c for c in document["arbeidslag_consent"]}
    assert consent[str(ids["S1"])]["missing"] == ["barnevern", "ppt"]
    assert consent[str(ids["S1"])]["covered"] is False
    assert consent[str(ids["S2"])]["covered"] is True
    assert consent[str(ids["S2"])]["bodies"] == ["barnevern", "ppt"]
    changes = {c["event_type"]: c["count"] for c in document["changes_since_ressursteam"]}
    assert changes["Student.ObservationRecorded"] == 2
    assert changes["Student.ConsentWithdrawn"] == 1
    assert "Meeting.Held" not in changes


def test_overview_text_is_for_the_wall(gj: Gjesdal) -> None:
    ids = gj.ids
    out = gj.cli.ok("overview", "--school", GJ).stdout
    assert "gjesdal, every trinn, on 2024-09-23" in out
    assert "Trinn 8: 2 students, 1 with vedtak, staff 9:00" in out
    vedtak_row = next(line for line in out.splitlines() if ids.short("V1") in line)
    assert ids.short("S1") in vedtak_row
    assert "10:00" in vedtak_row  # granted 600 min/week
    assert "5:00" in vedtak_row  # allocated 300
    assert "-5:00" in vedtak_row
    assert "UNDER miljøterapeut" in vedtak_row
    v3_row = next(line for line in out.splitlines() if ids.short("V3") in line)
    assert "+1:40" in v3_row
    assert "OVER assistant" in v3_row
    coordinator = next(line for line in out.splitlines() if "gj-mt1 *" in line)
    assert "31:52" in coordinator  # capacity 1912 min
    assert "19:52" in coordinator  # free 1192 min
    assert "sfo" in out
    assert "school-wide" in out
    overdue = next(line for line in out.splitlines() if ids.short("D1") in line)
    assert "OVERDUE" in overdue
    assert "OVERDUE" not in next(line for line in out.splitlines() if ids.short("D2") in line)
    consent = out.split("Arbeidslag consent")[1].split("\n\n")[0]
    s1_line = next(line for line in consent.splitlines() if ids.short("S1") in line)
    assert "MISSING barnevern, ppt" in s1_line
    assert "covered" in next(line for line in consent.splitlines() if ids.short("S2") in line)
    assert "anonymous on trinn 9" in out
    assert "Student.ConsentWithdrawn" in out
    for key in NAMES:  # the wall shows neither names nor student numbers nor full ids
        assert NAMES[key] not in out
        assert NUMBERS[key] not in out
        assert str(ids[key]) not in out
    assert PPT_REASON not in out


def test_overview_of_one_trinn_on_a_day(gj: Gjesdal) -> None:
    document = gj.cli.json("overview", "--school", GJ, "--trinn", "9", "--on", "2024-09-10")
    assert (document["trinn"], document["on"]) == (9, "2024-09-10")
    assert [t["trinn"] for t in document["trinn_lines"]] == [9]
    assert document["open_actions"] == []  # the actions concern S1 on trinn 8
    assert document["plans_due"] == []
    assert [r["student_id"] for r in document["pending_referrals"]] == [str(gj.ids["S3"])]
    before = gj.cli.json("overview", "--school", GJ, "--on", "2024-08-18")
    assert all(not c["vedtak"] for t in before["trinn_lines"] for c in t["classes"])
    assert before["staff_minutes_per_week"] == 0  # no assignment in force yet


def test_overview_is_not_a_case_read(gj: Gjesdal) -> None:
    gj.cli.ok("overview", "--school", GJ)
    assert gj.cli.json("audit", "access", *student("S1"), env=PVO)["reads"] == []


def test_overview_errors(gj: Gjesdal) -> None:
    cli = gj.cli
    assert "sandnes" in cli.fails(exit_codes.NOT_FOUND, "overview", "--school", "sandnes")
    assert "8-10" in cli.fails(exit_codes.USAGE_ERROR, "overview", "--school", GJ, "--trinn", "5")
    cli.fails(exit_codes.USAGE_ERROR, "overview", "--school", GJ, "--trinn", "14")
    cli.fails(exit_codes.USAGE_ERROR, "overview", "--school", GJ, "--trinn", "åtte")
    cli.fails(exit_codes.USAGE_ERROR, "overview", "--school", GJ, "--on", "23.09.2024")
    cli.fails(exit_codes.USAGE_ERROR, "overview")
    cli.fails(exit_codes.USAGE_ERROR, "overview", "--school", "Gjesdal skole")


# ---------------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------------


def test_history_json_schema(gj: Gjesdal) -> None:
    document = gj.cli.json("history", *student("S1"))
    assert_schema(document, HISTORY)
    assert (document["student_id"], document["school_code"]) == (str(gj.ids["S1"]), GJ)
    assert document["as_of"] is None
    positions = [e["position"] for e in document["entries"]]
    assert positions == sorted(positions)
    types = [e["event_type"] for e in document["entries"]]
    assert types[0] == "Student.Registered"
    assert "Vedtak.Decided" in types
    assert "Team.AssignmentMade" in types
    assert "Student.ConsentWithdrawn" in types
    assert not any(t.startswith("AccessLog.") for t in types)
    decided = next(e for e in document["entries"] if e["event_type"] == "Vedtak.Decided")
    assert (decided["actor_id"], decided["actor_role"]) == ("p-rektor", "rektor")
    assert decided["stream_id"] == str(gj.ids["V1"])


def test_history_as_of_shows_what_was_known_then(gj: Gjesdal) -> None:
    cli = gj.cli
    before = cli.json("history", *student("S1"), "--as-of", "2024-09-01T12:00:00+02:00")
    after = cli.json("history", *student("S1"), "--as-of", "2024-09-02T12:00:00+02:00")
    for document in (before, after):
        assert_schema(document, {**HISTORY, "state": Kind("object", _is_object)})
        assert_schema(document["state"], HISTORY_STATE)
    assert before["as_of"] == "2024-09-01T10:00:00+00:00"
    assert all(e["recorded_at"] <= "2024-09-01T10:00:00+00:00" for e in before["entries"])
    new = [e["event_type"] for e in after["entries"][len(before["entries"]) :]]
    assert "Student.ConsentRecorded" in new
    assert "Student.AktivitetsplanCreated" in new
    assert (before["state"]["observation_count"], after["state"]["observation_count"]) == (1, 2)
    assert before["state"]["consents"] == []
    [consent] = after["state"]["consents"]
    assert (consent["consent_id"], consent["withdrawn_on"]) == (str(gj.ids["K1"]), None)
    assert [p["plan_id"] for p in after["state"]["plans"]] == [str(gj.ids["P1"])]
    assert (after["state"]["class_name"], after["state"]["trinn"]) == ("8a", 8)
    now = cli.json("history", *student("S1"), "--as-of", NOW)
    assert now["state"]["consents"][0]["withdrawn_on"] == "2024-09-10"
    never = cli.json("history", *student("S1"), "--as-of", "2024-08-01T00:00:00+00:00")
    assert (never["entries"], never["state"]) == ([], None)


def test_history_as_of_sees_a_later_cli_write_only_after_it(gj: Gjesdal) -> None:
    cli = gj.cli
    later = {"MILJO_FAKE_NOW": "2024-09-23T12:00:00+02:00", "MILJO_ACTOR": "laerer:p-teach@gjesdal"}
    cli.ok("student", "concern", *student("S2"), "--summary", "Sliten i timene", env=later)
    text_before = cli.ok("history", *student("S2"), "--as-of", "2024-09-23T11:00:00+02:00").stdout
    text_after = cli.ok("history", *student("S2"), "--as-of", "2024-09-23T12:30:00+02:00").stdout
    assert "Student.ConcernRaised" in text_after
    assert (
        text_after.count("Student.ConcernRaised") == text_before.count("Student.ConcernRaised") + 1
    )
    assert "concerns:     1" in text_before
    assert "concerns:     2" in text_after
    assert "recorded up to 2024-09-23T11:00+02:00" in text_before


def test_history_text(gj: Gjesdal) -> None:
    out = gj.cli.ok("history", *student("S1")).stdout
    assert out.startswith(f"History of student {NUMBERS['S1']} at {GJ}: ")
    assert "position  recorded" in out
    assert "Student.ObservationRecorded" in out
    assert "2024-08-20T11:00+02:00" in out  # recorded 09:00 UTC, shown in school time
    assert "p-rektor" in out
    assert "Case as recorded" not in out  # only with --as-of
    assert NAMES["S1"] not in out
    assert "Krangel ved ballbingen" not in out  # summaries hold no personal text
    state = gj.cli.ok("history", *student("S3"), "--as-of", NOW).stdout
    assert "Case as recorded at 2024-09-23T10:00+02:00" in state
    assert "class:        9a (trinn 9)" in state
    assert "ppt" in state
    assert "sent" in state
    assert PPT_REASON not in state
    early = gj.cli.ok("history", *student("S3"), "--as-of", "2024-08-01T00:00:00+00:00").stdout
    assert "not registered yet" in early


def test_history_jsonl_is_the_documented_export(gj: Gjesdal) -> None:
    out = gj.cli.ok("history", *student("S3"), "--jsonl", "--reason", "innsyn", env=RECTOR).stdout
    lines = out.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == len(gj.cli.json("history", *student("S3"))["entries"])
    keys = {
        "position", "stream_id", "version", "type", "topic", "class_version", "recorded_at",
        "effective", "actor_id", "actor_role", "summary", "payload",
    }  # fmt: skip
    assert all(set(record) == keys for record in records)
    registered = records[0]
    assert registered["type"] == "Student.Registered"
    assert registered["payload"]["name"] == NAMES["S3"]  # the export is personal data
    referral = next(r for r in records if r["type"] == "Student.ReferralMade")
    assert referral["payload"]["reason"] == PPT_REASON
    positions = [r["position"] for r in records]
    assert positions == sorted(positions)
    reads = gj.cli.json("audit", "access", *student("S3"), env=PVO)["reads"]
    assert [(r["reader_id"], r["what"], r["reason"]) for r in reads] == [
        ("p-rektor", "export", "innsyn"),
        ("p-sped", "history", None),
    ]


def test_history_errors(gj: Gjesdal) -> None:
    cli = gj.cli
    assert "student not found" in cli.fails(exit_codes.NOT_FOUND, "history", "--school", GJ, "999")
    cli.fails(exit_codes.NOT_FOUND, "history", "--school", "sandnes", NUMBERS["S1"])
    cli.fails(
        exit_codes.USAGE_ERROR, "history", *student("S1"), "--as-of", "2024-09-01T12:00:00"
    )  # no offset
    cli.fails(exit_codes.USAGE_ERROR, "history", *student("S1"), "--as-of", "i går")
    assert "--jsonl" in cli.fails(
        exit_codes.USAGE_ERROR, "history", *student("S1"), "--jsonl", "--json"
    )
    assert "--as-of" in cli.fails(
        exit_codes.USAGE_ERROR, "history", *student("S1"), "--jsonl", "--as-of", NOW
    )
    cli.fails(exit_codes.USAGE_ERROR, "history", "--school", GJ)
    assert cli.json("audit", "access", *student("S1"), env=PVO)["reads"] == []  # nothing read


# ---------------------------------------------------------------------------------------------
# audit access
# ---------------------------------------------------------------------------------------------


def test_access_log_lists_history_and_show_reads(gj: Gjesdal) -> None:
    cli = gj.cli
    cli.ok(
        "student",
        "show",
        *student("S1"),
        "--reason",
        "ressursteam",
        env={"MILJO_ACTOR": "miljokoordinator:p-coord@gjesdal"},
    )
    cli.ok("history", *student("S1"), env={"MILJO_FAKE_NOW": "2024-09-23T11:00:00+02:00"})
    cli.ok("history", *student("S2"))  # another student's log
    cli.ok("overview", "--school", GJ)
    cli.ok(
        "student", "show", *student("S1"), "--reason", "innsynskrav fra foresatte",
        env={"MILJO_ACTOR": "admin:p-admin", "MILJO_FAKE_NOW": "2024-09-23T12:00:00+02:00"},
    )  # fmt: skip
    auditor = PVO
    document = cli.json("audit", "access", *student("S1"), env=auditor)
    assert_schema(document, ACCESS)
    assert (document["student_id"], document["school_code"]) == (str(gj.ids["S1"]), GJ)
    assert [
        (r["read_at"], r["reader_id"], r["reader_role"], r["what"], r["break_glass"])
        for r in document["reads"]
    ] == [
        ("2024-09-23T08:00:00+00:00", "p-coord", "miljokoordinator", "case", False),
        ("2024-09-23T09:00:00+00:00", "p-sped", "spesialpedagogisk_ansvarlig", "history", False),
        ("2024-09-23T10:00:00+00:00", "p-admin", "admin", "case", True),
    ]
    assert [r["reason"] for r in document["reads"]] == [
        "ressursteam",
        None,
        "innsynskrav fra foresatte",
    ]
    out = cli.ok("audit", "access", *student("S1"), env=auditor).stdout
    assert f"Reads of the case of student {NUMBERS['S1']} at {GJ}: 3" in out
    coordinator = next(line for line in out.splitlines() if "p-coord" in line)
    assert coordinator.split() == [
        "2024-09-23T10:00+02:00", "p-coord", "miljokoordinator", "case", "no", "ressursteam"
    ]  # fmt: skip
    admin = next(line for line in out.splitlines() if "p-admin" in line)
    assert "yes" in admin.split()  # the break-glass read stands out
    assert NAMES["S1"] not in out
    # Reading the access log is not itself a read of the case.
    assert len(cli.json("audit", "access", *student("S1"), env=auditor)["reads"]) == 3


def test_audit_access_errors(gj: Gjesdal) -> None:
    gj.cli.fails(exit_codes.NOT_FOUND, "audit", "access", "--school", GJ, "GJ-999", env=PVO)
    gj.cli.fails(exit_codes.USAGE_ERROR, "--as", "pvo", "audit", "access", *student("S1"))
    gj.cli.fails(exit_codes.USAGE_ERROR, "audit", "access", "--school", GJ, env=PVO)


@pytest.mark.parametrize(
    ("actor", "args"),
    [
        ("miljoterapeut:p-mt9@gjesdal", ("overview", "--school", GJ)),
        ("laerer:p-teach@gjesdal", ("audit", "access", "--school", GJ, NUMBERS["S1"])),
        ("miljokoordinator:p-coord@gjesdal", ("history", "--school", GJ, NUMBERS["S1"], "--jsonl")),
        ("admin:p-admin", ("history", "--school", GJ, NUMBERS["S1"])),  # break-glass, no reason
    ],
)
def test_reads_the_role_may_not_make_are_refused(
    gj: Gjesdal, actor: str, args: tuple[str, ...]
) -> None:
    line = gj.cli.fails(exit_codes.ACCESS_DENIED, *args, env={"MILJO_ACTOR": actor})
    assert line.startswith("miljo: error: access denied: role ")
    assert gj.cli.json("audit", "access", *student("S1"), env=PVO)["reads"] == []


# ---------------------------------------------------------------------------------------------
# store rebuild and store info
# ---------------------------------------------------------------------------------------------


def test_store_info_shows_the_view_position(gj: Gjesdal) -> None:
    cli = gj.cli
    info = cli.json("store", "info", env=STORE_ADMIN)
    assert_schema(info, STORE_INFO)
    assert info["event_count"] > 0
    assert (info["view_position"], info["views_behind"]) == (0, True)  # never read yet
    assert (
        f"at event 0 ({info['event_count']} behind)"
        in cli.ok("store", "info", env=STORE_ADMIN).stdout
    )
    cli.ok("overview", "--school", GJ)  # reading catches the views up
    caught_up = cli.json("store", "info", env=STORE_ADMIN)
    assert caught_up["view_position"] == caught_up["event_count"]
    assert caught_up["views_behind"] is False
    assert "behind" not in cli.ok("store", "info", env=STORE_ADMIN).stdout


def test_store_rebuild_replays_every_event(gj: Gjesdal) -> None:
    cli = gj.cli
    expected = cli.json("overview", "--school", GJ)
    events = cli.json("store", "info", env=STORE_ADMIN)["event_count"]
    document = cli.json("store", "rebuild", env=STORE_ADMIN)
    assert_schema(document, STORE_REBUILD)
    assert document == {
        "action": "store rebuild",
        "id": None,
        "events_replayed": events,
        "view_position": events,
    }
    # ok() also asserts stderr is empty: no progress bar
    result = cli.ok("store", "rebuild", env=STORE_ADMIN)
    assert result.stdout == (
        f"Rebuilt the read models: replayed {events} events (view position {events})\n"
    )
    assert cli.json("overview", "--school", GJ) == expected
    info = cli.json("store", "info", env=STORE_ADMIN)
    assert info["event_count"] == events  # nothing was written


def test_store_rebuild_progress_only_on_a_terminal(
    gj: Gjesdal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.store.stderr_is_terminal", lambda: True)
    result = gj.cli("store", "rebuild", env=STORE_ADMIN)
    assert result.exit_code == 0, result.stderr
    assert "Replaying events" in result.stderr
    assert "Rebuilt the read models" in result.stdout


def test_store_rebuild_of_an_empty_store(empty: Cli) -> None:
    assert empty.json("store", "rebuild", env=STORE_ADMIN)["events_replayed"] == 0
    memory = ("--store", ":memory:")
    assert empty.json(*memory, "store", "rebuild", env=STORE_ADMIN)["view_position"] == 0


def test_store_rebuild_needs_a_store(fresh: Cli) -> None:
    assert fresh.missing_store_says in fresh.fails(exit_codes.STORE_ERROR, "store", "rebuild")


# ---------------------------------------------------------------------------------------------
# The installed executable on a real store
# ---------------------------------------------------------------------------------------------

MILJO = Path(sys.executable).parent / "miljo"


@pytest.mark.skipif(not MILJO.exists(), reason="the miljo script is not installed")
def test_overview_json_from_the_installed_command(gj: Gjesdal) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILJO_", "_MILJO_"))}
    env.update(
        MILJO_STORE=gj.cli.store_argument,
        MILJO_KEYS_DIR=str(gj.cli.keys_dir),
        MILJO_ACTOR="miljokoordinator:p-coord@gjesdal,sandnes",  # sandnes: not in the store
        MILJO_FAKE_NOW=NOW,
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MILJO), *args],
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )

    done = run("overview", "--school", GJ, "--json")
    assert (done.returncode, done.stderr) == (exit_codes.OK, "")
    document: dict[str, Any] = json.loads(done.stdout)
    assert_schema(document, OVERVIEW)
    assert document["on"] == DAY
    assert document["staff_minutes_per_week"] == 1960
    rebuilt = run("--as", "admin:p-admin", "store", "rebuild")  # stderr is a pipe: no progress bar
    assert (rebuilt.returncode, rebuilt.stderr) == (exit_codes.OK, "")
    assert rebuilt.stdout.startswith("Rebuilt the read models: replayed ")
    missing = run("overview", "--school", "sandnes")
    assert missing.returncode == exit_codes.NOT_FOUND
    assert missing.stdout == ""
    assert missing.stderr.startswith("miljo: error: ")
    assert missing.stderr.count("\n") == 1
