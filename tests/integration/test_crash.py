"""A writer killed with SIGKILL at random moments, many times over.

Each run starts a writer (``python -m tests.integration.workers crashloop``) that registers
students (Student + School in one transaction), records observations, opens vedtak (Vedtak +
CaseFile), records departures (Student + School), makes assignments and catches the read
models up, as fast as it can. After a random delay it is killed with SIGKILL: in the middle
of a transaction, a key creation in the keyring, a catch-up, or between them. After every
kill, in this process:

* ``audit verify`` passes: every stored event has its chain link and every link matches;
* no half-written command is visible: every registered student is enrolled in the School and
  every enrolment has its student, every departure is in both streams, every opened vedtak
  is linked in the student's case file and every link has its vedtak;
* nothing acknowledged is lost: every command the writer logged as done (the log line is
  written after the command returned) is in the store, and at most one command per kill was
  committed without being acknowledged;
* the read models resume where the killed writer left them and then equal a projection from
  scratch: nothing applied twice, nothing skipped.

The seed of the delays is printed with the figures; ``MILJO_FAULT_SEED`` repeats a run.
"""

from __future__ import annotations

import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
import pytest

from adapters.audit import verify_store
from adapters.bootstrap import PostgresTarget
from domain.casefile import CaseFile
from domain.facade import Miljo
from domain.school import School, school_id
from domain.student import Student
from domain.team import Team, team_id
from tests.integration.workers import (
    ROOT,
    SCHOOL,
    SHARED_STUDENTS,
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
    streams_with,
    view_rows,
    worker_argv,
)

KILLS: Final = 20
#: The writer is killed this long after it has opened the store (seconds).
MIN_DELAY: Final = 0.02
MAX_DELAY: Final = 0.6
START_TIMEOUT: Final = 60.0


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


def _kill_after(store: StoreUnderTest, run: int, delay: float, log: Path, seed: int) -> None:
    """Start a writer, let it work for ``delay`` seconds, SIGKILL it."""
    writer = subprocess.Popen(
        worker_argv(
            "crashloop", store.argument, "--run", str(run), "--seed", str(seed), "--log", str(log)
        ),
        cwd=ROOT,
        env=child_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        ready, _, _ = select.select([writer.stdout], [], [], START_TIMEOUT)
        assert ready, "the writer did not open the store in time"
        line = writer.stdout.readline().strip()
        assert line == "ready", f"the writer failed to start: {writer.communicate()[1]}"
        time.sleep(delay)
        assert writer.poll() is None, f"the writer stopped by itself: {writer.communicate()[1]}"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        assert writer.returncode == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for stream in (writer.stdout, writer.stderr):
            if stream is not None:
                stream.close()


@attrs.define
class Tally:
    acknowledged: int = 0
    unacknowledged_committed: int = 0
    events: int = 0
    resumed_applied: int = 0
    resumes_with_work: int = 0
    lost: int = 0
    half_written: int = 0


def _check_after_kill(store: StoreUnderTest, log: list[dict[str, Any]], tally: Tally) -> None:
    verified = verify_store(store.location)
    assert verified.ok, f"chain broken at {verified.first_failure}: {verified.reason}"
    with opened(store) as miljo:
        stored = stored_notifications(miljo.app)
        assert verified.checked == len(stored)
        _check_whole_commands(miljo, stored, log, tally)
        # The views resume from where the killed writer left them ...
        before = miljo.views.position()
        applied = miljo.catch_up()
        assert miljo.views.position() == stored[-1].id
        assert applied == sum(1 for n in stored if n.id > before)
        tally.resumed_applied += applied
        tally.resumes_with_work += applied > 0
        # ... and end equal to a projection from scratch (nothing applied twice or skipped).
        assert view_rows(miljo.views) == fresh_projection(miljo.app)
        tally.events = len(stored)


def _check_whole_commands(
    miljo: Miljo, stored: list[Any], log: list[dict[str, Any]], tally: Tally
) -> None:
    get = miljo.app.repository.get
    school: School = get(school_id(SCHOOL))
    registered = set(streams_with(stored, "miljo:Student.Registered"))
    departed = set(streams_with(stored, "miljo:Student.Departed"))
    opened_vedtak = set(streams_with(stored, "miljo:Vedtak.Opened"))
    linked: set[UUID] = set()
    for case_id in streams_with(stored, "miljo:CaseFile.Opened"):
        case: CaseFile = get(case_id)
        linked.update(case.linked("vedtak"))
    enrolled = set(school.students.values())
    left = enrolled - set(school.active_students)
    # A student registered without the School enrolment (or the reverse), a departure in one
    # stream only, a vedtak without its case-file link (or the reverse): half a command.
    half = registered ^ enrolled | departed ^ left | opened_vedtak ^ linked
    tally.half_written += len(half)
    assert half == set()

    # Everything acknowledged is there.
    team: Team = get(team_id(SCHOOL))
    observations: dict[str, set[str]] = {}
    for r in log:
        if r["op"] == "observe" and r["student"] not in observations:
            student: Student = get(UUID(r["student"]))
            observations[r["student"]] = {
                str(o.observation_id) for o in student.current_observations()
            }
    present: dict[str, Callable[[dict[str, Any]], bool]] = {
        "register": lambda r: UUID(r["id"]) in registered,
        "open_vedtak": lambda r: UUID(r["id"]) in opened_vedtak,
        "depart": lambda r: UUID(r["student"]) in departed,
        "assign": lambda r: r["id"] in team.assignments,
        "observe": lambda r: r["id"] in observations[r["student"]],
    }
    acknowledged = [r for r in log if r["op"] in present]
    lost = [r for r in acknowledged if not present[r["op"]](r)]
    tally.lost += len(lost)
    assert lost == []
    tally.acknowledged = len(acknowledged)
    logged_students = sum(1 for r in log if r["op"] == "register")
    tally.unacknowledged_committed = len(registered) - len(SHARED_STUDENTS) - logged_students


def test_writer_killed_at_random_moments(
    store: StoreUnderTest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = fault_seed()
    rng = random.Random(seed)  # noqa: S311 - kill delays, not secrets
    with opened(store) as miljo:
        build_scenario(miljo)
    log_path = tmp_path / "writer.jsonl"
    tally = Tally()
    delays: list[float] = []
    started = time.monotonic()
    for run in range(KILLS):
        delay = rng.uniform(MIN_DELAY, MAX_DELAY)
        delays.append(delay)
        _kill_after(store, run, delay, log_path, seed + run)
        _check_after_kill(store, read_log(log_path), tally)
        # At most the command in flight at each kill was committed without acknowledgement.
        assert 0 <= tally.unacknowledged_committed <= run + 1
    elapsed = time.monotonic() - started

    report(
        f"crash[{store.kind}]",
        {
            "kills": KILLS,
            "delay_min_s": round(min(delays), 3),
            "delay_max_s": round(max(delays), 3),
            "commands_acknowledged": tally.acknowledged,
            "committed_unacknowledged": tally.unacknowledged_committed,
            "events_stored": tally.events,
            "acknowledged_commands_lost": tally.lost,
            "half_written_commands": tally.half_written,
            "chain_verified_after_each_kill": True,
            "resumes_with_pending_view_work": tally.resumes_with_work,
            "view_events_applied_on_resume": tally.resumed_applied,
            "seconds": round(elapsed, 1),
            "seed": seed,
        },
        record_property,
        _terminal(capsys),
    )
