"""miljo through its embedding API, on a copy of a generated store (a real SQLite file opened
by ``adapters.bootstrap.open_store``, with whatever protection the store is configured with).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Final
from uuid import UUID

import attrs

from adapters.bootstrap import open_store, resolve_store
from adapters.demo import SeededIds, SimulatedClock
from bench.common import Row, median, median_rate, rate, say, timed
from bench.generate import ROOT, Manifest, monday_after, store_files
from domain.facade import Miljo
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


QUICK: Final = MiljoConfig(
    observe=900, assign=100, batches=5, overview_repeats=5, history_repeats=5, rebuild_repeats=1
)
FULL: Final = MiljoConfig(
    observe=700, assign=300, batches=5, overview_repeats=7, history_repeats=7, rebuild_repeats=1
)


#: Seconds for n raw one-event saves (``bench.raw.RawWriter.batch``).
RawBatch = Callable[[int], float]


@attrs.frozen
class Rebuild:
    events: int
    seconds: float
    peak_mb: float
    peak_before_mb: float


def rebuild_in_child(db_path: Path, repeats: int) -> Rebuild:
    """Rebuild the views in a fresh process; its time and peak RSS (VmHWM)."""
    done = subprocess.run(  # noqa: S603 - our own module, with the current interpreter
        [sys.executable, "-m", "bench.child", str(db_path), "--repeats", str(repeats)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Rebuild(
        events=int(data["events"]),
        seconds=median([float(s) for s in data["seconds"]]),
        peak_mb=int(data["peak_kib"]) * 1024 / 1e6,
        peak_before_mb=int(data["peak_before_kib"]) * 1024 / 1e6,
    )


def _checked(result: object) -> object:
    if getattr(result, "ok", True) is not True:
        raise RuntimeError(f"the store does not verify: {result}")
    return result


def find_verify(miljo: Miljo, db_path: Path, keys_dir: Path) -> tuple[str, Callable[[], object]]:
    """The audit verification, if one is built: a facade method, else the audit adapter's
    ``verify_store``, else the chain adapter's ``verify_rows``; ("", ...) if none exists."""
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
        audit = None
    verify_store = getattr(audit, "verify_store", None)
    if callable(verify_store):
        location = resolve_store(db_path)
        return "adapters.audit.verify_store", lambda: _checked(verify_store(location))
    try:
        chain = importlib.import_module("adapters.chain")
        keys = importlib.import_module("adapters.keys")
    except ImportError:
        return "", lambda: None
    verify_rows = getattr(chain, "verify_rows", None)
    chain_rows = getattr(chain, "sqlite_chain_rows", None)
    orphans = getattr(chain, "sqlite_orphan_links", None)
    if not (callable(verify_rows) and callable(chain_rows) and callable(orphans)):
        return "", lambda: None
    key = keys.read_key(keys_dir, keys.SEALING_KEY)

    def verify() -> object:
        with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            return _checked(verify_rows(key, chain_rows(db), orphans(db)))

    return "adapters.chain.verify_rows", verify


class Session:
    """One opened copy of a store, with a clock that runs on from where generation stopped."""

    def __init__(self, db_path: Path, manifest: Manifest) -> None:
        self.manifest = manifest
        end = datetime.fromisoformat(manifest.end_instant)
        self.clock = SimulatedClock(end + timedelta(hours=1))
        self.miljo = open_store(db_path, clock=self.clock, ids=SeededIds(manifest.seed + 1))
        self.rng = random.Random(manifest.seed)
        school = manifest.school(OVERVIEW_MODEL)
        self.code = school.code
        self.coordinator = Actor.parse(school.coordinator)
        self.last_day = date.fromisoformat(manifest.last_day)

    def close(self) -> None:
        self.miljo.close()

    def tick(self) -> None:
        self.clock.advance(SECOND)

    def observe(self, count: int, batches: int, raw: RawBatch) -> tuple[float, float]:
        """Commands/s of record_observation and of the raw saves between its batches."""
        m, k = self.miljo, self.coordinator
        students = sorted(m.students_of(k, self.code), key=lambda s: s.int)
        picks = [self.rng.choice(students) for _ in range(count)]
        per_batch = max(1, count // batches)
        results, raws = [], []
        for b in range(batches):
            chunk = picks[b * per_batch : (b + 1) * per_batch]
            raws.append((len(chunk), raw(len(chunk))))

            def run(chunk: list[UUID] = chunk) -> None:
                for student in chunk:
                    self.tick()
                    m.record_observation(
                        k,
                        student,
                        arena="break",
                        categories=["conflict"],
                        text="Uro i friminuttet; to elever kranglet om ballen.",
                    )

            results.append((len(chunk), timed(run)))
        return median_rate(results), median_rate(raws)

    def assign(self, count: int, batches: int, raw: RawBatch) -> tuple[float, float]:
        """One-week class assignments of 15 minutes, in weeks after the generated years."""
        m, k = self.miljo, self.coordinator
        team = m.team(k, self.code, on=self.last_day)
        members = [x.member_id for x in team.members if x.left_on is None]
        classes = sorted((t, c) for c, t in m.school(k, self.code).classes.items())
        first = monday_after(self.last_day + timedelta(days=30))
        per_batch = max(1, count // batches)
        results, raws = [], []
        for b in range(batches):
            raws.append((per_batch, raw(per_batch)))

            def run(b: int = b) -> None:
                for n in range(b * per_batch, (b + 1) * per_batch):
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

            results.append((per_batch, timed(run)))
        return median_rate(results), median_rate(raws)

    def overview_seconds(self, repeats: int) -> float:
        m, k = self.miljo, self.coordinator

        def overview() -> None:
            m.overview(k, school=self.code, on=self.last_day)

        overview()
        return median([timed(overview) for _ in range(repeats)])

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


def measure_store(
    store_dir: Path,
    manifest: Manifest,
    config: MiljoConfig,
    raw_gets: dict[int, float],
    raw: RawBatch,
) -> tuple[list[Row], dict[str, float]]:
    """Every miljo row for one store size; also the figures the targets need."""
    size = manifest.label
    db_path, keys_dir = store_files(store_dir)
    say(f"  {size}: rebuild of every view in a fresh process")
    rebuilt = rebuild_in_child(db_path, config.rebuild_repeats)
    rows = [
        Row(
            "miljo.rebuild",
            "miljo",
            "full rebuild of all views (rebuild_views)",
            size,
            rate(rebuilt.events, rebuilt.seconds),
            "events/s",
            basis="baseline.select",
            note=f"{rebuilt.events:,} events in {rebuilt.seconds:.1f} s",
        ),
        Row(
            "miljo.rss",
            "miljo",
            "peak RSS of a process rebuilding the views",
            size,
            rebuilt.peak_mb,
            "MB",
            note=f"VmHWM; {rebuilt.peak_before_mb:.0f} MB after opening the store",
        ),
    ]
    figures = {"rebuild_rate": rate(rebuilt.events, rebuilt.seconds), "rss": rebuilt.peak_mb}
    session = Session(db_path, manifest)
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
        overview_s = session.overview_seconds(config.overview_repeats)
        history_s, case_s, entries = session.history_seconds(config.history_repeats)
        verify_name, verify = find_verify(session.miljo, db_path, keys_dir)
        verify_row: Row
        if verify_name:
            say(f"  {size}: audit verify ({verify_name})")
            events = session.miljo.event_count()
            try:
                verify_s = timed(verify)
                verify_row = Row(
                    "miljo.verify",
                    "miljo",
                    "audit verify of the whole store",
                    size,
                    rate(events, verify_s),
                    "events/s",
                    basis="baseline.select",
                    note=f"{verify_name}; {events:,} events in {verify_s:.1f} s",
                )
            except Exception as error:  # report, do not abort the whole run
                verify_row = Row(
                    "miljo.verify",
                    "miljo",
                    "audit verify of the whole store",
                    size,
                    None,
                    "",
                    note=f"failed ({verify_name}): {error}",
                )
        else:
            verify_row = Row(
                "miljo.verify",
                "miljo",
                "audit verify of the whole store",
                size,
                None,
                "",
                note="n/a (not built)",
            )
    finally:
        session.close()
    long_events = manifest.long_events
    raw_same = raw_gets.get(long_events)
    rows += [
        Row(
            "miljo.save1",
            "miljo",
            "raw save, 1 event per save, between the command batches",
            size,
            median([raw_observe, raw_assign]),
            "events/s",
            basis="baseline.save1",
            note="the baseline again, next to the commands in time",
        ),
        Row(
            "miljo.observe",
            "miljo",
            "command: record an observation",
            size,
            observe,
            "commands/s",
            basis="miljo.save1@size",
            note="1 event each",
        ),
        Row(
            "miljo.assign",
            "miljo",
            "command: assign a team member",
            size,
            assign,
            "commands/s",
            basis="miljo.save1@size",
            note="1 event each",
        ),
        Row(
            "miljo.catchup",
            "miljo",
            "incremental catch-up (catch_up)",
            size,
            rate(caught, catch_s),
            "events/s",
            basis="baseline.select",
            note=f"{caught:,} new events ({pending:,} pending) in {catch_s * 1000:.0f} ms",
        ),
        Row(
            "miljo.overview",
            "miljo",
            "ressursteam overview of one school",
            size,
            overview_s * 1000,
            "ms",
            basis="miljo.overview@first",
            note=f"{session.code}, median of {config.overview_repeats}",
        ),
        Row(
            "miljo.history",
            "miljo",
            f"history as of, {long_events:,}-event student",
            size,
            history_s * 1000,
            "ms",
            basis=f"baseline.get.{long_events}",
            note=f"{entries:,} entries; logs the read",
        ),
        Row(
            "miljo.case_as_of",
            "miljo",
            f"student_case_as_of, {long_events:,}-event student",
            size,
            case_s * 1000,
            "ms",
            basis=f"baseline.get.{long_events}",
            note="snapshot + events; logs the read",
        ),
        verify_row,
    ]
    figures.update(
        observe=observe,
        assign=assign,
        overview=overview_s,
        history=history_s,
        case=case_s,
        raw_get_same=raw_same if raw_same is not None else float("nan"),
    )
    return rows, figures
