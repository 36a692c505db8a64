"""Worker processes for the fault tests, and what those tests share.

Run as ``python -m tests.integration.workers COMMAND ...`` (from the repository root) by
tests/integration/test_concurrency.py and test_crash.py, each worker a separate OS process
that opens the store through ``adapters.bootstrap.open_store``, exactly as the CLI and an
embedding program do:

``contend STORE --worker N --commands K --seed S --log FILE``
    Prints ``ready``, waits for ``go`` on stdin, then issues K commands against the shared
    students and the shared team (observations, concerns, class assignments that compete for
    the members' capacity, registrations of student numbers that other workers also try),
    catching the read models up every few commands. Logs one JSON line per command.
``crashloop STORE --run N --seed S --log FILE``
    Prints ``ready``, then issues commands that each save two aggregates at once (register a
    student: Student + School; open a vedtak: Vedtak + CaseFile; record a departure: Student
    + School), observations and assignments, and catches up the views, until it is killed.
    A command's log line is written only after the command returned.

Log lines are appended with one ``os.write`` each (O_APPEND), so a killed worker leaves only
whole lines.

The helpers below are imported by the fault tests: the store under test (SQLite file or
PostgreSQL schema) and how a child process names it, the shared scenario, snapshots of the
read models, and the reporting of each test's figures (pytest ``record_property``, a line on
the terminal that ``-s`` does not hide, and ``build/fault-results.jsonl``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO
from uuid import UUID

import attrs
import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification

from adapters.bootstrap import PostgresTarget, StoreLocation, init_store, open_store, resolve_store
from adapters.views import SQLiteViewStore
from domain.errors import ConcurrencyConflict, RuleViolation
from domain.facade import Miljo
from domain.projection import TABLES
from domain.values import Actor, Role
from tests.support import FIGURES_PROPERTY, postgres_store_url

ROOT: Final = Path(__file__).resolve().parents[2]
RESULTS_ENV: Final = "MILJO_FAULT_RESULTS"
SEED_ENV: Final = "MILJO_FAULT_SEED"

SCHOOL: Final = "gjesdal"
CLASSES: Final = {"8a": 8, "8b": 8, "9a": 9, "9b": 9}
#: Three miljøterapeuter at 85 %: 1912 minutes a week each.
MEMBERS: Final = ("gj-mt1", "gj-mt2", "gj-mt3")
POSITION: Final = "85"
TERM_START: Final = date(2024, 8, 19)  # a Monday
JOINED: Final = date(2024, 8, 1)
#: The students every contending worker writes to.
SHARED_STUDENTS: Final = ("S-1", "S-2", "S-3")
#: Student numbers the contending workers all try to register (each may succeed once).
REGISTER_POOL: Final = 12
ASSIGN_MINUTES: Final = (120, 240, 360, 480)

ADMIN: Final = Actor(person_id="p-admin", role=Role.ADMIN)
REKTOR: Final = Actor(person_id="p-rektor", role=Role.REKTOR, schools={SCHOOL})
COORDINATOR: Final = Actor(person_id="gj-mt1", role=Role.MILJOKOORDINATOR, schools={SCHOOL})

#: Events each accepted command stores (see domain.facade).
EVENTS_PER_COMMAND: Final = {"observe": 1, "concern": 1, "assign": 1, "register": 2}


# ---------------------------------------------------------------------------------------------
# The store under test
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class StoreUnderTest:
    """An initialised store: how this process opens it, and how a child process names it."""

    kind: str
    location: StoreLocation
    argument: str  # the STORE argument of a worker (a path or a postgresql:// URL)
    env: Mapping[str, str]  # extra environment of a worker (MILJO_KEYS_DIR for PostgreSQL)

    def open(self) -> Miljo:
        return open_store(self.location)


def sqlite_store(folder: Path) -> StoreUnderTest:
    location = resolve_store(folder / "miljo.sqlite")
    init_store(location)
    return StoreUnderTest("sqlite", location, str(location.db_path), {})


def postgres_store(target: PostgresTarget, keys_dir: Path) -> StoreUnderTest:
    location = StoreLocation(db_path=None, keys_dir=keys_dir, postgres=target)
    init_store(location)
    return StoreUnderTest(
        "postgres", location, postgres_store_url(target), {"MILJO_KEYS_DIR": str(keys_dir)}
    )


def child_env(store: StoreUnderTest) -> dict[str, str]:
    """A worker's environment: no stray MILJO_ settings, the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILJO_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(store.env)
    return env


def worker_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.integration.workers", command, *args]


# ---------------------------------------------------------------------------------------------
# The shared scenario
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Scenario:
    shared: dict[str, UUID]  # student number -> id
    setup_events: int


def build_scenario(miljo: Miljo) -> Scenario:
    """Gjesdal with four classes, a team of three miljøterapeuter and three students."""
    miljo.register_school(
        ADMIN, code=SCHOOL, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
    )
    for class_name, trinn in CLASSES.items():
        miljo.add_class(ADMIN, school=SCHOOL, trinn=trinn, class_name=class_name)
    miljo.form_team(ADMIN, school=SCHOOL, name="Miljøteamet på Gjesdal")
    for member in MEMBERS:
        miljo.add_member(
            ADMIN,
            school=SCHOOL,
            member_id=member,
            profession="vernepleier",
            position_percent=POSITION,
            joined_on=JOINED,
        )
    miljo.appoint_coordinator(ADMIN, school=SCHOOL, member_id=MEMBERS[0], effective_from=JOINED)
    names = ("Sølvi Prøvestad", "Ådne Testerud", "Kjærsti Eksempelhaug")
    shared = {
        number: miljo.register_student(
            ADMIN, school=SCHOOL, student_number=number, name=name, trinn=8, class_name="8a"
        )
        for number, name in zip(SHARED_STUDENTS, names, strict=True)
    }
    return Scenario(shared=shared, setup_events=len(stored_notifications(miljo.app)))


# ---------------------------------------------------------------------------------------------
# Reading the store and its read models
# ---------------------------------------------------------------------------------------------


def stored_notifications(app: Application[UUID], page: int = 1000) -> list[Notification]:
    """Every stored event in position order (positions may have gaps on PostgreSQL)."""
    found: list[Notification] = []
    start = 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=page)
        found.extend(batch)
        if len(batch) < page:
            return found
        start = batch[-1].id + 1


def streams_with(notifications: Sequence[Notification], topic: str) -> list[UUID]:
    """Originator ids of the events with ``topic`` (ids and topics are stored in clear)."""
    return [UUID(str(n.originator_id)) for n in notifications if n.topic == topic]


RowBag = dict[str, Counter[tuple[tuple[str, Any], ...]]]


def view_rows(views: Any) -> RowBag:
    """Every row of every view table, as a multiset per table (order-free, exact)."""
    return {
        table.name: Counter(tuple(sorted(row.items())) for row in views.select(table.name, {}))
        for table in TABLES
    }


def fresh_projection(app: Application[UUID]) -> RowBag:
    """The read models projected from scratch, in memory, from the same stored events."""
    scratch = SQLiteViewStore(app, None)
    try:
        scratch.catch_up()
        return view_rows(scratch)
    finally:
        scratch.close()


# ---------------------------------------------------------------------------------------------
# Reporting the figures of a fault test
# ---------------------------------------------------------------------------------------------


def results_file() -> Path:
    explicit = os.environ.get(RESULTS_ENV)
    return Path(explicit) if explicit else ROOT / "build" / "fault-results.jsonl"


def fault_seed() -> int:
    """``$MILJO_FAULT_SEED`` to repeat a run, else a fresh random seed (reported)."""
    text = os.environ.get(SEED_ENV)
    return int(text) if text else int.from_bytes(os.urandom(4), "big")


def report(
    test: str,
    figures: Mapping[str, object],
    record_property: Callable[[str, object], None],
    terminal: Callable[[str], None],
) -> None:
    """Record the figures three ways: junit properties, one terminal line, the results file."""
    for key, value in figures.items():
        record_property(key, value)
    line = f"[miljo fault figures] {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    record_property(FIGURES_PROPERTY, line)  # repeated in the terminal summary (tests/conftest.py)
    terminal(line)
    record = {
        "test": test,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "python": platform.python_version(),
        **figures,
    }
    path = results_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(orjson.dumps(record, default=str) + b"\n")


# ---------------------------------------------------------------------------------------------
# The worker processes
# ---------------------------------------------------------------------------------------------


class Log:
    """One JSON line per ``os.write`` (whole lines even if the process is killed)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, **record: object) -> None:
        os.write(self.fd, orjson.dumps(record, default=str) + b"\n")

    def close(self) -> None:
        os.close(self.fd)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def count_conflicts(miljo: Miljo) -> Counter[str]:
    """Count every write conflict the facade meets (it retries them, see ``Miljo._run``)."""
    counts: Counter[str] = Counter()
    original = miljo.app.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        try:
            return original(*aggregates, **kwargs)
        except IntegrityError:
            counts["conflicts"] += 1
            raise

    vars(miljo.app)["save"] = save  # shadows the method on this instance only
    return counts


def _signal_ready(stdout: TextIO) -> None:
    stdout.write("ready\n")
    stdout.flush()


def _contend(args: argparse.Namespace) -> int:
    import random

    rng = random.Random(args.seed)  # noqa: S311 - test data, not secrets
    log = Log(Path(args.log))
    miljo = open_store(args.store)
    conflicts = count_conflicts(miljo)
    school = miljo.school(ADMIN, SCHOOL)
    shared = [miljo.find_student(ADMIN, school=SCHOOL, student_number=n) for n in SHARED_STUDENTS]
    assert school.code == SCHOOL
    _signal_ready(sys.stdout)
    if sys.stdin.readline().strip() != "go":
        return 2
    ops = ["observe"] * 3 + ["concern"] + ["assign"] * 3 + ["register"] * 2
    for seq in range(args.commands):
        op = rng.choice(ops)
        record: dict[str, object] = {"worker": args.worker, "seq": seq, "op": op}
        command: Callable[[], UUID]
        if op in ("observe", "concern"):
            student = rng.choice(shared)
            record["student"] = str(student)
            text = f"w{args.worker}-c{seq}: uro i friminuttet"
            if op == "observe":
                command = _observe(miljo, student, text)
            else:
                command = _concern(miljo, student, text)
        elif op == "assign":
            member = rng.choice(MEMBERS)
            class_name = rng.choice(sorted(CLASSES))
            minutes = rng.choice(ASSIGN_MINUTES)
            record.update(member=member, class_name=class_name, minutes=minutes)
            command = _assign(miljo, member, class_name, minutes)
        else:
            number = f"R-{rng.randrange(REGISTER_POOL)}"
            record["number"] = number
            command = _register(miljo, number, f"Åsmund Prøvesen {number}")
        try:
            new_id = command()
        except ConcurrencyConflict as error:
            record.update(outcome="conflict", attempts=error.attempts)
        except RuleViolation as error:
            record.update(outcome="refused", rule=error.rule)
        except Exception as error:  # reported to the test, which fails on it
            record.update(outcome="error", error=f"{type(error).__name__}: {error}")
        else:
            record.update(outcome="accepted", id=str(new_id))
        log.write(**record)
        if seq % 4 == 3:
            log.write(worker=args.worker, seq=seq, op="catch_up", applied=miljo.catch_up())
    log.write(worker=args.worker, op="done", conflicts_retried=conflicts["conflicts"])
    miljo.close()
    log.close()
    return 0


def _observe(miljo: Miljo, student: UUID, text: str) -> Callable[[], UUID]:
    return lambda: miljo.record_observation(
        COORDINATOR, student, arena="break", categories=["conflict"], text=text
    )


def _concern(miljo: Miljo, student: UUID, text: str) -> Callable[[], UUID]:
    return lambda: miljo.raise_concern(COORDINATOR, student, summary=text)


def _assign(miljo: Miljo, member: str, class_name: str, minutes: int) -> Callable[[], UUID]:
    return lambda: miljo.assign(
        COORDINATOR,
        school=SCHOOL,
        member_id=member,
        target_kind="class",
        trinn=CLASSES[class_name],
        class_name=class_name,
        minutes_per_week=minutes,
        valid_from=TERM_START,
    )


def _register(miljo: Miljo, number: str, name: str) -> Callable[[], UUID]:
    return lambda: miljo.register_student(
        ADMIN, school=SCHOOL, student_number=number, name=name, trinn=8, class_name="8b"
    )


def _crashloop(args: argparse.Namespace) -> int:
    import random

    rng = random.Random(args.seed)  # noqa: S311 - test data, not secrets
    log = Log(Path(args.log))
    miljo = open_store(args.store)
    _signal_ready(sys.stdout)
    run = args.run
    for i in range(1_000_000):
        number = f"K{run}-{i}"
        sid = miljo.register_student(
            ADMIN,
            school=SCHOOL,
            student_number=number,
            name=f"Krasj Testesen {run}-{i}",
            trinn=8,
            class_name="8a",
        )
        log.write(run=run, op="register", id=str(sid), number=number)
        oid = miljo.record_observation(
            COORDINATOR,
            sid,
            arena="classroom",
            categories=["wellbeing"],
            text=f"Observasjon {run}-{i}: urolig før friminuttet",
        )
        log.write(run=run, op="observe", id=str(oid), student=str(sid))
        if i % 3 == 0:
            vid = miljo.open_vedtak(REKTOR, sid, kind="individually_adapted_education")
            log.write(run=run, op="open_vedtak", id=str(vid), student=str(sid))
        if i % 4 == 1:
            miljo.record_departure(ADMIN, sid, kind="left")
            log.write(run=run, op="depart", student=str(sid))
        if i % 2 == 0:
            monday = TERM_START + timedelta(weeks=rng.randrange(400))
            aid = miljo.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=MEMBERS[i % len(MEMBERS)],
                target_kind="class",
                trinn=8,
                class_name="8a",
                minutes_per_week=15,
                valid_from=monday,
                valid_to=monday + timedelta(days=4),
            )
            log.write(run=run, op="assign", id=str(aid))
        if i % 5 == 4:
            log.write(run=run, op="catch_up", applied=miljo.catch_up())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.workers")
    commands = parser.add_subparsers(dest="command", required=True)
    contend = commands.add_parser("contend")
    contend.add_argument("store")
    contend.add_argument("--worker", type=int, required=True)
    contend.add_argument("--commands", type=int, required=True)
    contend.add_argument("--seed", type=int, required=True)
    contend.add_argument("--log", required=True)
    crash = commands.add_parser("crashloop")
    crash.add_argument("store")
    crash.add_argument("--run", type=int, required=True)
    crash.add_argument("--seed", type=int, required=True)
    crash.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    handlers = {"contend": _contend, "crashloop": _crashloop}
    return handlers[args.command](args)


@contextlib.contextmanager
def opened(store: StoreUnderTest) -> Iterator[Miljo]:
    miljo = store.open()
    try:
        yield miljo
    finally:
        miljo.close()


if __name__ == "__main__":
    sys.exit(main())
