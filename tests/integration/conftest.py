"""Fixtures for the integration tests of the embedding facade (``domain.facade.Miljo``).

``store`` yields a facade from the composition root (``adapters.bootstrap``) once per store
kind: a fresh in-memory store, a freshly initialised SQLite file and a freshly initialised
PostgreSQL schema (``postgres``-marked: skipped without ``MILJO_TEST_POSTGRES_URL``, see
tests/conftest.py). All run on the shared ``clock`` (a :class:`~tests.support.FakeClock` at T0,
Monday 2024-08-19) and deterministic ids. A test that opens a store more than once asks for
``store_location`` (SQLite and PostgreSQL, through ``backend``); one that needs the store
*file* itself (it reads ``db_path`` or opens the SQLite database) for ``sqlite_location``.

``build_gjesdal`` registers the seed's Gjesdal ungdomsskole: trinn 8-10 with four parallel
classes (8a-8d, 9a-9d, 10a-10d) and a miljø team of 7 miljøterapeuter at 85 % positions and
6 assistants, coordinated by the first miljøterapeut.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import attrs
import pytest

from adapters.bootstrap import PostgresTarget, StoreLocation, init_store, open_store, resolve_store
from domain.facade import Miljo
from domain.values import Actor
from tests.conftest import postgres_location, temporary_schema
from tests.support import ADMIN, COORDINATOR, FakeClock, SequentialIds, TestHasher

STORE_KINDS = ("memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres))

GJESDAL = "gjesdal"
GJESDAL_NAME = "Gjesdal ungdomsskole"
GJESDAL_TRINN = (8, 9, 10)
GJESDAL_CLASSES = {f"{trinn}{letter}": trinn for trinn in GJESDAL_TRINN for letter in "abcd"}
TEAM_NAME = "Miljøteamet på Gjesdal"
TEAM_JOINED = date(2024, 8, 1)  # before the first school day (T0)
THERAPIST_POSITION = "85"
#: The 7 miljøterapeuter (bachelor-level professions), all at 85 %.
THERAPISTS = {
    "gj-mt1": "vernepleier",
    "gj-mt2": "barnevernspedagog",
    "gj-mt3": "sosionom",
    "gj-mt4": "vernepleier",
    "gj-mt5": "barnevernspedagog",
    "gj-mt6": "sosionom",
    "gj-mt7": "vernepleier",
}
#: The 6 assistants and their positions.
ASSISTANTS = {
    "gj-as1": "60",
    "gj-as2": "60",
    "gj-as3": "50",
    "gj-as4": "50",
    "gj-as5": "40",
    "gj-as6": "40",
}
GJESDAL_COORDINATOR = "gj-mt1"


@attrs.frozen
class Gjesdal:
    """What ``build_gjesdal`` created (ids and names a test needs)."""

    code: str
    school_id: UUID
    team_id: UUID
    classes: dict[str, int]
    therapists: tuple[str, ...]
    assistants: tuple[str, ...]
    coordinator: str


def build_gjesdal(miljo: Miljo, actor: Actor = ADMIN) -> Gjesdal:
    """Register Gjesdal ungdomsskole, its 12 classes and its miljø team through the facade."""
    school_id = miljo.register_school(
        actor,
        code=GJESDAL,
        name=GJESDAL_NAME,
        first_trinn=GJESDAL_TRINN[0],
        last_trinn=GJESDAL_TRINN[-1],
    )
    for class_name, trinn in GJESDAL_CLASSES.items():
        miljo.add_class(actor, school=GJESDAL, trinn=trinn, class_name=class_name)
    team_id = miljo.form_team(actor, school=GJESDAL, name=TEAM_NAME)
    for member_id, profession in THERAPISTS.items():
        miljo.add_member(
            actor,
            school=GJESDAL,
            member_id=member_id,
            profession=profession,
            position_percent=THERAPIST_POSITION,
            joined_on=TEAM_JOINED,
        )
    for member_id, percent in ASSISTANTS.items():
        miljo.add_member(
            actor,
            school=GJESDAL,
            member_id=member_id,
            profession="assistent",
            position_percent=percent,
            joined_on=TEAM_JOINED,
        )
    miljo.appoint_coordinator(
        actor, school=GJESDAL, member_id=GJESDAL_COORDINATOR, effective_from=TEAM_JOINED
    )
    return Gjesdal(
        code=GJESDAL,
        school_id=school_id,
        team_id=team_id,
        classes=dict(GJESDAL_CLASSES),
        therapists=tuple(THERAPISTS),
        assistants=tuple(ASSISTANTS),
        coordinator=GJESDAL_COORDINATOR,
    )


#: An observation text (free text: sealed at rest) for tests of the command path.
OBSERVATION_TEXT = "Uro i friminuttet; to elever kranglet om ballen."


def register_test_student(miljo: Miljo, number: str = "1001") -> UUID:
    """A student of 8a at Gjesdal (the school must be built), registered by the admin."""
    return miljo.register_student(
        ADMIN,
        school=GJESDAL,
        student_number=number,
        name="Kari Testesen",
        trinn=8,
        class_name="8a",
    )


def observe_break(miljo: Miljo, student: UUID, text: str = OBSERVATION_TEXT) -> UUID:
    """A break-time conflict observed by the coordinator."""
    return miljo.record_observation(
        COORDINATOR, student, arena="break", categories=["conflict"], text=text
    )


@contextlib.contextmanager
def two_writers(location: StoreLocation, clock: FakeClock) -> Iterator[tuple[Miljo, Miljo]]:
    """Two facades on one store, as two processes would open it (ids that never collide)."""
    with (
        open_store(location, clock=clock, ids=SequentialIds()) as first,
        open_store(location, clock=clock, ids=SequentialIds(10_000)) as second,
    ):
        yield first, second


def new_sqlite_store(path: Path) -> StoreLocation:
    """Initialise a SQLite store (database file and key folder) at ``path``."""
    location = resolve_store(path)
    init_store(location)
    return location


def new_postgres_store(target: PostgresTarget, keys_dir: Path) -> StoreLocation:
    """Initialise a PostgreSQL store in ``target``'s (empty) schema, its keys in ``keys_dir``."""
    location = postgres_location(target, keys_dir)
    init_store(location)
    return location


@contextlib.contextmanager
def store_of_kind(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreLocation | None]:
    """An initialised, empty store for a fixture of any scope: None for ``memory``, a SQLite
    file, or a fresh PostgreSQL schema (dropped on exit: close the store first)."""
    if kind == "memory":
        yield None
    elif kind == "sqlite":
        yield new_sqlite_store(tmp_path_factory.mktemp("store") / "miljo.sqlite")
    else:
        server: PostgresTarget = request.getfixturevalue("postgres_target")
        with temporary_schema(server) as target:
            yield new_postgres_store(target, tmp_path_factory.mktemp("store") / "pg.keys")


@contextlib.contextmanager
def opened_store_of_kind(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    clock: FakeClock,
) -> Iterator[Miljo]:
    """:func:`store_of_kind`, opened on ``clock`` (closed before the store is dropped)."""
    with store_of_kind(kind, request, tmp_path_factory) as location:
        if location is None:
            miljo = open_store(":memory:", clock=clock, ids=SequentialIds(), hasher=TestHasher())
        else:
            miljo = open_store(location, clock=clock, ids=SequentialIds())
        with miljo:
            yield miljo


@pytest.fixture
def clock() -> FakeClock:
    """The clock every ``store`` runs on; tests move it by hand."""
    return FakeClock()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Miljo]:
    """A fresh facade on an in-memory store, a fresh SQLite file and a fresh PostgreSQL schema.

    The PostgreSQL facade is closed (its connection pool returned) before ``postgres_schema``
    drops the schema: a fixture requested with ``getfixturevalue`` during this one's setup is
    torn down after it.
    """
    kind: str = request.param
    if kind == "memory":
        miljo = open_store(":memory:", clock=clock, ids=SequentialIds())
    elif kind == "sqlite":
        location = new_sqlite_store(tmp_path / "miljo.sqlite")
        miljo = open_store(location, clock=clock, ids=SequentialIds())
    else:
        target: PostgresTarget = request.getfixturevalue("postgres_schema")
        location = new_postgres_store(target, tmp_path / "pg.keys")
        miljo = open_store(location, clock=clock, ids=SequentialIds())
    try:
        yield miljo
    finally:
        miljo.close()


@pytest.fixture
def sqlite_location(tmp_path: Path) -> StoreLocation:
    """An initialised, empty SQLite store for tests that open it more than once."""
    return new_sqlite_store(tmp_path / "miljo.sqlite")


@pytest.fixture
def gjesdal(store: Miljo) -> Gjesdal:
    """Gjesdal ungdomsskole with its classes and team, registered in ``store``."""
    return build_gjesdal(store)
