"""Access and write rules as the ``miljo`` user meets them: a restricted record cannot be
changed (exit 6), writing an observation does not open the case (exit 6), a trinn outside the
school's range is refused (exit 2), an unknown entry id is "not found" (exit 4), and a transfer
goes only to a school registered in the store (exit 4).

Each test is one of the reviewer's reproductions (session 8: #1, #3, #7, #10, #11).
"""

from __future__ import annotations

import pytest

from cli import exit_codes
from tests.cli.conftest import ADMIN, COORDINATOR, REKTOR, SPED_LEAD, Cli
from tests.cli.test_cli_runner import STUDENT

#: A teacher of gjesdal with no tie to student 1001 (no assignment, plan, action or meeting).
ANY_TEACHER = "laerer:p-any@gjesdal"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
WHY = "Klage til Statsforvalteren"


def vedtak_in_force(cli: Cli) -> str:
    vedtak = cli.new_id(
        "--as", SPED_LEAD, "vedtak", "open", *STUDENT, "--kind", "personal_assistance"
    )
    cli.ok(
        "--as", REKTOR, "vedtak", "decide", vedtak, "--assistant", "100",
        "--organisation", "o", "--content", "c", "--reasons", "r",
        "--from", "2024-09-01", "--to", "2025-06-20",
    )  # fmt: skip
    return vedtak


def plan(cli: Cli) -> str:
    return cli.new_id(
        "--as", COORDINATOR, "student", "plan", "create", *STUDENT, "--problem", "p",
        "--measure", "m", "--when", "w", "--responsible", "p-coord",
        "--evaluate-on", "2024-10-15",
    )  # fmt: skip


# -- #1: a restricted record cannot be changed ---------------------------------------------


@pytest.mark.parametrize("scope", ["case", "vedtak", "aktivitetsplan"])
def test_writes_on_restricted_records_are_refused(school: Cli, scope: str) -> None:
    vedtak = vedtak_in_force(school)
    plan_id = plan(school)
    observation = school.new_id(
        "--as", COORDINATOR, "student", "observe", *STUDENT, "--arena", "other",
        "--category", "other", "--text", "Før sperringen",
    )  # fmt: skip
    school.ok(
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", scope, "--reason", WHY
    )  # fmt: skip
    events = school.event_count()
    vedtak_writes: list[tuple[str, ...]] = [
        (
            "--as", REKTOR, "vedtak", "amend", vedtak, "--assistant", "120",
            "--organisation", "o", "--content", "c", "--reasons", "r", "--to", "2025-06-20",
        ),
        ("--as", REKTOR, "vedtak", "revoke", vedtak, "--reasons", "r"),
    ]  # fmt: skip
    plan_writes: list[tuple[str, ...]] = [
        ("--as", COORDINATOR, "student", "plan", "close", *STUDENT, "--plan", plan_id,
         "--reason", "r"),
    ]  # fmt: skip
    case_writes: list[tuple[str, ...]] = [
        ("--as", COORDINATOR, "student", "correct-observation", *STUDENT,
         "--observation", observation, "--arena", "break", "--category", "other",
         "--text", "Rettet", "--observed-at", "2024-09-02T10:15:00+02:00",
         "--reason", "feil arena"),
    ]  # fmt: skip
    frozen = {
        "case": vedtak_writes + plan_writes + case_writes,
        "vedtak": vedtak_writes,
        "aktivitetsplan": plan_writes,
    }[scope]
    for command in frozen:
        line = school.fails(exit_codes.ACCESS_DENIED, *command)
        assert "restricted (sperret)" in line, command
    assert school.event_count() == events
    # new entries go on under every restriction: an observation (the duty to report) and
    # the delivery of the vedtak in force (the evidence of hours given)
    school.ok(
        "--as", ANY_TEACHER, "student", "observe", *STUDENT, "--arena", "other",
        "--category", "other", "--text", ".",
    )  # fmt: skip
    school.ok(
        "--as", COORDINATOR, "vedtak", "deliver", vedtak, "--week-of", "2024-09-16",
        "--assistant", "2",
    )  # fmt: skip
    # what the scope does not cover goes on; lifting stays possible
    if scope != "case":
        school.ok(*case_writes[0])
    school.ok(
        "--as", REKTOR, "student", "lift-restriction", *STUDENT, "--scope", scope,
        "--reason", "Avgjort",
    )  # fmt: skip
    school.ok(*frozen[0])


# -- #3: an observation does not buy need-to-know ------------------------------------------


def test_writing_an_observation_does_not_open_the_case(school: Cli) -> None:
    school.fails(exit_codes.ACCESS_DENIED, "--as", ANY_TEACHER, "student", "show", *STUDENT)
    observation = school.new_id(
        "--as", ANY_TEACHER, "student", "observe", *STUDENT, "--arena", "other",
        "--category", "other", "--text", ".",
    )  # fmt: skip
    for read in (("student", "show", *STUDENT), ("history", *STUDENT)):
        line = school.fails(exit_codes.ACCESS_DENIED, "--as", ANY_TEACHER, *read)
        assert "may not read a student's case" in line
    # the author may still correct what they wrote
    school.ok(
        "--as", ANY_TEACHER, "student", "correct-observation", *STUDENT,
        "--observation", observation, "--arena", "break", "--category", "other",
        "--text", "..", "--observed-at", "2024-09-20T09:00:00+02:00", "--reason", "feil arena",
    )  # fmt: skip


# -- #7: a trinn outside the school's range -------------------------------------------------


def test_a_trinn_outside_the_school_is_refused_everywhere(school: Cli) -> None:
    school.ok("team", "form", "--school", "gjesdal", "--name", "Miljøteamet")
    school.ok(
        "team", "add-member", "--school", "gjesdal", "p-mt1", "--profession", "sosionom",
        "--position", "85", "--joined-on", "2024-08-01",
    )  # fmt: skip
    meeting = school.new_id(
        "--as", COORDINATOR, "meeting", "schedule", "--school", "gjesdal",
        "--kind", "ressursteam", "--at", "2024-09-20T08:00:00+02:00",
    )  # fmt: skip
    events = school.event_count()
    commands = [
        ("--as", COORDINATOR, "team", "assign", "--school", "gjesdal", "p-mt1",
         "--target", "trinn", "--trinn", "3", "--hours", "10", "--from", "2024-09-01"),
        ("--as", COORDINATOR, "team", "assign", "--school", "gjesdal", "p-mt1",
         "--target", "class", "--trinn", "3", "--class", "8c", "--hours", "10",
         "--from", "2024-09-01"),
        ("--as", COORDINATOR, "meeting", "item", meeting, "--subject", "trinn", "--trinn", "3",
         "--title", "x"),
        ("--as", COORDINATOR, "meeting", "item", meeting, "--subject", "class", "--trinn", "11",
         "--class", "8c", "--title", "x"),
        ("--as", COORDINATOR, "overview", "--school", "gjesdal", "--trinn", "3"),
    ]  # fmt: skip
    for command in commands:
        line = school.fails(exit_codes.USAGE_ERROR, *command)
        assert "gjesdal has trinn 8-10" in line, (command, line)
    assert school.event_count() == events
    school.ok(
        "--as", COORDINATOR, "team", "assign", "--school", "gjesdal", "p-mt1",
        "--target", "trinn", "--trinn", "9", "--hours", "10", "--from", "2024-09-01",
    )  # fmt: skip


# -- #10: an unknown entry id is "not found" -------------------------------------------------


def test_unknown_entry_ids_are_not_found(school: Cli) -> None:
    school.ok("team", "form", "--school", "gjesdal", "--name", "Miljøteamet")
    school.ok(
        "team", "add-member", "--school", "gjesdal", "p-mt1", "--profession", "sosionom",
        "--position", "85", "--joined-on", "2024-08-01",
    )  # fmt: skip
    meeting = school.new_id(
        "--as", COORDINATOR, "meeting", "schedule", "--school", "gjesdal",
        "--kind", "ressursteam", "--at", "2024-09-20T08:00:00+02:00",
    )  # fmt: skip
    events = school.event_count()
    commands = [
        ("student", "withdraw-consent", *STUDENT, "--consent", UNKNOWN),
        ("student", "referral-status", *STUDENT, "--referral", UNKNOWN,
         "--status", "acknowledged"),
        ("student", "plan", "close", *STUDENT, "--plan", UNKNOWN, "--reason", "r"),
        ("meeting", "note", meeting, "--item", UNKNOWN, "--text", "t"),
        ("meeting", "complete-action", meeting, "--decision", UNKNOWN),
        ("team", "end-assignment", "--school", "gjesdal", UNKNOWN, "--on", "2024-09-20",
         "--reason", "r"),
        ("team", "rotate", "--school", "gjesdal", UNKNOWN, "--to-member", "p-mt1",
         "--on", "2024-09-20"),
        ("student", "correct-observation", *STUDENT, "--observation", UNKNOWN,
         "--arena", "break", "--category", "other", "--text", "t",
         "--observed-at", "2024-09-20T09:00:00+02:00", "--reason", "r"),
    ]  # fmt: skip
    for command in commands:
        line = school.fails(exit_codes.NOT_FOUND, "--as", COORDINATOR, *command)
        assert "refused" not in line, line
        assert UNKNOWN in line, line
    assert school.event_count() == events


# -- #11: a transfer goes to a registered school ---------------------------------------------


def test_a_transfer_to_a_school_not_in_the_store_is_not_found(school: Cli) -> None:
    events = school.event_count()
    line = school.fails(
        exit_codes.NOT_FOUND,
        "--as", ADMIN, "student", "depart", *STUDENT, "--kind", "transferred",
        "--to-school", "no-such-school",
    )  # fmt: skip
    assert line == "miljo: error: school not found: no-such-school"
    assert school.event_count() == events
    school.ok("school", "register", "strinda", "--name", "Strinda", "--trinn", "8-10")
    school.ok(
        "--as", ADMIN, "student", "depart", *STUDENT, "--kind", "transferred",
        "--to-school", "strinda",
    )  # fmt: skip
