"""Every ``miljo store`` command is checked against the access policy: ``admin_store`` (admin
only) for the commands that create, copy, restore or rebuild a store, ``verify_store``
(admin, auditor) for ``store info``. A refusal is exit code 6 and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import exit_codes
from tests.cli.conftest import ADMIN, AUDITOR, COORDINATOR, REKTOR, TEACHER, Cli

#: Every role but admin is refused the admin_store commands; auditor is allowed store info.
NOT_ADMIN = (TEACHER, COORDINATOR, REKTOR, AUDITOR)


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


def refused(cli: Cli, actor: str, *args: str) -> str:
    line = cli.fails(exit_codes.ACCESS_DENIED, "--as", actor, "store", *args)
    assert line.startswith(f"miljo: error: access denied: role {actor.split(':')[0]} ")
    return line


@pytest.mark.backends("sqlite", reason="the commands' files are SQLite files in tmp_path")
@pytest.mark.parametrize("actor", NOT_ADMIN)
def test_store_commands_are_for_the_admin(
    school: Cli, tmp_path: Path, actor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("store follow started for a refused actor")

    monkeypatch.setattr("cli.store.follow_views", never)  # a refusal must not hang the test
    out = tmp_path / "out"
    before = school.event_count()
    assert "administer the store" in refused(school, actor, "backup", str(out / "b.sqlite"))
    refused(school, actor, "copy", "--to", str(out / "c.sqlite"))
    refused(school, actor, "rebuild")
    refused(school, actor, "follow", "--interval", "0.05")
    assert files_under(out) == []
    # A backup made by the admin cannot be restored by anyone else.
    backup = tmp_path / "backups" / "b.sqlite"
    school.ok("--as", ADMIN, "store", "backup", str(backup))
    restored = out / "restored.sqlite"
    school.fails(
        exit_codes.ACCESS_DENIED,
        "--as", actor, "--store", str(restored), "store", "restore", str(backup),
    )  # fmt: skip
    school.fails(exit_codes.ACCESS_DENIED, "--as", actor, "--store", str(restored), "store", "init")
    assert files_under(out) == []
    assert school.event_count() == before


@pytest.mark.backends("sqlite", reason="the commands' files are SQLite files in tmp_path")
def test_the_admin_may_run_every_store_command(school: Cli, tmp_path: Path) -> None:
    school.act_as(ADMIN)
    school.ok("store", "backup", str(tmp_path / "b" / "b.sqlite"))
    school.ok("store", "copy", "--to", str(tmp_path / "c" / "c.sqlite"))
    school.ok("store", "rebuild")
    school.ok(
        "--store", str(tmp_path / "r.sqlite"), "store", "restore", str(tmp_path / "b" / "b.sqlite")
    )
    school.ok("--store", str(tmp_path / "n" / "n.sqlite"), "store", "init")
    assert school.json("store", "info")["event_count"] > 0


def test_store_info_is_for_the_admin_and_the_auditor(school: Cli) -> None:
    assert school.json("--as", AUDITOR, "store", "info")["event_count"] > 0
    assert school.json("--as", ADMIN, "store", "info")["event_count"] > 0
    for actor in (TEACHER, COORDINATOR, REKTOR):
        assert "verify the store" in refused(school, actor, "info")


def test_store_init_needs_an_acting_admin(fresh: Cli) -> None:
    line = fresh.fails(exit_codes.USAGE_ERROR, "store", "init", env={"MILJO_ACTOR": None})
    assert "no acting person" in line
    refused(fresh, TEACHER, "init")
    refused(fresh, AUDITOR, "init")
    assert not fresh.store_exists()
    assert files_under(fresh.keys_dir) == []
    fresh.ok("--as", ADMIN, "store", "init")
    assert fresh.store_exists()
