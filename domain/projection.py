"""Projection logic (pure): how each stored event changes the read-model tables.

The tables hold ids, codes, counts, minutes, dates and kinds only: never names or free text
(ADR 0008). ``project`` turns one domain event into row operations; a view store in
``adapters/`` applies them, together with the tracked position, in one transaction.

Every event also gets one row in ``events``: the auditable history index (position, stream,
version, recorded and effective time, actor, role, type, student, school, one-line summary).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from domain.base import MiljoAggregate
from domain.casefile import AccessLog, CaseFile
from domain.meeting import Meeting
from domain.school import School
from domain.student import REFERRAL_TRANSITIONS, ReferralStatus, Student
from domain.team import Team
from domain.values import Competence
from domain.vedtak import Vedtak

#: Bump when the table layout or the projection logic changes: stores rebuild their views.
#: 2: school and open columns, indexes for the overview; 3: SQLite keys `events` by its rowid
#: (bulk rebuild); 4: an observation's categories on its own row (all ADR 0014); 5: the
#: observations index covers the overview's count (ADR 0014, night addendum); 6: `placements`,
#: a student's trinn and class by period (a class change takes effect on its date).
SCHEMA_VERSION: Final = 6


@attrs.frozen
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()


TABLES: Final = (
    Table("streams", ("stream_id", "kind", "school"), ("stream_id",)),
    Table("schools", ("school", "first_trinn", "last_trinn"), ("school",)),
    Table("classes", ("school", "class_name", "trinn"), ("school", "class_name")),
    Table(
        "students",
        ("student_id", "school", "trinn", "class_name", "active"),
        ("student_id",),
        (("school", "active"),),
    ),
    Table(
        # A student's trinn and class from valid_from to valid_to (null: until changed);
        # `open` is 1 on the latest placement recorded, which a class change closes the day
        # before it takes effect. `students` holds the latest recorded trinn and class, even
        # one that takes effect later: read the class on a day from here.
        "placements",
        ("student_id", "school", "trinn", "class_name", "valid_from", "valid_to", "open"),
        ("student_id", "valid_from"),
        (("school", "valid_to"),),
    ),
    Table(
        "vedtak",
        (
            "vedtak_id",
            "student_id",
            "school",
            "kind",
            "status",
            "valid_from",
            "valid_to",
            "revoked_on",
            "teacher",
            "special_ed_teacher",
            "miljoterapeut",
            "assistant",
            "appeal_open",
            "notice_date",
            "appeal_deadline",
        ),
        ("vedtak_id",),
        (("school", "valid_to"), ("student_id",)),
    ),
    Table(
        "members",
        ("school", "member_id", "profession", "joined_on", "left_on", "coordinator"),
        ("school", "member_id"),
    ),
    Table(
        "positions",
        ("school", "member_id", "effective_from", "percent"),
        ("school", "member_id", "effective_from"),
    ),
    Table(
        "assignments",
        (
            "assignment_id",
            "school",
            "member_id",
            "target_kind",
            "student_id",
            "vedtak_id",
            "trinn",
            "class_name",
            "minutes",
            "valid_from",
            "valid_to",
        ),
        ("assignment_id",),
        (("school", "valid_to"), ("vedtak_id",)),
    ),
    Table(
        "meetings",
        (
            "meeting_id",
            "school",
            "kind",
            "scheduled_at",
            "held_at",
            "closed",
            "cancelled",
            "open",  # 1 while neither held nor cancelled
        ),
        ("meeting_id",),
        (("school", "open"), ("school", "kind", "held_at")),
    ),
    Table("meeting_bodies", ("meeting_id", "body"), ("meeting_id", "body")),
    Table(
        "agenda",
        (
            "item_id",
            "meeting_id",
            "school",
            "subject_kind",
            "student_id",
            "anonymous",
            "trinn",
            "class_name",
            "concern_id",
        ),
        ("item_id",),
        (("meeting_id",), ("school",)),
    ),
    Table(
        "actions",
        (
            "decision_id",
            "meeting_id",
            "school",
            "item_id",
            "student_id",
            "outcome",
            "responsible",
            "due",
            "completed_on",
            "open",  # 1 while it has a responsible and is not completed
        ),
        ("decision_id",),
        (("school", "open"),),
    ),
    Table(
        "concerns",
        ("concern_id", "student_id", "school", "raised_at", "discussed"),
        ("concern_id",),
        (("student_id",), ("school", "discussed")),
    ),
    Table(
        "plans",
        ("plan_id", "student_id", "school", "evaluation_date", "closed"),
        ("plan_id",),
        (("student_id",), ("school", "closed")),
    ),
    Table(
        "referrals",
        ("referral_id", "student_id", "school", "body", "status", "made_on", "pending"),
        ("referral_id",),
        (("student_id",), ("school", "pending")),
    ),
    Table(
        "observations",
        # categories: the observation's category codes joined by CATEGORY_SEPARATOR, so the
        # overview counts them in one range scan of (school, recorded_at), without a lookup
        # per observation; the index covers the count (student, categories), so the scan
        # reads the index alone (docs/adr/0014-fast-view-rebuild.md)
        ("observation_id", "student_id", "school", "observed_at", "recorded_at", "categories"),
        ("observation_id",),
        (("student_id",), ("school", "recorded_at", "student_id", "categories")),
    ),
    Table(
        "consents",
        (
            "consent_id",
            "student_id",
            "scope_kind",
            "scope",
            "valid_from",
            "valid_to",
            "withdrawn_on",
        ),
        ("consent_id",),
        (("student_id",),),
    ),
    Table(
        "events",
        (
            "position",
            "stream_id",
            "version",
            "event_type",
            "recorded_at",
            "effective",
            "actor_id",
            "actor_role",
            "student_id",
            "school",
            "summary",
        ),
        ("position",),
        (
            ("student_id", "position"),
            ("stream_id", "version"),
            ("school", "position"),
            ("school", "recorded_at"),
        ),
    ),
)

TABLES_BY_NAME: Final = {t.name: t for t in TABLES}

#: Tables of earlier layouts: dropped with the others when SCHEMA_VERSION changes.
RETIRED_TABLES: Final = ("observation_categories",)  # until 3; now observations.categories

#: Joins an observation's category codes (enum values: never contain it).
CATEGORY_SEPARATOR: Final = ","


def observation_categories(joined: str | None) -> list[str]:
    """The category codes of an ``observations`` row's ``categories`` column."""
    return joined.split(CATEGORY_SEPARATOR) if joined else []


def count_categories(groups: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    """Observations per category code, from ``(categories column, observations)`` pairs
    (the view store groups by the column, so this sees one pair per combination)."""
    counts: dict[str, int] = {}
    for joined, observations in groups:
        for category in observation_categories(joined):
            counts[category] = counts.get(category, 0) + int(observations)
    return counts


def count_students_categories(
    groups: Iterable[tuple[str, str | None, int]], students: Collection[str]
) -> dict[str, int]:
    """Observations per category code of ``students`` only, from ``(student, categories
    column, observations)`` groups (the view store groups by student and column; the
    overview passes the students it shows)."""
    shown = students if isinstance(students, (set, frozenset)) else set(students)
    return count_categories((joined, n) for student, joined, n in groups if student in shown)


@attrs.frozen
class Put:
    """Insert or replace a whole row."""

    table: str
    row: Mapping[str, Any]


@attrs.frozen
class Patch:
    """Update some columns of the row with this key (no-op if absent)."""

    table: str
    key: Mapping[str, Any]
    values: Mapping[str, Any]


@attrs.frozen
class Delete:
    """Delete the rows matching this (partial) key."""

    table: str
    key: Mapping[str, Any]


Op = Put | Patch | Delete

#: Looks up the school code of a stream (as recorded in ``streams``), or None.
SchoolOf = Callable[[str], str | None]


def _s(value: object) -> str | None:
    """Ids, dates and instants are stored as text (ISO for dates and instants)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # as stored instants decode: already UTC
            return value.isoformat()
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def event_type(event: MiljoAggregate.Event) -> str:
    """``Student.ObservationRecorded`` style name of a stored event."""
    return _class_info(type(event))[1]


def _school_of_event(
    event: MiljoAggregate.Event, sid: str, subject: object, school_of: SchoolOf
) -> str | None:
    code = getattr(event, "school_code", None)
    if isinstance(code, str) and isinstance(event, MiljoAggregate.Created):
        return code
    school = school_of(sid)
    if school is None and subject is not None:
        school = school_of(str(subject))
    return school


def project(event: MiljoAggregate.Event, position: int, school_of: SchoolOf) -> list[Op]:
    """The row operations for one event at ``position`` in the store's sequence."""
    sid = str(event.originator_id)
    handler, type_name = _class_info(type(event))
    ops = [] if handler is None else handler(event, sid, school_of)
    subject = event.subject_id()
    school = _school_of_event(event, sid, subject, school_of)
    for op in ops:  # a created event registers its stream before the index row is written
        if isinstance(op, Put) and op.table == "streams":
            school = op.row["school"]
    ops.append(
        Put(
            "events",
            {
                "position": position,
                "stream_id": sid,
                "version": event.originator_version,
                "event_type": type_name,
                "recorded_at": _s(event.timestamp),
                "effective": _s(event.effective_time()),
                "actor_id": event.actor_id,
                "actor_role": event.actor_role,
                "student_id": None if subject is None else str(subject),
                "school": school,
                "summary": event.summary(),
            },
        )
    )
    return ops


def _stream(event: MiljoAggregate.Event, kind: str, school: str | None) -> Put:
    return Put("streams", {"stream_id": str(event.originator_id), "kind": kind, "school": school})


#: The projection of each event class: ``(event, stream id, school_of) -> row operations``.
#: Looked up by the event's exact class (a dict instead of a chain of isinstance checks).
_Handler = Callable[[Any, str, SchoolOf], list[Op]]
_HANDLERS: Final[dict[type, _Handler]] = {}
_E = TypeVar("_E", bound=MiljoAggregate.Event)


def _on(
    event_class: type[_E],
) -> Callable[[Callable[[_E, str, SchoolOf], list[Op]]], Callable[[_E, str, SchoolOf], list[Op]]]:
    def register(
        handler: Callable[[_E, str, SchoolOf], list[Op]],
    ) -> Callable[[_E, str, SchoolOf], list[Op]]:
        _HANDLERS[event_class] = handler
        return handler

    return register


#: Per event class, found once: its handler (None: only the history row) and its type name.
_CLASS_INFO: Final[dict[type, tuple[_Handler | None, str]]] = {}


def _class_info(event_class: type) -> tuple[_Handler | None, str]:
    info = _CLASS_INFO.get(event_class)
    if info is None:
        handler = None
        for cls in event_class.__mro__:  # the class itself, else a projected base class
            handler = _HANDLERS.get(cls)
            if handler is not None:
                break
        topic = getattr(event_class, "TOPIC", "") or ""
        info = handler, topic.partition(":")[2] or event_class.__qualname__
        _CLASS_INFO[event_class] = info
    return info


# -- school ----------------------------------------------------------------------------------


@_on(School.Registered)
def _school_registered(e: School.Registered, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        _stream(e, "school", e.code),
        Put(
            "schools",
            {"school": e.code, "first_trinn": e.first_trinn, "last_trinn": e.last_trinn},
        ),
    ]


@_on(School.ClassAdded)
def _school_class_added(e: School.ClassAdded, sid: str, school_of: SchoolOf) -> list[Op]:
    school = school_of(sid)
    return [Put("classes", {"school": school, "class_name": e.class_name, "trinn": e.trinn})]


# -- student ---------------------------------------------------------------------------------


@_on(Student.Registered)
def _student_registered(e: Student.Registered, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        _stream(e, "student", e.school_code),
        Put(
            "students",
            {
                "student_id": sid,
                "school": e.school_code,
                "trinn": e.trinn,
                "class_name": e.class_name,
                "active": 1,
            },
        ),
        _placement(sid, e.school_code, e.trinn, e.class_name, e.registered_on),
    ]


def _placement(sid: str, school: str | None, trinn: int, class_name: str, start: date) -> Put:
    return Put(
        "placements",
        {
            "student_id": sid,
            "school": school,
            "trinn": trinn,
            "class_name": class_name,
            "valid_from": _s(start),
            "valid_to": None,
            "open": 1,
        },
    )


def _close_placement(sid: str, last_day: date) -> Patch:
    """The student's latest placement ends on ``last_day``. (A class change on the date the
    latest placement starts replaces that row: same key.)"""
    return Patch(
        "placements", {"student_id": sid, "open": 1}, {"valid_to": _s(last_day), "open": 0}
    )


@_on(Student.ClassChanged)
def _student_class_changed(e: Student.ClassChanged, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch("students", {"student_id": sid}, {"trinn": e.trinn, "class_name": e.class_name}),
        _close_placement(sid, e.effective_from - timedelta(days=1)),
        _placement(sid, school_of(sid), e.trinn, e.class_name, e.effective_from),
    ]


@_on(Student.Departed)
def _student_departed(e: Student.Departed, sid: str, school_of: SchoolOf) -> list[Op]:
    # In the class until the day before leaving (the overview shows active students only).
    return [
        Patch("students", {"student_id": sid}, {"active": 0}),
        _close_placement(sid, e.departed_on - timedelta(days=1)),
    ]


@_on(Student.ObservationRecorded)
def _student_observation_recorded(
    e: Student.ObservationRecorded, sid: str, school_of: SchoolOf
) -> list[Op]:
    oid = str(e.observation_id)
    return [
        Put(
            "observations",
            {
                "observation_id": oid,
                "student_id": sid,
                "school": school_of(sid),
                "observed_at": _s(e.observed_at),
                "recorded_at": _s(e.timestamp),
                "categories": CATEGORY_SEPARATOR.join(e.categories),
            },
        )
    ]


@_on(Student.ObservationCorrected)
def _student_observation_corrected(
    e: Student.ObservationCorrected, sid: str, school_of: SchoolOf
) -> list[Op]:
    oid = str(e.corrects)
    return [
        Patch(
            "observations",
            {"observation_id": oid},
            {
                "observed_at": _s(e.observed_at),
                "categories": CATEGORY_SEPARATOR.join(e.categories),
            },
        )
    ]


@_on(Student.ConcernRaised)
def _student_concern_raised(e: Student.ConcernRaised, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Put(
            "concerns",
            {
                "concern_id": str(e.concern_id),
                "student_id": sid,
                "school": school_of(sid),
                "raised_at": _s(e.timestamp),
                "discussed": 0,
            },
        )
    ]


@_on(Student.ConcernDiscussed)
def _student_concern_discussed(
    e: Student.ConcernDiscussed, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [Patch("concerns", {"concern_id": str(e.concern_id)}, {"discussed": 1})]


@_on(Student.ConsentRecorded)
def _student_consent_recorded(
    e: Student.ConsentRecorded, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Put(
            "consents",
            {
                "consent_id": str(e.consent_id),
                "student_id": sid,
                "scope_kind": e.scope_kind,
                "scope": e.scope,
                "valid_from": _s(e.valid_from),
                "valid_to": _s(e.valid_to),
                "withdrawn_on": None,
            },
        )
    ]


@_on(Student.ConsentWithdrawn)
def _student_consent_withdrawn(
    e: Student.ConsentWithdrawn, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Patch("consents", {"consent_id": str(e.consent_id)}, {"withdrawn_on": _s(e.withdrawn_on)})
    ]


@_on(Student.ReferralMade)
def _student_referral_made(e: Student.ReferralMade, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Put(
            "referrals",
            {
                "referral_id": str(e.referral_id),
                "student_id": sid,
                "school": school_of(sid),
                "body": e.body,
                "status": ReferralStatus.SENT.value,
                "made_on": _s(e.made_on),
                "pending": 1,
            },
        )
    ]


@_on(Student.ReferralStatusChanged)
def _student_referral_status_changed(
    e: Student.ReferralStatusChanged, sid: str, school_of: SchoolOf
) -> list[Op]:
    pending = 1 if REFERRAL_TRANSITIONS[ReferralStatus(e.status)] else 0
    return [
        Patch(
            "referrals",
            {"referral_id": str(e.referral_id)},
            {"status": e.status, "pending": pending},
        )
    ]


@_on(Student.AktivitetsplanCreated)
def _student_aktivitetsplan_created(
    e: Student.AktivitetsplanCreated, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Put(
            "plans",
            {
                "plan_id": str(e.plan_id),
                "student_id": sid,
                "school": school_of(sid),
                "evaluation_date": _s(e.evaluation_date),
                "closed": 0,
            },
        )
    ]


@_on(Student.AktivitetsplanEvaluated)
def _student_aktivitetsplan_evaluated(
    e: Student.AktivitetsplanEvaluated, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Patch(
            "plans",
            {"plan_id": str(e.plan_id)},
            {"evaluation_date": _s(e.next_evaluation_date)},
        )
    ]


@_on(Student.AktivitetsplanClosed)
def _student_aktivitetsplan_closed(
    e: Student.AktivitetsplanClosed, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [Patch("plans", {"plan_id": str(e.plan_id)}, {"closed": 1})]


# -- vedtak ----------------------------------------------------------------------------------


@_on(Vedtak.Opened)
def _vedtak_opened(e: Vedtak.Opened, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        _stream(e, "vedtak", e.school_code),
        Put(
            "vedtak",
            {
                "vedtak_id": sid,
                "student_id": str(e.student_id),
                "school": e.school_code,
                "kind": e.kind,
                "status": "opened",
                "valid_from": None,
                "valid_to": None,
                "revoked_on": None,
                **{c.value: 0 for c in Competence},
                "appeal_open": 0,
                "notice_date": None,
                "appeal_deadline": None,
            },
        ),
    ]


@_on(Vedtak.RecommendationReceived)
def _vedtak_recommendation_received(
    e: Vedtak.RecommendationReceived, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [Patch("vedtak", {"vedtak_id": sid}, {"status": "recommended"})]


@_on(Vedtak.Decided)
def _vedtak_decided(e: Vedtak.Decided, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch(
            "vedtak",
            {"vedtak_id": sid},
            {
                "status": "decided",
                "valid_from": _s(e.valid_from),
                "valid_to": _s(e.valid_to),
                **{c.value: int(e.hours.get(c.value, 0)) for c in Competence},
            },
        )
    ]


@_on(Vedtak.Amended)
def _vedtak_amended(e: Vedtak.Amended, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch(
            "vedtak",
            {"vedtak_id": sid},
            {
                "valid_to": _s(e.valid_to),
                "notice_date": None,
                "appeal_deadline": None,
                **{c.value: int(e.hours.get(c.value, 0)) for c in Competence},
            },
        )
    ]


@_on(Vedtak.NoticeSent)
def _vedtak_notice_sent(e: Vedtak.NoticeSent, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch(
            "vedtak",
            {"vedtak_id": sid},
            {"notice_date": _s(e.notice_date), "appeal_deadline": _s(e.appeal_deadline)},
        )
    ]


@_on(Vedtak.AppealLodged)
def _vedtak_appeal_lodged(e: Vedtak.AppealLodged, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("vedtak", {"vedtak_id": sid}, {"appeal_open": 1})]


@_on(Vedtak.AppealResolved)
def _vedtak_appeal_resolved(e: Vedtak.AppealResolved, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("vedtak", {"vedtak_id": sid}, {"appeal_open": 0})]


@_on(Vedtak.Revoked)
def _vedtak_revoked(e: Vedtak.Revoked, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch("vedtak", {"vedtak_id": sid}, {"status": "revoked", "revoked_on": _s(e.revoked_on)})
    ]


@_on(Vedtak.Expired)
def _vedtak_expired(e: Vedtak.Expired, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("vedtak", {"vedtak_id": sid}, {"status": "expired"})]


# -- team ------------------------------------------------------------------------------------


@_on(Team.Formed)
def _team_formed(e: Team.Formed, sid: str, school_of: SchoolOf) -> list[Op]:
    return [_stream(e, "team", e.school_code)]


@_on(Team.MemberJoined)
def _team_member_joined(e: Team.MemberJoined, sid: str, school_of: SchoolOf) -> list[Op]:
    school = school_of(sid)
    return [
        Put(
            "members",
            {
                "school": school,
                "member_id": e.member_id,
                "profession": e.profession,
                "joined_on": _s(e.joined_on),
                "left_on": None,
                "coordinator": 0,
            },
        ),
        Put(
            "positions",
            {
                "school": school,
                "member_id": e.member_id,
                "effective_from": _s(e.joined_on),
                "percent": str(e.position_percent),
            },
        ),
    ]


@_on(Team.PositionChanged)
def _team_position_changed(e: Team.PositionChanged, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Put(
            "positions",
            {
                "school": school_of(sid),
                "member_id": e.member_id,
                "effective_from": _s(e.effective_from),
                "percent": str(e.position_percent),
            },
        )
    ]


@_on(Team.CoordinatorAppointed)
def _team_coordinator_appointed(
    e: Team.CoordinatorAppointed, sid: str, school_of: SchoolOf
) -> list[Op]:
    school = school_of(sid)
    ops: list[Op] = []
    if e.previous_member_id is not None:
        ops.append(
            Patch(
                "members",
                {"school": school, "member_id": e.previous_member_id},
                {"coordinator": 0},
            )
        )
    ops.append(Patch("members", {"school": school, "member_id": e.member_id}, {"coordinator": 1}))
    return ops


@_on(Team.AssignmentMade)
def _team_assignment_made(e: Team.AssignmentMade, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Put(
            "assignments",
            {
                "assignment_id": str(e.assignment_id),
                "school": school_of(sid),
                "member_id": e.member_id,
                "target_kind": e.target_kind,
                "student_id": _s(e.student_id),
                "vedtak_id": _s(e.vedtak_id),
                "trinn": e.trinn,
                "class_name": e.class_name,
                "minutes": e.minutes_per_week,
                "valid_from": _s(e.valid_from),
                "valid_to": _s(e.valid_to),
            },
        )
    ]


@_on(Team.AssignmentEnded)
def _team_assignment_ended(e: Team.AssignmentEnded, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch("assignments", {"assignment_id": str(e.assignment_id)}, {"valid_to": _s(e.ended_on)})
    ]


@_on(Team.MemberLeft)
def _team_member_left(e: Team.MemberLeft, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        Patch(
            "members",
            {"school": school_of(sid), "member_id": e.member_id},
            {"left_on": _s(e.left_on), "coordinator": 0},
        )
    ]


# -- meetings --------------------------------------------------------------------------------


@_on(Meeting.Scheduled)
def _meeting_scheduled(e: Meeting.Scheduled, sid: str, school_of: SchoolOf) -> list[Op]:
    return [
        _stream(e, "meeting", e.school_code),
        Put(
            "meetings",
            {
                "meeting_id": sid,
                "school": e.school_code,
                "kind": e.kind,
                "scheduled_at": _s(e.scheduled_at),
                "held_at": None,
                "closed": 0,
                "cancelled": 0,
                "open": 1,
            },
        ),
    ]


@_on(Meeting.ExternalParticipantAdded)
def _meeting_external_participant_added(
    e: Meeting.ExternalParticipantAdded, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [Put("meeting_bodies", {"meeting_id": sid, "body": e.body})]


@_on(Meeting.AgendaItemAdded)
def _meeting_agenda_item_added(
    e: Meeting.AgendaItemAdded, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Put(
            "agenda",
            {
                "item_id": str(e.item_id),
                "meeting_id": sid,
                "school": school_of(sid),
                "subject_kind": e.subject_kind,
                "student_id": _s(e.student_id),
                "anonymous": 1 if e.anonymous else 0,
                "trinn": e.trinn,
                "class_name": e.class_name,
                "concern_id": _s(e.concern_id),
            },
        )
    ]


@_on(Meeting.DecisionRecorded)
def _meeting_decision_recorded(
    e: Meeting.DecisionRecorded, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Put(
            "actions",
            {
                "decision_id": str(e.decision_id),
                "meeting_id": sid,
                "school": school_of(sid),
                "item_id": str(e.item_id),
                "student_id": _s(e.student_id),
                "outcome": e.outcome,
                "responsible": e.responsible,
                "due": _s(e.due),
                "completed_on": None,
                "open": 0 if e.responsible is None else 1,
            },
        )
    ]


@_on(Meeting.ActionCompleted)
def _meeting_action_completed(
    e: Meeting.ActionCompleted, sid: str, school_of: SchoolOf
) -> list[Op]:
    return [
        Patch(
            "actions",
            {"decision_id": str(e.decision_id)},
            {"completed_on": _s(e.completed_on), "open": 0},
        )
    ]


@_on(Meeting.Held)
def _meeting_held(e: Meeting.Held, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("meetings", {"meeting_id": sid}, {"held_at": _s(e.held_at), "open": 0})]


@_on(Meeting.MinutesClosed)
def _meeting_minutes_closed(e: Meeting.MinutesClosed, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("meetings", {"meeting_id": sid}, {"closed": 1})]


@_on(Meeting.Cancelled)
def _meeting_cancelled(e: Meeting.Cancelled, sid: str, school_of: SchoolOf) -> list[Op]:
    return [Patch("meetings", {"meeting_id": sid}, {"cancelled": 1, "open": 0})]


# -- case file and access log ----------------------------------------------------------------


@_on(CaseFile.Opened)
def _case_file_opened(e: CaseFile.Opened, sid: str, school_of: SchoolOf) -> list[Op]:
    return [_stream(e, "casefile", school_of(str(e.student_id)))]


@_on(AccessLog.Started)
def _access_log_started(e: AccessLog.Started, sid: str, school_of: SchoolOf) -> list[Op]:
    return [_stream(e, "accesslog", school_of(str(e.student_id)))]


def day_before(value: date) -> date:
    return value - timedelta(days=1)
