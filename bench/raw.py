"""The baseline: the bare ``eventsourcing`` library on the same machine and backend.

A minimal aggregate whose events store about 300 bytes each, the library's default JSON
transcoder, no cipher, no compression, no snapshots, in an SQLite file next to the miljo
stores (``eventsourcing.sqlite``, as miljo's stores use).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import Row, median, median_rate, rate, say, timed

#: Size of a stored event's state (JSON of the event's fields) the baseline aims for.
EVENT_BYTES: Final = 300
PAGE: Final = 500  # notifications per select, as miljo's view catch-up reads them
TEXT: Final = "Uro i friminuttet; to elever kranglet om ballen og en voksen gikk imellom. "


class Thing(Aggregate):
    """The minimal aggregate: one event type with one text field."""

    def __init__(self) -> None:
        self.count = 0

    @event("Happened")
    def happen(self, payload: str) -> None:
        self.count += 1


class Baseline(Application[UUID]):
    name = "baseline"


@attrs.frozen
class BaselineConfig:
    one_per_save: int  # events written with one event per save (split into batches)
    hundred_saves: int  # saves of 100 events each (per batch)
    batches: int
    select_repeats: int
    get_repeats: int


QUICK: Final = BaselineConfig(
    one_per_save=300, hundred_saves=50, batches=3, select_repeats=3, get_repeats=3
)
FULL: Final = BaselineConfig(
    one_per_save=2000, hundred_saves=500, batches=5, select_repeats=3, get_repeats=7
)


def open_baseline(path: Path) -> Baseline:
    return Baseline(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def payload_for(app: Baseline, target: int = EVENT_BYTES) -> tuple[str, int]:
    """A payload that makes the stored state about ``target`` bytes; returns (payload, bytes)."""
    probe = Thing()
    probe.happen("")
    [_, empty] = probe.collect_events()
    base = len(app.mapper.to_stored_event(empty).state)
    text = (TEXT * (target // len(TEXT) + 2))[: max(0, target - base)]
    probe.happen(text)
    [stored] = [app.mapper.to_stored_event(e) for e in probe.collect_events()]
    return text, len(stored.state)


def one_per_save(app: Baseline, payload: str, total: int, batches: int) -> float:
    per_batch = max(1, total // batches)
    results = []
    for _ in range(batches):
        thing = Thing()
        app.save(thing)

        def run(thing: Thing = thing) -> None:
            for _ in range(per_batch):
                thing.happen(payload)
                app.save(thing)

        results.append((per_batch, timed(run)))
    return median_rate(results)


class RawWriter:
    """One-event saves of the baseline, in batches, to interleave with miljo's commands (a
    disk's fsync latency drifts over minutes: a ratio is fair only between neighbours)."""

    def __init__(self, path: Path) -> None:
        self.app = open_baseline(path)
        self.payload, _ = payload_for(self.app)

    def batch(self, count: int) -> float:
        """Seconds for ``count`` saves of one event each."""
        thing = Thing()
        self.app.save(thing)

        def run() -> None:
            for _ in range(count):
                thing.happen(self.payload)
                self.app.save(thing)

        return timed(run)

    def close(self) -> None:
        self.app.close()


def hundred_per_save(app: Baseline, payload: str, saves: int, batches: int) -> float:
    results = []
    for _ in range(batches):
        thing = Thing()
        app.save(thing)

        def run(thing: Thing = thing) -> None:
            for _ in range(saves):
                for _ in range(100):
                    thing.happen(payload)
                app.save(thing)

        results.append((saves * 100, timed(run)))
    return median_rate(results)


def select_decode_all(app: Baseline) -> int:
    """Read and decode every event of the notification log, page by page."""
    decoded = 0
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE)
        if not page:
            return decoded
        for notification in page:
            app.mapper.to_domain_event(notification)
        decoded += len(page)
        start = page[-1].id + 1


def write_stream(app: Baseline, payload: str, length: int) -> UUID:
    """An aggregate with ``length`` events (its creation included), saved 100 per save."""
    thing = Thing()
    for n in range(1, length):
        thing.happen(payload)
        if n % 100 == 0:
            app.save(thing)
    app.save(thing)
    return thing.id


def get_seconds(app: Baseline, aggregate_id: UUID, repeats: int) -> float:
    app.repository.get(aggregate_id)  # warm-up
    return median([timed(lambda: app.repository.get(aggregate_id)) for _ in range(repeats)])


def run_baseline(
    path: Path, config: BaselineConfig, stream_lengths: Sequence[int]
) -> tuple[list[Row], dict[int, float]]:
    """Every baseline row, and repository.get seconds by stream length."""
    app = open_baseline(path)
    try:
        payload, state_bytes = payload_for(app)
        note = f"{state_bytes}-byte stored events"
        say(f"  baseline: one event per save ({config.one_per_save} saves)")
        one = one_per_save(app, payload, config.one_per_save, config.batches)
        say(f"  baseline: 100 events per save ({config.batches} x {config.hundred_saves} saves)")
        hundred = hundred_per_save(app, payload, config.hundred_saves, config.batches)
        lengths = sorted({10_000, *stream_lengths})
        streams = {length: write_stream(app, payload, length) for length in lengths}
        total = int(app.recorder.max_notification_id() or 0)
        say(f"  baseline: select + decode of {total:,} events")
        select_s = median(
            [timed(lambda: select_decode_all(app)) for _ in range(config.select_repeats)]
        )
        gets = {length: get_seconds(app, streams[length], config.get_repeats) for length in lengths}
    finally:
        app.close()
    rows = [
        Row(
            "baseline.save1",
            "baseline",
            "raw save, 1 event per save",
            "",
            one,
            "events/s",
            note=note,
        ),
        Row(
            "baseline.save100",
            "baseline",
            "raw save, 100 events per save",
            "",
            hundred,
            "events/s",
            note=note,
        ),
        Row(
            "baseline.select",
            "baseline",
            "raw select + decode, whole notification log",
            "",
            rate(total, select_s),
            "events/s",
            note=f"{total:,} events, pages of {PAGE}",
        ),
        Row(
            "baseline.get",
            "baseline",
            "raw repository.get of a 10,000-event stream",
            "",
            gets[10_000] * 1000,
            "ms",
            note="no snapshots",
        ),
    ]
    for length in lengths:
        if length != 10_000:
            rows.append(
                Row(
                    f"baseline.get.{length}",
                    "baseline",
                    f"raw repository.get of a {length:,}-event stream",
                    "",
                    gets[length] * 1000,
                    "ms",
                    note="same length as the long-history student",
                )
            )
    return rows, gets
