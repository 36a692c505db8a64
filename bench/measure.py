"""miljo through its embedding API, on a copy of a generated store opened by
``adapters.bootstrap.open_store`` with whatever protection the store is configured with: a
real SQLite file, or a fresh PostgreSQL schema the store was copied into by
``adapters.storeops.copy_store`` (``miljo store copy``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs

from adapters.bootstrap import StoreLocation, open_store
from adapters.demo import SeededIds, SimulatedClock
from bench.common import (
    ALTERNATING_KEY,
    BACKEND_NAMES,
    POSTGRES,
    SQLITE,
    Progress,
    Row,
    median,
    median_rate,
    rate,
    say,
    timed,
)
from bench.cost import ProtectionCost, protection_timers, require_timers_off
from bench.generate import ROOT, Manifest, monday_after
from bench.pg import store_url
from domain.facade import Miljo
from domain.overview import compute_overview
from domain.ports import ViewReader
from domain.values import Actor, Role

AUDITOR: Final = Actor("bench.revisor", Role.AUDITOR)
OVERVIEW_MODEL: Final = "gjesdal"  # the overview is measured on this school in every size
SECOND: Final = timedelta(seconds=1)


@attrs.frozen
class MiljoConfig:
    observe: int  # record_observation commands (observe + assign = the catch-up's new events)
    assign: int  # assign commands
    batches: int
    overview_repeats: int
    history_repeats: int
    rebuild_repeats: int
    #: History reads run again with the protection timers on (bench.cost), after every
    #: official figure is taken (the commands run again as many as the official ones).
    cost_history: int = 3


QUICK: Final = MiljoConfig(
    observe=900, assign=100, batches=5, overview_repeats=11, history_repeats=5, rebuild_repeats=1
)
#: The overview takes a few milliseconds, so its median is of many calls (7 gave 0.98x and
#: 4.05x for the same 1M store in two runs; docs/benchmarks.md).
FULL: Final = MiljoConfig(
    observe=700,
    assign=300,
    batches=5,
    overview_repeats=41,
    history_repeats=7,
    rebuild_repeats=1,
    cost_history=5,
)


@attrs.frozen
class OverviewTimes:
    median_s: float
    fastest_s: float
    queries: int  # calls to the view store
    rows: int  # rows those calls returned


class CountingReader:
    """A ``ViewReader`` that counts the calls and rows the overview asks for."""

    def __init__(self, inner: ViewReader) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.rows = 0

    def _rows(self, name: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls[name] += 1
        self.rows += len(found)
        return found

    def select(self, table: str, where: Mapping[str, object]) -> list[dict[str, Any]]:
        return self._rows(f"select {table}", self.inner.select(table, where))

    def select_in_force(
        self, table: str, where: Mapping[str, object], *, on: str
    ) -> list[dict[str, Any]]:
        return self._rows(f"in force {table}", self.inner.select_in_force(table, where, on=on))

    def latest(
        self, table: str, where: Mapping[str, object], column: str, *, before: str | None = None
    ) -> Any:
        self.calls[f"latest {table}"] += 1
        return self.inner.latest(table, where, column, before=before)

    def select_range(
        self,
        table: str,
        where: Mapping[str, object],
        column: str,
        *,
        after: str | None,
        before: str | None,
    ) -> list[dict[str, Any]]:
        found = self.inner.select_range(table, where, column, after=after, before=before)
        return self._rows(f"range {table}", found)

    def select_any(self, table: str, column: str, values: Collection[str]) -> list[dict[str, Any]]:
        return self._rows(f"select any {table}", self.inner.select_any(table, column, values))

    def observation_counts(
        self,
        *,
        school: str,
        since: str | None,
        students: Collection[str],
        before: str | None = None,
    ) -> dict[str, int]:
        self.calls["observation counts"] += 1
        return self.inner.observation_counts(
            school=school, since=since, students=students, before=before
        )

    def event_type_counts(
        self, *, school: str, since: str | None, before: str | None = None
    ) -> dict[str, int]:
        self.calls["event type counts"] += 1
        return self.inner.event_type_counts(school=school, since=since, before=before)


#: Seconds for n raw one-event saves (``bench.raw.RawWriter.batch``).
RawBatch = Callable[[int], float]


@attrs.frozen
class Rebuild:
    events: int
    seconds: float
    peak_mb: float
    peak_before_mb: float
    rows: int | None  # rows in the view tables after the rebuild (None: not counted)
    #: Of ``seconds``, those spent inside the view store's database calls (bench/child.py).
    sql_seconds: float | None = None
    #: The database calls timed per rebuild (each adds two clock reads to the rebuild).
    sql_calls: int | None = None


@attrs.frozen
class Copy:
    events: int
    snapshots: int
    seconds: float
    peak_mb: float
    verified: bool


def child_env(location: StoreLocation) -> dict[str, str]:
    """The environment of a child process that opens ``location``: a PostgreSQL store is
    named by ``MILJO_STORE`` and ``MILJO_KEYS_DIR`` (the password stays out of argv)."""
    env = dict(os.environ)
    if location.postgres is not None:
        env["MILJO_STORE"] = store_url(location.postgres)
        env["MILJO_KEYS_DIR"] = str(location.keys_dir or "")
    return env


def child_args(location: StoreLocation) -> list[str]:
    """The store argument of ``bench.child`` (none for PostgreSQL: see :func:`child_env`)."""
    return [] if location.postgres is not None else [str(location.db_path)]


def run_child(args: list[str], location: StoreLocation) -> dict[str, Any]:
    """``python -m bench.child ARGS``: its JSON line (its progress goes to our stderr)."""
    done = subprocess.run(  # noqa: S603 - our own module, with the current interpreter
        [sys.executable, "-m", "bench.child", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(location),
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def rebuild_in_child(location: StoreLocation, repeats: int) -> Rebuild:
    """Rebuild the views in a fresh process; its time and peak RSS (VmHWM)."""
    data = run_child(["rebuild", *child_args(location), "--repeats", str(repeats)], location)
    seconds = [float(s) for s in data["seconds"]]
    sql = [float(s) for s in data["sql_seconds"]] if data.get("sql_seconds") else None
    # The median repeat (the lower middle one of an even count), with its own SQL seconds.
    middle = sorted(range(len(seconds)), key=seconds.__getitem__)[(len(seconds) - 1) // 2]
    return Rebuild(
        events=int(data["events"]),
        seconds=seconds[middle],
        peak_mb=int(data["peak_kib"]) * 1024 / 1e6,
        peak_before_mb=int(data["peak_before_kib"]) * 1024 / 1e6,
        rows=None if data.get("rows") is None else int(data["rows"]),
        sql_seconds=None if sql is None else sql[middle],
        sql_calls=None if data.get("sql_calls") is None else int(data["sql_calls"]) // len(seconds),
    )


def copy_in_child(source: Path, target: StoreLocation) -> Copy:
    """``store copy`` of the SQLite store ``source`` into ``target`` (a new store), in a
    fresh process: its time (copy, rebuild of the copy's views, verify) and peak RSS."""
    data = run_child(["copy", str(source)], target)
    return Copy(
        events=int(data["events"]),
        snapshots=int(data["snapshots"]),
        seconds=float(data["seconds"]),
        peak_mb=int(data["peak_kib"]) * 1024 / 1e6,
        verified=bool(data["verified"]),
    )


def _checked(result: object) -> object:
    if getattr(result, "ok", True) is not True:
        raise RuntimeError(f"the store does not verify: {result}")
    return result


def find_verify(miljo: Miljo, location: StoreLocation) -> tuple[str, Callable[[], object]]:
    """The audit verification: a facade method if one is built, else the audit adapter's
    ``verify_store``; ("", ...) if neither exists."""
    for name in ("verify", "verify_store", "audit_verify"):
        method = getattr(miljo, name, None)
        if callable(method):
            params = list(inspect.signature(method).parameters)
            if params and params[0] == "actor":
                return f"Miljo.{name}", partial(method, AUDITOR)
            return f"Miljo.{name}", method
    try:
        audit = importlib.import_module("adapters.audit")
    except ImportError:
        return "", lambda: None
    verify_store = getattr(audit, "verify_store", None)
    if not callable(verify_store):
        return "", lambda: None
    return "adapters.audit.verify_store", lambda: _checked(
        verify_store(location, Progress("verify"))
    )


class Session:
    """One opened copy of a store, with a clock that runs on from where generation stopped."""

    def __init__(
        self,
        location: StoreLocation,
        manifest: Manifest,
        *,
        rerun: MiljoConfig | None = None,
    ) -> None:
        """``rerun``: this session runs after the official one that ran with that config
        (:func:`measure_protection`). Its clock then starts a day after the store's end (the
        official one starts an hour after it and ticks a second per call), its ids come from
        another seed, and its assignments go in the weeks after the official ones; its
        random picks are the same (the same seed)."""
        self.manifest = manifest
        start = datetime.fromisoformat(manifest.end_instant) + timedelta(hours=1)
        id_seed = manifest.seed + 1
        if rerun is not None:
            start, id_seed = start + timedelta(days=1), manifest.seed + 2
        self.clock = SimulatedClock(start)
        self.miljo = open_store(location, clock=self.clock, ids=SeededIds(id_seed))
        self.rng = random.Random(manifest.seed)
        school = manifest.school(OVERVIEW_MODEL)
        self.code = school.code
        self.coordinator = Actor.parse(school.coordinator)
        self.last_day = date.fromisoformat(manifest.last_day)
        #: The next assignment's number (its week after the generated years, its class).
        self.assigned = 0 if rerun is None else (rerun.assign // rerun.batches) * rerun.batches

    def close(self) -> None:
        self.miljo.close()

    def tick(self) -> None:
        self.clock.advance(SECOND)

    def observe(self, count: int, batches: int, raw: RawBatch) -> tuple[float, float]:
        """Commands/s of record_observation and of the raw saves between its batches."""
        require_timers_off("the official record_observation")
        return _batched(self.observations(count), batches, raw)

    def observations(self, count: int) -> list[Callable[[], object]]:
        """``count`` record_observation commands as :meth:`observe` runs them."""
        m, k = self.miljo, self.coordinator
        students = sorted(m.students_of(k, self.code), key=lambda s: s.int)

        def command(student: UUID) -> None:
            self.tick()
            m.record_observation(
                k,
                student,
                arena="break",
                categories=["conflict"],
                text="Uro i friminuttet; to elever kranglet om ballen.",
            )

        return [partial(command, self.rng.choice(students)) for _ in range(count)]

    def assign(self, count: int, batches: int, raw: RawBatch) -> tuple[float, float]:
        """One-week class assignments of 15 minutes, in weeks after the generated years:
        commands/s, and the raw saves' rate between its batches."""
        require_timers_off("the official assign")
        return _batched(self.assignments(count), batches, raw)

    def assignments(self, count: int) -> list[Callable[[], object]]:
        """``count`` assign commands as :meth:`assign` runs them, in the weeks after the
        ones it used."""
        m, k = self.miljo, self.coordinator
        team = m.team(k, self.code, on=self.last_day)
        members = [x.member_id for x in team.members if x.left_on is None]
        classes = sorted((t, c) for c, t in m.school(k, self.code).classes.items())
        first = monday_after(self.last_day + timedelta(days=30))

        def command(n: int) -> None:
            monday = first + timedelta(weeks=n)
            trinn, class_name = classes[n % len(classes)]
            self.tick()
            m.assign(
                k,
                school=self.code,
                member_id=members[n % len(members)],
                target_kind="class",
                minutes_per_week=15,
                valid_from=monday,
                valid_to=monday + timedelta(days=4),
                trinn=trinn,
                class_name=class_name,
            )

        start, self.assigned = self.assigned, self.assigned + count
        return [partial(command, n) for n in range(start, start + count)]

    def history_reads(self, count: int) -> list[Callable[[], object]]:
        """``count`` reads of the long-history student's history as of, as
        :meth:`history_seconds` times them (each logs the read)."""
        m = self.miljo
        student = UUID(self.manifest.long_student)
        actor = Actor.parse(self.manifest.school_by_code(self.manifest.long_school).coordinator)
        as_of = datetime.fromisoformat(self.manifest.end_instant)

        def read() -> None:
            self.tick()
            m.history(actor, student, as_of=as_of)

        return [read] * count

    def protection(
        self, calls: Sequence[Callable[[], object]], batches: int, raw: RawBatch | None
    ) -> ProtectionCost:
        """Run ``calls`` in ``batches`` batches with the protection timers on (bench.cost),
        with ``raw`` saves as many as a batch's calls between the batches, outside the timers
        (None: the reference is the wrapped call itself)."""
        per_batch = max(1, -(-len(calls) // max(1, batches)))
        seconds: dict[str, float] = {}
        call_s = 0.0
        raws: list[tuple[int, float]] = []
        for b in range(0, len(calls), per_batch):
            chunk = calls[b : b + per_batch]
            if raw is not None:
                raws.append((len(chunk), raw(len(chunk))))

            def run(chunk: Sequence[Callable[[], object]] = chunk) -> None:
                for call in chunk:
                    call()

            with protection_timers() as times:
                call_s += timed(run)
            for name, spent in times.seconds.items():
                seconds[name] = seconds.get(name, 0.0) + spent
        reference_s = 1 / median_rate(raws) if raws else call_s / max(1, len(calls))
        return ProtectionCost(len(calls), call_s, seconds, reference_s)

    def overview_seconds(self, repeats: int) -> OverviewTimes:
        """The overview through the facade (median and fastest of ``repeats`` calls after
        one untimed call), and what it reads from the views (outside the timing)."""
        m, k = self.miljo, self.coordinator

        def overview() -> None:
            m.overview(k, school=self.code, on=self.last_day)

        overview()
        times = [timed(overview) for _ in range(repeats)]
        reader = CountingReader(m.views)
        compute_overview(reader, school=self.code, on=self.last_day)
        return OverviewTimes(median(times), min(times), sum(reader.calls.values()), reader.rows)

    def history_seconds(self, repeats: int) -> tuple[float, float, int]:
        """Median seconds of history(as_of) and student_case_as_of for the long-history
        student, as of the end of the generated years; and the entries history returned."""
        m = self.miljo
        student = UUID(self.manifest.long_student)
        actor = Actor.parse(self.manifest.school_by_code(self.manifest.long_school).coordinator)
        as_of = datetime.fromisoformat(self.manifest.end_instant)
        entries = len(m.history(actor, student, as_of=as_of))

        def history() -> None:
            self.tick()
            m.history(actor, student, as_of=as_of)

        def case() -> None:
            self.tick()
            m.student_case_as_of(actor, student, as_of=as_of)

        case()
        history_s = median([timed(history) for _ in range(repeats)])
        case_s = median([timed(case) for _ in range(repeats)])
        return history_s, case_s, entries


def _batched(
    calls: Sequence[Callable[[], object]], batches: int, raw: RawBatch
) -> tuple[float, float]:
    """Run ``calls`` in ``batches`` equal batches (a remainder is left out), each after as
    many raw saves: the median rates of the calls and of the raw saves."""
    per_batch = max(1, len(calls) // batches)
    results, raws = [], []
    for b in range(batches):
        chunk = calls[b * per_batch : (b + 1) * per_batch]
        raws.append((len(chunk), raw(len(chunk))))

        def run(chunk: Sequence[Callable[[], object]] = chunk) -> None:
            for call in chunk:
                call()

        results.append((len(chunk), timed(run)))
    return median_rate(results), median_rate(raws)


def row_specs(
    long_events: int, backend: str, *, protection: bool | None = None
) -> list[tuple[str, str, str, str]]:
    """(key, label, unit, basis) of every miljo row of one store size, in table order;
    ``protection``: only the protection rows (True), all but them (False), all (None)."""
    specs = _all_specs(long_events, backend)
    if protection is None:
        return specs
    return [spec for spec in specs if (spec[0] in PROTECTION_KEYS) is protection]


#: The rows :func:`measure_protection` measures.
PROTECTION_KEYS: Final = frozenset(
    {
        *(f"miljo.{c}.protection{s}" for c in ("observe", "assign") for s in ("", "_share")),
        "miljo.history.protection",
    }
)


def _all_specs(long_events: int, backend: str) -> list[tuple[str, str, str, str]]:
    copy = ("miljo.copy", "store copy of the SQLite store into a new schema", "events/s", "")
    specs = [copy] if backend == POSTGRES else []
    return [
        *specs,
        (
            "miljo.rebuild",
            "full rebuild of all views (rebuild_views)",
            "events/s",
            "baseline.select",
        ),
        (
            "miljo.rebuild.sql",
            "the rebuild's database calls alone (the time inside them)",
            "events/s",
            "baseline.select",
        ),
        ("miljo.rss", "peak RSS of a process rebuilding the views", "MB", ""),
        ("miljo.rows", "view rows a rebuild writes, per event", "rows/event", ""),
        (
            "miljo.save1",
            "raw save, 1 event per save, between the command batches",
            "events/s",
            "baseline.save1",
        ),
        ("miljo.observe", "command: record an observation", "commands/s", "miljo.save1@size"),
        ("miljo.assign", "command: assign a team member", "commands/s", "miljo.save1@size"),
        *protection_specs("observe", "a record_observation"),
        *protection_specs("assign", "an assign"),
        ("miljo.catchup", "incremental catch-up (catch_up)", "events/s", "baseline.select"),
        ("miljo.overview", "ressursteam overview of one school", "ms", "miljo.overview@first"),
        (
            "miljo.history",
            f"history as of, {long_events:,}-event student",
            "ms",
            f"baseline.get.{long_events}",
        ),
        (
            "miljo.history.protection",
            f"protection's time in a history as of, {long_events:,}-event student",
            "µs",
            "",
        ),
        (
            "miljo.case_as_of",
            f"student_case_as_of, {long_events:,}-event student",
            "ms",
            f"baseline.get.{long_events}",
        ),
        ("miljo.verify", "audit verify of the whole store", "events/s", "baseline.select"),
    ]


def protection_specs(command: str, name: str) -> list[tuple[str, str, str, str]]:
    """The rows of the protections' time in one command (bench.cost): µs per command, and
    as a share of a raw 1-event save's time (directly comparable with the 25 % that issue 7's
    >= 0.8x leaves for everything a command adds to a bare save)."""
    return [
        (f"miljo.{command}.protection", f"protection's time in {name}", "µs", ""),
        (
            f"miljo.{command}.protection_share",
            f"protection's time in {name}, of a raw 1-event save's time",
            "%",
            "",
        ),
    ]


#: The chain's part on PostgreSQL, where its SQL cannot be timed apart.
PG_CHAIN: Final = (
    "chain: its Python part (links, parameters); its SQL shares the events' pipelined "
    "round trips (ADR 0011 addendum), not counted"
)


def protection_figures(
    costs: Mapping[str, ProtectionCost], history: ProtectionCost, backend: str
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Figures and notes of the protection rows, from the timed commands (by command:
    "observe", "assign") and history reads."""
    figures: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    chain = f"; {PG_CHAIN}" if backend == POSTGRES else ""
    for command, cost in costs.items():
        key = f"miljo.{command}.protection"
        if not cost.calls:
            figures[key] = figures[f"{key}_share"] = None
            notes[key] = notes[f"{key}_share"] = "not measured (no commands timed)"
            continue
        raw_us = cost.reference_s * 1e6
        figures[key] = cost.per_call_us()
        figures[f"{key}_share"] = cost.share * 100
        notes[key] = (
            f"{cost.components_note()} = {cost.share:.2f} x a raw save ({raw_us:,.0f} µs, "
            f"between the batches); {cost.calls} commands with the timers on, "
            f"{cost.call_us:,.0f} µs each, in the store opened again with the official "
            f"commands' picks{chain}"
        )
        notes[f"{key}_share"] = (
            f"{cost.per_call_us():,.0f} µs of a raw save's {raw_us:,.0f} µs; everything a "
            "command adds to a raw save may take 25 % (issue 7: >= 0.8x)"
        )
    key = "miljo.history.protection"
    if history.calls:
        figures[key] = history.per_call_us()
        notes[key] = (
            f"{history.components_note()} = {history.share:.2f} of the read "
            f"({history.call_us / 1000:,.1f} ms with the timers on, {history.calls} reads); "
            "the access log is the entry the read appends"
        )
    else:
        figures[key] = None
        notes[key] = "not measured (no reads timed)"
    return figures, notes


def miljo_rows(
    manifest: Manifest,
    backend: str,
    figures: Mapping[str, float | None] | None,
    notes: Mapping[str, str],
    *,
    protection: bool | None = None,
) -> list[Row]:
    """The miljo rows of one size on ``backend`` (``protection`` as for :func:`row_specs`):
    with ``figures`` (by key; None: not measured, the note says why), or without any
    (``notes[""]`` says why)."""
    return [
        Row(
            key,
            "miljo",
            label,
            manifest.label,
            None if figures is None else figures.get(key),
            unit,
            basis=basis,
            note=notes.get("", "") if figures is None else notes.get(key, ""),
            backend=backend,
        )
        for key, label, unit, basis in row_specs(
            manifest.long_events, backend, protection=protection
        )
    ]


def measure_store(
    location: StoreLocation,
    manifest: Manifest,
    config: MiljoConfig,
    raw: RawBatch,
    backend: str = SQLITE,
    copied: Copy | None = None,
) -> list[Row]:
    """Every miljo row for one store size on one backend (``copied``: how the PostgreSQL
    store was made)."""
    size = f"{manifest.label} ({BACKEND_NAMES[backend]})"
    figures: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    if copied is not None:
        figures["miljo.copy"] = rate(copied.events, copied.seconds)
        notes["miljo.copy"] = (
            f"adapters.storeops.copy_store: {copied.events:,} events and "
            f"{copied.snapshots:,} snapshots in {copied.seconds:.1f} s, with the rebuild of the "
            f"copy's views and its verify ({'verified' if copied.verified else 'NOT verified'}); "
            f"peak RSS {copied.peak_mb:,.0f} MB"
        )
    say(f"  {size}: rebuild of every view in a fresh process")
    rebuilt = rebuild_in_child(location, config.rebuild_repeats)
    figures["miljo.rebuild"] = rate(rebuilt.events, rebuilt.seconds)
    notes["miljo.rebuild"] = f"{rebuilt.events:,} events in {rebuilt.seconds:.1f} s"
    if rebuilt.sql_seconds:
        figures["miljo.rebuild.sql"] = rate(rebuilt.events, rebuilt.sql_seconds)
        inside = (
            "psycopg's calls: reading the notifications (the library's recorder), adapting "
            "and sending the rows, waiting for the server at each page's sync and commit, "
            "creating the indexes"
            if location.postgres is not None
            else "the view connection's SQL calls: reading the notifications, writing the "
            "rows, committing, creating the indexes"
        )
        calls = "" if rebuilt.sql_calls is None else f" ({rebuilt.sql_calls:,} calls timed)"
        notes["miljo.rebuild.sql"] = (
            f"{rebuilt.sql_seconds:.1f} of the rebuild's {rebuilt.seconds:.1f} s were spent "
            f"inside {inside}{calls}"
        )
    else:
        figures["miljo.rebuild.sql"] = None
        notes["miljo.rebuild.sql"] = "n/a (not measured by this view store)"
    if rebuilt.rows is not None and rebuilt.events:
        figures["miljo.rows"] = rebuilt.rows / rebuilt.events
        notes["miljo.rows"] = (
            f"{rebuilt.rows:,} rows in the view tables after it (rows updated in place "
            "count once: a lower bound of the rows written)"
        )
    else:
        figures["miljo.rows"] = None
        notes["miljo.rows"] = "n/a (the view store does not count its rows)"
    figures["miljo.rss"] = rebuilt.peak_mb
    notes["miljo.rss"] = f"VmHWM; {rebuilt.peak_before_mb:.0f} MB after opening the store"
    session = Session(location, manifest)
    try:
        session.miljo.catch_up()
        say(f"  {size}: {config.observe} record_observation commands")
        observe, raw_observe = session.observe(config.observe, config.batches, raw)
        say(f"  {size}: {config.assign} assign commands")
        assign, raw_assign = session.assign(config.assign, config.batches, raw)
        pending = session.miljo.views.pending() if hasattr(session.miljo.views, "pending") else 0
        caught = 0

        def catch_up() -> None:
            nonlocal caught
            caught = session.miljo.catch_up()

        catch_s = timed(catch_up)
        say(f"  {size}: overview, history as of, case as of")
        overview = session.overview_seconds(config.overview_repeats)
        history_s, case_s, entries = session.history_seconds(config.history_repeats)
        verify_name, verify = find_verify(session.miljo, location)
        if verify_name:
            say(f"  {size}: audit verify ({verify_name})")
            events = session.miljo.event_count()
            try:
                verify_s = timed(verify)
                figures["miljo.verify"] = rate(events, verify_s)
                notes["miljo.verify"] = f"{verify_name}; {events:,} events in {verify_s:.1f} s"
            except Exception as error:  # report, do not abort the whole run
                figures["miljo.verify"] = None
                notes["miljo.verify"] = f"failed ({verify_name}): {error}"
        else:
            figures["miljo.verify"] = None
            notes["miljo.verify"] = "n/a (not built)"
    finally:
        session.close()
    figures.update(
        {
            "miljo.save1": median([raw_observe, raw_assign]),
            "miljo.observe": observe,
            "miljo.assign": assign,
            "miljo.catchup": rate(caught, catch_s),
            "miljo.overview": overview.median_s * 1000,
            "miljo.history": history_s * 1000,
            "miljo.case_as_of": case_s * 1000,
        }
    )
    notes.update(
        {
            "miljo.save1": "the baseline again, next to the commands in time",
            "miljo.observe": "1 event each",
            "miljo.assign": "1 event each",
            "miljo.catchup": (
                f"{caught:,} new events ({pending:,} pending) in {catch_s * 1000:.0f} ms"
            ),
            "miljo.overview": (
                f"{session.code}, median of {config.overview_repeats} "
                f"(fastest {overview.fastest_s * 1000:.2f} ms); "
                f"reads {overview.queries} queries, {overview.rows:,} rows"
            ),
            "miljo.history": f"{entries:,} entries; logs the read",
            "miljo.case_as_of": "snapshot + events; logs the read",
        }
    )
    return miljo_rows(manifest, backend, figures, notes, protection=False)


def measure_protection(
    location: StoreLocation,
    manifest: Manifest,
    config: MiljoConfig,
    raw: RawBatch,
    backend: str = SQLITE,
) -> list[Row]:
    """The protection rows of one store size (bench.cost, docs/adr/0018): the official
    commands again, as many and with the same picks, in the store opened afresh (empty
    caches, so as many first touches of a student), with the protection timers on and raw
    saves between the batches; then history reads. Run after every other measurement of the
    store, the alternating overview included: these commands add to the store."""
    size = f"{manifest.label} ({BACKEND_NAMES[backend]})"
    say(
        f"  {size}: the protections' time ({config.observe} + {config.assign} commands, "
        f"{config.cost_history} history reads, with timers, in the store opened again)"
    )
    again = Session(location, manifest, rerun=config)
    try:
        costs = {
            "observe": again.protection(again.observations(config.observe), config.batches, raw),
            "assign": again.protection(again.assignments(config.assign), config.batches, raw),
        }
        history_cost = again.protection(again.history_reads(config.cost_history), 1, None)
    finally:
        again.close()
    figures, notes = protection_figures(costs, history_cost, backend)
    return miljo_rows(manifest, backend, figures, notes, protection=True)


def alternating_overviews(
    stores: Sequence[tuple[StoreLocation, Manifest]], rounds: int, backend: str
) -> list[Row]:
    """The overview of every size's store, measured in alternation: each round times one
    call per store, in turn (the order reversed every other round), so a machine that slows
    down or speeds up during the run weighs on every size alike. The stores are the copies
    the run measured, with its commands in them; one untimed call each first."""
    sessions = [(Session(location, manifest), manifest) for location, manifest in stores]
    times: dict[str, list[float]] = {manifest.label: [] for _, manifest in sessions}
    try:
        calls = []
        for session, manifest in sessions:
            session.miljo.catch_up()

            def overview(s: Session = session) -> None:
                s.miljo.overview(s.coordinator, school=s.code, on=s.last_day)

            overview()
            calls.append((manifest.label, overview))
        for n in range(rounds):
            for label, call in calls if n % 2 == 0 else reversed(calls):
                times[label].append(timed(call))
    finally:
        for session, _ in sessions:
            session.close()
    return [
        Row(
            ALTERNATING_KEY,
            "miljo",
            "ressursteam overview, every size in alternation",
            label,
            median(found) * 1000,
            "ms",
            basis=f"{ALTERNATING_KEY}@first",
            note=f"median of {len(found)} rounds (fastest {min(found) * 1000:.2f} ms)",
            backend=backend,
        )
        for label, found in times.items()
    ]
