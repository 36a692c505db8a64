"""The school scope on the command line: ``--as ROLE:PERSON-ID@SCHOOL[,SCHOOL...]`` and
``MILJO_ACTOR`` (docs/adr/0010-access-policy.md, addendum). Through click's runner and as a
real process, on SQLite and PostgreSQL (``school``: gjesdal with student 1001)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import exit_codes
from tests.cli.conftest import ADMIN, Cli

MILJO = Path(sys.executable).parent / "miljo"
STUDENT = ("--school", "gjesdal", "1001")
#: The student's name (tests/cli/conftest.py SCHOOL_SETUP): never in an error message.
NAME_PARTS = ("Kåre", "Ødegård", "1001")


def test_the_rektor_of_the_school_reads_the_case(school: Cli) -> None:
    case = school.json("--as", "rektor:p-1@gjesdal", "student", "show", *STUDENT)
    assert case["school_code"] == "gjesdal"
    both = school.json("--as", "inspektor:p-2@sandnes,gjesdal", "student", "find", *STUDENT)
    assert both["is_active"] is True


@pytest.mark.parametrize(
    "command",
    [
        ("student", "show", *STUDENT),
        ("student", "find", *STUDENT),
        ("student", "concern", *STUDENT, "--summary", "Uro"),
        ("school", "show", "gjesdal"),
        ("school", "add-class", "gjesdal", "9b", "--trinn", "9"),
        ("overview", "--school", "gjesdal"),
        ("history", *STUDENT),
    ],
)
def test_a_foreign_school_is_access_denied_and_nothing_is_written(
    school: Cli, command: tuple[str, ...]
) -> None:
    before = school.stored_events()
    line = school.fails(exit_codes.ACCESS_DENIED, "--as", "rektor:p-1@sandnes", *command)
    assert line.startswith("miljo: error: access denied: role rektor may not ")
    assert line.endswith(" at school gjesdal, not one of its schools")
    assert not any(part in line for part in NAME_PARTS)
    assert school.stored_events() == before


#: Commands that name a student by school and number, and the operation a foreign school
#: is refused for: the one the command asks for, whatever it looks up first.
ASKED_FOR = [
    (("student", "show", *STUDENT), "read a student's case"),
    (("student", "show", *STUDENT, "--reason", "ressursteam"), "read a student's case"),
    (("student", "find", *STUDENT), "read a school"),
    (
        (
            "student",
            "observe",
            *STUDENT,
            "--arena",
            "break",
            "--category",
            "conflict",
            "--text",
            "Uro",
        ),
        "record an observation",
    ),
    (("student", "concern", *STUDENT, "--summary", "Uro"), "raise a concern"),
    (
        ("student", "restrict", *STUDENT, "--scope", "case", "--reason", "Sperret"),
        "restrict a record",
    ),
    (("history", *STUDENT), "read a student's case"),
    (("history", *STUDENT, "--jsonl", "--reason", "innsyn"), "export a student's case"),
    (("audit", "access", *STUDENT), "read an access log"),
    (("vedtak", "open", *STUDENT, "--kind", "individually_adapted_education"), "open a vedtak"),
]


ASKED_FOR_IDS = ["show", "show-reason", "find", "observe", "concern", "restrict", "history",
                 "history-jsonl", "audit-access", "vedtak-open"]  # fmt: skip


@pytest.mark.parametrize(("command", "operation"), ASKED_FOR, ids=ASKED_FOR_IDS)
def test_a_foreign_school_refusal_names_the_operation_asked_for(
    school: Cli, command: tuple[str, ...], operation: str
) -> None:
    before = school.stored_events()
    expected = (
        f"miljo: error: access denied: role rektor may not {operation} "
        "at school gjesdal, not one of its schools"
    )
    assert school.fails(exit_codes.ACCESS_DENIED, "--as", "rektor:p-1@sandnes", *command) == (
        expected
    )
    # The same for a number not registered there: the refusal tells nothing about existence.
    unknown = tuple("9999" if part == "1001" else part for part in command)
    assert school.fails(exit_codes.ACCESS_DENIED, "--as", "rektor:p-1@sandnes", *unknown) == (
        expected
    )
    assert school.stored_events() == before


def test_an_unknown_number_at_an_own_school_is_still_not_found(school: Cli) -> None:
    line = school.fails(
        exit_codes.NOT_FOUND, "--as", "rektor:p-1@gjesdal", "student", "show", "--school",
        "gjesdal", "9999",
    )  # fmt: skip
    assert "9999" not in line


def test_a_roster_for_a_foreign_school_is_refused_before_the_file_is_read(
    school: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = tmp_path / "elever.csv"
    roster.write_text("student_number,name,trinn,class\n2001,Åse Nordmæla,8,8c\n")
    read: list[Path] = []
    original = Path.read_bytes

    def recording_read_bytes(path: Path) -> bytes:
        read.append(path)
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", recording_read_bytes)
    before = school.stored_events()
    line = school.fails(
        exit_codes.ACCESS_DENIED, "--as", "rektor:p-1@sandnes", "import", "roster", str(roster),
        "--school", "gjesdal",
    )  # fmt: skip
    assert line == (
        "miljo: error: access denied: role rektor may not register a student "
        "at school gjesdal, not one of its schools"
    )
    assert roster not in read
    assert school.stored_events() == before
    # The rektor of the school imports the same file.
    school.ok("--as", "rektor:p-1@gjesdal", "import", "roster", str(roster), "--school", "gjesdal")
    assert roster in read
    assert school.stored_events() > before


@pytest.mark.parametrize(
    ("actor", "says"),
    [
        ("rektor:p-1", "role rektor acts only for its schools"),
        ("miljoterapeut:p-1", "give --as miljoterapeut:PERSON-ID@SCHOOL"),
        ("admin:p-admin@gjesdal", "role admin acts for every school"),
        ("auditor:p-pvo@gjesdal", "without @SCHOOL"),
        ("rektor:p-1@", "invalid actor schools"),
        ("rektor:p-1@gjesdal,", "invalid actor schools"),
        ("rektor:p-1@Gjesdal", "invalid school code"),
    ],
)
def test_a_malformed_scope_is_a_usage_error_and_nothing_is_written(
    school: Cli, actor: str, says: str
) -> None:
    before = school.stored_events()
    for how in ("--as", "MILJO_ACTOR"):
        if how == "--as":
            line = school.fails(
                exit_codes.USAGE_ERROR, "--as", actor, "student", "concern", *STUDENT,
                "--summary", "Uro",
            )  # fmt: skip
        else:
            line = school.fails(
                exit_codes.USAGE_ERROR, "student", "concern", *STUDENT, "--summary", "Uro",
                env={"MILJO_ACTOR": actor},
            )  # fmt: skip
        assert says in line, line
    assert school.stored_events() == before


def test_admin_and_auditor_need_no_school(school: Cli) -> None:
    assert school.json("--as", ADMIN, "school", "show", "gjesdal")["code"] == "gjesdal"
    shown = school.json("--as", "auditor:p-pvo", "student", "show", *STUDENT, "--reason", "tilsyn")
    assert shown["school_code"] == "gjesdal"


def test_the_help_documents_the_format(school: Cli) -> None:
    out = school.ok("--help").stdout
    assert "--as ROLE:PERSON-ID[@SCHOOL,...]" in out
    assert "ROLE:PERSON-ID@SCHOOL[,SCHOOL...]   e.g. miljokoordinator:p-17@gjesdal" in out


# ---------------------------------------------------------------------------------------------
# As a real process
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not MILJO.exists(), reason="the miljo script is not installed")
def test_the_installed_command_applies_the_scope(school: Cli) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILJO_", "_MILJO_"))}
    env.update({k: v for k, v in school.env.items() if v is not None})

    def run(actor: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MILJO), *args],
            env={**env, "MILJO_ACTOR": actor},
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )

    before = school.stored_events()
    own = run("miljokoordinator:p-17@gjesdal", "student", "show", *STUDENT, "--json")
    assert (own.returncode, own.stderr) == (exit_codes.OK, "")
    logged = school.stored_events()
    assert logged > before  # the read is logged
    foreign = run("miljokoordinator:p-17@sandnes", "student", "show", *STUDENT)
    assert (foreign.returncode, foreign.stdout) == (exit_codes.ACCESS_DENIED, "")
    # The refusal names the case read asked for (not the look-up of the number before it).
    assert foreign.stderr == (
        "miljo: error: access denied: role miljokoordinator may not read a student's case "
        "at school gjesdal, not one of its schools\n"
    )
    # A number unknown at that school is refused alike: nothing tells whether it exists.
    unknown = run("miljokoordinator:p-17@sandnes", "student", "show", "--school", "gjesdal", "9999")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        foreign.returncode,
        foreign.stdout,
        foreign.stderr,
    )
    roster = school.home.parent / "garbage.csv"
    roster.write_bytes(b"\xff\xfe not UTF-8, not a roster")
    refused = run("rektor:p-1@sandnes", "import", "roster", str(roster), "--school", "gjesdal")
    assert (refused.returncode, refused.stdout) == (exit_codes.ACCESS_DENIED, "")
    assert refused.stderr == (
        "miljo: error: access denied: role rektor may not register a student "
        "at school gjesdal, not one of its schools\n"
    )
    missing = run("miljokoordinator:p-17", "student", "show", *STUDENT)
    assert (missing.returncode, missing.stdout) == (exit_codes.USAGE_ERROR, "")
    assert "acts only for its schools" in missing.stderr
    assert "Traceback" not in foreign.stderr + missing.stderr
    assert school.stored_events() == logged


def test_a_refused_roster_import_says_nothing_of_the_file_and_a_missing_file_is_exit_2(
    school: Cli, tmp_path: Path
) -> None:
    """The role and school are checked before the file is looked at: a refused caller gets
    the same refusal for a missing file, a folder and a real file. An allowed caller whose
    file cannot be read gets a usage error that names the file; nothing is written."""
    missing = tmp_path / "finnes-ikke.csv"
    before = school.stored_events()
    for path in (missing, tmp_path):
        line = school.fails(
            exit_codes.ACCESS_DENIED, "--as", "rektor:p-1@sandnes", "import", "roster",
            str(path), "--school", "gjesdal",
        )  # fmt: skip
        assert line == (
            "miljo: error: access denied: role rektor may not register a student "
            "at school gjesdal, not one of its schools"
        )
    for path, reason in ((missing, "No such file or directory"), (tmp_path, "Is a directory")):
        line = school.fails(
            exit_codes.USAGE_ERROR, "--as", "rektor:p-1@gjesdal", "import", "roster",
            str(path), "--school", "gjesdal",
        )  # fmt: skip
        assert f"cannot read {path}: {reason}" in line
    assert school.stored_events() == before
