"""The embedding API: one typed facade over the whole core.

Every method takes the acting person first and is checked against the access policy
(domain/policy.py): the school scope of the call (its school, its student's or its meeting's),
then the role matrix. Commands load the aggregates they need, call one command on them, save
every resulting event in one transaction and return the new id (if any). Queries return attrs
value objects, never library objects. A command that collides with a concurrent writer is
re-run from a fresh load up to ``max_attempts`` times, then raised as
:class:`~domain.errors.ConcurrencyConflict`. A refused command writes nothing.

Obtain an instance from the composition root (``adapters.bootstrap.open_store``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar
from uuid import UUID

import attrs
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.application import MiljoApplication
from domain.base import MiljoAggregate
from domain.casefile import AccessEntry, AccessLog, CaseFile, access_log_id, case_file_id
from domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidValue,
    NotFound,
    StudentNotActive,
    UnknownEntry,
    VedtakRequired,
)
from domain.legal import LegalReferences
from domain.meeting import (
    ActionView,
    AgendaItemView,
    AmendmentView,
    DecisionView,
    Meeting,
    NoteView,
    Participant,
)
from domain.overview import Overview, compute_overview
from domain.policy import (
    FACADE_OPERATIONS,
    POLICY,
    WRITE_OPERATIONS,
    AccessRequest,
    Decision,
    Grant,
    Relation,
    decide,
    denied,
    is_school_bound,
    restriction_scopes,
    scope_denied,
)
from domain.ports import Clock, CountsEvents, IdFactory, KeyedHasher, Protection, ViewStore
from domain.school import School, school_id
from domain.student import (
    Aktivitetsplan,
    Concern,
    Consent,
    ObservationView,
    Referral,
    Student,
    check_student_number,
)
from domain.team import AssignmentView, MemberView, Team, team_id
from domain.values import (
    Actor,
    ExternalBody,
    HoursByCompetence,
    MeetingKind,
    check_position_percent,
    check_school_code,
    check_trinn,
    local_date,
    require_aware,
)
from domain.vedtak import Vedtak, VedtakKind, VedtakStatus

T = TypeVar("T")
A = TypeVar("A", bound=MiljoAggregate)
P = ParamSpec("P")

DEFAULT_MAX_ATTEMPTS = 5


# ---------------------------------------------------------------------------------------------
# Query results
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class HistoryEntry:
    """One event in a student's auditable history."""

    position: int  # in the store's total order
    stream_id: UUID
    version: int
    event_type: str
    recorded_at: datetime
    effective: str  # ISO date or instant: observed, decided, held, valid from
    actor_id: str
    actor_role: str
    summary: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            position=int(row["position"]),
            stream_id=UUID(row["stream_id"]),
            version=int(row["version"]),
            event_type=str(row["event_type"]),
            recorded_at=datetime.fromisoformat(row["recorded_at"]),
            effective=str(row["effective"]),
            actor_id=str(row["actor_id"]),
            actor_role=str(row["actor_role"]),
            summary=str(row["summary"]),
        )

    def export_record(self, event: object) -> dict[str, object]:
        """The documented export line: index fields plus the event's full payload."""
        payload = {
            k: _jsonable(v)
            for k, v in vars(event).items()
            if k not in ("originator_id", "originator_version", "timestamp")
        }
        return {
            "position": self.position,
            "stream_id": str(self.stream_id),
            "version": self.version,
            "type": self.event_type,
            "topic": getattr(event, "TOPIC", ""),
            "class_version": getattr(event, "class_version", 1),
            "recorded_at": self.recorded_at.isoformat(),
            "effective": self.effective,
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "summary": self.summary,
            "payload": payload,
        }


def _jsonable(value: object) -> object:
    """Plain JSON values: ids, dates and decimals as strings; lists and dicts recursively."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


@attrs.frozen
class SchoolView:
    school_id: UUID
    code: str
    name: str
    first_trinn: int
    last_trinn: int
    classes: dict[str, int]  # class name -> trinn
    active_students: int


@attrs.frozen
class StudentSummary:
    """What may be shown about a student without opening the case (no name, no number)."""

    student_id: UUID
    school_code: str
    trinn: int
    class_name: str
    is_active: bool


@attrs.frozen(repr=False)
class StudentCase:
    """A student's case as read by an authorised person (the read is logged)."""

    student_id: UUID
    school_code: str
    student_number: str
    name: str
    trinn: int
    class_name: str
    registered_on: date
    is_active: bool
    observations: list[ObservationView]
    concerns: list[Concern]
    consents: list[Consent]
    referrals: list[Referral]
    plans: list[Aktivitetsplan]
    vedtak_ids: list[UUID]
    meeting_ids: list[UUID]
    version: int

    def __repr__(self) -> str:
        return f"StudentCase(student_id={self.student_id}, version={self.version})"


@attrs.frozen
class VedtakView:
    vedtak_id: UUID
    student_id: UUID
    school_code: str
    kind: VedtakKind
    legal_reference: str
    status: VedtakStatus
    recommendation: HoursByCompetence | None
    granted: HoursByCompetence | None
    deviates: bool
    valid_from: date | None
    valid_to: date | None
    in_force_until: date | None
    notice_date: date | None
    appeal_deadline: date | None
    appeal_open: bool
    delivered: HoursByCompetence
    version: int


@attrs.frozen
class TeamView:
    team_id: UUID
    school_code: str
    name: str
    coordinator_id: str | None
    members: list[MemberView]
    assignments: list[AssignmentView]  # active on ``on``
    on: date


@attrs.frozen(repr=False)
class MeetingView:
    meeting_id: UUID
    school_code: str
    kind: MeetingKind
    scheduled_at: datetime
    held_at: datetime | None
    minutes_closed: bool
    cancelled: bool
    participants: list[Participant]
    external_bodies: list[ExternalBody]
    agenda: list[AgendaItemView]
    notes: list[NoteView]
    decisions: list[DecisionView]
    amendments: list[AmendmentView]
    open_actions: list[ActionView]
    version: int

    def __repr__(self) -> str:
        return f"MeetingView(meeting_id={self.meeting_id}, kind={self.kind.value})"


# ---------------------------------------------------------------------------------------------
# The facade
# ---------------------------------------------------------------------------------------------


def _exclusive(method: Callable[Concatenate[Miljo, P], T]) -> Callable[Concatenate[Miljo, P], T]:
    """Run a facade method holding the repository's lock: commands change cached aggregates
    in place (no copies, docs/adr/0013-command-path-cache.md), so no other thread of this
    process may read or change one at the same time."""

    @functools.wraps(method)
    def exclusive(self: Miljo, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.app.repository.scope():
            outer, self._authorized = self._authorized, None
            try:
                return method(self, *args, **kwargs)
            finally:
                self._authorized = outer

    return exclusive


class Miljo:
    """The typed embedding API of miljo. See README.md for an example."""

    def __init__(
        self,
        app: MiljoApplication,
        *,
        clock: Clock,
        ids: IdFactory,
        hasher: KeyedHasher,
        legal: LegalReferences,
        views: ViewStore,
        protection: Protection,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.app = app
        self.views = views
        self.protection = protection
        self.clock = clock
        self.ids = ids
        self.hasher = hasher
        self.legal = legal
        self.max_attempts = max_attempts
        #: Aggregates loaded by the command running now (:meth:`_attempt`), else None.
        self._loaded: list[MiljoAggregate] | None = None
        #: The running facade call's last access check of a write, to make again before a
        #: retry (:meth:`_run`): the store has changed, and with it perhaps the answer.
        self._authorized: Callable[[], object] | None = None

    def close(self) -> None:
        self.views.close()
        self.app.close()

    def __enter__(self) -> Miljo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- machinery -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return require_aware(self.clock.now(), "clock time")

    def _today(self, at: datetime) -> date:
        return local_date(at)

    def _load(self, aggregate_id: UUID) -> object:
        """The cached aggregate itself (no copy): the caller holds the repository's lock
        (:func:`_exclusive`), and a command that fails evicts what it loaded (:meth:`_run`).
        Queries read it and hand out only values built from it."""
        aggregate: object = self.app.repository.get(aggregate_id, deepcopy_from_cache=False)
        if self._loaded is not None and isinstance(aggregate, MiljoAggregate):
            self._loaded.append(aggregate)
        return aggregate

    def _get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate = self._load(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(what, aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFound(what, aggregate_id)
        return aggregate

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            aggregate = self._load(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _save(self, *aggregates: MiljoAggregate | None) -> None:
        self.app.save(*aggregates)

    def _run(self, what: str, command: Callable[[datetime], T]) -> T:
        """Run ``command`` (load, decide, save) with bounded retries on write conflicts."""
        repository = self.app.repository
        with repository.scope():
            for _retry in range(self.max_attempts - 1):
                try:
                    return self._attempt(command)
                except IntegrityError:
                    # Another writer got there first: look at the store again (the write
                    # watch, the keyring), check access again (the other writer may have
                    # restricted the record, or ended an assignment), reload and decide again.
                    repository.refresh()
                    if self._authorized is not None:
                        self._authorized()
                    continue
            try:
                return self._attempt(command)
            except IntegrityError:
                raise ConcurrencyConflict(what, self.max_attempts) from None

    def _attempt(self, command: Callable[[datetime], T]) -> T:
        """One try of a command on cached aggregates. If it fails for any reason before its
        save completed (a refused rule, a conflict, a full disk, a bug), every aggregate it
        loaded may hold changes the store does not: they leave the cache, and the next
        command loads them from the store. So does one it changed but did not save."""
        outer, self._loaded = self._loaded, []
        loaded = self._loaded
        try:
            result = command(self._now())
        except BaseException:
            self.app.repository.evict(a.id for a in loaded)
            raise
        finally:
            self._loaded = outer
            if outer is not None:
                outer.extend(loaded)
        unsaved = [a.id for a in loaded if a.pending_events]
        if unsaved:
            self.app.repository.evict(unsaved)
        return result

    # -- access policy (domain.policy) ----------------------------------------------------------

    def _authorize(
        self,
        actor: Actor,
        method: str,
        *,
        school: str | None = None,
        student_id: UUID | None = None,
        meeting_id: UUID | None = None,
        observation_id: UUID | None = None,
        reason: str | None = None,
        restricted: bool = False,
    ) -> Decision:
        """Apply the school scope, then the role matrix, to one call; raise AccessDenied when
        either refuses. The call's schools are ``school`` (the method's explicit school) and
        the schools of ``student_id`` and ``meeting_id`` (a vedtak's caller passes its
        student): every one must be in the actor's scope. An unknown student or meeting is
        NotFound, as it would be for the command itself.

        Restricted records: a read states ``restricted`` itself (which records it shows); a
        write about ``student_id`` is restricted when the student has a restriction of one of
        the scopes :func:`~domain.policy.restriction_scopes` names for the operation.
        ``observation_id``: the observation a correction concerns (its author's relation)."""
        operation = FACADE_OPERATIONS[method]
        if operation in WRITE_OPERATIONS:
            self._authorized = functools.partial(
                self._authorize,
                actor,
                method,
                school=school,
                student_id=student_id,
                meeting_id=meeting_id,
                observation_id=observation_id,
                reason=reason,
                restricted=restricted,
            )
        if is_school_bound(actor.role):
            refusal = scope_denied(
                actor, operation, self._schools_of(school, student_id, meeting_id)
            )
            if refusal is not None:
                raise refusal
        if operation in WRITE_OPERATIONS and student_id is not None:
            scopes = restriction_scopes(operation)
            student = self._find(Student, student_id) if scopes else None
            # An unknown student is the command's own NotFound, after the policy has spoken.
            if student is not None and self._restricted(student, *scopes):
                restricted = True
        relation = Relation.NONE
        if POLICY[operation][actor.role] is Grant.NEED_TO_KNOW:
            relation = self._relation(actor, student_id, meeting_id, observation_id)
        request = AccessRequest(
            actor=actor,
            operation=operation,
            student_id=student_id,
            relation=relation,
            reason=reason,
            restricted=restricted,
        )
        decision = decide(request)
        if not decision.allowed:
            raise denied(request)
        return decision

    def _schools_of(
        self, school: str | None, student_id: UUID | None, meeting_id: UUID | None
    ) -> set[str]:
        """The schools a call touches (for the scope check of a school-bound actor)."""
        schools: set[str] = set()
        if school is not None:
            schools.add(check_school_code(school))
        if student_id is not None:
            schools.add(self._student(student_id).school_code)
        if meeting_id is not None:
            schools.add(self._meeting(meeting_id).school_code)
        return schools

    def _relation(
        self,
        actor: Actor,
        student_id: UUID | None,
        meeting_id: UUID | None,
        observation_id: UUID | None = None,
    ) -> Relation:
        """How the actor is tied to the student (or meeting): need-to-know. Failing a tie to
        the student, the author of ``observation_id`` is its AUTHOR, which the policy counts
        only for correcting that observation (policy.NEED_TO_KNOW_RELATIONS)."""
        person = actor.person_id
        if student_id is None:
            # A meeting-level step: participants and those responsible for its actions.
            meeting = self._find(Meeting, meeting_id) if meeting_id is not None else None
            if meeting is not None and (
                any(p.person_id == person for p in meeting.participants())
                or any(a.responsible == person for a in meeting.open_actions())
            ):
                return Relation.NAMED
            return Relation.NONE
        # A step about one student (also inside a meeting): the relation to that student.
        student = self._find(Student, student_id)
        if student is None:
            return Relation.NONE
        team = self._find(Team, team_id(student.school_code))
        today = self._today(self._now())
        placement = student.placement_on(today)
        if team is not None and placement is not None:
            for assignment in team.active_assignments(today):
                if assignment.member_id != person:
                    continue
                if assignment.student_id == student_id:
                    return Relation.ASSIGNED
                kind = assignment.target_kind.value
                if kind == "class" and (assignment.trinn, assignment.class_name) == (
                    placement.trinn,
                    placement.class_name,
                ):
                    return Relation.ASSIGNED
                if kind == "trinn" and assignment.trinn == placement.trinn:
                    return Relation.ASSIGNED
        if any(plan.responsible == person for plan in student.plans() if plan.is_open):
            return Relation.NAMED
        case = self._find(CaseFile, case_file_id(student_id))
        for linked in case.linked("meeting") if case else []:
            meeting = self._find(Meeting, linked)
            if meeting is None or student_id not in meeting.named_students():
                continue
            if any(p.person_id == person for p in meeting.participants()) or any(
                a.responsible == person and a.student_id == student_id
                for a in meeting.open_actions()
            ):
                return Relation.NAMED
        if observation_id is not None:
            entry = student.observation_entries.get(str(observation_id))
            if entry is not None and entry.author_id == person:
                return Relation.AUTHOR
        return Relation.NONE

    @staticmethod
    def _restricted(student: Student, *scopes: str) -> bool:
        return any(student.is_restricted(scope) for scope in scopes)

    def _school(self, code: str) -> School:
        school = self._find(School, school_id(check_school_code(code)))
        if school is None:
            raise NotFound("school", code)
        return school

    def _student(self, student_id: UUID) -> Student:
        return self._get(Student, student_id, "student")

    def _vedtak(self, vedtak_id: UUID) -> Vedtak:
        return self._get(Vedtak, vedtak_id, "vedtak")

    def _team(self, school: str) -> Team:
        team = self._find(Team, team_id(check_school_code(school)))
        if team is None:
            raise NotFound("team of school", school)
        return team

    def _meeting(self, meeting_id: UUID) -> Meeting:
        return self._get(Meeting, meeting_id, "meeting")

    def _case_file(self, student_id: UUID, actor: Actor, at: datetime) -> CaseFile:
        case = self._find(CaseFile, case_file_id(student_id))
        if case is None:
            case = CaseFile.open(student_id=student_id, actor=actor, at=at)
        return case

    def _log_read(
        self,
        actor: Actor,
        student_id: UUID,
        what: str,
        reason: str | None,
        decision: Decision | None = None,
    ) -> None:
        """Append the read to the student's access log (before anything is returned)."""
        break_glass = decision is not None and decision.break_glass

        def command(at: datetime) -> None:
            log = self._find(AccessLog, access_log_id(student_id))
            if log is None:
                log = AccessLog.start(student_id=student_id, actor=actor, at=at)
            log.record_read(what=what, reason=reason, break_glass=break_glass, actor=actor, at=at)
            self._save(log)

        self._run("log case read", command)

    def _number_key(self, school: str, student_number: str) -> str:
        return self.hasher.digest(f"student-number:{school}", check_student_number(student_number))

    # -- schools ---------------------------------------------------------------------------------

    @_exclusive
    def register_school(
        self, actor: Actor, *, code: str, name: str, first_trinn: int, last_trinn: int
    ) -> UUID:
        self._authorize(actor, "register_school", school=code)

        def command(at: datetime) -> UUID:
            if self._find(School, school_id(check_school_code(code))) is not None:
                raise AlreadyExists(f"school {code} already exists")
            school = School.register(
                code=code,
                name=name,
                first_trinn=first_trinn,
                last_trinn=last_trinn,
                actor=actor,
                at=at,
            )
            self._save(school)
            return school.id

        return self._run("register school", command)

    @_exclusive
    def add_class(self, actor: Actor, *, school: str, trinn: int, class_name: str) -> None:
        self._authorize(actor, "add_class", school=school)

        def command(at: datetime) -> None:
            aggregate = self._school(school)
            aggregate.add_class(trinn=trinn, class_name=class_name, actor=actor, at=at)
            self._save(aggregate)

        self._run("add class", command)

    @_exclusive
    def school(self, actor: Actor, code: str) -> SchoolView:
        self._authorize(actor, "school", school=code)
        aggregate = self._school(code)
        return SchoolView(
            school_id=aggregate.id,
            code=aggregate.code,
            name=aggregate.name,
            first_trinn=aggregate.first_trinn,
            last_trinn=aggregate.last_trinn,
            classes=dict(aggregate.classes),
            active_students=len(aggregate.active_students),
        )

    @_exclusive
    def students_of(self, actor: Actor, school: str) -> list[UUID]:
        """Ids of the school's active students (no personal data)."""
        self._authorize(actor, "students_of", school=school)
        return list(self._school(school).active_students)

    # -- students --------------------------------------------------------------------------------

    @_exclusive
    def register_student(
        self,
        actor: Actor,
        *,
        school: str,
        student_number: str,
        name: str,
        trinn: int,
        class_name: str,
        registered_on: date | None = None,
    ) -> UUID:
        """Register a student at a school; the number is held only as a keyed hash."""
        self._authorize(actor, "register_student", school=school)
        student_id = self.ids.new_id()

        def command(at: datetime) -> UUID:
            aggregate = self._school(school)
            aggregate.check_class(trinn, class_name)
            key = self._number_key(school, student_number)
            aggregate.enrol(student_id=student_id, number_key=key, actor=actor, at=at)
            student = Student.register(
                student_id=student_id,
                school_code=school,
                student_number=student_number,
                name=name,
                trinn=trinn,
                class_name=class_name,
                registered_on=registered_on or self._today(at),
                actor=actor,
                at=at,
            )
            self._save(student, aggregate)
            return student_id

        return self._run("register student", command)

    @_exclusive
    def find_student(self, actor: Actor, *, school: str, student_number: str) -> UUID:
        """Resolve school + student number to the student's id (NotFound if unknown)."""
        self._authorize(actor, "find_student", school=school)
        found = self._school(school).student_by_key(self._number_key(school, student_number))
        if found is None:
            raise NotFound("student", f"number at school {school}")
        return found

    @_exclusive
    def student_summary(self, actor: Actor, student_id: UUID) -> StudentSummary:
        self._authorize(actor, "student_summary", student_id=student_id)
        student = self._student(student_id)
        placement = student.class_on(self._today(self._now()))
        return StudentSummary(
            student_id=student.id,
            school_code=student.school_code,
            trinn=placement.trinn,
            class_name=placement.class_name,
            is_active=student.is_active,
        )

    @_exclusive
    def student_case(
        self, actor: Actor, student_id: UUID, *, reason: str | None = None
    ) -> StudentCase:
        """Open a student's case. The read is recorded in the student's access log; a case
        with restricted records (aktivitetsplan or the whole case) needs a permitted role
        and a stated reason."""
        student = self._student(student_id)
        decision = self._authorize(
            actor,
            "student_case",
            student_id=student_id,
            reason=reason,
            restricted=self._restricted(student, "aktivitetsplan", "case"),
        )
        case = self._find(CaseFile, case_file_id(student_id))
        self._log_read(actor, student_id, "case", reason, decision)
        return _student_case(student, case, self._today(self._now()))

    @_exclusive
    def access_log(self, actor: Actor, student_id: UUID) -> list[AccessEntry]:
        """Reads of a student's case (innsynslogg): when, who, role, what, why, and whether
        it was a break-glass read. For the privacy officer and the person concerned."""
        self._student(student_id)
        self._authorize(actor, "access_log", student_id=student_id)
        return [
            AccessEntry(
                read_at=event.timestamp,
                reader_id=event.actor_id,
                reader_role=event.actor_role,
                what=event.what,
                reason=event.reason,
                break_glass=bool(event.break_glass),
            )
            for event in self.app.events.get(access_log_id(student_id))
            if isinstance(event, AccessLog.CaseRead)
        ]

    def _student_command(
        self, actor: Actor, student_id: UUID, what: str, act: Callable[[Student, datetime], T]
    ) -> T:

        def command(at: datetime) -> T:
            student = self._student(student_id)
            result = act(student, at)
            self._save(student)
            return result

        return self._run(what, command)

    @_exclusive
    def change_class(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        trinn: int,
        class_name: str,
        effective_from: date | None = None,
    ) -> None:
        self._authorize(actor, "change_class", student_id=student_id)

        def command(at: datetime) -> None:
            student = self._student(student_id)
            self._school(student.school_code).check_class(trinn, class_name)
            student.change_class(
                trinn=trinn,
                class_name=class_name,
                effective_from=effective_from or self._today(at),
                actor=actor,
                at=at,
            )
            self._save(student)

        self._run("change class", command)

    @_exclusive
    def record_departure(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        kind: str,
        on: date | None = None,
        to_school: str | None = None,
    ) -> None:
        """Record that the student left (``kind="left"``) or transferred (``"transferred"``,
        ``to_school`` required). A transfer is a move between schools of this store (a
        municipality keeps all its schools in one): the receiving school must be registered
        here, else NotFound and nothing is written. A move to a school outside the store
        (another municipality, a private school) is recorded as ``left``."""
        self._authorize(actor, "record_departure", student_id=student_id)

        def command(at: datetime) -> None:
            student = self._student(student_id)
            school = self._school(student.school_code)
            student.record_departure(
                kind=kind, on=on or self._today(at), to_school=to_school, actor=actor, at=at
            )
            if to_school is not None:
                # A transfer goes to a school registered in this store (the municipality's),
                # not to a code nobody can check: NotFound otherwise, and nothing is saved.
                self._school(to_school)
            school.record_departure(student_id=student_id, actor=actor, at=at)
            self._save(student, school)

        self._run("record departure", command)

    @_exclusive
    def record_observation(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        arena: str,
        categories: Sequence[str],
        text: str,
        observed_at: datetime | None = None,
        student_voice: str | None = None,
    ) -> UUID:
        self._authorize(actor, "record_observation", student_id=student_id)
        observation_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.record_observation(
                observation_id=observation_id,
                arena=arena,
                categories=list(categories),
                text=text,
                observed_at=observed_at or at,
                student_voice=student_voice,
                actor=actor,
                at=at,
            )
            return observation_id

        return self._student_command(actor, student_id, "record an observation", act)

    @_exclusive
    def correct_observation(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        corrects: UUID,
        arena: str,
        categories: Sequence[str],
        text: str,
        observed_at: datetime,
        reason: str,
        student_voice: str | None = None,
    ) -> UUID:
        self._authorize(
            actor, "correct_observation", student_id=student_id, observation_id=corrects
        )
        correction_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.correct_observation(
                correction_id=correction_id,
                corrects=corrects,
                arena=arena,
                categories=list(categories),
                text=text,
                observed_at=observed_at,
                student_voice=student_voice,
                reason=reason,
                actor=actor,
                at=at,
            )
            return correction_id

        return self._student_command(actor, student_id, "correct an observation", act)

    @_exclusive
    def raise_concern(self, actor: Actor, student_id: UUID, *, summary: str) -> UUID:
        self._authorize(actor, "raise_concern", student_id=student_id)
        concern_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.raise_concern(concern_id=concern_id, summary=summary, actor=actor, at=at)
            return concern_id

        return self._student_command(actor, student_id, "raise a concern", act)

    @_exclusive
    def record_consent(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        giver: str,
        scope_kind: str,
        scope: str,
        valid_from: date,
        valid_to: date | None = None,
        note: str | None = None,
    ) -> UUID:
        self._authorize(actor, "record_consent", student_id=student_id)
        consent_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.record_consent(
                consent_id=consent_id,
                giver=giver,
                scope_kind=scope_kind,
                scope=scope,
                valid_from=valid_from,
                valid_to=valid_to,
                note=note,
                actor=actor,
                at=at,
            )
            return consent_id

        return self._student_command(actor, student_id, "record a consent", act)

    @_exclusive
    def withdraw_consent(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        consent_id: UUID,
        withdrawn_on: date | None = None,
    ) -> None:
        self._authorize(actor, "withdraw_consent", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.withdraw_consent(
                consent_id=consent_id,
                withdrawn_on=withdrawn_on or self._today(at),
                actor=actor,
                at=at,
            )

        self._student_command(actor, student_id, "withdraw a consent", act)

    @_exclusive
    def make_referral(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        body: str,
        reason: str,
        made_on: date | None = None,
    ) -> UUID:
        self._authorize(actor, "make_referral", student_id=student_id)
        referral_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.make_referral(
                referral_id=referral_id,
                body=body,
                reason=reason,
                made_on=made_on or self._today(at),
                actor=actor,
                at=at,
            )
            return referral_id

        return self._student_command(actor, student_id, "make a referral", act)

    @_exclusive
    def change_referral_status(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        referral_id: UUID,
        status: str,
        on: date | None = None,
    ) -> None:
        self._authorize(actor, "change_referral_status", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.change_referral_status(
                referral_id=referral_id,
                status=status,
                on=on or self._today(at),
                actor=actor,
                at=at,
            )

        self._student_command(actor, student_id, "change a referral's status", act)

    @_exclusive
    def create_aktivitetsplan(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        problem: str,
        measures: Sequence[str],
        when: str,
        responsible: str,
        evaluation_date: date,
    ) -> UUID:
        self._authorize(actor, "create_aktivitetsplan", student_id=student_id)
        plan_id = self.ids.new_id()

        def act(student: Student, at: datetime) -> UUID:
            student.create_aktivitetsplan(
                plan_id=plan_id,
                problem=problem,
                measures=list(measures),
                when=when,
                responsible=responsible,
                evaluation_date=evaluation_date,
                actor=actor,
                at=at,
            )
            return plan_id

        return self._student_command(actor, student_id, "create an aktivitetsplan", act)

    @_exclusive
    def evaluate_aktivitetsplan(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        plan_id: UUID,
        assessment: str,
        next_evaluation_date: date | None = None,
        evaluated_on: date | None = None,
    ) -> None:
        self._authorize(actor, "evaluate_aktivitetsplan", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.evaluate_aktivitetsplan(
                plan_id=plan_id,
                evaluated_on=evaluated_on or self._today(at),
                assessment=assessment,
                next_evaluation_date=next_evaluation_date,
                actor=actor,
                at=at,
            )

        self._student_command(actor, student_id, "evaluate an aktivitetsplan", act)

    @_exclusive
    def close_aktivitetsplan(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        plan_id: UUID,
        reason: str,
        closed_on: date | None = None,
    ) -> None:
        self._authorize(actor, "close_aktivitetsplan", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.close_aktivitetsplan(
                plan_id=plan_id,
                closed_on=closed_on or self._today(at),
                reason=reason,
                actor=actor,
                at=at,
            )

        self._student_command(actor, student_id, "close an aktivitetsplan", act)

    # -- restriction and erasure -------------------------------------------------------------

    @_exclusive
    def restrict_records(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        scope: str,
        reason: str,
        on: date | None = None,
    ) -> None:
        """Restrict (sperre) a student's archival records: ``vedtak``, ``aktivitetsplan`` or
        the whole ``case``. Reading them then needs a permitted role and a stated reason."""
        self._authorize(actor, "restrict_records", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.restrict(
                scope=scope, reason=reason, on=on or self._today(at), actor=actor, at=at
            )

        self._student_command(actor, student_id, "restrict records", act)

    @_exclusive
    def lift_restriction(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        scope: str,
        reason: str,
        on: date | None = None,
    ) -> None:
        self._authorize(actor, "lift_restriction", student_id=student_id)

        def act(student: Student, at: datetime) -> None:
            student.lift_restriction(
                scope=scope, reason=reason, on=on or self._today(at), actor=actor, at=at
            )

        self._student_command(actor, student_id, "lift a restriction", act)

    @_exclusive
    def erase_personal_data(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        basis: str,
        on: date | None = None,
        reason: str | None = None,
    ) -> int:
        """Erase the student's personal data outside the archive duty (observations,
        concerns, consent notes, referral reasons, meeting notes ...): the erasure is recorded
        as an event, then the student's erasable data key is deleted, so those fields are
        unreadable everywhere; cached snapshots of the case's streams are purged. Archival
        records (vedtak, PPT recommendation, aktivitetsplan, registration) are untouched.
        Returns the number of data keys deleted."""
        # Restriction concerns archival records, which erasure never touches: it is not a
        # write to a restricted record. ``reason`` serves a break-glass grant (admin).
        self._authorize(actor, "erase_personal_data", student_id=student_id, reason=reason)

        def act(student: Student, at: datetime) -> None:
            student.record_erasure(basis=basis, on=on or self._today(at), actor=actor, at=at)

        self._student_command(actor, student_id, "erase personal data", act)
        deleted = self.protection.erase_subject(student_id)
        case = self._find(CaseFile, case_file_id(student_id))
        streams = [student_id, case_file_id(student_id), access_log_id(student_id)]
        streams += case.linked() if case is not None else []
        self.app.repository.evict(streams)  # cached state holds the erased plaintext
        self.protection.purge_snapshots(streams)
        return deleted

    # -- vedtak ----------------------------------------------------------------------------------

    @_exclusive
    def open_vedtak(
        self, actor: Actor, student_id: UUID, *, kind: str, opened_on: date | None = None
    ) -> UUID:
        """Open a vedtak case for a student. The legal reference comes from the legal data."""
        self._authorize(actor, "open_vedtak", student_id=student_id)
        vedtak_id = self.ids.new_id()
        try:
            vedtak_kind = VedtakKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in VedtakKind)
            raise InvalidValue("vedtak kind", f"must be one of: {kinds}") from None

        def command(at: datetime) -> UUID:
            student = self._student(student_id)
            if not student.is_active:
                raise StudentNotActive("the student has left the school")
            vedtak = Vedtak.open(
                vedtak_id=vedtak_id,
                student_id=student_id,
                school_code=student.school_code,
                kind=vedtak_kind.value,
                legal_reference=self.legal.reference_for(vedtak_kind),
                opened_on=opened_on or self._today(at),
                actor=actor,
                at=at,
            )
            case = self._case_file(student_id, actor, at)
            case.link(stream_id=vedtak_id, kind="vedtak", actor=actor, at=at)
            self._save(vedtak, case)
            return vedtak_id

        return self._run("open vedtak", command)

    def _vedtak_command(
        self, actor: Actor, vedtak_id: UUID, what: str, act: Callable[[Vedtak, datetime], T]
    ) -> T:

        def command(at: datetime) -> T:
            vedtak = self._vedtak(vedtak_id)
            result = act(vedtak, at)
            self._save(vedtak)
            return result

        return self._run(what, command)

    @_exclusive
    def record_recommendation(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        recommended_on: date,
        hours: HoursByCompetence,
        summary: str,
    ) -> None:
        self._authorize(
            actor, "record_recommendation", student_id=self._vedtak(vedtak_id).student_id
        )
        self._vedtak_command(
            actor,
            vedtak_id,
            "record a recommendation",
            lambda v, at: v.record_recommendation(
                recommended_on=recommended_on, hours=hours, summary=summary, actor=actor, at=at
            ),
        )

    @_exclusive
    def decide_vedtak(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        hours: HoursByCompetence,
        organisation: str,
        content: str,
        reasons: str,
        valid_from: date,
        valid_to: date,
        deviation_reason: str | None = None,
        decided_on: date | None = None,
    ) -> None:
        self._authorize(actor, "decide_vedtak", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "decide a vedtak",
            lambda v, at: v.decide(
                decided_on=decided_on or self._today(at),
                hours=hours,
                organisation=organisation,
                content=content,
                reasons=reasons,
                deviation_reason=deviation_reason,
                valid_from=valid_from,
                valid_to=valid_to,
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def send_vedtak_notice(
        self, actor: Actor, vedtak_id: UUID, *, notice_date: date | None = None
    ) -> date:
        """Record that the parties were notified; returns the appeal deadline."""
        self._authorize(actor, "send_vedtak_notice", student_id=self._vedtak(vedtak_id).student_id)
        appeal = self.legal.appeal

        def act(vedtak: Vedtak, at: datetime) -> date:
            day = notice_date or self._today(at)
            vedtak.send_notice(
                notice_date=day,
                appeal_body=appeal.body,
                deadline_days=appeal.deadline_days,
                actor=actor,
                at=at,
            )
            return appeal.deadline_for(day)

        return self._vedtak_command(actor, vedtak_id, "send a vedtak notice", act)

    @_exclusive
    def lodge_appeal(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        grounds: str,
        lodged_on: date | None = None,
        late_reason: str | None = None,
    ) -> None:
        self._authorize(actor, "lodge_appeal", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "lodge an appeal",
            lambda v, at: v.lodge_appeal(
                lodged_on=lodged_on or self._today(at),
                grounds=grounds,
                late_reason=late_reason,
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def resolve_appeal(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        outcome: str,
        note: str = "",
        resolved_on: date | None = None,
    ) -> None:
        self._authorize(actor, "resolve_appeal", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "resolve an appeal",
            lambda v, at: v.resolve_appeal(
                resolved_on=resolved_on or self._today(at),
                outcome=outcome,
                note=note,
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def amend_vedtak(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        hours: HoursByCompetence,
        organisation: str,
        content: str,
        reasons: str,
        valid_to: date,
        deviation_reason: str | None = None,
        amended_on: date | None = None,
    ) -> None:
        self._authorize(actor, "amend_vedtak", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "amend a vedtak",
            lambda v, at: v.amend(
                amended_on=amended_on or self._today(at),
                hours=hours,
                organisation=organisation,
                content=content,
                reasons=reasons,
                deviation_reason=deviation_reason,
                valid_to=valid_to,
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def record_delivery(
        self, actor: Actor, vedtak_id: UUID, *, week_of: date, minutes: HoursByCompetence
    ) -> None:
        self._authorize(actor, "record_delivery", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "record delivered hours",
            lambda v, at: v.record_delivery(week_of=week_of, minutes=minutes, actor=actor, at=at),
        )

    @_exclusive
    def correct_delivery(
        self,
        actor: Actor,
        vedtak_id: UUID,
        *,
        week_of: date,
        minutes: HoursByCompetence,
        reason: str,
    ) -> None:
        self._authorize(actor, "correct_delivery", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "correct delivered hours",
            lambda v, at: v.correct_delivery(
                week_of=week_of, minutes=minutes, reason=reason, actor=actor, at=at
            ),
        )

    @_exclusive
    def revoke_vedtak(
        self, actor: Actor, vedtak_id: UUID, *, reasons: str, revoked_on: date | None = None
    ) -> None:
        self._authorize(actor, "revoke_vedtak", student_id=self._vedtak(vedtak_id).student_id)
        self._vedtak_command(
            actor,
            vedtak_id,
            "revoke a vedtak",
            lambda v, at: v.revoke(
                revoked_on=revoked_on or self._today(at), reasons=reasons, actor=actor, at=at
            ),
        )

    @_exclusive
    def record_vedtak_expiry(
        self, actor: Actor, vedtak_id: UUID, *, on: date | None = None
    ) -> None:
        self._authorize(
            actor, "record_vedtak_expiry", student_id=self._vedtak(vedtak_id).student_id
        )
        self._vedtak_command(
            actor,
            vedtak_id,
            "record a vedtak's expiry",
            lambda v, at: v.record_expiry(on=on or self._today(at), actor=actor, at=at),
        )

    @_exclusive
    def vedtak(self, actor: Actor, vedtak_id: UUID, *, reason: str | None = None) -> VedtakView:
        """Read a vedtak (logged in the student's access log; a restricted vedtak needs a
        permitted role and a stated reason)."""
        v = self._vedtak(vedtak_id)
        student = self._student(v.student_id)
        decision = self._authorize(
            actor,
            "vedtak",
            student_id=v.student_id,
            reason=reason,
            restricted=self._restricted(student, "vedtak", "case"),
        )
        self._log_read(actor, v.student_id, "vedtak", reason, decision)
        return VedtakView(
            vedtak_id=v.id,
            student_id=v.student_id,
            school_code=v.school_code,
            kind=v.kind,
            legal_reference=v.legal_reference,
            status=v.status,
            recommendation=v.recommendation,
            granted=v.granted,
            deviates=bool(v.deviates),
            valid_from=v.valid_from,
            valid_to=v.valid_to,
            in_force_until=v.in_force_until,
            notice_date=v.notice_date,
            appeal_deadline=v.appeal_deadline,
            appeal_open=v.appeal_open,
            delivered=v.delivered(),
            version=v.version,
        )

    # -- team ------------------------------------------------------------------------------------

    @_exclusive
    def form_team(self, actor: Actor, *, school: str, name: str) -> UUID:
        self._authorize(actor, "form_team", school=school)

        def command(at: datetime) -> UUID:
            self._school(school)
            if self._find(Team, team_id(school)) is not None:
                raise AlreadyExists(f"school {school} already has a team")
            team = Team.form(school_code=school, name=name, actor=actor, at=at)
            self._save(team)
            return team.id

        return self._run("form team", command)

    def _team_command(
        self, actor: Actor, school: str, what: str, act: Callable[[Team, datetime], T]
    ) -> T:

        def command(at: datetime) -> T:
            team = self._team(school)
            result = act(team, at)
            self._save(team)
            return result

        return self._run(what, command)

    @_exclusive
    def add_member(
        self,
        actor: Actor,
        *,
        school: str,
        member_id: str,
        profession: str,
        position_percent: Decimal | int | str,
        joined_on: date | None = None,
    ) -> None:
        self._authorize(actor, "add_member", school=school)
        self._team_command(
            actor,
            school,
            "add a team member",
            lambda t, at: t.add_member(
                member_id=member_id,
                profession=profession,
                position_percent=check_position_percent(position_percent),
                joined_on=joined_on or self._today(at),
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def change_position(
        self,
        actor: Actor,
        *,
        school: str,
        member_id: str,
        position_percent: Decimal | int | str,
        effective_from: date,
    ) -> None:
        self._authorize(actor, "change_position", school=school)
        self._team_command(
            actor,
            school,
            "change a position",
            lambda t, at: t.change_position(
                member_id=member_id,
                position_percent=check_position_percent(position_percent),
                effective_from=effective_from,
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def appoint_coordinator(
        self, actor: Actor, *, school: str, member_id: str, effective_from: date | None = None
    ) -> None:
        self._authorize(actor, "appoint_coordinator", school=school)
        self._team_command(
            actor,
            school,
            "appoint a coordinator",
            lambda t, at: t.appoint_coordinator(
                member_id=member_id,
                effective_from=effective_from or self._today(at),
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def assign(
        self,
        actor: Actor,
        *,
        school: str,
        member_id: str,
        target_kind: str,
        minutes_per_week: int,
        valid_from: date,
        valid_to: date | None = None,
        student_id: UUID | None = None,
        vedtak_id: UUID | None = None,
        trinn: int | None = None,
        class_name: str | None = None,
    ) -> UUID:
        """Assign a team member's weekly minutes to a student (under a vedtak in force for
        that student), a class, a trinn, SFO or school-wide work."""
        self._authorize(actor, "assign", school=school, student_id=student_id)
        assignment_id = self.ids.new_id()

        def command(at: datetime) -> UUID:
            team = self._team(school)
            case: CaseFile | None = None
            if trinn is not None:
                _check_trinn_of(self._school(school), trinn, class_name)
            if student_id is not None:
                student = self._student(student_id)
                if student.school_code != school:
                    raise NotFound("student at school", school)
                if vedtak_id is not None:
                    self._check_vedtak_covers(vedtak_id, student_id, valid_from, valid_to)
                case = self._case_file(student_id, actor, at)
                case.link(stream_id=team.id, kind="team", actor=actor, at=at)
            team.assign(
                assignment_id=assignment_id,
                member_id=member_id,
                target_kind=target_kind,
                student_id=student_id,
                vedtak_id=vedtak_id,
                trinn=trinn,
                class_name=class_name,
                minutes_per_week=minutes_per_week,
                valid_from=valid_from,
                valid_to=valid_to,
                actor=actor,
                at=at,
            )
            self._save(team, case)
            return assignment_id

        return self._run("assign team member", command)

    def _check_vedtak_covers(
        self, vedtak_id: UUID, student_id: UUID, valid_from: date, valid_to: date | None
    ) -> None:
        vedtak = self._find(Vedtak, vedtak_id)
        if vedtak is None or vedtak.student_id != student_id:
            raise VedtakRequired("the vedtak does not exist for this student")
        if not vedtak.is_in_force(valid_from):
            raise VedtakRequired(f"the vedtak is not in force on {valid_from.isoformat()}")
        until = vedtak.in_force_until
        if valid_to is None or (until is not None and valid_to > until):
            limit = until.isoformat() if until else "its decision"
            raise VedtakRequired(f"an assignment under a vedtak must end by {limit}")

    @_exclusive
    def end_assignment(
        self,
        actor: Actor,
        *,
        school: str,
        assignment_id: UUID,
        ended_on: date,
        reason: str,
    ) -> None:
        self._authorize(actor, "end_assignment", school=school)
        self._team_command(
            actor,
            school,
            "end an assignment",
            lambda t, at: t.end_assignment(
                assignment_id=assignment_id, ended_on=ended_on, reason=reason, actor=actor, at=at
            ),
        )

    @_exclusive
    def rotate_assignment(
        self, actor: Actor, *, school: str, assignment_id: UUID, to_member_id: str, on: date
    ) -> UUID:
        self._authorize(actor, "rotate_assignment", school=school)
        new_id = self.ids.new_id()

        def act(team: Team, at: datetime) -> UUID:
            team.rotate(
                assignment_id=assignment_id,
                new_assignment_id=new_id,
                to_member_id=to_member_id,
                on=on,
                actor=actor,
                at=at,
            )
            return new_id

        return self._team_command(actor, school, "rotate an assignment", act)

    @_exclusive
    def record_member_left(
        self, actor: Actor, *, school: str, member_id: str, left_on: date
    ) -> None:
        self._authorize(actor, "record_member_left", school=school)
        self._team_command(
            actor,
            school,
            "record that a member left",
            lambda t, at: t.record_member_left(
                member_id=member_id, left_on=left_on, actor=actor, at=at
            ),
        )

    @_exclusive
    def team(self, actor: Actor, school: str, *, on: date | None = None) -> TeamView:
        self._authorize(actor, "team", school=school)
        team = self._team(school)
        day = on or self._today(self._now())
        return TeamView(
            team_id=team.id,
            school_code=team.school_code,
            name=team.name,
            coordinator_id=team.coordinator_id,
            members=[_member_on(team, m, day) for m in team.members],
            assignments=team.active_assignments(day),
            on=day,
        )

    # -- meetings --------------------------------------------------------------------------------

    @_exclusive
    def schedule_meeting(
        self, actor: Actor, *, school: str, kind: str, scheduled_at: datetime
    ) -> UUID:
        self._authorize(actor, "schedule_meeting", school=school)
        meeting_id = self.ids.new_id()

        def command(at: datetime) -> UUID:
            self._school(school)
            meeting = Meeting.schedule(
                meeting_id=meeting_id,
                school_code=school,
                kind=kind,
                scheduled_at=scheduled_at,
                actor=actor,
                at=at,
            )
            self._save(meeting)
            return meeting_id

        return self._run("schedule meeting", command)

    def _consent_lookup(self) -> Callable[[UUID, ExternalBody, MeetingKind, date], bool]:
        cache: dict[UUID, Student | None] = {}

        def covers(student_id: UUID, body: ExternalBody, kind: MeetingKind, on: date) -> bool:
            if student_id not in cache:
                cache[student_id] = self._find(Student, student_id)
            student = cache[student_id]
            return student is not None and student.consent_covers(
                body=body, meeting_kind=kind, on=on
            )

        return covers

    def _meeting_command(
        self, actor: Actor, meeting_id: UUID, what: str, act: Callable[[Meeting, datetime], T]
    ) -> T:

        def command(at: datetime) -> T:
            meeting = self._meeting(meeting_id)
            result = act(meeting, at)
            self._save(meeting)
            return result

        return self._run(what, command)

    @_exclusive
    def add_participant(self, actor: Actor, meeting_id: UUID, *, person_id: str, role: str) -> None:
        self._authorize(actor, "add_participant", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "add a participant",
            lambda m, at: m.add_participant(person_id=person_id, role=role, actor=actor, at=at),
        )

    @_exclusive
    def add_external_participant(self, actor: Actor, meeting_id: UUID, *, body: str) -> None:
        self._authorize(actor, "add_external_participant", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "add an external participant",
            lambda m, at: m.add_external_participant(
                body=body, consent_lookup=self._consent_lookup(), actor=actor, at=at
            ),
        )

    @_exclusive
    def add_agenda_item(
        self,
        actor: Actor,
        meeting_id: UUID,
        *,
        subject_kind: str,
        title: str,
        student_id: UUID | None = None,
        anonymous: bool = False,
        trinn: int | None = None,
        class_name: str | None = None,
        concern_id: UUID | None = None,
    ) -> UUID:
        self._authorize(actor, "add_agenda_item", student_id=student_id, meeting_id=meeting_id)
        item_id = self.ids.new_id()

        def command(at: datetime) -> UUID:
            meeting = self._meeting(meeting_id)
            if trinn is not None:
                _check_trinn_of(self._school(meeting.school_code), trinn, class_name)
            case: CaseFile | None = None
            if student_id is not None:
                student = self._student(student_id)
                if student.school_code != meeting.school_code:
                    raise NotFound("student at school", meeting.school_code)
                if concern_id is not None and concern_id not in {
                    c.concern_id for c in student.concerns()
                }:
                    raise UnknownEntry("the concern is not on this student's case")
            meeting.add_agenda_item(
                item_id=item_id,
                subject_kind=subject_kind,
                student_id=student_id,
                anonymous=anonymous,
                trinn=trinn,
                class_name=class_name,
                title=title,
                concern_id=concern_id,
                consent_lookup=self._consent_lookup(),
                actor=actor,
                at=at,
            )
            if student_id is not None and not anonymous:
                case = self._case_file(student_id, actor, at)
                case.link(stream_id=meeting_id, kind="meeting", actor=actor, at=at)
            self._save(meeting, case)
            return item_id

        return self._run("add agenda item", command)

    @_exclusive
    def record_note(self, actor: Actor, meeting_id: UUID, *, item_id: UUID, text: str) -> None:
        self._authorize(actor, "record_note", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "record a note",
            lambda m, at: m.record_note(
                item_id=item_id,
                text=text,
                consent_lookup=self._consent_lookup(),
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def record_decision(
        self,
        actor: Actor,
        meeting_id: UUID,
        *,
        item_id: UUID,
        outcome: str,
        text: str,
        responsible: str | None = None,
        due: date | None = None,
    ) -> UUID:
        self._authorize(actor, "record_decision", meeting_id=meeting_id)
        decision_id = self.ids.new_id()

        def act(meeting: Meeting, at: datetime) -> UUID:
            meeting.record_decision(
                decision_id=decision_id,
                item_id=item_id,
                outcome=outcome,
                text=text,
                responsible=responsible,
                due=due,
                consent_lookup=self._consent_lookup(),
                actor=actor,
                at=at,
            )
            return decision_id

        return self._meeting_command(actor, meeting_id, "record a decision", act)

    @_exclusive
    def complete_action(
        self,
        actor: Actor,
        meeting_id: UUID,
        *,
        decision_id: UUID,
        completed_on: date | None = None,
    ) -> None:
        self._authorize(actor, "complete_action", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "complete an action",
            lambda m, at: m.complete_action(
                decision_id=decision_id,
                completed_on=completed_on or self._today(at),
                actor=actor,
                at=at,
            ),
        )

    @_exclusive
    def record_meeting_held(
        self, actor: Actor, meeting_id: UUID, *, held_at: datetime | None = None
    ) -> None:
        """Record that the meeting was held; concerns on its agenda become discussed. With
        external bodies present, consent must cover every named student item on the date
        held (``ConsentRequired`` otherwise; domain/meeting.py)."""
        self._authorize(actor, "record_meeting_held", meeting_id=meeting_id)

        def command(at: datetime) -> None:
            meeting = self._meeting(meeting_id)
            meeting.record_held(
                held_at=held_at or at,
                consent_lookup=self._consent_lookup(),
                actor=actor,
                at=at,
            )
            students: dict[UUID, Student] = {}
            for item in meeting.agenda():
                if item.concern_id is None or item.student_id is None:
                    continue
                student = students.get(item.student_id) or self._student(item.student_id)
                discussed = {c.concern_id: c.discussed_in for c in student.concerns()}.get(
                    item.concern_id, []
                )
                if meeting_id in discussed or not student.is_active:
                    continue
                if self._restricted(student, "case"):
                    # A restricted case is not changed (ADR 0010): its concern stays open.
                    continue
                student.record_concern_discussed(
                    concern_id=item.concern_id, meeting_id=meeting_id, actor=actor, at=at
                )
                students[student.id] = student
            self._save(meeting, *students.values())

        self._run("record meeting held", command)

    @_exclusive
    def close_minutes(self, actor: Actor, meeting_id: UUID) -> None:
        self._authorize(actor, "close_minutes", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "close the minutes",
            lambda m, at: m.close_minutes(actor=actor, at=at),
        )

    @_exclusive
    def amend_minutes(
        self,
        actor: Actor,
        meeting_id: UUID,
        *,
        text: str,
        reason: str,
        item_id: UUID | None = None,
    ) -> UUID:
        self._authorize(actor, "amend_minutes", meeting_id=meeting_id)
        amendment_id = self.ids.new_id()

        def act(meeting: Meeting, at: datetime) -> UUID:
            meeting.amend_minutes(
                amendment_id=amendment_id,
                item_id=item_id,
                text=text,
                reason=reason,
                actor=actor,
                at=at,
            )
            return amendment_id

        return self._meeting_command(actor, meeting_id, "amend the minutes", act)

    @_exclusive
    def cancel_meeting(self, actor: Actor, meeting_id: UUID, *, reason: str) -> None:
        self._authorize(actor, "cancel_meeting", meeting_id=meeting_id)
        self._meeting_command(
            actor,
            meeting_id,
            "cancel a meeting",
            lambda m, at: m.cancel(reason=reason, actor=actor, at=at),
        )

    @_exclusive
    def meeting(self, actor: Actor, meeting_id: UUID, *, reason: str | None = None) -> MeetingView:
        """Read a meeting: agenda, notes, decisions. A meeting that names students is
        case content: the read is logged in each named student's access log."""
        meeting = self._meeting(meeting_id)
        decision = self._authorize(actor, "meeting", meeting_id=meeting_id, reason=reason)
        for named in meeting.named_students():
            self._log_read(actor, named, "meeting", reason, decision)
        return MeetingView(
            meeting_id=meeting.id,
            school_code=meeting.school_code,
            kind=meeting.kind,
            scheduled_at=meeting.scheduled_at,
            held_at=meeting.held_at,
            minutes_closed=meeting.minutes_closed,
            cancelled=meeting.cancelled,
            participants=meeting.participants(),
            external_bodies=meeting.external_bodies,
            agenda=meeting.agenda(),
            notes=meeting.notes(),
            decisions=meeting.decisions(),
            amendments=meeting.amendments(),
            open_actions=meeting.open_actions(),
            version=meeting.version,
        )

    @_exclusive
    def meeting_school(self, actor: Actor, meeting_id: UUID) -> str:
        """The code of the school a meeting belongs to: no case content, so not logged (for
        resolving a student number at the meeting's school before acting on the meeting)."""
        self._authorize(actor, "meeting_school", meeting_id=meeting_id)
        return self._meeting(meeting_id).school_code

    # -- views: overview and history -------------------------------------------------------------

    # catch_up, rebuild_views and event_count take no actor and so have no school scope: store
    # plumbing that neither reads nor changes case content (policy.LIFECYCLE_METHODS).

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Bring the read models up to date with the store; returns events applied."""
        return self.views.catch_up(progress)

    def rebuild_views(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop the read models and replay every stored event into them."""
        return self.views.rebuild(progress)

    def overview(
        self, actor: Actor, *, school: str, trinn: int | None = None, on: date | None = None
    ) -> Overview:
        """The ressursteam overview of a school (optionally one trinn) on a date."""
        self._authorize(actor, "overview", school=school)
        check_school_code(school)
        if trinn is not None:
            check_trinn(trinn)
        self.views.catch_up()
        # The school's read-model row, not its aggregate: the overview's cost follows the
        # size of the school, never the length of its history.
        rows = self.views.select("schools", {"school": school})
        if not rows:
            raise NotFound("school", school)
        first, last = int(rows[0]["first_trinn"]), int(rows[0]["last_trinn"])
        if trinn is not None and not first <= trinn <= last:
            raise InvalidValue("trinn", f"school {school} has trinn {first}-{last}")
        return compute_overview(
            self.views, school=school, on=on or self._today(self._now()), trinn=trinn
        )

    @_exclusive
    def history(
        self,
        actor: Actor,
        student_id: UUID,
        *,
        as_of: datetime | None = None,
        reason: str | None = None,
    ) -> list[HistoryEntry]:
        """Every recorded event about a student (including vedtak, team and meeting events
        about them), in store order, optionally only what was recorded by ``as_of``.
        The read is logged."""
        return self._history(actor, student_id, as_of, reason, "history", "history")

    def _history(
        self,
        actor: Actor,
        student_id: UUID,
        as_of: datetime | None,
        reason: str | None,
        method: str,
        what: str,
    ) -> list[HistoryEntry]:
        student = self._student(student_id)
        until = None if as_of is None else _utc_iso(as_of)
        decision = self._authorize(
            actor,
            method,
            student_id=student_id,
            reason=reason,
            restricted=self._restricted(student, "vedtak", "aktivitetsplan", "case"),
        )
        self._log_read(actor, student_id, what, reason, decision)
        self.views.catch_up()
        return [
            HistoryEntry.from_row(row)
            for row in self.views.history_rows(str(student_id), until=until)
            if not row["event_type"].startswith("AccessLog.")
        ]

    def _aggregate_as_of(self, aggregate_id: UUID, as_of: datetime) -> MiljoAggregate | None:
        """The state of any aggregate as it was recorded at instant ``as_of`` (None if it
        did not exist yet). Loads through the newest snapshot at or before that version."""
        self.views.catch_up()
        version = self.views.version_at(str(aggregate_id), _utc_iso(as_of))
        if version is None:
            return None
        aggregate: object = self.app.repository.get(aggregate_id, version=version)
        return aggregate if isinstance(aggregate, MiljoAggregate) else None

    @_exclusive
    def student_case_as_of(
        self, actor: Actor, student_id: UUID, *, as_of: datetime, reason: str | None = None
    ) -> StudentCase | None:
        """The student's case as the school knew it at ``as_of`` (logged)."""
        current = self._student(student_id)
        _utc_iso(as_of)
        decision = self._authorize(
            actor,
            "student_case_as_of",
            student_id=student_id,
            reason=reason,
            restricted=self._restricted(current, "aktivitetsplan", "case"),
        )
        self._log_read(actor, student_id, "case as of", reason, decision)
        student = self._aggregate_as_of(student_id, as_of)
        if not isinstance(student, Student):
            return None
        case = self._aggregate_as_of(case_file_id(student_id), as_of)
        return _student_case(
            student, case if isinstance(case, CaseFile) else None, local_date(as_of)
        )

    @_exclusive
    def export_history(
        self, actor: Actor, student_id: UUID, *, reason: str | None = None
    ) -> list[dict[str, object]]:
        """The student's history as JSON-ready records, one per event, with full payloads
        (see docs/history-export.md). The read is logged."""
        entries = self._history(actor, student_id, None, reason, "export_history", "export")
        records: list[dict[str, object]] = []
        for entry in entries:
            stream = entry.stream_id
            [event] = list(self.app.events.get(stream, gt=entry.version - 1, lte=entry.version))
            records.append(entry.export_record(event))
        return records

    # -- store -----------------------------------------------------------------------------------

    def event_count(self) -> int:
        """Events in the store. A recorder that can have gaps between positions (PostgreSQL:
        a rolled-back insert uses up ids) counts them (``domain.ports.CountsEvents``);
        elsewhere positions have no gaps and the newest position is the count."""
        recorder = self.app.recorder
        if isinstance(recorder, CountsEvents):
            return recorder.count_events()
        return int(recorder.max_notification_id() or 0)


def _utc_iso(instant: datetime) -> str:
    return require_aware(instant, "as-of instant").isoformat()


def _student_case(student: Student, case: CaseFile | None, day: date) -> StudentCase:
    """The case as read on ``day`` (the trinn and class in force then)."""
    placement = student.class_on(day)
    return StudentCase(
        student_id=student.id,
        school_code=student.school_code,
        student_number=student.student_number,
        name=student.name,
        trinn=placement.trinn,
        class_name=placement.class_name,
        registered_on=student.registered_on,
        is_active=student.is_active,
        observations=student.current_observations(),
        # Copies: a concern's meeting list and a plan's measures are the cached aggregate's.
        concerns=[attrs.evolve(c) for c in student.concerns()],
        consents=student.consents(),
        referrals=student.referrals(),
        plans=[attrs.evolve(p) for p in student.plans()],
        vedtak_ids=case.linked("vedtak") if case else [],
        meeting_ids=case.linked("meeting") if case else [],
        version=student.version,
    )


def _check_trinn_of(school: School, trinn: int, class_name: str | None) -> None:
    """Refuse a trinn outside the school's range (the error ``overview`` gives for one), then,
    with a class, a class that is not the school's in that trinn."""
    check_trinn(trinn)
    if not school.first_trinn <= trinn <= school.last_trinn:
        raise InvalidValue(
            "trinn", f"school {school.code} has trinn {school.first_trinn}-{school.last_trinn}"
        )
    if class_name is not None:
        school.check_class(trinn, class_name)


def _member_on(team: Team, member: MemberView, day: date) -> MemberView:
    """The member as of ``day``: the position in force then, not the newest one."""
    percent = team.position_percent(member.member_id, day)
    return member if percent is None else attrs.evolve(member, position_percent=percent)
