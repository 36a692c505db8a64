"""The installed ``miljo`` executable, run as a user would: real processes, real exit codes,
one-line errors on stderr and no tracebacks. On a SQLite file and on a PostgreSQL schema
(``fresh``, tests/cli/conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli import exit_codes
from tests.cli.conftest import FAKE_NOW, Cli

MILJO = Path(sys.executable).parent / "miljo"

pytestmark = pytest.mark.skipif(not MILJO.exists(), reason="the miljo script is not installed")


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILJO_", "_MILJO_"))}
    env.update(MILJO_ACTOR="admin:p-admin", MILJO_FAKE_NOW=FAKE_NOW)
    env.update(values)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MILJO), *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def ok(env: dict[str, str], *args: str) -> str:
    done = run(env, *args)
    assert done.returncode == exit_codes.OK, (done.returncode, done.stderr)
    assert done.stderr == ""
    return done.stdout


def json_of(env: dict[str, str], *args: str) -> Any:
    return json.loads(ok(env, *args, "--json"))


@pytest.fixture
def store_env(fresh: Cli) -> dict[str, str]:
    """A real process's environment on the test's store (not initialised yet)."""
    return environment(**{name: value for name, value in fresh.env.items() if value is not None})


def test_a_school_year_starts(fresh: Cli, store_env: dict[str, str], tmp_path: Path) -> None:
    env = store_env
    expected = fresh.described()
    if fresh.backend == "sqlite":  # the default store: miljo.sqlite in MILJO_HOME
        del env["MILJO_STORE"]
        expected = str(tmp_path / "home" / "miljo.sqlite")
    init = json_of(env, "store", "init")
    assert init["path"] == expected
    ok(env, "school", "register", "gjesdal", "--name", "Gjesdal ungdomsskole", "--trinn", "8-10")
    ok(env, "school", "add-class", "gjesdal", "8c", "--trinn", "8")
    registered = json_of(
        env, "student", "register", "--school", "gjesdal", "1001",
        "--name", "Kåre Ødegård Æsøy", "--trinn", "8", "--class", "8c",
    )  # fmt: skip
    roster = tmp_path / "elever.csv"
    roster.write_bytes(
        "\ufeffstudent_number,name,trinn,class\n1001,Kåre Ødegård Æsøy,8,8c\n"
        "1002,Åse Nordmæla,8,8c\n".encode()
    )
    report = json_of(env, "import", "roster", str(roster), "--school", "gjesdal")
    assert (report["registered"], report["already_present"]) == (1, 1)
    # The miljøkoordinator reads the case; admin reads no case content without a reason.
    coordinator = {**env, "MILJO_ACTOR": "miljokoordinator:p-coord@gjesdal"}
    case = json_of(coordinator, "student", "show", "--school", "gjesdal", "1001")
    assert case["student_id"] == registered["id"]
    assert (case["name"], case["class_name"], case["registered_on"]) == (
        "Kåre Ødegård Æsøy",
        "8c",
        "2024-09-20",
    )
    assert "Åse Nordmæla" in ok(coordinator, "student", "show", "--school", "gjesdal", "1002")
    assert run(env, "student", "show", "--school", "gjesdal", "1002").returncode == (
        exit_codes.ACCESS_DENIED
    )


SETUP = (
    ("store", "init"),
    ("school", "register", "gjesdal", "--name", "Gjesdal ungdomsskole", "--trinn", "8-10"),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store folder with school gjesdal, built once."""
    folder = tmp_path_factory.mktemp("subprocess-template")
    env = environment(MILJO_STORE=str(folder / "miljo.sqlite"))
    for command in SETUP:
        ok(env, *command)
    return folder


@pytest.fixture
def gjesdal_env(
    fresh: Cli, store_env: dict[str, str], request: pytest.FixtureRequest
) -> dict[str, str]:
    """``store_env`` on a store with school gjesdal: a copy of ``template`` for SQLite, set up
    in-process (click's runner) in the test's PostgreSQL schema."""
    if fresh.backend == "sqlite":
        shutil.copytree(request.getfixturevalue("template"), fresh.store.parent)
    else:
        for command in SETUP:
            fresh.ok(*command)
    return store_env


@pytest.mark.parametrize(
    ("code", "args", "message"),
    [
        (exit_codes.USAGE_ERROR, ["school", "show"], "Missing argument 'CODE'"),
        (
            exit_codes.RULE_VIOLATION,
            ["school", "register", "gjesdal", "--name", "Igjen", "--trinn", "8-10"],
            "already exists",
        ),
        (exit_codes.NOT_FOUND, ["school", "show", "sandnes"], "school not found"),
        (
            exit_codes.ACCESS_DENIED,
            ["--as", "auditor:p-audit", "school", "add-class", "gjesdal", "9b", "--trinn", "9"],
            "access denied",
        ),
        (
            exit_codes.ACCESS_DENIED,
            ["--as", "laerer:p-l@gjesdal", "store", "rebuild"],
            "role laerer may not administer the store",
        ),
    ],
)
def test_exit_codes_and_one_line_errors(
    gjesdal_env: dict[str, str], code: int, args: list[str], message: str
) -> None:
    done = run(gjesdal_env, *args)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("miljo: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_missing_store_is_exit_7_and_help_never_opens_it(
    fresh: Cli, store_env: dict[str, str]
) -> None:
    assert "Usage: miljo" in ok(store_env, "--help")
    done = run(store_env, "school", "show", "gjesdal")
    assert done.returncode == exit_codes.STORE_ERROR
    assert done.stderr.startswith("miljo: error: store ")
    assert done.stderr.count("\n") == 1
    assert not fresh.store_exists()
    if fresh.backend == "sqlite":
        assert not fresh.store.parent.exists()


def test_bash_completion_script(tmp_path: Path) -> None:
    env = environment(MILJO_HOME=str(tmp_path), _MILJO_COMPLETE="bash_source")
    script = ok(env)
    assert "_MILJO_COMPLETE" in script
    assert "complete " in script
