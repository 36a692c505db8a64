"""Restriction (sperring), erasure and break-glass reads through the ``miljo`` command.

The access policy (domain/policy.py): only the rektor restricts and lifts; a restricted record
is read only by the auditor (allowed) or the rektor (break-glass), always with ``--reason``;
admin reads case content only by break-glass with a reason; the rektor erases. Every read of
a case lands in the student's access log (``audit access``) with its reason and whether it
was a break-glass read.
"""

from __future__ import annotations

from typing import Any

from cli import exit_codes
from tests.cli.conftest import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    REKTOR,
    SPED_LEAD,
    THERAPIST,
    Cli,
)
from tests.cli.test_cli_runner import INT, NAME, STUDENT, WRITE_RESULT, assert_schema

ERASED = "[erased]"
WHY = "Klage til Statsforvalteren"


def reads(cli: Cli) -> list[dict[str, Any]]:
    """The access log of student 1001, as the privacy officer sees it."""
    document = cli.json("--as", AUDITOR, "audit", "access", *STUDENT)
    entries = document["reads"]
    assert isinstance(entries, list)
    return entries


def restrict(cli: Cli, scope: str, *more: str) -> None:
    cli.ok(
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", scope, "--reason", WHY, *more
    )


def denied_line(role: str) -> str:
    return f"miljo: error: access denied: role {role} may not read a student's case"


# ---------------------------------------------------------------------------------------------
# restrict and lift-restriction
# ---------------------------------------------------------------------------------------------


def test_restricted_case_is_refused_without_a_reason(school: Cli) -> None:
    restrict(school, "case")
    events = school.event_count()
    for actor, role in (
        (AUDITOR, "auditor"),
        (REKTOR, "rektor"),
        (COORDINATOR, "miljokoordinator"),
    ):
        line = school.fails(exit_codes.ACCESS_DENIED, "--as", actor, "student", "show", *STUDENT)
        assert line == denied_line(role)
        assert NAME not in line
    # The coordinator reads every ordinary case, but no restricted one, reason or not.
    line = school.fails(
        exit_codes.ACCESS_DENIED,
        "--as", COORDINATOR, "student", "show", *STUDENT, "--reason", "ressursteam",
    )  # fmt: skip
    assert line == denied_line("miljokoordinator")
    assert school.event_count() == events  # a refused read is not logged either
    assert reads(school) == []


def test_auditor_reads_a_restricted_case_with_a_reason(school: Cli) -> None:
    restrict(school, "case")
    case = school.json(
        "--as", AUDITOR, "student", "show", *STUDENT, "--reason", "tilsyn 2024-09"
    )  # fmt: skip
    assert case["name"] == NAME
    [read] = reads(school)
    assert (read["reader_id"], read["reader_role"], read["what"]) == ("p-audit", "auditor", "case")
    assert read["reason"] == "tilsyn 2024-09"
    assert read["break_glass"] is False  # the auditor's own grant: no break-glass needed


def test_rektor_reads_a_restricted_case_by_break_glass(school: Cli) -> None:
    restrict(school, "case")
    out = school.ok("--as", REKTOR, "student", "show", *STUDENT, "--reason", "partsinnsyn").stdout
    assert f"1001 {NAME}" in out
    [read] = reads(school)
    assert (read["reader_role"], read["reason"], read["break_glass"]) == (
        "rektor",
        "partsinnsyn",
        True,
    )


def test_a_blank_reason_is_no_reason(school: Cli) -> None:
    restrict(school, "case")
    line = school.fails(
        exit_codes.ACCESS_DENIED, "--as", AUDITOR, "student", "show", *STUDENT, "--reason", "   "
    )
    assert line == denied_line("auditor")
    assert reads(school) == []


def test_restricted_vedtak_history_and_vedtak_show_need_a_reason(school: Cli) -> None:
    vedtak = school.new_id(
        "--as", SPED_LEAD, "vedtak", "open", *STUDENT, "--kind", "individually_adapted_education"
    )  # fmt: skip
    restrict(school, "vedtak", "--on", "2024-09-19")
    # The rest of the case is not restricted: the coordinator still opens it.
    assert school.json("--as", COORDINATOR, "student", "show", *STUDENT)["vedtak_ids"] == [vedtak]
    for command in (("vedtak", "show", vedtak), ("history", *STUDENT)):
        assert school.fails(
            exit_codes.ACCESS_DENIED, "--as", COORDINATOR, *command, "--reason", "x"
        ) == denied_line("miljokoordinator")
        assert school.fails(exit_codes.ACCESS_DENIED, "--as", AUDITOR, *command) == denied_line(
            "auditor"
        )
    shown = school.json("--as", AUDITOR, "vedtak", "show", vedtak, "--reason", "tilsyn")
    assert (shown["vedtak_id"], shown["status"]) == (vedtak, "opened")
    history = school.json("--as", AUDITOR, "history", *STUDENT, "--reason", "tilsyn")
    restricted = [e for e in history["entries"] if e["event_type"] == "Student.RecordsRestricted"]
    [entry] = restricted
    assert entry["effective"] == "2024-09-19"
    assert WHY not in entry["summary"]  # the reason is personal text: not in the summary
    assert [(r["what"], r["reason"], r["break_glass"]) for r in reads(school)] == [
        ("case", None, False),
        ("vedtak", "tilsyn", False),
        ("history", "tilsyn", False),
    ]


def test_lifting_a_restriction_opens_the_case_again(school: Cli) -> None:
    restrict(school, "aktivitetsplan")
    school.fails(exit_codes.ACCESS_DENIED, "--as", COORDINATOR, "student", "show", *STUDENT)
    document = school.json(
        "--as", REKTOR, "student", "lift-restriction", *STUDENT, "--scope", "aktivitetsplan",
        "--reason", "Klagen er avgjort",
    )  # fmt: skip
    assert_schema(document, WRITE_RESULT)
    assert document == {"action": "student lift-restriction", "id": None}
    assert school.json("--as", COORDINATOR, "student", "show", *STUDENT)["name"] == NAME


def test_restrict_text_and_json(school: Cli) -> None:
    out = school.ok(
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", "vedtak", "--reason", WHY
    ).stdout  # fmt: skip
    assert out == "Restricted the vedtak records of student 1001\n"
    assert WHY not in out
    document = school.json(
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", "case", "--reason", WHY
    )  # fmt: skip
    assert document == {"action": "student restrict", "id": None}
    out = school.ok(
        "--as", REKTOR, "student", "lift-restriction", *STUDENT, "--scope", "case",
        "--reason", "Avgjort",
    ).stdout  # fmt: skip
    assert out == "Lifted the restriction of the case records of student 1001\n"


def test_restriction_errors(school: Cli) -> None:
    events = school.event_count()
    for actor, role in ((ADMIN, "admin"), (COORDINATOR, "miljokoordinator"), (AUDITOR, "auditor")):
        line = school.fails(
            exit_codes.ACCESS_DENIED,
            "--as", actor, "student", "restrict", *STUDENT, "--scope", "case", "--reason", WHY,
        )  # fmt: skip
        assert line == f"miljo: error: access denied: role {role} may not restrict a record"
    assert "not restricted" in school.fails(  # no such restriction: an unknown entry
        exit_codes.NOT_FOUND,
        "--as", REKTOR, "student", "lift-restriction", *STUDENT, "--scope", "case",
        "--reason", "Avgjort",
    )  # fmt: skip
    assert school.event_count() == events
    restrict(school, "case")
    assert "already restricted" in school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", "case", "--reason", WHY,
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR,
        "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", "notes", "--reason", WHY,
    )  # fmt: skip
    school.fails(
        exit_codes.USAGE_ERROR, "--as", REKTOR, "student", "restrict", *STUDENT, "--scope", "case"
    )
    school.fails(
        exit_codes.NOT_FOUND,
        "--as", REKTOR, "student", "restrict", "--school", "gjesdal", "4242",
        "--scope", "case", "--reason", WHY,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# break-glass reads of ordinary cases
# ---------------------------------------------------------------------------------------------


def test_admin_reads_a_case_only_by_break_glass(school: Cli) -> None:
    assert school.fails(exit_codes.ACCESS_DENIED, "student", "show", *STUDENT) == denied_line(
        "admin"
    )
    assert reads(school) == []
    case = school.json("student", "show", *STUDENT, "--reason", "feilretting, sak 2024-117")
    assert case["name"] == NAME
    [read] = reads(school)
    assert (read["reader_id"], read["reader_role"], read["what"]) == ("p-admin", "admin", "case")
    assert (read["reason"], read["break_glass"]) == ("feilretting, sak 2024-117", True)


def test_ordinary_reads_keep_their_reason_without_break_glass(school: Cli) -> None:
    school.ok("--as", COORDINATOR, "student", "show", *STUDENT, "--reason", "ressursteam")
    school.ok("--as", COORDINATOR, "history", *STUDENT)
    assert [(r["what"], r["reason"], r["break_glass"]) for r in reads(school)] == [
        ("case", "ressursteam", False),
        ("history", None, False),
    ]


def test_admin_reads_a_meeting_by_break_glass(school: Cli) -> None:
    meeting = school.new_id(
        "--as", COORDINATOR, "meeting", "schedule", "--school", "gjesdal",
        "--kind", "ressursteam", "--at", "2024-09-25T08:00:00+02:00",
    )  # fmt: skip
    shown = school.json("meeting", "show", meeting, "--reason", "feilretting")
    assert shown["meeting_id"] == meeting


# ---------------------------------------------------------------------------------------------
# erase
# ---------------------------------------------------------------------------------------------


def fill_case(cli: Cli) -> None:
    """Personal data outside the archive (observation, concern, consent note, referral
    reason) and an archival aktivitetsplan, recorded by the coordinator."""
    cli.ok(
        "--as", COORDINATOR, "student", "observe", *STUDENT, "--arena", "break",
        "--category", "social", "--text", "Alene i friminuttet", "--voice", "Jeg vil være med",
    )  # fmt: skip
    cli.ok("--as", COORDINATOR, "student", "concern", *STUDENT, "--summary", "Mye fravær")
    cli.ok(
        "--as", COORDINATOR, "student", "consent", *STUDENT, "--giver", "guardian",
        "--body", "ppt", "--from", "2024-09-01", "--note", "Muntlig samtykke",
    )  # fmt: skip
    cli.ok(
        "--as", COORDINATOR, "student", "refer", *STUDENT, "--body", "ppt",
        "--reason", "Sakkyndig vurdering",
    )  # fmt: skip
    cli.ok(
        "--as", COORDINATOR, "student", "plan", "create", *STUDENT, "--problem", "Utestengt",
        "--measure", "Voksen ute", "--when", "Fra uke 39", "--responsible", "p-coord",
        "--evaluate-on", "2024-10-15",
    )  # fmt: skip


def test_erase_without_yes_is_refused_and_writes_nothing(school: Cli) -> None:
    fill_case(school)
    events = school.event_count()
    line = school.fails(
        exit_codes.USAGE_ERROR, "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "request"
    )
    assert "--yes" in line
    assert "cannot be undone" in line
    assert school.event_count() == events
    case = school.json("--as", COORDINATOR, "student", "show", *STUDENT)
    assert case["observations"][0]["text"] == "Alene i friminuttet"


def test_erase_with_yes_leaves_the_archive(school: Cli) -> None:
    fill_case(school)
    out = school.ok(
        "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "request", "--yes"
    ).stdout  # fmt: skip
    assert out == (
        "Erased the personal data of student 1001 outside the archive (request): "
        "1 data key deleted\n"
    )
    case = school.json("--as", COORDINATOR, "student", "show", *STUDENT)
    [observation] = case["observations"]
    assert (observation["text"], observation["student_voice"]) == (ERASED, ERASED)
    assert observation["arena"] == "break"
    assert [c["text"] for c in case["concerns"]] == [ERASED]
    assert [c["note"] for c in case["consents"]] == [ERASED]
    assert [r["reason"] for r in case["referrals"]] == [ERASED]
    # Archival records and the registration are kept.
    assert (case["name"], case["student_number"]) == (NAME, "1001")
    assert [(p["problem"], p["measures"]) for p in case["plans"]] == [("Utestengt", ["Voksen ute"])]
    text = school.ok("--as", COORDINATOR, "student", "show", *STUDENT).stdout
    assert f"1001 {NAME}" in text
    assert ERASED in text
    assert "Alene i friminuttet" not in text
    assert "Mye fravær" not in text
    # The erasure itself is recorded.
    history = school.json("--as", REKTOR, "history", *STUDENT)
    [erased] = [e for e in history["entries"] if e["event_type"] == "Student.PersonalDataErased"]
    assert (erased["effective"], erased["actor_role"]) == ("2024-09-20", "rektor")


def test_erase_json_counts_the_deleted_keys(school: Cli) -> None:
    fill_case(school)
    document = school.json(
        "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "retention_expired",
        "--on", "2024-09-19", "--yes",
    )  # fmt: skip
    assert_schema(document, {**WRITE_RESULT, "keys_deleted": INT})
    assert document == {"action": "student erase", "id": None, "keys_deleted": 1}
    history = school.json("--as", REKTOR, "history", *STUDENT)
    [erased] = [e for e in history["entries"] if e["event_type"] == "Student.PersonalDataErased"]
    assert erased["effective"] == "2024-09-19"
    assert "retention_expired" in erased["summary"]


def test_erase_errors(school: Cli) -> None:
    events = school.event_count()
    for actor, role in ((COORDINATOR, "miljokoordinator"), (THERAPIST, "miljoterapeut")):
        line = school.fails(
            exit_codes.ACCESS_DENIED,
            "--as", actor, "student", "erase", *STUDENT, "--basis", "request", "--yes",
        )  # fmt: skip
        assert line == f"miljo: error: access denied: role {role} may not erase personal data"
    school.fails(
        exit_codes.USAGE_ERROR,
        "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "because", "--yes",
    )  # fmt: skip
    assert "future" in school.fails(
        exit_codes.RULE_VIOLATION,
        "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "request", "--on", "2024-09-21",
        "--yes",
    )  # fmt: skip
    school.fails(
        exit_codes.NOT_FOUND,
        "--as", REKTOR, "student", "erase", "--school", "gjesdal", "4242", "--basis", "draft",
        "--yes",
    )  # fmt: skip
    assert school.event_count() == events


def test_erase_without_yes_never_opens_the_store(fresh: Cli) -> None:
    line = fresh.fails(
        exit_codes.USAGE_ERROR, "--as", REKTOR, "student", "erase", *STUDENT, "--basis", "draft"
    )
    assert "--yes" in line
    assert not fresh.store_exists()


def test_a_restricted_case_still_has_its_non_archival_data_erased(school: Cli) -> None:
    """Restriction concerns archival records; erasure never touches them (ADR 0009), so a
    restricted case may still be erased, and its archival records stay readable."""
    fill_case(school)
    restrict(school, "case")
    events = school.event_count()
    school.ok("--as", REKTOR, "student", "erase", *STUDENT, "--basis", "request", "--yes")
    assert school.event_count() == events + 1
    shown = school.json(
        "--as", REKTOR, "student", "show", *STUDENT, "--reason", "kontroll etter sletting"
    )
    assert shown["name"] != "[erased]"
    assert all(o["text"] == "[erased]" for o in shown["observations"])
