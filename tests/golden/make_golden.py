"""Write golden files of stored events and snapshots, exactly as the store holds them.

Run once per schema generation, from the repository root::

    .venv/bin/python -m tests.golden.make_golden             # writes v1-events.jsonl, ...
    .venv/bin/python -m tests.golden.make_golden --label v2  # after a class_version bump

It runs a realistic scenario (Gjesdal ungdomsskole, invented pseudonymous students) through
the facade on an in-memory store with a fake clock, sequential ids and a fixed-key hasher,
then reads every stored event (``app.recorder.select_notifications``) and one snapshot per
aggregate kind. It REFUSES to overwrite existing files: golden files are never regenerated
(see README.md). ``tests/contract/test_golden_events.py`` loads every ``*-events.jsonl`` and
``*-snapshots.jsonl`` in this folder.

Line format (one JSON object per line)::

    {"topic": ..., "originator_id": ..., "originator_version": ..., "state": "<stored JSON>"}
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from adapters.bootstrap import open_store
from domain.application import MiljoApplication
from domain.base import MiljoAggregate
from domain.casefile import AccessLog, CaseFile, access_log_id, case_file_id
from domain.facade import Miljo
from domain.meeting import Meeting
from domain.school import School, school_id
from domain.student import Student
from domain.team import Team, team_id
from domain.values import HoursByCompetence
from domain.vedtak import Vedtak
from tests.support import (
    ADMIN,
    COORDINATOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    THERAPIST,
    FakeClock,
    SequentialIds,
    TestHasher,
)

GOLDEN_DIR: Final = Path(__file__).resolve().parent

#: Every aggregate kind whose stored events must stay readable.
AGGREGATES: Final[tuple[type[MiljoAggregate], ...]] = (
    School,
    Student,
    Vedtak,
    Team,
    Meeting,
    CaseFile,
    AccessLog,
)

#: A label names one generation of golden files: ``v1``, ``v2``, ``v2b`` ...
_LABEL = re.compile(r"^v[0-9]+[a-z0-9-]*$")

SCHOOL: Final = "gjesdal"


def event_classes(aggregate: type[MiljoAggregate]) -> list[type[MiljoAggregate.Event]]:
    """The aggregate's own event classes: nested, with a TOPIC registered for exactly that
    class, minus the base ``Event`` and the dead ``Created`` hook that the library requires
    but nothing triggers. (The library re-creates nested event classes as dataclasses, so the
    TOPIC sits on a base of the class found here.)"""
    found: list[type[MiljoAggregate.Event]] = []
    for name, value in vars(aggregate).items():
        if (
            isinstance(value, type)
            and issubclass(value, MiljoAggregate.Event)
            and name not in ("Event", "Created")
        ):
            topic = getattr(value, "TOPIC", None)
            if not isinstance(topic, str) or resolve_topic(topic) is not value:
                raise RuntimeError(f"{aggregate.__name__}.{name} has no topic of its own")
            found.append(value)
    return found


def all_event_classes() -> dict[str, type[MiljoAggregate.Event]]:
    """Every current event class of every aggregate, by topic."""
    return {topic_of(cls): cls for agg in AGGREGATES for cls in event_classes(agg)}


def topic_of(cls: type[Any]) -> str:
    """The explicit, stored topic of an aggregate or event class."""
    topic = getattr(cls, "TOPIC", None)
    if not isinstance(topic, str):
        raise RuntimeError(f"{cls.__qualname__} has no explicit topic")
    return topic


# ---------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------


def _at(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def run_scenario(miljo: Miljo, clock: FakeClock) -> dict[str, UUID]:
    """A school year's worth of records at Gjesdal ungdomsskole; returns one id per kind.

    Every event class of every aggregate is triggered at least once.
    """
    # -- school, classes, students ------------------------------------------------------------
    miljo.register_school(
        ADMIN, code=SCHOOL, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
    )
    for trinn, class_name in ((8, "8c"), (9, "9b"), (10, "10a")):
        miljo.add_class(ADMIN, school=SCHOOL, trinn=trinn, class_name=class_name)
    sunniva = miljo.register_student(
        ADMIN,
        school=SCHOOL,
        student_number="1001",
        name="Sunniva Prøvedal",
        trinn=8,
        class_name="8c",
    )
    tobias = miljo.register_student(
        ADMIN,
        school=SCHOOL,
        student_number="1002",
        name="Tobias Øvrebø-Testesen",
        trinn=9,
        class_name="9b",
    )
    aase = miljo.register_student(
        ADMIN,
        school=SCHOOL,
        student_number="1003",
        name="Åse Eksempelsen",
        trinn=10,
        class_name="10a",
        registered_on=date(2024, 8, 15),
    )

    # -- the miljø team ------------------------------------------------------------------------
    miljo.form_team(COORDINATOR, school=SCHOOL, name="Miljøteamet på Gjesdal")
    miljo.add_member(
        COORDINATOR,
        school=SCHOOL,
        member_id="mt-1",
        profession="barnevernspedagog",
        position_percent=85,
    )
    miljo.add_member(
        COORDINATOR,
        school=SCHOOL,
        member_id="mt-2",
        profession="vernepleier",
        position_percent="85.00",
    )
    miljo.add_member(
        COORDINATOR,
        school=SCHOOL,
        member_id="ass-1",
        profession="assistent",
        position_percent=100,
        joined_on=date(2024, 8, 12),
    )
    miljo.appoint_coordinator(COORDINATOR, school=SCHOOL, member_id="mt-1")
    miljo.change_position(
        COORDINATOR,
        school=SCHOOL,
        member_id="ass-1",
        position_percent="42.5",
        effective_from=date(2024, 9, 2),
    )

    # -- observations, concern, consents (Sunniva) ---------------------------------------------
    clock.advance(hours=3)
    observed = clock.advance(minutes=20)  # 11:20 UTC on the first school day
    first = miljo.record_observation(
        THERAPIST,
        sunniva,
        arena="break",
        categories=["conflict", "social"],
        text="Sunniva sto alene ved sykkelstativet hele storefri.",
        observed_at=_at(observed.date(), 9, 45),
        student_voice="Ingen vil være med meg.",
    )
    clock.advance(hours=1)
    miljo.record_observation(
        TEACHER,
        sunniva,
        arena="classroom",
        categories=["wellbeing"],
        text="Rolig time, jobbet godt sammen med sidemannen.",
    )
    clock.advance(hours=2)
    miljo.correct_observation(
        THERAPIST,
        sunniva,
        corrects=first,
        arena="break",
        categories=["social"],
        text="Sunniva sto alene ved sykkelstativet i første del av storefri.",
        observed_at=_at(observed.date(), 9, 45),
        reason="Feil varighet i første notat.",
    )
    concern = miljo.raise_concern(
        TEACHER, sunniva, summary="Gjentatt utenforskap i friminuttene siden skolestart."
    )
    miljo.record_consent(
        COORDINATOR,
        sunniva,
        giver="guardian",
        scope_kind="body",
        scope="barnevern",
        valid_from=date(2024, 8, 19),
        valid_to=date(2025, 6, 20),
        note="Mor samtykket muntlig på foreldremøte, bekreftet skriftlig.",
    )
    arbeidslag_consent = miljo.record_consent(
        COORDINATOR,
        sunniva,
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=date(2024, 8, 19),
    )

    # -- referral and aktivitetsplan -------------------------------------------------------------
    clock.advance(days=1)
    referral = miljo.make_referral(
        SPED_LEAD, sunniva, body="ppt", reason="Sakkyndig vurdering av behov for tilrettelegging."
    )
    clock.advance(days=2)
    miljo.change_referral_status(SPED_LEAD, sunniva, referral_id=referral, status="acknowledged")
    plan = miljo.create_aktivitetsplan(
        COORDINATOR,
        sunniva,
        problem="Sunniva opplever å bli holdt utenfor i friminuttene.",
        measures=["Voksen til stede ved sykkelstativet", "Organisert aktivitet i storefri"],
        when="Hver skoledag fra uke 35",
        responsible="mt-1",
        evaluation_date=date(2024, 9, 20),
    )

    # -- vedtak 1: individually adapted education, the full lifecycle ------------------------------
    vedtak = miljo.open_vedtak(SPED_LEAD, sunniva, kind="individually_adapted_education")
    clock.advance(days=4)  # Monday 2024-08-26
    recommended = HoursByCompetence.from_hours(miljoterapeut=380, special_ed_teacher=76)
    miljo.record_recommendation(
        SPED_LEAD,
        vedtak,
        recommended_on=date(2024, 8, 26),
        hours=recommended,
        summary="PPT tilrår miljøterapeut i friminutt og spesialpedagog to timer i uka.",
    )
    miljo.change_referral_status(SPED_LEAD, sunniva, referral_id=referral, status="accepted")
    clock.advance(days=7)  # Monday 2024-09-02
    miljo.decide_vedtak(
        REKTOR,
        vedtak,
        hours=HoursByCompetence.from_hours(miljoterapeut=342, special_ed_teacher=76),
        organisation="Miljøterapeut i friminutt, spesialpedagog i liten gruppe.",
        content="Tilrettelagt opplæring med vekt på sosial deltakelse.",
        reasons="Behovet er dokumentert i sakkyndig vurdering av 26. august.",
        deviation_reason="Skolen har organisert trivselsledere som dekker én time i uka.",
        valid_from=date(2024, 9, 2),
        valid_to=date(2025, 6, 20),
    )
    miljo.send_vedtak_notice(REKTOR, vedtak)
    miljo.record_delivery(
        COORDINATOR,
        vedtak,
        week_of=date(2024, 9, 2),
        minutes=HoursByCompetence(miljoterapeut=540, special_ed_teacher=120),
    )
    miljo.assign(
        COORDINATOR,
        school=SCHOOL,
        member_id="mt-2",
        target_kind="student",
        minutes_per_week=540,
        valid_from=date(2024, 9, 2),
        valid_to=date(2025, 6, 20),
        student_id=sunniva,
        vedtak_id=vedtak,
    )
    clock.advance(days=7)  # 2024-09-09
    miljo.correct_delivery(
        COORDINATOR,
        vedtak,
        week_of=date(2024, 9, 2),
        minutes=HoursByCompetence(miljoterapeut=480, special_ed_teacher=120),
        reason="Miljøterapeut var syk fredag.",
    )
    miljo.lodge_appeal(
        REKTOR, vedtak, grounds="Foreldrene mener timetallet er for lavt i forhold til tilrådingen."
    )
    clock.advance(days=14)  # 2024-09-23
    miljo.resolve_appeal(REKTOR, vedtak, outcome="changed", note="Timetallet settes som tilrådd.")
    miljo.amend_vedtak(
        REKTOR,
        vedtak,
        hours=recommended,
        organisation="Miljøterapeut i friminutt, spesialpedagog i liten gruppe.",
        content="Tilrettelagt opplæring med vekt på sosial deltakelse.",
        reasons="Endret etter klage: timetallet følger sakkyndig vurdering.",
        valid_to=date(2025, 6, 20),
    )
    miljo.evaluate_aktivitetsplan(
        COORDINATOR,
        sunniva,
        plan_id=plan,
        assessment="Bedre i storefri, fortsatt sårbar i lunsj.",
        next_evaluation_date=date(2024, 10, 18),
    )

    # -- meeting 1: ressursteam, held, closed, amended ---------------------------------------
    ressursteam = miljo.schedule_meeting(
        SPED_LEAD, school=SCHOOL, kind="ressursteam", scheduled_at=_at(date(2024, 9, 25), 12)
    )
    for person, role in (
        ("p-sped", "spesialpedagogisk_ansvarlig"),
        ("p-coord", "miljokoordinator"),
    ):
        miljo.add_participant(SPED_LEAD, ressursteam, person_id=person, role=role)
    item = miljo.add_agenda_item(
        SPED_LEAD,
        ressursteam,
        subject_kind="student",
        student_id=sunniva,
        concern_id=concern,
        title="Sunniva i 8c: utenforskap i friminutt",
    )
    class_item = miljo.add_agenda_item(
        SPED_LEAD,
        ressursteam,
        subject_kind="class",
        trinn=8,
        class_name="8c",
        title="Klassemiljøet i 8c etter skolestart",
    )
    clock.current = _at(date(2024, 9, 25), 13, 30)
    miljo.record_note(
        SPED_LEAD, ressursteam, item_id=item, text="Kontaktlærer melder om bedring i timene."
    )
    decision = miljo.record_decision(
        SPED_LEAD,
        ressursteam,
        item_id=item,
        outcome="measure",
        text="Miljøterapeut følger opp med ukentlig samtale.",
        responsible="mt-1",
        due=date(2024, 10, 9),
    )
    miljo.record_decision(
        SPED_LEAD,
        ressursteam,
        item_id=class_item,
        outcome="advice",
        text="Kontaktlærer bruker faste grupper i friminuttet.",
    )
    miljo.record_meeting_held(SPED_LEAD, ressursteam, held_at=_at(date(2024, 9, 25), 12))
    miljo.close_minutes(SPED_LEAD, ressursteam)
    clock.advance(days=1)
    miljo.amend_minutes(
        SPED_LEAD,
        ressursteam,
        item_id=item,
        text="Samtalen skal være på mandager.",
        reason="Dag manglet i referatet.",
    )
    clock.advance(days=6)  # 2024-10-02
    miljo.complete_action(SPED_LEAD, ressursteam, decision_id=decision)

    # -- meeting 2: arbeidslag with barnevern, cancelled -----------------------------------------
    arbeidslag = miljo.schedule_meeting(
        COORDINATOR, school=SCHOOL, kind="arbeidslag", scheduled_at=_at(date(2024, 10, 9), 12)
    )
    miljo.add_participant(COORDINATOR, arbeidslag, person_id="p-coord", role="miljokoordinator")
    miljo.add_external_participant(COORDINATOR, arbeidslag, body="barnevern")
    miljo.add_agenda_item(
        COORDINATOR,
        arbeidslag,
        subject_kind="student",
        student_id=sunniva,
        title="Sunniva: samarbeid med barnevernet",
    )
    miljo.add_agenda_item(
        COORDINATOR,
        arbeidslag,
        subject_kind="student",
        anonymous=True,
        title="Anonym drøfting: elev på 9. trinn med høyt fravær",
    )
    clock.advance(days=3)
    miljo.cancel_meeting(COORDINATOR, arbeidslag, reason="Barnevernet kunne ikke møte.")
    miljo.withdraw_consent(COORDINATOR, sunniva, consent_id=arbeidslag_consent)

    # -- team: class assignment, rotation, ending, leaving -------------------------------------
    class_assignment = miljo.assign(
        COORDINATOR,
        school=SCHOOL,
        member_id="mt-1",
        target_kind="class",
        trinn=8,
        class_name="8c",
        minutes_per_week=180,
        valid_from=date(2024, 10, 7),
    )
    sfo = miljo.assign(
        COORDINATOR,
        school=SCHOOL,
        member_id="ass-1",
        target_kind="school",
        minutes_per_week=300,
        valid_from=date(2024, 10, 7),
        valid_to=date(2024, 12, 20),
    )
    miljo.rotate_assignment(
        COORDINATOR,
        school=SCHOOL,
        assignment_id=class_assignment,
        to_member_id="mt-2",
        on=date(2025, 1, 6),
    )
    miljo.end_assignment(
        COORDINATOR,
        school=SCHOOL,
        assignment_id=sfo,
        ended_on=date(2024, 11, 29),
        reason="behov dekket",
    )
    miljo.record_member_left(
        COORDINATOR, school=SCHOOL, member_id="ass-1", left_on=date(2024, 12, 20)
    )

    # -- reads (access log) ------------------------------------------------------------------------
    clock.advance(days=1)
    miljo.student_case(COORDINATOR, sunniva, reason="Forberedelse til evaluering av planen")
    miljo.vedtak(REKTOR, vedtak)

    # -- placements, departures, plan closed, referral closed ------------------------------------
    miljo.change_class(REKTOR, tobias, trinn=10, class_name="10a")
    # a transfer goes to a school registered in the store
    miljo.register_school(
        ADMIN, code="sola-ungdomsskole", name="Sola ungdomsskole", first_trinn=8, last_trinn=10
    )
    miljo.record_departure(
        ADMIN, aase, kind="transferred", to_school="sola-ungdomsskole", on=date(2024, 10, 4)
    )
    clock.advance(days=14)  # 2024-10-20
    miljo.close_aktivitetsplan(
        COORDINATOR, sunniva, plan_id=plan, reason="Målet er nådd; Sunniva er med i fotballen."
    )
    miljo.change_referral_status(SPED_LEAD, sunniva, referral_id=referral, status="closed")

    # -- vedtak 2: personal assistance, decided without recommendation, expired ------------------
    short = miljo.open_vedtak(SPED_LEAD, tobias, kind="personal_assistance")
    miljo.decide_vedtak(
        REKTOR,
        short,
        hours=HoursByCompetence.from_hours(assistant=57),
        organisation="Assistent i praktiske fag.",
        content="Personlig assistanse i kroppsøving.",
        reasons="Midlertidig skade i armen etter sykkelulykke.",
        valid_from=date(2024, 10, 21),
        valid_to=date(2024, 11, 29),
    )
    miljo.send_vedtak_notice(REKTOR, short, notice_date=date(2024, 10, 21))
    clock.advance(days=44)  # 2024-12-03
    miljo.record_vedtak_expiry(SPED_LEAD, short, on=date(2024, 11, 29))
    miljo.record_departure(ADMIN, tobias, kind="left", on=date(2024, 12, 3))

    # -- vedtak 1 revoked --------------------------------------------------------------------
    miljo.revoke_vedtak(
        REKTOR,
        vedtak,
        reasons="Familien flytter; vedtaket oppheves fra 1. januar.",
        revoked_on=date(2024, 12, 3),
    )

    # -- restriction and erasure (golden v2 on) ---------------------------------------------
    miljo.restrict_records(
        REKTOR,
        tobias,
        scope="vedtak",
        reason="Klage på innsyn; sperret etter avtale.",
        on=date(2024, 12, 3),
    )
    miljo.lift_restriction(
        REKTOR, tobias, scope="vedtak", reason="Saken er avklart.", on=date(2024, 12, 3)
    )
    miljo.erase_personal_data(REKTOR, tobias, basis="never_filed", on=date(2024, 12, 3))

    return {
        "School": school_id(SCHOOL),
        "Student": sunniva,
        "Vedtak": vedtak,
        "Team": team_id(SCHOOL),
        "Meeting": ressursteam,
        "CaseFile": case_file_id(sunniva),
        "AccessLog": access_log_id(sunniva),
    }


# ---------------------------------------------------------------------------------------------
# Reading what the store holds
# ---------------------------------------------------------------------------------------------


def to_line(stored: StoredEvent) -> str:
    """One golden line: the stored record with its state as the stored JSON text."""
    record: dict[str, Any] = {
        "topic": stored.topic,
        "originator_id": str(stored.originator_id),
        "originator_version": stored.originator_version,
        "state": stored.state.decode("utf-8"),
    }
    return json.dumps(record, ensure_ascii=False)


def _plain(app: MiljoApplication, stored: StoredEvent) -> StoredEvent:
    """The record as the transcoder writes it, before sealing and encryption: golden files
    pin the schema (field names, types, topics), not the ciphertext of one key."""
    plain = Mapper[UUID](transcoder=app.mapper.transcoder)
    return plain.to_stored_event(app.mapper.to_domain_event(stored))


def stored_events(app: MiljoApplication) -> list[StoredEvent]:
    """Every stored event in the application sequence, in order (as plain records)."""
    last = app.recorder.max_notification_id() or 0
    return [_plain(app, n) for n in app.recorder.select_notifications(start=1, limit=last + 1)]


def stored_snapshots(app: MiljoApplication, ids: Sequence[UUID]) -> list[StoredEvent]:
    """Take a snapshot of each aggregate now and return the stored snapshot records."""
    snapshots = app.snapshots
    if snapshots is None:
        raise RuntimeError("the application has no snapshot store")
    found: list[StoredEvent] = []
    for aggregate_id in ids:
        app.take_snapshot(aggregate_id)
        found.extend(
            _plain(app, s)
            for s in snapshots.recorder.select_events(aggregate_id, desc=True, limit=1)
        )
    return found


def build_golden() -> tuple[list[str], list[str]]:
    """Run the scenario on a fresh in-memory store; return (event lines, snapshot lines)."""
    clock = FakeClock()
    with open_store(":memory:", clock=clock, ids=SequentialIds(), hasher=TestHasher()) as miljo:
        ids = run_scenario(miljo, clock)
        events = stored_events(miljo.app)
        covered = {e.topic for e in events}
        if not all_event_classes():
            raise RuntimeError("no event classes found")
        missing = sorted(set(all_event_classes()) - covered)
        if missing:
            raise RuntimeError(f"the scenario does not store: {', '.join(missing)}")
        snapshots = stored_snapshots(miljo.app, [ids[agg.__name__] for agg in AGGREGATES])
    return [to_line(e) for e in events], [to_line(s) for s in snapshots]


def golden_paths(out_dir: Path, label: str) -> tuple[Path, Path]:
    if not _LABEL.match(label):
        raise ValueError(f"label {label!r} must look like v1, v2 or v2b")
    return out_dir / f"{label}-events.jsonl", out_dir / f"{label}-snapshots.jsonl"


def write_golden(out_dir: Path = GOLDEN_DIR, label: str = "v1") -> tuple[Path, Path]:
    """Write ``<label>-events.jsonl`` and ``<label>-snapshots.jsonl``; never overwrite."""
    paths = golden_paths(out_dir, label)
    existing = [p for p in paths if p.exists()]
    if existing:
        raise FileExistsError(
            f"{existing[0]} exists; golden files are never regenerated (use a new label)"
        )
    event_lines, snapshot_lines = build_golden()
    for path, lines in zip(paths, (event_lines, snapshot_lines), strict=True):
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.writelines(line + "\n" for line in lines)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--label", default="v1", help="file name prefix (v1, v2, ...)")
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR, help="folder to write into")
    args = parser.parse_args(argv)
    try:
        paths = write_golden(args.out, args.label)
    except (FileExistsError, ValueError) as error:
        sys.stderr.write(f"make_golden: {error}\n")
        return 1
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
