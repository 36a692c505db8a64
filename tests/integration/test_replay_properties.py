"""Replay properties on a real SQLite file.

A hypothesis state machine drives random command sequences through the embedding facade
(``adapters.bootstrap.open_store`` with a fake clock that jumps by random amounts, sequential
ids and a fixed-key hasher): a school with classes; students who register, change class and
depart; observations and corrections, concerns, consents and withdrawals, referrals and their
status changes, aktivitetsplaner; vedtak from opening to revocation or expiry; the team's
members, positions, assignments and rotations; meetings with participants, items, notes,
decisions, held, closed, amended or cancelled; reads that go to the access log; restrictions
and erasures of a student's personal data (the erasable key deleted, snapshots purged); and
explicit snapshots at random versions. Commands that the domain refuses are fine, but they must
raise a ``DomainError`` and write nothing.

At the end a NEW store is opened on the same file and every aggregate in it must equal the one
the first store loads, a plain fold of its stored events, and every snapshot (automatic or
explicit) folded forward with the events after it.

``test_long_streams_snapshot_automatically`` pushes every aggregate kind past its production
snapshot interval (domain/application.py) and checks the same equalities.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar
from uuid import UUID

import attrs
import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Snapshot
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from adapters.bootstrap import PostgresTarget, StoreLocation, init_store, open_store, resolve_store
from domain.application import SNAPSHOT_INTERVALS, SNAPSHOT_LADDER, MiljoApplication
from domain.base import MiljoAggregate
from domain.casefile import CaseFile, access_log_id, case_file_id
from domain.errors import DomainError
from domain.facade import Miljo
from domain.meeting import Meeting
from domain.school import school_id
from domain.student import ERASURE_BASES, RESTRICTION_SCOPES
from domain.team import Team, team_id
from domain.values import Actor, HoursByCompetence, Role, iso_week_monday, local_date
from domain.vedtak import Vedtak, VedtakKind
from tests.conftest import create_schema, drop_schema, fresh_schema_name, postgres_location
from tests.support import (
    ADMIN,
    AUDITOR,
    COORDINATOR,
    INSPEKTOR,
    REKTOR,
    SPED_LEAD,
    T0,
    TEACHER,
    THERAPIST,
    FakeClock,
    SequentialIds,
    TestHasher,
    replay,
)

T = TypeVar("T")


def no_external_body(student: UUID, body: object, kind: object, on: date) -> bool:
    """A ``ConsentLookup`` for a meeting without external bodies: never asked."""
    raise AssertionError("a meeting without external bodies asks for no consent")


SCHOOL: Final = "gjesdal"
NAMES: Final = (
    "Sunniva Prøvedal",
    "Tobias Øvrebø-Testesen",
    "Åse Eksempelsen",
    "Mathias Fiktivsen",
    "Ingrid Diktervik",
    "Jonas Påfunnsen",
)
TEXTS: Final = (
    "Uro i friminuttet ved sykkelstativet.",
    "Rolig time, jobbet godt i gruppe.",
    "Gråt i garderoben etter gym; ville ikke si hvorfor.",
    "Kom for sent tredje dag på rad.\nMor ringte skolen.",
    'Sa: "Jeg vil være med i fotballen."',
)
MEMBERS: Final = ("mt-1", "mt-2", "mt-3", "ass-1", "ass-2")
PERSONS: Final = ("p-coord", "p-sped", "p-rektor", "p-mt1", "p-teach", "p-helse")
WRITERS: Final = (COORDINATOR, THERAPIST, TEACHER, SPED_LEAD, INSPEKTOR)

# -- strategies --------------------------------------------------------------------------------

free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
    | st.sampled_from("\n\t"),
    min_size=1,
    max_size=30,
).filter(lambda s: bool(s.strip()))
texts = st.sampled_from(TEXTS) | free_text
indexes = st.integers(min_value=0, max_value=10_000)
#: Mostly someone who may write, sometimes an auditor (refused: AccessDenied).
writers = st.sampled_from(WRITERS) | st.just(AUDITOR)
#: Mostly the rektor, sometimes another role (refused by the access policy: AccessDenied).
deciders = st.sampled_from((REKTOR, REKTOR, REKTOR, INSPEKTOR))
minutes_per_year = st.sampled_from((0, 0, 1140, 2280, 4560, 22800)) | st.integers(0, 30_000)
hours_per_year = st.builds(
    HoursByCompetence,
    teacher=minutes_per_year,
    special_ed_teacher=minutes_per_year,
    miljoterapeut=minutes_per_year,
    assistant=minutes_per_year,
)
week_minutes = st.builds(
    HoursByCompetence,
    teacher=st.integers(0, 300),
    special_ed_teacher=st.integers(0, 300),
    miljoterapeut=st.integers(0, 900),
    assistant=st.integers(0, 900),
)

vedtak_kinds = st.sampled_from(
    ("individually_adapted_education", "personal_assistance", "physical_adaptation")
)
meeting_kinds = st.sampled_from(("ressursteam", "arbeidslag", "teammote", "elevtjeneste"))


def pick(items: Sequence[T], index: int) -> T:
    return items[index % len(items)]


def fold_onto(aggregate: Any, events: Sequence[Any]) -> Any:
    """Continue a fold from ``aggregate`` (e.g. restored from a snapshot)."""
    for stored_event in events:
        aggregate = stored_event.mutate(aggregate)
    return aggregate


def stream_ids(app: MiljoApplication) -> list[UUID]:
    """Every stream in the store, in order of first event."""
    last = app.recorder.max_notification_id() or 0
    seen: dict[UUID, None] = {}
    for notification in app.recorder.select_notifications(start=1, limit=last + 1):
        originator = notification.originator_id
        assert isinstance(originator, UUID)
        seen.setdefault(originator, None)
    return list(seen)


def check_replay(
    first: MiljoApplication,
    location: StoreLocation,
    clock_at: datetime,
    purged: Mapping[UUID, int] | None = None,
    explicit: Set[tuple[UUID, int]] = frozenset(),
) -> set[tuple[UUID, int]]:
    """Open a NEW store on ``location``; every aggregate loaded by the first store and by the
    new one must equal the plain fold of its stored events, and so must every snapshot folded
    forward with the events after it (and the snapshot itself the fold up to its version).

    ``purged`` maps a stream to its version when an erasure last purged its snapshots: the
    automatic snapshots up to that version are gone on purpose, later ones must be there.
    Returns the (stream, version) of every snapshot checked.
    """
    purged = purged or {}
    ids = stream_ids(first)
    checked: set[tuple[UUID, int]] = set()
    second_clock = FakeClock(clock_at)
    with open_store(
        location, clock=second_clock, ids=SequentialIds(10**9), hasher=TestHasher()
    ) as again:
        second = again.app
        assert second.recorder.max_notification_id() == first.recorder.max_notification_id()
        assert second.snapshots is not None
        for aggregate_id in ids:
            events = list(second.events.get(aggregate_id))
            folded = replay(events)
            assert isinstance(folded, MiljoAggregate)
            assert folded.version == len(events)
            assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
            loaded_first: object = first.repository.get(aggregate_id)
            loaded_second: object = second.repository.get(aggregate_id)
            assert loaded_first == folded, f"first store differs from the fold of {aggregate_id}"
            assert loaded_second == folded, f"new store differs from the fold of {aggregate_id}"
            snapshots = list(second.snapshots.get(aggregate_id))
            versions = [s.originator_version for s in snapshots]
            interval = SNAPSHOT_INTERVALS[type(folded)]
            start = interval * (purged.get(aggregate_id, 0) // interval + 1)
            automatic = list(range(start, len(events) + 1, interval))
            if automatic:  # the newest is kept (an explicit later one may supersede it) ...
                assert max(versions) >= automatic[-1]
            ladder = interval * SNAPSHOT_LADDER  # ... older ones only on the ladder
            assert {v for v in automatic if v % ladder == 0} <= set(versions)
            # (an explicit snapshot taken below a newer one stays until a later snapshot of
            # the stream prunes: pruning keeps what is at or above the snapshot just taken)
            assert all(
                v % ladder == 0 or (aggregate_id, v) in explicit
                for v in versions
                if v < max(versions)
            )
            for snapshot in snapshots:
                assert isinstance(snapshot, Snapshot)
                version = snapshot.originator_version
                restored = snapshot.mutate(None)
                assert restored == replay(events[:version]), f"snapshot {aggregate_id}@{version}"
                at_version: object = second.repository.get(aggregate_id, version=version)
                assert at_version == restored
                forward = fold_onto(snapshot.mutate(None), events[version:])
                assert forward == folded
                checked.add((aggregate_id, version))
    return checked


# ---------------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------------


class ReplayMachine(RuleBasedStateMachine):
    #: None: each example's store is a SQLite file; else a fresh schema on this server.
    postgres_server: PostgresTarget | None = None

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="miljo-replay-")
        self.schema: PostgresTarget | None = None
        if self.postgres_server is None:
            self.location = resolve_store(Path(self.tmp.name) / "miljo.sqlite")
        else:
            self.schema = attrs.evolve(self.postgres_server, schema=fresh_schema_name())
            create_schema(self.schema, self.schema.schema)
            self.location = postgres_location(self.schema, Path(self.tmp.name) / "pg.keys")
        init_store(self.location)
        self.clock = FakeClock(T0)
        self.miljo: Miljo = open_store(
            self.location, clock=self.clock, ids=SequentialIds(), hasher=TestHasher()
        )
        self.trinn: list[int] = []
        self.classes: list[tuple[int, str]] = []
        self.students: list[UUID] = []
        self.observations: list[tuple[UUID, UUID]] = []  # (student, entry: original or correction)
        self.concerns: list[tuple[UUID, UUID]] = []
        self.consents: list[tuple[UUID, UUID]] = []
        self.referrals: list[tuple[UUID, UUID]] = []
        self.plans: list[tuple[UUID, UUID]] = []
        self.vedtak: list[UUID] = []
        self.members: list[str] = []
        self.assignments: list[UUID] = []
        self.meetings: list[UUID] = []
        self.items: list[tuple[UUID, UUID]] = []  # (meeting, item)
        self.decisions: list[tuple[UUID, UUID]] = []  # (meeting, decision)
        self.snapshots_taken: set[tuple[UUID, int]] = set()
        self.purged: dict[UUID, int] = {}  # stream -> its version when an erasure purged it

    # -- machinery -----------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return local_date(self.clock.now())

    def attempt(self, command: Callable[[], T]) -> T | None:
        """Run a facade command; a refusal must be a DomainError that wrote nothing."""
        before = self.miljo.event_count()
        refusal: DomainError | None = None
        try:
            result = command()
        except DomainError as error:
            refusal = error
        after = self.miljo.event_count()
        if refusal is not None:
            assert after == before, f"{type(refusal).__name__} refused but wrote {after - before}"
            event(f"refused: {type(refusal).__name__}")
            return None
        assert after > before, "an accepted command wrote nothing"
        event("accepted")
        return result

    def load(self, aggregate_id: UUID) -> object:
        return self.miljo.app.repository.get(aggregate_id)

    def vedtak_state(self, vedtak_id: UUID) -> Vedtak:
        found = self.load(vedtak_id)
        assert isinstance(found, Vedtak)
        return found

    def team_state(self) -> Team:
        found = self.load(team_id(SCHOOL))
        assert isinstance(found, Team)
        return found

    def known_ids(self) -> set[UUID]:
        return {school_id(SCHOOL), team_id(SCHOOL), *self.students, *self.vedtak, *self.meetings}

    # -- set-up and time -------------------------------------------------------------------------

    @initialize(
        first=st.integers(1, 11),
        span=st.integers(0, 2),
        letters=st.lists(st.sampled_from("abcæøå"), min_size=1, max_size=3, unique=True),
        members=st.lists(
            st.tuples(
                st.sampled_from(MEMBERS),
                st.sampled_from(("barnevernspedagog", "sosionom", "vernepleier", "assistent")),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda m: m[0],
        ),
        students=st.lists(st.tuples(st.sampled_from(NAMES), indexes), min_size=1, max_size=4),
        vedtak=st.lists(vedtak_kinds, max_size=2),
        meetings=st.lists(meeting_kinds, max_size=2),
        start_minutes=st.integers(0, 60 * 24 * 30),
    )
    def set_up_school(
        self,
        first: int,
        span: int,
        letters: list[str],
        members: list[tuple[str, str]],
        students: list[tuple[str, int]],
        vedtak: list[str],
        meetings: list[str],
        start_minutes: int,
    ) -> None:
        """A school with classes, a team with members and some students, so that the rules
        below find something to work on from the first step."""
        self.clock.advance(minutes=start_minutes)
        last = min(13, first + span)
        created = self.attempt(
            lambda: self.miljo.register_school(
                ADMIN, code=SCHOOL, name="Gjesdal skole", first_trinn=first, last_trinn=last
            )
        )
        assert created == school_id(SCHOOL)
        # the school transfers go to: a transfer needs a school registered in the store
        self.attempt(
            lambda: self.miljo.register_school(
                ADMIN, code="sola-skole", name="Sola skole", first_trinn=1, last_trinn=13
            )
        )
        self.trinn = list(range(first, last + 1))
        for n, letter in enumerate(letters):
            self.add_class(n, letter)
        self.attempt(lambda: self.miljo.form_team(COORDINATOR, school=SCHOOL, name="Miljøteamet"))
        for member, profession in members:
            self.add_member(member, profession, "85", -10)
        for n, (name, index) in enumerate(students):
            self.register_student(2000 + n, name, index, None)
        for n, kind in enumerate(vedtak):
            self.open_vedtak(n, kind)
        for kind in meetings:
            self.schedule_meeting(kind, 24)
        assert len(self.students) == len(students)
        assert len(self.members) == len(members)
        assert (len(self.vedtak), len(self.meetings)) == (len(vedtak), len(meetings))

    @rule(
        minutes=st.integers(1, 90)
        | st.integers(60 * 20, 60 * 24 * 3)
        | st.integers(60 * 24 * 7, 60 * 24 * 60)
    )
    def tick(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule(index=indexes, letter=st.sampled_from("abcdæøå"))
    def add_class(self, index: int, letter: str) -> None:
        trinn = pick(self.trinn, index)
        name = f"{trinn}{letter}"
        self.attempt(
            lambda: self.miljo.add_class(ADMIN, school=SCHOOL, trinn=trinn, class_name=name)
        )
        known = self.miljo.school(ADMIN, SCHOOL).classes
        self.classes = [(t, c) for c, t in known.items()]

    # -- students --------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.classes))
    @rule(
        number=st.integers(1000, 1040),
        name=st.sampled_from(NAMES),
        index=indexes,
        days_before=st.none() | st.integers(0, 30),
    )
    def register_student(self, number: int, name: str, index: int, days_before: int | None) -> None:
        trinn, class_name = pick(self.classes, index)
        registered_on = None if days_before is None else self.today - timedelta(days=days_before)
        student = self.attempt(
            lambda: self.miljo.register_student(
                ADMIN,
                school=SCHOOL,
                student_number=str(number),
                name=name,
                trinn=trinn,
                class_name=class_name,
                registered_on=registered_on,
            )
        )
        if student is not None:
            self.students.append(student)

    @precondition(lambda self: bool(self.students) and bool(self.classes))
    @rule(student=indexes, index=indexes, days_before=st.none() | st.integers(0, 10))
    def change_class(self, student: int, index: int, days_before: int | None) -> None:
        trinn, class_name = pick(self.classes, index)
        effective = None if days_before is None else self.today - timedelta(days=days_before)
        self.attempt(
            lambda: self.miljo.change_class(
                ADMIN,
                pick(self.students, student),
                trinn=trinn,
                class_name=class_name,
                effective_from=effective,
            )
        )

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, transfer=st.booleans(), days_before=st.integers(0, 5))
    def depart(self, student: int, transfer: bool, days_before: int) -> None:
        self.attempt(
            lambda: self.miljo.record_departure(
                ADMIN,
                pick(self.students, student),
                kind="transferred" if transfer else "left",
                to_school="sola-skole" if transfer else None,
                on=self.today - timedelta(days=days_before),
            )
        )

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, scope=st.sampled_from(RESTRICTION_SCOPES), lift=st.booleans())
    def restrict(self, student: int, scope: str, lift: bool) -> None:
        """Restrict (or lift) archival records: later reads need a reason, and the writes
        the restriction freezes are refused (writing nothing) until it is lifted."""
        command = self.miljo.lift_restriction if lift else self.miljo.restrict_records
        self.attempt(
            lambda: command(REKTOR, pick(self.students, student), scope=scope, reason="Sperring.")
        )

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, basis=st.sampled_from(ERASURE_BASES))
    def erase(self, student: int, basis: str) -> None:
        """Erase a student's personal data outside the archive: the erasable key is deleted
        and the case's snapshots purged, so the replay below meets erased fields (and newer
        fields under a new key generation)."""
        student_id = pick(self.students, student)
        deleted = self.attempt(
            lambda: self.miljo.erase_personal_data(REKTOR, student_id, basis=basis)
        )
        if deleted is None:
            return
        purged = {student_id, case_file_id(student_id), access_log_id(student_id)}
        try:
            case_file = self.load(case_file_id(student_id))
        except AggregateNotFoundError:
            case_file = None
        if isinstance(case_file, CaseFile):
            purged.update(case_file.linked())
        snapshots = self.miljo.app.snapshots
        assert snapshots is not None
        for stream in purged:
            assert list(snapshots.get(stream)) == [], f"snapshot of {stream} kept after erasure"
            self.purged[stream] = len(list(self.miljo.app.events.get(stream)))
        self.snapshots_taken = {(s, v) for s, v in self.snapshots_taken if s not in purged}

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, reason=st.none() | texts)
    def read_case(self, student: int, reason: str | None) -> None:
        def read() -> UUID:
            return self.miljo.student_case(
                AUDITOR, pick(self.students, student), reason=reason
            ).student_id

        self.attempt(read)

    # -- observations, concerns, consents, referrals, plans ----------------------------------------

    @precondition(lambda self: bool(self.students))
    @rule(
        student=indexes,
        actor=writers,
        arena=st.sampled_from(("classroom", "break", "sfo", "way_to_school", "home", "online")),
        categories=st.lists(
            st.sampled_from(("wellbeing", "social", "conflict", "bullying", "absence")),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        text=texts,
        minutes_ago=st.integers(0, 60 * 24 * 3),
        voice=st.none() | texts,
    )
    def observe(
        self,
        student: int,
        actor: Actor,
        arena: str,
        categories: list[str],
        text: str,
        minutes_ago: int,
        voice: str | None,
    ) -> None:
        student_id = pick(self.students, student)
        observed_at = self.clock.now() - timedelta(minutes=minutes_ago)
        entry = self.attempt(
            lambda: self.miljo.record_observation(
                actor,
                student_id,
                arena=arena,
                categories=categories,
                text=text,
                observed_at=observed_at,
                student_voice=voice,
            )
        )
        if entry is not None:
            self.observations.append((student_id, entry))

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, count=st.integers(5, 30))
    def observe_many(self, student: int, count: int) -> None:
        """Long student streams (past the snapshot interval) in few steps."""
        student_id = pick(self.students, student)
        for n in range(count):
            self.clock.advance(minutes=7)
            self.attempt(
                partial(
                    self.miljo.record_observation,
                    THERAPIST,
                    student_id,
                    arena="break",
                    categories=["social"],
                    text=f"Runde {n}",
                )
            )

    @precondition(lambda self: bool(self.observations))
    @rule(
        index=indexes,
        text=texts,
        reason=texts,
        minutes_ago=st.integers(0, 60 * 24),
    )
    def correct_observation(self, index: int, text: str, reason: str, minutes_ago: int) -> None:
        student_id, entry = pick(self.observations, index)
        correction = self.attempt(
            lambda: self.miljo.correct_observation(
                THERAPIST,
                student_id,
                corrects=entry,
                arena="classroom",
                categories=["wellbeing", "other"],
                text=text,
                observed_at=self.clock.now() - timedelta(minutes=minutes_ago),
                reason=reason,
            )
        )
        if correction is not None:  # correcting a correction is refused: kept to exercise that
            self.observations.append((student_id, correction))

    @precondition(lambda self: bool(self.students))
    @rule(student=indexes, actor=writers, summary=texts)
    def raise_concern(self, student: int, actor: Actor, summary: str) -> None:
        student_id = pick(self.students, student)
        concern = self.attempt(lambda: self.miljo.raise_concern(actor, student_id, summary=summary))
        if concern is not None:
            self.concerns.append((student_id, concern))

    @precondition(lambda self: bool(self.students))
    @rule(
        student=indexes,
        giver=st.sampled_from(("guardian", "guardian", "student")),
        scope=st.sampled_from(
            (
                ("body", "barnevern"),
                ("body", "ppt"),
                ("body", "bup"),
                ("meeting_kind", "arbeidslag"),
                ("meeting_kind", "ressursteam"),
            )
        ),
        start=st.integers(-30, 30),
        length=st.none() | st.integers(0, 365),
        note=st.none() | texts,
    )
    def record_consent(
        self,
        student: int,
        giver: str,
        scope: tuple[str, str],
        start: int,
        length: int | None,
        note: str | None,
    ) -> None:
        student_id = pick(self.students, student)
        valid_from = self.today + timedelta(days=start)
        valid_to = None if length is None else valid_from + timedelta(days=length)
        consent = self.attempt(
            lambda: self.miljo.record_consent(
                COORDINATOR,
                student_id,
                giver=giver,
                scope_kind=scope[0],
                scope=scope[1],
                valid_from=valid_from,
                valid_to=valid_to,
                note=note,
            )
        )
        if consent is not None:
            self.consents.append((student_id, consent))

    @precondition(lambda self: bool(self.consents))
    @rule(index=indexes, days_before=st.none() | st.integers(0, 3))
    def withdraw_consent(self, index: int, days_before: int | None) -> None:
        student_id, consent = pick(self.consents, index)
        on = None if days_before is None else self.today - timedelta(days=days_before)
        self.attempt(
            lambda: self.miljo.withdraw_consent(
                COORDINATOR, student_id, consent_id=consent, withdrawn_on=on
            )
        )

    @precondition(lambda self: bool(self.students))
    @rule(
        student=indexes,
        body=st.sampled_from(("ppt", "bup", "barnevern", "nav", "familievern")),
        reason=texts,
    )
    def make_referral(self, student: int, body: str, reason: str) -> None:
        student_id = pick(self.students, student)
        referral = self.attempt(
            lambda: self.miljo.make_referral(SPED_LEAD, student_id, body=body, reason=reason)
        )
        if referral is not None:
            self.referrals.append((student_id, referral))

    @precondition(lambda self: bool(self.referrals))
    @rule(
        index=indexes,
        status=st.sampled_from(
            ("acknowledged", "accepted", "rejected", "withdrawn", "closed", "sent")
        ),
    )
    def change_referral_status(self, index: int, status: str) -> None:
        student_id, referral = pick(self.referrals, index)
        self.attempt(
            lambda: self.miljo.change_referral_status(
                SPED_LEAD, student_id, referral_id=referral, status=status
            )
        )

    @precondition(lambda self: bool(self.students))
    @rule(
        student=indexes,
        problem=texts,
        measures=st.lists(texts, min_size=1, max_size=3),
        responsible=st.sampled_from(MEMBERS),
        days_ahead=st.integers(0, 60),
    )
    def create_plan(
        self, student: int, problem: str, measures: list[str], responsible: str, days_ahead: int
    ) -> None:
        student_id = pick(self.students, student)
        plan = self.attempt(
            lambda: self.miljo.create_aktivitetsplan(
                COORDINATOR,
                student_id,
                problem=problem,
                measures=measures,
                when="Hver skoledag",
                responsible=responsible,
                evaluation_date=self.today + timedelta(days=days_ahead),
            )
        )
        if plan is not None:
            self.plans.append((student_id, plan))

    @precondition(lambda self: bool(self.plans))
    @rule(index=indexes, assessment=texts, next_days=st.none() | st.integers(1, 60))
    def evaluate_plan(self, index: int, assessment: str, next_days: int | None) -> None:
        student_id, plan = pick(self.plans, index)
        following = None if next_days is None else self.today + timedelta(days=next_days)
        self.attempt(
            lambda: self.miljo.evaluate_aktivitetsplan(
                COORDINATOR,
                student_id,
                plan_id=plan,
                assessment=assessment,
                next_evaluation_date=following,
            )
        )

    @precondition(lambda self: bool(self.plans))
    @rule(index=indexes, reason=texts)
    def close_plan(self, index: int, reason: str) -> None:
        student_id, plan = pick(self.plans, index)
        self.attempt(
            lambda: self.miljo.close_aktivitetsplan(
                COORDINATOR, student_id, plan_id=plan, reason=reason
            )
        )

    # -- vedtak ------------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.students))
    @rule(
        student=indexes,
        kind=vedtak_kinds,
    )
    def open_vedtak(self, student: int, kind: str) -> None:
        vedtak = self.attempt(
            lambda: self.miljo.open_vedtak(SPED_LEAD, pick(self.students, student), kind=kind)
        )
        if vedtak is not None:
            self.vedtak.append(vedtak)

    @precondition(lambda self: bool(self.vedtak))
    @rule(
        index=indexes,
        follow=st.booleans(),
        hours=hours_per_year,
        length=st.integers(30, 300),
        minutes=week_minutes,
        steps=st.integers(1, 8),
    )
    def progress_vedtak(
        self,
        index: int,
        follow: bool,
        hours: HoursByCompetence,
        length: int,
        minutes: HoursByCompetence,
        steps: int,
    ) -> None:
        """Take one vedtak ``steps`` steps along its usual path (the random rules rarely get
        far): recommendation, decision, notice, appeal, resolution, then weekly deliveries."""
        vedtak_id = pick(self.vedtak, index)
        for _ in range(steps):
            self.clock.advance(hours=20)
            self._progress_vedtak(vedtak_id, follow, hours, length, minutes)

    def _progress_vedtak(
        self,
        vedtak_id: UUID,
        follow: bool,
        hours: HoursByCompetence,
        length: int,
        minutes: HoursByCompetence,
    ) -> None:
        state = self.vedtak_state(vedtak_id)
        miljo = self.miljo
        command: Callable[[], object]
        ito = state.kind is VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION
        unrecommended = state.decided_on is None and state.recommended_minutes is None
        if unrecommended and (ito or not follow):
            command = partial(
                miljo.record_recommendation,
                SPED_LEAD,
                vedtak_id,
                recommended_on=self.today,
                hours=hours,
                summary="PPT tilrår miljøterapeut.",
            )
        elif state.decided_on is None:
            granted, deviation = self._grant(state, follow, hours)
            command = partial(
                miljo.decide_vedtak,
                REKTOR,
                vedtak_id,
                hours=granted,
                organisation="Miljøterapeut i friminutt.",
                content="Tilrettelegging.",
                reasons="Behovet er dokumentert.",
                deviation_reason=deviation,
                valid_from=self.today,
                valid_to=self.today + timedelta(days=length),
            )
        elif state.notice_date is None:
            command = partial(miljo.send_vedtak_notice, REKTOR, vedtak_id)
        elif not state.appeals:
            command = partial(miljo.lodge_appeal, REKTOR, vedtak_id, grounds="For få timer.")
        elif state.appeal_open:
            command = partial(miljo.resolve_appeal, REKTOR, vedtak_id, outcome="upheld")
        else:
            start = state.valid_from or self.today
            week = iso_week_monday(start) + timedelta(weeks=len(state.deliveries))
            command = partial(
                miljo.record_delivery, COORDINATOR, vedtak_id, week_of=week, minutes=minutes
            )
        self.attempt(command)

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, hours=hours_per_year, days_before=st.integers(0, 5), summary=texts)
    def recommend(
        self, index: int, hours: HoursByCompetence, days_before: int, summary: str
    ) -> None:
        self.attempt(
            lambda: self.miljo.record_recommendation(
                SPED_LEAD,
                pick(self.vedtak, index),
                recommended_on=self.today - timedelta(days=days_before),
                hours=hours,
                summary=summary,
            )
        )

    def _grant(
        self, vedtak: Vedtak, follow: bool, hours: HoursByCompetence
    ) -> tuple[HoursByCompetence, str | None]:
        """Hours to grant and the deviation reason they need (None when they follow PPT)."""
        recommended = vedtak.recommended_minutes
        if follow and recommended is not None:
            return HoursByCompetence.from_dict(recommended), None
        if recommended is None or hours.to_dict() == recommended:
            return hours, None
        return hours, "Skolen dekker noe av behovet med trivselsledere."

    @precondition(lambda self: bool(self.vedtak))
    @rule(
        index=indexes,
        actor=deciders,
        follow=st.booleans(),
        hours=hours_per_year,
        start=st.integers(-10, 30),
        length=st.integers(0, 300),
    )
    def decide(
        self,
        index: int,
        actor: Actor,
        follow: bool,
        hours: HoursByCompetence,
        start: int,
        length: int,
    ) -> None:
        vedtak_id = pick(self.vedtak, index)
        granted, deviation = self._grant(self.vedtak_state(vedtak_id), follow, hours)
        valid_from = self.today + timedelta(days=start)
        self.attempt(
            lambda: self.miljo.decide_vedtak(
                actor,
                vedtak_id,
                hours=granted,
                organisation="Miljøterapeut i friminutt.",
                content="Tilrettelegging med vekt på sosial deltakelse.",
                reasons="Behovet er dokumentert i sakkyndig vurdering.",
                deviation_reason=deviation,
                valid_from=valid_from,
                valid_to=valid_from + timedelta(days=length),
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes)
    def send_notice(self, index: int) -> None:
        self.attempt(lambda: self.miljo.send_vedtak_notice(REKTOR, pick(self.vedtak, index)))

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, grounds=texts)
    def lodge_appeal(self, index: int, grounds: str) -> None:
        vedtak_id = pick(self.vedtak, index)
        deadline = self.vedtak_state(vedtak_id).appeal_deadline
        late = deadline is not None and self.today > deadline
        self.attempt(
            lambda: self.miljo.lodge_appeal(
                REKTOR,
                vedtak_id,
                grounds=grounds,
                late_reason="Brevet kom bort i posten." if late else None,
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(
        index=indexes,
        outcome=st.sampled_from(("upheld", "changed", "overturned", "dismissed")),
        note=st.just("") | texts,
    )
    def resolve_appeal(self, index: int, outcome: str, note: str) -> None:
        self.attempt(
            lambda: self.miljo.resolve_appeal(
                REKTOR, pick(self.vedtak, index), outcome=outcome, note=note
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(
        index=indexes,
        actor=deciders,
        follow=st.booleans(),
        hours=hours_per_year,
        length=st.integers(0, 200),
    )
    def amend(
        self, index: int, actor: Actor, follow: bool, hours: HoursByCompetence, length: int
    ) -> None:
        vedtak_id = pick(self.vedtak, index)
        state = self.vedtak_state(vedtak_id)
        granted, deviation = self._grant(state, follow, hours)
        base = max(self.today, state.valid_from or self.today)
        self.attempt(
            lambda: self.miljo.amend_vedtak(
                actor,
                vedtak_id,
                hours=granted,
                organisation="Spesialpedagog i liten gruppe.",
                content="Endret tilrettelegging.",
                reasons="Ny informasjon fra kontaktlærer.",
                deviation_reason=deviation,
                valid_to=base + timedelta(days=length),
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, week=st.integers(-1, 45), minutes=week_minutes)
    def record_delivery(self, index: int, week: int, minutes: HoursByCompetence) -> None:
        vedtak_id = pick(self.vedtak, index)
        start = self.vedtak_state(vedtak_id).valid_from or self.today
        week_of = iso_week_monday(start) + timedelta(weeks=week)
        self.attempt(
            lambda: self.miljo.record_delivery(
                COORDINATOR, vedtak_id, week_of=week_of, minutes=minutes
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, week=indexes, minutes=week_minutes, reason=texts)
    def correct_delivery(
        self, index: int, week: int, minutes: HoursByCompetence, reason: str
    ) -> None:
        vedtak_id = pick(self.vedtak, index)
        weeks = self.vedtak_state(vedtak_id).delivery_weeks or [iso_week_monday(self.today)]
        self.attempt(
            lambda: self.miljo.correct_delivery(
                COORDINATOR, vedtak_id, week_of=pick(weeks, week), minutes=minutes, reason=reason
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, actor=deciders)
    def revoke(self, index: int, actor: Actor) -> None:
        self.attempt(
            lambda: self.miljo.revoke_vedtak(
                actor, pick(self.vedtak, index), reasons="Behovet er ikke lenger til stede."
            )
        )

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes, on_valid_to=st.booleans())
    def record_expiry(self, index: int, on_valid_to: bool) -> None:
        vedtak_id = pick(self.vedtak, index)
        on = self.vedtak_state(vedtak_id).valid_to if on_valid_to else None
        self.attempt(lambda: self.miljo.record_vedtak_expiry(SPED_LEAD, vedtak_id, on=on))

    @precondition(lambda self: bool(self.vedtak))
    @rule(index=indexes)
    def read_vedtak(self, index: int) -> None:
        self.attempt(lambda: self.miljo.vedtak(REKTOR, pick(self.vedtak, index)).vedtak_id)

    # -- team ------------------------------------------------------------------------------------

    @rule(
        member=st.sampled_from(MEMBERS),
        profession=st.sampled_from(
            ("barnevernspedagog", "sosionom", "vernepleier", "miljoarbeider", "assistent")
        ),
        percent=st.sampled_from(("100", "85", "85.00", "42.5", "20")),
        days=st.integers(-20, 10),
    )
    def add_member(self, member: str, profession: str, percent: str, days: int) -> None:
        self.attempt(
            lambda: self.miljo.add_member(
                COORDINATOR,
                school=SCHOOL,
                member_id=member,
                profession=profession,
                position_percent=percent,
                joined_on=self.today + timedelta(days=days),
            )
        )
        self.members = list(self.team_state().member_records)

    @precondition(lambda self: bool(self.members))
    @rule(
        index=indexes, percent=st.sampled_from(("100", "60", "42.5", "10")), days=st.integers(0, 60)
    )
    def change_position(self, index: int, percent: str, days: int) -> None:
        self.attempt(
            lambda: self.miljo.change_position(
                COORDINATOR,
                school=SCHOOL,
                member_id=pick(self.members, index),
                position_percent=percent,
                effective_from=self.today + timedelta(days=days),
            )
        )

    @precondition(lambda self: bool(self.members))
    @rule(index=indexes)
    def appoint_coordinator(self, index: int) -> None:
        self.attempt(
            lambda: self.miljo.appoint_coordinator(
                COORDINATOR, school=SCHOOL, member_id=pick(self.members, index)
            )
        )

    @precondition(lambda self: bool(self.members))
    @rule(
        member=indexes,
        kind=st.sampled_from(("class", "trinn", "sfo", "school", "student")),
        goal=indexes,
        minutes=st.sampled_from((30, 60, 120, 300, 600, 1200)),
        start=st.integers(0, 60),
        length=st.none() | st.integers(0, 200),
    )
    def assign(
        self, member: int, kind: str, goal: int, minutes: int, start: int, length: int | None
    ) -> None:
        valid_from = self.today + timedelta(days=start)
        valid_to = None if length is None else valid_from + timedelta(days=length)
        fields: dict[str, Any] = {}
        if kind == "class" and self.classes:
            fields["trinn"], fields["class_name"] = pick(self.classes, goal)
        elif kind == "trinn":
            fields["trinn"] = pick(self.trinn, goal)
        elif kind == "student" and self.vedtak:
            vedtak = self.vedtak_state(pick(self.vedtak, goal))
            fields["student_id"], fields["vedtak_id"] = vedtak.student_id, vedtak.id
            if vedtak.valid_from is not None:
                valid_from = max(vedtak.valid_from, self.today)
                valid_to = vedtak.in_force_until
        assignment = self.attempt(
            lambda: self.miljo.assign(
                COORDINATOR,
                school=SCHOOL,
                member_id=pick(self.members, member),
                target_kind=kind,
                minutes_per_week=minutes,
                valid_from=valid_from,
                valid_to=valid_to,
                **fields,
            )
        )
        if assignment is not None:
            self.assignments.append(assignment)

    @precondition(lambda self: bool(self.assignments))
    @rule(
        index=indexes,
        days=st.integers(0, 100),
        reason=st.sampled_from(("behov dekket", "vedtak ended", "ny turnus")),
    )
    def end_assignment(self, index: int, days: int, reason: str) -> None:
        assignment_id = pick(self.assignments, index)
        start = self.team_state().assignment(assignment_id).valid_from
        self.attempt(
            lambda: self.miljo.end_assignment(
                COORDINATOR,
                school=SCHOOL,
                assignment_id=assignment_id,
                ended_on=start + timedelta(days=days),
                reason=reason,
            )
        )

    @precondition(lambda self: bool(self.assignments) and bool(self.members))
    @rule(index=indexes, member=indexes, days=st.integers(0, 100))
    def rotate(self, index: int, member: int, days: int) -> None:
        assignment_id = pick(self.assignments, index)
        start = self.team_state().assignment(assignment_id).valid_from
        rotated = self.attempt(
            lambda: self.miljo.rotate_assignment(
                COORDINATOR,
                school=SCHOOL,
                assignment_id=assignment_id,
                to_member_id=pick(self.members, member),
                on=start + timedelta(days=days),
            )
        )
        if rotated is not None:
            self.assignments.append(rotated)

    @precondition(lambda self: bool(self.members))
    @rule(index=indexes, days=st.integers(0, 120))
    def member_left(self, index: int, days: int) -> None:
        member = pick(self.members, index)
        joined = self.team_state().member_records[member].joined_on
        self.attempt(
            lambda: self.miljo.record_member_left(
                COORDINATOR, school=SCHOOL, member_id=member, left_on=joined + timedelta(days=days)
            )
        )

    # -- meetings --------------------------------------------------------------------------------

    @rule(
        kind=meeting_kinds,
        hours_ahead=st.integers(-48, 240),
    )
    def schedule_meeting(self, kind: str, hours_ahead: int) -> None:
        meeting = self.attempt(
            lambda: self.miljo.schedule_meeting(
                SPED_LEAD,
                school=SCHOOL,
                kind=kind,
                scheduled_at=self.clock.now() + timedelta(hours=hours_ahead),
            )
        )
        if meeting is not None:
            self.meetings.append(meeting)

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes, steps=st.integers(1, 8), text=texts)
    def progress_meeting(self, index: int, steps: int, text: str) -> None:
        """Take one meeting ``steps`` steps along its usual path: an item, a note, a decision
        with an action, held, minutes closed and amended, the action completed."""
        meeting_id = pick(self.meetings, index)
        for _ in range(steps):
            self.clock.advance(minutes=30)
            found = self.load(meeting_id)
            assert isinstance(found, Meeting)
            self._progress_meeting(found, text)

    def _progress_meeting(self, meeting: Meeting, text: str) -> None:
        miljo, meeting_id = self.miljo, meeting.id
        items = meeting.agenda()
        decisions = meeting.decisions()
        command: Callable[[], object]
        if not items:
            command = partial(
                miljo.add_agenda_item, SPED_LEAD, meeting_id, subject_kind="theme", title=text
            )
        elif not meeting.notes():
            command = partial(
                miljo.record_note, SPED_LEAD, meeting_id, item_id=items[0].item_id, text=text
            )
        elif not decisions:
            command = partial(
                miljo.record_decision,
                SPED_LEAD,
                meeting_id,
                item_id=items[-1].item_id,
                outcome="measure",
                text=text,
                responsible="mt-1",
                due=self.today + timedelta(days=14),
            )
        elif meeting.held_at is None:
            command = partial(miljo.record_meeting_held, SPED_LEAD, meeting_id)
        elif not meeting.minutes_closed:
            command = partial(miljo.close_minutes, SPED_LEAD, meeting_id)
        elif not meeting.amendments():
            command = partial(
                miljo.amend_minutes, SPED_LEAD, meeting_id, text=text, reason="Presisering."
            )
        else:
            open_actions = meeting.open_actions()
            if not open_actions:
                return
            command = partial(
                miljo.complete_action,
                COORDINATOR,
                meeting_id,
                decision_id=open_actions[0].decision_id,
            )
        result = self.attempt(command)
        if isinstance(result, UUID) and not items:
            self.items.append((meeting_id, result))
        elif isinstance(result, UUID) and not decisions:
            self.decisions.append((meeting_id, result))

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes, person=st.sampled_from(PERSONS), role=st.sampled_from(list(Role)))
    def add_participant(self, index: int, person: str, role: Role) -> None:
        self.attempt(
            lambda: self.miljo.add_participant(
                SPED_LEAD, pick(self.meetings, index), person_id=person, role=role.value
            )
        )

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes, body=st.sampled_from(("barnevern", "ppt", "bup", "psykisk_helse")))
    def add_external(self, index: int, body: str) -> None:
        self.attempt(
            lambda: self.miljo.add_external_participant(
                SPED_LEAD, pick(self.meetings, index), body=body
            )
        )

    @precondition(lambda self: bool(self.meetings))
    @rule(
        index=indexes,
        subject=st.sampled_from(("student", "anonymous", "class", "trinn", "theme")),
        goal=indexes,
        with_concern=st.booleans(),
        title=texts,
    )
    def add_item(self, index: int, subject: str, goal: int, with_concern: bool, title: str) -> None:
        meeting_id = pick(self.meetings, index)
        fields: dict[str, Any] = {}
        kind = subject
        if subject == "anonymous":
            kind, fields["anonymous"] = "student", True
        elif subject == "student" and self.students:
            student_id = pick(self.students, goal)
            fields["student_id"] = student_id
            concerns = [c for s, c in self.concerns if s == student_id]
            if with_concern and concerns:
                fields["concern_id"] = pick(concerns, goal)
        elif subject == "class" and self.classes:
            fields["trinn"], fields["class_name"] = pick(self.classes, goal)
        elif subject == "trinn":
            fields["trinn"] = pick(self.trinn, goal)
        item = self.attempt(
            lambda: self.miljo.add_agenda_item(
                SPED_LEAD, meeting_id, subject_kind=kind, title=title, **fields
            )
        )
        if item is not None:
            self.items.append((meeting_id, item))

    @precondition(lambda self: bool(self.items))
    @rule(index=indexes, text=texts)
    def record_note(self, index: int, text: str) -> None:
        meeting_id, item = pick(self.items, index)
        self.attempt(lambda: self.miljo.record_note(TEACHER, meeting_id, item_id=item, text=text))

    @precondition(lambda self: bool(self.items))
    @rule(
        index=indexes,
        outcome=st.sampled_from(("advice", "measure", "referral", "arbeidslag", "vedtak_process")),
        action=st.booleans(),
        due_days=st.integers(0, 30),
        text=texts,
    )
    def record_decision(
        self, index: int, outcome: str, action: bool, due_days: int, text: str
    ) -> None:
        meeting_id, item = pick(self.items, index)
        decision = self.attempt(
            lambda: self.miljo.record_decision(
                SPED_LEAD,
                meeting_id,
                item_id=item,
                outcome=outcome,
                text=text,
                responsible="mt-1" if action else None,
                due=self.today + timedelta(days=due_days) if action else None,
            )
        )
        if decision is not None:
            self.decisions.append((meeting_id, decision))

    @precondition(lambda self: bool(self.decisions))
    @rule(index=indexes)
    def complete_action(self, index: int) -> None:
        meeting_id, decision = pick(self.decisions, index)
        self.attempt(
            lambda: self.miljo.complete_action(COORDINATOR, meeting_id, decision_id=decision)
        )

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes, minutes_ago=st.none() | st.integers(0, 600))
    def held(self, index: int, minutes_ago: int | None) -> None:
        held_at = None if minutes_ago is None else self.clock.now() - timedelta(minutes=minutes_ago)
        self.attempt(
            lambda: self.miljo.record_meeting_held(
                SPED_LEAD, pick(self.meetings, index), held_at=held_at
            )
        )

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes)
    def close_minutes(self, index: int) -> None:
        self.attempt(lambda: self.miljo.close_minutes(SPED_LEAD, pick(self.meetings, index)))

    @precondition(lambda self: bool(self.items))
    @rule(index=indexes, on_item=st.booleans(), text=texts, reason=texts)
    def amend_minutes(self, index: int, on_item: bool, text: str, reason: str) -> None:
        meeting_id, item = pick(self.items, index)
        self.attempt(
            lambda: self.miljo.amend_minutes(
                SPED_LEAD, meeting_id, text=text, reason=reason, item_id=item if on_item else None
            )
        )

    @precondition(lambda self: bool(self.meetings))
    @rule(index=indexes, reason=texts)
    def cancel_meeting(self, index: int, reason: str) -> None:
        self.attempt(
            lambda: self.miljo.cancel_meeting(SPED_LEAD, pick(self.meetings, index), reason=reason)
        )

    # -- explicit snapshots ----------------------------------------------------------------------

    @rule(index=indexes, at=indexes)
    def take_snapshot(self, index: int, at: int) -> None:
        """Snapshot a random stream at a random version; it must equal the fold to there."""
        ids = sorted(self.known_ids() | self._derived_ids(), key=str)
        aggregate_id = pick(ids, index)
        app = self.miljo.app
        events = list(app.events.get(aggregate_id))
        if not events:
            return
        version = 1 + at % len(events)
        snapshots = app.snapshots
        assert snapshots is not None
        if version in {s.originator_version for s in snapshots.get(aggregate_id)}:
            return
        app.take_snapshot(aggregate_id, version=version)
        (snapshot,) = snapshots.get(aggregate_id, lte=version, desc=True, limit=1)
        assert isinstance(snapshot, Snapshot)
        assert snapshot.originator_version == version
        assert snapshot.mutate(None) == replay(events[:version])
        self.snapshots_taken.add((aggregate_id, version))
        event("explicit snapshot")

    def _derived_ids(self) -> set[UUID]:
        return {f(s) for s in self.students for f in (case_file_id, access_log_id)}

    # -- the property ----------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            stored = set(stream_ids(self.miljo.app))
            assert self.known_ids() <= stored
            checked = check_replay(
                self.miljo.app,
                self.location,
                self.clock.now(),
                purged=self.purged,
                explicit=self.snapshots_taken,
            )
            # an explicit snapshot stays unless a later one of its stream pruned it (only the
            # newest and ladder versions are kept, see domain.application.SNAPSHOT_LADDER):
            # every stream keeps a snapshot at least as new as its newest explicit one
            newest: dict[UUID, int] = {}
            for stream, version in self.snapshots_taken:
                newest[stream] = max(version, newest.get(stream, 0))
            for stream, version in newest.items():
                assert any(s == stream and w >= version for s, w in checked), stream
        finally:
            self.miljo.close()
            if self.schema is not None:
                drop_schema(self.schema, self.schema.schema)
            self.tmp.cleanup()


#: Examples (stores) per backend: each PostgreSQL example creates and drops a schema and is
#: about three times slower, so it runs half as many (docs/reliability.md).
REPLAY_EXAMPLES: Final = {"sqlite": 30, "postgres": 15}


def test_replay_from_a_new_store_equals_what_was_written(
    backend: str, request: pytest.FixtureRequest
) -> None:
    machine = ReplayMachine
    if backend == "postgres":

        class PostgresReplayMachine(ReplayMachine):
            postgres_server = request.getfixturevalue("postgres_target")

        machine = PostgresReplayMachine
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=REPLAY_EXAMPLES[backend],
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# ---------------------------------------------------------------------------------------------
# Long streams: every kind past its production snapshot interval
# ---------------------------------------------------------------------------------------------


def test_long_streams_snapshot_automatically(store_location: StoreLocation) -> None:
    """Each kind is created through the facade, then taken past its snapshot interval by
    domain commands saved in one go (one transaction, like a long-lived stream's history)."""
    location = store_location
    clock = FakeClock(T0)
    ids = SequentialIds(start=10**6)
    with open_store(location, clock=clock, ids=SequentialIds(), hasher=TestHasher()) as miljo:
        app = miljo.app
        miljo.register_school(
            ADMIN, code=SCHOOL, name="Gjesdal ungdomsskole", first_trinn=8, last_trinn=10
        )
        miljo.add_class(ADMIN, school=SCHOOL, trinn=8, class_name="8c")
        student = miljo.register_student(
            ADMIN,
            school=SCHOOL,
            student_number="1001",
            name="Sunniva Prøvedal",
            trinn=8,
            class_name="8c",
        )
        miljo.student_case(AUDITOR, student, reason="Tilsyn")
        vedtak = miljo.open_vedtak(SPED_LEAD, student, kind="personal_assistance")
        miljo.decide_vedtak(
            REKTOR,
            vedtak,
            hours=HoursByCompetence.from_hours(assistant=76),
            organisation="Assistent i friminutt.",
            content="Personlig assistanse.",
            reasons="Behovet er dokumentert.",
            valid_from=date(2024, 8, 19),
            valid_to=date(2025, 6, 20),
        )
        miljo.form_team(COORDINATOR, school=SCHOOL, name="Miljøteamet")
        miljo.add_member(
            COORDINATOR,
            school=SCHOOL,
            member_id="mt-1",
            profession="vernepleier",
            position_percent=100,
            joined_on=date(2024, 8, 1),
        )
        meeting = miljo.schedule_meeting(
            SPED_LEAD, school=SCHOOL, kind="ressursteam", scheduled_at=clock.now()
        )
        item = miljo.add_agenda_item(SPED_LEAD, meeting, subject_kind="theme", title="Trivsel")
        kinds = {
            "School": school_id(SCHOOL),
            "Student": student,
            "AccessLog": access_log_id(student),
            "Vedtak": vedtak,
            "Team": team_id(SCHOOL),
            "Meeting": meeting,
            "CaseFile": case_file_id(student),
        }

        def extend(name: str, act: Callable[[Any, int, datetime], object]) -> None:
            aggregate: object = app.repository.get(kinds[name])
            assert isinstance(aggregate, MiljoAggregate)
            n = 0
            while aggregate.version < 2 * SNAPSHOT_INTERVALS[type(aggregate)] + 3:
                act(aggregate, n, clock.advance(minutes=1))
                n += 1
            app.save(aggregate)

        extend(
            "School",
            lambda a, n, at: a.add_class(trinn=9, class_name=f"9-{n}", actor=ADMIN, at=at),
        )
        extend(
            "Student",
            lambda a, n, at: a.record_observation(
                observation_id=ids.new_id(),
                arena="break",
                categories=["social"],
                text=f"Runde {n}",
                observed_at=at,
                student_voice=None,
                actor=THERAPIST,
                at=at,
            ),
        )
        extend(
            "AccessLog",
            lambda a, n, at: a.record_read(what="case", reason=f"Tilsyn {n}", actor=AUDITOR, at=at),
        )
        monday = date(2024, 8, 19)
        extend(
            "Vedtak",
            lambda a, n, at: (
                a.record_delivery(
                    week_of=monday + timedelta(weeks=n),
                    minutes=HoursByCompetence(assistant=120),
                    actor=COORDINATOR,
                    at=at,
                )
                if n < 40
                else a.correct_delivery(
                    week_of=monday + timedelta(weeks=(n - 40) % 40),
                    minutes=HoursByCompetence(assistant=n),
                    reason="Sykdom",
                    actor=COORDINATOR,
                    at=at,
                )
            ),
        )
        extend(
            "Team",
            lambda a, n, at: a.change_position(
                member_id="mt-1",
                position_percent=Decimal(100 - n % 2 * 10),
                effective_from=date(2024, 9, 2) + timedelta(days=n),
                actor=COORDINATOR,
                at=at,
            ),
        )
        extend(
            "Meeting",
            lambda a, n, at: a.record_note(
                item_id=item,
                text=f"Innspill {n}",
                consent_lookup=no_external_body,
                actor=TEACHER,
                at=at,
            ),
        )
        extend(
            "CaseFile",
            lambda a, n, at: a.link(stream_id=ids.new_id(), kind="meeting", actor=SPED_LEAD, at=at),
        )

        snapshots = app.snapshots
        assert snapshots is not None
        for name, aggregate_id in kinds.items():
            versions = [s.originator_version for s in snapshots.get(aggregate_id)]
            interval = SNAPSHOT_INTERVALS[_kind(name)]
            # the newest snapshot is kept; older ones only on the ladder (10 intervals)
            assert versions == [2 * interval], f"automatic snapshots of the {name}"
        checked = check_replay(app, location, clock.now())
        assert {stream for stream, _ in checked} == set(kinds.values())
        assert len(checked) == len(kinds)  # one kept snapshot per stream


def _kind(name: str) -> type[Any]:
    (found,) = [kind for kind in SNAPSHOT_INTERVALS if kind.__name__ == name]
    return found
