"""Several OS processes issue commands against the same students and the same team at once.

Four workers (``python -m tests.integration.workers contend``), each its own process with its
own ``open_store``, are released together and issue 25 commands each: observations and
concerns on three shared students, class assignments that compete for three members'
capacity (one Team stream), and registrations of student numbers that the other workers also
try to register (the School stream). Every few commands each worker also catches the read
models up, so catch-ups race too. Then, on SQLite and on PostgreSQL:

* every command has an outcome: accepted, refused by a named rule, or a concurrency conflict
  reported to the caller after the facade's retries; nothing else escapes;
* no lost or duplicated event: the stored events are exactly the scenario's plus those of
  the accepted commands, each accepted observation, concern and assignment is in the state
  once, each contested student number was registered at most once, by the one worker told so;
* the capacity rule holds for every member, and each member's allocation is the sum of the
  accepted assignments;
* the hash chain verifies, and the read models that the workers caught up concurrently equal
  a projection from scratch (nothing applied twice or skipped).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import pytest

from adapters.audit import verify_store
from adapters.bootstrap import PostgresTarget
from domain.school import School, school_id
from domain.student import Student
from domain.team import Team, team_id
from tests.integration.workers import (
    EVENTS_PER_COMMAND,
    MEMBERS,
    ROOT,
    SCHOOL,
    TERM_START,
    Scenario,
    StoreUnderTest,
    build_scenario,
    child_env,
    fault_seed,
    fresh_projection,
    opened,
    postgres_store,
    read_log,
    report,
    sqlite_store,
    stored_notifications,
    view_rows,
    worker_argv,
)

PROCESSES: Final = 4
COMMANDS: Final = 25
START_TIMEOUT: Final = 60.0
RUN_TIMEOUT: Final = 120.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    if request.param == "postgres":
        target: PostgresTarget = request.getfixturevalue("postgres_schema")
        yield postgres_store(target, tmp_path / "pg.keys")
    else:
        yield sqlite_store(tmp_path)


def _terminal(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    def write(line: str) -> None:
        with capsys.disabled():
            sys.stderr.write(f"\n{line}\n")

    return write


def _run_workers(store: StoreUnderTest, logs: Path, seed: int) -> list[subprocess.Popen[str]]:
    """Start every worker, wait until each has opened the store, then release them at once."""
    workers = [
        subprocess.Popen(
            worker_argv(
                "contend",
                store.argument,
                "--worker",
                str(n),
                "--commands",
                str(COMMANDS),
                "--seed",
                str(seed + n),
                "--log",
                str(logs / f"worker-{n}.jsonl"),
            ),
            cwd=ROOT,
            env=child_env(store),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            assert line == "ready", f"worker did not start: {worker.communicate()[1]}"
            assert time.monotonic() < deadline, "workers took too long to open the store"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            _, stderr = worker.communicate(timeout=RUN_TIMEOUT)
            assert worker.returncode == 0, stderr
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return workers


def _commands(logs: Path) -> tuple[list[dict[str, Any]], int, int]:
    """The logged commands, the catch-ups' applied total and the retried conflicts."""
    records = [r for n in range(PROCESSES) for r in read_log(logs / f"worker-{n}.jsonl")]
    commands = [r for r in records if r["op"] in EVENTS_PER_COMMAND]
    applied = sum(int(r["applied"]) for r in records if r["op"] == "catch_up")
    done = [r for r in records if r["op"] == "done"]
    assert len(done) == PROCESSES, "a worker did not finish its log"
    return commands, applied, sum(int(r["conflicts_retried"]) for r in done)


def test_processes_contend_for_the_same_students_and_team(
    store: StoreUnderTest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = fault_seed()
    with opened(store) as miljo:
        scenario = build_scenario(miljo)
    logs = tmp_path / "logs"
    logs.mkdir()
    started = time.monotonic()
    _run_workers(store, logs, seed)
    elapsed = time.monotonic() - started
    commands, caught_up, retried = _commands(logs)

    # Every command has an outcome the caller was told; nothing else escaped.
    assert len(commands) == PROCESSES * COMMANDS
    errors = [c for c in commands if c["outcome"] == "error"]
    assert errors == []
    outcomes = Counter(c["outcome"] for c in commands)
    refused_rules = Counter(c["rule"] for c in commands if c["outcome"] == "refused")
    assert set(refused_rules) <= {"capacity-exceeded", "already-exists"}
    accepted = [c for c in commands if c["outcome"] == "accepted"]

    with opened(store) as miljo:
        stored = stored_notifications(miljo.app)
        expected = scenario.setup_events + sum(EVENTS_PER_COMMAND[c["op"]] for c in accepted)
        # No lost and no duplicated event.
        assert len(stored) == expected
        assert len({n.id for n in stored}) == len(stored)
        versions = Counter((str(n.originator_id), n.originator_version) for n in stored)
        assert max(versions.values()) == 1
        _check_state(
            miljo.app.repository.get,
            scenario,
            accepted,
            [c for c in commands if c.get("rule") == "capacity-exceeded"],
        )

        verified = verify_store(store.location)
        assert verified.ok, verified.reason
        assert verified.checked == len(stored)

        # The views the workers caught up concurrently equal a projection from scratch.
        resumed = miljo.catch_up()
        assert miljo.views.position() == stored[-1].id
        assert view_rows(miljo.views) == fresh_projection(miljo.app)

    report(
        f"concurrency[{store.kind}]",
        {
            "processes": PROCESSES,
            "commands": len(commands),
            "accepted": outcomes["accepted"],
            "refused_capacity": refused_rules["capacity-exceeded"],
            "refused_already_registered": refused_rules["already-exists"],
            "conflicts_retried": retried,
            "conflicts_reported": outcomes["conflict"],
            "events_stored": len(stored),
            "events_expected": expected,
            "events_lost": max(0, expected - len(stored)),
            "events_duplicated": max(0, len(stored) - expected),
            "view_events_applied_by_workers": caught_up,
            "view_events_applied_after": resumed,
            "seconds": round(elapsed, 1),
            "seed": seed,
        },
        record_property,
        _terminal(capsys),
    )


def _check_state(
    get: Callable[[Any], Any],
    scenario: Scenario,
    accepted: list[dict[str, Any]],
    refused: list[dict[str, Any]],
) -> None:
    """The final state equals the scenario plus exactly the accepted commands."""
    # Observations and concerns: each accepted one once, nothing else.
    observed: Counter[str] = Counter()
    raised: Counter[str] = Counter()
    for student_id in scenario.shared.values():
        student: Student = get(student_id)
        observed.update(str(o.observation_id) for o in student.current_observations())
        raised.update(str(c.concern_id) for c in student.concerns())
    assert observed == Counter(c["id"] for c in accepted if c["op"] == "observe")
    assert raised == Counter(c["id"] for c in accepted if c["op"] == "concern")

    # Assignments: exactly the accepted ones, and the capacity rule holds.
    team: Team = get(team_id(SCHOOL))
    assigned = [c for c in accepted if c["op"] == "assign"]
    assert sorted(team.assignments) == sorted(c["id"] for c in assigned)
    for member in MEMBERS:
        load = team.week_load(member, TERM_START)
        assert load.allocated == sum(int(c["minutes"]) for c in assigned if c["member"] == member)
        assert load.allocated <= load.capacity
    for c in refused:
        # Allocations only grow here: a member refused m minutes still has less than m free.
        assert team.week_load(c["member"], TERM_START).free < int(c["minutes"])

    # Registrations: one winner per contested number, enrolled in the School.
    school: School = get(school_id(SCHOOL))
    registered = [c for c in accepted if c["op"] == "register"]
    winners = Counter(c["number"] for c in registered)
    assert max(winners.values(), default=1) == 1
    enrolled = set(school.students.values())
    assert enrolled == {*scenario.shared.values(), *(UUID(c["id"]) for c in registered)}
    assert len(school.students) == len(scenario.shared) + len(registered)
    for c in registered:
        student = get(UUID(c["id"]))
        assert (student.student_number, student.school_code) == (c["number"], SCHOOL)
