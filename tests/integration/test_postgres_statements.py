"""The PostgreSQL command path's statements (docs/adr/0013-command-path-cache.md, addendum
"PostgreSQL reads"): rendered once, the same bytes as the library's own composition; a
first load of a student is one statement.

Needs ``MILJO_TEST_POSTGRES_URL`` (see tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

from adapters.bootstrap import PostgresTarget, StoreLocation, open_store
from adapters.keyring import PostgresKeyringStorage
from adapters.postgres import (
    ChainedPostgresApplicationRecorder,
    PostgresStreamReader,
    Rendered,
)
from adapters.protection import MiljoCipher
from domain.facade import Miljo
from tests.integration.conftest import (
    build_gjesdal,
    new_postgres_store,
    observe_break,
    register_test_student,
)
from tests.support import FakeClock, SequentialIds

pytestmark = pytest.mark.postgres


@pytest.fixture
def location(postgres_schema: PostgresTarget, tmp_path: Path) -> StoreLocation:
    return new_postgres_store(postgres_schema, tmp_path / "pg.keys")


@pytest.fixture
def miljo(location: StoreLocation) -> Iterator[Miljo]:
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as opened:
        yield opened


def _recorder(miljo: Miljo) -> ChainedPostgresApplicationRecorder:
    recorder = miljo.app.recorder
    assert isinstance(recorder, ChainedPostgresApplicationRecorder)
    return recorder


def test_the_inserts_statements_are_the_librarys_rendered(miljo: Miljo) -> None:
    recorder = _recorder(miljo)
    with recorder.datastore.get_connection() as conn:
        library = [
            *(cast(sql.Composable, s).as_bytes(conn) for s in recorder.lock_table_statements),
            sql.SQL("NOTIFY {0}").format(sql.Identifier(recorder.channel_name)).as_bytes(conn),
            recorder.insert_events_statement.as_bytes(conn),
            recorder.insert_links_statement.as_bytes(conn),
        ]
        ours = [
            *(lock(conn) for lock in recorder._locks),
            recorder._notify(conn),
            recorder._insert(conn),
            recorder._links(conn),
        ]
    assert ours == library
    assert len(recorder._locks) == len(recorder.lock_table_statements) == 2


def test_a_statement_is_rendered_once(miljo: Miljo, monkeypatch: pytest.MonkeyPatch) -> None:
    renders: list[object] = []
    statement = sql.SQL("SELECT {}").format(sql.Literal(1))
    real = sql.Composed.as_bytes

    def counted(self: sql.Composed, context: Any = None) -> bytes:
        renders.append(self)
        return real(self, context)

    monkeypatch.setattr(sql.Composed, "as_bytes", counted)
    rendered = Rendered(statement)
    with _recorder(miljo).datastore.get_connection() as conn:
        assert rendered(conn) == rendered(conn) == b"SELECT 1"
    assert renders == [statement]


def test_text_and_other_statements(miljo: Miljo) -> None:
    with _recorder(miljo).datastore.get_connection() as conn:
        assert Rendered("SELECT 'æøå'")(conn) == "SELECT 'æøå'".encode()
        assert Rendered(b"SELECT 2")(conn) == b"SELECT 2"
        with pytest.raises(TypeError, match="int statement is not rendered"):
            Rendered(cast(Any, 3))(conn)


def test_a_first_load_is_one_statement(
    location: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A student with a snapshot, loaded by a fresh store object: the snapshot and the
    events after it come back from one statement (the library sends two, one round trip
    each)."""
    with open_store(location, clock=FakeClock(), ids=SequentialIds()) as miljo:
        build_gjesdal(miljo)
        student = register_test_student(miljo)
        for _ in range(55):  # a snapshot at 50, then five events
            observe_break(miljo, student)
    with open_store(location, clock=FakeClock(), ids=SequentialIds(1000)) as miljo:
        reader = miljo.app.repository.stream_reader
        assert isinstance(reader, PostgresStreamReader)
        sent: list[bytes] = []
        real = psycopg.Cursor.execute

        def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(query if isinstance(query, bytes) else query.as_bytes(self.connection))
            return real(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        loaded = miljo.app.repository.get(student)
        monkeypatch.undo()
        assert loaded.version == 56  # registered, then 55 observations
        # The store's one read, then the keyring's (the student's keys, to open the sealed
        # fields): nothing else.
        assert len(sent) == 2, sent
        assert sent[0].startswith(b"WITH s AS (SELECT originator_version")
        assert sent[1].startswith(b"SELECT purpose, generation, wrapped FROM")
        snapshot, events = reader(student, None)
        assert snapshot is not None
        assert snapshot.originator_version == 50
        assert [e.originator_version for e in events] == list(range(51, 57))


def test_the_keyrings_reads_are_rendered_at_connect(miljo: Miljo) -> None:
    cipher = miljo.app.mapper.cipher
    assert isinstance(cipher, MiljoCipher)
    storage = cipher.keyring.storage
    assert isinstance(storage, PostgresKeyringStorage)
    with _recorder(miljo).datastore.get_connection() as conn:
        assert storage._live == storage._live_sql.as_bytes(conn)
        assert storage._fetch == storage._fetch_sql.as_bytes(conn)
    assert storage._live.startswith(b"SELECT purpose, generation, wrapped FROM")
