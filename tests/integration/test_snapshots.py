"""Snapshots of long streams: only the newest and a sparse ladder are kept, and reads at any
version (as-of reads included) still equal a replay of the events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import open_store
from domain import application
from domain.application import SNAPSHOT_INTERVALS, SNAPSHOT_LADDER
from domain.facade import Miljo
from domain.student import Student
from tests.integration.conftest import STORE_KINDS, store_of_kind
from tests.support import ADMIN, COORDINATOR, FakeClock, SequentialIds

OBSERVATIONS = 240  # Student snapshots every 50 events: versions 50, 100, ..., 200
LADDER = 2  # keep every 100th version (the store's default is every 500th)


@pytest.fixture(params=STORE_KINDS)
def store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Miljo]:
    monkeypatch.setattr(application, "SNAPSHOT_LADDER", LADDER)
    clock = FakeClock()
    with store_of_kind(request.param, request, tmp_path_factory) as location:
        target = ":memory:" if location is None else location
        with open_store(target, clock=clock, ids=SequentialIds()) as miljo:
            yield miljo


def long_student(miljo: Miljo) -> UUID:
    miljo.register_school(
        ADMIN, code="gjesdal", name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
    )
    miljo.add_class(ADMIN, school="gjesdal", trinn=8, class_name="8c")
    kari = miljo.register_student(
        ADMIN, school="gjesdal", student_number="1001", name="Kari Testesen", trinn=8,
        class_name="8c",
    )  # fmt: skip
    clock = miljo.clock
    assert isinstance(clock, FakeClock)
    for n in range(OBSERVATIONS):
        clock.advance(minutes=5)
        miljo.record_observation(
            COORDINATOR, kari, arena="classroom", categories=["learning"], text=f"Økt {n}"
        )
    return kari


def test_only_the_newest_snapshot_and_a_ladder_are_kept(store: Miljo) -> None:
    with store:
        kari = long_student(store)
        assert store.app.snapshots is not None
        versions = sorted(s.originator_version for s in store.app.snapshots.get(kari))
        interval = SNAPSHOT_INTERVALS[Student]
        newest = (OBSERVATIONS + 1) // interval * interval
        ladder = interval * LADDER
        assert SNAPSHOT_LADDER * interval == ladder * 5  # the default ladder is wider
        assert versions == sorted({*range(ladder, newest, ladder), newest})


def test_reads_at_every_version_equal_a_replay(store: Miljo) -> None:
    with store:
        kari = long_student(store)
        events: list[Any] = list(store.app.events.get(kari))
        for version in (1, 49, 50, 51, 99, 100, 101, 149, 150, 199, 200, len(events)):
            replayed = None
            for event in events[:version]:
                replayed = event.mutate(replayed)
            loaded: object = store.app.repository.get(kari, version=version)
            assert loaded == replayed, version
        # an as-of read between two kept snapshots goes through the ladder
        as_of = events[160].timestamp + timedelta(seconds=1)
        then = store._aggregate_as_of(kari, as_of)
        assert isinstance(then, Student)
        assert then.version == 161
