"""The baseline: the bare ``eventsourcing`` library on the same machine and backend.

A minimal aggregate whose events store about 300 bytes each, the library's default JSON
transcoder, no cipher, no compression, no snapshots: in an SQLite file next to the miljo
stores (``eventsourcing.sqlite``, as miljo's SQLite stores use), or in a schema of the
PostgreSQL server the miljo stores are copied to (``eventsourcing.postgres``, the library's
own module, with its default settings).

Beside the bare saves, the library's own command pattern (:func:`run_library_commands`):
``repository.get`` of an aggregate, one event, ``save``, with the library's defaults, with its
aggregate cache, and with the cache and its ``AESCipher``. A miljo command loads its student
before it saves; a raw save does not: these rows show what loading costs the library itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.cipher import AESCipher
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
    commands: int  # library commands per variant (split into batches, as miljo's observe)


QUICK: Final = BaselineConfig(
    one_per_save=300, hundred_saves=50, batches=3, select_repeats=3, get_repeats=3, commands=300
)
FULL: Final = BaselineConfig(
    one_per_save=2000, hundred_saves=500, batches=5, select_repeats=3, get_repeats=7, commands=700
)

#: Aggregates the library commands pick from: the students of the school miljo's
#: record_observation commands pick from (gjesdal, 242 students at 10k; every size has schools
#: of the same shape).
COMMAND_AGGREGATES: Final = 242
#: Events of each of those aggregates before the commands (its creation and one more).
COMMAND_HISTORY: Final = 2


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


# ---------------------------------------------------------------------------------------------
# The library's own command pattern: repository.get + trigger + save
# ---------------------------------------------------------------------------------------------

#: (store name, row key, label) of the library command rows, in table order.
COMMAND_ROWS: Final = (
    ("plain", "baseline.command", "library command: get + trigger + save"),
    (
        "cache",
        "baseline.command.cache",
        "library command: get + trigger + save, its aggregate cache",
    ),
    (
        "cipher",
        "baseline.command.cipher",
        "library command: get + trigger + save, its aggregate cache and AESCipher",
    ),
)
#: What a library command row's ratio divides by.
BETWEEN: Final = "this ÷ raw 1-event saves between its batches"


def command_settings(cipher_key: str, cache_size: int) -> dict[str, dict[str, str]]:
    """The library's settings of each command row (by store name), on top of the backend's:
    its defaults (no cache, no cipher); its aggregate cache; the cache and its own AES-GCM
    cipher (``eventsourcing.cipher:AESCipher``, PyCryptodome)."""
    cache = {"AGGREGATE_CACHE_MAXSIZE": str(max(1, cache_size))}
    return {
        "plain": {},
        "cache": cache,
        "cipher": {
            **cache,
            "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
            "CIPHER_KEY": cipher_key,
        },
    }


@attrs.frozen
class CommandResult:
    """One library command row's figures."""

    rate: float  # commands/s, median of its batches
    raw_rate: float  # raw 1-event saves/s, median of the batches run just before its batches
    commands: int
    distinct: int  # aggregates the commands touched (each read from the store on first touch)
    batches: int
    aggregates: int

    @property
    def ratio(self) -> float | None:
        return self.rate / self.raw_rate if self.raw_rate > 0 else None


def library_command_rows(
    backend: str, results: Mapping[str, CommandResult] | None, notes: Mapping[str, str]
) -> list[Row]:
    """The library command rows on ``backend``: with ``results`` (by row key; the ratio is
    to the raw saves between the row's own batches), or without (``notes[""]`` says why)."""
    rows = []
    for _, key, label in COMMAND_ROWS:
        result = None if results is None else results.get(key)
        row = Row(
            key,
            "baseline",
            label,
            "",
            None,
            "commands/s",
            note=notes.get(key, notes.get("", "")),
            backend=backend,
        )
        if result is not None:
            note = (
                f"{result.aggregates:,} aggregates of {COMMAND_HISTORY} events, "
                f"{result.commands:,} random picks ({result.distinct:,} distinct) in "
                f"{result.batches} batches; raw 1-event saves between them: "
                f"{result.raw_rate:,.0f} events/s"
            )
            if notes.get(key):
                note += f"; {notes[key]}"
            row = attrs.evolve(
                row,
                value=result.rate,
                ratio=result.ratio,
                basis=BETWEEN if result.ratio is not None else "",
                note=note,
            )
        rows.append(row)
    return rows


def populate(env: Mapping[str, str], payload: str, count: int) -> list[UUID]:
    """``count`` aggregates of :data:`COMMAND_HISTORY` events each, saved in one go by an
    application that is closed again (so the one measured starts with an empty cache)."""
    app = open_baseline(env)
    try:
        things = []
        for _ in range(count):
            thing = Thing()
            for _ in range(COMMAND_HISTORY - 1):
                thing.happen(payload)
            things.append(thing)
        app.save(*things)
    finally:
        app.close()
    return [thing.id for thing in things]


def command_batch(app: Baseline, ids: Sequence[UUID], picks: Sequence[int], payload: str) -> None:
    """The library's idiomatic command, once per pick: load, trigger one event, save."""
    for index in picks:
        thing: Thing = app.repository.get(ids[index])
        thing.happen(payload)
        app.save(thing)


def run_library_commands(
    env_for: Callable[[str], Mapping[str, str]],
    config: BaselineConfig,
    backend: str = SQLITE,
    *,
    aggregates: int = COMMAND_AGGREGATES,
    seed: int = 1,
) -> list[Row]:
    """The library command rows on ``backend``, measured as miljo's record_observation is.

    ``env_for(name)`` gives a new, empty store of the backend for ``name`` (an SQLite file,
    or a PostgreSQL schema): one for the raw saves ("raw"), one per command row (its settings
    go on top). Each command row's store holds ``aggregates`` aggregates; ``config.commands``
    seeded random picks of them, the same for every row, run in ``config.batches`` batches;
    every command batch comes right after a batch of as many raw 1-event saves, and each
    round of batches starts with the next row in turn. The applications that run the
    commands are opened after their aggregates were saved: the first touch of an aggregate
    reads it from the store, also with the cache."""
    name = BACKEND_NAMES[backend]
    settings = command_settings(AESCipher.create_key(16), aggregates)
    keys = {what: key for what, key, _ in COMMAND_ROWS}
    writer = RawWriter(env_for("raw"))
    apps: dict[str, Baseline] = {}
    try:
        ids: dict[str, list[UUID]] = {}
        for what, extra in settings.items():
            env = {**env_for(what), **extra}
            ids[what] = populate(env, writer.payload, aggregates)
            apps[what] = open_baseline(env)
        rng = random.Random(seed)
        picks = [rng.randrange(aggregates) for _ in range(config.commands)]
        per_batch = max(1, config.commands // config.batches)
        say(
            f"  baseline ({name}): library commands, get + trigger + save "
            f"({len(apps)} x {config.batches} x {per_batch} on {aggregates} aggregates)"
        )
        runs: dict[str, list[tuple[int, float]]] = {what: [] for what in apps}
        raws: dict[str, list[tuple[int, float]]] = {what: [] for what in apps}
        order = list(apps)
        for b in range(config.batches):
            chunk = picks[b * per_batch : (b + 1) * per_batch]
            turn = b % len(order)
            for what in order[turn:] + order[:turn]:
                raws[what].append((len(chunk), writer.batch(len(chunk))))

                def run(
                    app: Baseline = apps[what],
                    found: list[UUID] = ids[what],
                    chunk: list[int] = chunk,
                ) -> None:
                    command_batch(app, found, chunk, writer.payload)

                runs[what].append((len(chunk), timed(run)))
    finally:
        for app in apps.values():
            app.close()
        writer.close()
    done = per_batch * config.batches
    distinct = len(set(picks[:done]))
    results = {
        keys[what]: CommandResult(
            median_rate(runs[what]),
            median_rate(raws[what]),
            done,
            distinct,
            config.batches,
            aggregates,
        )
        for what in runs
    }
    return library_command_rows(backend, results, {})
