"""Test helpers shared by every test module: fakes for the domain's ports and builders."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.bootstrap import PostgresTarget, StoreLocation
from domain.base import MiljoAggregate
from domain.values import Actor, Role

#: The user property under which a fault test records its one-line figures
#: (tests/integration/workers.py ``report``); tests/conftest.py repeats them in the summary.
FIGURES_PROPERTY = "miljo_fault_figures"

T0 = datetime(2024, 8, 19, 8, 0, tzinfo=UTC)  # first school day of autumn term 2024

#: Every school code the shared tests register. The shared school-bound actors below act for
#: all of them, so tests about something else need no scope; tests of the school scope build
#: actors of one school (tests/integration/test_school_scope.py).
TEST_SCHOOLS = frozenset({"gjesdal", "hvalstad", "sandnes", "strinda", "trudvang"})

COORDINATOR = Actor(person_id="p-coord", role=Role.MILJOKOORDINATOR, schools=TEST_SCHOOLS)
REKTOR = Actor(person_id="p-rektor", role=Role.REKTOR, schools=TEST_SCHOOLS)
INSPEKTOR = Actor(person_id="p-insp", role=Role.INSPEKTOR, schools=TEST_SCHOOLS)
SPED_LEAD = Actor(person_id="p-sped", role=Role.SPESIALPEDAGOGISK_ANSVARLIG, schools=TEST_SCHOOLS)
THERAPIST = Actor(person_id="p-mt1", role=Role.MILJOTERAPEUT, schools=TEST_SCHOOLS)
TEACHER = Actor(person_id="p-teach", role=Role.LAERER, schools=TEST_SCHOOLS)
AUDITOR = Actor(person_id="p-audit", role=Role.AUDITOR)
ADMIN = Actor(person_id="p-admin", role=Role.ADMIN)


class FakeClock:
    """A clock that the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


class SequentialIds:
    """Deterministic uuids: 00000000-0000-4000-8000-000000000001, ...002, ..."""

    def __init__(self, start: int = 1) -> None:
        self.counter = start

    def new_id(self) -> UUID:
        value = UUID(int=(0x4000 << 64) | (0x8 << 60) | self.counter)
        self.counter += 1
        return value


class TestHasher:
    """HMAC-SHA256 with a fixed test key."""

    key = b"miljo-test-key-not-secret"

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def new_events(aggregate: MiljoAggregate) -> list[MiljoAggregate.Event]:
    """Drain and return the aggregate's pending events (the 'then' of a unit test)."""
    events = aggregate.collect_events()
    return [e for e in events if isinstance(e, MiljoAggregate.Event)]


def replay(events: Sequence[Any]) -> Any:
    """Rebuild an aggregate from its events, as the repository would (no I/O)."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def postgres_store_url(target: PostgresTarget) -> str:
    """The target's URL *with* its password and schema, as ``--store``/``MILJO_STORE`` take it
    (for a test's CLI environment or a child process; never printed)."""
    auth = quote(target.user, safe="")
    if target.password:
        auth += ":" + quote(target.password, safe="")
    host = f"[{target.host}]" if ":" in target.host else target.host
    return (
        f"postgresql://{auth}@{host}:{target.port}/{quote(target.dbname, safe='')}"
        f"?schema={target.schema}"
    )


def stored_states(location: StoreLocation, topic_prefix: str = "") -> list[bytes]:
    """The stored (encrypted) state of every event whose topic starts with ``topic_prefix``,
    read from the events table without the store's keys: ``stored_events`` in a SQLite file,
    ``miljo_events`` in a PostgreSQL schema."""
    pattern = topic_prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    if location.postgres is not None:
        target = location.postgres
        query = sql.SQL("SELECT state FROM {}.miljo_events WHERE topic LIKE %s").format(
            sql.Identifier(target.schema)
        )
        with psycopg.connect(make_conninfo("", **target.connect_kwargs())) as conn:
            rows = conn.execute(query, (pattern,)).fetchall()
    else:
        assert location.db_path is not None, "an in-memory store has no table to read"
        uri = f"file:{location.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT state FROM stored_events WHERE topic LIKE ? ESCAPE '\\'", (pattern,)
            ).fetchall()
    return [bytes(state) for (state,) in rows]


def stored_event_count(location: StoreLocation) -> int:
    """How many events the store holds, counted in its events table without its keys."""
    return len(stored_states(location))


def postgres_has_store(target: PostgresTarget) -> bool:
    """Whether ``target``'s schema holds any miljo table (a store was initialised there)."""
    query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s"
    with psycopg.connect(make_conninfo("", **target.connect_kwargs())) as conn:
        row = conn.execute(query, (target.schema,)).fetchone()
    assert row is not None
    return int(row[0]) > 0
