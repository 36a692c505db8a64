"""Vedtak: one enkeltvedtak (individual decision) about one student.

The stream runs: opened -> PPT recommendation (tilråding) received -> decided by the rektor ->
notice sent (with the appeal body and deadline) -> appeals lodged and resolved, amendments,
weekly delivery records (evidence that the granted hours are given) -> revoked or expired.

Legal references, the appeal deadline and the appeal body are data (``domain.legal``); the
caller passes them in, so this module holds no section numbers.

State holds no personal free text (organisation, content, reasons, grounds, notes): those live
only in the events' personal fields, encrypted under the student's key. Projections read them
from the events.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Final
from uuid import UUID

import attrs

from domain.base import MiljoAggregate
from domain.errors import (
    AppealAlreadyOpen,
    AppealDeadlinePassed,
    DateInFuture,
    DeliveryAlreadyRecorded,
    DeliveryOutsidePeriod,
    DeviationReasonRequired,
    InvalidValue,
    NotAuthorisedToDecide,
    ReasonsRequired,
    UnknownEntry,
    VedtakStateError,
)
from domain.values import (
    Actor,
    Competence,
    HoursByCompetence,
    Role,
    check_date,
    check_period,
    check_school_code,
    check_text,
    local_date,
)

MINUTES_PER_WEEK: Final = 7 * 24 * 60  # upper bound of what one week can hold
MAX_DEADLINE_DAYS: Final = 366
DEFAULT_WEEKS_PER_YEAR: Final = 38


class VedtakKind(StrEnum):
    """The three separate kinds of enkeltvedtak. Values are stored: never rename them."""

    INDIVIDUALLY_ADAPTED_EDUCATION = "individually_adapted_education"
    PERSONAL_ASSISTANCE = "personal_assistance"
    PHYSICAL_ADAPTATION = "physical_adaptation"


class VedtakStatus(StrEnum):
    OPENED = "opened"
    RECOMMENDED = "recommended"
    DECIDED = "decided"
    REVOKED = "revoked"
    EXPIRED = "expired"


class AppealOutcome(StrEnum):
    UPHELD = "upheld"
    CHANGED = "changed"
    OVERTURNED = "overturned"
    DISMISSED = "dismissed"


@attrs.frozen
class AppealRecord:
    """One appeal against the vedtak (its grounds and notes stay in the events)."""

    number: int
    lodged_on: date
    late: bool
    resolved_on: date | None = None
    outcome: AppealOutcome | None = attrs.field(
        default=None, converter=attrs.converters.optional(AppealOutcome)
    )

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


VALUE_TYPES: tuple[type[object], ...] = (AppealRecord,)


# ---------------------------------------------------------------------------------------------
# Value checks
# ---------------------------------------------------------------------------------------------


def _check_date(value: date, what: str) -> date:
    """A calendar date within the years the domain accepts (values.check_date)."""
    return check_date(value, what)


def _check_hours(value: HoursByCompetence, what: str) -> dict[str, int]:
    if not isinstance(value, HoursByCompetence):
        raise InvalidValue(what, "must be hours by competence")
    return value.to_dict()


def _check_reasons(value: str, what: str) -> str:
    check_text(value, what, required=False)
    if not value.strip():
        raise ReasonsRequired(f"{what} must be given")
    return value


def _optional_text(value: str | None, what: str) -> str | None:
    """Optional free text; blank counts as not given."""
    if value is None:
        return None
    check_text(value, what, required=False)
    return value if value.strip() else None


def _check_days(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(what, "must be a whole number of days")
    if not 1 <= value <= MAX_DEADLINE_DAYS:
        raise InvalidValue(what, f"must be from 1 to {MAX_DEADLINE_DAYS} days")
    return value


def _not_before(value: date, limit: date, what: str, limit_what: str) -> None:
    if value < limit:
        raise InvalidValue(what, f"must not be before {limit_what} ({limit.isoformat()})")


def _minutes_text(minutes: dict[str, int]) -> str:
    return f"{sum(minutes.values())} min"


# ---------------------------------------------------------------------------------------------
# The aggregate
# ---------------------------------------------------------------------------------------------


class Vedtak(MiljoAggregate):
    TOPIC = "miljo:Vedtak"

    class Created(MiljoAggregate.Created):
        """Library hook required by explicit topics; never triggered (see Opened)."""

        TOPIC = "miljo:Vedtak.Created"

    class Opened(MiljoAggregate.Created):
        TOPIC = "miljo:Vedtak.Opened"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "opened_on"
        student_id: UUID
        school_code: str
        kind: str
        legal_reference: str
        opened_on: date

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.student_id = self.student_id
            vedtak.school_code = self.school_code
            vedtak.kind_code = self.kind
            vedtak.legal_reference = self.legal_reference
            vedtak.opened_on = self.opened_on
            vedtak.status_code = VedtakStatus.OPENED.value
            vedtak.recommended_on = None
            vedtak.recommended_minutes = None
            vedtak.decided_on = None
            vedtak.changed_on = None
            vedtak.granted_minutes = None
            vedtak.valid_from = None
            vedtak.valid_to = None
            vedtak.deviates = False
            vedtak.amendments = 0
            vedtak.notice_date = None
            vedtak.appeal_deadline = None
            vedtak.appeals = []
            vedtak.deliveries = {}
            vedtak.revoked_on = None
            vedtak.expired_on = None

        def summary(self) -> str:
            return (
                f"vedtak opened on {self.opened_on.isoformat()}: {self.kind} "
                f"at school {self.school_code}"
            )

    class RecommendationReceived(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.RecommendationReceived"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"summary_text"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "recommended_on"
        student_id: UUID
        recommended_on: date
        hours: dict[str, int]
        summary_text: str

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.recommended_on = self.recommended_on
            vedtak.recommended_minutes = dict(self.hours)
            if vedtak.status_code == VedtakStatus.OPENED.value:
                vedtak.status_code = VedtakStatus.RECOMMENDED.value

        def summary(self) -> str:
            return (
                f"PPT recommendation of {self.recommended_on.isoformat()} received "
                f"({_minutes_text(self.hours)}/year)"
            )

    class Decided(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.Decided"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset(
            {"organisation", "content", "reasons", "deviation_reason"}
        )
        EFFECTIVE_FIELD: ClassVar[str | None] = "decided_on"
        student_id: UUID
        decided_on: date
        hours: dict[str, int]
        organisation: str
        content: str
        reasons: str
        deviation_reason: str | None
        deviates: bool
        valid_from: date
        valid_to: date

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.status_code = VedtakStatus.DECIDED.value
            vedtak.decided_on = self.decided_on
            vedtak.changed_on = self.decided_on
            vedtak.granted_minutes = dict(self.hours)
            vedtak.deviates = self.deviates
            vedtak.valid_from = self.valid_from
            vedtak.valid_to = self.valid_to

        def summary(self) -> str:
            deviation = "; deviates from recommendation" if self.deviates else ""
            return (
                f"vedtak decided on {self.decided_on.isoformat()}: "
                f"{_minutes_text(self.hours)}/year, valid {self.valid_from.isoformat()}"
                f"..{self.valid_to.isoformat()}{deviation}"
            )

    class NoticeSent(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.NoticeSent"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "notice_date"
        student_id: UUID
        notice_date: date
        appeal_body: str
        deadline_days: int
        appeal_deadline: date

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.notice_date = self.notice_date
            vedtak.appeal_deadline = self.appeal_deadline

        def summary(self) -> str:
            return (
                f"notice sent on {self.notice_date.isoformat()}; appeal to {self.appeal_body} "
                f"by {self.appeal_deadline.isoformat()}"
            )

    class AppealLodged(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.AppealLodged"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"grounds", "late_reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "lodged_on"
        student_id: UUID
        appeal_number: int
        lodged_on: date
        grounds: str
        late: bool
        late_reason: str | None

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.appeals.append(
                AppealRecord(number=self.appeal_number, lodged_on=self.lodged_on, late=self.late)
            )

        def summary(self) -> str:
            late = " (after the deadline)" if self.late else ""
            return f"appeal {self.appeal_number} lodged on {self.lodged_on.isoformat()}{late}"

    class AppealResolved(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.AppealResolved"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"note"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "resolved_on"
        student_id: UUID
        appeal_number: int
        resolved_on: date
        outcome: str
        note: str

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.appeals = [
                attrs.evolve(a, resolved_on=self.resolved_on, outcome=AppealOutcome(self.outcome))
                if a.number == self.appeal_number
                else a
                for a in vedtak.appeals
            ]

        def summary(self) -> str:
            return (
                f"appeal {self.appeal_number} resolved on {self.resolved_on.isoformat()}: "
                f"{self.outcome}"
            )

    class Amended(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.Amended"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset(
            {"organisation", "content", "reasons", "deviation_reason"}
        )
        EFFECTIVE_FIELD: ClassVar[str | None] = "amended_on"
        student_id: UUID
        amended_on: date
        hours: dict[str, int]
        organisation: str
        content: str
        reasons: str
        deviation_reason: str | None
        deviates: bool
        valid_to: date

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.changed_on = self.amended_on
            vedtak.granted_minutes = dict(self.hours)
            vedtak.deviates = self.deviates
            vedtak.valid_to = self.valid_to
            vedtak.amendments += 1
            # The amendment is a new decision: its own notice starts its own appeal deadline.
            vedtak.notice_date = None
            vedtak.appeal_deadline = None

        def summary(self) -> str:
            deviation = "; deviates from recommendation" if self.deviates else ""
            return (
                f"vedtak amended on {self.amended_on.isoformat()}: "
                f"{_minutes_text(self.hours)}/year, valid to {self.valid_to.isoformat()}"
                f"{deviation}"
            )

    class DeliveryRecorded(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.DeliveryRecorded"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "week_of"
        student_id: UUID
        week_of: date
        minutes: dict[str, int]

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.deliveries[self.week_of.isoformat()] = dict(self.minutes)

        def summary(self) -> str:
            return f"delivery for week of {self.week_of.isoformat()}: {_minutes_text(self.minutes)}"

    class DeliveryCorrected(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.DeliveryCorrected"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reason"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "week_of"
        student_id: UUID
        week_of: date
        minutes: dict[str, int]
        reason: str

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.deliveries[self.week_of.isoformat()] = dict(self.minutes)

        def summary(self) -> str:
            return (
                f"delivery for week of {self.week_of.isoformat()} corrected to "
                f"{_minutes_text(self.minutes)}"
            )

    class Revoked(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.Revoked"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"reasons"})
        EFFECTIVE_FIELD: ClassVar[str | None] = "revoked_on"
        student_id: UUID
        revoked_on: date
        reasons: str

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.status_code = VedtakStatus.REVOKED.value
            vedtak.revoked_on = self.revoked_on

        def summary(self) -> str:
            return f"vedtak revoked from {self.revoked_on.isoformat()}"

    class Expired(MiljoAggregate.Event):
        TOPIC = "miljo:Vedtak.Expired"
        ARCHIVAL: ClassVar[bool] = True
        class_version = 1
        SUBJECT_FIELD: ClassVar[str | None] = "student_id"
        EFFECTIVE_FIELD: ClassVar[str | None] = "expired_on"
        student_id: UUID
        expired_on: date

        def apply(self, vedtak: Vedtak) -> None:
            vedtak.status_code = VedtakStatus.EXPIRED.value
            vedtak.expired_on = self.expired_on

        def summary(self) -> str:
            return f"vedtak expiry recorded on {self.expired_on.isoformat()}"

    if TYPE_CHECKING:  # state, set only by apply (not constructor arguments)
        student_id: UUID
        school_code: str
        kind_code: str
        legal_reference: str
        opened_on: date
        status_code: str
        recommended_on: date | None
        recommended_minutes: dict[str, int] | None
        decided_on: date | None
        changed_on: date | None  # decided_on, or the latest amended_on
        granted_minutes: dict[str, int] | None
        valid_from: date | None
        valid_to: date | None
        deviates: bool
        amendments: int
        notice_date: date | None
        appeal_deadline: date | None
        appeals: list[AppealRecord]
        deliveries: dict[str, dict[str, int]]  # week_of.isoformat() -> minutes by competence
        revoked_on: date | None
        expired_on: date | None

    # -- commands -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        vedtak_id: UUID,
        student_id: UUID,
        school_code: str,
        kind: str,
        legal_reference: str,
        opened_on: date,
        actor: Actor,
        at: datetime,
    ) -> Vedtak:
        if not isinstance(vedtak_id, UUID) or not isinstance(student_id, UUID):
            raise InvalidValue("id", "must be a UUID")
        check_school_code(school_code)
        try:
            kind_value = VedtakKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in VedtakKind)
            raise InvalidValue("vedtak kind", f"must be one of: {kinds}") from None
        check_text(legal_reference, "legal reference", limit=200)
        _check_date(opened_on, "opened on")
        return cls._start(
            cls.Opened,
            id=vedtak_id,
            actor=actor,
            at=at,
            student_id=student_id,
            school_code=school_code,
            kind=kind_value.value,
            legal_reference=legal_reference,
            opened_on=opened_on,
        )

    def record_recommendation(
        self,
        *,
        recommended_on: date,
        hours: HoursByCompetence,
        summary: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Record PPT's sakkyndig vurdering with its tilråding (hours per year by competence)."""
        if self.status in (VedtakStatus.REVOKED, VedtakStatus.EXPIRED):
            raise VedtakStateError(f"vedtak {self.id} is {self.status.value}")
        _check_date(recommended_on, "recommended on")
        minutes = _check_hours(hours, "recommended hours")
        check_text(summary, "recommendation summary")
        self._record(
            self.RecommendationReceived,
            actor=actor,
            at=at,
            student_id=self.student_id,
            recommended_on=recommended_on,
            hours=minutes,
            summary_text=summary,
        )

    def decide(
        self,
        *,
        decided_on: date,
        hours: HoursByCompetence,
        organisation: str,
        content: str,
        reasons: str,
        deviation_reason: str | None,
        valid_from: date,
        valid_to: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_rektor(actor, "decide")
        if self.decided_on is not None:
            raise VedtakStateError(f"vedtak {self.id} is already decided; amend it instead")
        if self.kind is VedtakKind.INDIVIDUALLY_ADAPTED_EDUCATION and self.recommendation is None:
            raise VedtakStateError(
                f"vedtak {self.id} ({self.kind.value}) needs a PPT recommendation before decision"
            )
        _check_date(decided_on, "decided on")
        _check_date(valid_from, "valid from")
        _check_date(valid_to, "valid to")
        check_period(valid_from, valid_to, "validity period")
        _not_before(decided_on, self.opened_on, "decided on", "the opening date")
        if self.recommended_on is not None:
            _not_before(decided_on, self.recommended_on, "decided on", "the recommendation")
        minutes = _check_hours(hours, "granted hours")
        check_text(organisation, "organisation")
        check_text(content, "content")
        _check_reasons(reasons, "reasons")
        deviation = _optional_text(deviation_reason, "deviation reason")
        deviates = self._check_deviation(minutes, deviation)
        self._record(
            self.Decided,
            actor=actor,
            at=at,
            student_id=self.student_id,
            decided_on=decided_on,
            hours=minutes,
            organisation=organisation,
            content=content,
            reasons=reasons,
            deviation_reason=deviation,
            deviates=deviates,
            valid_from=valid_from,
            valid_to=valid_to,
        )

    def send_notice(
        self, *, notice_date: date, appeal_body: str, deadline_days: int, actor: Actor, at: datetime
    ) -> None:
        """Record that the parties were notified, with the appeal body and deadline.

        Pass the body and days from ``LegalReferences.appeal``. A notice may be sent again
        (e.g. when the first did not reach a party); the latest sets the deadline.
        """
        changed_on, _, _ = self._require_decided("send a notice for")
        _check_date(notice_date, "notice date")
        _not_before(notice_date, changed_on, "notice date", "the decision")
        check_text(appeal_body, "appeal body", limit=200)
        _check_days(deadline_days, "appeal deadline days")
        self._record(
            self.NoticeSent,
            actor=actor,
            at=at,
            student_id=self.student_id,
            notice_date=notice_date,
            appeal_body=appeal_body,
            deadline_days=deadline_days,
            appeal_deadline=notice_date + timedelta(days=deadline_days),
        )

    def lodge_appeal(
        self, *, lodged_on: date, grounds: str, late_reason: str | None, actor: Actor, at: datetime
    ) -> None:
        changed_on, _, _ = self._require_decided("appeal")
        if self.appeal_deadline is None:
            raise VedtakStateError(f"vedtak {self.id} has no notice of its current decision")
        current = self.open_appeal
        if current is not None:
            raise AppealAlreadyOpen(
                f"vedtak {self.id} already has open appeal {current.number}",
                appeal_number=current.number,
            )
        _check_date(lodged_on, "lodged on")
        _not_before(lodged_on, changed_on, "lodged on", "the decision")
        check_text(grounds, "appeal grounds")
        reason = _optional_text(late_reason, "late reason")
        late = lodged_on > self.appeal_deadline
        if late and reason is None:
            raise AppealDeadlinePassed(
                f"the appeal deadline of vedtak {self.id} was {self.appeal_deadline.isoformat()}; "
                "a late appeal needs a reason",
                deadline=self.appeal_deadline,
            )
        if not late and reason is not None:
            raise InvalidValue("late reason", "only a late appeal has one")
        self._record(
            self.AppealLodged,
            actor=actor,
            at=at,
            student_id=self.student_id,
            appeal_number=len(self.appeals) + 1,
            lodged_on=lodged_on,
            grounds=grounds,
            late=late,
            late_reason=reason,
        )

    def resolve_appeal(
        self, *, resolved_on: date, outcome: str, note: str, actor: Actor, at: datetime
    ) -> None:
        current = self.open_appeal
        if current is None:
            raise VedtakStateError(f"vedtak {self.id} has no open appeal")
        try:
            outcome_value = AppealOutcome(outcome)
        except ValueError:
            outcomes = ", ".join(o.value for o in AppealOutcome)
            raise InvalidValue("appeal outcome", f"must be one of: {outcomes}") from None
        _check_date(resolved_on, "resolved on")
        _not_before(resolved_on, current.lodged_on, "resolved on", "the appeal")
        check_text(note, "appeal note", required=False)
        self._record(
            self.AppealResolved,
            actor=actor,
            at=at,
            student_id=self.student_id,
            appeal_number=current.number,
            resolved_on=resolved_on,
            outcome=outcome_value.value,
            note=note,
        )

    def amend(
        self,
        *,
        amended_on: date,
        hours: HoursByCompetence,
        organisation: str,
        content: str,
        reasons: str,
        deviation_reason: str | None,
        valid_to: date,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Change a decided vedtak that has not ended (same rules as ``decide``)."""
        self._require_rektor(actor, "amend")
        changed_on, current_from, current_to = self._require_decided("amend")
        _check_date(amended_on, "amended on")
        _check_date(valid_to, "valid to")
        _not_before(amended_on, changed_on, "amended on", "the current decision")
        if amended_on > current_to:
            raise VedtakStateError(
                f"vedtak {self.id} ended on {current_to.isoformat()}; decide a new vedtak"
            )
        check_period(current_from, valid_to, "validity period")
        _not_before(valid_to, amended_on, "valid to", "the amendment")
        minutes = _check_hours(hours, "granted hours")
        check_text(organisation, "organisation")
        check_text(content, "content")
        _check_reasons(reasons, "reasons")
        deviation = _optional_text(deviation_reason, "deviation reason")
        deviates = self._check_deviation(minutes, deviation)
        self._record(
            self.Amended,
            actor=actor,
            at=at,
            student_id=self.student_id,
            amended_on=amended_on,
            hours=minutes,
            organisation=organisation,
            content=content,
            reasons=reasons,
            deviation_reason=deviation,
            deviates=deviates,
            valid_to=valid_to,
        )

    def record_delivery(
        self, *, week_of: date, minutes: HoursByCompetence, actor: Actor, at: datetime
    ) -> None:
        """Record the minutes delivered by competence in the ISO week starting ``week_of``."""
        self._check_week(week_of)
        delivered = self._check_week_minutes(minutes)
        if week_of.isoformat() in self.deliveries:
            raise DeliveryAlreadyRecorded(
                f"delivery for week of {week_of.isoformat()} is already recorded on vedtak "
                f"{self.id}; correct it instead",
                week_of=week_of,
            )
        self._record(
            self.DeliveryRecorded,
            actor=actor,
            at=at,
            student_id=self.student_id,
            week_of=week_of,
            minutes=delivered,
        )

    def correct_delivery(
        self,
        *,
        week_of: date,
        minutes: HoursByCompetence,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Replace a week's recorded minutes; the original record stays in the stream."""
        _check_date(week_of, "week of")
        previous = self.deliveries.get(week_of.isoformat())
        if previous is None:
            raise UnknownEntry(
                f"no delivery recorded for week of {week_of.isoformat()} on vedtak {self.id}",
                week_of=week_of,
            )
        delivered = self._check_week_minutes(minutes)
        if delivered == previous:
            raise InvalidValue("delivery correction", "must change the recorded minutes")
        check_text(reason, "correction reason")
        self._record(
            self.DeliveryCorrected,
            actor=actor,
            at=at,
            student_id=self.student_id,
            week_of=week_of,
            minutes=delivered,
            reason=reason,
        )

    def revoke(self, *, revoked_on: date, reasons: str, actor: Actor, at: datetime) -> None:
        """End the vedtak from ``revoked_on`` (not in force on that day or later)."""
        self._require_rektor(actor, "revoke")
        changed_on, _, current_to = self._require_decided("revoke")
        _check_date(revoked_on, "revoked on")
        _not_before(revoked_on, changed_on, "revoked on", "the current decision")
        if revoked_on > current_to:
            raise VedtakStateError(
                f"vedtak {self.id} ended on {current_to.isoformat()}; record its expiry"
            )
        _check_reasons(reasons, "reasons for revocation")
        self._record(
            self.Revoked,
            actor=actor,
            at=at,
            student_id=self.student_id,
            revoked_on=revoked_on,
            reasons=reasons,
        )

    def record_expiry(self, *, on: date, actor: Actor, at: datetime) -> None:
        _, _, current_to = self._require_decided("record the expiry of")
        _check_date(on, "expired on")
        if on < current_to:
            raise VedtakStateError(
                f"vedtak {self.id} is valid to {current_to.isoformat()}; it has not expired"
            )
        if on > local_date(at):
            raise DateInFuture(f"expiry date {on.isoformat()} is in the future")
        self._record(self.Expired, actor=actor, at=at, student_id=self.student_id, expired_on=on)

    # -- read helpers ---------------------------------------------------------------------------

    @property
    def kind(self) -> VedtakKind:
        return VedtakKind(self.kind_code)

    @property
    def status(self) -> VedtakStatus:
        return VedtakStatus(self.status_code)

    @property
    def granted(self) -> HoursByCompetence | None:
        """Hours granted per year by competence (minutes), once decided."""
        if self.granted_minutes is None:
            return None
        return HoursByCompetence.from_dict(self.granted_minutes)

    @property
    def recommendation(self) -> HoursByCompetence | None:
        """PPT's latest recommended hours per year by competence (minutes), if any."""
        if self.recommended_minutes is None:
            return None
        return HoursByCompetence.from_dict(self.recommended_minutes)

    def weekly_granted(
        self, weeks_per_year: int = DEFAULT_WEEKS_PER_YEAR
    ) -> HoursByCompetence | None:
        """Granted minutes per school week (rounded down), once decided."""
        if isinstance(weeks_per_year, bool) or not isinstance(weeks_per_year, int):
            raise InvalidValue("weeks per year", "must be a whole number")
        if not 1 <= weeks_per_year <= 53:
            raise InvalidValue("weeks per year", "must be from 1 to 53")
        granted = self.granted
        return None if granted is None else granted.per_week(weeks_per_year)

    @property
    def in_force_until(self) -> date | None:
        """The last day the vedtak is in force (valid_to, or the day before revocation)."""
        if self.valid_to is None:
            return None
        if self.revoked_on is not None:
            return min(self.valid_to, self.revoked_on - timedelta(days=1))
        return self.valid_to

    def is_in_force(self, on: date) -> bool:
        """Whether the vedtak (as now decided) is in force on ``on``."""
        until = self.in_force_until
        if self.valid_from is None or until is None:
            return False
        return self.valid_from <= on <= until

    def delivery_for(self, week_of: date) -> HoursByCompetence | None:
        """Minutes delivered in the week starting ``week_of`` (as last corrected), if recorded."""
        minutes = self.deliveries.get(week_of.isoformat())
        return None if minutes is None else HoursByCompetence.from_dict(minutes)

    @property
    def delivery_weeks(self) -> list[date]:
        """Mondays of the weeks with a delivery record, in order."""
        return sorted(date.fromisoformat(week) for week in self.deliveries)

    def delivered(self) -> HoursByCompetence:
        """Total minutes delivered by competence over all recorded weeks."""
        totals = {c.value: 0 for c in Competence}
        for minutes in self.deliveries.values():
            for key, value in minutes.items():
                totals[key] += value
        return HoursByCompetence.from_dict(totals)

    def delivered_minutes(self, competence: Competence | str) -> int:
        """Total minutes delivered of one competence over all recorded weeks."""
        try:
            key = Competence(competence)
        except ValueError:
            raise InvalidValue("competence", f"unknown competence {competence!r}") from None
        return sum(minutes.get(key.value, 0) for minutes in self.deliveries.values())

    @property
    def open_appeal(self) -> AppealRecord | None:
        return next((a for a in self.appeals if a.is_open), None)

    @property
    def appeal_open(self) -> bool:
        return self.open_appeal is not None

    # -- rule helpers ---------------------------------------------------------------------------

    def _require_rektor(self, actor: Actor, operation: str) -> None:
        if actor.role is not Role.REKTOR:
            raise NotAuthorisedToDecide(
                f"only the rektor may {operation} a vedtak; role {actor.role.value} may not",
                role=actor.role.value,
            )

    def _require_decided(self, operation: str) -> tuple[date, date, date]:
        """Raise unless decided and neither revoked nor expired.

        Returns the date of the current decision (decided or last amended), valid from, valid to.
        """
        changed_on, valid_from, valid_to = self.changed_on, self.valid_from, self.valid_to
        if (
            self.status is not VedtakStatus.DECIDED
            or changed_on is None
            or valid_from is None
            or valid_to is None
        ):
            raise VedtakStateError(
                f"cannot {operation} vedtak {self.id}: it is {self.status.value}"
            )
        return changed_on, valid_from, valid_to

    def _check_deviation(self, granted: dict[str, int], reason: str | None) -> bool:
        """Whether ``granted`` deviates from the recommendation; a deviation needs a reason."""
        recommended = self.recommended_minutes
        differing = (
            []
            if recommended is None
            else [c.value for c in Competence if granted[c.value] != recommended.get(c.value, 0)]
        )
        if differing and reason is None:
            raise DeviationReasonRequired(
                f"granted hours differ from the recommendation in {', '.join(differing)}; "
                "explain the deviation",
                competences=differing,
            )
        if not differing and reason is not None:
            raise InvalidValue("deviation reason", "the granted hours follow the recommendation")
        return bool(differing)

    def _check_week(self, week_of: date) -> None:
        _check_date(week_of, "week of")
        if week_of.isoweekday() != 1:
            raise InvalidValue("week of", "must be the Monday of an ISO week")
        if self.decided_on is None or self.valid_from is None:
            raise VedtakStateError(f"vedtak {self.id} is not decided; nothing is delivered yet")
        until = self.in_force_until
        # The ISO week must overlap the period in force (a first or last partial week counts).
        if until is None or week_of > until or week_of + timedelta(days=6) < self.valid_from:
            raise DeliveryOutsidePeriod(
                f"week of {week_of.isoformat()} is outside the period vedtak {self.id} is in force",
                week_of=week_of,
            )

    @staticmethod
    def _check_week_minutes(minutes: HoursByCompetence) -> dict[str, int]:
        delivered = _check_hours(minutes, "delivered minutes")
        if sum(delivered.values()) > MINUTES_PER_WEEK:
            raise InvalidValue("delivered minutes", "a week has at most 10080 minutes")
        return delivered

    def __repr__(self) -> str:  # never print personal data
        return (
            f"Vedtak(id={self.id}, kind={self.kind_code!r}, status={self.status_code!r}, "
            f"version={self.version})"
        )
