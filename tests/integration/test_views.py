"""Read models on SQLite (``adapters.views.SQLiteViewStore``): exactly-once catch-up.

The central property: however the catch-up is cut into batches and restarts, the view tables
end up identical to a rebuild from zero, and every notification is applied exactly once (one
``events`` row per stored event). Around it: refusing already tracked notifications, rolling
back a page that fails half-way, two view stores on one file, schema-version resets, and the
privacy rule that view tables hold no names, numbers or free text.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
import pytest
from eventsourcing.persistence import Notification
from hypothesis import given, settings
from hypothesis import strategies as st

import adapters.views
from adapters.bootstrap import StoreLocation, init_store, open_store, resolve_store
from adapters.views import PREFIX, AlreadyTracked, SQLiteViewStore
from domain.application import MiljoApplication
from domain.errors import InvalidValue, NotFound, RuleViolation
from domain.facade import Miljo
from domain.projection import SCHEMA_VERSION, TABLES, Put
from domain.values import HoursByCompetence, local_date
from domain.vedtak import Vedtak
from tests.support import (
    ADMIN,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    TEACHER,
    THERAPIST,
    FakeClock,
    SequentialIds,
    TestHasher,
)

SCHOOL: Final = "hvalstad"
CLASSES: Final = (("8a", 8), ("8b", 8), ("9a", 9), ("10a", 10))
NAMES: Final = (
    "Åsmund Prøvesen",
    "Sigrid Eksempeldatter",
    "Kåre Testmo",
    "Øydis Fiktivsen",
    "Ingebjørg Oppdiktet",
)

Rows = dict[str, list[tuple[Any, ...]]]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def view_rows(store: SQLiteViewStore) -> Rows:
    """Every view table's rows (``select(table, {})``), as sorted tuples in column order."""
    return {
        t.name: sorted(
            (tuple(row[c] for c in t.columns) for row in store.select(t.name, {})), key=repr
        )
        for t in TABLES
    }


def newest(app: MiljoApplication) -> int:
    return int(app.recorder.max_notification_id() or 0)


def all_notifications(app: MiljoApplication) -> list[Notification]:
    return list(app.recorder.select_notifications(start=1, limit=newest(app) + 1))


def events_count(store: SQLiteViewStore) -> int:
    return len(store.select("events", {}))


def rebuilt(app: MiljoApplication, path: Path) -> SQLiteViewStore:
    """A view store on a new file, rebuilt from the first event."""
    store = SQLiteViewStore(app, path)
    store.rebuild()
    return store


def memory_store(clock: FakeClock) -> Miljo:
    return open_store(":memory:", clock=clock, ids=SequentialIds(), hasher=TestHasher())


def sqlite_store(path: Path, clock: FakeClock) -> tuple[Miljo, StoreLocation]:
    location = resolve_store(path)
    init_store(location)
    return open_store(location, clock=clock, ids=SequentialIds()), location


# ---------------------------------------------------------------------------------------------
# A random but valid history, built through the facade
# ---------------------------------------------------------------------------------------------


class Skip(Exception):
    """The chosen operation has nothing to work on yet."""


REFUSALS = (InvalidValue, RuleViolation, NotFound)


@attrs.define
class World:
    """Drives the facade with operations chosen by numbers; remembers what exists."""

    miljo: Miljo
    clock: FakeClock
    students: list[UUID] = attrs.Factory(list)
    observations: list[tuple[UUID, UUID]] = attrs.Factory(list)
    concerns: list[tuple[UUID, UUID]] = attrs.Factory(list)
    consents: list[tuple[UUID, UUID]] = attrs.Factory(list)
    referrals: list[tuple[UUID, UUID]] = attrs.Factory(list)
    plans: list[tuple[UUID, UUID]] = attrs.Factory(list)
    vedtak: list[UUID] = attrs.Factory(list)
    assignments: list[UUID] = attrs.Factory(list)
    members: list[str] = attrs.Factory(list)
    meetings: list[UUID] = attrs.Factory(list)
    items: list[tuple[UUID, UUID]] = attrs.Factory(list)
    decisions: list[tuple[UUID, UUID]] = attrs.Factory(list)
    applied: int = 0
    refused: int = 0

    @classmethod
    def populated(cls, miljo: Miljo, clock: FakeClock, ops: Sequence[tuple[int, int]]) -> World:
        """A world set up in ``miljo`` and driven through ``ops``."""
        world = cls(miljo, clock)
        world.setup()
        world.run(ops)
        return world

    @property
    def today(self) -> date:
        return local_date(self.clock.now())

    def setup(self) -> None:
        m = self.miljo
        m.register_school(ADMIN, code=SCHOOL, name="Hvalstad skole", first_trinn=8, last_trinn=10)
        for class_name, trinn in CLASSES:
            m.add_class(ADMIN, school=SCHOOL, trinn=trinn, class_name=class_name)
        m.form_team(ADMIN, school=SCHOOL, name="Miljøteamet")
        for member_id, profession, percent in (
            ("hv-mt1", "vernepleier", "100"),
            ("hv-mt2", "sosionom", "85"),
            ("hv-as1", "assistent", "50"),
        ):
            m.add_member(
                ADMIN,
                school=SCHOOL,
                member_id=member_id,
                profession=profession,
                position_percent=percent,
                joined_on=self.today,
            )
            self.members.append(member_id)
        m.appoint_coordinator(ADMIN, school=SCHOOL, member_id="hv-mt1")
        for k in range(2):
            self.op_register(k)

    def run(self, ops: Sequence[tuple[int, int]]) -> None:
        for op, k in ops:
            self.clock.advance(minutes=1 + k % 29)
            try:
                OPERATIONS[op % len(OPERATIONS)](self, k)
                self.applied += 1
            except Skip:
                pass
            except REFUSALS:
                self.refused += 1

    # -- students ----------------------------------------------------------------------------

    def op_register(self, k: int) -> None:
        class_name, trinn = CLASSES[k % len(CLASSES)]
        student = self.miljo.register_student(
            ADMIN,
            school=SCHOOL,
            student_number=f"HV-{len(self.students) + 1:04d}",
            name=NAMES[k % len(NAMES)],
            trinn=trinn,
            class_name=class_name,
        )
        self.students.append(student)

    def op_change_class(self, k: int) -> None:
        class_name, trinn = CLASSES[(k // 7) % len(CLASSES)]
        self.miljo.change_class(ADMIN, pick(self.students, k), trinn=trinn, class_name=class_name)

    def op_departure(self, k: int) -> None:
        if k % 3:  # departures are rarer than the other operations
            raise Skip
        self.miljo.record_departure(ADMIN, pick(self.students, k), kind="left")

    def op_observation(self, k: int) -> None:
        student = pick(self.students, k)
        categories = ["conflict", "social", "wellbeing", "absence", "family"]
        chosen = sorted({categories[k % 5], categories[(k // 5) % 5]})
        obs = self.miljo.record_observation(
            THERAPIST,
            student,
            arena=["break", "classroom", "online"][k % 3],
            categories=chosen,
            text=f"Observasjon nr. {k}",
            observed_at=self.clock.now() - timedelta(minutes=k % 90),
        )
        self.observations.append((student, obs))

    def op_correct(self, k: int) -> None:
        student, original = pick(self.observations, k)
        self.miljo.correct_observation(
            THERAPIST,
            student,
            corrects=original,
            arena="sfo",
            categories=[["bullying"], ["learning", "health"]][k % 2],
            text=f"Rettet observasjon {k}",
            observed_at=self.clock.now() - timedelta(hours=1),
            reason="feil kategori",
        )

    def op_concern(self, k: int) -> None:
        student = pick(self.students, k)
        concern = self.miljo.raise_concern(TEACHER, student, summary=f"Bekymring {k}")
        self.concerns.append((student, concern))

    def op_consent(self, k: int) -> None:
        student = pick(self.students, k)
        by_body = k % 2 == 0
        consent = self.miljo.record_consent(
            COORDINATOR,
            student,
            giver="guardian",
            scope_kind="body" if by_body else "meeting_kind",
            scope=["barnevern", "ppt"][k % 4 // 2] if by_body else "arbeidslag",
            valid_from=self.today - timedelta(days=k % 20),
            valid_to=None if k % 3 else self.today + timedelta(days=100 + k % 50),
            note="Samtykke gitt i møte",
        )
        self.consents.append((student, consent))

    def op_withdraw_consent(self, k: int) -> None:
        student, consent = pick(self.consents, k)
        self.miljo.withdraw_consent(COORDINATOR, student, consent_id=consent)

    def op_referral(self, k: int) -> None:
        student = pick(self.students, k)
        referral = self.miljo.make_referral(
            COORDINATOR, student, body=["ppt", "bup", "barnevern"][k % 3], reason="Henvisning"
        )
        self.referrals.append((student, referral))

    def op_referral_status(self, k: int) -> None:
        student, referral = pick(self.referrals, k)
        status = ["acknowledged", "accepted", "rejected", "withdrawn", "closed"][k % 5]
        self.miljo.change_referral_status(COORDINATOR, student, referral_id=referral, status=status)

    def op_plan(self, k: int) -> None:
        student = pick(self.students, k)
        plan = self.miljo.create_aktivitetsplan(
            COORDINATOR,
            student,
            problem="Utrygt skolemiljø",
            measures=["Voksen i friminutt"],
            when="Fra mandag",
            responsible="hv-mt1",
            evaluation_date=self.today + timedelta(days=k % 30),
        )
        self.plans.append((student, plan))

    def op_evaluate_plan(self, k: int) -> None:
        student, plan = pick(self.plans, k)
        self.miljo.evaluate_aktivitetsplan(
            COORDINATOR,
            student,
            plan_id=plan,
            assessment="Bedre",
            next_evaluation_date=None if k % 3 == 0 else self.today + timedelta(days=1 + k % 20),
        )

    def op_close_plan(self, k: int) -> None:
        student, plan = pick(self.plans, k)
        self.miljo.close_aktivitetsplan(COORDINATOR, student, plan_id=plan, reason="Løst")

    # -- vedtak --------------------------------------------------------------------------------

    def op_vedtak(self, k: int) -> None:
        student = pick(self.students, k)
        ito = k % 2 == 0
        kind = "individually_adapted_education" if ito else "personal_assistance"
        vedtak = self.miljo.open_vedtak(SPED_LEAD, student, kind=kind)
        self.vedtak.append(vedtak)
        hours = HoursByCompetence(miljoterapeut=1900 * (1 + k % 10), assistant=1900 * (k % 3))
        if ito:
            self.miljo.record_recommendation(
                SPED_LEAD, vedtak, recommended_on=self.today, hours=hours, summary="Tilråding"
            )
        self.miljo.decide_vedtak(
            REKTOR,
            vedtak,
            hours=hours,
            organisation="I klassen",
            content="Miljøterapeut",
            reasons="Behov",
            valid_from=self.today,
            valid_to=self.today + timedelta(days=60 + k % 200),
        )

    def op_notice_or_appeal(self, k: int) -> None:
        vedtak = pick(self.vedtak, k)
        step = k % 3
        if step == 0:
            self.miljo.send_vedtak_notice(INSPEKTOR, vedtak)
        elif step == 1:
            self.miljo.lodge_appeal(INSPEKTOR, vedtak, grounds="For lite tid")
        else:
            self.miljo.resolve_appeal(INSPEKTOR, vedtak, outcome="upheld", note="Opprettholdt")

    def op_amend(self, k: int) -> None:
        vedtak = pick(self.vedtak, k)
        attempt(
            lambda reason: self.miljo.amend_vedtak(
                REKTOR,
                vedtak,
                hours=HoursByCompetence(miljoterapeut=1900 * (2 + k % 7)),
                organisation="Gruppe",
                content="Endret",
                reasons="Nytt behov",
                valid_to=self.today + timedelta(days=30 + k % 100),
                deviation_reason=reason,
            )
        )

    def op_revoke(self, k: int) -> None:
        if k % 2:
            raise Skip
        self.miljo.revoke_vedtak(REKTOR, pick(self.vedtak, k), reasons="Ikke lenger behov")

    def op_delivery(self, k: int) -> None:
        monday = self.today - timedelta(days=self.today.weekday())
        self.miljo.record_delivery(
            COORDINATOR,
            pick(self.vedtak, k),
            week_of=monday,
            minutes=HoursByCompetence(miljoterapeut=30 + k % 300),
        )

    # -- team ----------------------------------------------------------------------------------

    def op_assign(self, k: int) -> None:
        member = pick(self.members, k)
        kind = ["class", "trinn", "school", "sfo", "student"][k % 5]
        start = self.today + timedelta(days=k % 4)
        end = None if k % 2 else start + timedelta(days=14 + k % 60)
        minutes = 30 + (k // 5) % 240
        m = self.miljo
        if kind == "student":
            vedtak_id = pick(self.vedtak, k)
            vedtak: object = m.app.repository.get(vedtak_id)
            assert isinstance(vedtak, Vedtak)
            assignment = m.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=member,
                target_kind=kind,
                minutes_per_week=minutes,
                valid_from=start,
                valid_to=vedtak.in_force_until,
                student_id=vedtak.student_id,
                vedtak_id=vedtak_id,
            )
        elif kind == "class":
            class_name, trinn = CLASSES[k % len(CLASSES)]
            assignment = m.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=member,
                target_kind=kind,
                minutes_per_week=minutes,
                valid_from=start,
                valid_to=end,
                trinn=trinn,
                class_name=class_name,
            )
        elif kind == "trinn":
            assignment = m.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=member,
                target_kind=kind,
                minutes_per_week=minutes,
                valid_from=start,
                valid_to=end,
                trinn=8 + k % 3,
            )
        else:
            assignment = m.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=member,
                target_kind=kind,
                minutes_per_week=minutes,
                valid_from=start,
                valid_to=end,
            )
        self.assignments.append(assignment)

    def op_end_assignment(self, k: int) -> None:
        self.miljo.end_assignment(
            COORDINATOR,
            school=SCHOOL,
            assignment_id=pick(self.assignments, k),
            ended_on=self.today + timedelta(days=k % 6),
            reason="omfordeling",
        )

    def op_rotate(self, k: int) -> None:
        new = self.miljo.rotate_assignment(
            COORDINATOR,
            school=SCHOOL,
            assignment_id=pick(self.assignments, k),
            to_member_id=pick(self.members, k // 3),
            on=self.today + timedelta(days=k % 5),
        )
        self.assignments.append(new)

    def op_position(self, k: int) -> None:
        self.miljo.change_position(
            ADMIN,
            school=SCHOOL,
            member_id=pick(self.members, k),
            position_percent=["40", "50", "85", "100"][k % 4],
            effective_from=self.today + timedelta(days=k % 10),
        )

    def op_member(self, k: int) -> None:
        if k % 2:
            member_id = f"hv-m{len(self.members) + 1}"
            self.miljo.add_member(
                ADMIN,
                school=SCHOOL,
                member_id=member_id,
                profession=["barnevernspedagog", "fagarbeider"][k % 4 // 2],
                position_percent="60",
                joined_on=self.today,
            )
            self.members.append(member_id)
        else:
            self.miljo.record_member_left(
                ADMIN,
                school=SCHOOL,
                member_id=pick(self.members, k),
                left_on=self.today + timedelta(days=k % 4),
            )

    # -- meetings ------------------------------------------------------------------------------

    def op_schedule(self, k: int) -> None:
        meeting = self.miljo.schedule_meeting(
            COORDINATOR,
            school=SCHOOL,
            kind=["ressursteam", "arbeidslag", "teammote"][k % 3],
            scheduled_at=self.clock.now() + timedelta(hours=k % 72) - timedelta(hours=2),
        )
        self.meetings.append(meeting)

    def op_external(self, k: int) -> None:
        self.miljo.add_external_participant(
            COORDINATOR, pick(self.meetings, k), body=["barnevern", "ppt"][k % 2]
        )

    def op_agenda(self, k: int) -> None:
        meeting = pick(self.meetings, k)
        shape = k % 5
        m = self.miljo
        if shape == 0:
            student, concern = pick(self.concerns, k // 5)
            item = m.add_agenda_item(
                SPED_LEAD,
                meeting,
                subject_kind="student",
                title="Navngitt sak",
                student_id=student,
                concern_id=concern,
            )
        elif shape == 1:
            item = m.add_agenda_item(
                SPED_LEAD,
                meeting,
                subject_kind="student",
                title="Sak om elev",
                student_id=pick(self.students, k // 5),
            )
        elif shape == 2:
            item = m.add_agenda_item(
                SPED_LEAD, meeting, subject_kind="student", title="Anonym sak", anonymous=True
            )
        elif shape == 3:
            class_name, trinn = CLASSES[k // 5 % len(CLASSES)]
            item = m.add_agenda_item(
                SPED_LEAD,
                meeting,
                subject_kind="class",
                title="Klassemiljø",
                trinn=trinn,
                class_name=class_name,
            )
        else:
            item = m.add_agenda_item(SPED_LEAD, meeting, subject_kind="theme", title="Rutiner")
        self.items.append((meeting, item))

    def op_decision(self, k: int) -> None:
        meeting, item = pick(self.items, k)
        if k % 2:
            decision = self.miljo.record_decision(
                SPED_LEAD,
                meeting,
                item_id=item,
                outcome="measure",
                text="Tiltak avtalt",
                responsible=pick(self.members, k // 2),
                due=self.today + timedelta(days=k % 21 - 7),
            )
        else:
            decision = self.miljo.record_decision(
                SPED_LEAD, meeting, item_id=item, outcome="advice", text="Råd gitt"
            )
        self.decisions.append((meeting, decision))

    def op_complete(self, k: int) -> None:
        meeting, decision = pick(self.decisions, k)
        self.miljo.complete_action(COORDINATOR, meeting, decision_id=decision)

    def op_meeting_state(self, k: int) -> None:
        meeting = pick(self.meetings, k)
        step = k % 4
        if step in (0, 1):
            self.miljo.record_meeting_held(SPED_LEAD, meeting)
        elif step == 2:
            self.miljo.close_minutes(SPED_LEAD, meeting)
        else:
            self.miljo.cancel_meeting(SPED_LEAD, meeting, reason="Sykdom")

    # -- other ---------------------------------------------------------------------------------

    def op_read(self, k: int) -> None:
        student = pick(self.students, k)
        if k % 2:
            self.miljo.student_case(COORDINATOR, student, reason="oppfølging")
        else:
            self.miljo.history(COORDINATOR, student, reason="oppfølging")

    def op_days_pass(self, k: int) -> None:
        self.clock.advance(days=1 + k % 5)


def pick(values: Sequence[Any], k: int) -> Any:
    if not values:
        raise Skip
    return values[k % len(values)]


def attempt(command: Callable[[str | None], None]) -> None:
    """Run a vedtak change with a deviation reason, or without if it follows the tilråding."""
    try:
        command("Avvik begrunnet")
    except InvalidValue:
        command(None)


OPERATIONS: Final[tuple[Callable[[World, int], None], ...]] = (
    World.op_register,
    World.op_change_class,
    World.op_departure,
    World.op_observation,
    World.op_observation,
    World.op_correct,
    World.op_concern,
    World.op_consent,
    World.op_withdraw_consent,
    World.op_referral,
    World.op_referral_status,
    World.op_plan,
    World.op_evaluate_plan,
    World.op_close_plan,
    World.op_vedtak,
    World.op_notice_or_appeal,
    World.op_amend,
    World.op_revoke,
    World.op_delivery,
    World.op_assign,
    World.op_assign,
    World.op_end_assignment,
    World.op_rotate,
    World.op_position,
    World.op_member,
    World.op_schedule,
    World.op_external,
    World.op_agenda,
    World.op_agenda,
    World.op_decision,
    World.op_complete,
    World.op_meeting_state,
    World.op_read,
    World.op_days_pass,
)

operations = st.lists(
    st.tuples(st.integers(0, len(OPERATIONS) - 1), st.integers(0, 10**6)),
    min_size=1,
    max_size=45,
)


def random_ops(seed: int, count: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)  # noqa: S311 (reproducible test data)
    return [(rng.randrange(len(OPERATIONS)), rng.randrange(10**6)) for _ in range(count)]


def catch_up_in_batches(
    app: MiljoApplication,
    path: Path,
    store: SQLiteViewStore,
    *,
    batches: Sequence[int],
    restarts: Sequence[bool],
    page_size: int,
    rounds: int | None = None,
) -> SQLiteViewStore:
    """``catch_up(limit=k)`` repeatedly, sometimes closing the store and opening a new one on
    the same file; stops at the newest notification (or after ``rounds`` calls)."""
    total = newest(app)
    step = 0
    while store.position() < total and (rounds is None or step < rounds):
        limit = batches[step % len(batches)]
        before = store.position()
        applied = store.catch_up(limit=limit)
        assert applied == min(limit, total - before)
        assert store.position() == before + applied
        if restarts[step % len(restarts)]:
            store.close()
            store = SQLiteViewStore(app, path, page_size=page_size)
            assert store.position() == before + applied  # resumes from the tracked position
        step += 1
    return store


# ---------------------------------------------------------------------------------------------
# Batched catch-up with restarts == rebuild from zero
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    first=operations,
    second=operations,
    batches=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    restarts=st.lists(st.booleans(), min_size=1, max_size=6),
    page_size=st.integers(1, 6),
    early_rounds=st.integers(0, 6),
)
def test_batched_catch_up_with_restarts_equals_rebuild(
    first: list[tuple[int, int]],
    second: list[tuple[int, int]],
    batches: list[int],
    restarts: list[bool],
    page_size: int,
    early_rounds: int,
) -> None:
    clock = FakeClock()
    with memory_store(clock) as miljo, tempfile.TemporaryDirectory() as folder:
        world = World.populated(miljo, clock, first)
        path = Path(folder) / "views.sqlite"
        app = miljo.app
        # Part of the way while the store is still growing, then the rest after more events.
        store = SQLiteViewStore(app, path, page_size=page_size)
        store = catch_up_in_batches(
            app,
            path,
            store,
            batches=batches,
            restarts=restarts,
            page_size=page_size,
            rounds=early_rounds,
        )
        world.run(second)
        store = catch_up_in_batches(
            app, path, store, batches=batches, restarts=restarts, page_size=page_size
        )
        reference = rebuilt(app, Path(folder) / "rebuilt.sqlite")
        try:
            assert store.position() == reference.position() == newest(app)
            assert events_count(store) == newest(app)
            assert view_rows(store) == view_rows(reference)
            assert store.catch_up() == 0  # nothing left: applying again is a no-op
        finally:
            store.close()
            reference.close()


def test_batched_catch_up_on_a_sqlite_file_equals_rebuild(tmp_path: Path) -> None:
    """The same property with the events in a real SQLite store and the views in its file."""
    clock = FakeClock()
    miljo, location = sqlite_store(tmp_path / "miljo.sqlite", clock)
    assert location.db_path is not None
    with miljo:
        world = World.populated(miljo, clock, random_ops(20240819, 150))
        assert world.applied > 60  # the history is rich, not mostly refused commands
        app = miljo.app
        # A fresh view store on a copy-free second file, and the facade's own (in the store file).
        path = tmp_path / "views.sqlite"
        store = catch_up_in_batches(
            app,
            path,
            SQLiteViewStore(app, path, page_size=4),
            batches=[3, 1, 7, 2],
            restarts=[False, True, False],
            page_size=4,
        )
        miljo.catch_up()
        assert isinstance(miljo.views, SQLiteViewStore)
        in_file = view_rows(miljo.views)
        reference = rebuilt(app, tmp_path / "rebuilt.sqlite")
        try:
            assert events_count(store) == newest(app) == reference.position()
            assert view_rows(store) == view_rows(reference) == in_file
            # the kinds of rows this history produced (the comparison is not vacuous)
            counts = reference.counts()
            for table in ("students", "observations", "vedtak", "assignments", "agenda"):
                assert counts[table] > 0, table
        finally:
            store.close()
            reference.close()


# ---------------------------------------------------------------------------------------------
# Exactly once: refusing tracked notifications, rolling back failed pages
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def busy_store() -> Iterator[tuple[Miljo, World]]:
    """An in-memory store with a few dozen events of every kind."""
    clock = FakeClock()
    with memory_store(clock) as miljo:
        world = World.populated(miljo, clock, random_ops(7, 90))
        yield miljo, world


def test_reapplying_a_tracked_page_is_refused_and_changes_nothing(
    busy_store: tuple[Miljo, World], tmp_path: Path
) -> None:
    miljo, _ = busy_store
    app = miljo.app
    store = SQLiteViewStore(app, tmp_path / "views.sqlite")
    assert store.catch_up(limit=20) == 20
    before = view_rows(store)
    old_page = app.recorder.select_notifications(start=11, limit=5)  # ids 11..15, tracked
    with pytest.raises(AlreadyTracked):
        store.apply(old_page, expected_position=10)  # a reader that saw position 10
    with pytest.raises(AlreadyTracked):
        store.apply(old_page, expected_position=20)  # right position, but ids <= 20
    next_two = app.recorder.select_notifications(start=21, limit=2)
    with pytest.raises(AlreadyTracked):
        store.apply(list(reversed(next_two)), expected_position=20)  # out of order
    assert store.position() == 20
    assert view_rows(store) == before
    # the proper next page is accepted
    store.apply(next_two, expected_position=20)
    assert store.position() == 22
    assert events_count(store) == 22
    store.close()


def test_a_reader_whose_page_was_applied_by_another_store_is_refused(
    busy_store: tuple[Miljo, World], tmp_path: Path
) -> None:
    miljo, _ = busy_store
    app = miljo.app
    path = tmp_path / "views.sqlite"
    slow, fast = SQLiteViewStore(app, path), SQLiteViewStore(app, path)
    page = app.recorder.select_notifications(start=1, limit=10)  # slow reads at position 0
    assert fast.catch_up(limit=10) == 10
    with pytest.raises(AlreadyTracked):
        slow.apply(page, expected_position=0)
    # catch_up recovers by reading on from the tracked position
    assert slow.catch_up() == newest(app) - 10
    assert events_count(fast) == newest(app)
    slow.close()
    fast.close()


class Boom(Exception):
    pass


def test_a_decoding_failure_mid_page_rolls_back_rows_and_position(
    busy_store: tuple[Miljo, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    miljo, _ = busy_store
    app = miljo.app
    store = SQLiteViewStore(app, tmp_path / "views.sqlite", page_size=25)
    store.catch_up(limit=30)
    before = view_rows(store)
    real = store.reader.light  # the view store's decoder (adapters.fastread)
    calls = 0

    def failing(notification: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 12:  # the 12th event of the page
            raise Boom("decoder failed")
        return real(notification)

    monkeypatch.setattr(store.reader, "light", failing)
    with pytest.raises(Boom):
        store.catch_up()
    assert calls == 12
    assert store.position() == 30
    assert view_rows(store) == before
    monkeypatch.undo()
    assert store.catch_up() == newest(app) - 30
    assert events_count(store) == newest(app) == len(all_notifications(app))
    reference = rebuilt(app, tmp_path / "rebuilt.sqlite")
    assert view_rows(store) == view_rows(reference)
    store.close()
    reference.close()


@pytest.mark.parametrize("error", [Boom("op failed"), sqlite3.OperationalError("disk I/O error")])
def test_a_write_failure_mid_page_rolls_back_rows_and_position(
    busy_store: tuple[Miljo, World],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    miljo, _ = busy_store
    app = miljo.app
    store = SQLiteViewStore(app, tmp_path / "views.sqlite", page_size=40)
    store.catch_up(limit=5)
    before = view_rows(store)
    real = store._write_rows
    executed = 0

    def failing(statement: str, rows: list[tuple[Any, ...]]) -> None:
        nonlocal executed
        executed += 1
        if executed == 4:  # the page's first runs of rows are already written
            raise error
        real(statement, rows)

    monkeypatch.setattr(store, "_write_rows", failing)
    with pytest.raises(type(error)):
        store.catch_up()
    assert store.position() == 5
    assert view_rows(store) == before
    monkeypatch.undo()
    # a fresh store on the file sees the same (rolled back) state
    again = SQLiteViewStore(app, tmp_path / "views.sqlite")
    assert again.position() == 5
    assert view_rows(again) == before
    assert again.catch_up() == newest(app) - 5
    assert events_count(again) == newest(app)
    reference = rebuilt(app, tmp_path / "rebuilt.sqlite")
    assert view_rows(again) == view_rows(reference)
    for s in (store, again, reference):
        s.close()


# ---------------------------------------------------------------------------------------------
# Two view stores on one SQLite file
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[tuple[Miljo, StoreLocation, World]]:
    """A SQLite store with ~150 events whose view tables have not caught up yet."""
    clock = FakeClock()
    miljo, location = sqlite_store(tmp_path / "miljo.sqlite", clock)
    with miljo:
        world = World.populated(
            miljo,
            clock,
            [op for op in random_ops(11, 160) if OPERATIONS[op[0]] is not World.op_read],
        )
        yield miljo, location, world


def test_two_view_stores_catching_up_alternately_apply_each_event_once(
    file_store: tuple[Miljo, StoreLocation, World], tmp_path: Path
) -> None:
    miljo, location, _ = file_store
    assert location.db_path is not None
    app = miljo.app
    one = SQLiteViewStore(app, location.db_path, page_size=3)
    two = SQLiteViewStore(app, location.db_path, page_size=5)
    assert one.position() == two.position() == 0
    applied = 0
    limits = [2, 5, 1, 7, 3]
    step = 0
    while one.position() < newest(app):
        store = (one, two)[step % 2]
        applied += store.catch_up(limit=limits[step % len(limits)])
        assert one.position() == two.position()
        step += 1
    assert applied == newest(app)
    assert events_count(one) == events_count(two) == newest(app)
    reference = rebuilt(app, tmp_path / "rebuilt.sqlite")
    assert view_rows(one) == view_rows(reference)
    for s in (one, two, reference):
        s.close()


def test_concurrent_catch_up_on_one_file_never_double_applies(
    file_store: tuple[Miljo, StoreLocation, World], tmp_path: Path
) -> None:
    """Two threads, each with its own application and view store on the same file (as two
    processes would be), catch up in small random batches while a third thread writes."""
    miljo, location, world = file_store
    assert location.db_path is not None
    db_path = location.db_path
    others = [
        open_store(location, clock=world.clock, ids=SequentialIds(10**6 * (i + 1)))
        for i in range(2)
    ]
    errors: list[BaseException] = []
    applied = [0, 0]
    writing = threading.Event()
    writing.set()
    start = threading.Barrier(3)
    student = miljo.register_student(
        ADMIN,
        school=SCHOOL,
        student_number="HV-9001",
        name="Åse Skrivesen",
        trinn=9,
        class_name="9a",
    )

    def reader(index: int) -> None:
        try:
            store = SQLiteViewStore(others[index].app, db_path, page_size=4)
            rng = random.Random(index)  # noqa: S311 (test batch sizes)
            start.wait()
            while writing.is_set() or store.position() < newest(others[index].app):
                applied[index] += store.catch_up(limit=rng.randint(1, 3))
                time.sleep(0)  # let the other threads in between batches
            store.close()
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)
            writing.clear()

    def writer() -> None:
        try:
            start.wait()
            for n in range(25):
                miljo.record_observation(
                    THERAPIST, student, arena="break", categories=["social"], text=f"Ny {n}"
                )
        except BaseException as error:
            errors.append(error)
        finally:
            writing.clear()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each thread stops once the writer is done and it has caught up
    for other in others:
        other.close()
    assert not errors, errors
    total = newest(miljo.app)
    check = SQLiteViewStore(miljo.app, db_path)
    assert check.position() == total
    assert sum(applied) == total  # every notification was applied by exactly one store
    assert events_count(check) == total
    reference = rebuilt(miljo.app, tmp_path / "rebuilt.sqlite")
    assert view_rows(check) == view_rows(reference)
    check.close()
    reference.close()


# ---------------------------------------------------------------------------------------------
# Schema version
# ---------------------------------------------------------------------------------------------


def _stored_schema_version(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT value FROM view_meta WHERE key = 'schema_version'").fetchone()
    db.close()
    return int(row[0])


def test_a_schema_version_bump_resets_and_rebuilds_the_views(
    file_store: tuple[Miljo, StoreLocation, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    miljo, location, _ = file_store
    assert location.db_path is not None
    app = miljo.app
    store = SQLiteViewStore(app, location.db_path)
    store.catch_up()
    caught_up = view_rows(store)
    store.close()
    assert _stored_schema_version(location.db_path) == SCHEMA_VERSION

    # Same version: opening again keeps the rows and the position.
    same = SQLiteViewStore(app, location.db_path)
    assert same.position() == newest(app)
    same.close()

    monkeypatch.setattr(adapters.views, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    bumped = SQLiteViewStore(app, location.db_path)
    assert bumped.position() == 0
    assert all(count == 0 for count in bumped.counts().values())
    assert _stored_schema_version(location.db_path) == SCHEMA_VERSION + 1
    assert bumped.catch_up() == newest(app)
    assert view_rows(bumped) == caught_up
    bumped.close()


def test_a_stale_stored_schema_version_resets_the_views(
    file_store: tuple[Miljo, StoreLocation, World],
) -> None:
    miljo, location, _ = file_store
    assert location.db_path is not None
    app = miljo.app
    store = SQLiteViewStore(app, location.db_path)
    store.catch_up()
    caught_up = view_rows(store)
    store.close()
    with sqlite3.connect(location.db_path) as db:
        db.execute("UPDATE view_meta SET value = 0 WHERE key = 'schema_version'")
    db.close()
    reopened = SQLiteViewStore(app, location.db_path)
    assert reopened.position() == 0
    assert reopened.counts()["events"] == 0
    assert _stored_schema_version(location.db_path) == SCHEMA_VERSION
    reopened.catch_up()
    assert view_rows(reopened) == caught_up
    reopened.close()


def test_a_schema_version_bump_with_a_new_column_rebuilds_the_views(
    file_store: tuple[Miljo, StoreLocation, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """domain/projection.py: 'Bump when the table layout ... changes: stores rebuild their
    views.' A new column plus a bump must therefore work on an existing file."""
    miljo, location, _ = file_store
    assert location.db_path is not None
    app = miljo.app
    SQLiteViewStore(app, location.db_path).close()  # tables in the old layout
    layout = tuple(
        attrs.evolve(t, columns=(*t.columns, "note_flag")) if t.name == "students" else t
        for t in TABLES
    )
    monkeypatch.setattr(adapters.views, "TABLES", layout)
    monkeypatch.setattr(adapters.views, "TABLES_BY_NAME", {t.name: t for t in layout})
    monkeypatch.setattr(adapters.views, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = SQLiteViewStore(app, location.db_path)
    try:
        assert store.catch_up() == newest(app)
        rows = store.select("students", {})
        assert rows
        assert all(row["note_flag"] is None for row in rows)
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Privacy: no names, numbers or free text in the view tables
# ---------------------------------------------------------------------------------------------

#: Distinctive personal strings used only in the privacy scenario below.
PERSONAL: Final = {
    "name": "Gunnhild Ørnevik-Testesen",
    "second name": "Tørris Åkerblom",
    "student number": "QX-77341",
    "second number": "QX-99120",
    "observation": "Vondt i magen etter samtale med stefar Zacharias",
    "student voice": "Jeg orker ikke gå på skolen på tirsdager",
    "correction": "Gråt i gangen etter gymtimen med Zacharias",
    "correction reason": "Feil dato oppgitt av vikar Blåbærsen",
    "concern": "Mistenker omsorgssvikt hjemme hos Ørnevik",
    "consent note": "Mor Ragnhild samtykket per telefon kl. 14",
    "referral reason": "Utredning for angst hos Gunnhild",
    "plan problem": "Utestengt fra gjengen i friminuttet ved sykkelstativet",
    "plan measure": "Voksen ved sykkelstativet hver dag",
    "plan when": "Fra uke 38 etter høstferien",
    "assessment": "Trives bedre sammen med Lillemor",
    "vedtak content": "Miljøterapeut følger Gunnhild til timene",
    "vedtak reasons": "Diagnose fra BUP i Stavanger",
    "recommendation": "PPT-rådgiver Fjellheim tilrår tett oppfølging",
    "agenda title": "Gunnhild og stefaren",
    "note": "Lærer Sundsbø forteller om episoden",
    "decision": "Kontakte barnevernet i Sandnes om Gunnhild",
    "appeal grounds": "Foreldrene mener timetallet er for lavt for Gunnhild",
    "read reason": "Forberedelse til møte med advokat Kvalheim",
    "cancel reason": "Rektor Haugland er syk",
}


def _all_view_text(db_path: Path) -> tuple[list[str], str]:
    with sqlite3.connect(db_path) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
                (f"{PREFIX}%",),
            )
        ]
        cells = [
            str(value)
            for table in tables
            for row in db.execute(f"SELECT * FROM {table}")  # noqa: S608 (names from sqlite)
            for value in row
            if value is not None
        ]
    db.close()
    return tables, "\n".join(cells)


def test_view_tables_and_history_summaries_hold_no_personal_data(tmp_path: Path) -> None:
    clock = FakeClock()
    miljo, location = sqlite_store(tmp_path / "miljo.sqlite", clock)
    assert location.db_path is not None
    p = PERSONAL
    with miljo:
        miljo.register_school(ADMIN, code=SCHOOL, name="Hvalstad", first_trinn=8, last_trinn=10)
        miljo.add_class(ADMIN, school=SCHOOL, trinn=9, class_name="9a")
        miljo.form_team(ADMIN, school=SCHOOL, name="Miljøteamet")
        miljo.add_member(
            ADMIN,
            school=SCHOOL,
            member_id="hv-mt1",
            profession="vernepleier",
            position_percent="85",
            joined_on=date(2024, 8, 1),
        )
        student = miljo.register_student(
            ADMIN,
            school=SCHOOL,
            student_number=p["student number"],
            name=p["name"],
            trinn=9,
            class_name="9a",
        )
        other = miljo.register_student(
            ADMIN,
            school=SCHOOL,
            student_number=p["second number"],
            name=p["second name"],
            trinn=9,
            class_name="9a",
        )
        clock.advance(hours=1)
        obs = miljo.record_observation(
            THERAPIST,
            student,
            arena="break",
            categories=["wellbeing"],
            text=p["observation"],
            student_voice=p["student voice"],
        )
        clock.advance(minutes=5)
        miljo.correct_observation(
            THERAPIST,
            student,
            corrects=obs,
            arena="classroom",
            categories=["wellbeing", "family"],
            text=p["correction"],
            observed_at=clock.now() - timedelta(hours=2),
            reason=p["correction reason"],
        )
        concern = miljo.raise_concern(TEACHER, student, summary=p["concern"])
        miljo.record_consent(
            COORDINATOR,
            student,
            giver="guardian",
            scope_kind="meeting_kind",
            scope="arbeidslag",
            valid_from=date(2024, 8, 19),
            note=p["consent note"],
        )
        miljo.make_referral(COORDINATOR, student, body="bup", reason=p["referral reason"])
        plan = miljo.create_aktivitetsplan(
            COORDINATOR,
            student,
            problem=p["plan problem"],
            measures=[p["plan measure"]],
            when=p["plan when"],
            responsible="hv-mt1",
            evaluation_date=date(2024, 9, 2),
        )
        miljo.evaluate_aktivitetsplan(
            COORDINATOR, student, plan_id=plan, assessment=p["assessment"]
        )
        vedtak = miljo.open_vedtak(SPED_LEAD, student, kind="individually_adapted_education")
        hours = HoursByCompetence.from_hours(miljoterapeut=380)
        miljo.record_recommendation(
            SPED_LEAD,
            vedtak,
            recommended_on=date(2024, 8, 19),
            hours=hours,
            summary=p["recommendation"],
        )
        miljo.decide_vedtak(
            REKTOR,
            vedtak,
            hours=hours,
            organisation="I klassen",
            content=p["vedtak content"],
            reasons=p["vedtak reasons"],
            valid_from=date(2024, 8, 19),
            valid_to=date(2025, 6, 20),
        )
        miljo.send_vedtak_notice(INSPEKTOR, vedtak)
        miljo.lodge_appeal(INSPEKTOR, vedtak, grounds=p["appeal grounds"])
        miljo.assign(
            COORDINATOR,
            school=SCHOOL,
            member_id="hv-mt1",
            target_kind="student",
            minutes_per_week=600,
            valid_from=date(2024, 8, 19),
            valid_to=date(2025, 6, 20),
            student_id=student,
            vedtak_id=vedtak,
        )
        meeting = miljo.schedule_meeting(
            COORDINATOR, school=SCHOOL, kind="arbeidslag", scheduled_at=clock.now()
        )
        miljo.add_external_participant(COORDINATOR, meeting, body="barnevern")
        item = miljo.add_agenda_item(
            SPED_LEAD,
            meeting,
            subject_kind="student",
            title=p["agenda title"],
            student_id=student,
            concern_id=concern,
        )
        miljo.record_note(SPED_LEAD, meeting, item_id=item, text=p["note"])
        miljo.record_decision(
            SPED_LEAD,
            meeting,
            item_id=item,
            outcome="measure",
            text=p["decision"],
            responsible="hv-mt1",
            due=date(2024, 9, 1),
        )
        spare = miljo.schedule_meeting(
            COORDINATOR, school=SCHOOL, kind="ressursteam", scheduled_at=clock.now()
        )
        miljo.cancel_meeting(SPED_LEAD, spare, reason=p["cancel reason"])
        miljo.student_case(COORDINATOR, student, reason=p["read reason"])
        history = miljo.history(COORDINATOR, student, reason=p["read reason"])
        miljo.history(COORDINATOR, other, reason=p["read reason"])
        miljo.catch_up()

        tables, text = _all_view_text(location.db_path)
        assert {f"{PREFIX}{t.name}" for t in TABLES} <= set(tables)
        # positive controls: the scan sees ids, codes and summaries
        assert SCHOOL in text
        assert str(student) in text
        assert "observation" in text
        lowered = text.casefold()
        leaked = sorted(what for what, value in p.items() if value.casefold() in lowered)
        assert leaked == []
        # the pieces of the names are not there either (e.g. a summary with a surname)
        for piece in ("Gunnhild", "Ørnevik", "Tørris", "Åkerblom", "77341", "99120"):
            assert piece.casefold() not in lowered, piece

        assert len(history) > 20
        summaries = "\n".join(e.summary for e in history).casefold()
        for value in (p["name"], p["second name"], p["student number"], "gunnhild", "ørnevik"):
            assert value.casefold() not in summaries
        # ... while the case itself still holds them (the scan above is not blind)
        case = miljo.student_case(COORDINATOR, student)
        assert case.name == p["name"]
        assert case.student_number == p["student number"]


def test_a_batch_writes_a_column_a_put_leaves_out_as_null() -> None:
    """``Batch`` takes a Put's values by column in C when the row gives every column, and
    falls back to NULL for a column the row leaves out; the upsert keeps the order."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE view_streams (stream_id, kind, school, PRIMARY KEY (stream_id))")
    batch = adapters.views.Batch(upsert=adapters.views._sqlite_upsert)
    batch.add(Put("streams", {"stream_id": "a", "kind": "student", "school": "gjesdal"}))
    batch.add(Put("streams", {"stream_id": "b", "kind": "team"}))  # no school
    batch.add(Put("streams", {"school": "trudvang", "kind": "meeting", "stream_id": "a"}))
    assert batch.size == 3
    batch.write(db.executemany)
    assert batch.size == 0
    rows = db.execute("SELECT stream_id, kind, school FROM view_streams ORDER BY 1").fetchall()
    assert rows == [("a", "meeting", "trudvang"), ("b", "team", None)]
    # One column or several: always a tuple of the row's values.
    assert adapters.views._values_of(("x",))({"x": "abc", "y": 1}) == ("abc",)
    assert adapters.views._values_of(("y", "x"))({"x": "abc", "y": 1}) == (1, "abc")
    with pytest.raises(KeyError):
        adapters.views._values_of(("z",))({"x": "abc"})
