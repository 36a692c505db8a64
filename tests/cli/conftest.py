"""Fixtures for the CLI tests: a tmp store per test, driven through click's CliRunner.

Every store fixture (``fresh``, ``empty``, ``school``) runs once per backend (``backend``, see
tests/conftest.py): a SQLite file under the test's ``tmp_path``, or a fresh PostgreSQL schema
given to the CLI as a ``postgresql://`` URL in ``MILJO_STORE``, its key folder under
``tmp_path`` in ``MILJO_KEYS_DIR``. A test about the SQLite file itself uses :attr:`Cli.store`
and is marked ``@pytest.mark.backends("sqlite", reason=...)``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result

from adapters.bootstrap import PostgresTarget, StoreLocation
from cli.main import cli as miljo_command
from tests.support import (
    TEST_SCHOOLS,
    postgres_has_store,
    postgres_store_url,
    stored_event_count,
)

#: The fixed "now" of every CLI test (MILJO_FAKE_NOW): Friday of ISO week 38, 2024.
FAKE_NOW = "2024-09-20T10:00:00+02:00"
#: Acting persons (``--as`` / MILJO_ACTOR), one per role of the access policy
#: (domain/policy.py). The fixtures act as ADMIN, who sets up schools and rosters; a test
#: doing case work switches with :meth:`Cli.act_as` or passes ``--as`` for a single step.
#: The school-bound roles act for every school the tests use (``@SCHOOL,...``, see
#: tests/support.py); admin and auditor act for the whole municipality.
ADMIN = "admin:p-admin"
_AT_SCHOOLS = "@" + ",".join(sorted(TEST_SCHOOLS))
REKTOR = "rektor:p-rektor" + _AT_SCHOOLS
INSPEKTOR = "inspektor:p-insp" + _AT_SCHOOLS
SPED_LEAD = "spesialpedagogisk_ansvarlig:p-sped" + _AT_SCHOOLS
COORDINATOR = "miljokoordinator:p-coord" + _AT_SCHOOLS
THERAPIST = "miljoterapeut:p-mt1" + _AT_SCHOOLS
TEACHER = "laerer:p-teach" + _AT_SCHOOLS
AUDITOR = "auditor:p-audit"

#: Variables the CLI reads; each test sets or clears all of them.
CLI_VARIABLES = (
    "MILJO_HOME",
    "MILJO_STORE",
    "MILJO_KEYS_DIR",
    "MILJO_ACTOR",
    "MILJO_FAKE_NOW",
    "MILJO_DEBUG",
)


def error_line(result: Result) -> str:
    """The single stderr line of a failed command (asserts there is exactly one)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("miljo: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@attrs.define
class Cli:
    """Runs ``miljo`` in-process against one tmp store."""

    runner: CliRunner
    home: Path
    env: dict[str, str | None]
    keys_dir: Path
    postgres: PostgresTarget | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.postgres is None else "postgres"

    def act_as(self, actor: str) -> Cli:
        """From now on act as ``actor`` (``ROLE:PERSON-ID``) unless a step passes ``--as``."""
        self.env["MILJO_ACTOR"] = actor
        return self

    @property
    def store(self) -> Path:
        """The SQLite store file (only for tests marked to run on SQLite alone)."""
        assert self.backend == "sqlite", "a PostgreSQL store has no file: mark the test sqlite"
        return Path(str(self.env["MILJO_STORE"]))

    @property
    def store_argument(self) -> str:
        """What ``--store``/``MILJO_STORE`` name: a file path or a ``postgresql://`` URL."""
        return str(self.env["MILJO_STORE"])

    @property
    def location(self) -> StoreLocation:
        if self.postgres is not None:
            return StoreLocation(db_path=None, keys_dir=self.keys_dir, postgres=self.postgres)
        return StoreLocation(db_path=self.store, keys_dir=self.keys_dir)

    def described(self) -> str:
        """How the CLI names the store (``store init``/``store info``; never a password)."""
        return self.location.describe()

    @property
    def missing_store_says(self) -> str:
        """What the one-line error says of a store that was never initialised."""
        return "does not exist" if self.postgres is None else "has no miljo tables"

    def store_exists(self) -> bool:
        """A SQLite file, or miljo tables in the PostgreSQL schema."""
        if self.postgres is not None:
            return postgres_has_store(self.postgres)
        return self.store.exists()

    def stored_events(self) -> int:
        """Events in the store's events table, counted without the CLI or the keys."""
        return stored_event_count(self.location)

    def __call__(
        self, *args: str, env: Mapping[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        merged = {**self.env, **(env or {})}
        return self.runner.invoke(miljo_command, list(args), env=merged, input=input)

    def ok(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        result = self(*args, env=env)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        assert result.stderr == "", result.stderr
        return result

    def json(self, *args: str, env: Mapping[str, str | None] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env).stdout)

    def new_id(self, *args: str, env: Mapping[str, str | None] | None = None) -> str:
        document = self.json(*args, env=env)
        assert isinstance(document["id"], str)
        return document["id"]

    def fails(self, code: int, *args: str, env: Mapping[str, str | None] | None = None) -> str:
        """Run a command that must fail with ``code``; return its one error line."""
        result = self(*args, env=env)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert result.stdout == ""
        return error_line(result)

    def event_count(self) -> int:
        count = self.json("--as", ADMIN, "store", "info")["event_count"]
        assert isinstance(count, int)
        return count


def make_cli(tmp_path: Path, postgres: PostgresTarget | None = None) -> Cli:
    """A CLI on a SQLite file under ``tmp_path``, or on ``postgres``'s (empty) schema."""
    home = tmp_path / "home"
    env: dict[str, str | None] = dict.fromkeys(CLI_VARIABLES)
    store = tmp_path / "store" / "miljo.sqlite"
    env.update(
        MILJO_HOME=str(home), MILJO_STORE=str(store), MILJO_ACTOR=ADMIN, MILJO_FAKE_NOW=FAKE_NOW
    )
    keys_dir = store.with_suffix(".keys")
    if postgres is not None:
        keys_dir = tmp_path / "store" / "pg.keys"
        env.update(MILJO_STORE=postgres_store_url(postgres), MILJO_KEYS_DIR=str(keys_dir))
    return Cli(runner=CliRunner(), home=home, env=env, keys_dir=keys_dir, postgres=postgres)


def backend_cli(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """A CLI whose store does not exist yet, on ``backend`` (a fresh schema for PostgreSQL)."""
    if backend == "postgres":
        return make_cli(tmp_path, request.getfixturevalue("postgres_schema"))
    return make_cli(tmp_path)


@pytest.fixture
def fresh(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """A CLI whose store does not exist yet (once per backend)."""
    return backend_cli(backend, request, tmp_path)


@pytest.fixture
def empty(fresh: Cli) -> Cli:
    """A CLI with an initialised, empty store."""
    fresh.ok("store", "init")
    return fresh


SCHOOL_SETUP: Sequence[Sequence[str]] = (
    ("school", "register", "gjesdal", "--name", "Gjesdal ungdomsskole", "--trinn", "8-10"),
    ("school", "add-class", "gjesdal", "8c", "--trinn", "8"),
    ("school", "add-class", "gjesdal", "8d", "--trinn", "8"),
    ("school", "add-class", "gjesdal", "9a", "--trinn", "9"),
    (
        "student",
        "register",
        "--school",
        "gjesdal",
        "1001",
        "--name",
        "Kåre Ødegård Æsøy",
        "--trinn",
        "8",
        "--class",
        "8c",
        "--registered-on",
        "2024-08-19",
    ),
)


@pytest.fixture(scope="session")
def school_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store folder of :func:`school`, built once through the CLI and copied per test."""
    template = make_cli(tmp_path_factory.mktemp("school-template"))
    template.ok("store", "init")
    for command in SCHOOL_SETUP:
        template.ok(*command)
    return template.store.parent


@pytest.fixture
def school(fresh: Cli, request: pytest.FixtureRequest) -> Cli:
    """A store with school gjesdal (classes 8c, 8d, 9a) and student 1001 in 8c.

    SQLite: a copy of a template built once; PostgreSQL: built in the test's schema."""
    if fresh.backend == "sqlite":
        template: Path = request.getfixturevalue("school_template")
        shutil.copytree(template, fresh.store.parent)
        return fresh
    fresh.ok("store", "init")
    for command in SCHOOL_SETUP:
        fresh.ok(*command)
    return fresh
