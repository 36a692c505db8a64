"""``miljo store backup|restore|copy|follow``: in-process through CliRunner, and ``follow`` as
a real process stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import PostgresTarget, StoreLocation, open_store
from cli import exit_codes
from cli.wiring import FixedClock
from tests.cli.conftest import AUDITOR, COORDINATOR, FAKE_NOW, Cli
from tests.support import ADMIN, THERAPIST

MILJO = Path(sys.executable).parent / "miljo"
STUDENT = ("--school", "gjesdal", "1001")


def show(cli: Cli, *store: str) -> Any:
    return cli.json(*store, "--as", COORDINATOR, "student", "show", *STUDENT)


def verifies(cli: Cli, *store: str) -> None:
    result = cli.ok(*store, "--as", AUDITOR, "audit", "verify")
    assert result.exit_code == exit_codes.OK


@pytest.mark.backends(
    "sqlite", reason="SQLite online backup API; PostgreSQL: pg_dump/pg_restore, test_postgres.py"
)
def test_backup_and_restore(school: Cli, tmp_path: Path) -> None:
    backup = tmp_path / "backup" / "gjesdal-2024-09-20.sqlite"
    out = school.ok("store", "backup", str(backup)).stdout
    assert f"to {backup}" in out
    assert (tmp_path / "backup" / "gjesdal-2024-09-20.keys" / "index.key").is_file()
    # Refuses to overwrite the backup (STORE_ERROR), and leaves it as it was.
    before = backup.read_bytes()
    line = school.fails(exit_codes.STORE_ERROR, "store", "backup", str(backup))
    assert "already exists" in line
    assert backup.read_bytes() == before
    # Restore as a new store: it opens, verifies and reads as the original.
    restored = tmp_path / "restored" / "miljo.sqlite"
    store = ("--store", str(restored))
    assert "Restored" in school.ok(*store, "store", "restore", str(backup)).stdout
    verifies(school, *store)
    assert show(school, *store)["name"] == show(school)["name"]
    # Refuses to restore over an existing store.
    line = school.fails(exit_codes.STORE_ERROR, "store", "restore", str(backup))
    assert "already exists" in line


@pytest.mark.backends("sqlite", reason="restore makes a SQLite store from a SQLite backup")
def test_restoring_a_backup_that_does_not_exist(school: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nonexist.sqlite"
    restored = tmp_path / "restored" / "miljo.sqlite"
    store = ("--store", str(restored))
    line = school.fails(exit_codes.STORE_ERROR, *store, "store", "restore", str(missing))
    assert line == f"miljo: error: backup {missing} does not exist"
    # A backup whose key folder is missing is told apart from a missing backup.
    backup = tmp_path / "b" / "gjesdal.sqlite"
    school.ok("store", "backup", str(backup))
    for key in (tmp_path / "b" / "gjesdal.keys").iterdir():
        key.unlink()
    (tmp_path / "b" / "gjesdal.keys").rmdir()
    line = school.fails(exit_codes.STORE_ERROR, *store, "store", "restore", str(backup))
    assert "key folder" in line
    assert not restored.parent.exists()


def test_copy_to_a_sqlite_file(school: Cli, tmp_path: Path) -> None:
    target = tmp_path / "kopi" / "miljo.sqlite"
    out = school.ok("store", "copy", "--to", str(target)).stdout
    assert "chain verified" in out
    # the copy is as private as a store made by init: the file and any WAL/shm beside it
    copied = [target, *target.parent.glob("miljo.sqlite-*")]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in copied), copied
    store = ("--store", str(target))
    verifies(school, *store)
    assert school.json(*store, "store", "info")["event_count"] == school.event_count()
    assert show(school, *store) == show(school)
    line = school.fails(exit_codes.STORE_ERROR, "store", "copy", "--to", str(target))
    assert "already exists" in line
    line = school.fails(exit_codes.USAGE_ERROR, "store", "copy", "--to", str(target) + "2",
                        "--to-keys", str(tmp_path / "k"))  # fmt: skip
    assert "--to-keys" in line


@pytest.mark.backends("sqlite", reason="copies a SQLite store to PostgreSQL and that copy back")
def test_copy_to_postgres_and_back(
    school: Cli, postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    url = postgres_schema.url()
    pg_keys = tmp_path / "pg.keys"
    env: dict[str, str | None] = {
        "PGPASSWORD": postgres_schema.password,
        "MILJO_KEYS_DIR": str(pg_keys),
    }
    school.ok("store", "copy", "--to", url, "--to-keys", str(pg_keys), env=env)
    pg = ("--store", url)
    result = school(*pg, "--as", AUDITOR, "audit", "verify", env=env)
    assert result.exit_code == exit_codes.OK, result.stderr
    line = school.fails(exit_codes.STORE_ERROR, "store", "copy", "--to", url, env=env)
    assert "already exists" in line
    back = tmp_path / "tilbake.sqlite"
    school.ok(*pg, "store", "copy", "--to", str(back), env=env)
    verifies(school, "--store", str(back))
    assert show(school, "--store", str(back))["name"] == show(school)["name"]


# ---------------------------------------------------------------------------------------------
# follow, as a real process
# ---------------------------------------------------------------------------------------------


def view_position(cli: Cli) -> int:
    position = cli.json("store", "info")["view_position"]
    assert isinstance(position, int)
    return position


def start_follow(cli: Cli, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILJO_", "_MILJO_"))}
    env.update({k: v for k, v in cli.env.items() if v is not None})
    return subprocess.Popen(
        [str(MILJO), "store", "follow", "--interval", "0.05", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_observation(store: StoreLocation) -> int:
    with open_store(store, clock=FixedClock(datetime.fromisoformat(FAKE_NOW))) as m:
        student = m.students_of(ADMIN, "gjesdal")[0]
        m.record_observation(
            THERAPIST, student, arena="break", categories=["social"], text="Ro i friminuttet"
        )
        return m.event_count()


@pytest.mark.skipif(not MILJO.exists(), reason="the miljo script is not installed")
@pytest.mark.parametrize("verbose", [True, False])
def test_follow_applies_new_events_and_stops_on_sigterm(school: Cli, verbose: bool) -> None:
    process = start_follow(school, *(["--verbose"] if verbose else []))
    try:
        newest = write_observation(school.location)
        deadline = time.monotonic() + 15
        while view_position(school) < newest and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert view_position(school) == newest
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stderr == ""
    if verbose:
        assert "applied" in stdout
        assert stdout.rstrip().endswith(f"Stopped (views at event {newest})")
    else:
        assert stdout == ""  # quiet into a pipe
