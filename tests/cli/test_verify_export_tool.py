"""tools/verify_export.py as an auditor runs it, on exports made with ``miljo audit export``:
a malformed key is a format error (exit 2), a wrong header count says which way it is wrong,
and a deleted event is named at the position ``audit verify`` names."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.keys import SEALING_KEY
from cli import exit_codes
from tests.cli.conftest import AUDITOR, Cli

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_export.py"

pytestmark = pytest.mark.backends("sqlite", reason="the tests change the SQLite file itself")


def run_tool(export: Path, key: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(TOOL), str(export), str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def export(cli: Cli, path: Path) -> list[str]:
    cli.ok("--as", AUDITOR, "audit", "export", str(path))
    return path.read_text(encoding="utf-8").splitlines()


def test_an_intact_export_verifies(school: Cli, tmp_path: Path) -> None:
    lines = export(school, tmp_path / "e.jsonl")
    code, result = run_tool(tmp_path / "e.jsonl", school.keys_dir / SEALING_KEY)
    assert (code, result["ok"], result["checked"]) == (0, True, len(lines) - 2)


def test_a_key_of_the_wrong_length_is_a_format_error(school: Cli, tmp_path: Path) -> None:
    export(school, tmp_path / "e.jsonl")
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"12345").decode() + "\n", encoding="ascii")
    code, result = run_tool(tmp_path / "e.jsonl", short)
    assert code == 2
    assert result["ok"] is False
    assert "32 bytes" in result["error"]
    assert "first_failure" not in result


@pytest.mark.parametrize("delta", [-2, +2])
def test_a_wrong_header_count_says_both_numbers(school: Cli, tmp_path: Path, delta: int) -> None:
    lines = export(school, tmp_path / "e.jsonl")
    events = len(lines) - 2
    header = json.loads(lines[0])
    header["events"] = events + delta
    lines[0] = json.dumps(header)
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, result = run_tool(changed, school.keys_dir / SEALING_KEY)
    assert (code, result["ok"]) == (1, False)
    assert result["reason"] == (
        f"the export holds {events} events, its header says {events + delta}"
    )


def test_a_deleted_event_is_named_where_audit_verify_names_it(school: Cli, tmp_path: Path) -> None:
    with sqlite3.connect(school.store, isolation_level=None) as db:
        positions = [int(r[0]) for r in db.execute("SELECT rowid FROM stored_events")]
        deleted = positions[len(positions) // 2]
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (deleted,))
    result = school("--as", AUDITOR, "audit", "verify", "--json")
    assert result.exit_code == exit_codes.VERIFY_FAILED
    assert json.loads(result.stdout)["first_failure"] == deleted
    export(school, tmp_path / "e.jsonl")
    code, tool = run_tool(tmp_path / "e.jsonl", school.keys_dir / SEALING_KEY)
    assert (code, tool["ok"], tool["first_failure"]) == (1, False, deleted)
    assert f"position {deleted + 1}" in tool["reason"]
