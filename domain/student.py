"""Student: one student's case stream.

Placement (school, trinn, class), departure, observations and their corrections, concerns,
consents, referrals to external services and aktivitetsplaner (Education Act § 12-4).

Every event is about the student whose stream it is (``SUBJECT_FIELD = "originator_id"``).
Observations are never edited: a correction is a new entry pointing at the original, and the
latest correction of an original supersedes earlier ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Final, TypeVar
from uuid import UUID

import attrs

from domain.base import MiljoAggregate
from domain.errors import (
    AlreadyExists,
    ClassUnchanged,
    ConsentAlreadyWithdrawn,
    ConsentGiverNotEligible,
    CorrectionOfCorrection,
    DateInFuture,
    EvaluationDateInPast,
    InvalidStatusTransition,
    InvalidValue,
    ObservationInFuture,
    PlanClosed,
    StudentNotActive,
    UnknownEntry,
)
from domain.values import (
    Actor,
    Arena,
    ExternalBody,
    MeetingKind,
    ObservationCategory,
    Role,
    check_class_name,
    check_date,
    check_period,
    check_person_id,
    check_school_code,
    check_text,
    check_trinn,
    local_date,
    require_aware,
)

# ---------------------------------------------------------------------------------------------
# Vocabularies of this aggregate (values are stored in events: never rename them)
# ---------------------------------------------------------------------------------------------


class DepartureKind(StrEnum):
    LEFT = "left"
    TRANSFERRED = "transferred"


class ConsentGiver(StrEnum):
    GUARDIAN = "guardian"
    STUDENT = "student"


class ConsentScopeKind(StrEnum):
    BODY = "body"  # scope is an ExternalBody value
    MEETING_KIND = "meeting_kind"  # scope is a MeetingKind value


class ReferralStatus(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


#: Allowed referral status transitions; statuses without successors are terminal.
REFERRAL_TRANSITIONS: Final[dict[ReferralStatus, frozenset[ReferralStatus]]] = {
    ReferralStatus.SENT: frozenset(
        {ReferralStatus.ACKNOWLEDGED, ReferralStatus.REJECTED, ReferralStatus.WITHDRAWN}
    ),
    ReferralStatus.ACKNOWLEDGED: frozenset(
        {ReferralStatus.ACCEPTED, ReferralStatus.REJECTED, ReferralStatus.WITHDRAWN}
    ),
    ReferralStatus.ACCEPTED: frozenset({ReferralStatus.CLOSED}),
    ReferralStatus.REJECTED: frozenset(),
    ReferralStatus.WITHDRAWN: frozenset(),
    ReferralStatus.CLOSED: frozenset(),
}

#: External services a school refers a student to.
REFERRAL_BODIES: Final = frozenset(
    {
        ExternalBody.PPT,
        ExternalBody.BUP,
        ExternalBody.BARNEVERN,
        ExternalBody.PSYKISK_HELSE,
        ExternalBody.FAMILIEVERN,
        ExternalBody.NAV,
        ExternalBody.OTHER,
    }
)

#: The student may give consent from 16; the domain approximates that as Vg1 (trinn 11) or up.
STUDENT_CONSENT_MIN_TRINN: Final = 11

MAX_NAME_LENGTH: Final = 200
MAX_SHORT_TEXT: Final = 2_000

_STUDENT_NUMBER = re.compile(r"[A-Za-z0-9-]{1,20}")


def check_student_number(value: str) -> str:
    # fullmatch: "S-1\n" is not S-1 (a pattern's "$" with match() accepts a final newline).
    if not isinstance(value, str) or not _STUDENT_NUMBER.fullmatch(value):
        raise InvalidValue("student number", "must be 1-20 characters of letters, digits or '-'")
    return value


def _check_date(value: date, what: str) -> date:
    """A calendar date in the years the domain accepts (``values.check_date``, ADR 0007
    addendum). Commands only: stored events are replayed as they are."""
    return check_date(value, what)


def _check_uuid(value: UUID, what: str) -> UUID:
    if not isinstance(value, UUID):
        raise InvalidValue(what, "must be a UUID")
    return value


E = TypeVar("E", bound=StrEnum)


def _enum_value(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidValue(what, f"must be one of: {allowed}") from None


def _check_categories(categories: list[str]) -> list[str]:
    if not isinstance(categories, list | tuple) or not categories:
        raise InvalidValue("observation categories", "must name at least one category")
    values = [_enum_value(ObservationCategory, c, "observation category").value for c in categories]
    if len(set(values)) != len(values):
        raise InvalidValue("observation categories", "must not repeat a category")
    return values


def _to_categories(values: Iterable[str]) -> list[ObservationCategory]:
    return [ObservationCategory(v) for v in values]


def _str_list(values: Iterable[str]) -> list[str]:
    return list(values)


def _uuid_list(values: Iterable[UUID]) -> list[UUID]:
    return list(values)


# ---------------------------------------------------------------------------------------------
# Value objects held in state (registered for snapshot transcoding via VALUE_TYPES)
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class Placement:
    """The student's trinn and class from a date on."""

    trinn: int
    class_name: str
    effective_from: date


@attrs.frozen
class Departure:
    kind: DepartureKind = attrs.field(converter=DepartureKind)
    departed_on: date
    to_school: str | None


@attrs.frozen(repr=False)
class ObservationEntry:
    """One recorded version of an observation: the original or a correction of it."""

    entry_id: UUID
    corrects: UUID | None  # None for an original
    arena: Arena = attrs.field(converter=Arena)
    categories: list[ObservationCategory] = attrs.field(converter=_to_categories)
    text: str
    student_voice: str | None
    observed_at: datetime
    recorded_at: datetime
    author_id: str
    author_role: Role = attrs.field(converter=Role)
    reason: str | None  # why a correction was made; None for an original

    def __repr__(self) -> str:
        return f"ObservationEntry(entry_id={self.entry_id}, corrects={self.corrects})"


@attrs.frozen(repr=False)
class Concern:
    concern_id: UUID
    text: str
    raised_at: datetime
    raised_by: str
    raised_by_role: Role = attrs.field(converter=Role)
    discussed_in: list[UUID] = attrs.field(converter=_uuid_list)  # meeting ids, in order

    def __repr__(self) -> str:
        return f"Concern(concern_id={self.concern_id}, discussed_in={self.discussed_in})"


@attrs.frozen(repr=False)
class Consent:
    consent_id: UUID
    giver: ConsentGiver = attrs.field(converter=ConsentGiver)
    scope_kind: ConsentScopeKind = attrs.field(converter=ConsentScopeKind)
    scope: str  # an ExternalBody value or a MeetingKind value, per scope_kind
    valid_from: date
    valid_to: date | None
    note: str | None
    recorded_at: datetime
    recorded_by: str
    withdrawn_on: date | None

    def is_valid_on(self, day: date) -> bool:
        """Within its period and not withdrawn on or before ``day``."""
        if self.withdrawn_on is not None and self.withdrawn_on <= day:
            return False
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def __repr__(self) -> str:
        return (
            f"Consent(consent_id={self.consent_id}, giver={self.giver.value}, "
            f"scope={self.scope_kind.value}:{self.scope})"
        )


#: What ``Student.consents()`` returns.
ConsentView = Consent


@attrs.frozen(repr=False)
class Referral:
    referral_id: UUID
    body: ExternalBody = attrs.field(converter=ExternalBody)
    reason: str
    made_on: date
    made_by: str
    status: ReferralStatus = attrs.field(converter=ReferralStatus)
    status_changed_on: date

    @property
    def is_pending(self) -> bool:
        return bool(REFERRAL_TRANSITIONS[self.status])

    def __repr__(self) -> str:
        return (
            f"Referral(referral_id={self.referral_id}, body={self.body.value}, "
            f"status={self.status.value})"
        )


@attrs.frozen(repr=False)
class Aktivitetsplan:
    """A § 12-4 plan: problem, measures, when, who is responsible, when it is evaluated."""

    plan_id: UUID
    problem: str
    measures: list[str] = attrs.field(converter=_str_list)
    when: str
    responsible: str
    evaluation_date: date | None  # the next scheduled evaluation; None when none is scheduled
    created_at: datetime
    created_by: str
    last_evaluated_on: date | None
    closed_on: date | None
    close_reason: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    def __repr__(self) -> str:
        return (
            f"Aktivitetsplan(plan_id={self.plan_id}, evaluation_date={self.evaluation_date}, "
            f"closed_on={self.closed_on})"
        )


@attrs.frozen(repr=False)
class PlanEvaluation:
    plan_id: UUID
    evaluated_on: date
    assessment: str
    next_evaluation_date: date | None
    recorded_at: datetime
    evaluated_by: str

    def __repr__(self) -> str:
        return f"PlanEvaluation(plan_id={self.plan_id}, evaluated_on={self.evaluated_on})"


#: What can be restricted (sperret): archival records of a student, or the whole case.
RESTRICTION_SCOPES: Final = ("vedtak", "aktivitetsplan", "case")
#: Grounds for erasing personal data outside the archive duty.
ERASURE_BASES: Final = ("never_filed", "retention_expired", "third_party", "draft", "request")

VALUE_TYPES = (
    Placement,
    Departure,
    ObservationEntry,
    Concern,
    Consent,
    Referral,
    Aktivitetsplan,
    PlanEvaluation,
)


@attrs.frozen(repr=False)
class ObservationView:
    """The current version of one observation (read model; not held in state)."""

    observation_id: UUID  # the original's id
    version_id: UUID  # the entry the content comes from (original or latest correction)
    arena: Arena
    categories: list[ObservationCategory]
    text: str
    student_voice: str | None
    observed_at: datetime
    recorded_at: datetime  # when the shown version was recorded
    author_id: str  # who recorded the shown version
    author_role: Role
    first_recorded_at: datetime  # when the original was recorded
    first_author_id: str
    corrected: bool
    correction_ids: list[UUID]  # corrections of the original, oldest first
    correction_reason: str | None  # reason of the shown correction

    def __repr__(self) -> str:
        return f"ObservationView(observation_id={self.observation_id}, version={self.version_id})"


# ---------------------------------------------------------------------------------------------
# The aggregate
# ---------------------------------------------------------------------------------------------


class Student(MiljoAggregate):
    TOPIC = "miljo:Student"
    #: Version of the aggregate's state in snapshots (v2 added restrictions and erasures).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["restrictions"] = []
        state["erasures"] = []

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Registered)."""

        TOPIC = "miljo:Student.Created"

    class Registered(MiljoAggregate.Created):
        TOPIC = "miljo:Student.Registered"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"student_number", "name"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "registered_on"
        school_code: str
        student_number: str
        name: str
        trinn: int
        class_name: str
        registered_on: date

        def apply(self, student: Student) -> None:
            student.school_code = self.school_code
            student.student_number = self.student_number
            student.name = self.name
            student.trinn = self.trinn
            student.class_name = self.class_name
            student.registered_on = self.registered_on
            student.placements = [Placement(self.trinn, self.class_name, self.registered_on)]
            student.departure = None
            student.observation_entries = {}
            student.concern_map = {}
            student.consent_map = {}
            student.referral_map = {}
            student.plan_map = {}
            student.plan_evaluations = {}
            student.restrictions = []
            student.erasures = []

        def summary(self) -> str:
            return (
                f"student registered at school {self.school_code}, trinn {self.trinn} "
                f"class {self.class_name} from {self.registered_on}"
            )

    class ClassChanged(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ClassChanged"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "effective_from"
        trinn: int
        class_name: str
        effective_from: date

        def apply(self, student: Student) -> None:
            student.trinn = self.trinn
            student.class_name = self.class_name
            student.placements.append(Placement(self.trinn, self.class_name, self.effective_from))

        def summary(self) -> str:
            return (
                f"class changed to trinn {self.trinn} class {self.class_name} "
                f"from {self.effective_from}"
            )

    class Departed(MiljoAggregate.Event):
        TOPIC = "miljo:Student.Departed"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "departed_on"
        kind: str
        departed_on: date
        to_school: str | None

        def apply(self, student: Student) -> None:
            student.departure = Departure(
                kind=DepartureKind(self.kind),
                departed_on=self.departed_on,
                to_school=self.to_school,
            )

        def summary(self) -> str:
            target = f" to school {self.to_school}" if self.to_school else ""
            return f"student {self.kind}{target} on {self.departed_on}"

    class ObservationRecorded(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ObservationRecorded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text", "student_voice"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "observed_at"
        observation_id: UUID
        arena: str
        categories: list[str]
        text: str
        observed_at: datetime
        student_voice: str | None

        def apply(self, student: Student) -> None:
            student.observation_entries[str(self.observation_id)] = ObservationEntry(
                entry_id=self.observation_id,
                corrects=None,
                arena=Arena(self.arena),
                categories=list(self.categories),
                text=self.text,
                student_voice=self.student_voice,
                observed_at=self.observed_at,
                recorded_at=self.timestamp,
                author_id=self.actor_id,
                author_role=Role(self.actor_role),
                reason=None,
            )

        def summary(self) -> str:
            return (
                f"observation {self.observation_id} recorded (arena {self.arena}; "
                f"{', '.join(self.categories)})"
            )

    class ObservationCorrected(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ObservationCorrected"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text", "student_voice", "reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "observed_at"
        correction_id: UUID
        corrects: UUID
        arena: str
        categories: list[str]
        text: str
        observed_at: datetime
        student_voice: str | None
        reason: str

        def apply(self, student: Student) -> None:
            student.observation_entries[str(self.correction_id)] = ObservationEntry(
                entry_id=self.correction_id,
                corrects=self.corrects,
                arena=Arena(self.arena),
                categories=list(self.categories),
                text=self.text,
                student_voice=self.student_voice,
                observed_at=self.observed_at,
                recorded_at=self.timestamp,
                author_id=self.actor_id,
                author_role=Role(self.actor_role),
                reason=self.reason,
            )

        def summary(self) -> str:
            return f"observation {self.corrects} corrected by {self.correction_id}"

    class ConcernRaised(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ConcernRaised"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"text"})
        concern_id: UUID
        text: str

        def apply(self, student: Student) -> None:
            student.concern_map[str(self.concern_id)] = Concern(
                concern_id=self.concern_id,
                text=self.text,
                raised_at=self.timestamp,
                raised_by=self.actor_id,
                raised_by_role=Role(self.actor_role),
                discussed_in=[],
            )

        def summary(self) -> str:
            return f"concern {self.concern_id} raised"

    class ConcernDiscussed(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ConcernDiscussed"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        concern_id: UUID
        meeting_id: UUID

        def apply(self, student: Student) -> None:
            key = str(self.concern_id)
            concern = student.concern_map[key]
            student.concern_map[key] = attrs.evolve(
                concern, discussed_in=[*concern.discussed_in, self.meeting_id]
            )

        def summary(self) -> str:
            return f"concern {self.concern_id} discussed in meeting {self.meeting_id}"

    class ConsentRecorded(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ConsentRecorded"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"note"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "valid_from"
        consent_id: UUID
        giver: str
        scope_kind: str
        scope: str
        valid_from: date
        valid_to: date | None
        note: str | None

        def apply(self, student: Student) -> None:
            student.consent_map[str(self.consent_id)] = Consent(
                consent_id=self.consent_id,
                giver=ConsentGiver(self.giver),
                scope_kind=ConsentScopeKind(self.scope_kind),
                scope=self.scope,
                valid_from=self.valid_from,
                valid_to=self.valid_to,
                note=self.note,
                recorded_at=self.timestamp,
                recorded_by=self.actor_id,
                withdrawn_on=None,
            )

        def summary(self) -> str:
            until = self.valid_to.isoformat() if self.valid_to else "open"
            return (
                f"consent {self.consent_id} recorded: {self.giver} for {self.scope_kind} "
                f"{self.scope}, {self.valid_from} to {until}"
            )

    class ConsentWithdrawn(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ConsentWithdrawn"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "withdrawn_on"
        consent_id: UUID
        withdrawn_on: date

        def apply(self, student: Student) -> None:
            key = str(self.consent_id)
            student.consent_map[key] = attrs.evolve(
                student.consent_map[key], withdrawn_on=self.withdrawn_on
            )

        def summary(self) -> str:
            return f"consent {self.consent_id} withdrawn on {self.withdrawn_on}"

    class ReferralMade(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ReferralMade"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "made_on"
        referral_id: UUID
        body: str
        reason: str
        made_on: date

        def apply(self, student: Student) -> None:
            student.referral_map[str(self.referral_id)] = Referral(
                referral_id=self.referral_id,
                body=ExternalBody(self.body),
                reason=self.reason,
                made_on=self.made_on,
                made_by=self.actor_id,
                status=ReferralStatus.SENT,
                status_changed_on=self.made_on,
            )

        def summary(self) -> str:
            return f"referral {self.referral_id} to {self.body} made on {self.made_on}"

    class ReferralStatusChanged(MiljoAggregate.Event):
        TOPIC = "miljo:Student.ReferralStatusChanged"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "changed_on"
        referral_id: UUID
        previous_status: str
        status: str
        changed_on: date

        def apply(self, student: Student) -> None:
            key = str(self.referral_id)
            student.referral_map[key] = attrs.evolve(
                student.referral_map[key],
                status=ReferralStatus(self.status),
                status_changed_on=self.changed_on,
            )

        def summary(self) -> str:
            return (
                f"referral {self.referral_id} {self.previous_status} -> {self.status} "
                f"on {self.changed_on}"
            )

    class AktivitetsplanCreated(MiljoAggregate.Event):
        TOPIC = "miljo:Student.AktivitetsplanCreated"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"problem", "measures", "when"})
        plan_id: UUID
        problem: str
        measures: list[str]
        when: str
        responsible: str
        evaluation_date: date

        def apply(self, student: Student) -> None:
            student.plan_map[str(self.plan_id)] = Aktivitetsplan(
                plan_id=self.plan_id,
                problem=self.problem,
                measures=list(self.measures),
                when=self.when,
                responsible=self.responsible,
                evaluation_date=self.evaluation_date,
                created_at=self.timestamp,
                created_by=self.actor_id,
                last_evaluated_on=None,
                closed_on=None,
                close_reason=None,
            )
            student.plan_evaluations[str(self.plan_id)] = []

        def summary(self) -> str:
            return (
                f"aktivitetsplan {self.plan_id} created ({len(self.measures)} measures, "
                f"responsible {self.responsible}, evaluation {self.evaluation_date})"
            )

    class AktivitetsplanEvaluated(MiljoAggregate.Event):
        TOPIC = "miljo:Student.AktivitetsplanEvaluated"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"assessment"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "evaluated_on"
        plan_id: UUID
        evaluated_on: date
        assessment: str
        next_evaluation_date: date | None

        def apply(self, student: Student) -> None:
            key = str(self.plan_id)
            student.plan_map[key] = attrs.evolve(
                student.plan_map[key],
                evaluation_date=self.next_evaluation_date,
                last_evaluated_on=self.evaluated_on,
            )
            student.plan_evaluations[key].append(
                PlanEvaluation(
                    plan_id=self.plan_id,
                    evaluated_on=self.evaluated_on,
                    assessment=self.assessment,
                    next_evaluation_date=self.next_evaluation_date,
                    recorded_at=self.timestamp,
                    evaluated_by=self.actor_id,
                )
            )

        def summary(self) -> str:
            following = (
                self.next_evaluation_date.isoformat() if self.next_evaluation_date else "none"
            )
            return (
                f"aktivitetsplan {self.plan_id} evaluated on {self.evaluated_on} "
                f"(next evaluation {following})"
            )

    class AktivitetsplanClosed(MiljoAggregate.Event):
        TOPIC = "miljo:Student.AktivitetsplanClosed"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "closed_on"
        plan_id: UUID
        closed_on: date
        reason: str

        def apply(self, student: Student) -> None:
            key = str(self.plan_id)
            student.plan_map[key] = attrs.evolve(
                student.plan_map[key], closed_on=self.closed_on, close_reason=self.reason
            )

        def summary(self) -> str:
            return f"aktivitetsplan {self.plan_id} closed on {self.closed_on}"

    class RecordsRestricted(MiljoAggregate.Event):
        """Archival records are restricted (sperret), never erased: reading them then needs
        a permitted role and a stated reason."""

        TOPIC = "miljo:Student.RecordsRestricted"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "restricted_on"
        scope: str
        reason: str
        restricted_on: date

        def apply(self, student: Student) -> None:
            student.restrictions.append(self.scope)

        def summary(self) -> str:
            return f"records restricted ({self.scope}) from {self.restricted_on}"

    class RestrictionLifted(MiljoAggregate.Event):
        TOPIC = "miljo:Student.RestrictionLifted"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "lifted_on"
        scope: str
        reason: str
        lifted_on: date

        def apply(self, student: Student) -> None:
            student.restrictions.remove(self.scope)

        def summary(self) -> str:
            return f"restriction ({self.scope}) lifted on {self.lifted_on}"

    class PersonalDataErased(MiljoAggregate.Event):
        """The student's erasable data key was deleted: personal fields outside the archive
        duty are unreadable from now on, everywhere. The erasure itself is recorded."""

        TOPIC = "miljo:Student.PersonalDataErased"
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "originator_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "erased_on"
        basis: str
        erased_on: date

        def apply(self, student: Student) -> None:
            student.erasures.append(self.erased_on)

        def summary(self) -> str:
            return f"personal data outside the archive erased ({self.basis}) on {self.erased_on}"

    if TYPE_CHECKING:  # state, set only by apply (not constructor arguments)
        restrictions: list[str]  # restricted scopes (RESTRICTION_SCOPES)
        erasures: list[date]
        school_code: str
        student_number: str
        name: str
        trinn: int  # of the latest placement recorded, even one not yet in force (class_on)
        class_name: str  # likewise
        registered_on: date
        placements: list[Placement]
        departure: Departure | None
        observation_entries: dict[str, ObservationEntry]  # originals and corrections, by id
        concern_map: dict[str, Concern]
        consent_map: dict[str, Consent]
        referral_map: dict[str, Referral]
        plan_map: dict[str, Aktivitetsplan]
        plan_evaluations: dict[str, list[PlanEvaluation]]

    # -- creation --------------------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        student_id: UUID,
        school_code: str,
        student_number: str,
        name: str,
        trinn: int,
        class_name: str,
        registered_on: date,
        actor: Actor,
        at: datetime,
    ) -> Student:
        _check_uuid(student_id, "student id")
        check_school_code(school_code)
        check_student_number(student_number)
        check_text(name, "student name", limit=MAX_NAME_LENGTH)
        check_trinn(trinn)
        check_class_name(class_name)
        _check_date(registered_on, "registration date")
        return cls._start(
            cls.Registered,
            id=student_id,
            actor=actor,
            at=at,
            school_code=school_code,
            student_number=student_number,
            name=name,
            trinn=trinn,
            class_name=class_name,
            registered_on=registered_on,
        )

    # -- placement and departure -----------------------------------------------------------------

    def change_class(
        self, *, trinn: int, class_name: str, effective_from: date, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        check_trinn(trinn)
        check_class_name(class_name)
        _check_date(effective_from, "class change date")
        if (trinn, class_name) == (self.trinn, self.class_name):
            raise ClassUnchanged(
                f"student is already in trinn {trinn} class {class_name}",
                trinn=trinn,
                class_name=class_name,
            )
        if effective_from < self.placements[-1].effective_from:
            raise InvalidValue("class change date", "must not be before the current placement")
        self._record(
            self.ClassChanged,
            actor=actor,
            at=at,
            trinn=trinn,
            class_name=class_name,
            effective_from=effective_from,
        )

    def record_departure(
        self, *, kind: str, on: date, to_school: str | None, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        departure_kind = _enum_value(DepartureKind, kind, "departure kind")
        _check_date(on, "departure date")
        if departure_kind is DepartureKind.TRANSFERRED:
            if to_school is None:
                raise InvalidValue("receiving school", "is required for a transfer")
            check_school_code(to_school)
            if to_school == self.school_code:
                raise InvalidValue("receiving school", "must be another school")
        elif to_school is not None:
            raise InvalidValue("receiving school", "is given only for a transfer")
        if on < self.registered_on:
            raise InvalidValue("departure date", "must not be before the registration date")
        self._not_in_future(on, "departure date", at)
        self._record(
            self.Departed,
            actor=actor,
            at=at,
            kind=departure_kind.value,
            departed_on=on,
            to_school=to_school,
        )

    # -- observations ----------------------------------------------------------------------------

    def record_observation(
        self,
        *,
        observation_id: UUID,
        arena: str,
        categories: list[str],
        text: str,
        observed_at: datetime,
        student_voice: str | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        _check_uuid(observation_id, "observation id")
        fields = self._observation_fields(arena, categories, text, observed_at, student_voice, at)
        if str(observation_id) in self.observation_entries:
            raise AlreadyExists(f"observation {observation_id} already exists")
        self._record(
            self.ObservationRecorded, actor=actor, at=at, observation_id=observation_id, **fields
        )

    def correct_observation(
        self,
        *,
        correction_id: UUID,
        corrects: UUID,
        arena: str,
        categories: list[str],
        text: str,
        observed_at: datetime,
        student_voice: str | None,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        _check_uuid(correction_id, "correction id")
        _check_uuid(corrects, "corrected observation id")
        fields = self._observation_fields(arena, categories, text, observed_at, student_voice, at)
        check_text(reason, "correction reason", limit=MAX_SHORT_TEXT)
        original = self.observation_entries.get(str(corrects))
        if original is None:
            raise UnknownEntry(f"observation {corrects} not found", observation_id=corrects)
        if original.corrects is not None:
            raise CorrectionOfCorrection(
                f"entry {corrects} is a correction; correct observation {original.corrects}",
                observation_id=original.corrects,
            )
        if str(correction_id) in self.observation_entries:
            raise AlreadyExists(f"observation {correction_id} already exists")
        self._record(
            self.ObservationCorrected,
            actor=actor,
            at=at,
            correction_id=correction_id,
            corrects=corrects,
            reason=reason,
            **fields,
        )

    def _observation_fields(
        self,
        arena: str,
        categories: list[str],
        text: str,
        observed_at: datetime,
        student_voice: str | None,
        at: datetime,
    ) -> dict[str, object]:
        arena_value = _enum_value(Arena, arena, "arena").value
        category_values = _check_categories(categories)
        check_text(text, "observation text")
        if student_voice is not None:
            check_text(student_voice, "student voice")
        observed = require_aware(observed_at, "observed time")
        if observed > require_aware(at, "recorded time"):
            raise ObservationInFuture("observation time is after the time it is recorded")
        return {
            "arena": arena_value,
            "categories": category_values,
            "text": text,
            "observed_at": observed,
            "student_voice": student_voice,
        }

    # -- concerns --------------------------------------------------------------------------------

    def raise_concern(self, *, concern_id: UUID, summary: str, actor: Actor, at: datetime) -> None:
        self._require_active()
        _check_uuid(concern_id, "concern id")
        check_text(summary, "concern summary", limit=MAX_SHORT_TEXT)
        if str(concern_id) in self.concern_map:
            raise AlreadyExists(f"concern {concern_id} already exists")
        self._record(self.ConcernRaised, actor=actor, at=at, concern_id=concern_id, text=summary)

    def record_concern_discussed(
        self, *, concern_id: UUID, meeting_id: UUID, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        _check_uuid(concern_id, "concern id")
        _check_uuid(meeting_id, "meeting id")
        concern = self.concern_map.get(str(concern_id))
        if concern is None:
            raise UnknownEntry(f"concern {concern_id} not found", concern_id=concern_id)
        if meeting_id in concern.discussed_in:
            raise AlreadyExists(f"concern {concern_id} already discussed in meeting {meeting_id}")
        self._record(
            self.ConcernDiscussed, actor=actor, at=at, concern_id=concern_id, meeting_id=meeting_id
        )

    # -- consents --------------------------------------------------------------------------------

    def record_consent(
        self,
        *,
        consent_id: UUID,
        giver: str,
        scope_kind: str,
        scope: str,
        valid_from: date,
        valid_to: date | None,
        note: str | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        _check_uuid(consent_id, "consent id")
        giver_value = _enum_value(ConsentGiver, giver, "consent giver")
        kind = _enum_value(ConsentScopeKind, scope_kind, "consent scope kind")
        if kind is ConsentScopeKind.BODY:
            scope_value = _enum_value(ExternalBody, scope, "consent scope").value
        else:
            scope_value = _enum_value(MeetingKind, scope, "consent scope").value
        _check_date(valid_from, "consent start")
        if valid_to is not None:
            _check_date(valid_to, "consent end")
        check_period(valid_from, valid_to, "consent period")
        if note is not None:
            check_text(note, "consent note", limit=MAX_SHORT_TEXT)
        if giver_value is ConsentGiver.STUDENT and self.trinn < STUDENT_CONSENT_MIN_TRINN:
            raise ConsentGiverNotEligible(
                f"a student gives consent only from trinn {STUDENT_CONSENT_MIN_TRINN} (age 16)",
                trinn=self.trinn,
            )
        if str(consent_id) in self.consent_map:
            raise AlreadyExists(f"consent {consent_id} already exists")
        self._record(
            self.ConsentRecorded,
            actor=actor,
            at=at,
            consent_id=consent_id,
            giver=giver_value.value,
            scope_kind=kind.value,
            scope=scope_value,
            valid_from=valid_from,
            valid_to=valid_to,
            note=note,
        )

    def withdraw_consent(
        self, *, consent_id: UUID, withdrawn_on: date, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        _check_uuid(consent_id, "consent id")
        _check_date(withdrawn_on, "withdrawal date")
        consent = self.consent_map.get(str(consent_id))
        if consent is None:
            raise UnknownEntry(f"consent {consent_id} not found", consent_id=consent_id)
        if consent.withdrawn_on is not None:
            raise ConsentAlreadyWithdrawn(
                f"consent {consent_id} was withdrawn on {consent.withdrawn_on}",
                consent_id=consent_id,
            )
        self._not_in_future(withdrawn_on, "withdrawal date", at)
        self._record(
            self.ConsentWithdrawn,
            actor=actor,
            at=at,
            consent_id=consent_id,
            withdrawn_on=withdrawn_on,
        )

    # -- referrals -------------------------------------------------------------------------------

    def make_referral(
        self,
        *,
        referral_id: UUID,
        body: str,
        reason: str,
        made_on: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        _check_uuid(referral_id, "referral id")
        target = _enum_value(ExternalBody, body, "referral body")
        if target not in REFERRAL_BODIES:
            allowed = ", ".join(sorted(b.value for b in REFERRAL_BODIES))
            raise InvalidValue("referral body", f"must be one of: {allowed}")
        check_text(reason, "referral reason")
        _check_date(made_on, "referral date")
        self._not_in_future(made_on, "referral date", at)
        if str(referral_id) in self.referral_map:
            raise AlreadyExists(f"referral {referral_id} already exists")
        self._record(
            self.ReferralMade,
            actor=actor,
            at=at,
            referral_id=referral_id,
            body=target.value,
            reason=reason,
            made_on=made_on,
        )

    def change_referral_status(
        self, *, referral_id: UUID, status: str, on: date, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        _check_uuid(referral_id, "referral id")
        new_status = _enum_value(ReferralStatus, status, "referral status")
        _check_date(on, "status date")
        referral = self.referral_map.get(str(referral_id))
        if referral is None:
            raise UnknownEntry(f"referral {referral_id} not found", referral_id=referral_id)
        if new_status not in REFERRAL_TRANSITIONS[referral.status]:
            raise InvalidStatusTransition(
                f"referral {referral_id} cannot go from {referral.status.value} "
                f"to {new_status.value}",
                current=referral.status.value,
                requested=new_status.value,
            )
        if on < referral.status_changed_on:
            raise InvalidValue("status date", "must not be before the previous status date")
        self._not_in_future(on, "status date", at)
        self._record(
            self.ReferralStatusChanged,
            actor=actor,
            at=at,
            referral_id=referral_id,
            previous_status=referral.status.value,
            status=new_status.value,
            changed_on=on,
        )

    # -- aktivitetsplan (Education Act § 12-4) ---------------------------------------------------

    def create_aktivitetsplan(
        self,
        *,
        plan_id: UUID,
        problem: str,
        measures: list[str],
        when: str,
        responsible: str,
        evaluation_date: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        _check_uuid(plan_id, "plan id")
        check_text(problem, "plan problem")
        if not isinstance(measures, list | tuple) or not measures:
            raise InvalidValue("plan measures", "must name at least one measure")
        for measure in measures:
            check_text(measure, "plan measure", limit=MAX_SHORT_TEXT)
        check_text(when, "plan timing", limit=MAX_SHORT_TEXT)
        check_person_id(responsible)
        _check_date(evaluation_date, "evaluation date")
        today = local_date(at)
        if evaluation_date < today:
            raise EvaluationDateInPast(
                f"evaluation date {evaluation_date} is before {today}",
                evaluation_date=evaluation_date,
            )
        if str(plan_id) in self.plan_map:
            raise AlreadyExists(f"aktivitetsplan {plan_id} already exists")
        self._record(
            self.AktivitetsplanCreated,
            actor=actor,
            at=at,
            plan_id=plan_id,
            problem=problem,
            measures=list(measures),
            when=when,
            responsible=responsible,
            evaluation_date=evaluation_date,
        )

    def evaluate_aktivitetsplan(
        self,
        *,
        plan_id: UUID,
        evaluated_on: date,
        assessment: str,
        next_evaluation_date: date | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_active()
        plan = self._open_plan(plan_id)
        _check_date(evaluated_on, "evaluation date")
        check_text(assessment, "plan assessment")
        self._not_in_future(evaluated_on, "evaluation date", at)
        if next_evaluation_date is not None:
            _check_date(next_evaluation_date, "next evaluation date")
            today = local_date(at)
            if next_evaluation_date <= evaluated_on or next_evaluation_date < today:
                raise EvaluationDateInPast(
                    f"next evaluation date {next_evaluation_date} must be after the evaluation "
                    f"and not before {today}",
                    evaluation_date=next_evaluation_date,
                )
        self._record(
            self.AktivitetsplanEvaluated,
            actor=actor,
            at=at,
            plan_id=plan.plan_id,
            evaluated_on=evaluated_on,
            assessment=assessment,
            next_evaluation_date=next_evaluation_date,
        )

    def close_aktivitetsplan(
        self, *, plan_id: UUID, closed_on: date, reason: str, actor: Actor, at: datetime
    ) -> None:
        self._require_active()
        plan = self._open_plan(plan_id)
        _check_date(closed_on, "closing date")
        check_text(reason, "closing reason", limit=MAX_SHORT_TEXT)
        self._not_in_future(closed_on, "closing date", at)
        self._record(
            self.AktivitetsplanClosed,
            actor=actor,
            at=at,
            plan_id=plan.plan_id,
            closed_on=closed_on,
            reason=reason,
        )

    # -- rule helpers ----------------------------------------------------------------------------

    def _require_active(self) -> None:
        if self.departure is not None:
            raise StudentNotActive(
                f"student {self.id} departed on {self.departure.departed_on}",
                student_id=self.id,
            )

    @staticmethod
    def _not_in_future(day: date, what: str, at: datetime) -> None:
        today = local_date(at)
        if day > today:
            raise DateInFuture(f"{what} {day} is after {today}", what=what, day=day)

    def _open_plan(self, plan_id: UUID) -> Aktivitetsplan:
        _check_uuid(plan_id, "plan id")
        plan = self.plan_map.get(str(plan_id))
        if plan is None:
            raise UnknownEntry(f"aktivitetsplan {plan_id} not found", plan_id=plan_id)
        if not plan.is_open:
            raise PlanClosed(
                f"aktivitetsplan {plan_id} was closed on {plan.closed_on}", plan_id=plan_id
            )
        return plan

    # -- restriction and erasure -----------------------------------------------------------------

    def restrict(self, *, scope: str, reason: str, on: date, actor: Actor, at: datetime) -> None:
        """Restrict archival records (``vedtak``, ``aktivitetsplan`` or the whole ``case``)."""
        if scope not in RESTRICTION_SCOPES:
            raise InvalidValue(
                "restriction scope", f"must be one of: {', '.join(RESTRICTION_SCOPES)}"
            )
        check_text(reason, "reason", limit=2000)
        _check_date(on, "restriction date")
        if scope in self.restrictions:
            raise AlreadyExists(f"records ({scope}) are already restricted")
        self._record(
            self.RecordsRestricted,
            actor=actor,
            at=at,
            scope=scope,
            reason=reason,
            restricted_on=on,
        )

    def lift_restriction(
        self, *, scope: str, reason: str, on: date, actor: Actor, at: datetime
    ) -> None:
        if scope not in self.restrictions:
            raise UnknownEntry(f"records ({scope}) are not restricted")
        check_text(reason, "reason", limit=2000)
        _check_date(on, "lifting date")
        self._record(
            self.RestrictionLifted, actor=actor, at=at, scope=scope, reason=reason, lifted_on=on
        )

    def record_erasure(self, *, basis: str, on: date, actor: Actor, at: datetime) -> None:
        """Record that the erasable personal data was erased (the key deletion is the
        adapter's part, done in the same command)."""
        if basis not in ERASURE_BASES:
            raise InvalidValue("erasure basis", f"must be one of: {', '.join(ERASURE_BASES)}")
        _check_date(on, "erasure date")
        if on > local_date(at):
            raise DateInFuture(f"erasure date {on.isoformat()} is in the future")
        self._record(self.PersonalDataErased, actor=actor, at=at, basis=basis, erased_on=on)

    def is_restricted(self, scope: str) -> bool:
        """Whether records of ``scope`` are restricted (a restricted case covers all)."""
        return scope in self.restrictions or "case" in self.restrictions

    # -- read helpers ----------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.departure is None

    def placement_on(self, day: date) -> Placement | None:
        """The placement in force on ``day`` (None before registration)."""
        current: Placement | None = None
        for placement in self.placements:
            if placement.effective_from <= day:
                current = placement
        return current

    def class_on(self, day: date) -> Placement:
        """The trinn and class the student is in on ``day``: the placement in force then, or
        before registration the first one. (``trinn`` and ``class_name`` are the latest
        placement recorded, which may take effect later: queries ask for a day.)"""
        return self.placement_on(day) or self.placements[0]

    def current_observations(self) -> list[ObservationView]:
        """The latest version of each observation, ordered by observed time, then recording."""
        corrections: dict[UUID, list[ObservationEntry]] = {}
        originals: list[ObservationEntry] = []
        for entry in self.observation_entries.values():
            if entry.corrects is None:
                originals.append(entry)
            else:
                corrections.setdefault(entry.corrects, []).append(entry)
        views = []
        for original in originals:
            chain = corrections.get(original.entry_id, [])
            shown = chain[-1] if chain else original
            views.append(
                ObservationView(
                    observation_id=original.entry_id,
                    version_id=shown.entry_id,
                    arena=shown.arena,
                    categories=list(shown.categories),
                    text=shown.text,
                    student_voice=shown.student_voice,
                    observed_at=shown.observed_at,
                    recorded_at=shown.recorded_at,
                    author_id=shown.author_id,
                    author_role=shown.author_role,
                    first_recorded_at=original.recorded_at,
                    first_author_id=original.author_id,
                    corrected=bool(chain),
                    correction_ids=[c.entry_id for c in chain],
                    correction_reason=shown.reason,
                )
            )
        views.sort(key=lambda v: v.observed_at)
        return views

    def observation_history(self, observation_id: UUID) -> list[ObservationEntry]:
        """The original and every correction of it, in recording order (for audits)."""
        original = self.observation_entries.get(str(observation_id))
        if original is None or original.corrects is not None:
            raise UnknownEntry(
                f"observation {observation_id} not found", observation_id=observation_id
            )
        return [original] + [
            e for e in self.observation_entries.values() if e.corrects == observation_id
        ]

    def concerns(self) -> list[Concern]:
        return list(self.concern_map.values())

    def open_concerns(self) -> list[Concern]:
        """Concerns not yet discussed in any meeting (the ressursteam's agenda)."""
        return [c for c in self.concern_map.values() if not c.discussed_in]

    def consents(self) -> list[ConsentView]:
        return list(self.consent_map.values())

    def consent_covers(self, *, body: ExternalBody, meeting_kind: MeetingKind, on: date) -> bool:
        """Whether some consent valid on ``on`` covers ``body`` or ``meeting_kind``."""
        for consent in self.consent_map.values():
            if not consent.is_valid_on(on):
                continue
            if consent.scope_kind is ConsentScopeKind.BODY and consent.scope == body.value:
                return True
            if (
                consent.scope_kind is ConsentScopeKind.MEETING_KIND
                and consent.scope == meeting_kind.value
            ):
                return True
        return False

    def referrals(self) -> list[Referral]:
        return list(self.referral_map.values())

    def pending_referrals(self) -> list[Referral]:
        """Referrals not in a terminal status (rejected, withdrawn, closed)."""
        return [r for r in self.referral_map.values() if r.is_pending]

    def plans(self) -> list[Aktivitetsplan]:
        return list(self.plan_map.values())

    def plan(self, plan_id: UUID) -> Aktivitetsplan:
        plan = self.plan_map.get(str(plan_id))
        if plan is None:
            raise UnknownEntry(f"aktivitetsplan {plan_id} not found", plan_id=plan_id)
        return plan

    def evaluations_of(self, plan_id: UUID) -> list[PlanEvaluation]:
        self.plan(plan_id)
        return list(self.plan_evaluations[str(plan_id)])

    def plans_due(self, on: date) -> list[Aktivitetsplan]:
        """Open plans whose next evaluation date is on or before ``on``."""
        return [
            p
            for p in self.plan_map.values()
            if p.is_open and p.evaluation_date is not None and p.evaluation_date <= on
        ]

    def __repr__(self) -> str:  # never print names, numbers or free text
        return f"Student(id={self.id}, school={self.school_code!r}, version={self.version})"
