"""Dates outside the years the domain accepts (1900-2200, docs/adr/0007-exact-quantities.md,
addendum) on the command line: a usage error (exit code 2) and nothing written, on every
backend (the embedding API: tests/integration/test_far_dates.py)."""

from __future__ import annotations

import pytest

from cli import exit_codes
from domain.values import EARLIEST_YEAR, LATEST_YEAR
from tests.cli.conftest import ADMIN, COORDINATOR, SPED_LEAD, Cli

#: Date options of Student and Meeting commands in year 1 or 9999 (a date option is parsed
#: before anything is looked up: the meeting and item ids need not exist).
MEETING = "6d1f3c2a-0000-4000-8000-000000000001"
FAR_DATE_COMMANDS = [
    (ADMIN, ("student", "register", "--school", "gjesdal", "1002", "--name", "Ola",
             "--trinn", "8", "--class", "8c", "--registered-on", "0001-01-01")),
    (COORDINATOR, ("student", "plan", "create", "--school", "gjesdal", "1001",
                   "--problem", "Uro", "--measure", "Samtale", "--when", "Nå",
                   "--responsible", "p-mt1", "--evaluate-on", "9999-12-31")),
    (SPED_LEAD, ("student", "refer", "--school", "gjesdal", "1001", "--body", "ppt",
                 "--reason", "Lesing", "--on", "0001-01-01")),
    (SPED_LEAD, ("meeting", "decide", MEETING, "--item", MEETING, "--outcome", "measure",
                 "--text", "Samtale", "--responsible", "p-mt1", "--due", "9999-12-31")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("actor", "command"),
    FAR_DATE_COMMANDS,
    ids=["register", "plan-create", "refer", "meeting-decide"],
)
def test_the_command_line_refuses_far_dates_as_usage_errors(
    school: Cli, actor: str, command: tuple[str, ...]
) -> None:
    before = school.stored_events()
    line = school.fails(exit_codes.USAGE_ERROR, "--as", actor, *command)
    assert f"is not in the years {EARLIEST_YEAR}-{LATEST_YEAR}" in line
    assert school.stored_events() == before
