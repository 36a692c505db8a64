"""The ``miljo`` command in-process (click's CliRunner): every command's happy path, the
pinned ``--json`` schemas, every exit code, and that a refused command writes nothing."""

from __future__ import annotations

import shlex
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from cli import exit_codes
from domain.application import MiljoApplication
from domain.facade import Miljo
from tests.cli.conftest import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    Cli,
    error_line,
)

NAME = "Kåre Ødegård Æsøy"


# ---------------------------------------------------------------------------------------------
# Schema checking: each key with a JSON type
# ---------------------------------------------------------------------------------------------


class Kind:
    """A JSON value kind a schema pins."""

    def __init__(self, name: str, check: Any) -> None:
        self.name = name
        self.check = check

    def __repr__(self) -> str:
        return self.name


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and str(UUID(value)) == value


def _is_date(value: object) -> bool:
    return isinstance(value, str) and date.fromisoformat(value).isoformat() == value


def _is_instant(value: object) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None


STR = Kind("str", lambda v: isinstance(v, str))
INT = Kind("int", lambda v: type(v) is int)
BOOL = Kind("bool", lambda v: type(v) is bool)
ID = Kind("id", _is_uuid)
DATE = Kind("date", _is_date)
INSTANT = Kind("instant", _is_instant)
MINUTES = Kind(
    "minutes",
    lambda v: (
        isinstance(v, dict)
        and set(v) == {"teacher", "special_ed_teacher", "miljoterapeut", "assistant"}
        and all(type(x) is int for x in v.values())
    ),
)
DECIMAL = Kind("decimal", lambda v: isinstance(v, str) and v.replace(".", "", 1).isdigit())


def null(kind: Kind) -> Kind:
    return Kind(f"{kind.name}|null", lambda v: v is None or kind.check(v))


def items(kind: Kind) -> Kind:
    return Kind(f"[{kind.name}]", lambda v: isinstance(v, list) and all(kind.check(x) for x in v))


def assert_schema(document: Any, schema: dict[str, Any]) -> None:
    """``document`` has exactly the keys of ``schema`` and each value has its kind; a nested
    schema (a dict) applies to every item of a list value."""
    assert isinstance(document, dict)
    assert sorted(document) == sorted(schema)
    for key, kind in schema.items():
        value = document[key]
        if isinstance(kind, dict):
            assert isinstance(value, list), key
            for item in value:
                assert_schema(item, kind)
        else:
            assert kind.check(value), f"{key}={value!r} is not {kind!r}"


WRITE_RESULT = {"action": STR, "id": null(ID)}
STORE_INIT = {**WRITE_RESULT, "path": STR, "keys": items(STR)}
STORE_INFO = {
    "path": STR,
    "size_bytes": INT,
    "event_count": INT,
    "keys_dir": null(STR),
    "keys_present": BOOL,
    "view_position": INT,
    "views_behind": BOOL,
}
SCHOOL = {
    "school_id": ID,
    "code": STR,
    "name": STR,
    "first_trinn": INT,
    "last_trinn": INT,
    "classes": {"class_name": STR, "trinn": INT},
    "active_students": INT,
    "active_student_ids": items(ID),
}
STUDENT_FIND = {
    "student_id": ID,
    "school_code": STR,
    "trinn": INT,
    "class_name": STR,
    "is_active": BOOL,
}
OBSERVATION = {
    "observation_id": ID,
    "version_id": ID,
    "arena": STR,
    "categories": items(STR),
    "text": STR,
    "student_voice": null(STR),
    "observed_at": INSTANT,
    "recorded_at": INSTANT,
    "author_id": STR,
    "author_role": STR,
    "first_recorded_at": INSTANT,
    "first_author_id": STR,
    "corrected": BOOL,
    "correction_ids": items(ID),
    "correction_reason": null(STR),
}
STUDENT_SHOW = {
    "student_id": ID,
    "school_code": STR,
    "student_number": STR,
    "name": STR,
    "trinn": INT,
    "class_name": STR,
    "registered_on": DATE,
    "is_active": BOOL,
    "observations": OBSERVATION,
    "concerns": {
        "concern_id": ID,
        "text": STR,
        "raised_at": INSTANT,
        "raised_by": STR,
        "raised_by_role": STR,
        "discussed_in": items(ID),
    },
    "consents": {
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
    },
    "referrals": {
        "referral_id": ID,
        "body": STR,
        "reason": STR,
        "made_on": DATE,
        "made_by": STR,
        "status": STR,
        "status_changed_on": DATE,
    },
    "plans": {
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
    },
    "vedtak_ids": items(ID),
    "meeting_ids": items(ID),
    "version": INT,
}
VEDTAK = {
    "vedtak_id": ID,
    "student_id": ID,
    "school_code": STR,
    "kind": STR,
    "legal_reference": STR,
    "status": STR,
    "recommendation_minutes": null(MINUTES),
    "granted_minutes": null(MINUTES),
    "deviates": BOOL,
    "valid_from": null(DATE),
    "valid_to": null(DATE),
    "in_force_until": null(DATE),
    "notice_date": null(DATE),
    "appeal_deadline": null(DATE),
    "appeal_open": BOOL,
    "delivered_minutes": MINUTES,
    "version": INT,
}
TEAM = {
    "team_id": ID,
    "school_code": STR,
    "name": STR,
    "coordinator_id": null(STR),
    "on": DATE,
    "members": {
        "member_id": STR,
        "profession": STR,
        "position_percent": DECIMAL,
        "joined_on": DATE,
        "left_on": null(DATE),
        "is_coordinator": BOOL,
    },
    "assignments": {
        "assignment_id": ID,
        "member_id": STR,
        "target_kind": STR,
        "student_id": null(ID),
        "vedtak_id": null(ID),
        "trinn": null(INT),
        "class_name": null(STR),
        "minutes_per_week": INT,
        "valid_from": DATE,
        "valid_to": null(DATE),
    },
}
MEETING = {
    "meeting_id": ID,
    "school_code": STR,
    "kind": STR,
    "scheduled_at": INSTANT,
    "held_at": null(INSTANT),
    "minutes_closed": BOOL,
    "cancelled": BOOL,
    "participants": {"person_id": STR, "role": STR},
    "external_bodies": items(STR),
    "agenda": {
        "item_id": ID,
        "subject_kind": STR,
        "student_id": null(ID),
        "anonymous": BOOL,
        "trinn": null(INT),
        "class_name": null(STR),
        "title": STR,
        "concern_id": null(ID),
    },
    "notes": {
        "item_id": ID,
        "student_id": null(ID),
        "text": STR,
        "recorded_at": INSTANT,
        "recorded_by": STR,
    },
    "amendments": {
        "amendment_id": ID,
        "item_id": null(ID),
        "student_id": null(ID),
        "text": STR,
        "reason": STR,
        "recorded_at": INSTANT,
        "recorded_by": STR,
    },
    "decisions": {
        "decision_id": ID,
        "item_id": ID,
        "student_id": null(ID),
        "outcome": STR,
        "text": STR,
        "responsible": null(STR),
        "due": null(DATE),
        "completed_on": null(DATE),
    },
    "open_actions": {
        "decision_id": ID,
        "item_id": ID,
        "student_id": null(ID),
        "responsible": STR,
        "due": DATE,
        "text": STR,
    },
    "version": INT,
}
IMPORT_REPORT = {
    "action": STR,
    "school_code": STR,
    "rows": INT,
    "registered": INT,
    "already_present": INT,
}

STUDENT = ("--school", "gjesdal", "1001")


def show(cli: Cli, actor: str = COORDINATOR) -> Any:
    """Student 1001's case, read by ``actor`` (by default the miljøkoordinator, who reads
    every case of the school; admin reads no case content without a stated reason)."""
    return cli.json("--as", actor, "student", "show", *STUDENT)


# ---------------------------------------------------------------------------------------------
# Help never opens the store
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["student", "--help"],
        ["student", "register", "--help"],
        ["vedtak", "decide", "--help"],
        ["student", "plan", "create", "-h"],
    ],
)
def test_help_never_opens_the_store(fresh: Cli, args: list[str]) -> None:
    result = fresh.ok(*args)
    assert result.stdout.startswith("Usage: miljo")
    assert "Example" in result.stdout
    assert not fresh.store_exists()
    assert not fresh.home.exists()


@pytest.mark.backends("sqlite", reason="a corrupt SQLite file; PostgreSQL has no store file")
def test_help_works_beside_a_corrupt_store(fresh: Cli) -> None:
    fresh.store.parent.mkdir(parents=True)
    fresh.store.write_bytes(b"this is not a database\n" * 10)
    assert "Usage: miljo school show" in fresh.ok("school", "show", "--help").stdout


def test_version(fresh: Cli) -> None:
    assert "miljo" in fresh.ok("--version").stdout


# ---------------------------------------------------------------------------------------------
# store
# ---------------------------------------------------------------------------------------------


def test_store_init_creates_the_store_and_its_keys(fresh: Cli) -> None:
    document = fresh.json("store", "init")
    assert_schema(document, STORE_INIT)
    assert document["action"] == "store init"
    assert document["path"] == fresh.described()
    assert fresh.store_exists()
    key = Path(document["keys"][0])
    assert key.parent == fresh.keys_dir
    assert key.stat().st_mode & 0o777 == 0o600


def test_store_init_text_names_store_and_keys(fresh: Cli) -> None:
    out = fresh.ok("store", "init").stdout
    assert f"Created store {fresh.described()}" in out
    assert "index.key" in out


def test_store_init_refuses_to_overwrite(empty: Cli) -> None:
    empty.ok("school", "register", "gjesdal", "--name", "Gjesdal ungdomsskole", "--trinn", "8-10")

    def contents() -> tuple[int, list[bytes], bytes]:
        keys = sorted(path.read_bytes() for path in empty.keys_dir.iterdir())
        file = empty.store.read_bytes() if empty.backend == "sqlite" else b""
        return empty.stored_events(), keys, file

    before = contents()
    line = empty.fails(exit_codes.STORE_ERROR, "store", "init")
    assert "already exists" in line
    assert contents() == before
    assert before[0] == 1


def test_memory_store_needs_no_init(fresh: Cli) -> None:
    line = fresh.fails(exit_codes.STORE_ERROR, "--store", ":memory:", "store", "init")
    assert "in-memory" in line
    document = fresh.json("--store", ":memory:", "store", "info")
    assert document == {
        "path": ":memory:",
        "size_bytes": 0,
        "event_count": 0,
        "keys_dir": None,
        "keys_present": False,
        "view_position": 0,
        "views_behind": False,
    }


def test_store_info_json_and_text(school: Cli) -> None:
    document = school.json("store", "info")
    assert_schema(document, STORE_INFO)
    assert document["path"] == school.described()
    if school.backend == "sqlite":
        assert document["size_bytes"] == school.store.stat().st_size
    assert document["event_count"] == 6  # school, 3 classes, student registered + enrolled
    assert document["keys_present"] is True
    text = school.ok("store", "info").stdout
    assert "events: 6" in text
    assert "(present)" in text
    assert NAME not in text


def test_store_info_uses_the_global_store_option(school: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    school.ok("--store", str(other), "store", "init")
    assert school.json("--store", str(other), "store", "info")["event_count"] == 0


def test_missing_store_is_a_store_error(fresh: Cli) -> None:
    line = fresh.fails(exit_codes.STORE_ERROR, "school", "show", "gjesdal")
    assert fresh.missing_store_says in line
    assert "miljo store init" in line
    fresh.fails(exit_codes.STORE_ERROR, "store", "info")
    assert not fresh.store_exists()


@pytest.mark.backends("sqlite", reason="a file that is not a database; PostgreSQL has no file")
def test_corrupt_store_file_is_a_store_error(fresh: Cli) -> None:
    fresh.store.parent.mkdir(parents=True)
    fresh.store.write_bytes(b"Kari's notes, not a database\n" * 50)
    line = fresh.fails(exit_codes.STORE_ERROR, "school", "show", "gjesdal")
    assert "not a miljo store" in line
    fresh.fails(exit_codes.STORE_ERROR, "store", "info")


@pytest.mark.backends("sqlite", reason="a wrecked SQLite schema page")
def test_damaged_sqlite_store_is_a_store_error(empty: Cli) -> None:
    data = bytearray(empty.store.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # keep the header, wreck the schema page
    empty.store.write_bytes(bytes(data))
    line = empty.fails(exit_codes.STORE_ERROR, "school", "show", "gjesdal")
    assert "cannot be" in line


def test_missing_keys_is_a_store_error_but_info_still_works(school: Cli) -> None:
    (school.keys_dir / "index.key").unlink()
    line = school.fails(exit_codes.STORE_ERROR, "student", "find", *STUDENT)
    assert "index.key" in line
    assert "missing" in line
    document = school.json("store", "info")
    assert document["keys_present"] is False
    assert document["event_count"] == 6


# ---------------------------------------------------------------------------------------------
# school
# ---------------------------------------------------------------------------------------------


def test_school_register_add_class_and_show(empty: Cli) -> None:
    school_id = empty.new_id(
        "school", "register", "trudvang", "--name", "Trudvang skule", "--trinn", "1-5"
    )
    assert empty.json("school", "add-class", "trudvang", "2b", "--trinn", "2") == {
        "action": "school add-class",
        "id": None,
    }
    empty.ok("school", "add-class", "trudvang", "1a", "--trinn", "1")
    document = empty.json("school", "show", "trudvang")
    assert_schema(document, SCHOOL)
    assert document["school_id"] == school_id
    assert document["name"] == "Trudvang skule"
    assert (document["first_trinn"], document["last_trinn"]) == (1, 5)
    assert document["classes"] == [
        {"class_name": "1a", "trinn": 1},
        {"class_name": "2b", "trinn": 2},
    ]
    assert document["active_students"] == 0
    assert document["active_student_ids"] == []
    text = empty.ok("school", "show", "trudvang").stdout
    assert "trudvang (Trudvang skule)" in text
    assert "trinn:           1-5" in text


def test_school_register_text_prints_the_id(empty: Cli) -> None:
    out = empty.ok("school", "register", "strinda", "--name", "Strinda vgs", "--trinn", "11-13")
    assert out.stdout.startswith("Registered school strinda: ")
    UUID(out.stdout.strip().rsplit(" ", 1)[1])


def test_school_show_lists_active_student_ids(school: Cli) -> None:
    student_id = school.json("student", "find", *STUDENT)["student_id"]
    document = school.json("school", "show", "gjesdal")
    assert document["active_students"] == 1
    assert document["active_student_ids"] == [student_id]


def test_school_errors(school: Cli) -> None:
    assert "already exists" in school.fails(
        exit_codes.RULE_VIOLATION,
        "school", "register", "gjesdal", "--name", "Igjen", "--trinn", "8-10",
    )  # fmt: skip
    assert "already exists" in school.fails(
        exit_codes.RULE_VIOLATION, "school", "add-class", "gjesdal", "8c", "--trinn", "8"
    )
    school.fails(exit_codes.NOT_FOUND, "school", "show", "sandnes")
    assert "invalid school code" in school.fails(
        exit_codes.USAGE_ERROR, "school", "register", "Æ", "--name", "X", "--trinn", "1-2"
    )
    assert "trinn range" in school.fails(
        exit_codes.USAGE_ERROR, "school", "register", "ny", "--name", "X", "--trinn", "8-x"
    )
    assert "invalid trinn" in school.fails(
        exit_codes.USAGE_ERROR, "school", "add-class", "gjesdal", "5a", "--trinn", "5"
    )


# ---------------------------------------------------------------------------------------------
# student
# ---------------------------------------------------------------------------------------------


def test_student_find_shows_no_personal_data(school: Cli) -> None:
    document = school.json("student", "find", *STUDENT)
    assert_schema(document, STUDENT_FIND)
    assert document["school_code"] == "gjesdal"
    assert (document["trinn"], document["class_name"], document["is_active"]) == (8, "8c", True)
    text = school.ok("student", "find", *STUDENT).stdout
    assert NAME not in text
    assert "8c (trinn 8)" in text


def test_student_register_defaults_to_today(school: Cli) -> None:
    document = school.json(
        "student", "register", "--school", "gjesdal", "1002",
        "--name", "Åse Nordmæla", "--trinn", "9", "--class", "9a",
    )  # fmt: skip
    assert_schema(document, WRITE_RESULT)
    assert document["action"] == "student register"
    case = school.json("--as", COORDINATOR, "student", "show", "--school", "gjesdal", "1002")
    assert case["student_id"] == document["id"]
    assert case["registered_on"] == "2024-09-20"  # MILJO_FAKE_NOW, in Norway
    assert case["name"] == "Åse Nordmæla"


def test_norwegian_characters_end_to_end(school: Cli) -> None:
    school.act_as(COORDINATOR)
    school.ok(
        "student", "observe", *STUDENT, "--arena", "break", "--category", "social",
        "--text", "Blåbærsyltetøy på gården; «æ, ø, å» og ÆØÅ",
        "--voice", "Jeg følte meg utestengt",
    )  # fmt: skip
    case = show(school)
    assert case["name"] == NAME
    assert case["observations"][0]["text"] == "Blåbærsyltetøy på gården; «æ, ø, å» og ÆØÅ"
    assert case["observations"][0]["student_voice"] == "Jeg følte meg utestengt"
    text = school.ok("student", "show", *STUDENT).stdout
    assert f"1001 {NAME}" in text
    assert "Blåbærsyltetøy" in text


def test_student_show_schema_with_every_kind_of_entry(school: Cli) -> None:
    school.act_as(COORDINATOR)
    observation = school.new_id(
        "student", "observe", *STUDENT, "--arena", "break", "--category", "conflict",
        "--category", "social", "--text", "Uro i friminuttet",
        "--observed-at", "2024-09-19T10:15:00+02:00",
    )  # fmt: skip
    correction = school.new_id(
        "student", "correct-observation", *STUDENT, "--observation", observation,
        "--arena", "classroom", "--category", "conflict", "--text", "Uro i timen",
        "--observed-at", "2024-09-19T10:15:00+02:00", "--reason", "feil arena",
    )  # fmt: skip
    concern = school.new_id("student", "concern", *STUDENT, "--summary", "Mye fravær")
    consent = school.new_id(
        "student", "consent", *STUDENT, "--giver", "guardian", "--body", "ppt",
        "--from", "2024-09-01", "--to", "2025-06-20", "--note", "Muntlig",
    )  # fmt: skip
    referral = school.new_id(
        "student", "refer", *STUDENT, "--body", "ppt", "--reason", "Sakkyndig vurdering"
    )
    plan = school.new_id(
        "student", "plan", "create", *STUDENT, "--problem", "Utestengt",
        "--measure", "Voksen ute", "--measure", "Samtaler", "--when", "Fra uke 39",
        "--responsible", "p-coord", "--evaluate-on", "2024-10-15",
    )  # fmt: skip
    case = show(school)
    assert_schema(case, STUDENT_SHOW)
    [shown] = case["observations"]
    assert shown["observation_id"] == observation
    assert shown["version_id"] == correction
    assert shown["correction_ids"] == [correction]
    assert (shown["arena"], shown["text"], shown["corrected"]) == ("classroom", "Uro i timen", True)
    assert shown["correction_reason"] == "feil arena"
    assert shown["observed_at"] == "2024-09-19T08:15:00+00:00"
    assert [c["concern_id"] for c in case["concerns"]] == [concern]
    assert case["consents"][0]["consent_id"] == consent
    assert case["consents"][0]["scope"] == "ppt"
    assert case["referrals"][0]["referral_id"] == referral
    assert case["referrals"][0]["status"] == "sent"
    assert case["plans"][0]["plan_id"] == plan
    assert case["plans"][0]["measures"] == ["Voksen ute", "Samtaler"]
    text = school.ok("student", "show", *STUDENT).stdout
    for heading in ("Observations", "Concerns", "Consents", "Referrals", "Aktivitetsplaner"):
        assert heading in text
    assert "2024-09-19T10:15+02:00" in text  # instants shown in Norwegian time


def test_student_show_records_the_read(school: Cli) -> None:
    before = school.event_count()
    school.ok("student", "show", *STUDENT, "--reason", "ressursteam")
    assert school.event_count() > before


def test_consent_withdraw(school: Cli) -> None:
    school.act_as(COORDINATOR)
    consent = school.new_id(
        "student", "consent", *STUDENT, "--giver", "guardian",
        "--meeting-kind", "arbeidslag", "--from", "2024-09-01",
    )  # fmt: skip
    school.ok("student", "withdraw-consent", *STUDENT, "--consent", consent, "--on", "2024-09-19")
    [stored] = show(school)["consents"]
    assert (stored["scope_kind"], stored["scope"]) == ("meeting_kind", "arbeidslag")
    assert stored["withdrawn_on"] == "2024-09-19"


@pytest.mark.parametrize(
    "scope", [[], ["--body", "ppt", "--meeting-kind", "arbeidslag"]], ids=["none", "both"]
)
def test_consent_needs_exactly_one_scope(school: Cli, scope: list[str]) -> None:
    line = school.fails(
        exit_codes.USAGE_ERROR,
        "student", "consent", *STUDENT, "--giver", "guardian", "--from", "2024-09-01", *scope,
    )  # fmt: skip
    assert "exactly one of --body and --meeting-kind" in line


def test_referral_status(school: Cli) -> None:
    school.act_as(COORDINATOR)
    referral = school.new_id("student", "refer", *STUDENT, "--body", "bup", "--reason", "Angst")
    school.ok(
        "student", "referral-status", *STUDENT, "--referral", referral, "--status", "acknowledged"
    )
    assert show(school)["referrals"][0]["status"] == "acknowledged"
    school.fails(
        exit_codes.RULE_VIOLATION,
        "student", "referral-status", *STUDENT, "--referral", referral, "--status", "sent",
    )  # fmt: skip


def test_plan_evaluate_and_close(school: Cli) -> None:
    school.act_as(COORDINATOR)
    plan = school.new_id(
        "student", "plan", "create", *STUDENT, "--problem", "Utestengt", "--measure", "Voksen ute",
        "--when", "Uke 39", "--responsible", "p-coord", "--evaluate-on", "2024-10-15",
    )  # fmt: skip
    school.ok(
        "student", "plan", "evaluate", *STUDENT, "--plan", plan, "--assessment", "Bedre",
        "--next", "2024-11-01",
    )  # fmt: skip
    [stored] = show(school)["plans"]
    assert (stored["last_evaluated_on"], stored["evaluation_date"]) == ("2024-09-20", "2024-11-01")
    school.ok("student", "plan", "close", *STUDENT, "--plan", plan, "--reason", "Målene er nådd")
    [stored] = show(school)["plans"]
    assert (stored["closed_on"], stored["close_reason"]) == ("2024-09-20", "Målene er nådd")
    assert "closed" in school.fails(
        exit_codes.RULE_VIOLATION,
        "student", "plan", "close", *STUDENT, "--plan", plan, "--reason", "Igjen",
    )  # fmt: skip


def test_change_class_and_depart(school: Cli) -> None:
    school.ok("student", "change-class", *STUDENT, "--trinn", "8", "--class", "8d")
    assert school.json("student", "find", *STUDENT)["class_name"] == "8d"
    school.fails(
        exit_codes.NOT_FOUND, "student", "change-class", *STUDENT, "--trinn", "9", "--class", "9z"
    )
    # a transfer goes to a school registered in the store
    school.ok("school", "register", "strinda", "--name", "Strinda", "--trinn", "8-13")
    school.ok(
        "student", "depart", *STUDENT, "--kind", "transferred", "--to-school", "strinda",
        "--on", "2024-09-20",
    )  # fmt: skip
    assert school.json("student", "find", *STUDENT)["is_active"] is False
    assert school.json("school", "show", "gjesdal")["active_students"] == 0
    school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", COORDINATOR, "student", "concern", *STUDENT, "--summary", "x",
    )  # fmt: skip


def test_student_errors(school: Cli) -> None:
    school.act_as(COORDINATOR)
    line = school.fails(exit_codes.NOT_FOUND, "student", "show", "--school", "gjesdal", "4242")
    assert "4242" not in line  # the number is not echoed
    school.fails(exit_codes.NOT_FOUND, "student", "show", "--school", "sandnes", "1001")
    assert "already registered" in school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", ADMIN,
        "student", "register", *STUDENT, "--name", "Dobbel", "--trinn", "8", "--class", "8c",
    )  # fmt: skip
    assert "ISO 8601" in school.fails(
        exit_codes.USAGE_ERROR,
        "student", "observe", *STUDENT, "--arena", "break", "--category", "social",
        "--text", "x", "--observed-at", "i går",
    )  # fmt: skip
    assert "offset" in school.fails(
        exit_codes.USAGE_ERROR,
        "student", "observe", *STUDENT, "--arena", "break", "--category", "social",
        "--text", "x", "--observed-at", "2024-09-19T10:00:00",
    )  # fmt: skip
    assert "after the time it is recorded" in school.fails(
        exit_codes.RULE_VIOLATION,
        "student", "observe", *STUDENT, "--arena", "break", "--category", "social",
        "--text", "x", "--observed-at", "2024-09-21T10:00:00+02:00",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "student", "observe", *STUDENT, "--arena", "moon", "--category", "social", "--text", "x",
    )  # fmt: skip
    school.fails(exit_codes.USAGE_ERROR, "student", "show", "--school", "gjesdal")
    assert "not an id" in school.fails(
        exit_codes.USAGE_ERROR, "student", "withdraw-consent", *STUDENT, "--consent", "abc"
    )
    assert "YYYY-MM-DD" in school.fails(
        exit_codes.USAGE_ERROR,
        "student",
        "depart",
        *STUDENT,
        "--kind",
        "left",
        "--on",
        "20.09.2024",
    )


# ---------------------------------------------------------------------------------------------
# vedtak
# ---------------------------------------------------------------------------------------------


# Vedtak roles (domain/policy.py): the spesialpedagogisk ansvarlig opens the case and records
# PPT's tilråding, only the rektor decides, amends and revokes, management (here the
# inspektør) sends the notice and handles appeals, the miljøkoordinator records delivery and
# reads the vedtak.


def open_vedtak(cli: Cli) -> str:
    return cli.new_id(
        "--as", SPED_LEAD, "vedtak", "open", *STUDENT, "--kind", "individually_adapted_education"
    )


def decided_vedtak(cli: Cli, *, valid: tuple[str, str] = ("2024-09-16", "2025-06-20")) -> str:
    vedtak = open_vedtak(cli)
    cli.ok(
        "--as", SPED_LEAD, "vedtak", "recommend", vedtak, "--on", "2024-09-10",
        "--miljoterapeut", "380", "--special-ed-teacher", "76",
        "--summary", "Sakkyndig vurdering fra PPT",
    )  # fmt: skip
    cli.ok(
        "--as", REKTOR, "vedtak", "decide", vedtak, "--miljoterapeut", "380",
        "--special-ed-teacher", "76", "--organisation", "I klassen", "--content", "Sosial trening",
        "--reasons", "Etter PPTs tilråding", "--from", valid[0], "--to", valid[1],
    )  # fmt: skip
    return vedtak


def test_vedtak_from_opening_to_delivery(school: Cli) -> None:
    school.act_as(COORDINATOR)
    vedtak = open_vedtak(school)
    opened = school.json("vedtak", "show", vedtak)
    assert_schema(opened, VEDTAK)
    assert (opened["status"], opened["granted_minutes"]) == ("opened", None)
    assert opened["legal_reference"]
    assert "§" in opened["legal_reference"]
    school.ok(
        "--as", SPED_LEAD, "vedtak", "recommend", vedtak, "--on", "2024-09-10",
        "--miljoterapeut", "380", "--assistant", "7,5", "--summary", "PPT",
    )  # fmt: skip
    school.ok(
        "--as", REKTOR, "vedtak", "decide", vedtak, "--miljoterapeut", "342",
        "--assistant", "7.5", "--organisation", "I liten gruppe", "--content", "Sosial trening",
        "--reasons", "Etter tilråding", "--deviation-reason", "Færre timer i klassen",
        "--from", "2024-09-16", "--to", "2025-06-20",
    )  # fmt: skip
    notice = school.json("--as", INSPEKTOR, "vedtak", "notice", vedtak, "--on", "2024-09-20")
    assert_schema(notice, {**WRITE_RESULT, "appeal_deadline": DATE})
    assert notice == {"action": "vedtak notice", "id": vedtak, "appeal_deadline": "2024-10-11"}
    school.ok("vedtak", "deliver", vedtak, "--week-of", "2024-09-16", "--miljoterapeut", "10")
    school.ok(
        "vedtak", "correct-delivery", vedtak, "--week-of", "2024-09-16",
        "--miljoterapeut", "8.25", "--reason", "Sykdom torsdag",
    )  # fmt: skip
    document = school.json("vedtak", "show", vedtak)
    assert_schema(document, VEDTAK)
    assert document["status"] == "decided"
    assert document["recommendation_minutes"] == {
        "teacher": 0, "special_ed_teacher": 0, "miljoterapeut": 22800, "assistant": 450,
    }  # fmt: skip
    assert document["granted_minutes"]["miljoterapeut"] == 342 * 60
    assert document["deviates"] is True
    assert document["delivered_minutes"]["miljoterapeut"] == 495
    assert (document["notice_date"], document["appeal_deadline"]) == ("2024-09-20", "2024-10-11")
    assert (document["valid_from"], document["in_force_until"]) == ("2024-09-16", "2025-06-20")
    assert show(school)["vedtak_ids"] == [vedtak]
    text = school.ok("vedtak", "show", vedtak).stdout
    assert "miljoterapeut 342 h, assistant 7 h 30 min per year" in text
    assert "miljoterapeut 8 h 15 min in all" in text


def test_vedtak_appeal_amend_and_revoke(school: Cli) -> None:
    school.act_as(COORDINATOR)
    vedtak = decided_vedtak(school)
    school.ok("--as", INSPEKTOR, "vedtak", "notice", vedtak)
    school.ok("--as", INSPEKTOR, "vedtak", "appeal", vedtak, "--grounds", "For få timer")
    assert school.json("vedtak", "show", vedtak)["appeal_open"] is True
    school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", INSPEKTOR, "vedtak", "appeal", vedtak, "--grounds", "Igjen",
    )  # fmt: skip
    school.ok(
        "--as", INSPEKTOR, "vedtak", "resolve-appeal", vedtak, "--outcome", "changed",
        "--note", "Statsforvalteren",
    )  # fmt: skip
    assert school.json("vedtak", "show", vedtak)["appeal_open"] is False
    school.ok(
        "--as", REKTOR, "vedtak", "amend", vedtak, "--miljoterapeut", "420",
        "--special-ed-teacher", "76", "--organisation", "I klassen", "--content", "Sosial trening",
        "--reasons", "Endret etter klage", "--deviation-reason", "Flere timer enn tilrådd",
        "--to", "2025-06-20",
    )  # fmt: skip
    assert school.json("vedtak", "show", vedtak)["granted_minutes"]["miljoterapeut"] == 25200
    school.ok("--as", REKTOR, "vedtak", "revoke", vedtak, "--reasons", "Behovet er borte")
    document = school.json("vedtak", "show", vedtak)
    assert (document["status"], document["in_force_until"]) == ("revoked", "2024-09-19")


def test_vedtak_expire(school: Cli) -> None:
    school.act_as(SPED_LEAD)
    vedtak = decided_vedtak(school, valid=("2024-01-08", "2024-06-20"))
    school.fails(exit_codes.RULE_VIOLATION, "vedtak", "expire", vedtak, "--on", "2024-06-01")
    school.ok("vedtak", "expire", vedtak, "--on", "2024-06-21")
    assert school.json("vedtak", "show", vedtak)["status"] == "expired"


def test_vedtak_errors(school: Cli) -> None:
    school.act_as(SPED_LEAD)
    vedtak = open_vedtak(school)
    events = school.event_count()
    # Only the rektor decides: the access policy refuses anyone else before the vedtak's own
    # "only the rektor" rule is reached.
    line = school.fails(
        exit_codes.ACCESS_DENIED,
        "--as", INSPEKTOR,
        "vedtak", "decide", vedtak, "--miljoterapeut", "1", "--organisation", "o",
        "--content", "c", "--reasons", "r", "--from", "2024-09-16", "--to", "2025-06-20",
    )  # fmt: skip
    assert line == (
        "miljo: error: access denied: role inspektor may not decide, amend or revoke a vedtak"
    )
    assert school.event_count() == events
    assert "whole number of minutes" in school.fails(
        exit_codes.USAGE_ERROR,
        "vedtak", "recommend", vedtak, "--on", "2024-09-10", "--teacher", "0.001", "--summary", "s",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "vedtak", "recommend", vedtak, "--on", "2024-09-10", "--teacher", "-1", "--summary", "s",
    )  # fmt: skip
    school.fails(exit_codes.USAGE_ERROR, "vedtak", "show", "not-an-id")
    school.fails(exit_codes.NOT_FOUND, "vedtak", "show", str(UUID(int=7)))
    school.fails(exit_codes.USAGE_ERROR, "vedtak", "open", *STUDENT, "--kind", "magic")


# ---------------------------------------------------------------------------------------------
# team
# ---------------------------------------------------------------------------------------------

TEAM_AT = ("--school", "gjesdal")


def test_team_from_forming_to_rotation(school: Cli) -> None:
    vedtak = decided_vedtak(school)
    team_id = school.new_id("team", "form", *TEAM_AT, "--name", "Miljøteamet")
    school.ok(
        "team", "add-member", *TEAM_AT, "p-mt1", "--profession", "sosionom",
        "--position", "85", "--joined-on", "2024-08-01",
    )  # fmt: skip
    school.ok(
        "team", "add-member", *TEAM_AT, "p-mt2", "--profession", "vernepleier",
        "--position", "42.5", "--joined-on", "2024-08-01",
    )  # fmt: skip
    school.ok("--as", REKTOR, "team", "coordinator", *TEAM_AT, "p-mt1", "--from", "2024-08-19")
    school.ok("team", "position", *TEAM_AT, "p-mt2", "--percent", "50", "--from", "2024-09-01")
    school.act_as(COORDINATOR)  # the coordinator allocates the hours
    to_class = school.new_id(
        "team", "assign", *TEAM_AT, "p-mt1", "--target", "class", "--trinn", "8", "--class", "8c",
        "--hours", "7.5", "--from", "2024-08-19",
    )  # fmt: skip
    to_student = school.new_id(
        "team", "assign", *TEAM_AT, "p-mt1", "--target", "student", "--student", "1001",
        "--vedtak", vedtak, "--hours", "10", "--from", "2024-09-16", "--to", "2025-06-20",
    )  # fmt: skip
    rotated = school.new_id(
        "team", "rotate", *TEAM_AT, to_class, "--to-member", "p-mt2", "--on", "2024-09-02"
    )
    document = school.json("team", "show", *TEAM_AT, "--on", "2024-09-20")
    assert_schema(document, TEAM)
    assert (document["team_id"], document["name"]) == (team_id, "Miljøteamet")
    assert document["coordinator_id"] == "p-mt1"
    assert document["on"] == "2024-09-20"
    members = {m["member_id"]: m for m in document["members"]}
    assert members["p-mt1"]["position_percent"] == "85"
    assert members["p-mt2"]["position_percent"] == "50"
    assert members["p-mt1"]["is_coordinator"] is True
    active = {a["assignment_id"]: a for a in document["assignments"]}
    assert set(active) == {to_student, rotated}
    assert active[rotated]["member_id"] == "p-mt2"
    assert active[rotated]["minutes_per_week"] == 450
    assert active[to_student]["vedtak_id"] == vedtak
    assert (
        active[to_student]["student_id"] == school.json("student", "find", *STUDENT)["student_id"]
    )
    text = school.ok("team", "show", *TEAM_AT, "--on", "2024-09-20").stdout
    assert "7 h 30 min" in text
    assert "Miljøteamet (gjesdal)" in text
    school.ok(
        "team", "end-assignment", *TEAM_AT, to_student, "--on", "2024-12-20",
        "--reason", "Ny fordeling etter jul",
    )  # fmt: skip
    school.ok("--as", ADMIN, "team", "member-left", *TEAM_AT, "p-mt2", "--on", "2024-12-31")
    later = school.json("team", "show", *TEAM_AT, "--on", "2025-01-06")
    assert later["assignments"] == []
    assert {m["member_id"]: m["left_on"] for m in later["members"]} == {
        "p-mt1": None,
        "p-mt2": "2024-12-31",
    }


def test_team_errors(school: Cli) -> None:
    school.ok("team", "form", *TEAM_AT, "--name", "Miljøteamet")
    school.ok(
        "team", "add-member", *TEAM_AT, "p-ass", "--profession", "assistent", "--position", "50",
        "--joined-on", "2024-08-01",
    )  # fmt: skip
    assert "miljøterapeut" in school.fails(
        exit_codes.RULE_VIOLATION, "team", "coordinator", *TEAM_AT, "p-ass"
    )
    assert "capacity" in school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", COORDINATOR,
        "team", "assign", *TEAM_AT, "p-ass", "--target", "school", "--hours", "30",
        "--from", "2024-09-02",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "team", "assign", *TEAM_AT, "p-ass", "--target", "school", "--hours", "1.001",
        "--from", "2024-09-02",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "team", "add-member", *TEAM_AT, "p-x", "--profession", "sosionom", "--position", "åtti",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "team", "add-member", *TEAM_AT, "p-x", "--profession", "sosionom", "--position", "120",
    )  # fmt: skip
    school.fails(exit_codes.NOT_FOUND, "team", "show", "--school", "sandnes")


# ---------------------------------------------------------------------------------------------
# meeting
# ---------------------------------------------------------------------------------------------


def test_meeting_from_schedule_to_amended_minutes(school: Cli) -> None:
    school.act_as(COORDINATOR)
    concern = school.new_id("student", "concern", *STUDENT, "--summary", "Mye fravær")
    school.ok(
        "student", "consent", *STUDENT, "--giver", "guardian", "--meeting-kind", "arbeidslag",
        "--from", "2024-09-01",
    )  # fmt: skip
    meeting = school.new_id(
        "meeting", "schedule", *TEAM_AT, "--kind", "arbeidslag", "--at", "2024-09-18T08:00:00+02:00"
    )
    school.ok("meeting", "participant", meeting, "--person", "p-rektor", "--role", "rektor")
    school.ok("meeting", "external", meeting, "--body", "barnevern")
    item = school.new_id(
        "meeting", "item", meeting, "--subject", "student", "--student", "1001",
        "--concern", concern, "--title", "Fravær",
    )  # fmt: skip
    class_item = school.new_id(
        "meeting", "item", meeting, "--subject", "class", "--trinn", "8", "--class", "8c",
        "--title", "Klassemiljø",
    )  # fmt: skip
    school.ok("meeting", "note", meeting, "--item", class_item, "--text", "Rolig uke i 8c")
    decision = school.new_id(
        "meeting", "decide", meeting, "--item", item, "--outcome", "measure",
        "--text", "Voksen i friminutt", "--responsible", "p-mt1", "--due", "2024-10-01",
    )  # fmt: skip
    open_now = school.json("meeting", "show", meeting)
    assert [a["decision_id"] for a in open_now["open_actions"]] == [decision]
    school.ok("meeting", "held", meeting, "--at", "2024-09-18T09:00:00+02:00")
    school.ok("meeting", "complete-action", meeting, "--decision", decision, "--on", "2024-09-19")
    school.ok("meeting", "close", meeting)
    amendment = school.new_id(
        "meeting", "amend", meeting, "--text", "PPT var også til stede", "--reason", "Utelatt"
    )
    UUID(amendment)
    document = school.json("meeting", "show", meeting)
    assert_schema(document, MEETING)
    assert (document["kind"], document["school_code"]) == ("arbeidslag", "gjesdal")
    assert document["scheduled_at"] == "2024-09-18T06:00:00+00:00"
    assert document["held_at"] == "2024-09-18T07:00:00+00:00"
    assert document["minutes_closed"] is True
    assert document["participants"] == [{"person_id": "p-rektor", "role": "rektor"}]
    assert document["external_bodies"] == ["barnevern"]
    assert [i["item_id"] for i in document["agenda"]] == [item, class_item]
    assert document["agenda"][1]["title"] == "Klassemiljø"
    assert [(n["item_id"], n["text"]) for n in document["notes"]] == [
        (class_item, "Rolig uke i 8c")
    ]
    [amended] = document["amendments"]
    assert (amended["amendment_id"], amended["reason"]) == (amendment, "Utelatt")
    assert amended["text"] == "PPT var også til stede"
    assert document["decisions"][0]["completed_on"] == "2024-09-19"
    assert document["open_actions"] == []
    case = show(school)
    assert case["meeting_ids"] == [meeting]
    assert case["concerns"][0]["discussed_in"] == [meeting]
    text = school.ok("meeting", "show", meeting).stdout
    assert "Klassemiljø" in text
    assert "2024-09-18T08:00+02:00" in text
    assert "minutes" in school.fails(
        exit_codes.RULE_VIOLATION, "meeting", "note", meeting, "--item", item, "--text", "Sent"
    )


def test_meeting_cancel_and_errors(school: Cli) -> None:
    school.act_as(COORDINATOR)
    meeting = school.new_id(
        "meeting", "schedule", *TEAM_AT, "--kind", "ressursteam", "--at", "2024-09-25T08:00+02:00"
    )
    item = school.new_id(
        "meeting", "item", meeting, "--subject", "student", "--anonymous", "--title", "En elev i 9a"
    )
    assert "responsible" in school.fails(
        exit_codes.RULE_VIOLATION,
        "meeting", "decide", meeting, "--item", item, "--outcome", "measure", "--text", "Tiltak",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "meeting", "participant", meeting, "--person", "p-x", "--role", "rektorinne",
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "meeting", "schedule", *TEAM_AT, "--kind", "ressursteam", "--at", "2024-09-25T08:00",
    )  # fmt: skip
    school.fails(
        exit_codes.NOT_FOUND,
        "meeting", "item", meeting, "--subject", "student", "--student", "4242", "--title", "x",
    )  # fmt: skip
    school.ok("meeting", "cancel", meeting, "--reason", "Høstferie")
    assert school.json("meeting", "show", meeting)["cancelled"] is True


def test_named_student_needs_consent_with_external_bodies(school: Cli) -> None:
    school.act_as(COORDINATOR)
    meeting = school.new_id(
        "meeting", "schedule", *TEAM_AT, "--kind", "arbeidslag", "--at", "2024-09-25T08:00+02:00"
    )
    school.ok("meeting", "external", meeting, "--body", "barnevern")
    before = school.event_count()
    assert "consent" in school.fails(
        exit_codes.RULE_VIOLATION,
        "meeting", "item", meeting, "--subject", "student", "--student", "1001", "--title", "Sak",
    )  # fmt: skip
    assert school.event_count() == before


# ---------------------------------------------------------------------------------------------
# Exit codes, error lines, --debug
# ---------------------------------------------------------------------------------------------


def test_exit_code_constants_are_the_documented_contract() -> None:
    assert (
        exit_codes.OK,
        exit_codes.INTERNAL_ERROR,
        exit_codes.USAGE_ERROR,
        exit_codes.RULE_VIOLATION,
        exit_codes.NOT_FOUND,
        exit_codes.CONCURRENCY_CONFLICT,
        exit_codes.ACCESS_DENIED,
        exit_codes.STORE_ERROR,
        exit_codes.VERIFY_FAILED,
    ) == (0, 1, 2, 3, 4, 5, 6, 7, 8)
    assert [code for code, _, _ in exit_codes.MEANINGS] == list(range(9))
    for code, name, _ in exit_codes.MEANINGS:
        assert getattr(exit_codes, name) == code


def test_internal_error_is_one_line_without_details(
    school: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Miljo, actor: object, code: str) -> object:
        raise RuntimeError(f"boom with {NAME}")

    monkeypatch.setattr(Miljo, "school", broken)
    line = school.fails(exit_codes.INTERNAL_ERROR, "school", "show", "gjesdal")
    assert line == (
        "miljo: error: internal error (RuntimeError); run with --debug for the traceback"
    )


def test_debug_shows_the_traceback_and_keeps_the_exit_code(
    school: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = school("--debug", "school", "show", "sandnes")
    assert result.exit_code == exit_codes.NOT_FOUND
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("miljo: error: school not found")

    def broken(self: Miljo, actor: object, code: str) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(Miljo, "school", broken)
    result = school("school", "show", "gjesdal", env={"MILJO_DEBUG": "1"})
    assert result.exit_code == exit_codes.INTERNAL_ERROR
    assert "RuntimeError: boom" in result.stderr


def test_concurrency_conflict_is_exit_5_and_writes_nothing(
    school: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = school.event_count()

    def collide(self: MiljoApplication, *args: object, **kwargs: object) -> object:
        raise IntegrityError("another writer got there first")

    monkeypatch.setattr(MiljoApplication, "save", collide)
    line = school.fails(
        exit_codes.CONCURRENCY_CONFLICT,
        "--as", COORDINATOR, "student", "concern", *STUDENT, "--summary", "Uro",
    )  # fmt: skip
    assert "try again" in line
    monkeypatch.undo()
    assert school.event_count() == before


def test_access_denied_for_an_auditor(school: Cli) -> None:
    line = school.fails(
        exit_codes.ACCESS_DENIED,
        "--as", AUDITOR, "student", "concern", *STUDENT, "--summary", "Uro",
    )  # fmt: skip
    assert line == "miljo: error: access denied: role auditor may not raise a concern"
    assert school.json("--as", AUDITOR, "student", "find", *STUDENT)["is_active"] is True


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        (None, "no acting person"),
        ("", "no acting person"),
        ("nobody", "invalid actor"),
        ("pope:p-1", "invalid actor role"),
        ("rektor:Kari Nordmann", "invalid person id"),
    ],
)
def test_bad_or_missing_actor_is_a_usage_error(
    school: Cli, actor: str | None, message: str
) -> None:
    line = school.fails(
        exit_codes.USAGE_ERROR, "school", "show", "gjesdal", env={"MILJO_ACTOR": actor}
    )
    assert message in line


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["nonsense"],
        ["school", "show"],
        ["school", "show", "gjesdal", "--colour"],
        ["student", "register", "--school", "gjesdal", "1003", "--trinn", "ti"],
    ],
)
def test_usage_errors_are_one_line(school: Cli, args: list[str]) -> None:
    line = school.fails(exit_codes.USAGE_ERROR, *args)
    assert "--help" in line  # points at the right help


def test_fake_now_must_be_an_aware_instant(school: Cli) -> None:
    for bad in ("tomorrow", "2024-09-20T10:00:00"):
        line = school.fails(
            exit_codes.USAGE_ERROR, "school", "show", "gjesdal", env={"MILJO_FAKE_NOW": bad}
        )
        assert "MILJO_FAKE_NOW" in line


REFUSED = [
    (exit_codes.RULE_VIOLATION, "school add-class gjesdal 8c --trinn 8"),
    (exit_codes.RULE_VIOLATION, "student change-class --school gjesdal 1001 --trinn 8 --class 8c"),
    (
        exit_codes.USAGE_ERROR,
        f"--as {COORDINATOR} student concern --school gjesdal 1001 --summary '   '",
    ),
    (
        exit_codes.USAGE_ERROR,
        "student register --school gjesdal 1/2 --name X --trinn 8 --class 8c",
    ),
    (exit_codes.NOT_FOUND, f"--as {COORDINATOR} student concern --school gjesdal 999 --summary x"),
    (
        exit_codes.NOT_FOUND,
        "student register --school gjesdal 1009 --name X --trinn 9 --class 8c",
    ),
    (exit_codes.ACCESS_DENIED, f"--as {AUDITOR} team form --school gjesdal --name T"),
    (
        exit_codes.NOT_FOUND,  # an unknown entry
        f"--as {COORDINATOR} student withdraw-consent --school gjesdal 1001 "
        "--consent 00000000-0000-4000-8000-000000000001",
    ),
]


@pytest.mark.parametrize(("code", "command"), REFUSED)
def test_a_refused_command_writes_nothing(school: Cli, code: int, command: str) -> None:
    events = school.event_count()
    result = school(*shlex.split(command))
    assert result.exit_code == code, result.stderr
    error_line(result)
    assert school.event_count() == events


# ---------------------------------------------------------------------------------------------
# import roster
# ---------------------------------------------------------------------------------------------

ROSTER = (
    "\ufeffstudent_number,name,trinn,class\n"
    "2001,Åse Nordmæla,8,8c\n"
    "2002,Bjørn Ærlig,8,8d\n"
    "\n"
    "2003,Øystein Bråten,9,9a\n"
)


def write(tmp_path: Path, text: str, name: str = "elever.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_roster_registers_then_skips(school: Cli, tmp_path: Path) -> None:
    roster = write(tmp_path, ROSTER)
    first = school.json("import", "roster", roster, "--school", "gjesdal")
    assert_schema(first, IMPORT_REPORT)
    assert first == {
        "action": "import roster",
        "school_code": "gjesdal",
        "rows": 3,
        "registered": 3,
        "already_present": 0,
    }
    events = school.event_count()
    case = school.json("--as", COORDINATOR, "student", "show", "--school", "gjesdal", "2003")
    assert (case["name"], case["class_name"]) == ("Øystein Bråten", "9a")
    events = school.event_count()
    again = school.ok("import", "roster", roster, "--school", "gjesdal")
    assert again.stdout == (
        "Imported roster for gjesdal: 0 registered, 3 already present (3 rows)\n"
    )
    assert again.stderr == ""  # no progress bar into a pipe
    assert school.event_count() == events
    assert school.json("school", "show", "gjesdal")["active_students"] == 4


def test_import_roster_skips_numbers_already_registered(school: Cli, tmp_path: Path) -> None:
    roster = write(tmp_path, "student_number,name,trinn,class\n1001,Kåre Ø.,8,8c\n2001,Åse,8,8c\n")
    report = school.json("import", "roster", roster, "--school", "gjesdal")
    assert (report["registered"], report["already_present"]) == (1, 1)
    assert show(school)["name"] == NAME  # the registered student is left as it was


def test_import_roster_rejects_a_bad_file_whole(school: Cli, tmp_path: Path) -> None:
    roster = write(
        tmp_path,
        "student_number,name,trinn,class\n"
        "2001,Åse Nordmæla,8,8c\n"
        "2001,Bjørn Ærlig,8,8c\n"
        "20/3,,ti,8c\n"
        "2004,Siri Fjell,9,8c\n"
        "2005,Ola Li,8,8x\n",
    )
    events = school.event_count()
    line = school.fails(exit_codes.USAGE_ERROR, "import", "roster", roster, "--school", "gjesdal")
    for expected in (
        "line 3: student number repeats line 2",
        "line 4: malformed student number",
        "line 4: empty name",
        "line 4: trinn 'ti' is not a whole number",
        "line 5: class 8c is in trinn 8, not 9",
        "line 6: class 8x does not exist at school gjesdal",
        "nothing imported",
    ):
        assert expected in line
    assert "Åse" not in line
    assert "Bjørn" not in line
    assert school.event_count() == events
    school.fails(exit_codes.NOT_FOUND, "student", "find", "--school", "gjesdal", "2001")


def test_import_roster_wrong_encoding(school: Cli, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("student_number,name,trinn,class\n2001,Åse,8,8c\n".encode("latin-1"))
    line = school.fails(
        exit_codes.USAGE_ERROR, "import", "roster", str(path), "--school", "gjesdal"
    )
    assert "line 2: the file is not UTF-8" in line


def test_import_roster_errors(school: Cli, tmp_path: Path) -> None:
    school.fails(
        exit_codes.USAGE_ERROR,
        "import",
        "roster",
        str(tmp_path / "none.csv"),
        "--school",
        "gjesdal",
    )
    roster = write(tmp_path, ROSTER)
    school.fails(exit_codes.NOT_FOUND, "import", "roster", roster, "--school", "sandnes")
    school.fails(
        exit_codes.ACCESS_DENIED, "--as", AUDITOR, "import", "roster", roster, "--school", "gjesdal"
    )
    missing = write(tmp_path, "student_number,name,class\n2001,Åse,8c\n", "missing.csv")
    assert "missing column(s): trinn" in school.fails(
        exit_codes.USAGE_ERROR, "import", "roster", missing, "--school", "gjesdal"
    )


def test_import_roster_progress_only_on_a_terminal(
    school: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.roster.stderr_is_terminal", lambda: True)
    result = school("import", "roster", write(tmp_path, ROSTER), "--school", "gjesdal")
    assert result.exit_code == 0, result.stderr
    assert "Registering students" in result.stderr
    assert "3 registered" in result.stdout


def test_instants_are_compared_in_utc(school: Cli) -> None:
    school.act_as(COORDINATOR)
    # 01:30 Norwegian summer time on the 20th is 23:30 UTC on the 19th: not in the future.
    observed = "2024-09-19T23:30:00+00:00"
    school.ok(
        "student", "observe", *STUDENT, "--arena", "online", "--category", "wellbeing",
        "--text", "Sent på nett", "--observed-at", observed,
    )  # fmt: skip
    assert show(school)["observations"][0]["observed_at"] == "2024-09-19T23:30:00+00:00"


def test_the_store_holds_the_events_info_counts(school: Cli) -> None:
    assert school.stored_events() == school.event_count() == 6
