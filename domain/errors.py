"""Named domain errors.

Every error carries context as attributes and renders a message that is safe to show and to
log: it names ids, codes, dates and rules, never a person's name or free text.
The CLI maps the families below to exit codes (docs/cli.md):

* ``InvalidValue``      - a value is malformed (bad input)
* ``RuleViolation``     - a business rule refuses the command
* ``NotFound``          - an id, school, student number or entry does not exist
* ``ConcurrencyConflict`` - the command kept colliding with other writers
* ``AccessDenied``      - the actor's role may not do this
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidValue(DomainError):
    """A value does not have the required form."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"invalid {what}: {reason}")
        self.what = what
        self.reason = reason


class RuleViolation(DomainError):
    """A business rule refuses the command. Subclasses name the rule."""

    rule = "rule"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.context = context


class NotFound(DomainError):
    """Something named by the caller does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} not found: {key}")
        self.kind = kind
        self.key = key


class ConcurrencyConflict(DomainError):
    """A command collided with concurrent writers more often than the retry limit."""

    def __init__(self, what: str, attempts: int) -> None:
        super().__init__(f"{what} conflicted with concurrent changes {attempts} times; try again")
        self.what = what
        self.attempts = attempts


class AccessDenied(DomainError):
    """The actor's role may not perform this operation."""

    def __init__(self, role: str, operation: str) -> None:
        super().__init__(f"role {role} may not {operation}")
        self.role = role
        self.operation = operation


class RecordRestricted(AccessDenied):
    """The command would change a restricted (sperret) record, which no role may change while
    the restriction stands (docs/adr/0010-access-policy.md). Names the role and the operation
    only; the rektor may lift the restriction first."""

    def __init__(self, role: str, operation: str) -> None:
        super().__init__(role, operation)
        self.message = (
            f"role {role} may not {operation}: the record is restricted (sperret) and cannot "
            "be changed until the restriction is lifted"
        )


# --- Named rule violations -------------------------------------------------------------------


class AlreadyExists(RuleViolation):
    rule = "already-exists"


class StudentNotActive(RuleViolation):
    rule = "student-not-active"


class ObservationInFuture(RuleViolation):
    rule = "observation-in-future"


class UnknownEntry(NotFound, RuleViolation):
    """A command points at an entry (observation, consent, referral, plan, agenda item,
    assignment, ...) that is absent.

    A :class:`NotFound` (the CLI's exit code 4, like an unknown vedtak or meeting), and still a
    :class:`RuleViolation` so that code written when it was only that keeps catching it.
    ``kind`` is ``"entry"``; ``key`` is the first context value (the entry's id), if any."""

    rule = "unknown-entry"

    def __init__(self, message: str, **context: object) -> None:
        DomainError.__init__(self, message)
        self.context = context
        self.kind = "entry"
        self.key = next(iter(context.values()), None)


class ConsentGiverNotEligible(RuleViolation):
    rule = "consent-giver-not-eligible"


class ConsentAlreadyWithdrawn(RuleViolation):
    rule = "consent-already-withdrawn"


class InvalidStatusTransition(RuleViolation):
    rule = "invalid-status-transition"


class PlanClosed(RuleViolation):
    rule = "plan-closed"


class VedtakStateError(RuleViolation):
    """The vedtak is not in a state that allows the command."""

    rule = "vedtak-state"


class NotAuthorisedToDecide(RuleViolation):
    rule = "not-authorised-to-decide"


class DeviationReasonRequired(RuleViolation):
    rule = "deviation-reason-required"


class AppealDeadlinePassed(RuleViolation):
    rule = "appeal-deadline-passed"


class CapacityExceeded(RuleViolation):
    rule = "capacity-exceeded"


class MemberNotActive(RuleViolation):
    rule = "member-not-active"


class AssignmentNotActive(RuleViolation):
    rule = "assignment-not-active"


class VedtakRequired(RuleViolation):
    rule = "vedtak-required"


class ConsentRequired(RuleViolation):
    rule = "consent-required"


class MinutesClosed(RuleViolation):
    rule = "minutes-closed"


class MeetingStateError(RuleViolation):
    rule = "meeting-state"


# --- Meeting (domain/meeting.py) -------------------------------------------------------------


class HeldInFuture(RuleViolation):
    """A meeting cannot be recorded as held at an instant after the recording."""

    rule = "held-in-future"


class ActionRequired(RuleViolation):
    """A decision with outcome 'measure' must name a responsible person and a due date."""

    rule = "action-required"


class ActionAlreadyCompleted(RuleViolation):
    rule = "action-already-completed"


# --- end Meeting -----------------------------------------------------------------------------


# --- Student (domain/student.py) -------------------------------------------------------------


class ClassUnchanged(RuleViolation):
    """A class change names the class the student is already in."""

    rule = "class-unchanged"


class DateInFuture(RuleViolation):
    """A fact (departure, referral, evaluation, withdrawal, ...) is dated after it is recorded."""

    rule = "date-in-future"


class EvaluationDateInPast(RuleViolation):
    """An aktivitetsplan's (next) evaluation date lies before the day it is set."""

    rule = "evaluation-date-in-past"


class CorrectionOfCorrection(RuleViolation):
    """A correction must point at the original observation, not at another correction."""

    rule = "correction-of-correction"


# --- end Student -----------------------------------------------------------------------------


# --- Vedtak (domain/vedtak.py) ---------------------------------------------------------------


class ReasonsRequired(RuleViolation):
    """A decision, amendment or revocation must give its reasons (Public Administration Act)."""

    rule = "reasons-required"


class AppealAlreadyOpen(RuleViolation):
    rule = "appeal-already-open"


class DeliveryOutsidePeriod(RuleViolation):
    rule = "delivery-outside-period"


class DeliveryAlreadyRecorded(AlreadyExists):
    """A week's delivery is recorded once; later changes are corrections."""

    rule = "delivery-already-recorded"


# --- end Vedtak ------------------------------------------------------------------------------


# --- Team (domain/team.py) -------------------------------------------------------------------


class CoordinatorNotQualified(RuleViolation):
    """The coordinator must be a bachelor-level miljøterapeut (barnevernspedagog, sosionom or
    vernepleier)."""

    rule = "coordinator-not-qualified"


# --- end Team --------------------------------------------------------------------------------
