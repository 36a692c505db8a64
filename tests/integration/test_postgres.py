"""miljo on PostgreSQL, end to end: the facade over ``open_store("postgresql://...")``.

The seed's Gjesdal scenario (tests/integration/test_overview.py) is built on a PostgreSQL
schema and on a SQLite file with the same clock and ids; the overview, the view rows, the
history and as-of reads must be equal, value for value. Around it: store selection and its
refusals (wrong password, missing schema, a schema that is not a store), the audit chain
(verify, export, tampering detected), that no personal string is readable anywhere in the
schema, erasure with snapshot purge, the view store's exactly-once catch-up under
concurrency and its ``follow`` loop, and backup with pg_dump/pg_restore.

Needs ``MILJO_TEST_POSTGRES_URL`` (see tests/conftest.py); the URL parsing tests do not.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

import attrs
import psycopg
import pytest
from psycopg import sql

from adapters.audit import export_store, verify_store
from adapters.bootstrap import (
    PostgresTarget,
    StoreError,
    StoreLocation,
    init_store,
    open_store,
    parse_postgres_url,
    resolve_store,
)
from adapters.keyring import PG_KEYRING_TABLES, PG_KEYS_TABLE
from adapters.keys import ALL_KEYS, SEALING_KEY
from adapters.postgres import (
    CHAIN_TABLE,
    EVENTS_TABLE,
    INTEGER_COLUMNS,
    SNAPSHOTS_TABLE,
    PostgresViewStore,
)
from adapters.protection import ERASED, KEYRING_FILE
from adapters.views import AlreadyTracked, SQLiteViewStore, ViewError
from domain.errors import ConcurrencyConflict
from domain.facade import Miljo, StudentCase
from domain.projection import TABLES, Put
from domain.projection import project as real_project
from domain.values import HoursByCompetence
from tests.conftest import (
    admin_connection,
    drop_schema,
    fresh_schema_name,
    postgres_location,
    postgres_required,
    temporary_schema,
)
from tests.support import ADMIN, AUDITOR, REKTOR, FakeClock, SequentialIds

ROOT: Final = Path(__file__).resolve().parents[2]
GJ: Final = "gjesdal"
OVERVIEW_DAY: Final = date(2024, 9, 23)
R1_HELD: Final = datetime(2024, 9, 9, 13, 0, tzinfo=UTC)
VERIFY_TOOL: Final = ROOT / "tools" / "verify_export.py"
SECRET: Final = "hemmelig-pw-42"

#: Every personal string the Gjesdal scenario writes (names, student numbers, free texts).
#: None may be readable in any text or bytea column of the schema.
PERSONAL: Final = (
    "Sølvi Prøvestad",
    "Ådne Testerud",
    "Kjærsti Eksempelhaug",
    "Tøger Fiktivik",
    "Åshild Oppdiktet",
    "Bjørnar Dikterud",
    "Mære Liksomsen",
    *(f"GJ-10{n}" for n in range(1, 8)),
    "Utrygt skolemiljø",
    "Fast voksen i friminuttene",
    "Konflikter i friminutt",
    "Trist i chat om foreldrene",
    "Utestengt i lek",
    "Borte tre dager",
    "Sover i timene",
    "Utredning av lærevansker",
    "Miljøterapeutisk oppfølging",
    "Sakkyndig vurdering",
    "Behovet er dekket på annen måte",
    "Vedtatt i møtet",
    "Planleggingsdag",
    "Ingrid Prøvesdatter",
    "Uro i gangen",
)


# ---------------------------------------------------------------------------------------------
# Store selection (no server needed)
# ---------------------------------------------------------------------------------------------


def test_url_defaults_port_and_schema() -> None:
    target = parse_postgres_url("postgresql://miljo@db.kommune.no/skole")
    assert target == PostgresTarget(
        host="db.kommune.no", port=5432, dbname="skole", user="miljo", password=None
    )
    assert target.schema == "miljo"
    assert target.url() == "postgresql://miljo@db.kommune.no:5432/skole?schema=miljo"


def test_url_percent_encoding_and_schema() -> None:
    target = parse_postgres_url(
        "postgres://r%C3%A5dgiver:p%40ss%3Aw%2Frd@10.0.0.5:6543/kommune%20db?schema=gjesdal_u"
    )
    assert (target.user, target.password, target.dbname) == ("rådgiver", "p@ss:w/rd", "kommune db")
    assert (target.host, target.port, target.schema) == ("10.0.0.5", 6543, "gjesdal_u")
    assert "p@ss" not in repr(target)
    assert "p%40ss" not in target.url()
    assert target.connect_kwargs()["password"] == "p@ss:w/rd"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"postgresql://miljo:{SECRET}@/skole", "no host"),
        (f"postgresql://:{SECRET}@db/skole", "no user"),
        (f"postgresql://miljo:{SECRET}@db", "no database"),
        (f"postgresql://miljo:{SECRET}@db:99999/skole", "malformed"),
        (f"postgresql://miljo:{SECRET}@db/skole?schema=Gjesdal", "schema name"),
        (f"postgresql://miljo:{SECRET}@db/skole?schema=a;drop", "schema name"),
        (f"postgresql://miljo:{SECRET}@db/skole?schema=", "schema name"),
        (f"postgresql://miljo:{SECRET}@db/skole?sslmode=require", "unknown parameter"),
    ],
)
def test_bad_urls_are_refused_without_the_password(url: str, fragment: str) -> None:
    with pytest.raises(StoreError, match=fragment) as info:
        resolve_store(url)
    assert SECRET not in str(info.value)


def test_resolve_store_names_the_key_folder_after_host_db_and_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MILJO_HOME", str(tmp_path))
    monkeypatch.delenv("MILJO_KEYS_DIR", raising=False)
    url = f"postgresql://miljo:{SECRET}@db.kommune.no:5433/skole?schema=gjesdal"
    location = resolve_store(url)
    assert location.is_postgres
    assert not location.is_memory
    assert location.db_path is None
    assert location.keys_dir == tmp_path / "postgres" / "db.kommune.no_5433" / "skole" / (
        "gjesdal.keys"
    )
    assert location.describe() == "postgresql://miljo@db.kommune.no:5433/skole?schema=gjesdal"
    assert SECRET not in repr(location)
    monkeypatch.setenv("MILJO_STORE", url)
    assert resolve_store() == location
    monkeypatch.setenv("MILJO_KEYS_DIR", str(tmp_path / "elsewhere"))
    assert resolve_store(url).keys_dir == tmp_path / "elsewhere"


def test_sqlite_resolution_ignores_the_postgres_key_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MILJO_KEYS_DIR", str(tmp_path / "elsewhere"))
    location = resolve_store(tmp_path / "gjesdal.sqlite")
    assert location == StoreLocation(
        db_path=tmp_path / "gjesdal.sqlite", keys_dir=tmp_path / "gjesdal.keys"
    )
    assert not location.is_postgres
    assert resolve_store(":memory:").is_memory


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def schema_tables(target: PostgresTarget) -> set[str]:
    with admin_connection(target) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (target.schema,),
        ).fetchall()
    return {str(r[0]) for r in rows}


def execute(target: PostgresTarget, statement: sql.Composed, *params: object) -> None:
    with admin_connection(target) as conn:
        conn.execute(statement, params or None)


def table(target: PostgresTarget, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(target.schema), sql.Identifier(name))


def populate(miljo: Miljo, students: int = 4) -> list[UUID]:
    miljo.register_school(
        ADMIN, code="hvalstad", name="Hvalstad skole", first_trinn=8, last_trinn=10
    )
    miljo.add_class(ADMIN, school="hvalstad", trinn=8, class_name="8a")
    ids = []
    for n in range(students):
        sid = miljo.register_student(
            ADMIN,
            school="hvalstad",
            student_number=f"HV-{n:04d}",
            name=f"Ingrid Prøvesdatter{n}",
            trinn=8,
            class_name="8a",
        )
        miljo.record_observation(
            REKTOR, sid, arena="break", categories=["conflict"], text=f"Uro i gangen {n}"
        )
        ids.append(sid)
    return ids


def view_rows(store: Any) -> dict[str, list[tuple[tuple[str, object], ...]]]:
    """Every view table's rows as sorted tuples of (type name, value), in column order."""
    return {
        t.name: sorted(
            (
                tuple((type(row[c]).__name__, row[c]) for c in t.columns)
                for row in store.select(t.name, {})
            ),
            key=repr,
        )
        for t in TABLES
    }


@pytest.fixture
def pg_location(postgres_schema: PostgresTarget, tmp_path: Path) -> StoreLocation:
    """An initialised, empty PostgreSQL store in this test's schema."""
    location = postgres_location(postgres_schema, tmp_path / "pg.keys")
    init_store(location)
    return location


@pytest.fixture
def pg_store(pg_location: StoreLocation) -> Iterator[Miljo]:
    with open_store(pg_location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        yield miljo


def target_of(location: StoreLocation) -> PostgresTarget:
    assert location.postgres is not None
    return location.postgres


# ---------------------------------------------------------------------------------------------
# Initialising and opening
# ---------------------------------------------------------------------------------------------


def test_init_creates_the_schema_and_refuses_a_second_time(
    postgres_target: PostgresTarget, tmp_path: Path
) -> None:
    target = attrs.evolve(postgres_target, schema=fresh_schema_name())  # does not exist yet
    location = postgres_location(target, tmp_path / "pg.keys")
    try:
        created = init_store(location)
        # The keyring is in the schema, not a file in the key folder (ADR 0015).
        assert {p.name for p in created} == set(ALL_KEYS)
        assert not (tmp_path / "pg.keys" / KEYRING_FILE).exists()
        assert {EVENTS_TABLE, SNAPSHOTS_TABLE, CHAIN_TABLE, "view_meta", "view_events"} <= (
            schema_tables(target)
        )
        assert schema_tables(target) >= PG_KEYRING_TABLES
        keys = {p.name: p.read_bytes() for p in (tmp_path / "pg.keys").iterdir()}
        with pytest.raises(StoreError, match="already exists"):
            init_store(postgres_location(target, tmp_path / "other.keys"))
        assert not (tmp_path / "other.keys").exists()  # refused before any key was made
        with pytest.raises(StoreError, match="already exists"):
            init_store(location)
        assert {p.name: p.read_bytes() for p in (tmp_path / "pg.keys").iterdir()} == keys
        with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
            assert miljo.event_count() == 0
    finally:
        drop_schema(postgres_target, target.schema)


def test_init_into_an_existing_empty_schema(pg_location: StoreLocation) -> None:
    """A schema made by the DBA beforehand (as the fixture does) is fine."""
    assert {EVENTS_TABLE, CHAIN_TABLE, "view_meta"} <= schema_tables(target_of(pg_location))


def test_open_refuses_a_schema_without_miljo_tables(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    location = postgres_location(postgres_schema, tmp_path / "pg.keys")
    with pytest.raises(StoreError, match="not a miljo store"):
        open_store(location)


def test_open_refuses_a_missing_schema(postgres_target: PostgresTarget, tmp_path: Path) -> None:
    target = attrs.evolve(postgres_target, schema=fresh_schema_name())
    with pytest.raises(StoreError, match="not a miljo store"):
        open_store(postgres_location(target, tmp_path / "pg.keys"))
    assert target.schema not in schema_names(postgres_target)  # opening created nothing


def schema_names(target: PostgresTarget) -> set[str]:
    with admin_connection(target) as conn:
        return {str(r[0]) for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}


def test_wrong_password_is_a_one_line_store_error(pg_location: StoreLocation) -> None:
    target = target_of(pg_location)
    wrong = attrs.evolve(pg_location, postgres=attrs.evolve(target, password=SECRET))
    for attempt in (open_store, verify_store, init_store):
        with pytest.raises(StoreError) as info:
            attempt(wrong)
        message = str(info.value)
        assert "password authentication failed" in message
        assert "\n" not in message
        assert SECRET not in message
        assert target.password is None or target.password not in message
        assert target.url() in message


def test_unreachable_server_is_a_store_error(pg_location: StoreLocation) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = attrs.evolve(target_of(pg_location), port=port)
    with pytest.raises(StoreError, match="refused") as info:
        open_store(attrs.evolve(pg_location, postgres=target))
    assert "\n" not in str(info.value)


def test_password_from_the_environment(
    pg_location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL without a password lets libpq take it from PGPASSWORD (or ~/.pgpass)."""
    target = target_of(pg_location)
    monkeypatch.setenv("PGPASSWORD", target.password or "")
    bare = attrs.evolve(pg_location, postgres=attrs.evolve(target, password=None))
    with open_store(bare, clock=FakeClock(), ids=SequentialIds()) as miljo:
        populate(miljo, students=1)
        assert miljo.event_count() > 0
    assert verify_store(bare).ok


# ---------------------------------------------------------------------------------------------
# The Gjesdal scenario (acting as admin and rektor, whom the access policy lets do everything
# needed here), touching every view table
# ---------------------------------------------------------------------------------------------

MEMBERS: Final = {
    "gj-mt1": ("vernepleier", "85"),
    "gj-mt2": ("barnevernspedagog", "85"),
    "gj-mt3": ("sosionom", "85"),
    "gj-mt4": ("vernepleier", "85"),
    "gj-mt5": ("barnevernspedagog", "85"),
    "gj-mt6": ("sosionom", "85"),
    "gj-mt7": ("vernepleier", "100"),
    "gj-as1": ("assistent", "60"),
    "gj-as2": ("assistent", "60"),
    "gj-as3": ("assistent", "50"),
    "gj-as4": ("fagarbeider", "50"),
    "gj-as5": ("assistent", "40"),
    "gj-as6": ("assistent", "40"),
}
STUDENTS: Final = (
    ("S1", "GJ-101", "Sølvi Prøvestad", 8, "8a"),
    ("S2", "GJ-102", "Ådne Testerud", 8, "8c"),
    ("S3", "GJ-103", "Kjærsti Eksempelhaug", 9, "9b"),
    ("S4", "GJ-104", "Tøger Fiktivik", 10, "10d"),
    ("S5", "GJ-105", "Åshild Oppdiktet", 8, "8d"),
    ("S6", "GJ-106", "Bjørnar Dikterud", 9, "9b"),
    ("S7", "GJ-107", "Mære Liksomsen", 10, "10a"),
)
VALID_FROM: Final = date(2024, 8, 19)
VALID_TO: Final = date(2025, 6, 20)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


@attrs.define
class Gjesdal:
    """The ids the scenario created, by short name."""

    miljo: Miljo
    clock: FakeClock
    s: dict[str, UUID] = attrs.Factory(dict)
    ids: dict[str, UUID] = attrs.Factory(dict)

    def tick(self, when: datetime) -> None:
        self.clock.current = when


def build(miljo: Miljo, clock: FakeClock) -> Gjesdal:
    """Gjesdal ungdomsskole over four weeks of autumn term 2024 (invented people)."""
    g, m, r = Gjesdal(miljo, clock), miljo, REKTOR
    g.tick(at(8, 19, 8))
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
            joined_on=date(2024, 8, 1),
        )
    m.appoint_coordinator(ADMIN, school=GJ, member_id="gj-mt1", effective_from=date(2024, 8, 1))
    for key, number, name, trinn, class_name in STUDENTS:
        g.s[key] = m.register_student(
            ADMIN, school=GJ, student_number=number, name=name, trinn=trinn, class_name=class_name
        )
    g.tick(at(8, 19, 9))
    for key, student, hours in (
        ("V1", "S1", HoursByCompetence(miljoterapeut=22800)),
        ("V2", "S2", HoursByCompetence(miljoterapeut=4560, assistant=11400)),
        ("V3", "S3", HoursByCompetence(teacher=6000, miljoterapeut=12000)),
    ):
        vedtak = m.open_vedtak(r, g.s[student], kind="individually_adapted_education")
        g.ids[key] = vedtak
        m.record_recommendation(
            r, vedtak, recommended_on=VALID_FROM, hours=hours, summary="Sakkyndig vurdering"
        )
        m.decide_vedtak(
            r,
            vedtak,
            hours=hours,
            organisation="I klassen og i smågruppe",
            content="Miljøterapeutisk oppfølging",
            reasons="Sakkyndig vurdering",
            valid_from=VALID_FROM,
            valid_to=VALID_TO,
        )
    g.tick(at(8, 19, 10))
    assignments: tuple[tuple[str, str, str, int, str | None, int | None, str | None], ...] = (
        ("a1", "gj-mt2", "student", 300, "1", None, None),
        ("a2", "gj-as1", "student", 250, "2", None, None),
        ("a3", "gj-mt5", "student", 400, "3", None, None),
        ("a4", "gj-mt6", "class", 240, None, 8, "8b"),
        ("a5", "gj-mt7", "trinn", 400, None, 10, None),
        ("a6", "gj-mt1", "school", 1200, None, None, None),
    )
    for key, member, kind, minutes, n, target_trinn, target_class in assignments:
        g.ids[key] = m.assign(
            r,
            school=GJ,
            member_id=member,
            target_kind=kind,
            minutes_per_week=minutes,
            valid_from=VALID_FROM,
            valid_to=VALID_TO if n else None,
            student_id=g.s[f"S{n}"] if n else None,
            vedtak_id=g.ids[f"V{n}"] if n else None,
            trinn=target_trinn,
            class_name=target_class,
        )
    g.tick(at(8, 19, 11))
    g.ids["K1"] = m.record_consent(
        r,
        g.s["S2"],
        giver="guardian",
        scope_kind="meeting_kind",
        scope="arbeidslag",
        valid_from=VALID_FROM,
        valid_to=date(2025, 6, 30),
    )
    g.ids["K2"] = m.record_consent(
        r, g.s["S7"], giver="guardian", scope_kind="body", scope="ppt", valid_from=VALID_FROM
    )
    for key, student, evaluation in (
        ("P1", "S7", date(2024, 9, 20)),
        ("P2", "S3", date(2024, 9, 6)),
    ):
        g.ids[key] = m.create_aktivitetsplan(
            r,
            g.s[student],
            problem="Utrygt skolemiljø",
            measures=["Fast voksen i friminuttene"],
            when="Fra neste uke",
            responsible="gj-mt1",
            evaluation_date=evaluation,
        )
    g.tick(at(8, 20))
    g.ids["C1"] = m.raise_concern(r, g.s["S1"], summary="Konflikter i friminutt")
    g.ids["O1"] = m.record_observation(
        r, g.s["S7"], arena="online", categories=["wellbeing"], text="Trist i chat"
    )
    g.tick(at(8, 26, 10))
    g.ids["R0"] = m.schedule_meeting(r, school=GJ, kind="ressursteam", scheduled_at=at(8, 26, 12))
    g.ids["R0 item"] = m.add_agenda_item(
        r, g.ids["R0"], subject_kind="trinn", title="Gjennomgang 8. trinn", trinn=8
    )
    g.tick(at(8, 26, 14))
    m.record_meeting_held(r, g.ids["R0"])
    m.close_minutes(r, g.ids["R0"])
    m.change_class(ADMIN, g.s["S5"], trinn=8, class_name="8c")
    g.ids["F1"] = m.make_referral(r, g.s["S3"], body="ppt", reason="Utredning av lærevansker")
    g.tick(at(9, 2))
    g.ids["Rc"] = m.schedule_meeting(r, school=GJ, kind="ressursteam", scheduled_at=at(9, 2, 12))
    m.cancel_meeting(r, g.ids["Rc"], reason="Planleggingsdag")
    g.ids["R1"] = m.schedule_meeting(r, school=GJ, kind="ressursteam", scheduled_at=at(9, 9, 12))
    m.change_referral_status(
        r, g.s["S3"], referral_id=g.ids["F1"], status="acknowledged", on=date(2024, 9, 2)
    )
    m.evaluate_aktivitetsplan(
        r,
        g.s["S3"],
        plan_id=g.ids["P2"],
        assessment="Delvis bedre",
        next_evaluation_date=date(2024, 9, 23),
        evaluated_on=date(2024, 9, 2),
    )
    g.ids["A1"] = m.schedule_meeting(r, school=GJ, kind="arbeidslag", scheduled_at=at(9, 30, 12))
    m.add_external_participant(r, g.ids["A1"], body="barnevern")
    m.add_external_participant(r, g.ids["A1"], body="ppt")
    g.ids["A1 S2"] = m.add_agenda_item(
        r, g.ids["A1"], subject_kind="student", title="Sak", student_id=g.s["S2"]
    )
    g.ids["A1 anonymous"] = m.add_agenda_item(
        r, g.ids["A1"], subject_kind="student", title="Anonym sak", anonymous=True, trinn=10
    )
    g.tick(at(9, 9, 12, 10))
    g.ids["R1 S1"] = m.add_agenda_item(
        r,
        g.ids["R1"],
        subject_kind="student",
        title="Sak",
        student_id=g.s["S1"],
        concern_id=g.ids["C1"],
    )
    g.ids["R1 8c"] = m.add_agenda_item(
        r, g.ids["R1"], subject_kind="class", title="Miljøet i 8c", trinn=8, class_name="8c"
    )
    g.ids["D1"] = m.record_decision(
        r,
        g.ids["R1"],
        item_id=g.ids["R1 S1"],
        outcome="measure",
        text="Vedtatt i møtet",
        responsible="gj-mt2",
        due=date(2024, 9, 20),
    )
    g.ids["D2"] = m.record_decision(
        r,
        g.ids["R1"],
        item_id=g.ids["R1 8c"],
        outcome="measure",
        text="Vedtatt i møtet",
        responsible="gj-mt3",
        due=date(2024, 9, 16),
    )
    g.tick(R1_HELD)
    m.record_meeting_held(r, g.ids["R1"])
    g.tick(at(9, 9, 14))
    m.close_minutes(r, g.ids["R1"])
    g.tick(at(9, 10, 9))
    g.ids["O2"] = m.record_observation(
        r, g.s["S1"], arena="break", categories=["conflict", "social"], text="Utestengt i lek"
    )
    g.ids["O3"] = m.record_observation(
        r,
        g.s["S3"],
        arena="classroom",
        categories=["absence"],
        text="Borte tre dager",
        observed_at=at(9, 5, 8),
    )
    g.tick(at(9, 11, 10))
    m.correct_observation(
        r,
        g.s["S7"],
        corrects=g.ids["O1"],
        arena="online",
        categories=["wellbeing", "family"],
        text="Trist i chat om foreldrene",
        observed_at=at(8, 20),
        reason="Manglet kategori",
    )
    g.tick(at(9, 12, 10))
    m.record_departure(ADMIN, g.s["S6"], kind="left")
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
    m.revoke_vedtak(
        r, g.ids["V3"], reasons="Behovet er dekket på annen måte", revoked_on=date(2024, 9, 16)
    )
    m.end_assignment(
        r, school=GJ, assignment_id=g.ids["a3"], ended_on=date(2024, 9, 15), reason="vedtak ended"
    )
    m.withdraw_consent(r, g.s["S7"], consent_id=g.ids["K2"])
    g.tick(at(9, 17))
    m.complete_action(r, g.ids["R1"], decision_id=g.ids["D2"])
    m.close_aktivitetsplan(r, g.s["S7"], plan_id=g.ids["P1"], reason="Løst")
    g.tick(at(9, 18))
    g.ids["C2"] = m.raise_concern(r, g.s["S3"], summary="Sover i timene")
    g.tick(at(9, 23, 10))
    return g


# ---------------------------------------------------------------------------------------------
# The Gjesdal scenario on PostgreSQL and on SQLite
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Pair:
    pg: Gjesdal
    sqlite: Gjesdal
    pg_location: StoreLocation
    sqlite_location: StoreLocation

    def both(self, read: Callable[[Miljo], object]) -> tuple[object, object]:
        """The same read on both stores (reads may log: keep the stores in step)."""
        return read(self.pg.miljo), read(self.sqlite.miljo)


@pytest.fixture(scope="module")
def pair(
    postgres_target: PostgresTarget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("gjesdal-pg")
    with temporary_schema(postgres_target) as target:
        pg_location = postgres_location(target, folder / "pg.keys")
        init_store(pg_location)
        sqlite_location = resolve_store(folder / "miljo.sqlite")
        init_store(sqlite_location)
        pg_clock, sqlite_clock = FakeClock(), FakeClock()
        with (
            open_store(pg_location, clock=pg_clock, ids=SequentialIds()) as pg,
            open_store(sqlite_location, clock=sqlite_clock, ids=SequentialIds()) as sqlite,
        ):
            yield Pair(
                build(pg, pg_clock), build(sqlite, sqlite_clock), pg_location, sqlite_location
            )


def notifications(miljo: Miljo) -> list[tuple[int, UUID, int, str]]:
    return [
        (n.id, UUID(str(n.originator_id)), n.originator_version, n.topic)
        for n in miljo.app.recorder.select_notifications(start=1, limit=100_000)
    ]


def test_same_events_at_the_same_positions(pair: Pair) -> None:
    pg, sqlite = pair.both(notifications)
    assert isinstance(pg, list)
    assert len(pg) > 100
    assert pg == sqlite


@pytest.mark.parametrize("trinn", [None, 8, 9, 10])
@pytest.mark.parametrize("on", [None, date(2024, 9, 2), OVERVIEW_DAY])
def test_overview_equals_the_sqlite_overview(
    pair: Pair, trinn: int | None, on: date | None
) -> None:
    pg, sqlite = pair.both(lambda m: m.overview(REKTOR, school=GJ, trinn=trinn, on=on))
    assert pg == sqlite


def view_counts(miljo: Miljo) -> dict[str, int]:
    views = miljo.views
    assert isinstance(views, PostgresViewStore | SQLiteViewStore)
    return views.counts()


def test_view_rows_equal_sqlite_value_for_value(pair: Pair) -> None:
    pair.both(lambda m: m.catch_up())
    pg, sqlite = pair.both(lambda m: view_rows(m.views))
    assert pg == sqlite
    assert isinstance(pg, dict)
    assert [t.name for t in TABLES if not pg[t.name]] == []  # the scenario fills every table
    pg_counts, sqlite_counts = pair.both(view_counts)
    assert pg_counts == sqlite_counts


def history(miljo: Miljo, *, student: UUID, as_of: datetime | None) -> object:
    return miljo.history(AUDITOR, student, as_of=as_of, reason="tilsyn")


def case_as_of(miljo: Miljo, *, student: UUID) -> object:
    return miljo.student_case_as_of(AUDITOR, student, as_of=R1_HELD, reason="tilsyn")


def test_history_and_as_of_reads_equal_sqlite(pair: Pair) -> None:
    for key in ("S1", "S3", "S6", "S7"):
        student = pair.pg.s[key]
        assert pair.sqlite.s[key] == student
        pg, sqlite = pair.both(functools.partial(history, student=student, as_of=None))
        assert pg == sqlite
        assert isinstance(pg, list)
        assert pg
        pg_then, sqlite_then = pair.both(functools.partial(history, student=student, as_of=R1_HELD))
        assert pg_then == sqlite_then
        assert isinstance(pg_then, list)
        assert len(pg_then) < len(pg)
        pg_case, sqlite_case = pair.both(functools.partial(case_as_of, student=student))
        assert pg_case == sqlite_case
        assert pg_case is not None


def student_case(miljo: Miljo, *, student: UUID) -> object:
    return miljo.student_case(AUDITOR, student, reason="tilsyn")


def test_no_personal_string_is_readable_in_any_column(pair: Pair) -> None:
    target = target_of(pair.pg_location)
    pair.both(lambda m: m.catch_up())
    # a case read decrypts: the data are there, only sealed
    case, _ = pair.both(functools.partial(student_case, student=pair.pg.s["S1"]))
    assert isinstance(case, StudentCase)
    assert case.name == "Sølvi Prøvestad"
    with admin_connection(target) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND data_type IN "
            "('text', 'bytea', 'character varying', 'json', 'jsonb')",
            (target.schema,),
        ).fetchall()
        found: list[str] = []
        scanned = 0
        school_codes = 0
        for table_name, column, _type in columns:
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(column), table(target, str(table_name))
            )
            for (value,) in conn.execute(query):
                if value is None:
                    continue
                data = (
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                )
                scanned += 1
                school_codes += data == GJ.encode()
                found += [f"{table_name}.{column}: {p}" for p in PERSONAL if p.encode() in data]
    assert found == []
    assert {str(c[0]) for c in columns} >= {EVENTS_TABLE, SNAPSHOTS_TABLE, "view_events"}
    assert scanned > 1000
    assert school_codes > 0  # the scan does see plain values where there are any


# ---------------------------------------------------------------------------------------------
# The audit chain
# ---------------------------------------------------------------------------------------------


def test_audit_verify_and_export_on_postgres(pair: Pair, tmp_path: Path) -> None:
    count = pair.pg.miljo.event_count()
    result = verify_store(pair.pg_location)
    assert result.ok
    assert result.checked == result.head_position == count
    summary = export_store(pair.pg_location, tmp_path / "pg.jsonl")
    assert summary.events == count
    assert summary.head_link == result.head_link.hex()
    keys_dir = pair.pg_location.keys_dir
    assert keys_dir is not None
    checked = subprocess.run(
        [sys.executable, str(VERIFY_TOOL), str(tmp_path / "pg.jsonl"), str(keys_dir / SEALING_KEY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["checked"] == count
    # Same format as a SQLite export: positions, ids (32 hex digits), versions and topics agree
    # (states differ: each store has its own payload key).
    pair_count = pair.sqlite.miljo.event_count()
    assert pair_count == count
    export_store(pair.sqlite_location, tmp_path / "sqlite.jsonl")

    def skeleton(path: Path) -> list[tuple[object, ...]]:
        lines = [json.loads(line) for line in path.read_text().splitlines()[1:-1]]
        return [(r["position"], r["originator_id"], r["version"], r["topic"]) for r in lines]

    assert skeleton(tmp_path / "pg.jsonl") == skeleton(tmp_path / "sqlite.jsonl")


def test_tampering_is_detected(pg_location: StoreLocation, pg_store: Miljo) -> None:
    populate(pg_store)
    count = pg_store.event_count()
    assert verify_store(pg_location).ok
    target = target_of(pg_location)
    events = table(target, EVENTS_TABLE)
    # flip one byte of one stored payload
    execute(
        target,
        sql.SQL(
            "UPDATE {} SET state = set_byte(state, 20, get_byte(state, 20) # 1) "
            "WHERE notification_id = 5"
        ).format(events),
    )
    result = verify_store(pg_location)
    assert not result.ok
    assert result.first_failure == 5
    assert result.checked == 4
    # a deleted row is found too (its link has no event)
    execute(target, sql.SQL("DELETE FROM {} WHERE notification_id = 3").format(events))
    assert verify_store(pg_location).first_failure == 3
    assert count > 5


def test_concurrent_writers_keep_the_chain_intact(pg_location: StoreLocation) -> None:
    """Two facades on one store write to the same student at once: conflicting saves are
    rolled back and retried, never half-written (no event without its link)."""
    clock = FakeClock()
    with (
        open_store(pg_location, clock=clock, ids=SequentialIds()) as first,
        open_store(pg_location, clock=clock, ids=SequentialIds(start=100_000)) as second,
    ):
        [student] = populate(first, students=1)
        saved: list[str] = []
        errors: list[Exception] = []

        def write(miljo: Miljo, writer: int) -> None:
            for i in range(15):
                try:
                    miljo.record_observation(
                        REKTOR, student, arena="break", categories=["conflict"], text=f"{writer}"
                    )
                    saved.append(f"{writer}-{i}")
                except ConcurrencyConflict as error:  # retries exhausted: nothing written
                    errors.append(error)

        threads = [
            threading.Thread(target=write, args=(m, n)) for n, m in enumerate((first, second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        case = first.student_case(AUDITOR, student, reason="tilsyn")
        assert len(case.observations) == 1 + len(saved)
        assert len(saved) + len(errors) == 30
        count = first.event_count()
    result = verify_store(pg_location)
    assert result.ok
    assert result.checked <= count  # a rolled-back save may leave a gap in the positions


# ---------------------------------------------------------------------------------------------
# Erasure on PostgreSQL (snapshots are purged from the snapshots table)
# ---------------------------------------------------------------------------------------------


def test_erasure_purges_snapshots_on_postgres(pg_location: StoreLocation, pg_store: Miljo) -> None:
    [student] = populate(pg_store, students=1)
    for n in range(60):  # the Student snapshot interval is 50
        pg_store.record_observation(
            REKTOR, student, arena="break", categories=["conflict"], text=f"Notat {n}"
        )
    target = target_of(pg_location)
    snapshots = sql.SQL("SELECT COUNT(*) FROM {} WHERE originator_id = %s").format(
        table(target, SNAPSHOTS_TABLE)
    )
    with admin_connection(target) as conn:
        before = conn.execute(snapshots, (student,)).fetchone()
    assert before is not None
    assert before[0] >= 1
    assert pg_store.erase_personal_data(REKTOR, student, basis="request") >= 1
    with admin_connection(target) as conn:
        after = conn.execute(snapshots, (student,)).fetchone()
    assert after == (0,)
    case = pg_store.student_case(AUDITOR, student, reason="tilsyn")
    assert {o.text for o in case.observations} == {ERASED}
    assert case.name == "Ingrid Prøvesdatter0"  # the registration is archival


# ---------------------------------------------------------------------------------------------
# The view store
# ---------------------------------------------------------------------------------------------


def views_of(miljo: Miljo, location: StoreLocation, page_size: int = 500) -> PostgresViewStore:
    return PostgresViewStore(miljo.app, target_of(location), page_size=page_size)


def test_concurrent_catch_ups_apply_every_event_exactly_once(
    pg_location: StoreLocation, pg_store: Miljo
) -> None:
    populate(pg_store, students=8)
    total = pg_store.event_count()
    stores = [views_of(pg_store, pg_location, page_size=3) for _ in range(3)]
    try:
        first = stores[0]
        with first._write() as run:  # back to zero without applying anything
            first._reset_tables(run)
        applied: list[int] = []
        barrier = threading.Barrier(len(stores))

        def catch_up(store: PostgresViewStore) -> None:
            barrier.wait()
            applied.append(store.catch_up())

        threads = [threading.Thread(target=catch_up, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(applied) == total
        assert all(s.position() == total for s in stores)
        rows = view_rows(first)
        assert len(rows["events"]) == total
        assert first.rebuild() == total
        assert view_rows(first) == rows
    finally:
        for store in stores:
            store.close()


def test_a_tracked_notification_is_refused(pg_location: StoreLocation, pg_store: Miljo) -> None:
    populate(pg_store, students=1)
    pg_store.catch_up()
    store = pg_store.views
    assert isinstance(store, PostgresViewStore)
    position = store.position()
    old = pg_store.app.recorder.select_notifications(start=position, limit=1)
    with pytest.raises(AlreadyTracked):
        store.apply(old, expected_position=position)
    with pytest.raises(AlreadyTracked):
        store.apply(old, expected_position=position - 1)
    assert store.position() == position


def test_a_failing_page_changes_nothing(
    pg_location: StoreLocation, pg_store: Miljo, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(pg_store, students=2)
    store = pg_store.views
    assert isinstance(store, PostgresViewStore)
    before = view_rows(store)
    calls = 0

    def failing(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("projection failed half-way")
        return real_project(*args)

    monkeypatch.setattr("adapters.postgres.project", failing)
    with pytest.raises(RuntimeError, match="half-way"):
        store.catch_up()
    assert store.position() == 0
    assert view_rows(store) == before
    monkeypatch.setattr("adapters.postgres.project", real_project)
    assert store.catch_up() == pg_store.event_count()


def test_an_integer_in_a_text_column_is_refused(pg_store: Miljo) -> None:
    store = pg_store.views
    assert isinstance(store, PostgresViewStore)
    with store._write() as run, pytest.raises(ViewError, match=r"classes\.class_name"):
        store._execute(run, Put("classes", {"school": "x", "class_name": 8, "trinn": 8}))
    with store._write() as run, pytest.raises(ViewError, match=r"classes\.trinn"):
        store._execute(run, Put("classes", {"school": "x", "class_name": "8a", "trinn": "8"}))


def test_integer_columns_exist() -> None:
    columns = {c for t in TABLES for c in t.columns}
    assert columns >= INTEGER_COLUMNS


def test_a_schema_version_change_rebuilds_the_views(
    pg_location: StoreLocation, pg_store: Miljo
) -> None:
    populate(pg_store, students=2)
    pg_store.catch_up()
    rows = view_rows(pg_store.views)
    target = target_of(pg_location)
    execute(
        target,
        sql.SQL("UPDATE {} SET value = -1 WHERE key = 'schema_version'").format(
            table(target, "view_meta")
        ),
    )
    store = views_of(pg_store, pg_location)
    try:
        assert store.position() == 0
        assert all(not r for r in view_rows(store).values())
        assert store.catch_up() == pg_store.event_count()
        assert view_rows(store) == rows
    finally:
        store.close()


def test_follow_keeps_the_views_live(pg_location: StoreLocation, pg_store: Miljo) -> None:
    store = views_of(pg_store, pg_location)
    stop = threading.Event()
    seen: list[int] = []
    reached = threading.Condition()

    def caught_up(position: int) -> None:
        with reached:
            seen.append(position)
            reached.notify_all()

    follower = threading.Thread(
        target=store.follow, args=(stop,), kwargs={"poll_interval": 5.0, "on_caught_up": caught_up}
    )
    follower.start()
    try:
        populate(pg_store, students=3)
        target = pg_store.event_count()
        with reached:
            # Woken by NOTIFY, long before the 5 s poll; the bound only stops a hung test.
            assert reached.wait_for(lambda: bool(seen) and seen[-1] >= target, timeout=60)
        assert store.position() == target
    finally:
        stop.set()
        follower.join()
        store.close()
    assert not follower.is_alive()


# ---------------------------------------------------------------------------------------------
# Backup: pg_dump / pg_restore
# ---------------------------------------------------------------------------------------------


def tool(name: str) -> str:
    pgbin = os.environ.get("PGBIN")
    found = str(Path(pgbin) / name) if pgbin and (Path(pgbin) / name).exists() else None
    found = found or shutil.which(name)
    if found is None:
        if postgres_required():
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return found


def pg_env(target: PostgresTarget) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": target.password or os.environ.get("PGPASSWORD", "")}


def connection_args(target: PostgresTarget) -> list[str]:
    return ["-h", target.host, "-p", str(target.port), "-U", target.user]


@pytest.fixture
def scratch_database(postgres_target: PostgresTarget) -> Iterator[PostgresTarget]:
    name = f"miljo_restore_{uuid4().hex[:12]}"
    with admin_connection(postgres_target) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            if postgres_required():
                raise
            pytest.skip("the test role may not create databases (CREATEDB)")
    try:
        yield attrs.evolve(postgres_target, dbname=name)
    finally:
        with admin_connection(postgres_target) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def keyring_rows(target: PostgresTarget) -> list[tuple[object, ...]]:
    with admin_connection(target) as conn:
        return conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY subject, purpose").format(
                sql.Identifier(target.schema, PG_KEYS_TABLE)
            )
        ).fetchall()


def test_pg_dump_and_restore_into_another_database(
    pg_location: StoreLocation,
    pg_store: Miljo,
    scratch_database: PostgresTarget,
    tmp_path: Path,
) -> None:
    populate(pg_store, students=3)
    count = pg_store.event_count()
    target = target_of(pg_location)
    dump = tmp_path / "miljo.dump"
    subprocess.run(
        [
            tool("pg_dump"),
            *connection_args(target),
            "-d",
            target.dbname,
            "--schema",
            target.schema,
            "--format=custom",
            "--file",
            str(dump),
        ],
        env=pg_env(target),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            tool("pg_restore"),
            *connection_args(target),
            "-d",
            scratch_database.dbname,
            "--no-owner",
            "--exit-on-error",
            str(dump),
        ],
        env=pg_env(target),
        check=True,
        capture_output=True,
    )
    restored = attrs.evolve(
        pg_location, postgres=attrs.evolve(scratch_database, schema=target.schema)
    )
    # The dump carries the keyring's rows (data keys still wrapped by the master key, which
    # stays in the key folder: ADR 0015).
    restored_target = attrs.evolve(scratch_database, schema=target.schema)
    assert keyring_rows(restored_target) == keyring_rows(target) != []
    result = verify_store(restored)  # the same keys folder: keys are backed up apart
    assert result.ok
    assert result.checked == count
    with open_store(restored, clock=FakeClock(datetime(2024, 9, 1, tzinfo=UTC))) as copy:
        assert copy.overview(REKTOR, school="hvalstad", on=OVERVIEW_DAY) == (
            pg_store.overview(REKTOR, school="hvalstad", on=OVERVIEW_DAY)
        )
        copy.add_class(ADMIN, school="hvalstad", trinn=9, class_name="9a")  # writes go on
        assert copy.event_count() > count
    assert verify_store(restored).ok
