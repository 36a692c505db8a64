"""``miljo meeting item --student``: resolving the student number at the meeting's school reads
no case content, so it writes nothing to any access log, and a refused item writes nothing."""

from __future__ import annotations

from typing import Any

from cli import exit_codes
from tests.cli.conftest import AUDITOR, Cli

#: The reviewer's actor: a miljøkoordinator of gjesdal only.
K = "miljokoordinator:p-k@gjesdal"
STUDENT = ("--school", "gjesdal", "1001")


def reads(cli: Cli) -> list[dict[str, Any]]:
    entries = cli.json("--as", AUDITOR, "audit", "access", *STUDENT)["reads"]
    assert isinstance(entries, list)
    return entries


def test_meeting_item_reads_no_case_and_a_refused_item_writes_nothing(school: Cli) -> None:
    school.act_as(K)
    meeting = school.new_id(
        "meeting", "schedule", "--school", "gjesdal", "--kind", "ressursteam",
        "--at", "2024-09-25T08:00:00+02:00",
    )  # fmt: skip
    item = ("meeting", "item", meeting, "--subject", "student", "--title", "x")
    school.new_id(*item, "--student", "1001")
    # The meeting now names 1001: resolving a number at its school must not log a read of it.
    school.new_id(*item, "--student", "1001")
    before = school.event_count()
    school.fails(exit_codes.USAGE_ERROR, *item, "--student", "1001", "--anonymous")
    school.fails(exit_codes.NOT_FOUND, *item, "--student", "9999")
    assert school.event_count() == before
    assert reads(school) == []


def test_meeting_item_at_another_school_is_refused_before_any_lookup(school: Cli) -> None:
    meeting = school.new_id(
        "--as", K, "meeting", "schedule", "--school", "gjesdal", "--kind", "ressursteam",
        "--at", "2024-09-25T08:00:00+02:00",
    )  # fmt: skip
    school.new_id("--as", K, "meeting", "item", meeting, "--subject", "student",
                  "--student", "1001", "--title", "x")  # fmt: skip
    before = school.event_count()
    line = school.fails(
        exit_codes.ACCESS_DENIED,
        "--as", "miljokoordinator:p-o@sandnes", "meeting", "item", meeting,
        "--subject", "student", "--student", "1001", "--title", "x",
    )  # fmt: skip
    assert "gjesdal" in line
    assert school.event_count() == before
    assert reads(school) == []
