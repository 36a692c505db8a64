"""Fixtures shared by every test package: a PostgreSQL server for the ``postgres`` tests.

``MILJO_TEST_POSTGRES_URL`` names a database the tests may create schemas in, e.g.
``postgresql://miljo:secret@127.0.0.1:54329/miljo`` (``scripts/pg-cluster start`` prints one).
Without it the PostgreSQL tests are skipped, unless ``MILJO_REQUIRE_POSTGRES=1`` (CI), where a
skipped PostgreSQL test would hide a failure: then they fail.

Every test that uses :func:`postgres_schema` gets a fresh, empty schema of its own, dropped
(cascade) at teardown; tests using any PostgreSQL fixture are marked ``postgres``.

Every test that stores anything runs on both backends (SQLite and PostgreSQL): it asks, directly
or through a fixture such as the CLI's ``fresh``, for :func:`backend`, which this conftest
parametrizes with ``sqlite`` and ``postgres``. A test about one backend's own mechanism (the
SQLite online backup API, a damaged SQLite file, ``pg_dump``) says so with
``@pytest.mark.backends("sqlite", reason=...)``; docs/reliability.md lists those tests.
Schema names are random and every test has its own ``tmp_path``, so parallel workers
(pytest-xdist) never share a schema, a SQLite file or a ``MILJO_HOME``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import attrs
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.bootstrap import (
    PostgresTarget,
    StoreLocation,
    init_store,
    parse_postgres_url,
    resolve_store,
)
from tests.support import FIGURES_PROPERTY

ENV_URL = "MILJO_TEST_POSTGRES_URL"
ENV_REQUIRE = "MILJO_REQUIRE_POSTGRES"
POSTGRES_FIXTURES = frozenset({"postgres_url", "postgres_target", "postgres_schema"})
#: The two persistent backends every store-touching test runs on.
BACKENDS: tuple[str, ...] = ("sqlite", "postgres")


def _import_library_suites() -> None:
    """Import ``eventsourcing.tests`` once, undoing its ``warnings.resetwarnings()``.

    The library's test package resets the process's warning filters when imported; importing
    it here first, inside ``catch_warnings``, keeps pytest's configuration intact for every
    later ``from eventsourcing.tests import persistence`` (the module is cached by then).
    """
    with warnings.catch_warnings():  # restores the filter list on exit
        importlib.import_module("eventsourcing.tests")


_import_library_suites()


def backend_param(kind: str) -> Any:
    """``kind`` as a pytest parameter; ``postgres`` carries the ``postgres`` mark."""
    return pytest.param(kind, marks=pytest.mark.postgres) if kind == "postgres" else kind


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that needs :func:`backend` once per backend (or per the backends its
    ``backends`` mark names, with a reason)."""
    if "backend" not in metafunc.fixturenames:
        return
    kinds = BACKENDS
    mark = metafunc.definition.get_closest_marker("backends")
    if mark is not None:
        if not mark.kwargs.get("reason"):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: backends(...) needs a reason")
        unknown = set(mark.args) - set(BACKENDS)
        if not mark.args or unknown:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: backends{mark.args!r}")
        kinds = tuple(mark.args)
    metafunc.parametrize("backend", [backend_param(kind) for kind in kinds], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


class FaultFigures:
    """Collects the fault tests' figures from the test reports and prints them at the end.

    Under pytest-xdist the reports, with their user properties, reach the controlling process,
    where the workers' own terminal output is not shown."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.lines.extend(
                str(value) for name, value in report.user_properties if name == FIGURES_PROPERTY
            )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lines:
            terminalreporter.section("miljo fault figures (docs/reliability.md)")
            for line in sorted(self.lines):
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(FaultFigures(), "miljo-fault-figures")


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres`` (parametrized by :func:`pytest_generate_tests`)."""
    kind: str = request.param
    return kind


def postgres_required() -> bool:
    return os.environ.get(ENV_REQUIRE, "") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL (a database; no schema). Skips, or fails under
    ``MILJO_REQUIRE_POSTGRES=1``, when ``MILJO_TEST_POSTGRES_URL`` is unset."""
    url = os.environ.get(ENV_URL, "")
    if not url:
        reason = (
            f"{ENV_URL} is not set: no PostgreSQL server for this test "
            '(start one with: eval "$(scripts/pg-cluster start)")'
        )
        if postgres_required():
            pytest.fail(f"{ENV_REQUIRE}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def postgres_target(postgres_url: str) -> PostgresTarget:
    """The test server as a :class:`PostgresTarget` (schema not yet chosen)."""
    return parse_postgres_url(postgres_url)


def admin_connection(target: PostgresTarget) -> psycopg.Connection[tuple[Any, ...]]:
    """A plain autocommit connection to the test database (as the test role)."""
    return psycopg.connect(make_conninfo("", **target.connect_kwargs()), autocommit=True)


def create_schema(target: PostgresTarget, name: str) -> None:
    with admin_connection(target) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))


def drop_schema(target: PostgresTarget, name: str) -> None:
    with admin_connection(target) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def fresh_schema_name() -> str:
    return f"t_{uuid4().hex[:16]}"


@contextlib.contextmanager
def temporary_schema(target: PostgresTarget) -> Iterator[PostgresTarget]:
    """Create a fresh, empty schema; drop it (cascade) on exit. For module-scoped stores."""
    name = fresh_schema_name()
    create_schema(target, name)
    try:
        yield attrs.evolve(target, schema=name)
    finally:
        drop_schema(target, name)


@pytest.fixture
def postgres_schema(postgres_target: PostgresTarget) -> Iterator[PostgresTarget]:
    """A fresh, empty schema for this test (dropped with everything in it afterwards)."""
    with temporary_schema(postgres_target) as target:
        yield target


def postgres_location(target: PostgresTarget, keys_dir: Path) -> StoreLocation:
    """An uninitialised PostgreSQL store location with its key folder at ``keys_dir``."""
    return StoreLocation(db_path=None, keys_dir=keys_dir, postgres=target)


@pytest.fixture
def store_location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """An initialised, empty store on ``backend`` (a SQLite file under ``tmp_path``, or the
    test's own PostgreSQL schema with its keys under ``tmp_path``) for tests that open it
    more than once."""
    if backend == "postgres":
        target: PostgresTarget = request.getfixturevalue("postgres_schema")
        location = postgres_location(target, tmp_path / "pg.keys")
    else:
        location = resolve_store(tmp_path / "miljo.sqlite")
    init_store(location)
    return location
