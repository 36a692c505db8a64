"""The library's own recorder and factory test suites, run against miljo's infrastructure.

``eventsourcing.tests.persistence`` ships ``unittest`` test cases that pin the contract every
recorder must keep (conflicts, notification order, tracking, concurrency). They run here
against the recorders miljo writes with: the chained SQLite and PostgreSQL application
recorders (a chain link per event in the insert transaction), their process-recorder
variants, the factories' tracking recorders, and the two factories with miljo's transcoder,
mapper and cipher switched on where the suite allows.

After every recorder test the hash chain over everything the library's test wrote must
verify: the chain survives conflicts, rollbacks and ten concurrent writers.

The module is imported (not the classes), so pytest does not collect the abstract bases.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    AggregateRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
    Tracking,
    TrackingRecorder,
    UUIDAsHex,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteDatastore,
    SQLiteProcessRecorder,
    SQLiteTrackingRecorder,
)
from eventsourcing.tests import persistence as suites
from eventsourcing.utils import Environment, get_topic

from adapters.bootstrap import PostgresTarget
from adapters.chain import (
    ENV_SEALING_KEYS_DIR,
    ChainedSQLiteApplicationRecorder,
    MiljoSQLiteFactory,
    sqlite_chain_rows,
    sqlite_orphan_links,
    verify_rows,
)
from adapters.keys import SEALING_KEY, init_keys, read_key
from adapters.postgres import (
    EVENTS_TABLE,
    ChainedPostgresApplicationRecorder,
    ChainedPostgresProcessRecorder,
    MiljoPostgresFactory,
    create_keyring_tables,
    open_chain,
)
from adapters.protection import KEYRING_FILE, Keyring, MiljoCipher, MiljoMapper
from adapters.sqlitesnapshots import MiljoSQLiteSnapshotRecorder
from adapters.transcoder import OrjsonTranscoder

#: A sealing key for recorders built by hand (never a real store's key).
TEST_SEALING_KEY = bytes(range(32))


def assert_sqlite_chain_intact(path: Path, key: bytes = TEST_SEALING_KEY) -> int:
    """Verify the chain over every stored event in the SQLite file; returns the event count."""
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "stored_events" not in tables:
            return 0
        count = int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
        result = verify_rows(key, sqlite_chain_rows(db), sqlite_orphan_links(db))
    assert result.ok, result
    assert result.checked == count
    return count


def assert_postgres_chain_intact(target: PostgresTarget, key: bytes = TEST_SEALING_KEY) -> int:
    with open_chain(target) as chain:
        count = chain.count()
        result = verify_rows(key, chain.rows(), chain.orphans())
    assert result.ok, result
    assert result.checked == count
    return count


# ---------------------------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------------------------


class ChainedSQLiteProcessRecorder(ChainedSQLiteApplicationRecorder, SQLiteProcessRecorder):
    """The library's SQLite process recorder with miljo's chain (events, tracking row and
    links in one transaction). miljo itself runs no process applications; this combination
    shows the chain composes with the library's ``_insert_events`` hook."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        *,
        sealing_key: bytes,
        events_table_name: str = "stored_events",
    ) -> None:
        # ChainedSQLiteApplicationRecorder passes the table name positionally, which the
        # process recorder does not accept: initialise through the process recorder.
        SQLiteProcessRecorder.__init__(self, datastore, events_table_name=events_table_name)
        self.sealing_key = sealing_key


class SQLiteFile:
    """Gives each test a database file (concurrency tests need one shared by threads)."""

    db_path: Path
    checks_chain: ClassVar[bool] = True

    @pytest.fixture(autouse=True)
    def _sqlite_file(self, tmp_path: Path) -> Iterator[None]:
        self.db_path = tmp_path / "suite.sqlite"
        yield
        if self.checks_chain:
            assert_sqlite_chain_intact(self.db_path)

    def datastore(self) -> SQLiteDatastore:
        return SQLiteDatastore(db_name=str(self.db_path))


class TestChainedSQLiteApplicationRecorder(
    SQLiteFile, suites.ApplicationRecorderTestCase[ChainedSQLiteApplicationRecorder]
):
    def create_recorder(self) -> ChainedSQLiteApplicationRecorder:
        recorder = ChainedSQLiteApplicationRecorder(self.datastore(), sealing_key=TEST_SEALING_KEY)
        recorder.create_table()
        return recorder


class TestMiljoSQLiteSnapshotRecorder(SQLiteFile, suites.AggregateRecorderTestCase):
    """The snapshot recorder on its rowid table (ADR 0016) passes the library's suite."""

    checks_chain = False

    def create_recorder(self) -> AggregateRecorder:
        factory = MiljoSQLiteFactory({"SQLITE_DBNAME": str(self.db_path)})
        recorder = factory.aggregate_recorder("snapshots")
        assert isinstance(recorder, MiljoSQLiteSnapshotRecorder)
        return recorder


class TestMiljoSQLiteTrackingRecorder(SQLiteFile, suites.TrackingRecorderTestCase):
    checks_chain = False

    def create_recorder(self) -> TrackingRecorder:
        factory = MiljoSQLiteFactory({"SQLITE_DBNAME": str(self.db_path)})
        return factory.tracking_recorder()


class TestChainedSQLiteProcessRecorder(SQLiteFile, suites.ProcessRecorderTestCase):
    def create_recorder(self) -> ChainedSQLiteProcessRecorder:
        recorder = ChainedSQLiteProcessRecorder(self.datastore(), sealing_key=TEST_SEALING_KEY)
        recorder.create_table()
        return recorder


def test_sqlite_process_recorder_chains_its_events(tmp_path: Path) -> None:
    """The combined recorder is really chained: one link per event, tracking alongside."""
    recorder = ChainedSQLiteProcessRecorder(
        SQLiteDatastore(db_name=str(tmp_path / "p.sqlite")), sealing_key=TEST_SEALING_KEY
    )
    recorder.create_table()
    originator = uuid4()
    events = [StoredEvent(originator, v, "topic", f"state{v}".encode()) for v in (1, 2, 3)]
    positions = recorder.insert_events(events, tracking=Tracking("upstream", 7))
    assert positions == [1, 2, 3]
    assert recorder.max_tracking_id("upstream") == 7
    assert assert_sqlite_chain_intact(tmp_path / "p.sqlite") == 3


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


class PostgresSchema:
    """Gives each test a fresh schema and closes every datastore it opened."""

    target: PostgresTarget
    checks_chain: ClassVar[bool] = True

    @pytest.fixture(autouse=True)
    def _postgres_schema(self, postgres_schema: PostgresTarget) -> Iterator[None]:
        self.target = postgres_schema
        self.datastores: list[PostgresDatastore] = []
        try:
            yield
            if self.checks_chain:
                assert_postgres_chain_intact(self.target)
        finally:
            for datastore in self.datastores:
                datastore.close()

    def datastore(self) -> PostgresDatastore:
        # The library's default pool (1 connection) is too small for its concurrency tests
        # and for a LISTEN subscription next to inserts.
        datastore = PostgresDatastore(
            dbname=self.target.dbname,
            host=self.target.host,
            port=self.target.port,
            user=self.target.user,
            password=self.target.password or "",
            schema=self.target.schema,
            pool_size=4,
            max_overflow=12,
        )
        self.datastores.append(datastore)
        return datastore


class TestChainedPostgresApplicationRecorder(
    PostgresSchema, suites.ApplicationRecorderTestCase[ChainedPostgresApplicationRecorder]
):
    def create_recorder(self) -> ChainedPostgresApplicationRecorder:
        recorder = ChainedPostgresApplicationRecorder(
            self.datastore(), sealing_key=TEST_SEALING_KEY, events_table_name=EVENTS_TABLE
        )
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestChainedPostgresNonInterleaving(
    PostgresSchema, suites.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> ChainedPostgresApplicationRecorder:
        recorder = ChainedPostgresApplicationRecorder(
            self.datastore(), sealing_key=TEST_SEALING_KEY, events_table_name=EVENTS_TABLE
        )
        recorder.create_table()
        return recorder


class TestMiljoPostgresTrackingRecorder(PostgresSchema, suites.TrackingRecorderTestCase):
    checks_chain = False

    def create_recorder(self) -> TrackingRecorder:
        recorder = PostgresTrackingRecorder(self.datastore(), tracking_table_name="miljo_tracking")
        recorder.create_table()
        return recorder


class TestChainedPostgresProcessRecorder(PostgresSchema, suites.ProcessRecorderTestCase):
    def create_recorder(self) -> ChainedPostgresProcessRecorder:
        recorder = ChainedPostgresProcessRecorder(
            self.datastore(),
            sealing_key=TEST_SEALING_KEY,
            events_table_name=EVENTS_TABLE,
            tracking_table_name="miljo_tracking",
        )
        recorder.create_table()
        return recorder


@contextlib.contextmanager
def chained_postgres_recorder(
    target: PostgresTarget,
) -> Iterator[ChainedPostgresApplicationRecorder]:
    """miljo's chained application recorder on its own datastore in ``target``'s schema."""
    datastore = PostgresDatastore(
        dbname=target.dbname,
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password or "",
        schema=target.schema,
    )
    try:
        recorder = ChainedPostgresApplicationRecorder(
            datastore, sealing_key=TEST_SEALING_KEY, events_table_name=EVENTS_TABLE
        )
        recorder.create_table()
        yield recorder
    finally:
        datastore.close()


def test_postgres_conflict_writes_neither_events_nor_links(
    postgres_schema: PostgresTarget,
) -> None:
    """A rejected save (version conflict) leaves no event and no link behind."""
    with chained_postgres_recorder(postgres_schema) as recorder:
        first = uuid4()
        recorder.insert_events([StoredEvent(first, 1, "topic", b"a")])
        with pytest.raises(IntegrityError):
            recorder.insert_events(
                [StoredEvent(uuid4(), 1, "topic", b"b"), StoredEvent(first, 1, "topic", b"c")]
            )
        assert recorder.insert_events([StoredEvent(uuid4(), 1, "topic", b"d")]) is not None
    assert assert_postgres_chain_intact(postgres_schema) == 2


def test_postgres_failure_after_the_insert_commits_nothing(
    postgres_schema: PostgresTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert is pipelined with the lock and the notify; an error on the Python side
    after it (here: while linking) rolls the whole transaction back (the library's own
    pipelined insert would commit it)."""
    with chained_postgres_recorder(postgres_schema) as recorder:
        recorder.insert_events([StoredEvent(uuid4(), 1, "topic", b"a")])

        def fail(*args: object) -> None:
            raise RuntimeError("no link")

        lost = uuid4()
        with monkeypatch.context() as patch:
            patch.setattr(recorder, "_append_links", fail)
            with pytest.raises(RuntimeError, match="no link"):
                recorder.insert_events([StoredEvent(lost, 1, "topic", b"b")])
        assert recorder.select_events(lost) == []
        assert recorder.insert_events([StoredEvent(uuid4(), 1, "topic", b"c")]) is not None
        assert recorder.count_events() == 2
    assert assert_postgres_chain_intact(postgres_schema) == 2


def _turns(trace: str) -> int:
    """How many times the client waited for the server in a libpq protocol trace: the lines
    where a backend message (``B``) follows a frontend one (``F``)."""
    sides = [line[:1] for line in trace.splitlines() if line[:2] in ("F\t", "B\t")]
    return sum(1 for before, after in itertools.pairwise(sides) if (before, after) == ("F", "B"))


def round_trips(
    recorder: PostgresApplicationRecorder,
    tmp_path: Path,
    insert: Callable[[list[StoredEvent]], object],
) -> int:
    """How many times ``insert`` (on ``recorder``'s pooled connection) waits for the server:
    the turns libpq's protocol trace shows the client ending."""
    tmp_path.mkdir(exist_ok=True)
    trace = tmp_path / "protocol.trace"
    original = recorder.datastore.get_connection

    @contextlib.contextmanager
    def traced(*args: Any, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
        with original(*args, **kwargs) as conn, trace.open("a") as out:
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(
                psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
            )
            try:
                yield conn
            finally:
                conn.pgconn.untrace()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recorder.datastore, "get_connection", traced)
        insert([StoredEvent(uuid4(), 1, "topic", b"x")])
    return _turns(trace.read_text())


def test_postgres_insert_takes_two_round_trips(
    postgres_schema: PostgresTarget, tmp_path: Path
) -> None:
    """The chained insert is pipelined (ADR 0011, addendum): BEGIN, the lock, the notify and
    the insert in one turn, the links and COMMIT in the second. The library's own insert on
    the same recorder takes more, so the count is not an artefact of the tracing."""
    with chained_postgres_recorder(postgres_schema) as recorder:
        recorder.insert_events([StoredEvent(uuid4(), 1, "topic", b"a")])  # tables warm
        assert round_trips(recorder, tmp_path / "a", recorder.insert_events) == 2
        library = functools.partial(PostgresApplicationRecorder.insert_events, recorder)
        assert round_trips(recorder, tmp_path / "b", library) > 2


# ---------------------------------------------------------------------------------------------
# The factories, with miljo's transcoder and mapper (and its cipher where the suite allows)
# ---------------------------------------------------------------------------------------------


def make_keys(folder: Path) -> Path:
    """Every key file of a store, plus its keyring, in ``folder``."""
    init_keys(folder)
    Keyring.create(folder / KEYRING_FILE)
    return folder


def miljo_transcoder() -> JSONTranscoder:
    transcoder = OrjsonTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return transcoder


class MiljoFactoryChecks:
    """Extra factory tests: miljo's own cipher, and that the recorder it builds chains."""

    env: Environment
    keys_dir: Path
    factory: Any

    def test_mapper_with_miljo_cipher(self) -> None:
        self.env["CIPHER_TOPIC"] = get_topic(MiljoCipher)
        mapper = self.factory.mapper(transcoder=miljo_transcoder())
        assert isinstance(mapper, MiljoMapper)
        assert isinstance(mapper.cipher, MiljoCipher)
        event = DomainEvent(
            originator_id=uuid4(), originator_version=1, timestamp=DomainEvent.create_timestamp()
        )
        stored = mapper.to_stored_event(event)
        assert b"originator" not in stored.state  # the payload is ciphertext
        assert mapper.to_domain_event(stored) == event
        # Another store's keys do not open it.
        self.env[ENV_SEALING_KEYS_DIR] = str(make_keys(self.keys_dir.parent / "other"))
        other = self.factory.mapper(transcoder=miljo_transcoder())
        with pytest.raises(MapperDeserialisationError):
            other.to_domain_event(stored)
        mapper.cipher.keyring.close()
        other.cipher.keyring.close()

    def test_application_recorder_uses_the_store_sealing_key(self) -> None:
        recorder = self.factory.application_recorder()
        recorder.insert_events([StoredEvent(uuid4(), 1, "topic", b"state")])
        self.check_chain(read_key(self.keys_dir, SEALING_KEY), expected=1)

    def check_chain(self, key: bytes, expected: int) -> None:
        raise NotImplementedError


class TestMiljoSQLiteFactory(
    MiljoFactoryChecks, suites.InfrastructureFactoryTestCase[MiljoSQLiteFactory]
):
    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> None:
        self.db_path = tmp_path / "factory.sqlite"
        self.keys_dir = make_keys(tmp_path / "keys")

    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env["PERSISTENCE_MODULE"] = get_topic(MiljoSQLiteFactory)
        self.env["SQLITE_DBNAME"] = str(self.db_path)
        self.env[ENV_SEALING_KEYS_DIR] = str(self.keys_dir)
        self.env["MAPPER_TOPIC"] = get_topic(MiljoMapper)
        super().setUp()
        self.transcoder = miljo_transcoder()

    def expected_factory_class(self) -> type[MiljoSQLiteFactory]:
        return MiljoSQLiteFactory

    def expected_aggregate_recorder_class(self) -> type[SQLiteAggregateRecorder]:
        return MiljoSQLiteSnapshotRecorder  # the library's, on a rowid table (ADR 0016)

    def expected_application_recorder_class(self) -> type[ChainedSQLiteApplicationRecorder]:
        return ChainedSQLiteApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[SQLiteTrackingRecorder]:
        return SQLiteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[SQLiteTrackingRecorder]:
        return CustomSQLiteTrackingRecorder

    def expected_process_recorder_class(self) -> type[SQLiteProcessRecorder]:
        return SQLiteProcessRecorder

    def check_chain(self, key: bytes, expected: int) -> None:
        assert assert_sqlite_chain_intact(self.db_path, key) == expected


class CustomSQLiteTrackingRecorder(SQLiteTrackingRecorder):
    pass


class CustomPostgresTrackingRecorder(PostgresTrackingRecorder):
    pass


class TestMiljoPostgresFactory(
    MiljoFactoryChecks, suites.InfrastructureFactoryTestCase[MiljoPostgresFactory]
):
    @pytest.fixture(autouse=True)
    def _store(self, postgres_schema: PostgresTarget, tmp_path: Path) -> None:
        self.target = postgres_schema
        self.keys_dir = make_keys(tmp_path / "keys")
        create_keyring_tables(postgres_schema)  # a PostgreSQL store's keyring (ADR 0015)

    def setUp(self) -> None:
        self.env = Environment("miljo")  # tables miljo_events, miljo_chain, as in a store
        self.env["PERSISTENCE_MODULE"] = get_topic(MiljoPostgresFactory)
        self.env["POSTGRES_DBNAME"] = self.target.dbname
        self.env["POSTGRES_HOST"] = self.target.host
        self.env["POSTGRES_PORT"] = str(self.target.port)
        self.env["POSTGRES_USER"] = self.target.user
        self.env["POSTGRES_PASSWORD"] = self.target.password or ""
        self.env["POSTGRES_SCHEMA"] = self.target.schema
        self.env["POSTGRES_POOL_SIZE"] = "1"
        self.env[ENV_SEALING_KEYS_DIR] = str(self.keys_dir)
        self.env["MAPPER_TOPIC"] = get_topic(MiljoMapper)
        super().setUp()
        self.transcoder = miljo_transcoder()

    def expected_factory_class(self) -> type[MiljoPostgresFactory]:
        return MiljoPostgresFactory

    def expected_aggregate_recorder_class(self) -> type[PostgresAggregateRecorder]:
        return PostgresAggregateRecorder

    def expected_application_recorder_class(self) -> type[ChainedPostgresApplicationRecorder]:
        return ChainedPostgresApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[PostgresTrackingRecorder]:
        return PostgresTrackingRecorder

    def tracking_recorder_subclass(self) -> type[PostgresTrackingRecorder]:
        return CustomPostgresTrackingRecorder

    def expected_process_recorder_class(self) -> type[ChainedPostgresProcessRecorder]:
        return ChainedPostgresProcessRecorder

    def check_chain(self, key: bytes, expected: int) -> None:
        assert assert_postgres_chain_intact(self.target, key) == expected
