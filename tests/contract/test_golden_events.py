"""Golden stored events and snapshots keep loading (docs/adr/0003-event-schema.md).

Every line of every ``tests/golden/*-events.jsonl`` file is read back through the
application's mapper with both transcoders (miljo's OrjsonTranscoder and the library's plain
JSONTranscoder, each with MiljoApplication's transcodings): its topic resolves to a current
event class, the event carries every field of that class (after upcasting), each stream folds
into its aggregate, and each golden snapshot restores the aggregate the events fold into.
Every current event class must appear in some golden file, so a new event class forces a new
golden file (tests/golden/README.md). The last tests show the upcasting path on a throwaway
aggregate.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import attrs
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import resolve_topic

from adapters.bootstrap import TRANSCODER_TOPIC, StoreLocation, open_store, resolve_store
from adapters.transcoder import OrjsonTranscoder
from domain.application import SNAPSHOT_INTERVALS, MiljoApplication
from domain.base import MiljoAggregate
from domain.values import Actor
from tests.golden.make_golden import (
    AGGREGATES,
    GOLDEN_DIR,
    all_event_classes,
    event_classes,
    main,
    topic_of,
    write_golden,
)
from tests.support import COORDINATOR, T0, TestHasher, replay

TRANSCODERS: Final = ("orjson", "json")
EVENT_FILES: Final = sorted(GOLDEN_DIR.glob("*-events.jsonl"))
SNAPSHOT_SUFFIX: Final = "-snapshots.jsonl"
EVENTS_SUFFIX: Final = "-events.jsonl"


@attrs.frozen
class GoldenLine:
    """One stored record from a golden file."""

    where: str  # file:line, for messages
    topic: str
    originator_id: UUID
    originator_version: int
    state: str

    def stored(self) -> StoredEvent:
        return StoredEvent(
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            topic=self.topic,
            state=self.state.encode("utf-8"),
        )


def read_golden(path: Path) -> list[GoldenLine]:
    lines = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            record = json.loads(text)
            assert set(record) == {"topic", "originator_id", "originator_version", "state"}
            lines.append(
                GoldenLine(
                    where=f"{path.name}:{number}",
                    topic=record["topic"],
                    originator_id=UUID(record["originator_id"]),
                    originator_version=record["originator_version"],
                    state=record["state"],
                )
            )
    return lines


def snapshots_for(events_file: Path) -> Path:
    return events_file.with_name(events_file.name.removesuffix(EVENTS_SUFFIX) + SNAPSHOT_SUFFIX)


def application(transcoder: str) -> MiljoApplication:
    """An in-memory MiljoApplication whose mapper uses the named transcoder."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if transcoder == "orjson":
        env["TRANSCODER_TOPIC"] = TRANSCODER_TOPIC
    app = MiljoApplication(env=env)
    expected = OrjsonTranscoder if transcoder == "orjson" else JSONTranscoder
    assert type(app.mapper.transcoder) is expected
    return app


@pytest.fixture(scope="module", params=TRANSCODERS)
def app(request: pytest.FixtureRequest) -> Iterator[MiljoApplication]:
    built = application(str(request.param))
    yield built
    built.close()


def fold_streams(app: MiljoApplication, lines: list[GoldenLine]) -> dict[UUID, list[Any]]:
    """Golden events by stream, decoded by ``app``'s mapper, in version order."""
    streams: dict[UUID, list[Any]] = {}
    for line in lines:
        streams.setdefault(line.originator_id, []).append(app.mapper.to_domain_event(line.stored()))
    for events in streams.values():
        events.sort(key=lambda e: e.originator_version)
    return streams


def field_names(event_class: Any) -> set[str]:
    """Names of the dataclass fields of an event class (what a current event carries)."""
    return {f.name for f in dataclasses.fields(event_class)}


golden_files = pytest.mark.parametrize("events_file", EVENT_FILES, ids=lambda p: p.name)


# ---------------------------------------------------------------------------------------------
# The golden set is complete
# ---------------------------------------------------------------------------------------------


def test_v1_golden_files_are_present() -> None:
    names = {p.name for p in GOLDEN_DIR.iterdir()}
    assert {"v1-events.jsonl", "v1-snapshots.jsonl", "README.md"} <= names
    for events_file in EVENT_FILES:
        assert snapshots_for(events_file).exists(), f"{events_file.name} has no snapshot file"


def test_aggregate_list_covers_every_kind() -> None:
    """A new aggregate kind (it gets a snapshot interval) must be added to AGGREGATES."""
    assert set(AGGREGATES) == set(SNAPSHOT_INTERVALS)
    for aggregate in AGGREGATES:
        classes = event_classes(aggregate)
        assert classes, aggregate
        prefix = topic_of(aggregate) + "."
        for cls in classes:
            assert cls.__name__ != "Created"
            assert topic_of(cls) == prefix + cls.__name__, cls


def test_every_current_event_class_has_a_golden_line() -> None:
    """A new event class needs a golden line: write a new golden file (README.md)."""
    stored_topics = {line.topic for path in EVENT_FILES for line in read_golden(path)}
    missing = sorted(set(all_event_classes()) - stored_topics)
    assert missing == [], f"event classes without a golden line: {missing}"


def test_every_aggregate_kind_has_a_golden_snapshot() -> None:
    snapshot_topics: set[str] = set()
    for events_file in EVENT_FILES:
        for line in read_golden(snapshots_for(events_file)):
            snapshot_topics.add(json.loads(line.state)["topic"])
    assert snapshot_topics >= {topic_of(agg) for agg in AGGREGATES}


# ---------------------------------------------------------------------------------------------
# Each golden line loads through the mapper, with both transcoders
# ---------------------------------------------------------------------------------------------


@golden_files
def test_topics_resolve_to_current_event_classes(events_file: Path, app: MiljoApplication) -> None:
    current = all_event_classes()
    for line in read_golden(events_file):
        cls = resolve_topic(line.topic)
        assert cls is current.get(line.topic), f"{line.where}: {line.topic} is not current"
        event = app.mapper.to_domain_event(line.stored())
        assert type(event) is cls, line.where


@golden_files
def test_events_carry_every_field_of_the_current_class(
    events_file: Path, app: MiljoApplication
) -> None:
    for line in read_golden(events_file):
        event = app.mapper.to_domain_event(line.stored())
        assert set(vars(event)) == field_names(type(event)), line.where
        assert event.originator_id == line.originator_id
        assert event.originator_version == line.originator_version


@golden_files
def test_unchanged_classes_write_the_stored_bytes(events_file: Path, app: MiljoApplication) -> None:
    """While a class is at the version a line was stored at, what miljo writes today is byte
    for byte what is stored (both transcoders)."""
    compared = 0
    for line in read_golden(events_file):
        event = app.mapper.to_domain_event(line.stored())
        stored_version = json.loads(line.state).get("class_version", 1)
        if getattr(type(event), "class_version", 1) != stored_version:
            continue  # upcast on read: the current class writes another shape
        assert app.mapper.to_stored_event(event) == line.stored(), line.where
        compared += 1
    assert compared > 0


@golden_files
def test_streams_fold_into_aggregates(events_file: Path, app: MiljoApplication) -> None:
    kinds = {topic_of(agg): agg for agg in AGGREGATES}
    for stream_id, events in fold_streams(app, read_golden(events_file)).items():
        versions = [e.originator_version for e in events]
        assert versions == list(range(1, len(events) + 1)), f"gap in stream {stream_id}"
        aggregate = replay(events)
        assert type(aggregate) is kinds[events[0].originator_topic]
        assert aggregate.id == stream_id
        assert aggregate.version == len(events)
        assert aggregate.modified_on == events[-1].timestamp
        repr(aggregate)  # read helpers work on the folded state


@golden_files
def test_both_transcoders_fold_to_equal_aggregates(events_file: Path) -> None:
    lines = read_golden(events_file)
    folded: dict[str, dict[UUID, Any]] = {}
    for transcoder in TRANSCODERS:
        app = application(transcoder)
        streams = fold_streams(app, lines)
        folded[transcoder] = {key: replay(events) for key, events in streams.items()}
        app.close()
    assert folded["orjson"] == folded["json"]


@golden_files
def test_snapshots_restore_what_the_events_fold_into(
    events_file: Path, app: MiljoApplication
) -> None:
    streams = fold_streams(app, read_golden(events_file))
    snapshot_lines = read_golden(snapshots_for(events_file))
    assert snapshot_lines
    for line in snapshot_lines:
        snapshot = app.mapper.to_domain_event(line.stored())
        assert isinstance(snapshot, Snapshot), line.where
        restored = snapshot.mutate(None)
        events = [
            e
            for e in streams[line.originator_id]
            if e.originator_version <= line.originator_version
        ]
        assert restored == replay(events), line.where
        assert restored.version == line.originator_version


def with_state(stored: StoredEvent, state: bytes) -> StoredEvent:
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=state,
    )


@golden_files
def test_repository_loads_golden_records(events_file: Path, store_location: StoreLocation) -> None:
    """Golden records inserted into a real store (SQLite and PostgreSQL) load through the
    repository, snapshots included, and equal the plain fold of their events."""
    loads_golden_records(events_file, store_location)


@golden_files
def test_memory_repository_loads_golden_records(events_file: Path) -> None:
    loads_golden_records(events_file, resolve_store(":memory:"))


def loads_golden_records(events_file: Path, location: StoreLocation) -> None:
    lines = read_golden(events_file)
    snapshot_lines = read_golden(snapshots_for(events_file))
    with open_store(location, hasher=TestHasher()) as miljo:
        # Golden lines are plain records; the store encrypts payloads at rest, so the
        # records go in as the store would hold them (personal fields left unsealed,
        # which the mapper reads as-is: the path an unencrypted store migrates by).
        cipher = miljo.app.mapper.cipher
        assert cipher is not None

        def encrypted(line: GoldenLine) -> StoredEvent:
            plain = line.stored()
            return with_state(plain, cipher.encrypt(plain.state))

        miljo.app.recorder.insert_events([encrypted(line) for line in lines])
        assert miljo.app.snapshots is not None
        miljo.app.snapshots.recorder.insert_events([encrypted(line) for line in snapshot_lines])
        plain = MiljoApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        streams = fold_streams(plain, lines)
        for stream_id, events in streams.items():
            loaded: object = miljo.app.repository.get(stream_id)
            assert loaded == replay(events)
        assert miljo.event_count() == len(lines)


# ---------------------------------------------------------------------------------------------
# make_golden never overwrites
# ---------------------------------------------------------------------------------------------


def test_make_golden_writes_a_new_label_and_refuses_to_overwrite(tmp_path: Path) -> None:
    events_path, snapshots_path = write_golden(tmp_path, "v9")
    written = read_golden(events_path)
    assert {line.topic for line in written} >= set(all_event_classes())
    assert len(read_golden(snapshots_path)) == len(AGGREGATES)
    before = events_path.read_bytes()
    with pytest.raises(FileExistsError, match="never regenerated"):
        write_golden(tmp_path, "v9")
    assert main(["--out", str(tmp_path), "--label", "v9"]) == 1
    assert events_path.read_bytes() == before


def test_make_golden_refuses_when_either_file_exists(tmp_path: Path) -> None:
    (tmp_path / "v3-snapshots.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_golden(tmp_path, "v3")
    assert not (tmp_path / "v3-events.jsonl").exists()
    with pytest.raises(ValueError, match="label"):
        write_golden(tmp_path, "../escape")


# ---------------------------------------------------------------------------------------------
# Upcasting: a v1 payload of a class now at version 2 is read back upcast
# ---------------------------------------------------------------------------------------------


class Locker(MiljoAggregate):
    """Throwaway aggregate (a student's locker) that lives only in this test module."""

    TOPIC = "miljo-test:Locker"

    class Created(MiljoAggregate.Created):
        TOPIC = "miljo-test:Locker.Created"

    class Assigned(MiljoAggregate.Created):
        TOPIC = "miljo-test:Locker.Assigned"
        class_version = 1
        number: str

        def apply(self, locker: Locker) -> None:
            locker.number = self.number
            locker.labels = []

    class Labelled(MiljoAggregate.Event):
        TOPIC = "miljo-test:Locker.Labelled"
        class_version = 2
        label: str
        language: str  # added in version 2; version 1 labels were all bokmål

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["language"] = "nb"

        def apply(self, locker: Locker) -> None:
            locker.labels.append(f"{self.language}:{self.label}")

    class Moved(MiljoAggregate.Event):
        """Bumped to version 2 without an upcaster (the mistake the next test catches)."""

        TOPIC = "miljo-test:Locker.Moved"
        class_version = 2
        corridor: str
        floor: int  # added in version 2, but nobody wrote upcast_v1_v2

    if TYPE_CHECKING:
        number: str
        labels: list[str]

    @classmethod
    def assign(cls, *, locker_id: UUID, number: str, actor: Actor) -> Locker:
        return cls._start(cls.Assigned, id=locker_id, actor=actor, at=T0, number=number)

    def label(self, *, label: str, language: str, actor: Actor) -> None:
        at = T0 + timedelta(days=len(self.labels) + 1)
        self._record(self.Labelled, actor=actor, at=at, label=label, language=language)


LOCKER_ID: Final = UUID("10c4e700-0000-4000-8000-000000000017")


@pytest.mark.parametrize("transcoder", TRANSCODERS)
def test_v1_payload_is_upcast_when_read(transcoder: str) -> None:
    app = application(transcoder)
    app.save(Locker.assign(locker_id=LOCKER_ID, number="B-17", actor=COORDINATOR))
    # What a version-1 writer stored: no class_version key (the library omits version 1)
    # and no language field.
    v1_state = app.mapper.transcoder.encode(
        {
            "timestamp": T0 + timedelta(hours=1),
            "actor_id": COORDINATOR.person_id,
            "actor_role": COORDINATOR.role.value,
            "label": "Gymtøy og skisko",
        }
    )
    app.recorder.insert_events([StoredEvent(LOCKER_ID, 2, "miljo-test:Locker.Labelled", v1_state)])

    created, labelled = list(app.events.get(LOCKER_ID))
    assert isinstance(labelled, Locker.Labelled)
    assert (labelled.label, labelled.language) == ("Gymtøy og skisko", "nb")
    assert set(vars(labelled)) == field_names(Locker.Labelled)
    locker: object = app.repository.get(LOCKER_ID)
    assert isinstance(locker, Locker)
    assert locker.labels == ["nb:Gymtøy og skisko"]

    # A version-2 event is stored with its class_version and read back as written.
    locker.label(label="Innesko", language="nn", actor=COORDINATOR)
    app.save(locker)
    (stored,) = app.recorder.select_events(LOCKER_ID, gt=2)
    assert app.mapper.transcoder.decode(stored.state)["class_version"] == 2
    reloaded: object = app.repository.get(LOCKER_ID)
    assert isinstance(reloaded, Locker)
    assert reloaded.labels == ["nb:Gymtøy og skisko", "nn:Innesko"]
    assert reloaded == replay([created, labelled, app.mapper.to_domain_event(stored)])
    app.close()


def test_version_bump_without_an_upcaster_fails_loudly() -> None:
    """Bumping class_version without an upcaster is caught when an old payload is read."""
    app = application("orjson")
    state = app.mapper.transcoder.encode(
        {"timestamp": T0, "actor_id": "p-coord", "actor_role": "miljokoordinator", "corridor": "A"}
    )
    with pytest.raises(AttributeError, match="upcast_v1_v2"):
        app.mapper.to_domain_event(StoredEvent(LOCKER_ID, 2, "miljo-test:Locker.Moved", state))
    app.close()
