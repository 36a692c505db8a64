"""The baseline: the bare ``eventsourcing`` library on the same machine and backend.

A minimal aggregate whose events store about 300 bytes each, the library's default JSON
transcoder, no cipher, no compression, no snapshots: in an SQLite file next to the miljo
stores (``eventsourcing.sqlite``, as miljo's SQLite stores use), or in a schema of the
PostgreSQL server the miljo stores are copied to (``eventsourcing.postgres``, the library's
own module, with its default settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from adapters.bootstrap import PostgresTarget
from bench.common import BACKEND_NAMES, SQLITE, Row, median, median_rate, rate, say, timed

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


def sqlite_env(path: Path) -> dict[str, str]:
    """The baseline in an SQLite file."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def postgres_env(target: PostgresTarget) -> dict[str, str]:
    """The baseline in an (existing, empty) PostgreSQL schema; the library creates its tables
    (``baseline_events``) there."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": target.host,
        "POSTGRES_PORT": str(target.port),
        "POSTGRES_DBNAME": target.dbname,
        "POSTGRES_USER": target.user,
        "POSTGRES_PASSWORD": target.password or "",
        "POSTGRES_SCHEMA": target.schema,
    }


def open_baseline(env: Mapping[str, str]) -> Baseline:
    return Baseline(env=dict(env))


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

    def __init__(self, env: Mapping[str, str]) -> None:
        self.app = open_baseline(env)
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


def stream_lengths(long_events: Sequence[int]) -> list[int]:
    """The streams whose repository.get is measured: 10,000 events and the long-history
    students' lengths."""
    return sorted({10_000, *long_events})


def baseline_rows(
    backend: str,
    lengths: Sequence[int],
    figures: Mapping[str, float] | None,
    notes: Mapping[str, str],
) -> list[Row]:
    """The baseline's rows on ``backend``: with ``figures`` (by row key), or without
    (``notes[""]`` then says why)."""
    specs = [
        ("baseline.save1", "raw save, 1 event per save", "events/s"),
        ("baseline.save100", "raw save, 100 events per save", "events/s"),
        ("baseline.select", "raw select + decode, whole notification log", "events/s"),
        ("baseline.get", "raw repository.get of a 10,000-event stream", "ms"),
    ]
    specs += [
        (f"baseline.get.{n}", f"raw repository.get of a {n:,}-event stream", "ms")
        for n in lengths
        if n != 10_000
    ]
    return [
        Row(
            key,
            "baseline",
            label,
            "",
            None if figures is None else figures[key],
            unit,
            note=notes.get(key, "") if figures is not None else notes.get("", ""),
            backend=backend,
        )
        for key, label, unit in specs
    ]


def run_baseline(
    env: Mapping[str, str],
    config: BaselineConfig,
    long_events: Sequence[int],
    backend: str = SQLITE,
) -> list[Row]:
    """Every baseline row on ``backend`` (``env``: :func:`sqlite_env` or :func:`postgres_env`)."""
    name = BACKEND_NAMES[backend]
    app = open_baseline(env)
    try:
        payload, state_bytes = payload_for(app)
        say(f"  baseline ({name}): one event per save ({config.one_per_save} saves)")
        one = one_per_save(app, payload, config.one_per_save, config.batches)
        say(
            f"  baseline ({name}): 100 events per save "
            f"({config.batches} x {config.hundred_saves} saves)"
        )
        hundred = hundred_per_save(app, payload, config.hundred_saves, config.batches)
        lengths = stream_lengths(long_events)
        streams = {length: write_stream(app, payload, length) for length in lengths}
        total = int(app.recorder.max_notification_id() or 0)
        say(f"  baseline ({name}): select + decode of {total:,} events")
        select_s = median(
            [timed(lambda: select_decode_all(app)) for _ in range(config.select_repeats)]
        )
        gets = {length: get_seconds(app, streams[length], config.get_repeats) for length in lengths}
    finally:
        app.close()
    written = f"{state_bytes}-byte stored events"
    figures = {
        "baseline.save1": one,
        "baseline.save100": hundred,
        "baseline.select": rate(total, select_s),
        **{f"baseline.get.{n}": gets[n] * 1000 for n in lengths},
        "baseline.get": gets[10_000] * 1000,
    }
    notes = {
        "baseline.save1": written,
        "baseline.save100": written,
        "baseline.select": f"{total:,} events, pages of {PAGE}",
        "baseline.get": "no snapshots",
        **{
            f"baseline.get.{n}": "same length as the long-history student"
            for n in lengths
            if n != 10_000
        },
    }
    return baseline_rows(backend, lengths, figures, notes)
