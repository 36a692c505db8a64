"""The need-to-know access policy: which role may perform which operation, on whose case.

A pure, declarative table (:data:`POLICY`) and one pure function (:func:`decide`). Nothing
here does I/O, reads the store or raises on a refusal: the facade builds an
:class:`AccessRequest` (it knows the student a command or read concerns and computes the
actor's :class:`Relation` to that student), asks :func:`decide`, logs break-glass reads and
raises :class:`~domain.errors.AccessDenied` (see :func:`denied`) when the decision refuses.

Grants
    ``ALLOW``         always.
    ``NEED_TO_KNOW``  only when the actor is ASSIGNED to the subject (a team assignment to the
                      student) or NAMED on it (responsible for an action or aktivitetsplan about
                      the student, a participant in a meeting about the student; for a
                      meeting-level operation without a single student, a participant in the
                      meeting). The author of an observation is its AUTHOR, a relation to that
                      one entry, not to the student: it satisfies need-to-know only where
                      :data:`NEED_TO_KNOW_RELATIONS` says so (correcting that observation),
                      never for reading the case. The facade computes the relation;
                      :func:`decide` only reads it.
    ``BREAK_GLASS``   allowed with a stated reason (non-blank); the decision is flagged so the
                      facade marks the access-log entry.
    ``DENY``          never.

Restricted (sperret) records: archival records that are restricted instead of erased. Reading
one needs the operation's own grant **and** a non-``DENY`` ``READ_RESTRICTED`` grant **and** a
stated reason, whatever the other grants say; a ``BREAK_GLASS`` cell on either side flags the
read. A restricted record is read-only: every write operation on it is refused, for every role
(:func:`denied` then names :class:`~domain.errors.RecordRestricted`). Which writes touch which
restricted records is the table :data:`RESTRICTED_BY` (restriction scope -> the writes it
freezes): the facade asks it, through :func:`restriction_scopes`, for every write about one
student. Writes outside the table (the roster, the appeal, erasure of non-archival data,
restricting and lifting) do not change a restricted record; ADR 0010 gives the reasons.

School scope (checked before the matrix, :func:`in_school_scope`)
    A municipality keeps all its schools in one store, so a grant is a grant *at the schools
    the actor works at*. ``admin`` and ``auditor`` act for the whole municipality (store
    set-up, supervision); every other role acts only on the schools in ``Actor.schools``,
    which the embedding application sets when it authenticates the person. An actor of a
    school-bound role with no schools may do nothing school-related. The facade finds the
    school(s) every call touches (the explicit ``school`` argument, the student's school, the
    meeting's school; a vedtak's through its student) and refuses the call, before any
    relation is computed, when one of them is outside the actor's scope; a call whose school
    cannot be found is refused too (fail closed). A stated reason does not widen the scope:
    break-glass opens a cell of the matrix, never another school. The refusal is an
    :class:`~domain.errors.AccessDenied` naming the role, the operation and the school code
    only (:func:`scope_denied`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from uuid import UUID

import attrs

from domain.errors import AccessDenied, RecordRestricted
from domain.values import Actor, Role


class Operation(StrEnum):
    """What an actor does through the facade. Values may be logged: never rename them."""

    # -- schools and the roster
    REGISTER_SCHOOL = "register_school"
    ADD_CLASS = "add_class"
    REGISTER_STUDENT = "register_student"
    CHANGE_CLASS = "change_class"
    RECORD_DEPARTURE = "record_departure"
    # -- the student's case
    RECORD_OBSERVATION = "record_observation"
    CORRECT_OBSERVATION = "correct_observation"
    RAISE_CONCERN = "raise_concern"
    RECORD_CONSENT = "record_consent"
    WITHDRAW_CONSENT = "withdraw_consent"
    MAKE_REFERRAL = "make_referral"
    CHANGE_REFERRAL = "change_referral"
    MANAGE_AKTIVITETSPLAN = "manage_aktivitetsplan"  # create, evaluate, close
    # -- vedtak
    OPEN_VEDTAK = "open_vedtak"
    RECORD_RECOMMENDATION = "record_recommendation"
    DECIDE_VEDTAK = "decide_vedtak"  # decide, amend, revoke
    SEND_NOTICE = "send_notice"
    MANAGE_APPEAL = "manage_appeal"  # lodge, resolve
    RECORD_DELIVERY = "record_delivery"  # record, correct
    RECORD_VEDTAK_EXPIRY = "record_vedtak_expiry"
    # -- the team and its hours
    MANAGE_TEAM = "manage_team"  # form, members, positions, coordinator, member left
    ASSIGN = "assign"  # assign, end, rotate
    # -- meetings
    SCHEDULE_MEETING = "schedule_meeting"
    MANAGE_MEETING = "manage_meeting"  # participants, items, notes, decisions, held, minutes
    # -- reads
    READ_SCHOOL = "read_school"  # school, classes, roster ids, a student's class placement
    READ_TEAM = "read_team"
    READ_OVERVIEW = "read_overview"
    READ_CASE = "read_case"  # student case, history, vedtak, as-of
    READ_MEETING = "read_meeting"  # a meeting's agenda, notes, decisions (case content)
    READ_RESTRICTED = "read_restricted"  # a restricted (sperret) archival record
    READ_ACCESS_LOG = "read_access_log"
    EXPORT_CASE = "export_case"
    # -- data protection and the store
    ERASE_PERSONAL_DATA = "erase_personal_data"
    RESTRICT_RECORD = "restrict_record"
    VERIFY_STORE = "verify_store"
    ADMIN_STORE = "admin_store"  # catch up and rebuild read models


class Grant(StrEnum):
    ALLOW = "allow"
    NEED_TO_KNOW = "need_to_know"
    BREAK_GLASS = "break_glass"
    DENY = "deny"


class Relation(StrEnum):
    """How the actor relates to the subject of a request (computed by the facade)."""

    NONE = "none"
    ASSIGNED = "assigned"  # a team assignment to the student, their class or their trinn
    NAMED = "named"  # responsible for a plan or action, participant in a meeting about them
    AUTHOR = "author"  # wrote the observation the request concerns; nothing more


#: Operations that change nothing (besides the access log they write). Everything else writes.
READ_OPERATIONS: Final = frozenset(
    {
        Operation.READ_SCHOOL,
        Operation.READ_TEAM,
        Operation.READ_OVERVIEW,
        Operation.READ_CASE,
        Operation.READ_MEETING,
        Operation.READ_RESTRICTED,
        Operation.READ_ACCESS_LOG,
        Operation.EXPORT_CASE,
        Operation.VERIFY_STORE,
    }
)
WRITE_OPERATIONS: Final = frozenset(Operation) - READ_OPERATIONS

#: Short English phrases for messages: "role laerer may not read a student's case".
DESCRIPTIONS: Final[Mapping[Operation, str]] = MappingProxyType(
    {
        Operation.REGISTER_SCHOOL: "register a school",
        Operation.ADD_CLASS: "add a class",
        Operation.REGISTER_STUDENT: "register a student",
        Operation.CHANGE_CLASS: "change a student's class",
        Operation.RECORD_DEPARTURE: "record a departure",
        Operation.RECORD_OBSERVATION: "record an observation",
        Operation.CORRECT_OBSERVATION: "correct an observation",
        Operation.RAISE_CONCERN: "raise a concern",
        Operation.RECORD_CONSENT: "record a consent",
        Operation.WITHDRAW_CONSENT: "withdraw a consent",
        Operation.MAKE_REFERRAL: "make a referral",
        Operation.CHANGE_REFERRAL: "change a referral",
        Operation.MANAGE_AKTIVITETSPLAN: "manage an aktivitetsplan",
        Operation.OPEN_VEDTAK: "open a vedtak",
        Operation.RECORD_RECOMMENDATION: "record a recommendation",
        Operation.DECIDE_VEDTAK: "decide, amend or revoke a vedtak",
        Operation.SEND_NOTICE: "send a vedtak notice",
        Operation.MANAGE_APPEAL: "manage an appeal",
        Operation.RECORD_DELIVERY: "record delivered hours",
        Operation.RECORD_VEDTAK_EXPIRY: "record a vedtak's expiry",
        Operation.MANAGE_TEAM: "manage the team",
        Operation.ASSIGN: "assign team members",
        Operation.SCHEDULE_MEETING: "schedule a meeting",
        Operation.MANAGE_MEETING: "manage a meeting",
        Operation.READ_SCHOOL: "read a school",
        Operation.READ_TEAM: "read the team",
        Operation.READ_OVERVIEW: "read the ressursteam overview",
        Operation.READ_CASE: "read a student's case",
        Operation.READ_MEETING: "read a meeting",
        Operation.READ_RESTRICTED: "read a restricted record",
        Operation.READ_ACCESS_LOG: "read an access log",
        Operation.EXPORT_CASE: "export a student's case",
        Operation.ERASE_PERSONAL_DATA: "erase personal data",
        Operation.RESTRICT_RECORD: "restrict a record",
        Operation.VERIFY_STORE: "verify the store",
        Operation.ADMIN_STORE: "administer the store",
    }
)


def describe(operation: Operation) -> str:
    return DESCRIPTIONS[operation]


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------

#: Column order of the rows below.
COLUMNS: Final = (
    Role.REKTOR,
    Role.INSPEKTOR,
    Role.SPESIALPEDAGOGISK_ANSVARLIG,
    Role.MILJOKOORDINATOR,
    Role.MILJOTERAPEUT,
    Role.LAERER,
    Role.AUDITOR,
    Role.ADMIN,
)

_A: Final = Grant.ALLOW
_N: Final = Grant.NEED_TO_KNOW
_B: Final = Grant.BREAK_GLASS
_D: Final = Grant.DENY


def _row(*grants: Grant) -> Mapping[Role, Grant]:
    if len(grants) != len(COLUMNS):
        raise ValueError(f"a policy row needs {len(COLUMNS)} grants, got {len(grants)}")
    return MappingProxyType(dict(zip(COLUMNS, grants, strict=True)))


# Why each cell is what it is (R rektor, I inspektør, S spesialpedagogisk ansvarlig,
# K miljøkoordinator, M miljøterapeut, L lærer, Au auditor, Ad admin; A allow,
# N need-to-know, B break-glass, D deny):
#
# | operation             | R I S K M L Au Ad | reasoning                                         |
# |-----------------------|-------------------|---------------------------------------------------|
# | register_school       | D D D D D D D  A  | setting up a school in the store is admin work    |
# | add_class             | A A D D D D D  A  | the roster: admin imports it, management adjusts  |
# |                       |                   | it (a student joining mid-year); no case          |
# |                       |                   | content is read, so admin may do it               |
# | register_student      | A A D D D D D  A  |                                                   |
# | change_class          | A A D D D D D  A  |                                                   |
# | record_departure      | A A D D D D D  A  |                                                   |
# | record_observation    | A A A A A A D  D  | aktivitetsplikt: every adult who notices          |
# |                       |                   | something records and raises it, whoever's        |
# |                       |                   | student it is (writing reveals nothing)           |
# | raise_concern         | A A A A A A D  D  |                                                   |
# | correct_observation   | A A A A N N D  D  | correcting needs the case: need-to-know for M/L;  |
# |                       |                   | the AUTHOR of the observation may correct it      |
# |                       |                   | (NEED_TO_KNOW_RELATIONS), and gains nothing else  |
# | record_consent        | A A A A N N D  D  | consent is gathered by whoever works with the     |
# |                       |                   | student                                           |
# | withdraw_consent      | A A A A N N D  D  |                                                   |
# | make_referral         | A A A A N N D  D  | the ressursteam refers; M refers (Strinda); a     |
# |                       |                   | teacher has a personal duty to report to          |
# |                       |                   | barnevern: need-to-know for M/L                   |
# | change_referral       | A A A A N N D  D  |                                                   |
# | manage_aktivitetsplan | A A A A N N D  D  | § 12-4: the school sets it; the responsible       |
# |                       |                   | adult (NAMED) evaluates it                        |
# | open_vedtak           | A A A D D D D  D  | vedtak cases are prepared by management and the   |
# |                       |                   | spesped lead, who receives PPT's tilråding;       |
# |                       |                   | expiry is a clerical fact of the same case        |
# | record_recommendation | A A A D D D D  D  |                                                   |
# | record_vedtak_expiry  | A A A D D D D  D  |                                                   |
# | decide_vedtak         | A D D D D D D  D  | only the rektor decides, amends, revokes (signs); |
# |                       |                   | the inspektør prepares                            |
# | send_notice           | A A D D D D D  D  | management notifies the parties (fvl §§ 27-29)    |
# | manage_appeal         | A A D D D D D  D  | the school reconsiders or forwards an appeal;     |
# |                       |                   | its grounds are case content, so not admin        |
# | record_delivery       | A A A A N N D  D  | delivered hours are evidence; staff delivering    |
# |                       |                   | to the student record them                        |
# | manage_team           | A A D A D D D  A  | K leads the team; management appoints; admin      |
# |                       |                   | imports staff (staff data, no case content)       |
# | assign                | A A D A D D D  D  | K allocates hours; management stands in for K     |
# | schedule_meeting      | A A A A D D D  D  | S leads the ressursteam, K the team meetings      |
# | manage_meeting        | A A A A N N D  D  | M/L act on items about their students, or as      |
# |                       |                   | participants for meeting-level steps              |
# | read_school           | A A A A A A A  A  | school, classes, roster ids, class placement:     |
# |                       |                   | no case content                                   |
# | read_team             | A A A A A D A  A  | the team's own plan; L has no need                |
# | read_overview         | A A A A D D A  D  | the ressursteam's whole picture of the school     |
# | read_case             | A A A A N N A  B  | the ressursteam handles every case; M/L only      |
# |                       |                   | the students they work with; admin reads no       |
# |                       |                   | content without a stated reason (break-glass)     |
# | read_meeting          | A A A A N N A  B  |                                                   |
# | read_restricted       | B D D D D D A  D  | sperret records: auditor (supervision) and        |
# |                       |                   | rektor (appeal, partsinnsyn), with a reason       |
# | read_access_log       | A D D D D D A  D  | for the privacy officer (auditor) and the         |
# |                       |                   | controller's representative (rektor)              |
# | export_case           | A A D D D D A  B  | partsinnsyn and transfers; bulk egress narrow     |
# | erase_personal_data   | A D D D D D D  B  | rektor decides erasure; admin executes it with    |
# |                       |                   | a stated reason (the request), flagged            |
# | restrict_record       | A D D D D D D  D  | sperring is the archive owner's decision          |
# | verify_store          | D D D D D D A  A  | integrity checks: technical, and the auditor's    |
# | admin_store           | D D D D D D D  A  | catch up and rebuild read models                  |
#
# The auditor reads everything (read_restricted included, with a reason) and writes nothing.
POLICY: Final[Mapping[Operation, Mapping[Role, Grant]]] = MappingProxyType(
    {
        # columns: R, I, S, K, M, L, Au, Ad (see COLUMNS)
        Operation.REGISTER_SCHOOL: _row(_D, _D, _D, _D, _D, _D, _D, _A),
        Operation.ADD_CLASS: _row(_A, _A, _D, _D, _D, _D, _D, _A),
        Operation.REGISTER_STUDENT: _row(_A, _A, _D, _D, _D, _D, _D, _A),
        Operation.CHANGE_CLASS: _row(_A, _A, _D, _D, _D, _D, _D, _A),
        Operation.RECORD_DEPARTURE: _row(_A, _A, _D, _D, _D, _D, _D, _A),
        Operation.RECORD_OBSERVATION: _row(_A, _A, _A, _A, _A, _A, _D, _D),
        Operation.CORRECT_OBSERVATION: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.RAISE_CONCERN: _row(_A, _A, _A, _A, _A, _A, _D, _D),
        Operation.RECORD_CONSENT: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.WITHDRAW_CONSENT: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.MAKE_REFERRAL: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.CHANGE_REFERRAL: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.MANAGE_AKTIVITETSPLAN: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.OPEN_VEDTAK: _row(_A, _A, _A, _D, _D, _D, _D, _D),
        Operation.RECORD_RECOMMENDATION: _row(_A, _A, _A, _D, _D, _D, _D, _D),
        Operation.DECIDE_VEDTAK: _row(_A, _D, _D, _D, _D, _D, _D, _D),
        Operation.SEND_NOTICE: _row(_A, _A, _D, _D, _D, _D, _D, _D),
        Operation.MANAGE_APPEAL: _row(_A, _A, _D, _D, _D, _D, _D, _D),
        Operation.RECORD_DELIVERY: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.RECORD_VEDTAK_EXPIRY: _row(_A, _A, _A, _D, _D, _D, _D, _D),
        Operation.MANAGE_TEAM: _row(_A, _A, _D, _A, _D, _D, _D, _A),
        Operation.ASSIGN: _row(_A, _A, _D, _A, _D, _D, _D, _D),
        Operation.SCHEDULE_MEETING: _row(_A, _A, _A, _A, _D, _D, _D, _D),
        Operation.MANAGE_MEETING: _row(_A, _A, _A, _A, _N, _N, _D, _D),
        Operation.READ_SCHOOL: _row(_A, _A, _A, _A, _A, _A, _A, _A),
        Operation.READ_TEAM: _row(_A, _A, _A, _A, _A, _D, _A, _A),
        Operation.READ_OVERVIEW: _row(_A, _A, _A, _A, _D, _D, _A, _D),
        Operation.READ_CASE: _row(_A, _A, _A, _A, _N, _N, _A, _B),
        Operation.READ_MEETING: _row(_A, _A, _A, _A, _N, _N, _A, _B),
        Operation.READ_RESTRICTED: _row(_B, _D, _D, _D, _D, _D, _A, _D),
        Operation.READ_ACCESS_LOG: _row(_A, _D, _D, _D, _D, _D, _A, _D),
        Operation.EXPORT_CASE: _row(_A, _A, _D, _D, _D, _D, _A, _B),
        Operation.ERASE_PERSONAL_DATA: _row(_A, _D, _D, _D, _D, _D, _D, _B),
        Operation.RESTRICT_RECORD: _row(_A, _D, _D, _D, _D, _D, _D, _D),
        Operation.VERIFY_STORE: _row(_D, _D, _D, _D, _D, _D, _A, _A),
        Operation.ADMIN_STORE: _row(_D, _D, _D, _D, _D, _D, _D, _A),
    }
)


#: The relations that satisfy a ``NEED_TO_KNOW`` cell. ASSIGNED and NAMED tie the actor to
#: the student (or meeting) and open every need-to-know operation; AUTHOR ties them to one
#: observation they wrote, and opens only correcting it. Recording an observation is open to
#: every adult (aktivitetsplikt), so authorship must never open the case, its history or
#: any other record: otherwise one observation would buy need-to-know.
_TIED: Final = frozenset({Relation.ASSIGNED, Relation.NAMED})
NEED_TO_KNOW_RELATIONS: Final[Mapping[Operation, frozenset[Relation]]] = MappingProxyType(
    {
        operation: (
            _TIED | {Relation.AUTHOR} if operation is Operation.CORRECT_OBSERVATION else _TIED
        )
        for operation in Operation
    }
)


# ---------------------------------------------------------------------------------------------
# Restricted records: which writes change them
# ---------------------------------------------------------------------------------------------

#: The restriction scopes (``domain.student.RESTRICTION_SCOPES``) and the write operations on
#: one student that change a record of that scope. A restriction freezes what is recorded:
#: corrections, withdrawals and status changes of the case's entries (``case``), the plans
#: (``aktivitetsplan``; the operation covers creating one too), and the vedtak's own record:
#: its recommendation, decision, amendment, revocation, notice and expiry (``vedtak``).
#: ``case`` freezes all of them. New entries stay possible under every restriction
#: (docs/adr/0010-access-policy.md, addendum on restricted records, as amended): a new
#: observation or concern (every adult's duty to notice and report, opplæringslova § 12-4, must
#: not depend on whether the case is sperret), a new consent or referral, an agenda item, a new
#: vedtak case, and the delivery of a vedtak in force (recorded deliveries and the assignments
#: that make them are the evidence in a complaint about hours not given). Also absent: the
#: roster (class changes and departures: school data, read without opening the case), the
#: appeal (the parties' right of appeal, and processing for a legal claim), erasure (touches
#: only data outside the archive, which restriction does not cover) and restricting or
#: lifting itself.
_CASE_WRITES: Final = frozenset(
    {
        Operation.CORRECT_OBSERVATION,
        Operation.WITHDRAW_CONSENT,
        Operation.CHANGE_REFERRAL,
    }
)
_PLAN_WRITES: Final = frozenset({Operation.MANAGE_AKTIVITETSPLAN})
_VEDTAK_WRITES: Final = frozenset(
    {
        Operation.RECORD_RECOMMENDATION,
        Operation.DECIDE_VEDTAK,
        Operation.SEND_NOTICE,
        Operation.RECORD_VEDTAK_EXPIRY,
    }
)
RESTRICTED_BY: Final[Mapping[str, frozenset[Operation]]] = MappingProxyType(
    {
        "case": _CASE_WRITES | _PLAN_WRITES | _VEDTAK_WRITES,
        "aktivitetsplan": _PLAN_WRITES,
        "vedtak": _VEDTAK_WRITES,
    }
)
#: Writes on one student that no restriction freezes (see :data:`RESTRICTED_BY`).
UNRESTRICTED_WRITES: Final = frozenset(
    {
        Operation.RECORD_OBSERVATION,
        Operation.RAISE_CONCERN,
        Operation.RECORD_CONSENT,
        Operation.MAKE_REFERRAL,
        Operation.MANAGE_MEETING,
        Operation.OPEN_VEDTAK,
        Operation.RECORD_DELIVERY,
        Operation.ASSIGN,
        Operation.CHANGE_CLASS,
        Operation.RECORD_DEPARTURE,
        Operation.MANAGE_APPEAL,
        Operation.ERASE_PERSONAL_DATA,
        Operation.RESTRICT_RECORD,
    }
)


@functools.cache
def restriction_scopes(operation: Operation) -> frozenset[str]:
    """The restriction scopes any one of which, standing on the student a write concerns,
    refuses the write (empty for reads and for :data:`UNRESTRICTED_WRITES`). Pure."""
    return frozenset(scope for scope, writes in RESTRICTED_BY.items() if operation in writes)


# ---------------------------------------------------------------------------------------------
# School scope
# ---------------------------------------------------------------------------------------------

#: Roles that act for every school of the municipality: the store's administrator (who
#: registers schools and imports rosters) and the auditor (supervision, the privacy officer).
#: Every other role is bound to the schools in ``Actor.schools``.
MUNICIPALITY_WIDE: Final = frozenset({Role.ADMIN, Role.AUDITOR})


def is_school_bound(role: Role) -> bool:
    """Whether ``role`` acts only on the schools its actor names."""
    return role not in MUNICIPALITY_WIDE


def in_school_scope(actor: Actor, school: str) -> bool:
    """Whether ``actor`` may act on ``school`` at all (the matrix then decides what). Pure."""
    return not is_school_bound(actor.role) or school in actor.schools


def scope_denied(actor: Actor, operation: Operation, schools: Iterable[str]) -> AccessDenied | None:
    """The refusal for a call on ``schools`` (every school the call touches) by ``actor``, or
    None when all of them are in its scope. Fails closed: a school-bound actor is refused a
    call whose school is unknown (an empty ``schools``). Names the role, the operation and
    the school code only."""
    targets = sorted(set(schools))
    if not targets:
        if not is_school_bound(actor.role):
            return None
        return AccessDenied(actor.role.value, f"{describe(operation)} without a known school")
    for school in targets:
        if not in_school_scope(actor, school):
            return AccessDenied(
                actor.role.value,
                f"{describe(operation)} at school {school}, not one of its schools",
            )
    return None


# ---------------------------------------------------------------------------------------------
# Facade methods
# ---------------------------------------------------------------------------------------------

#: Every public method of :class:`domain.facade.Miljo` and the operation it performs.
#: ``catch_up``, ``rebuild_views``, ``event_count`` and ``aggregate_as_of`` take no actor
#: today, so the facade cannot check them until they do.
FACADE_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        # schools and roster
        "register_school": Operation.REGISTER_SCHOOL,
        "add_class": Operation.ADD_CLASS,
        "school": Operation.READ_SCHOOL,
        "students_of": Operation.READ_SCHOOL,
        "find_student": Operation.READ_SCHOOL,
        "student_summary": Operation.READ_SCHOOL,
        "register_student": Operation.REGISTER_STUDENT,
        "change_class": Operation.CHANGE_CLASS,
        "record_departure": Operation.RECORD_DEPARTURE,
        # the student's case
        "record_observation": Operation.RECORD_OBSERVATION,
        "correct_observation": Operation.CORRECT_OBSERVATION,
        "raise_concern": Operation.RAISE_CONCERN,
        "record_consent": Operation.RECORD_CONSENT,
        "withdraw_consent": Operation.WITHDRAW_CONSENT,
        "make_referral": Operation.MAKE_REFERRAL,
        "change_referral_status": Operation.CHANGE_REFERRAL,
        "create_aktivitetsplan": Operation.MANAGE_AKTIVITETSPLAN,
        "evaluate_aktivitetsplan": Operation.MANAGE_AKTIVITETSPLAN,
        "close_aktivitetsplan": Operation.MANAGE_AKTIVITETSPLAN,
        # vedtak
        "open_vedtak": Operation.OPEN_VEDTAK,
        "record_recommendation": Operation.RECORD_RECOMMENDATION,
        "decide_vedtak": Operation.DECIDE_VEDTAK,
        "amend_vedtak": Operation.DECIDE_VEDTAK,
        "revoke_vedtak": Operation.DECIDE_VEDTAK,
        "send_vedtak_notice": Operation.SEND_NOTICE,
        "lodge_appeal": Operation.MANAGE_APPEAL,
        "resolve_appeal": Operation.MANAGE_APPEAL,
        "record_delivery": Operation.RECORD_DELIVERY,
        "correct_delivery": Operation.RECORD_DELIVERY,
        "record_vedtak_expiry": Operation.RECORD_VEDTAK_EXPIRY,
        # team
        "form_team": Operation.MANAGE_TEAM,
        "add_member": Operation.MANAGE_TEAM,
        "change_position": Operation.MANAGE_TEAM,
        "appoint_coordinator": Operation.MANAGE_TEAM,
        "record_member_left": Operation.MANAGE_TEAM,
        "assign": Operation.ASSIGN,
        "end_assignment": Operation.ASSIGN,
        "rotate_assignment": Operation.ASSIGN,
        # meetings
        "schedule_meeting": Operation.SCHEDULE_MEETING,
        "add_participant": Operation.MANAGE_MEETING,
        "add_external_participant": Operation.MANAGE_MEETING,
        "add_agenda_item": Operation.MANAGE_MEETING,
        "record_note": Operation.MANAGE_MEETING,
        "record_decision": Operation.MANAGE_MEETING,
        "complete_action": Operation.MANAGE_MEETING,
        "record_meeting_held": Operation.MANAGE_MEETING,
        "close_minutes": Operation.MANAGE_MEETING,
        "amend_minutes": Operation.MANAGE_MEETING,
        "cancel_meeting": Operation.MANAGE_MEETING,
        # reads
        "team": Operation.READ_TEAM,
        "overview": Operation.READ_OVERVIEW,
        "student_case": Operation.READ_CASE,
        "student_case_as_of": Operation.READ_CASE,
        "history": Operation.READ_CASE,
        "vedtak": Operation.READ_CASE,
        "meeting": Operation.READ_MEETING,
        "meeting_school": Operation.READ_SCHOOL,
        "access_log": Operation.READ_ACCESS_LOG,
        "export_history": Operation.EXPORT_CASE,
        # protection
        "restrict_records": Operation.RESTRICT_RECORD,
        "lift_restriction": Operation.RESTRICT_RECORD,
        "erase_personal_data": Operation.ERASE_PERSONAL_DATA,
    }
)

#: Public facade methods that are not operations of an actor: the handle's life cycle and
#: store plumbing that neither reads nor changes case content (bringing the derived views
#: up to date, counting stored events).
LIFECYCLE_METHODS: Final = frozenset({"close", "catch_up", "rebuild_views", "event_count"})


# ---------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AccessRequest:
    """One access to decide. Every field is required, so the facade states ``restricted``
    and ``relation`` explicitly instead of inheriting a permissive default. ``restricted``:
    the request reads or changes a restricted record (a write: the student has a restriction
    of a scope :func:`restriction_scopes` names for the operation)."""

    actor: Actor = attrs.field(validator=attrs.validators.instance_of(Actor))
    operation: Operation = attrs.field(converter=Operation)
    student_id: UUID | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(UUID))
    )
    relation: Relation = attrs.field(converter=Relation)
    reason: str | None = attrs.field(
        repr=False, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    restricted: bool = attrs.field(validator=attrs.validators.instance_of(bool))

    @property
    def has_reason(self) -> bool:
        """Whether a reason is stated (blank text is no reason)."""
        return self.reason is not None and bool(self.reason.strip())


@attrs.frozen
class Decision:
    """The outcome: ``rule`` explains which cell (and rule) applied. It names the role and the
    operation, never the student or the reason's text."""

    allowed: bool
    break_glass: bool
    rule: str


def _cell(operation: Operation, role: Role) -> str:
    return f"policy[{operation.value}][{role.value}]={POLICY[operation][role].value}"


def _check_cell(operation: Operation, role: Role, relation: Relation, has_reason: bool) -> Decision:
    grant = POLICY[operation][role]
    cell = _cell(operation, role)
    if grant is Grant.ALLOW:
        return Decision(allowed=True, break_glass=False, rule=f"{cell}: allowed")
    if grant is Grant.NEED_TO_KNOW:
        if relation is Relation.NONE:
            return Decision(
                allowed=False,
                break_glass=False,
                rule=f"{cell}: refused, the actor is neither assigned to nor named on the subject",
            )
        if relation not in NEED_TO_KNOW_RELATIONS[operation]:
            return Decision(
                allowed=False,
                break_glass=False,
                rule=f"{cell}: refused, the actor is only {relation.value}, not assigned or named",
            )
        return Decision(
            allowed=True,
            break_glass=False,
            rule=f"{cell}: allowed, the actor is {relation.value}",
        )
    if grant is Grant.BREAK_GLASS:
        if not has_reason:
            return Decision(
                allowed=False,
                break_glass=False,
                rule=f"{cell}: refused, break-glass needs a stated reason",
            )
        return Decision(
            allowed=True, break_glass=True, rule=f"{cell}: allowed by break-glass with a reason"
        )
    return Decision(allowed=False, break_glass=False, rule=f"{cell}: refused")


def decide(request: AccessRequest) -> Decision:
    """Decide ``request`` from :data:`POLICY` and the restricted-record rule. Pure: the
    decision depends on the operation, the role, the relation, whether a reason is stated
    and whether the record is restricted, and on nothing else of the request (not the
    student, the person, the schools or the reason's text), so each such combination is
    decided once per process and its (frozen) :class:`Decision` reused."""
    return _decision(
        request.operation,
        request.actor.role,
        request.relation,
        request.has_reason,
        request.restricted,
    )


@functools.cache
def _decision(
    operation: Operation, role: Role, relation: Relation, has_reason: bool, restricted: bool
) -> Decision:
    """:func:`decide` for one combination (at most operations x roles x relations x 4)."""
    own = _check_cell(operation, role, relation, has_reason)
    if not own.allowed:
        return own
    if not (restricted or operation is Operation.READ_RESTRICTED):
        return own
    if operation in WRITE_OPERATIONS:
        return Decision(
            allowed=False,
            break_glass=False,
            rule=f"{own.rule}; refused, a restricted record cannot be changed",
        )
    reading = (
        own
        if operation is Operation.READ_RESTRICTED
        else _check_cell(Operation.READ_RESTRICTED, role, relation, has_reason)
    )
    if not reading.allowed:
        return Decision(
            allowed=False,
            break_glass=False,
            rule=f"{own.rule}; restricted record: {reading.rule}",
        )
    if not has_reason:
        return Decision(
            allowed=False,
            break_glass=False,
            rule=f"{own.rule}; refused, a restricted record is read only with a stated reason",
        )
    rule = own.rule if reading is own else f"{own.rule}; restricted record: {reading.rule}"
    return Decision(allowed=True, break_glass=own.break_glass or reading.break_glass, rule=rule)


def denied(request: AccessRequest) -> AccessDenied:
    """The error the facade raises for a refused request: names role and operation only.
    A write the role's own cell allows, refused only because it would change a restricted
    record, is :class:`~domain.errors.RecordRestricted` (the role learns nothing it could
    not do anyway: it may make the write once the restriction is lifted)."""
    role, operation = request.actor.role, request.operation
    if (
        request.restricted
        and operation in WRITE_OPERATIONS
        and _check_cell(operation, role, request.relation, request.has_reason).allowed
    ):
        return RecordRestricted(role.value, describe(operation))
    return AccessDenied(role.value, describe(operation))
