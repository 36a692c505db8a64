"""Team: a school's miljø team, its members' positions and the hours the coordinator allocates.

Allocation model (docs: /work/shared/domain.md, "Allocation"):

* A member's position (stillingsprosent) changes over time; the position in force on a day is
  the latest change with ``effective_from`` on or before that day.
* An assignment gives a member ``minutes_per_week`` for a target (a student under a vedtak, a
  class, a trinn, SFO or the whole school) from ``valid_from`` to ``valid_to`` (inclusive; None
  means open-ended). Ending it early moves ``valid_to``; an assignment ends at the end of its
  last day.
* Capacity is checked per ISO week (Monday-based): an assignment counts in full in every week
  it touches, and the week's capacity is that of the lowest position in force on any of the
  member's days in that week. The check evaluates only the weeks where something changes
  (starts and ends of assignments, position changes, joining and leaving).
* An assignment that has not started when it is rotated away or when its member leaves is
  ended the day before it starts (``valid_to == valid_from - 1 day``): it was never in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from domain.base import MiljoAggregate
from domain.errors import (
    AlreadyExists,
    AssignmentNotActive,
    CapacityExceeded,
    CoordinatorNotQualified,
    InvalidValue,
    MemberNotActive,
    UnknownEntry,
    VedtakRequired,
)
from domain.values import (
    Actor,
    Competence,
    Profession,
    check_class_name,
    check_date,
    check_minutes,
    check_period,
    check_person_id,
    check_position_percent,
    check_school_code,
    check_text,
    check_trinn,
    iso_week_label,
    iso_week_monday,
    position_minutes_per_week,
    require_aware,
)

ONE_DAY: Final = timedelta(days=1)
ONE_WEEK: Final = timedelta(days=7)
MEMBER_LEFT_REASON: Final = "member left"
ROTATION_REASON: Final = "rotation"
MAX_REASON_LENGTH: Final = 200


def team_id(school_code: str) -> UUID:
    """A school has one miljø team: its id is derived from the school code."""
    return uuid5(NAMESPACE_URL, f"miljo:team/{check_school_code(school_code)}")


class TargetKind(StrEnum):
    """What an assignment's hours go to. Values are stored in events: never rename them."""

    STUDENT = "student"
    CLASS = "class"
    TRINN = "trinn"
    SFO = "sfo"
    SCHOOL = "school"


# ---------------------------------------------------------------------------------------------
# Value objects (state and read models)
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class MemberRecord:
    """State: a member's current stint in the team (a member who left may join again)."""

    member_id: str
    profession: Profession = attrs.field(converter=Profession)
    joined_on: date
    left_on: date | None = None

    def active_on(self, day: date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day <= self.left_on)

    def active_over(self, first: date, last: date | None) -> bool:
        """Whether the member is in the team on every day from ``first`` to ``last``."""
        if first < self.joined_on:
            return False
        if self.left_on is None:
            return True
        return last is not None and last <= self.left_on


@attrs.frozen
class PositionPeriod:
    """State: a member's position percent from ``effective_from`` until the next change."""

    effective_from: date
    position_percent: Decimal


@attrs.frozen
class CoordinatorTerm:
    """State: ``member_id`` coordinates the team from ``effective_from`` until the next term."""

    member_id: str
    effective_from: date


@attrs.frozen
class MemberView:
    """Read model of a member. ``position_percent`` is the latest recorded position."""

    member_id: str
    profession: Profession = attrs.field(converter=Profession)
    position_percent: Decimal
    joined_on: date
    left_on: date | None
    is_coordinator: bool


@attrs.frozen
class AssignmentView:
    """State and read model of an assignment. ``valid_to`` is its current last day."""

    assignment_id: UUID
    member_id: str
    target_kind: TargetKind = attrs.field(converter=TargetKind)
    student_id: UUID | None
    vedtak_id: UUID | None
    trinn: int | None
    class_name: str | None
    minutes_per_week: int
    valid_from: date
    valid_to: date | None

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def never_in_force(self) -> bool:
        """Ended before it started (rotated away or its member left before it began)."""
        return self.valid_to is not None and self.valid_to < self.valid_from

    def touches_week(self, monday: date) -> bool:
        return iso_week_monday(self.valid_from) <= monday and (
            self.valid_to is None or monday <= iso_week_monday(self.valid_to)
        )


@attrs.frozen
class WeekLoad:
    """Read model: a member's allocated and capacity minutes in one ISO week."""

    member_id: str
    week: str
    allocated: int
    capacity: int

    @property
    def free(self) -> int:
        return self.capacity - self.allocated


VALUE_TYPES = (
    MemberRecord,
    PositionPeriod,
    CoordinatorTerm,
    MemberView,
    AssignmentView,
    WeekLoad,
)


# ---------------------------------------------------------------------------------------------
# Pure helpers (used by commands and by apply; no validation here)
# ---------------------------------------------------------------------------------------------


def _with_period(periods: Iterable[PositionPeriod], new: PositionPeriod) -> list[PositionPeriod]:
    """Periods sorted by date, ``new`` replacing any change on the same date."""
    kept = [p for p in periods if p.effective_from != new.effective_from]
    return sorted([*kept, new], key=lambda p: p.effective_from)


def _with_term(terms: Iterable[CoordinatorTerm], new: CoordinatorTerm) -> list[CoordinatorTerm]:
    kept = [t for t in terms if t.effective_from != new.effective_from]
    return sorted([*kept, new], key=lambda t: t.effective_from)


def _percent_on(periods: list[PositionPeriod], day: date) -> Decimal | None:
    in_force = [p for p in periods if p.effective_from <= day]
    return in_force[-1].position_percent if in_force else None


def _week_capacity(member: MemberRecord, periods: list[PositionPeriod], monday: date) -> int:
    """Capacity in the ISO week starting ``monday``: the lowest position on the member's days."""
    first = max(monday, member.joined_on)
    last = monday + timedelta(days=6)
    if member.left_on is not None:
        last = min(last, member.left_on)
    if first > last:
        return 0
    percents = [p.position_percent for p in periods if first < p.effective_from <= last]
    at_start = _percent_on(periods, first)
    if at_start is not None:
        percents.append(at_start)
    return position_minutes_per_week(min(percents)) if percents else 0


def _check_date(value: date, what: str) -> date:
    """A calendar date in the years the domain accepts (``values.check_date``): capacity is
    counted in ISO weeks (a Monday, the next week), which must never run past ``date.max``
    or before ``date.min``."""
    return check_date(value, what)


def _check_optional_date(value: date | None, what: str) -> date | None:
    return None if value is None else _check_date(value, what)


def _check_uuid(value: UUID, what: str) -> UUID:
    if not isinstance(value, UUID):
        raise InvalidValue(what, "must be a UUID")
    return value


def _check_profession(value: str) -> Profession:
    try:
        return Profession(value)
    except ValueError:
        names = ", ".join(p.value for p in Profession)
        raise InvalidValue("profession", f"must be one of: {names}") from None


def _check_target_kind(value: str) -> TargetKind:
    try:
        return TargetKind(value)
    except ValueError:
        names = ", ".join(k.value for k in TargetKind)
        raise InvalidValue("target kind", f"must be one of: {names}") from None


def _period_text(first: date, last: date | None) -> str:
    return f"{first.isoformat()}..{'open' if last is None else last.isoformat()}"


class Team(MiljoAggregate):
    TOPIC = "miljo:Team"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Formed)."""

        TOPIC = "miljo:Team.Created"

    class Formed(MiljoAggregate.Created):
        TOPIC = "miljo:Team.Formed"
        class_version = 1
        school_code: str
        name: str

        def apply(self, team: Team) -> None:
            team.school_code = self.school_code
            team.name = self.name
            team.member_records = {}
            team.positions = {}
            team.coordinator_terms = []
            team.assignments = {}

        def summary(self) -> str:
            return f"miljø team formed at school {self.school_code}"

    class MemberJoined(MiljoAggregate.Event):
        TOPIC = "miljo:Team.MemberJoined"
        class_version = 1
        EFFECTIVE_FIELD: ClassVar[str | None] = "joined_on"
        member_id: str
        profession: str
        position_percent: Decimal
        joined_on: date

        def apply(self, team: Team) -> None:
            team.member_records[self.member_id] = MemberRecord(
                member_id=self.member_id,
                profession=Profession(self.profession),
                joined_on=self.joined_on,
            )
            # A member who joins again starts afresh: changes planned after this date are void.
            earlier = [
                p
                for p in team.positions.get(self.member_id, [])
                if p.effective_from < self.joined_on
            ]
            team.positions[self.member_id] = [
                *earlier,
                PositionPeriod(
                    effective_from=self.joined_on, position_percent=self.position_percent
                ),
            ]

        def summary(self) -> str:
            return (
                f"member {self.member_id} joined as {self.profession} "
                f"at {self.position_percent} % from {self.joined_on.isoformat()}"
            )

    class PositionChanged(MiljoAggregate.Event):
        TOPIC = "miljo:Team.PositionChanged"
        class_version = 1
        EFFECTIVE_FIELD: ClassVar[str | None] = "effective_from"
        member_id: str
        position_percent: Decimal
        effective_from: date

        def apply(self, team: Team) -> None:
            team.positions[self.member_id] = _with_period(
                team.positions[self.member_id],
                PositionPeriod(
                    effective_from=self.effective_from, position_percent=self.position_percent
                ),
            )

        def summary(self) -> str:
            return (
                f"member {self.member_id} position changed to {self.position_percent} % "
                f"from {self.effective_from.isoformat()}"
            )

    class CoordinatorAppointed(MiljoAggregate.Event):
        TOPIC = "miljo:Team.CoordinatorAppointed"
        class_version = 1
        EFFECTIVE_FIELD: ClassVar[str | None] = "effective_from"
        member_id: str
        effective_from: date
        previous_member_id: str | None

        def apply(self, team: Team) -> None:
            team.coordinator_terms = _with_term(
                team.coordinator_terms,
                CoordinatorTerm(member_id=self.member_id, effective_from=self.effective_from),
            )

        def summary(self) -> str:
            return (
                f"member {self.member_id} appointed coordinator "
                f"from {self.effective_from.isoformat()}"
            )

    class AssignmentMade(MiljoAggregate.Event):
        TOPIC = "miljo:Team.AssignmentMade"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "valid_from"
        assignment_id: UUID
        member_id: str
        target_kind: str
        student_id: UUID | None
        vedtak_id: UUID | None
        trinn: int | None
        class_name: str | None
        minutes_per_week: int
        valid_from: date
        valid_to: date | None
        #: The assignment this one continues with another member (set by ``rotate``).
        rotated_from: UUID | None

        def apply(self, team: Team) -> None:
            team.assignments[str(self.assignment_id)] = AssignmentView(
                assignment_id=self.assignment_id,
                member_id=self.member_id,
                target_kind=TargetKind(self.target_kind),
                student_id=self.student_id,
                vedtak_id=self.vedtak_id,
                trinn=self.trinn,
                class_name=self.class_name,
                minutes_per_week=self.minutes_per_week,
                valid_from=self.valid_from,
                valid_to=self.valid_to,
            )

        def summary(self) -> str:
            target = self.target_kind
            if self.class_name is not None:
                target = f"class {self.class_name}"
            elif self.trinn is not None:
                target = f"trinn {self.trinn}"
            verb = "rotated to" if self.rotated_from is not None else "assigned to"
            return (
                f"member {self.member_id} {verb} {target}, {self.minutes_per_week} min/week, "
                f"{_period_text(self.valid_from, self.valid_to)}"
            )

    class AssignmentEnded(MiljoAggregate.Event):
        TOPIC = "miljo:Team.AssignmentEnded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "ended_on"
        assignment_id: UUID
        member_id: str
        student_id: UUID | None
        #: The assignment's last day (it ends at the end of this day).
        ended_on: date
        #: Short code-like reason ("rotation", "member left", "vedtak ended"); never personal.
        reason: str

        def apply(self, team: Team) -> None:
            key = str(self.assignment_id)
            team.assignments[key] = attrs.evolve(team.assignments[key], valid_to=self.ended_on)

        def summary(self) -> str:
            return (
                f"assignment {self.assignment_id} of member {self.member_id} "
                f"ended on {self.ended_on.isoformat()}"
            )

    class MemberLeft(MiljoAggregate.Event):
        TOPIC = "miljo:Team.MemberLeft"
        class_version = 1
        EFFECTIVE_FIELD: ClassVar[str | None] = "left_on"
        member_id: str
        #: The member's last day in the team.
        left_on: date

        def apply(self, team: Team) -> None:
            team.member_records[self.member_id] = attrs.evolve(
                team.member_records[self.member_id], left_on=self.left_on
            )

        def summary(self) -> str:
            return f"member {self.member_id} left on {self.left_on.isoformat()}"

    if TYPE_CHECKING:  # state, set only by apply (not constructor arguments)
        school_code: str
        name: str
        member_records: dict[str, MemberRecord]
        positions: dict[str, list[PositionPeriod]]
        coordinator_terms: list[CoordinatorTerm]
        assignments: dict[str, AssignmentView]

    # -- commands -------------------------------------------------------------------------------

    @classmethod
    def form(cls, *, school_code: str, name: str, actor: Actor, at: datetime) -> Team:
        check_school_code(school_code)
        check_text(name, "team name", limit=200)
        return cls._start(
            cls.Formed,
            id=team_id(school_code),
            actor=actor,
            at=at,
            school_code=school_code,
            name=name,
        )

    def add_member(
        self,
        *,
        member_id: str,
        profession: str,
        position_percent: Decimal,
        joined_on: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        check_person_id(member_id)
        kind = _check_profession(profession)
        percent = check_position_percent(position_percent)
        _check_date(joined_on, "joined on")
        current = self.member_records.get(member_id)
        if current is not None and (current.left_on is None or joined_on <= current.left_on):
            raise AlreadyExists(
                f"member {member_id} is already in team {self.school_code}",
                member=member_id,
            )
        self._record(
            self.MemberJoined,
            actor=actor,
            at=at,
            member_id=member_id,
            profession=kind.value,
            position_percent=percent,
            joined_on=joined_on,
        )

    def change_position(
        self,
        *,
        member_id: str,
        position_percent: Decimal,
        effective_from: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        percent = check_position_percent(position_percent)
        _check_date(effective_from, "effective from")
        member = self._member(member_id)
        if not member.active_on(effective_from):
            raise MemberNotActive(
                f"member {member_id} is not in the team on {effective_from.isoformat()}",
                member=member_id,
                on=effective_from,
            )
        periods = _with_period(
            self.positions[member_id],
            PositionPeriod(effective_from=effective_from, position_percent=percent),
        )
        self._check_capacity(
            member,
            assignments=self.assignments.values(),
            periods=periods,
            first=effective_from,
            last=None,
        )
        self._record(
            self.PositionChanged,
            actor=actor,
            at=at,
            member_id=member_id,
            position_percent=percent,
            effective_from=effective_from,
        )

    def appoint_coordinator(
        self, *, member_id: str, effective_from: date, actor: Actor, at: datetime
    ) -> None:
        _check_date(effective_from, "effective from")
        member = self._member(member_id)
        if not member.active_on(effective_from):
            raise MemberNotActive(
                f"member {member_id} is not in the team on {effective_from.isoformat()}",
                member=member_id,
                on=effective_from,
            )
        if member.profession.competence is not Competence.MILJOTERAPEUT:
            raise CoordinatorNotQualified(
                f"the coordinator must be a bachelor-level miljøterapeut, "
                f"member {member_id} is {member.profession.value}",
                member=member_id,
                profession=member.profession.value,
            )
        previous = self.coordinator_on(effective_from)
        if previous == member_id:
            raise AlreadyExists(
                f"member {member_id} already coordinates the team on {effective_from.isoformat()}",
                member=member_id,
            )
        self._record(
            self.CoordinatorAppointed,
            actor=actor,
            at=at,
            member_id=member_id,
            effective_from=effective_from,
            previous_member_id=previous,
        )

    def assign(
        self,
        *,
        assignment_id: UUID,
        member_id: str,
        target_kind: str,
        student_id: UUID | None,
        vedtak_id: UUID | None,
        trinn: int | None,
        class_name: str | None,
        minutes_per_week: int,
        valid_from: date,
        valid_to: date | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        _check_uuid(assignment_id, "assignment id")
        kind = _check_target_kind(target_kind)
        self._check_target(kind, student_id, vedtak_id, trinn, class_name)
        check_minutes(minutes_per_week, "minutes per week", allow_zero=False)
        _check_date(valid_from, "valid from")
        _check_optional_date(valid_to, "valid to")
        check_period(valid_from, valid_to, "assignment period")
        if str(assignment_id) in self.assignments:
            raise AlreadyExists(f"assignment {assignment_id} already exists")
        new = AssignmentView(
            assignment_id=assignment_id,
            member_id=member_id,
            target_kind=kind,
            student_id=student_id,
            vedtak_id=vedtak_id,
            trinn=trinn,
            class_name=class_name,
            minutes_per_week=minutes_per_week,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        self._check_can_take(new)
        self._record_made(new, rotated_from=None, actor=actor, at=at)

    def end_assignment(
        self, *, assignment_id: UUID, ended_on: date, reason: str, actor: Actor, at: datetime
    ) -> None:
        _check_date(ended_on, "ended on")
        check_text(reason, "end reason", limit=MAX_REASON_LENGTH)
        if "\n" in reason or "\t" in reason:
            raise InvalidValue("end reason", "must be a single line")
        current = self._assignment(assignment_id)
        if ended_on < current.valid_from:
            raise InvalidValue("ended on", "must not be before the assignment starts")
        if current.valid_to is not None and current.valid_to <= ended_on:
            raise AssignmentNotActive(
                f"assignment {assignment_id} already ends on {current.valid_to.isoformat()}",
                assignment=assignment_id,
                valid_to=current.valid_to,
            )
        self._record_ended(current, ended_on=ended_on, reason=reason, actor=actor, at=at)

    def rotate(
        self,
        *,
        assignment_id: UUID,
        new_assignment_id: UUID,
        to_member_id: str,
        on: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        """End the assignment on ``on - 1 day``; give the rest of it to ``to_member_id``."""
        require_aware(at, "recorded time")
        _check_uuid(new_assignment_id, "new assignment id")
        _check_date(on, "rotation date")
        current = self._assignment(assignment_id)
        if on < current.valid_from:
            raise InvalidValue("rotation date", "must not be before the assignment starts")
        if current.valid_to is not None and current.valid_to < on:
            raise AssignmentNotActive(
                f"assignment {assignment_id} ends on {current.valid_to.isoformat()}, "
                f"before {on.isoformat()}",
                assignment=assignment_id,
                valid_to=current.valid_to,
            )
        if to_member_id == current.member_id:
            raise InvalidValue("rotation", "must go to another member")
        if str(new_assignment_id) in self.assignments:
            raise AlreadyExists(f"assignment {new_assignment_id} already exists")
        new = attrs.evolve(
            current, assignment_id=new_assignment_id, member_id=to_member_id, valid_from=on
        )
        self._check_can_take(new)
        self._record_ended(
            current, ended_on=on - ONE_DAY, reason=ROTATION_REASON, actor=actor, at=at
        )
        self._record_made(new, rotated_from=assignment_id, actor=actor, at=at)

    def record_member_left(
        self, *, member_id: str, left_on: date, actor: Actor, at: datetime
    ) -> None:
        """End the member's assignments that run past ``left_on``, then record the leaving."""
        require_aware(at, "recorded time")
        _check_date(left_on, "left on")
        member = self._member(member_id)
        if member.left_on is not None:
            raise MemberNotActive(
                f"member {member_id} already left on {member.left_on.isoformat()}",
                member=member_id,
                on=left_on,
            )
        if left_on < member.joined_on:
            raise InvalidValue("left on", "must not be before the member joined")
        for assignment in list(self.assignments.values()):
            if assignment.member_id != member_id:
                continue
            last_day = max(left_on, assignment.valid_from - ONE_DAY)
            if assignment.valid_to is None or assignment.valid_to > last_day:
                self._record_ended(
                    assignment, ended_on=last_day, reason=MEMBER_LEFT_REASON, actor=actor, at=at
                )
        self._record(self.MemberLeft, actor=actor, at=at, member_id=member_id, left_on=left_on)

    # -- read helpers ---------------------------------------------------------------------------

    @property
    def members(self) -> list[MemberView]:
        """Every member's current stint, in joining order (members who left included)."""
        return [self.member(member_id) for member_id in self.member_records]

    def member(self, member_id: str) -> MemberView:
        record = self._member(member_id)
        return MemberView(
            member_id=record.member_id,
            profession=record.profession,
            position_percent=self.positions[member_id][-1].position_percent,
            joined_on=record.joined_on,
            left_on=record.left_on,
            is_coordinator=self.coordinator_id == member_id,
        )

    def active_members(self, on: date) -> list[MemberView]:
        return [
            self.member(record.member_id)
            for record in self.member_records.values()
            if record.active_on(on)
        ]

    @property
    def coordinator_id(self) -> str | None:
        """The latest appointed coordinator, unless they have left the team."""
        if not self.coordinator_terms:
            return None
        member_id = self.coordinator_terms[-1].member_id
        return member_id if self.member_records[member_id].left_on is None else None

    def coordinator_on(self, on: date) -> str | None:
        """Who coordinates the team on ``on`` (None if nobody, or the coordinator has left)."""
        terms = [t for t in self.coordinator_terms if t.effective_from <= on]
        if not terms:
            return None
        member_id = terms[-1].member_id
        return member_id if self.member_records[member_id].active_on(on) else None

    def position_percent(self, member_id: str, on: date) -> Decimal | None:
        """The position in force on ``on``, or None if the member is not in the team then."""
        record = self._member(member_id)
        if not record.active_on(on):
            return None
        return _percent_on(self.positions[member_id], on)

    def capacity_minutes(self, member_id: str, on: date) -> int:
        """Minutes per week of the position in force on ``on`` (0 outside membership)."""
        percent = self.position_percent(member_id, on)
        return 0 if percent is None else position_minutes_per_week(percent)

    def allocated_minutes(self, member_id: str, on: date) -> int:
        """Minutes per week of the member's assignments in force on ``on``."""
        self._member(member_id)
        return sum(
            a.minutes_per_week
            for a in self.assignments.values()
            if a.member_id == member_id and a.active_on(on)
        )

    def week_load(self, member_id: str, on: date) -> WeekLoad:
        """Allocated and capacity minutes in the ISO week containing ``on``, counted as the
        capacity rule counts them (every assignment touching the week, lowest position)."""
        record = self._member(member_id)
        monday = iso_week_monday(_check_date(on, "week"))
        allocated = sum(
            a.minutes_per_week
            for a in self.assignments.values()
            if a.member_id == member_id and not a.never_in_force and a.touches_week(monday)
        )
        return WeekLoad(
            member_id=member_id,
            week=iso_week_label(monday),
            allocated=allocated,
            capacity=_week_capacity(record, self.positions[member_id], monday),
        )

    def assignment(self, assignment_id: UUID) -> AssignmentView:
        return self._assignment(assignment_id)

    def active_assignments(self, on: date) -> list[AssignmentView]:
        return [a for a in self.assignments.values() if a.active_on(on)]

    def assignments_for_student(self, student_id: UUID, on: date) -> list[AssignmentView]:
        return [a for a in self.active_assignments(on) if a.student_id == student_id]

    def assignments_of(self, member_id: str, on: date) -> list[AssignmentView]:
        return [a for a in self.active_assignments(on) if a.member_id == member_id]

    def __repr__(self) -> str:
        return (
            f"Team(school_code={self.school_code!r}, members={len(self.member_records)}, "
            f"assignments={len(self.assignments)}, version={self.version})"
        )

    # -- internals ------------------------------------------------------------------------------

    def _member(self, member_id: str) -> MemberRecord:
        record = self.member_records.get(member_id)
        if record is None:
            raise UnknownEntry(
                f"no member {member_id} in team {self.school_code}", member=member_id
            )
        return record

    def _assignment(self, assignment_id: UUID) -> AssignmentView:
        found = self.assignments.get(str(assignment_id))
        if found is None:
            raise UnknownEntry(f"no assignment {assignment_id}", assignment=assignment_id)
        return found

    @staticmethod
    def _check_target(
        kind: TargetKind,
        student_id: UUID | None,
        vedtak_id: UUID | None,
        trinn: int | None,
        class_name: str | None,
    ) -> None:
        given = {
            "student id": student_id is not None,
            "vedtak id": vedtak_id is not None,
            "trinn": trinn is not None,
            "class name": class_name is not None,
        }
        wanted = {
            TargetKind.STUDENT: {"student id", "vedtak id"},
            TargetKind.CLASS: {"trinn", "class name"},
            TargetKind.TRINN: {"trinn"},
            TargetKind.SFO: set(),
            TargetKind.SCHOOL: set(),
        }[kind]
        for field, present in given.items():
            if present and field not in wanted:
                raise InvalidValue(field, f"must not be given for a {kind.value} assignment")
        if kind is TargetKind.STUDENT:
            if student_id is None or vedtak_id is None:
                raise VedtakRequired(
                    "a student assignment needs the student and the vedtak it delivers",
                    student=student_id,
                    vedtak=vedtak_id,
                )
            _check_uuid(student_id, "student id")
            _check_uuid(vedtak_id, "vedtak id")
        for field in sorted(wanted - {"student id", "vedtak id"}):
            if not given[field]:
                raise InvalidValue(field, f"is required for a {kind.value} assignment")
        if trinn is not None:
            check_trinn(trinn)
        if class_name is not None:
            check_class_name(class_name)

    def _check_can_take(self, new: AssignmentView) -> None:
        """The member is in the team over the whole period and has the capacity for it."""
        member = self._member(new.member_id)
        if not member.active_over(new.valid_from, new.valid_to):
            raise MemberNotActive(
                f"member {new.member_id} is not in the team over "
                f"{_period_text(new.valid_from, new.valid_to)}",
                member=new.member_id,
                valid_from=new.valid_from,
                valid_to=new.valid_to,
            )
        self._check_capacity(
            member,
            assignments=[*self.assignments.values(), new],
            periods=self.positions[new.member_id],
            first=new.valid_from,
            last=new.valid_to,
        )

    @staticmethod
    def _check_capacity(
        member: MemberRecord,
        *,
        assignments: Iterable[AssignmentView],
        periods: list[PositionPeriod],
        first: date,
        last: date | None,
    ) -> None:
        """Raise CapacityExceeded if, in any ISO week touching ``first``..``last``, the member's
        assignments exceed the week's capacity. Load and capacity are step functions of the
        week that change only at breakpoints, so only breakpoint weeks are evaluated."""
        live = [a for a in assignments if a.member_id == member.member_id and not a.never_in_force]
        start = iso_week_monday(first)
        stop = None if last is None else iso_week_monday(last)
        changes = [a.valid_from for a in live] + [p.effective_from for p in periods]
        changes.append(member.joined_on)
        ends = [a.valid_to for a in live] + [p.effective_from for p in periods]
        ends.append(member.left_on)
        # Only breakpoints inside start..stop count (filtered below); ``start`` is a Monday,
        # so comparing the days first skips the week arithmetic of every other breakpoint:
        # the week of ``day`` is in range iff start <= day < stop + 1 week, the week after
        # ``day`` iff start - 1 week <= day < stop.
        weeks = {start}
        weeks.update(
            iso_week_monday(day)
            for day in changes
            if start <= day and (stop is None or day < stop + ONE_WEEK)
        )
        before = start - ONE_WEEK
        weeks.update(
            iso_week_monday(day) + ONE_WEEK
            for day in ends
            if day is not None and before <= day and (stop is None or day < stop)
        )
        for monday in sorted(w for w in weeks if start <= w and (stop is None or w <= stop)):
            requested = sum(a.minutes_per_week for a in live if a.touches_week(monday))
            if requested == 0:
                continue
            capacity = _week_capacity(member, periods, monday)
            if requested > capacity:
                week = iso_week_label(monday)
                raise CapacityExceeded(
                    f"member {member.member_id} would have {requested} minutes in week {week}, "
                    f"capacity {capacity}",
                    member=member.member_id,
                    week=week,
                    capacity=capacity,
                    requested=requested,
                )

    def _record_made(
        self, new: AssignmentView, *, rotated_from: UUID | None, actor: Actor, at: datetime
    ) -> None:
        self._record(
            self.AssignmentMade,
            actor=actor,
            at=at,
            assignment_id=new.assignment_id,
            member_id=new.member_id,
            target_kind=new.target_kind.value,
            student_id=new.student_id,
            vedtak_id=new.vedtak_id,
            trinn=new.trinn,
            class_name=new.class_name,
            minutes_per_week=new.minutes_per_week,
            valid_from=new.valid_from,
            valid_to=new.valid_to,
            rotated_from=rotated_from,
        )

    def _record_ended(
        self, current: AssignmentView, *, ended_on: date, reason: str, actor: Actor, at: datetime
    ) -> None:
        self._record(
            self.AssignmentEnded,
            actor=actor,
            at=at,
            assignment_id=current.assignment_id,
            member_id=current.member_id,
            student_id=current.student_id,
            ended_on=ended_on,
            reason=reason,
        )
